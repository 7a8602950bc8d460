//! `entprog metrics --pred DIR --truth DIR [--weights DIR] [--json]`
//! (main.rs only parses and dispatches).
//!
//! The weights folder comes from `--weights`, else from the environment
//! variable `ENTPROG_WEIGHTS`; without either, only the frame metrics are
//! computed and the network metrics are `null` in the JSON.

use std::path::PathBuf;

use clap::Args;

use super::folder::{pair_folders, score_folders, FolderScores, MetricsError};
use super::networks::{score_networks, NetScores, StandardNets};

/// The environment variable naming the weights folder when `--weights` is not given.
pub const WEIGHTS_ENV: &str = "ENTPROG_WEIGHTS";

/// Arguments of `entprog metrics`.
#[derive(Args, Debug, Clone)]
pub struct MetricsArgs {
    /// Folder of generated PNG frames: flat, or one subfolder per clip.
    #[arg(long)]
    pub pred: PathBuf,
    /// Folder of ground-truth PNG frames, with the same relative paths.
    #[arg(long)]
    pub truth: PathBuf,
    /// Folder of feature-network weights (`inception-fid.safetensors`,
    /// `lpips-alex.safetensors`, `r3d50-kinetics.safetensors`,
    /// `i3d-fvd.safetensors`; README);
    /// default: the environment variable ENTPROG_WEIGHTS. The metric of an
    /// absent file is not computed (null in --json).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Every metric `entprog metrics` reports: what `--json` prints.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MetricsReport {
    #[serde(flatten)]
    pub frames: FolderScores,
    #[serde(flatten)]
    pub nets: NetScores,
}

/// The weights folder: `--weights`, else `ENTPROG_WEIGHTS` (if set and not empty).
pub fn weights_dir(args: &MetricsArgs) -> Option<PathBuf> {
    args.weights.clone().or_else(|| {
        std::env::var_os(WEIGHTS_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// Scores the folders and prints a table or one JSON object.
pub fn metrics(args: &MetricsArgs) -> Result<(), MetricsError> {
    let nets = weights_dir(args)
        .map(|d| StandardNets::load(&d))
        .transpose()?
        .unwrap_or_default();
    let frames = score_folders(&args.pred, &args.truth)?;
    let nets = match nets.is_empty() {
        true => NetScores::default(),
        false => score_networks(&nets, &pair_folders(&args.pred, &args.truth)?)?,
    };
    for (name, fd) in nets.distances() {
        if let Some(w) = fd.warning() {
            eprintln!("warning: {name}: {w}");
        }
    }
    let report = MetricsReport { frames, nets };
    if args.json {
        // serde_json writes a non-finite value (psnr of identical frames: +inf) as null.
        println!("{}", serde_json::to_string(&report).expect("plain numbers serialise"));
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

/// The human-readable table of [`metrics`]; network metrics only where computed.
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
