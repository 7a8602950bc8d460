//! `entprog metrics --pred DIR --truth DIR [--json]` (main.rs only parses and
//! dispatches).

use std::path::PathBuf;

use clap::Args;

use super::folder::{score_folders, FolderScores, MetricsError};

/// Arguments of `entprog metrics`.
#[derive(Args, Debug, Clone)]
pub struct MetricsArgs {
    /// Folder of generated PNG frames: flat, or one subfolder per clip.
    #[arg(long)]
    pub pred: PathBuf,
    /// Folder of ground-truth PNG frames, with the same relative paths.
    #[arg(long)]
    pub truth: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Scores the folders and prints a table or one JSON object.
pub fn metrics(args: &MetricsArgs) -> Result<(), MetricsError> {
    let s = score_folders(&args.pred, &args.truth)?;
    if args.json {
        // serde_json writes a non-finite value (psnr of identical frames: +inf) as null.
        println!("{}", serde_json::to_string(&s).expect("plain numbers serialise"));
    } else {
        print!("{}", table(&s));
    }
    Ok(())
}

/// The human-readable table of [`metrics`].
pub fn table(s: &FolderScores) -> String {
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
    let mut out = format!("{} frames ({clips})\n", s.frames);
    for (name, value, what) in rows {
        out.push_str(&format!("{name:<11} {value:>10}  {what}\n"));
    }
    out
}
