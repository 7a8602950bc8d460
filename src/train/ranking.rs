//! A precomputed priority order (`schedule.ranking`): the `ranking.json` a
//! ranking cell writes (`crate::study::ranking`, beside its
//! `blocks.parquet` and `runs.parquet`), and the checks a run makes before
//! it trains on it instead of scoring its blocks itself.
//!
//! The paper ranks once, offline (docs/paper.md §3): the CEI of a stage's
//! starting model depends only on that checkpoint, the dataset and the
//! scoring settings, so every run and seed that starts from the checkpoint
//! can share one scoring pass. A ranking applies to a run only when it
//! ranked the same blocks of the same checkpoint (by SHA-256), on the same
//! dataset, with the run's scorer and `[cei]` settings (but for
//! `batch_conditions`, which only batches the same samples) and the same
//! model, noise schedule, clip length and stage; anything else is
//! refused with the key, the file and both values. Its seed may differ from
//! the run's: sharing one ranking across seeds is the point.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::entprog::cei::CeiConfig;
use crate::entprog::scorers::{Scorer, Scores};
use crate::experiment::ExperimentConfig;
use crate::model::BlockId;
use crate::results::{RunManifest, RunStatus};

/// Bumped when the file's fields change meaning.
pub const RANKING_VERSION: u32 = 1;

/// The file name inside a ranking cell's folder.
pub const RANKING_FILE: &str = "ranking.json";

/// `ranking.json`: one scorer's values for a stage's schedulable blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    pub version: u32,
    /// The scorer's name (`cei`, ...).
    pub scorer: String,
    /// The scored checkpoint (`train.init_from`) as read, and its SHA-256;
    /// none for a freshly initialised model.
    pub checkpoint: Option<PathBuf>,
    pub checkpoint_sha256: Option<String>,
    /// `data.dataset` of the scoring samples.
    pub dataset: String,
    /// The scoring settings.
    pub cei: CeiConfig,
    /// Root seed of the scoring samples and bootstrap.
    pub seed: u64,
    /// The other settings the scoring samples and passes depend on, by
    /// config key ([`sampling_settings`]).
    pub sampling: BTreeMap<String, serde_json::Value>,
    /// Scored block ids, in forward order.
    pub ids: Vec<String>,
    /// One value per block (None: not finite).
    pub values: Vec<Option<f64>>,
    /// Bootstrap standard errors, where the scorer estimates one.
    pub se: Vec<Option<f64>>,
    /// Wall seconds of the scoring pass (sample building included).
    pub wall_s: f64,
}

/// What a run expects of the ranking it is given.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub scorer: Scorer,
    /// The run's schedulable blocks, in forward order.
    pub ids: &'a [BlockId],
    /// `train.init_from` as configured, and the SHA-256 of the file it resolved to.
    pub init_from: Option<&'a Path>,
    pub checkpoint_sha256: Option<String>,
    pub dataset: &'a str,
    pub cei: &'a CeiConfig,
    /// The run's [`sampling_settings`].
    pub sampling: BTreeMap<String, serde_json::Value>,
}

/// The settings besides `[cei]` and the dataset that a scoring pass's
/// samples and predictions depend on: the model, the noise schedule, the
/// clip length and stride, and the stage (which conditions it feeds).
pub fn sampling_settings(cfg: &ExperimentConfig) -> BTreeMap<String, serde_json::Value> {
    let v = |x: serde_json::Result<serde_json::Value>| x.expect("configs serialise to JSON");
    BTreeMap::from([
        ("model".to_string(), v(serde_json::to_value(&cfg.model))),
        ("diffusion".to_string(), v(serde_json::to_value(&cfg.diffusion))),
        ("data.clip_frames".to_string(), cfg.data.clip_frames.into()),
        ("data.stride".to_string(), cfg.data.stride.into()),
        ("train.stage".to_string(), v(serde_json::to_value(cfg.train.stage))),
    ])
}

/// Why a ranking does not apply.
#[derive(Debug, thiserror::Error)]
pub enum RankingError {
    #[error(
        "schedule.ranking = {path}: no {RANKING_FILE} there, expected the folder of a finished ranking cell \
         (`entprog rank <experiment>` prints it)"
    )]
    NotFound { path: PathBuf },
    #[error(
        "schedule.ranking = {path}: the ranking cell is not complete (manifest.json {status}), expected a finished one"
    )]
    Unfinished { path: PathBuf, status: String },
    #[error("schedule.ranking = {path}: {message}")]
    Unreadable { path: PathBuf, message: String },
    /// The folder is not the ranking cell `schedule.ranking_hash` names.
    #[error("schedule.ranking_hash: {0}")]
    Producer(String),
    #[error("schedule.ranking = {path}: scored with {found}, but this run's schedule.scorer = {expected}")]
    Scorer {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error(
        "schedule.ranking = {path}: ranks blocks [{found}], but this run schedules [{expected}] \
         (expected a ranking of the same blocks under the same gate plan)"
    )]
    Blocks {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error(
        "schedule.ranking = {path}: ranks checkpoint {found} (sha256 {found_sha}), but this run starts from \
         train.init_from = {expected} (sha256 {expected_sha}); a ranking of another checkpoint does not apply"
    )]
    Checkpoint {
        path: PathBuf,
        found: String,
        found_sha: String,
        expected: String,
        expected_sha: String,
    },
    #[error("schedule.ranking = {path}: scored on data.dataset = {found:?}, but this run trains on {expected:?}")]
    Dataset {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("schedule.ranking = {path}: scored with {key} = {found}, but this run's {key} = {expected}")]
    Sampling {
        path: PathBuf,
        key: String,
        found: String,
        expected: String,
    },
    #[error("schedule.ranking = {path}: scored with cei = {found}, but this run's [cei] is {expected}")]
    Settings {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

impl Ranking {
    /// The file of a ranking cell's folder `path` (or `path` itself when it
    /// names the file), read after checking the cell finished.
    pub fn load(path: &Path) -> Result<(PathBuf, Ranking), RankingError> {
        let (dir, file) = if path.is_dir() {
            (path.to_path_buf(), path.join(RANKING_FILE))
        } else {
            (
                path.parent().unwrap_or(Path::new(".")).to_path_buf(),
                path.to_path_buf(),
            )
        };
        if !file.is_file() {
            return Err(RankingError::NotFound { path: path.into() });
        }
        match RunManifest::read(&dir.join("manifest.json")) {
            Some(m) if m.status == RunStatus::Complete => {}
            Some(m) => {
                return Err(RankingError::Unfinished {
                    path: path.into(),
                    status: format!("status {:?}", m.status).to_lowercase(),
                })
            }
            None => {
                return Err(RankingError::Unfinished {
                    path: path.into(),
                    status: "missing or unreadable".into(),
                })
            }
        }
        let unreadable = |message: String| RankingError::Unreadable {
            path: file.clone(),
            message,
        };
        let text = std::fs::read_to_string(&file).map_err(|e| unreadable(e.to_string()))?;
        let r: Ranking = serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
        if r.version != RANKING_VERSION {
            return Err(unreadable(format!(
                "version {}, expected {RANKING_VERSION} (rerun the ranking cell with this build)",
                r.version
            )));
        }
        if r.values.len() != r.ids.len() || r.se.len() != r.ids.len() {
            return Err(unreadable(format!(
                "{} ids, {} values and {} standard errors, expected one of each per block",
                r.ids.len(),
                r.values.len(),
                r.se.len()
            )));
        }
        Ok((file, r))
    }

    /// A ranking of `scores` (`wall_s` seconds) of `checkpoint` under `cfg`.
    pub fn of(scores: &Scores, wall_s: f64, checkpoint: Option<(PathBuf, String)>, cfg: &ExperimentConfig) -> Self {
        let (checkpoint, checkpoint_sha256) = checkpoint.unzip();
        Ranking {
            version: RANKING_VERSION,
            scorer: scores.scorer.as_str().into(),
            checkpoint,
            checkpoint_sha256,
            dataset: cfg.data.dataset.clone(),
            cei: cfg.cei.clone(),
            seed: cfg.seed,
            sampling: sampling_settings(cfg),
            ids: scores.ids.iter().map(|i| i.to_string()).collect(),
            values: scores.values.iter().map(|v| v.is_finite().then_some(*v)).collect(),
            se: scores.se.clone(),
            wall_s,
        }
    }

    /// Checks that the ranking read from `file` applies to a run that expects `want`.
    pub fn check(&self, file: &Path, want: &Expected) -> Result<(), RankingError> {
        let path = file.to_path_buf();
        if self.scorer != want.scorer.as_str() {
            return Err(RankingError::Scorer {
                path,
                found: self.scorer.clone(),
                expected: want.scorer.as_str().into(),
            });
        }
        let expected: Vec<String> = want.ids.iter().map(|i| i.to_string()).collect();
        if self.ids != expected {
            return Err(RankingError::Blocks {
                path,
                found: self.ids.join(", "),
                expected: expected.join(", "),
            });
        }
        if self.checkpoint_sha256 != want.checkpoint_sha256 {
            let name = |p: Option<&Path>| p.map_or("none (fresh weights)".to_string(), |p| p.display().to_string());
            return Err(RankingError::Checkpoint {
                path,
                found: name(self.checkpoint.as_deref()),
                found_sha: self.checkpoint_sha256.clone().unwrap_or_else(|| "-".into()),
                expected: name(want.init_from),
                expected_sha: want.checkpoint_sha256.clone().unwrap_or_else(|| "-".into()),
            });
        }
        if self.dataset != want.dataset {
            return Err(RankingError::Dataset {
                path,
                found: self.dataset.clone(),
                expected: want.dataset.into(),
            });
        }
        // `batch_conditions` only groups the same samples into forward
        // batches: the values do not depend on it (measured bit-identical
        // for 2, 4 and 16 at the default size), so it may differ.
        let same = CeiConfig {
            batch_conditions: want.cei.batch_conditions,
            ..self.cei.clone()
        };
        for (key, expected) in &want.sampling {
            let found = self.sampling.get(key);
            if found != Some(expected) {
                return Err(RankingError::Sampling {
                    path,
                    key: key.clone(),
                    found: found.map_or("nothing".to_string(), |f| f.to_string()),
                    expected: expected.to_string(),
                });
            }
        }
        if &same != want.cei {
            return Err(RankingError::Settings {
                path,
                found: settings_text(&self.cei),
                expected: settings_text(want.cei),
            });
        }
        Ok(())
    }

    /// The ranking as scores of `ids` (the run's blocks, checked equal).
    pub fn scores(&self, scorer: Scorer, ids: &[BlockId]) -> Scores {
        Scores {
            scorer,
            ids: ids.to_vec(),
            values: self.values.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
            se: self.se.clone(),
        }
    }
}

/// `{ conditions = 16, draws = 8, ... }`, for error messages.
fn settings_text(c: &CeiConfig) -> String {
    format!(
        "{{ conditions = {}, draws = {}, batch_conditions = {}, resamples = {}, knn_dims = {}, knn_k = {} }}",
        c.conditions, c.draws, c.batch_conditions, c.resamples, c.knn_dims, c.knn_k
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BlockKind;

    fn ids() -> Vec<BlockId> {
        (0..3).map(|i| BlockId::new(BlockKind::Temporal, i)).collect()
    }

    fn ranking() -> Ranking {
        let scores = Scores {
            scorer: Scorer::Cei,
            ids: ids(),
            values: vec![0.1, -0.2, 0.3],
            se: vec![Some(0.01), Some(0.02), None],
        };
        Ranking::of(
            &scores,
            1.5,
            Some((PathBuf::from("a/last.safetensors"), "aa".into())),
            &cfg(),
        )
    }

    fn cfg() -> ExperimentConfig {
        let mut c = ExperimentConfig::default();
        c.data.dataset = "tiktok".into();
        c
    }

    fn want<'a>(ids: &'a [BlockId], cei: &'a CeiConfig) -> Expected<'a> {
        Expected {
            scorer: Scorer::Cei,
            ids,
            init_from: Some(Path::new("b/last.safetensors")),
            checkpoint_sha256: Some("aa".into()),
            dataset: "tiktok",
            cei,
            sampling: sampling_settings(&cfg()),
        }
    }

    #[test]
    fn a_ranking_of_the_same_checkpoint_blocks_and_settings_applies_and_keeps_its_values() {
        let (ids, cei) = (ids(), CeiConfig::default());
        let r = ranking();
        r.check(Path::new("r.json"), &want(&ids, &cei)).unwrap();
        let s = r.scores(Scorer::Cei, &ids);
        assert_eq!(s.values, vec![0.1, -0.2, 0.3]);
        assert_eq!(s.order(), vec![2, 0, 1]);
    }

    #[test]
    fn a_ranking_of_another_checkpoint_or_other_blocks_is_refused_naming_both() {
        let (ids, cei) = (ids(), CeiConfig::default());
        let r = ranking();
        let mut w = want(&ids, &cei);
        w.checkpoint_sha256 = Some("bb".into());
        let e = r.check(Path::new("r.json"), &w).unwrap_err().to_string();
        assert!(
            e.starts_with("schedule.ranking = r.json: ranks checkpoint a/last.safetensors (sha256 aa)"),
            "{e}"
        );
        assert!(e.contains("train.init_from = b/last.safetensors (sha256 bb)"), "{e}");
        let fewer = &ids[..2];
        let e = r
            .check(Path::new("r.json"), &want(fewer, &cei))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ranks blocks [temporal.00, temporal.01, temporal.02]"),
            "{e}"
        );
        let other = CeiConfig {
            conditions: 4,
            ..CeiConfig::default()
        };
        let e = r
            .check(Path::new("r.json"), &want(&ids, &other))
            .unwrap_err()
            .to_string();
        assert!(e.contains("conditions = 125") && e.contains("conditions = 4"), "{e}");
        // Another forward batching of the same samples still applies.
        let batched = CeiConfig {
            batch_conditions: 2,
            ..CeiConfig::default()
        };
        r.check(Path::new("r.json"), &want(&ids, &batched)).unwrap();
        // Clips of another length give other samples.
        let mut longer = cfg();
        longer.data.clip_frames += 2;
        let mut w = want(&ids, &cei);
        w.sampling = sampling_settings(&longer);
        let e = r.check(Path::new("r.json"), &w).unwrap_err().to_string();
        let n = cfg().data.clip_frames;
        assert!(
            e.contains(&format!(
                "scored with data.clip_frames = {n}, but this run's data.clip_frames = {}",
                n + 2
            )),
            "{e}"
        );
        let mut w = want(&ids, &cei);
        w.scorer = Scorer::Random;
        let e = r.check(Path::new("r.json"), &w).unwrap_err().to_string();
        assert!(
            e.contains("scored with cei, but this run's schedule.scorer = random"),
            "{e}"
        );
    }

    #[test]
    fn a_folder_without_a_finished_ranking_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let e = Ranking::load(d.path()).unwrap_err().to_string();
        assert!(e.contains("no ranking.json there"), "{e}");
        std::fs::write(d.path().join(RANKING_FILE), serde_json::to_string(&ranking()).unwrap()).unwrap();
        let e = Ranking::load(d.path()).unwrap_err().to_string();
        assert!(e.contains("not complete (manifest.json missing or unreadable)"), "{e}");
    }
}
