//! `entprog metrics --pred DIR --truth DIR [--weights DIR] [--json]`.
//!
//! The weights folder comes from `--weights`, else from the environment
//! variable `ENTPROG_WEIGHTS`; without either, only the frame metrics are
//! computed and the network metrics are `null` in the JSON.

use std::path::PathBuf;

use anyhow::Result;

use entprog::eval::report::{score, table, weights_dir};

#[derive(clap::Args)]
pub struct Args {
    /// Folder of generated PNG frames: flat, or one subfolder per clip.
    #[arg(long)]
    pred: PathBuf,
    /// Folder of ground-truth PNG frames, with the same relative paths.
    #[arg(long)]
    truth: PathBuf,
    /// Folder of feature-network weights (`inception-fid.safetensors`,
    /// `lpips-alex.safetensors`, `r3d50-kinetics.safetensors`,
    /// `i3d-fvd.safetensors`; docs/metrics.md);
    /// default: the environment variable ENTPROG_WEIGHTS. The metric of an
    /// absent file is not computed (null in --json).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let weights = weights_dir(args.weights);
    let (report, warnings) = score(&args.pred, &args.truth, weights.as_deref())?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    if args.json {
        // serde_json writes a non-finite value (psnr of identical frames: +inf) as null.
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}
