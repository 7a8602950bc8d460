//! What `entprog eval <run-dir>` runs: evaluates a finished training run's checkpoint
//! the way the study's evaluation cell does (`super::evaluate`), at one or
//! more sampler settings, and prints one table of the results read back
//! from the `eval.parquet` files.
//!
//! The run folder (`results/<experiment>/train/seed-<n>/`) gives the config
//! (`config.toml`, checked against the manifest's config hash) and the
//! checkpoint (`last.safetensors`, or `--checkpoint`). Each setting (sampler,
//! steps, guidance, EMA, noise stream) is a cached cell of its own under
//! `<run-dir>/eval/<setting>/seed-<n>/`: rerunning reuses it, and a killed
//! evaluation starts again.

use std::path::{Path, PathBuf};

use super::evaluate::{evaluate_checkpoint, EvalSettings};
use crate::diffusion::SamplerKind;
use crate::experiment::Experiment;
use crate::results::RunSpec;

/// What `entprog eval` evaluates, at which settings.
#[derive(Debug, Clone)]
pub struct EvalRequest {
    /// A finished training run's folder (results/<experiment>/train/seed-<n>/).
    pub run_dir: PathBuf,
    /// Checkpoint to evaluate (default: the folder's last.safetensors).
    pub checkpoint: Option<PathBuf>,
    /// Test clips to generate (one fixed test batch; the first clips of the split's fixed order).
    pub clips: usize,
    /// Sampler steps; a comma-separated list evaluates each (default: the run's diffusion.sample_steps).
    pub steps: Vec<usize>,
    /// Classifier-free guidance scales; a comma-separated list evaluates each (default: the run's diffusion.guidance).
    pub guidance: Vec<f64>,
    /// Sampler (default: the run's diffusion.sampler).
    pub sampler: Option<SamplerKind>,
    /// Sample with the checkpoint's EMA weights.
    pub ema: bool,
    /// Sampling-noise stream (derived from the run's seed): another value, other noise for the same clips.
    pub seed: u64,
    /// Offline feature networks (a file under experiments/), trained or
    /// reused first: LPIPS, FID, FVD and pose adherence; `none` skips them.
    pub features: String,
    /// `--set` flags for the feature networks' file (e.g. `frame.steps=100`).
    pub features_set: Vec<String>,
}

/// Why `entprog eval` could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalRunError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Eval(#[from] Box<super::evaluate::EvalError>),
    #[error(transparent)]
    Nets(#[from] Box<crate::eval::dance::DanceError>),
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
}

/// The run's experiment, from its folder's `config.toml`, refused when the
/// manifest says the folder holds another config (an `ENTPROG_*` variable
/// in the environment changes what `config.toml` loads to).
fn load_run(dir: &Path) -> Result<Experiment, EvalRunError> {
    let config = dir.join("config.toml");
    if !config.is_file() {
        return Err(EvalRunError::Usage(format!(
            "{}: not a training run's folder (no config.toml); expected results/<experiment>/train/seed-<n>/",
            dir.display()
        )));
    }
    let exp = Experiment::load(&config.to_string_lossy(), &[])?;
    let manifest = crate::results::RunManifest::read(&dir.join("manifest.json"))
        .ok_or_else(|| EvalRunError::Usage(format!("{}: no readable manifest.json", dir.display())))?;
    if manifest.config_hash != exp.hash {
        return Err(EvalRunError::Usage(format!(
            "{}: config hash {} differs from the run's {} (an ENTPROG_* variable changes it?)",
            config.display(),
            &exp.hash[..12.min(exp.hash.len())],
            &manifest.config_hash[..12.min(manifest.config_hash.len())]
        )));
    }
    Ok(exp)
}

/// The feature networks for the run's dataset: the file's datasets with the
/// suffix of the run's (`tiktok-16` -> every dataset's `-16` build), cached
/// beside the run's other cells (`output.results_dir`), where a study's
/// evaluation finds the same networks.
fn nets_for(exp: &Experiment, args: &EvalRequest) -> Result<Option<crate::eval::dance::DanceNetsConfig>, EvalRunError> {
    if args.features == "none" {
        return Ok(None);
    }
    let path = crate::experiment::resolve_experiment_path(&args.features);
    let plain = crate::eval::dance::load_config(&path, &args.features_set).map_err(Box::new)?;
    let dataset = &exp.config.data.dataset;
    let suffix = plain
        .datasets
        .iter()
        .filter(|d| dataset.starts_with(d.as_str()))
        .max_by_key(|d| d.len())
        .map(|d| dataset[d.len()..].to_string())
        .ok_or_else(|| {
            EvalRunError::Usage(format!(
                "{}: the run's dataset {dataset:?} is none of the feature networks' datasets {:?}; --features none skips them",
                path.display(),
                plain.datasets
            ))
        })?;
    let mut sets = args.features_set.clone();
    let names: Vec<String> = plain.datasets.iter().map(|d| format!("\"{d}{suffix}\"")).collect();
    sets.push(format!("datasets=[{}]", names.join(", ")));
    sets.push(format!(
        "results_dir={:?}",
        exp.config.output.results_dir.display().to_string()
    ));
    Ok(Some(crate::eval::dance::load_config(&path, &sets).map_err(Box::new)?))
}

/// Runs `entprog eval`; returns the table to print.
pub fn eval(args: &EvalRequest, quiet: bool) -> Result<String, EvalRunError> {
    let exp = load_run(&args.run_dir)?;
    exp.config.run.apply();
    let ckpt = args
        .checkpoint
        .clone()
        .unwrap_or_else(|| args.run_dir.join("last.safetensors"));
    if !ckpt.is_file() {
        return Err(EvalRunError::Usage(format!(
            "{}: no checkpoint (is the run finished?)",
            ckpt.display()
        )));
    }
    if args.clips == 0 {
        return Err(EvalRunError::Usage("--clips: expected at least 1".into()));
    }
    if let Some(s) = args
        .steps
        .iter()
        .find(|&&s| s == 0 || s > exp.config.diffusion.timesteps)
    {
        return Err(EvalRunError::Usage(format!(
            "--steps {s}: expected 1..={} (diffusion.timesteps)",
            exp.config.diffusion.timesteps
        )));
    }
    if let Some(g) = args.guidance.iter().find(|g| !g.is_finite() || **g < 0.0) {
        return Err(EvalRunError::Usage(format!(
            "--guidance {g}: expected a finite scale >= 0"
        )));
    }
    let nets = nets_for(&exp, args)?;
    if let Some(cfg) = &nets {
        for net in [crate::eval::dance::Net::Frame, crate::eval::dance::Net::Clip] {
            if !cfg.is_done(net) && !quiet {
                eprintln!("training the feature network {} (cached for later)", net.network());
            }
            crate::eval::dance::ensure(cfg, net, &mut |_| {}).map_err(Box::new)?;
        }
    }
    let base = EvalSettings::from_diffusion(&exp.config.diffusion, args.clips, nets);
    let steps = if args.steps.is_empty() {
        vec![base.sample_steps]
    } else {
        args.steps.clone()
    };
    let guidance = if args.guidance.is_empty() {
        vec![base.guidance]
    } else {
        args.guidance.clone()
    };
    let sampler = args.sampler.unwrap_or(base.sampler);
    // Part of each setting's cache key: a retrained checkpoint is evaluated again.
    let ckpt_sha = crate::config::hash::file_sha256(&ckpt).map_err(|e| EvalRunError::Read {
        path: ckpt.clone(),
        message: e.to_string(),
    })?;
    let mut done = Vec::new();
    for &s in &steps {
        for &g in &guidance {
            let settings = EvalSettings {
                sample_steps: s,
                guidance: g,
                sampler,
                ema: args.ema,
                sample_seed: args.seed,
                ..base.clone()
            };
            let spec = RunSpec {
                results_dir: args.run_dir.clone(),
                experiment: "eval".into(),
                cell: settings.sampling(),
                seed: exp.config.seed,
                config_hash: format!("{}-{}-{}", exp.hash, &ckpt_sha[..16], settings.variant()),
                config_toml: exp.to_toml(),
            };
            if !quiet {
                eprintln!(
                    "evaluating {} ({} clips) -> {}",
                    settings.sampling(),
                    args.clips,
                    spec.dir().display()
                );
            }
            let (dir, cached) = evaluate_checkpoint(&exp, &ckpt, &spec, &settings).map_err(Box::new)?;
            done.push((settings.sampling(), dir, cached));
        }
    }
    table(&done)
}

/// Metrics shown, in order (those absent from every file are left out).
const SHOWN: [&str; 11] = [
    "ssim",
    "psnr",
    "l1",
    "ssim_disco",
    "psnr_disco",
    "lpips_dance",
    "fid_dance",
    "fvd_dance",
    "pck_dance",
    "kp_error_px_dance",
    "conditioning_gap",
];

/// One row per setting (the model), then the baselines of the first
/// setting (they do not depend on the sampler), read from the files.
fn table(done: &[(String, PathBuf, bool)]) -> Result<String, EvalRunError> {
    use polars::prelude::*;
    type Values = Vec<(String, String, f64)>;
    let read = |dir: &Path| -> Result<Values, EvalRunError> {
        let path = dir.join("eval.parquet");
        let err = |e: &dyn std::fmt::Display| EvalRunError::Read {
            path: path.clone(),
            message: e.to_string(),
        };
        let file = std::fs::File::open(&path).map_err(|e| err(&e))?;
        let df = ParquetReader::new(file).finish().map_err(|e| err(&e))?;
        let strings = |c: &str| -> Result<Vec<String>, EvalRunError> {
            let col = df.column(c).map_err(|e| err(&e))?;
            let ca = col.str().map_err(|e| err(&e))?;
            Ok((0..ca.len())
                .map(|i| ca.get(i).unwrap_or_default().to_string())
                .collect())
        };
        let (subject, metric) = (strings("subject")?, strings("metric")?);
        let value: Vec<f64> = df
            .column("value")
            .and_then(|c| {
                c.f64()
                    .map(|ca| (0..ca.len()).map(|i| ca.get(i).unwrap_or(f64::NAN)).collect())
            })
            .map_err(|e| err(&e))?;
        Ok(subject
            .into_iter()
            .zip(metric)
            .zip(value)
            .map(|((s, m), v)| (s, m, v))
            .collect())
    };
    let mut rows: Vec<(String, Values)> = Vec::new();
    for (i, (setting, dir, _)) in done.iter().enumerate() {
        let values = read(dir)?;
        rows.push((setting.clone(), values.clone()));
        if i + 1 == done.len() {
            for baseline in ["truth", "reference_copy"] {
                rows.push((
                    baseline.to_string(),
                    values
                        .iter()
                        .filter(|(s, _, _)| s == baseline)
                        .map(|(_, m, v)| ("model".to_string(), m.clone(), *v))
                        .collect(),
                ));
            }
        }
    }
    let get = |values: &Values, metric: &str| {
        values
            .iter()
            .find(|(s, m, _)| s == "model" && m == metric)
            .map(|(_, _, v)| *v)
    };
    let shown: Vec<&str> = SHOWN
        .into_iter()
        .filter(|m| rows.iter().any(|(_, v)| get(v, m).is_some()))
        .collect();
    let width = rows.iter().map(|(s, _)| s.len()).max().unwrap_or(0).max(7);
    let mut out = format!("{:<width$}", "setting");
    for m in &shown {
        out.push_str(&format!(" {:>12}", m.trim_end_matches("_dance")));
    }
    out.push('\n');
    for (setting, values) in &rows {
        out.push_str(&format!("{setting:<width$}"));
        for m in &shown {
            match get(values, m) {
                Some(v) => out.push_str(&format!(" {v:>12.4}")),
                None => out.push_str(&format!(" {:>12}", "-")),
            }
        }
        out.push('\n');
    }
    out.push_str("(the *_dance metrics come from entprog's offline networks: not comparable with published numbers)\n");
    for (setting, dir, cached) in done {
        out.push_str(&format!(
            "{setting}: {} {}\n",
            if *cached { "reused" } else { "wrote" },
            dir.join("eval.parquet").display()
        ));
    }
    Ok(out)
}
