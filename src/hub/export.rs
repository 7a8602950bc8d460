//! `entprog hub export <run-dir> --out DIR`: a finished run as a folder
//! ready to upload to a Hub model repository (`huggingface-cli upload` or
//! `git push`):
//!
//! - `model.safetensors`: the weights (`model.<name>`, or the EMA weights
//!   under the same names) with the checkpoint's `entprog` metadata minus
//!   optimizer state, so `train.init_from` and `entprog sample` read it as
//!   they read `last.safetensors`;
//! - `config.json`: the run's resolved config (its `config.toml` as JSON);
//! - `README.md`: a model card with the Hub's YAML header, the config hash,
//!   seed and provenance from `manifest.json`, the Hub commits the run pulled,
//!   and the rows of `eval.parquet` when the run has one.
//!
//! Everything comes from the run folder on disk, never from flags.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use polars::prelude::{AnyValue, DataFrame, ParquetReader, SerReader};

use super::error::HubError;
use crate::results::checkpoint;
use crate::results::manifest::{InputFile, RunManifest, RunStatus};
use crate::results::write_atomic;

/// What [`export`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    pub dir: PathBuf,
    pub files: Vec<&'static str>,
    /// Whether the weights are the run's EMA weights.
    pub ema: bool,
}

/// Exports the complete run in `run_dir` to `out`.
pub fn export(run_dir: &Path, out: &Path, ema: bool) -> Result<Exported, HubError> {
    let bad = |path: &Path, message: String| HubError::Export {
        path: path.to_path_buf(),
        message,
    };
    let manifest_path = run_dir.join("manifest.json");
    let manifest = RunManifest::read(&manifest_path)
        .ok_or_else(|| bad(&manifest_path, "no readable manifest: not a run folder".into()))?;
    if manifest.status != RunStatus::Complete {
        let status = format!("{:?}", manifest.status).to_lowercase();
        return Err(bad(
            run_dir,
            format!("the run is {status}, only a complete run exports"),
        ));
    }
    let config_path = run_dir.join("config.toml");
    let text = std::fs::read_to_string(&config_path).map_err(HubError::io(&config_path))?;
    let config: toml::Value = toml::from_str(&text).map_err(|e| bad(&config_path, e.to_string()))?;
    let config = serde_json::to_value(&config).map_err(|e| bad(&config_path, e.to_string()))?;

    let ckpt = run_dir.join("last.safetensors");
    let ck = checkpoint::load(&ckpt, &Device::Cpu).map_err(|e| bad(&ckpt, e.to_string()))?;
    if ema && ck.ema.is_empty() {
        return Err(bad(
            &ckpt,
            "--ema: the run kept no EMA weights (train.ema_decay = 0)".into(),
        ));
    }
    let weights = if ema { &ck.ema } else { &ck.weights };
    let mut state = ck.state.clone();
    state.adam_steps.clear();

    let eval_path = run_dir.join("eval.parquet");
    let metrics = if eval_path.is_file() {
        let file = std::fs::File::open(&eval_path).map_err(HubError::io(&eval_path))?;
        let df = ParquetReader::new(file)
            .finish()
            .map_err(|e| bad(&eval_path, e.to_string()))?;
        Some(markdown_table(&df, &["run"]))
    } else {
        None
    };

    std::fs::create_dir_all(out).map_err(HubError::io(out))?;
    let model = out.join("model.safetensors");
    write_weights(&model, weights, &state).map_err(|m| bad(&model, m))?;
    let json = serde_json::to_string_pretty(&config).expect("a TOML value serialises to JSON");
    let config_out = out.join("config.json");
    write_atomic(&config_out, format!("{json}\n").as_bytes()).map_err(HubError::io(&config_out))?;
    let facts = CardFacts {
        manifest: &manifest,
        steps: state.step,
        ema,
        metrics: metrics.as_deref(),
    };
    let card = out.join("README.md");
    write_atomic(&card, model_card(&facts).as_bytes()).map_err(HubError::io(&card))?;
    Ok(Exported {
        dir: out.to_path_buf(),
        files: vec!["model.safetensors", "config.json", "README.md"],
        ema,
    })
}

/// `model.<name>` tensors and the `entprog` metadata, written atomically.
fn write_weights(
    path: &Path,
    weights: &std::collections::BTreeMap<String, Tensor>,
    state: &checkpoint::TrainState,
) -> Result<(), String> {
    let json = serde_json::to_string(state).map_err(|e| e.to_string())?;
    let meta = HashMap::from([("entprog".to_string(), json), ("format".to_string(), "pt".to_string())]);
    let named: Vec<(String, &Tensor)> = weights.iter().map(|(n, t)| (format!("model.{n}"), t)).collect();
    let tmp = path.with_extension("safetensors.tmp");
    safetensors::serialize_to_file(named.iter().map(|(n, t)| (n.as_str(), *t)), Some(meta), &tmp)
        .map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
}

/// What the model card says.
pub struct CardFacts<'a> {
    pub manifest: &'a RunManifest,
    pub steps: u64,
    pub ema: bool,
    /// The metrics as a markdown table.
    pub metrics: Option<&'a str>,
}

/// The model card: YAML header (`library_name`, `tags`, `base_model` when
/// the run started from a Hub model), then provenance, metrics, inputs.
pub fn model_card(f: &CardFacts) -> String {
    let m = f.manifest;
    let pulled: Vec<&InputFile> = m.inputs.iter().filter(|i| i.hub.is_some()).collect();
    let mut out = String::from("---\nlibrary_name: entprog\ntags:\n- entprog\n- diffusion\n- pose-guided-video\n");
    let bases: Vec<String> = pulled
        .iter()
        .filter_map(|i| i.hub.as_ref())
        .filter_map(|h| h.reference.strip_prefix("hf://"))
        .filter(|r| !r.starts_with("datasets/"))
        .filter_map(|r| r.split('@').next())
        .map(|r| format!("- {r}\n"))
        .collect();
    if !bases.is_empty() {
        out.push_str("base_model:\n");
        out.push_str(&bases.concat());
    }
    out.push_str("---\n\n");
    out.push_str(&format!("# {} ({}, seed {})\n\n", m.experiment, m.cell, m.seed));
    out.push_str(
        "A pose-guided video diffusion model trained by entprog, a harness reproducing Ent-Prog \
         (entropy-guided prioritized progressive learning, arXiv 2511.21136). `config.json` is the \
         run's resolved config; `model.safetensors` holds the weights as `model.<name>` with the \
         run's state in the `entprog` metadata (no optimizer state).\n\n",
    );
    let git = match (&m.git_revision, m.git_dirty) {
        (Some(r), Some(true)) => format!("{r} (uncommitted changes)"),
        (Some(r), _) => r.clone(),
        (None, _) => "unknown".into(),
    };
    let rows = [
        ("run", m.run_id.clone()),
        ("config hash", format!("sha256:{}", m.config_hash)),
        ("seed", m.seed.to_string()),
        ("steps", f.steps.to_string()),
        ("weights", if f.ema { "EMA" } else { "last step" }.to_string()),
        ("entprog", format!("{} (git {git})", m.entprog_version)),
        ("finished", m.ended_at.clone().unwrap_or_else(|| "-".into())),
    ];
    out.push_str("| | |\n|---|---|\n");
    for (k, v) in rows {
        out.push_str(&format!("| {k} | {v} |\n"));
    }
    out.push_str("\n## Metrics\n\n");
    match f.metrics {
        Some(t) => out.push_str(&format!("From the run's `eval.parquet`:\n\n{t}")),
        None => out.push_str("The run has no `eval.parquet`.\n"),
    }
    out.push_str("\n## Inputs\n\n");
    if m.inputs.is_empty() {
        out.push_str("The run read no recorded input files.\n");
    } else {
        out.push_str("| file | sha256 | pulled from |\n|---|---|---|\n");
        for i in &m.inputs {
            let file = i
                .path
                .file_name()
                .map_or_else(|| i.path.display().to_string(), |n| n.to_string_lossy().into_owned());
            let from = i.hub.as_ref().map_or("-".to_string(), |h| format!("`{}`", h.reference));
            out.push_str(&format!("| {file} | `{}` | {from} |\n", i.sha256));
        }
    }
    out.push_str(
        "\n## Use\n\nStart a stage from it with `train.init_from = \"hf://<org>/<name>@<commit>/model.safetensors\"`, \
         or `entprog sample hf://<org>/<name>/model.safetensors --dataset <name> --video <id>`.\n",
    );
    out
}

/// A DataFrame as a markdown table, without the `skip` columns.
fn markdown_table(df: &DataFrame, skip: &[&str]) -> String {
    let cols: Vec<_> = df
        .columns()
        .iter()
        .filter(|c| !skip.contains(&c.name().as_str()))
        .collect();
    let mut out = format!(
        "| {} |\n|{}\n",
        cols.iter()
            .map(|c| c.name().to_string())
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(cols.len())
    );
    for i in 0..df.height() {
        let cells: Vec<String> = cols
            .iter()
            .map(|c| match c.get(i) {
                Ok(AnyValue::String(s)) => s.to_string(),
                Ok(AnyValue::StringOwned(s)) => s.to_string(),
                Ok(AnyValue::Float64(v)) => format!("{v:.6}"),
                Ok(AnyValue::Float32(v)) => format!("{v:.6}"),
                Ok(AnyValue::Null) | Err(_) => "-".into(),
                Ok(v) => v.to_string(),
            })
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::manifest::{HubSource, MANIFEST_VERSION};

    fn manifest(inputs: Vec<InputFile>) -> RunManifest {
        RunManifest {
            manifest_version: MANIFEST_VERSION,
            run_id: "abcdef012345-s3".into(),
            experiment: "ft".into(),
            cell: "train".into(),
            seed: 3,
            config_hash: "abcdef0123456789".into(),
            entprog_version: "0.1.0".into(),
            git_revision: Some("f00".into()),
            git_dirty: Some(false),
            rustc_version: "rustc".into(),
            threads: 2,
            cpu_model: "cpu".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            ended_at: Some("2026-01-01T00:01:00Z".into()),
            status: RunStatus::Complete,
            error: None,
            inputs,
            outputs: vec![],
        }
    }

    #[test]
    fn the_card_names_the_hub_base_model_the_hash_the_seed_and_the_pulled_commit() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let m = manifest(vec![InputFile {
            path: "/c/models--org--tiny/snapshots/x/model.safetensors".into(),
            sha256: "beef".into(),
            hub: Some(HubSource {
                reference: format!("hf://org/tiny@{sha}/model.safetensors"),
                commit: sha.into(),
            }),
        }]);
        let card = model_card(&CardFacts {
            manifest: &m,
            steps: 7,
            ema: false,
            metrics: Some("| step | metric | value |\n|---|---|---|\n| 1 | heldout_loss | 0.500000 |\n"),
        });
        assert!(card.starts_with("---\nlibrary_name: entprog\n"), "{card}");
        assert!(card.contains("base_model:\n- org/tiny\n---\n"), "{card}");
        assert!(card.contains("| config hash | sha256:abcdef0123456789 |"), "{card}");
        assert!(
            card.contains("| seed | 3 |") && card.contains("| steps | 7 |"),
            "{card}"
        );
        assert!(
            card.contains(&format!("`hf://org/tiny@{sha}/model.safetensors`")),
            "{card}"
        );
        assert!(card.contains("| 1 | heldout_loss | 0.500000 |"), "{card}");
    }

    #[test]
    fn a_run_without_hub_inputs_or_metrics_says_so() {
        let card = model_card(&CardFacts {
            manifest: &manifest(vec![]),
            steps: 1,
            ema: true,
            metrics: None,
        });
        assert!(!card.contains("base_model"), "{card}");
        assert!(card.contains("no `eval.parquet`") && card.contains("no recorded input files"));
        assert!(card.contains("| weights | EMA |"));
    }
}
