//! Scoring two folders of PNG frames (what `entprog metrics` runs): pairing
//! by relative path, reading, the frame metrics per pair, the mean over all
//! frames (as DisCo's `compute_ssim_l1_psnr` averages its per-frame scores).
//!
//! Layout: a folder holds either PNG frames (flat: `clips` = 0, no clip
//! structure) or one subfolder of PNG frames per clip (`clips` = the number
//! of subfolders); frames match by relative path (`clip/frame.png`). Files
//! that are not `.png` are ignored. Frames are read as 8-bit RGB, as
//! `cv2.imread` reads them (alpha dropped, grey expanded; 16-bit reduced to
//! 8 bits, by rounding here and by truncation in OpenCV). Unlike DisCo's
//! script, which resizes a prediction of another size to the truth's, a size
//! mismatch is an error. Every failure names the file or folder, in one line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::frame::{l1, psnr, psnr_disco, Frame, FrameError};
use super::ssim::{ssim, ssim_disco};

/// Bad input to the folder metrics; `Display` is one line naming the path.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The folder does not exist.
    #[error("{}: no such folder, expected a folder of PNG frames", path.display())]
    NoFolder { path: PathBuf },
    /// The path exists but is not a folder.
    #[error("{}: not a folder, expected a folder of PNG frames", path.display())]
    NotAFolder { path: PathBuf },
    /// Listing a folder failed. (Fields named `source` would make the
    /// binary's `{e:#}` print the reason twice, so none is.)
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    /// A folder (or clip subfolder) holds no PNG frames.
    #[error("{}: empty folder, expected PNG frames (or one subfolder of PNG frames per clip)", path.display())]
    Empty { path: PathBuf },
    /// A folder holds both frames and clip subfolders.
    #[error("{}: holds both PNG frames ({}) and clip folders ({}), expected one or the other", path.display(), file.display(), folder.display())]
    Mixed {
        path: PathBuf,
        file: PathBuf,
        folder: PathBuf,
    },
    /// A clip subfolder holds another folder.
    #[error("{}: a folder inside a clip folder, expected PNG frames only", path.display())]
    Nested { path: PathBuf },
    /// A truth frame has no prediction.
    #[error("{}: missing, expected a prediction for {}", pred.display(), truth.display())]
    Missing { pred: PathBuf, truth: PathBuf },
    /// A prediction has no truth frame.
    #[error("{}: extra frame, {} does not exist", pred.display(), truth.display())]
    Extra { pred: PathBuf, truth: PathBuf },
    /// A file is not a readable PNG.
    #[error("{}: not a readable PNG: {message}", path.display())]
    Decode { path: PathBuf, message: String },
    /// A prediction differs in size from its truth frame (width x height).
    #[error("{}: {}x{} frame, expected {}x{} like {}", pred.display(), pred_size.0, pred_size.1, truth_size.0, truth_size.1, truth.display())]
    Size {
        pred: PathBuf,
        truth: PathBuf,
        pred_size: (usize, usize),
        truth_size: (usize, usize),
    },
    /// A frame does not fit the metrics (smaller than the SSIM window).
    #[error("{}: {reason}", path.display())]
    Frame { path: PathBuf, reason: FrameError },
    /// A frame is smaller than a feature network accepts (width x height).
    #[error("{}: {}x{} frame, {metric} needs frames of at least {min}x{min}", path.display(), size.0, size.1)]
    TooSmall {
        path: PathBuf,
        size: (usize, usize),
        metric: &'static str,
        min: usize,
    },
    /// The weights folder (`--weights`, `ENTPROG_WEIGHTS`) does not exist.
    #[error("{}: no such folder, expected a folder of feature-network weights (inception-fid.safetensors, lpips-alex.safetensors, r3d50-kinetics.safetensors, i3d-fvd.safetensors)", path.display())]
    NoWeights { path: PathBuf },
    /// A feature network's weights did not load or its forward pass failed.
    #[error(transparent)]
    Net(#[from] super::nets::NetError),
    /// The Frechet distance of the features failed.
    #[error("Frechet distance: {0}")]
    Frechet(super::frechet::FrechetError),
}

/// One matched pair of frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramePair {
    /// The path under both folders (`clip/frame.png` or `frame.png`).
    pub rel: PathBuf,
    pub truth: PathBuf,
    pub pred: PathBuf,
}

/// The matched frames of two folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairing {
    /// Sorted by relative path.
    pub pairs: Vec<FramePair>,
    /// Clip subfolders; 0 for flat folders.
    pub clips: usize,
}

/// The frame metrics of one pair, or their means over frames.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FrameScores {
    pub ssim: f64,
    pub psnr: f64,
    pub l1: f64,
    pub ssim_disco: f64,
    pub psnr_disco: f64,
}

impl FrameScores {
    /// Every frame metric of one pair.
    pub fn of(truth: &Frame, pred: &Frame) -> Result<Self, FrameError> {
        Ok(Self {
            ssim: ssim(truth, pred)?,
            psnr: psnr(truth, pred)?,
            l1: l1(truth, pred)?,
            ssim_disco: ssim_disco(truth, pred)?,
            psnr_disco: psnr_disco(truth, pred)?,
        })
    }

    /// The mean of each metric, summed in order (`None` for no scores).
    pub fn mean(scores: &[FrameScores]) -> Option<Self> {
        let n = scores.len() as f64;
        let avg = |f: fn(&FrameScores) -> f64| scores.iter().map(f).sum::<f64>() / n;
        (!scores.is_empty()).then(|| Self {
            ssim: avg(|s| s.ssim),
            psnr: avg(|s| s.psnr),
            l1: avg(|s| s.l1),
            ssim_disco: avg(|s| s.ssim_disco),
            psnr_disco: avg(|s| s.psnr_disco),
        })
    }
}

/// What `entprog metrics --json` prints: the means over all frames and the counts.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FolderScores {
    #[serde(flatten)]
    pub mean: FrameScores,
    pub frames: usize,
    pub clips: usize,
}

/// Reads a PNG file as an 8-bit RGB frame.
pub fn read_frame(path: &Path) -> Result<Frame, MetricsError> {
    let img = image::open(path).map_err(|e| MetricsError::Decode {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(Frame::from_rgb8(&img.to_rgb8()))
}

/// Scores every pair of `pred` against `truth` and averages over frames.
pub fn score_folders(pred: &Path, truth: &Path) -> Result<FolderScores, MetricsError> {
    let pairing = pair_folders(pred, truth)?;
    let scored: Vec<Result<FrameScores, MetricsError>> = pairing.pairs.par_iter().map(score_pair).collect();
    // The first failure in path order, whichever thread met it first.
    let scores = scored.into_iter().collect::<Result<Vec<_>, _>>()?;
    let mean = FrameScores::mean(&scores).ok_or_else(|| MetricsError::Empty { path: truth.into() })?;
    Ok(FolderScores {
        mean,
        frames: scores.len(),
        clips: pairing.clips,
    })
}

fn score_pair(p: &FramePair) -> Result<FrameScores, MetricsError> {
    let truth = read_frame(&p.truth)?;
    let pred = read_frame(&p.pred)?;
    FrameScores::of(&truth, &pred).map_err(|reason| match reason {
        FrameError::Size { truth: t, pred: q } => MetricsError::Size {
            pred: p.pred.clone(),
            truth: p.truth.clone(),
            pred_size: q,
            truth_size: t,
        },
        reason => MetricsError::Frame {
            path: p.truth.clone(),
            reason,
        },
    })
}

/// Matches the frames of two folders by relative path (module doc).
pub fn pair_folders(pred: &Path, truth: &Path) -> Result<Pairing, MetricsError> {
    let (truth_rel, clips) = list_frames(truth)?;
    let (pred_rel, _) = list_frames(pred)?;
    if let Some(rel) = truth_rel.difference(&pred_rel).next() {
        return Err(MetricsError::Missing {
            pred: pred.join(rel),
            truth: truth.join(rel),
        });
    }
    if let Some(rel) = pred_rel.difference(&truth_rel).next() {
        return Err(MetricsError::Extra {
            pred: pred.join(rel),
            truth: truth.join(rel),
        });
    }
    let pairs = truth_rel
        .into_iter()
        .map(|rel| FramePair {
            truth: truth.join(&rel),
            pred: pred.join(&rel),
            rel,
        })
        .collect();
    Ok(Pairing { pairs, clips })
}

/// The sorted relative paths of a folder's frames and its number of clip subfolders.
fn list_frames(dir: &Path) -> Result<(BTreeSet<PathBuf>, usize), MetricsError> {
    if !dir.exists() {
        return Err(MetricsError::NoFolder { path: dir.into() });
    }
    if !dir.is_dir() {
        return Err(MetricsError::NotAFolder { path: dir.into() });
    }
    let (files, folders) = entries(dir)?;
    match (files.first(), folders.first()) {
        (None, None) => Err(MetricsError::Empty { path: dir.into() }),
        (Some(file), Some(folder)) => Err(MetricsError::Mixed {
            path: dir.into(),
            file: file.clone(),
            folder: folder.clone(),
        }),
        (Some(_), None) => Ok((files.into_iter().collect(), 0)),
        (None, Some(_)) => {
            let mut rel = BTreeSet::new();
            for clip in &folders {
                let (frames, nested) = entries(&dir.join(clip))?;
                if let Some(n) = nested.first() {
                    return Err(MetricsError::Nested {
                        path: dir.join(clip).join(n),
                    });
                }
                if frames.is_empty() {
                    return Err(MetricsError::Empty { path: dir.join(clip) });
                }
                rel.extend(frames.iter().map(|f| clip.join(f)));
            }
            Ok((rel, folders.len()))
        }
    }
}

/// The `.png` file names and the folder names in `dir`, each sorted.
fn entries(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), MetricsError> {
    let io = |error| MetricsError::Io {
        path: dir.into(),
        error,
    };
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = PathBuf::from(entry.file_name());
        if entry.path().is_dir() {
            folders.push(name);
        } else if name.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
            files.push(name);
        }
    }
    files.sort();
    folders.sort();
    Ok((files, folders))
}
