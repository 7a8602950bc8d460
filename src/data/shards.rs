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

pub use super::manifest::{DatasetManifest, ShardInfo, SplitInfo, FORMAT};
pub use super::shard_file::{read_parquet, schema, write_parquet, Row};
pub use super::staging::Staging;

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

    #[test]
    fn shards_never_split_a_video() {
        assert_eq!(plan_shards(&[10, 10, 10, 10, 10], 25), vec![0..2, 2..4, 4..5]);
        assert_eq!(plan_shards(&[40, 5], 25), vec![0..1, 1..2]);
        assert_eq!(plan_shards(&[], 25), Vec::<std::ops::Range<usize>>::new());
    }
}
