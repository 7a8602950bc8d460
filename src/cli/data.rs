//! `entprog data ...`: build, inspect, preview and import datasets, with
//! progress bars and one summary line each.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use anyhow::Result;

use entprog::data::dataset::{Dataset, Split};
use entprog::data::generate::{build, check_name, ensure_built};
use entprog::data::import::{import_frames, ImportOptions};
use entprog::data::loader::Loader;
use entprog::data::preview::{write_gif, write_sheet, PreviewOptions};
use entprog::data::profile::{profile_path, DatasetProfile};
use entprog::data::shards::DatasetManifest;
use entprog::data::DataError;

/// Which split a command looks at.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitArg {
    /// Training videos.
    Train,
    /// Held-out videos.
    Test,
}

impl From<SplitArg> for Split {
    fn from(s: SplitArg) -> Split {
        match s {
            SplitArg::Train => Split::Train,
            SplitArg::Test => Split::Test,
        }
    }
}

/// Dataset commands.
#[derive(clap::Subcommand)]
pub enum DataCommand {
    /// Build a synthetic dataset from <root>/<dataset>.toml into <root>/<dataset>/ (skipped when up to date).
    Build {
        /// Dataset name: tiktok, ubc-fashion, bilibili, or any <root>/<name>.toml.
        dataset: String,
        /// Folder holding the profiles and the built datasets.
        #[arg(long, default_value = "datasets")]
        root: PathBuf,
        /// Rebuild even when the manifest says the dataset is up to date.
        #[arg(long)]
        force: bool,
    },
    /// Show a built dataset: videos, frames, resolution, shard sizes and hashes.
    Info {
        /// Dataset name.
        dataset: String,
        /// Folder holding the datasets.
        #[arg(long, default_value = "datasets")]
        root: PathBuf,
        /// Also recompute every shard's sha256 and compare with the manifest.
        #[arg(long)]
        verify: bool,
    },
    /// Write a contact sheet (frames beside their pose maps) or, with --gif, an animated clip.
    Preview {
        /// Dataset name (built first when needed).
        dataset: String,
        /// Folder holding the profiles and the built datasets.
        #[arg(long, default_value = "datasets")]
        root: PathBuf,
        /// Output file (default: <dataset>-preview.png, or .gif).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write an animated GIF of one video instead of a sheet.
        #[arg(long)]
        gif: bool,
        /// Split to show.
        #[arg(long, value_enum, default_value = "train")]
        split: SplitArg,
        /// Sheet: number of videos (rows). GIF: index of the video.
        #[arg(long)]
        videos: Option<usize>,
        /// Sheet: frames per video. GIF: first N frames (0 = all).
        #[arg(long)]
        frames: Option<usize>,
        /// Upscaling factor (0 = automatic, cells >= 128 px).
        #[arg(long, default_value_t = 0)]
        scale: usize,
        /// Also show the person mask.
        #[arg(long)]
        mask: bool,
    },
    /// Time opening a dataset and assembling batches (image mode and video mode).
    Bench {
        /// Dataset name (built first when needed).
        dataset: String,
        /// Folder holding the profiles and the built datasets.
        #[arg(long, default_value = "datasets")]
        root: PathBuf,
        /// Clips per batch.
        #[arg(long, default_value_t = 16)]
        batch_size: usize,
        /// Frames per clip in video mode.
        #[arg(long, default_value_t = 8)]
        clip_frames: usize,
        /// Batches timed per mode.
        #[arg(long, default_value_t = 50)]
        steps: u64,
    },
    /// Import a real dataset from frame folders (FRAMES/<video>/<n>.png, POSES/<video>/<n>.png).
    Import {
        /// Folder with one sub-folder of numbered frames per video.
        #[arg(long)]
        frames: PathBuf,
        /// Parallel folder of pose images (same video folders and file names).
        #[arg(long)]
        poses: PathBuf,
        /// Name of the new dataset (<root>/<name>/).
        #[arg(long)]
        name: String,
        /// Folder holding the datasets.
        #[arg(long, default_value = "datasets")]
        root: PathBuf,
        /// Output height, pixels.
        #[arg(long, default_value_t = 32)]
        height: usize,
        /// Output width, pixels.
        #[arg(long, default_value_t = 32)]
        width: usize,
        /// Videos held out for the test split (the last ones by name); default 10%, at least 1.
        #[arg(long)]
        test_videos: Option<usize>,
        /// Maximum frames per Parquet shard.
        #[arg(long, default_value_t = 1024)]
        rows_per_shard: usize,
    },
}

fn bar(quiet: bool, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(0);
    let style =
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} videos {elapsed}").map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        pb.set_style(style);
    }
    pb.set_message(what.to_string());
    pb
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

/// Runs a dataset build or import under a progress bar and reports
/// "<done> <name> in <s> -> <dir>: <summary>".
fn with_progress(
    quiet: bool,
    (doing, done): (&str, &str),
    name: &str,
    f: impl FnOnce(&mut dyn FnMut(usize, usize)) -> Result<PathBuf, DataError>,
) -> Result<String, DataError> {
    let start = Instant::now();
    let pb = bar(quiet, &format!("{doing} {name}"));
    let dir = f(&mut |n, total| {
        pb.set_length(total as u64);
        pb.set_position(n as u64);
    })?;
    pb.finish_and_clear();
    let m = DatasetManifest::read(&dir)?;
    Ok(format!(
        "{done} {name} in {:.2} s -> {}: {}",
        start.elapsed().as_secs_f64(),
        dir.display(),
        summary(&m)
    ))
}

fn summary(m: &DatasetManifest) -> String {
    let bytes: u64 = m.shards.iter().map(|s| s.bytes).sum();
    let split = |s: &str| m.splits.get(s).cloned().unwrap_or_default();
    format!(
        "{} videos ({} train, {} test), {} frames of {}x{}, {} shards, {}",
        split("train").videos + split("test").videos,
        split("train").videos,
        split("test").videos,
        split("train").frames + split("test").frames,
        m.height,
        m.width,
        m.shards.len(),
        mb(bytes)
    )
}

/// Runs a data command; messages go to stdout unless `quiet`.
pub fn run(cmd: DataCommand, quiet: bool) -> Result<()> {
    let say = |s: String| {
        if !quiet {
            println!("{s}");
        }
    };
    match cmd {
        DataCommand::Build { dataset, root, force } => build_one(&dataset, &root, force, quiet, &say),
        DataCommand::Info { dataset, root, verify } => info(&dataset, &root, verify, &say),
        DataCommand::Preview {
            dataset,
            root,
            out,
            gif,
            split,
            videos,
            frames,
            scale,
            mask,
        } => {
            let defaults = PreviewOptions::default();
            let opts = PreviewOptions {
                split: split.into(),
                videos: videos.unwrap_or(if gif { 0 } else { defaults.videos }),
                frames: frames.unwrap_or(if gif { 0 } else { defaults.frames }),
                scale,
                mask,
            };
            let out =
                out.unwrap_or_else(|| PathBuf::from(format!("{dataset}-preview.{}", if gif { "gif" } else { "png" })));
            let ds = Dataset::open(&ensure_built(&root, &dataset)?)?;
            if gif {
                write_gif(&ds, &opts, &out)?;
            } else {
                write_sheet(&ds, &opts, &out)?;
            }
            say(format!("wrote {}", out.display()));
            Ok(())
        }
        DataCommand::Bench {
            dataset,
            root,
            batch_size,
            clip_frames,
            steps,
        } => bench(&dataset, &root, batch_size, clip_frames, steps, &say),
        DataCommand::Import {
            frames,
            poses,
            name,
            root,
            height,
            width,
            test_videos,
            rows_per_shard,
        } => {
            let opts = ImportOptions {
                frames,
                poses,
                name: name.clone(),
                root,
                height,
                width,
                test_videos,
                rows_per_shard,
            };
            say(with_progress(quiet, ("importing", "imported"), &name, |p| {
                import_frames(&opts, p)
            })?);
            Ok(())
        }
    }
}

/// `data build`: skipped when the built dataset is up to date.
fn build_one(dataset: &str, root: &Path, force: bool, quiet: bool, say: &dyn Fn(String)) -> Result<()> {
    check_name(dataset)?;
    let profile = DatasetProfile::load(root, dataset)?;
    let dir = root.join(dataset);
    if !force {
        if let Ok(m) = DatasetManifest::read(&dir) {
            if m.config_hash == profile.config_hash() && m.verify(&dir, false).is_ok() {
                say(format!("{dataset} is up to date ({}): {}", dir.display(), summary(&m)));
                return Ok(());
            }
        }
    }
    say(with_progress(quiet, ("building", "built"), dataset, |p| {
        build(root, dataset, p)
    })?);
    Ok(())
}

/// `data info`: the manifest, whether the profile still matches, every shard.
fn info(dataset: &str, root: &Path, verify: bool, say: &dyn Fn(String)) -> Result<()> {
    check_name(dataset)?;
    let dir = root.join(dataset);
    if !dir.join("manifest.json").is_file() {
        let hint = if profile_path(root, dataset).is_file() {
            format!(" (run `entprog data build {dataset}`)")
        } else {
            String::new()
        };
        return Err(DataError::Manifest {
            path: dir.join("manifest.json"),
            message: format!("dataset not built{hint}"),
        }
        .into());
    }
    let m = DatasetManifest::read(&dir)?;
    m.verify(&dir, verify)?;
    say(format!("{} ({}) at {}", m.name, m.kind, dir.display()));
    say(format!("  {}", summary(&m)));
    say(format!("  config hash {}", m.config_hash));
    if let Ok(p) = DatasetProfile::load(root, dataset) {
        let state = if p.config_hash() == m.config_hash {
            "matches"
        } else {
            "DIFFERS from"
        };
        say(format!(
            "  profile {} {state} the build",
            profile_path(root, dataset).display()
        ));
    }
    for s in &m.shards {
        say(format!(
            "  {:<40} {:>5} rows {:>3} videos {:>10}  sha256 {}",
            s.path,
            s.rows,
            s.videos,
            mb(s.bytes),
            s.sha256
        ));
    }
    if verify {
        say("  all shard hashes verified".into());
    }
    Ok(())
}

/// `data bench`: opening the dataset, then batches in image and video mode.
fn bench(
    dataset: &str,
    root: &Path,
    batch_size: usize,
    clip_frames: usize,
    steps: u64,
    say: &dyn Fn(String),
) -> Result<()> {
    let dir = ensure_built(root, dataset)?;
    let start = Instant::now();
    let ds = std::sync::Arc::new(Dataset::open(&dir)?);
    say(format!("opened {dataset} in {:.3} s", start.elapsed().as_secs_f64()));
    let device = candle_core::Device::Cpu;
    for t in [1, clip_frames] {
        let loader = Loader::new(ds.clone(), Split::Train, t, 1, batch_size, 0);
        let start = Instant::now();
        for step in 0..steps {
            loader.batch(step, &device)?;
        }
        let per = start.elapsed().as_secs_f64() / steps.max(1) as f64;
        say(format!("batch of {batch_size} x {t} frames: {:.3} ms", per * 1e3));
    }
    Ok(())
}
