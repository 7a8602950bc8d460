//! What `entprog metrics --pred DIR --truth DIR [--weights DIR] [--json]`
//! reports: the frame metrics of two folders and, where the weights are
//! there, the standard feature networks' metrics, as one record and a table.
//!
//! The weights folder comes from `--weights`, else from the environment
//! variable `ENTPROG_WEIGHTS`; without either, only the frame metrics are
//! computed and the network metrics are `null` in the JSON.

use std::path::{Path, PathBuf};

use super::folder::{pair_folders, score_folders, FolderScores, MetricsError};
use super::networks::{score_networks, NetScores, StandardNets};

/// The environment variable naming the weights folder when `--weights` is not given.
pub const WEIGHTS_ENV: &str = "ENTPROG_WEIGHTS";

/// Every metric `entprog metrics` reports: what `--json` prints.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MetricsReport {
    #[serde(flatten)]
    pub frames: FolderScores,
    #[serde(flatten)]
    pub nets: NetScores,
}

/// The weights folder: `given` (`--weights`), else `ENTPROG_WEIGHTS` (if set and not empty).
pub fn weights_dir(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| {
        std::env::var_os(WEIGHTS_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// Scores the folders `pred` against `truth`, with the feature networks
/// whose weights are in `weights` (none: frame metrics only). The networks'
/// warnings (too few samples for a stable distance) come with the report.
pub fn score(pred: &Path, truth: &Path, weights: Option<&Path>) -> Result<(MetricsReport, Vec<String>), MetricsError> {
    let nets = weights.map(StandardNets::load).transpose()?.unwrap_or_default();
    let frames = score_folders(pred, truth)?;
    let nets = match nets.is_empty() {
        true => NetScores::default(),
        false => score_networks(&nets, &pair_folders(pred, truth)?)?,
    };
    let warnings = nets
        .distances()
        .into_iter()
        .filter_map(|(name, fd)| fd.warning().map(|w| format!("{name}: {w}")))
        .collect();
    Ok((MetricsReport { frames, nets }, warnings))
}

/// The human-readable table of [`score`]'s report; network metrics only where computed.
pub fn table(r: &MetricsReport) -> String {
    let s = &r.frames;
    let m = &s.mean;
    let clips = match s.clips {
        0 => "flat folder".to_string(),
        n => format!("{n} clips"),
    };
    let rows = [
        (
            "ssim",
            format!("{:.4}", m.ssim),
            "scikit-image, 11x11 Gaussian window, RGB",
        ),
        ("psnr", format!("{:.2} dB", m.psnr), "data range 1"),
        ("l1", format!("{:.4}", m.l1), "mean |truth - pred| in [0, 1]"),
        (
            "ssim_disco",
            format!("{:.4}", m.ssim_disco),
            "DisCo: 7x7 uniform window, OpenCV grey",
        ),
        (
            "psnr_disco",
            format!("{:.2} dB", m.psnr_disco),
            "DisCo: uint8 wrap-around, >= 24.07",
        ),
    ];
    let fd = |d: &super::frechet::FrechetDistance, what: &str| {
        (
            format!("{:.4}", d.value),
            format!("{what}; n = {} / {}, d = {}", d.samples[0], d.samples[1], d.dim),
        )
    };
    let mut rows: Vec<(&str, String, String)> = rows.into_iter().map(|(n, v, w)| (n, v, w.to_string())).collect();
    if let Some(d) = &r.nets.fid_inception {
        let (v, w) = fd(d, "pytorch-fid Inception-v3 pool features");
        rows.push(("fid_inception", v, w));
    }
    if let Some(v) = r.nets.lpips_alex {
        rows.push((
            "lpips_alex",
            format!("{v:.4}"),
            "lpips 0.1, AlexNet, mean over frames".into(),
        ));
    }
    if let Some(d) = &r.nets.fid_vid_r3d50 {
        let (v, w) = fd(d, "DisCo FID-VID, R3D-50, 16-frame windows");
        rows.push(("fid_vid_r3d50", v, w));
    }
    if let Some(d) = &r.nets.fvd_i3d {
        let (v, w) = fd(d, "StyleGAN-V FVD, I3D logits, first 16 frames");
        rows.push(("fvd_i3d", v, w));
    }
    let mut out = format!("{} frames ({clips})\n", s.frames);
    for (name, value, what) in rows {
        out.push_str(&format!("{name:<13} {value:>10}  {what}\n"));
    }
    out
}
