//! Imports a real dataset from the frame-folder layout of the public TikTok
//! and UBC-Fashion releases into the same shards the synthetic datasets use:
//!
//! ```text
//! FRAMES/<video>/0001.png ...     numbered frames (PNG or JPG), one folder per video
//! POSES/<video>/0001.png ...      the rendered pose image of each frame (same stem)
//! ```
//!
//! Every frame and pose image is centre-cropped to the target aspect ratio and
//! resized (triangle filter) to the configured resolution. Videos are sorted by
//! folder name (numbers compared as numbers) and the last `test_videos` form
//! the test split. Keypoints and masks are unknown (stored empty / null).
//! All inputs are checked before anything is written (pairing, sizes,
//! readable headers); a failure while decoding still leaves nothing behind,
//! because the dataset is staged and only renamed into place when complete.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, ImageReader};
use serde::Serialize;

use super::card::card;
use super::error::DataError;
use super::generate::{check_name, par_map, worker_threads};
use super::shards::{encode_png, plan_shards, DatasetManifest, Row, SplitInfo, Staging, FORMAT};
use crate::config::hash::config_hash;

/// Version tag of the importer, part of the config hash.
pub const IMPORTER_VERSION: &str = "entprog-import-v1";

/// What to import and how.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// Folder with one sub-folder of numbered frames per video.
    pub frames: PathBuf,
    /// Parallel folder with one pose image per frame (same video folder and file stem).
    pub poses: PathBuf,
    /// Dataset name; written to `<root>/<name>/`.
    pub name: String,
    /// Folder holding the datasets.
    pub root: PathBuf,
    /// Output height, pixels.
    pub height: usize,
    /// Output width, pixels.
    pub width: usize,
    /// Videos held out for the test split (the last ones by name); None = 10%, at least 1.
    pub test_videos: Option<usize>,
    /// Maximum frames per shard.
    pub rows_per_shard: usize,
}

const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// A video folder's frames paired with their pose images.
struct SourceVideo {
    name: String,
    frames: Vec<(PathBuf, PathBuf)>,
}

/// Orders names with embedded numbers numerically (`2.png` before `10.png`).
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let d = c.is_ascii_digit();
            match out.last_mut() {
                Some((kind, text)) if *kind == d => text.push(c),
                _ => out.push((d, c.to_string())),
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let o = match (x.0, y.0) {
            (true, true) => {
                let (tx, ty) = (x.1.trim_start_matches('0'), y.1.trim_start_matches('0'));
                tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty))
            }
            _ => x.1.cmp(&y.1),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut entries = Vec::new();
    for e in std::fs::read_dir(dir).map_err(DataError::io(dir))? {
        entries.push(e.map_err(DataError::io(dir))?.path());
    }
    entries.sort_by(|a, b| {
        natural_cmp(
            &a.file_name().unwrap_or_default().to_string_lossy(),
            &b.file_name().unwrap_or_default().to_string_lossy(),
        )
    });
    Ok(entries)
}

fn is_image(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Lists videos and pairs each frame with its pose image.
fn scan(opts: &ImportOptions) -> Result<Vec<SourceVideo>, DataError> {
    for dir in [&opts.frames, &opts.poses] {
        if !dir.is_dir() {
            return Err(DataError::Io {
                path: dir.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
            });
        }
    }
    let mut videos = Vec::new();
    for dir in read_dir_sorted(&opts.frames)?.into_iter().filter(|p| p.is_dir()) {
        let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let pose_dir = opts.poses.join(&name);
        let mut frames = Vec::new();
        for frame in read_dir_sorted(&dir)?.into_iter().filter(|p| is_image(p)) {
            let stem = frame.file_stem().unwrap_or_default().to_string_lossy().into_owned();
            let pose = EXTENSIONS
                .iter()
                .flat_map(|e| [e.to_string(), e.to_ascii_uppercase()])
                .map(|e| pose_dir.join(format!("{stem}.{e}")))
                .find(|p| p.is_file());
            let Some(pose) = pose else {
                return Err(DataError::MissingPose {
                    frame,
                    expected: pose_dir.join(format!("{stem}.png")),
                });
            };
            frames.push((frame, pose));
        }
        if frames.is_empty() {
            return Err(DataError::EmptyFolder {
                path: dir,
                what: "numbered frames (.png, .jpg)".into(),
            });
        }
        videos.push(SourceVideo { name, frames });
    }
    if videos.is_empty() {
        return Err(DataError::EmptyFolder {
            path: opts.frames.clone(),
            what: "one folder of frames per video".into(),
        });
    }
    Ok(videos)
}

fn dimensions(path: &Path) -> Result<(u32, u32), DataError> {
    let err = |m: String| DataError::Image {
        path: path.to_path_buf(),
        message: m,
    };
    ImageReader::open(path)
        .map_err(|e| err(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?
        .into_dimensions()
        .map_err(|e| err(e.to_string()))
}

/// Checks every frame of a video has the size of its first frame, and every pose the size of its frame.
fn check_sizes(v: &SourceVideo) -> Result<Vec<u64>, DataError> {
    let (first, _) = &v.frames[0];
    let expected = dimensions(first)?;
    let mut bytes = Vec::with_capacity(v.frames.len());
    for (frame, pose) in &v.frames {
        for (path, reference) in [(frame, first), (pose, frame)] {
            let size = dimensions(path)?;
            if size != expected {
                return Err(DataError::MixedSizes {
                    path: path.clone(),
                    size,
                    expected,
                    reference: reference.clone(),
                });
            }
        }
        bytes.push(std::fs::metadata(frame).map_err(DataError::io(frame))?.len());
    }
    Ok(bytes)
}

fn load(path: &Path) -> Result<DynamicImage, DataError> {
    let err = |m: String| DataError::Image {
        path: path.to_path_buf(),
        message: m,
    };
    ImageReader::open(path)
        .map_err(|e| err(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?
        .decode()
        .map_err(|e| err(e.to_string()))
}

/// Centre-crops to the aspect ratio of (width, height) and resizes, `[h, w, 3]` bytes.
pub fn crop_resize(img: &DynamicImage, width: usize, height: usize) -> Vec<u8> {
    let (sw, sh) = (img.width() as f64, img.height() as f64);
    let target = width as f64 / height as f64;
    let (cw, ch) = if sw / sh > target {
        ((sh * target).round(), sh)
    } else {
        (sw, (sw / target).round())
    };
    let (cw, ch) = (cw.max(1.0) as u32, ch.max(1.0) as u32);
    let x = (img.width() - cw) / 2;
    let y = (img.height() - ch) / 2;
    let rgb = img.crop_imm(x, y, cw, ch).into_rgb8();
    image::imageops::resize(&rgb, width as u32, height as u32, FilterType::Triangle).into_raw()
}

fn video_rows(v: &SourceVideo, id: u32, opts: &ImportOptions) -> Result<Vec<Row>, DataError> {
    let (w, h) = (opts.width, opts.height);
    v.frames
        .iter()
        .enumerate()
        .map(|(f, (frame, pose))| {
            Ok(Row {
                video_id: id,
                frame_idx: f as u32,
                image: encode_png(&crop_resize(&load(frame)?, w, h), w, h, 3),
                pose: encode_png(&crop_resize(&load(pose)?, w, h), w, h, 3),
                keypoints: Vec::new(),
                mask: None,
            })
        })
        .collect()
}

/// Imports a frame-folder dataset into `<root>/<name>/`; `progress(done, total)` after each video.
pub fn import_frames(opts: &ImportOptions, progress: &mut dyn FnMut(usize, usize)) -> Result<PathBuf, DataError> {
    check_name(&opts.name)?;
    let profile = super::profile::profile_path(&opts.root, &opts.name);
    if profile.is_file() {
        // ensure_built would rebuild the synthetic dataset over the import.
        return Err(DataError::Profile {
            path: profile,
            message: format!(
                "a synthetic profile named `{}` exists; import under another name",
                opts.name
            ),
        });
    }
    let problems = |m: &str| DataError::Profile {
        path: PathBuf::from(&opts.name),
        message: m.to_string(),
    };
    if !(8..=4096).contains(&opts.height) || !(8..=4096).contains(&opts.width) {
        return Err(problems("resolution out of range, expected 8..=4096 pixels"));
    }
    let videos = scan(opts)?;
    let sizes = par_map(videos.len(), worker_threads(), &|i| check_sizes(&videos[i]));
    let mut listing = Vec::new();
    for (v, s) in videos.iter().zip(sizes) {
        listing.push((v.name.clone(), s?));
    }
    let n = videos.len();
    let test = opts.test_videos.unwrap_or((n / 10).max(1));
    if n < 2 || test == 0 || test >= n {
        return Err(problems(&format!(
            "{n} videos cannot be split into train and {test} test videos (need 1 <= test < videos)"
        )));
    }
    let config =
        serde_json::json!({ "importer": IMPORTER_VERSION, "options": opts, "test_videos": test, "files": listing });
    let config_hash = config_hash(&config, &[]);
    let mut staging = Staging::new(&opts.root.join(&opts.name))?;
    let mut splits = std::collections::BTreeMap::new();
    let mut done = 0;
    for (split, range) in [("train", 0..n - test), ("test", n - test..n)] {
        let counts: Vec<usize> = videos[range.clone()].iter().map(|v| v.frames.len()).collect();
        let plan = plan_shards(&counts, opts.rows_per_shard.max(1));
        for (i, r) in plan.iter().enumerate() {
            let first = range.start + r.start;
            let per_video = par_map(r.len(), worker_threads(), &|k| {
                video_rows(&videos[first + k], (first + k) as u32, opts)
            });
            let mut rows = Vec::new();
            for v in per_video {
                rows.extend(v?);
            }
            staging.write_shard(split, i, plan.len(), &rows)?;
            done += r.len();
            progress(done, n);
        }
        splits.insert(
            split.to_string(),
            SplitInfo {
                videos: range.len(),
                frames: counts.iter().sum(),
            },
        );
    }
    let manifest = DatasetManifest {
        format: FORMAT.into(),
        name: opts.name.clone(),
        kind: "import".into(),
        config_hash,
        config,
        height: opts.height,
        width: opts.width,
        splits,
        video_names: videos.iter().map(|v| v.name.clone()).collect(),
        shards: Vec::new(),
    };
    let description = format!(
        "Imported from frame folders {} and pose folders {}, centre-cropped and resized.",
        opts.frames.display(),
        opts.poses.display()
    );
    let text = card(
        &DatasetManifest {
            shards: staging.shards().to_vec(),
            ..manifest.clone()
        },
        &description,
    );
    staging.commit(manifest, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_compares_numbers_as_numbers() {
        let mut v = vec!["10.png", "2.png", "1.png", "frame_010.png", "frame_9.png", "01.png"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            ["01.png", "1.png", "2.png", "10.png", "frame_9.png", "frame_010.png"]
        );
    }

    #[test]
    fn crop_keeps_the_centre() {
        // 6x2 image: left and right thirds red, centre green; a square crop keeps the centre.
        let mut img = image::RgbImage::new(6, 2);
        for (x, _, p) in img.enumerate_pixels_mut() {
            *p = if (2..4).contains(&x) {
                image::Rgb([0, 255, 0])
            } else {
                image::Rgb([255, 0, 0])
            };
        }
        let out = crop_resize(&DynamicImage::ImageRgb8(img), 2, 2);
        assert!(out.chunks(3).all(|p| p == [0, 255, 0]), "{out:?}");
    }
}
