//! On-disk format: the Hugging Face datasets layout.
//!
//! ```text
//! <root>/<name>/README.md                        dataset card, YAML header the Hub reads
//! <root>/<name>/manifest.json                    config hash, splits, each shard's sha256
//! <root>/<name>/data/train-00000-of-00002.parquet
//! <root>/<name>/data/test-00000-of-00001.parquet
//! ```
//!
//! Columns: `video_id` u32, `frame_idx` u32, `image`, `pose`, `mask` (PNG
//! bytes, binary; `mask` is null for imported data), `keypoints` list<f32> (54
//! values, empty when unknown). Images are plain binary rather than the Hub's
//! `{bytes, path}` struct so every Parquet reader (our Polars build has no
//! struct dtype) reads them; the card declares them as Image features, which
//! `datasets` casts from binary on load (checked with `datasets` 5.2:
//! `load_dataset(<folder or repo>)` yields PIL images). The `huggingface`
//! file metadata does not do that on its own: pyarrow drops Parquet
//! key-value entries when `ARROW:schema` is present, and `datasets` applies
//! an Image feature from schema metadata only to `{bytes, path}` struct
//! columns, so `load_dataset("parquet", data_files=...)` without the card
//! gives binary columns.
//! Rows are sorted by (video_id, frame_idx); a video never spans two shards.
//!
//! A dataset is written into a staging folder beside the target and renamed
//! into place only after every shard, the card and the manifest are complete;
//! the staging folder is removed on any error (or panic), so a dataset that
//! looks complete always is. Parquet is written with fixed settings and no
//! timestamps: the same rows give the same bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, Float32Array, ListArray, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Field, Float32Type, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use super::error::DataError;
use crate::config::hash::sha256_hex;

/// Version tag of the manifest and shard schema (v2: images as plain binary columns).
/// A dataset of another version is rebuilt (synthetic) or must be re-imported.
pub const FORMAT: &str = "entprog-dataset-v2";

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

/// A shard as listed in the manifest.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ShardInfo {
    /// `train` or `test`.
    pub split: String,
    /// Path relative to the dataset folder, e.g. `data/train-00000-of-00001.parquet`.
    pub path: String,
    /// Frames in the shard.
    pub rows: usize,
    /// Videos in the shard.
    pub videos: usize,
    /// File size, bytes.
    pub bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// Frame and video counts of a split.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct SplitInfo {
    /// Videos.
    pub videos: usize,
    /// Frames.
    pub frames: usize,
}

/// A dataset's `manifest.json`: what was built, from what, and the hash of every
/// shard (a run folder's is [`crate::results::RunManifest`]).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DatasetManifest {
    /// Schema version, [`FORMAT`].
    pub format: String,
    /// Dataset name (folder name).
    pub name: String,
    /// `synthetic` (built from a profile) or `import` (from frame folders).
    pub kind: String,
    /// SHA-256 of the canonical JSON of the generator config (profile or import options).
    pub config_hash: String,
    /// The resolved generator config itself.
    pub config: serde_json::Value,
    /// Frame height, pixels.
    pub height: usize,
    /// Frame width, pixels.
    pub width: usize,
    /// Counts per split (`train`, `test`).
    pub splits: BTreeMap<String, SplitInfo>,
    /// Source folder name of each video (imports), indexed by video_id; empty for synthetic data.
    pub video_names: Vec<String>,
    /// Every shard, in split then index order.
    pub shards: Vec<ShardInfo>,
}

impl DatasetManifest {
    /// Reads `<dir>/manifest.json`.
    pub fn read(dir: &Path) -> Result<DatasetManifest, DataError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(DataError::io(&path))?;
        let m: DatasetManifest = serde_json::from_str(&text).map_err(|e| DataError::Manifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if m.format != FORMAT {
            return Err(DataError::Manifest {
                path,
                message: format!("format {:?}, expected {FORMAT:?}", m.format),
            });
        }
        Ok(m)
    }

    /// Whether every listed shard exists with its recorded size (`full`: and its sha256).
    pub fn verify(&self, dir: &Path, full: bool) -> Result<(), DataError> {
        for s in &self.shards {
            let path = dir.join(&s.path);
            let meta = std::fs::metadata(&path).map_err(DataError::io(&path))?;
            if meta.len() != s.bytes {
                return Err(DataError::Manifest {
                    path,
                    message: format!("{} bytes, manifest says {}", meta.len(), s.bytes),
                });
            }
            if full {
                let bytes = std::fs::read(&path).map_err(DataError::io(&path))?;
                let h = sha256_hex(&bytes);
                if h != s.sha256 {
                    return Err(DataError::Manifest {
                        path,
                        message: format!("sha256 {h}, manifest says {}", s.sha256),
                    });
                }
            }
        }
        Ok(())
    }
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

/// Groups consecutive videos (given their frame counts) into shards of at most
/// `rows_per_shard` frames, never splitting a video; returns video index ranges.
pub fn plan_shards(frames: &[usize], rows_per_shard: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut rows) = (0, 0);
    for (i, &n) in frames.iter().enumerate() {
        if rows > 0 && rows + n > rows_per_shard {
            out.push(start..i);
            (start, rows) = (i, 0);
        }
        rows += n;
    }
    if start < frames.len() {
        out.push(start..frames.len());
    }
    out
}

/// A dataset being written: a staging folder renamed into place by [`Staging::commit`],
/// removed on drop otherwise.
pub struct Staging {
    dir: PathBuf,
    target: PathBuf,
    shards: Vec<ShardInfo>,
    committed: bool,
}

impl Staging {
    /// Starts writing the dataset that will live at `target`.
    pub fn new(target: &Path) -> Result<Staging, DataError> {
        let parent = target.parent().unwrap_or(Path::new("."));
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Unique per process and call, so concurrent builders never share a folder.
        static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = parent.join(format!(".{name}.staging-{}-{call}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(DataError::io(&dir))?;
        }
        remove_stale_staging(parent, &name);
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(DataError::io(&data))?;
        Ok(Staging {
            dir,
            target: target.to_path_buf(),
            shards: Vec::new(),
            committed: false,
        })
    }

    /// Writes shard `index` of `count` of a split (temp name, then renamed).
    pub fn write_shard(
        &mut self,
        split: &str,
        index: usize,
        count: usize,
        rows: &[Row],
    ) -> Result<&ShardInfo, DataError> {
        let rel = format!("data/{split}-{index:05}-of-{count:05}.parquet");
        let path = self.dir.join(&rel);
        let tmp = self.dir.join(format!("{rel}.tmp"));
        write_parquet(&tmp, rows)?;
        let bytes = std::fs::read(&tmp).map_err(DataError::io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(DataError::io(&path))?;
        let mut videos: Vec<u32> = rows.iter().map(|r| r.video_id).collect();
        videos.dedup();
        self.shards.push(ShardInfo {
            split: split.to_string(),
            path: rel,
            rows: rows.len(),
            videos: videos.len(),
            bytes: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
        });
        Ok(self.shards.last().expect("just pushed"))
    }

    /// Shards written so far.
    pub fn shards(&self) -> &[ShardInfo] {
        &self.shards
    }

    /// Writes the card and the manifest (listing the shards written), then moves the
    /// staging folder to the target, replacing any previous dataset there.
    pub fn commit(mut self, mut manifest: DatasetManifest, card: &str) -> Result<PathBuf, DataError> {
        manifest.shards = self.shards.clone();
        let readme = self.dir.join("README.md");
        std::fs::write(&readme, card).map_err(DataError::io(&readme))?;
        let path = self.dir.join("manifest.json");
        let json = serde_json::to_string_pretty(&manifest).map_err(|e| DataError::Manifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&path, json + "\n").map_err(DataError::io(&path))?;
        if self.target.exists() {
            let old = self.dir.with_extension("old");
            std::fs::rename(&self.target, &old).map_err(DataError::io(&self.target))?;
            std::fs::remove_dir_all(&old).map_err(DataError::io(&old))?;
        }
        std::fs::rename(&self.dir, &self.target).map_err(DataError::io(&self.target))?;
        self.committed = true;
        Ok(self.target.clone())
    }
}

/// Removes staging folders of `name` left by builders killed more than an hour ago
/// (a killed process cannot run its drop). Best effort: failures are ignored because
/// a leftover hidden folder is harmless, it is never read as a dataset.
fn remove_stale_staging(parent: &Path, name: &str) {
    let prefix = format!(".{name}.staging-");
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 3600);
        if stale && entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed && self.dir.exists() {
            // Best effort: an error here must not hide the error that caused the drop.
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Encodes `[h, w, c]` bytes (c = 3 RGB or 1 grey) as PNG with fixed settings.
pub fn encode_png(bytes: &[u8], width: usize, height: usize, channels: usize) -> Vec<u8> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    use image::{ExtendedColorType, ImageEncoder};
    let mut out = Vec::new();
    let colour = if channels == 1 {
        ExtendedColorType::L8
    } else {
        ExtendedColorType::Rgb8
    };
    PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive)
        .write_image(bytes, width as u32, height as u32, colour)
        .expect("in-memory PNG encoding of a correctly sized buffer cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: u32, with_mask: bool) -> Vec<Row> {
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

    #[test]
    fn shards_never_split_a_video() {
        assert_eq!(plan_shards(&[10, 10, 10, 10, 10], 25), vec![0..2, 2..4, 4..5]);
        assert_eq!(plan_shards(&[40, 5], 25), vec![0..1, 1..2]);
        assert_eq!(plan_shards(&[], 25), Vec::<std::ops::Range<usize>>::new());
    }

    #[test]
    fn a_dropped_staging_folder_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("ds");
        {
            let mut s = Staging::new(&target).unwrap();
            s.write_shard("train", 0, 1, &rows(4, true)).unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
