//! One shard file: the stored frame, the Arrow schema with the `huggingface`
//! metadata, and Parquet written with fixed settings and read back checked.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, Float32Array, ListArray, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Field, Float32Type, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::error::DataError;

/// One frame as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Video number, unique across splits.
    pub video_id: u32,
    /// Frame number within the video, from 0.
    pub frame_idx: u32,
    /// PNG of the RGB frame.
    pub image: Vec<u8>,
    /// PNG of the pose map.
    pub pose: Vec<u8>,
    /// 54 floats (18 x [x, y, visible]) or empty when unknown.
    pub keypoints: Vec<f32>,
    /// PNG of the grey person mask, when known.
    pub mask: Option<Vec<u8>>,
}

/// The Arrow schema of a shard.
pub fn schema() -> Schema {
    let kp_item = Arc::new(Field::new("item", DataType::Float32, true));
    Schema::new(vec![
        Field::new("video_id", DataType::UInt32, false),
        Field::new("frame_idx", DataType::UInt32, false),
        Field::new("image", DataType::Binary, false),
        Field::new("pose", DataType::Binary, false),
        Field::new("keypoints", DataType::List(kp_item), false),
        Field::new("mask", DataType::Binary, true),
    ])
}

/// The `huggingface` key-value metadata `datasets` reads to decode the image columns.
fn hf_features() -> String {
    let img = serde_json::json!({"_type": "Image"});
    let value = |t: &str| serde_json::json!({"dtype": t, "_type": "Value"});
    serde_json::json!({"info": {"features": {
        "video_id": value("uint32"),
        "frame_idx": value("uint32"),
        "image": img,
        "pose": img,
        "keypoints": {"feature": value("float32"), "_type": "Sequence"},
        "mask": img,
    }}})
    .to_string()
}

fn binary_column(bytes: Vec<Option<&[u8]>>) -> ArrayRef {
    Arc::new(BinaryArray::from_opt_vec(bytes))
}

fn record_batch(rows: &[Row]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let video = UInt32Array::from(rows.iter().map(|r| r.video_id).collect::<Vec<_>>());
    let frame = UInt32Array::from(rows.iter().map(|r| r.frame_idx).collect::<Vec<_>>());
    let image = binary_column(rows.iter().map(|r| Some(r.image.as_slice())).collect());
    let pose = binary_column(rows.iter().map(|r| Some(r.pose.as_slice())).collect());
    let mask = binary_column(rows.iter().map(|r| r.mask.as_deref()).collect());
    let kp = ListArray::from_iter_primitive::<Float32Type, _, _>(
        rows.iter()
            .map(|r| Some(r.keypoints.iter().map(|v| Some(*v)).collect::<Vec<_>>())),
    );
    RecordBatch::try_new(
        Arc::new(schema()),
        vec![Arc::new(video), Arc::new(frame), image, pose, Arc::new(kp), mask],
    )
}

/// Writes rows to a Parquet file with fixed settings (Snappy, one row group, no timestamps).
pub fn write_parquet(path: &Path, rows: &[Row]) -> Result<(), DataError> {
    let err = |e: &dyn std::fmt::Display| DataError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let batch = record_batch(rows).map_err(|e| err(&e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(rows.len().max(1)))
        .set_key_value_metadata(Some(vec![KeyValue::new("huggingface".to_string(), hf_features())]))
        .build();
    let file = File::create(path).map_err(DataError::io(path))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(|e| err(&e))?;
    w.write(&batch).map_err(|e| err(&e))?;
    w.close().map_err(|e| err(&e))?;
    Ok(())
}

/// Reads every row of a shard, checking the schema.
pub fn read_parquet(path: &Path) -> Result<Vec<Row>, DataError> {
    let err = |m: String| DataError::Parquet {
        path: path.to_path_buf(),
        message: m,
    };
    let file = File::open(path).map_err(DataError::io(path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| err(e.to_string()))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| err(e.to_string()))?;
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| err(format!("missing column `{name}`")))
        };
        let u32s = |name: &str| -> Result<UInt32Array, DataError> {
            col(name)?
                .as_any()
                .downcast_ref::<UInt32Array>()
                .cloned()
                .ok_or_else(|| err(format!("column `{name}` is not u32")))
        };
        let binary = |name: &str| -> Result<BinaryArray, DataError> {
            col(name)?
                .as_any()
                .downcast_ref::<BinaryArray>()
                .cloned()
                .ok_or_else(|| err(format!("column `{name}` is not binary")))
        };
        let (video, frame) = (u32s("video_id")?, u32s("frame_idx")?);
        let (image, pose, mask) = (binary("image")?, binary("pose")?, binary("mask")?);
        let kp = col("keypoints")?.as_any().downcast_ref::<ListArray>().cloned();
        let kp = kp.ok_or_else(|| err("column `keypoints` is not a list".into()))?;
        for i in 0..batch.num_rows() {
            let values = kp.value(i);
            let values = values
                .as_any()
                .downcast_ref::<Float32Array>()
                .ok_or_else(|| err("keypoints are not f32".into()))?;
            rows.push(Row {
                video_id: video.value(i),
                frame_idx: frame.value(i),
                image: image.value(i).to_vec(),
                pose: pose.value(i).to_vec(),
                keypoints: values.values().to_vec(),
                mask: mask.is_valid(i).then(|| mask.value(i).to_vec()),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::data) fn rows(n: u32, with_mask: bool) -> Vec<Row> {
        (0..n)
            .map(|i| Row {
                video_id: i / 4,
                frame_idx: i % 4,
                image: vec![i as u8; 10],
                pose: vec![1, 2, 3],
                keypoints: if with_mask { vec![0.5; 54] } else { vec![] },
                mask: with_mask.then(|| vec![9; 4]),
            })
            .collect()
    }

    #[test]
    fn parquet_round_trips_rows_with_and_without_masks() {
        let dir = tempfile::tempdir().unwrap();
        for with_mask in [true, false] {
            let path = dir.path().join(format!("{with_mask}.parquet"));
            let r = rows(8, with_mask);
            write_parquet(&path, &r).unwrap();
            assert_eq!(read_parquet(&path).unwrap(), r);
        }
    }

    #[test]
    fn same_rows_give_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        write_parquet(&a, &rows(12, true)).unwrap();
        write_parquet(&b, &rows(12, true)).unwrap();
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    }
}
