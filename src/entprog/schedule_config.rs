//! `[schedule]` of an experiment: the schedule kind, its stages and
//! candidates, the supernet's settings and the priority order's options,
//! with their defaults and validation.

use serde::{Deserialize, Serialize};

use super::scorers::Scorer;
use crate::config::validate::check_hash;
use crate::config::{check, key, Invalid, Validate};

/// The schedule kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    Full,
    Freeze,
    Fixed,
    Linear,
    Adaptive,
}

/// Which clock the supernet's convergence efficiency divides by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// Analytic FLOPs of what ran: deterministic, so two runs decide alike.
    Flops,
    /// Wall seconds: what the paper measures; machine-dependent.
    Wall,
}

/// `[schedule]` of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// full | freeze | fixed | linear | adaptive.
    pub kind: ScheduleKind,
    /// Block priority: cei | abs_cei | knn_cei | random | depth_in | depth_out
    /// | grad_norm | fisher | loss_skip (see `scorers.rs`).
    pub scorer: Scorer,
    /// `freeze`: number of blocks kept frozen the whole run.
    pub frozen: usize,
    /// `fixed`: m_1..m_K, unfrozen blocks per stage.
    pub m: Vec<usize>,
    /// `fixed`: steps per stage (empty = equal split of the run).
    pub stage_steps: Vec<u64>,
    /// `linear` / `adaptive`: number of stages K.
    pub stages: usize,
    /// `adaptive`: candidate sets M_k per stage (empty = the linear grid from m_k to L).
    pub candidates: Vec<Vec<usize>>,
    /// `adaptive`: allow a stage to choose fewer blocks than the previous one.
    pub allow_decrease: bool,
    /// `adaptive`: supernet rounds per stage; each round trains every candidate once.
    pub supernet_rounds: usize,
    /// `adaptive`: optimizer steps per candidate per round.
    pub supernet_steps: usize,
    /// `adaptive`: held-out batches (fixed tau and noise) per loss evaluation.
    pub heldout_batches: usize,
    /// `adaptive`: clock of CE(m) = loss drop / cost.
    pub clock: Clock,
    /// Re-score blocks at each stage start (the paper's future work).
    pub rerank: bool,
    /// Take blocks from the bottom of the priority order instead (Figure 1d's
    /// "least important" arm, and a sanity check of any scorer).
    pub reverse: bool,
    /// Run inactive (frozen) blocks as identities instead of frozen (an
    /// ablation: the paper keeps frozen blocks in the forward pass).
    pub skip_inactive: bool,
    /// A precomputed priority order for the first stage: the folder of a
    /// finished ranking cell (`entprog rank <experiment>`, or the study's
    /// shared ranking cell) or its `ranking.json`. The run checks that it
    /// ranked this run's blocks of this run's starting checkpoint with
    /// `scorer` and the same `[cei]` settings, and trains on it instead of
    /// scoring its blocks itself (a re-ranked later stage still scores).
    /// Unset: the run scores its own blocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking: Option<std::path::PathBuf>,
    /// The config hash of the ranking cell in `ranking` (studies set it):
    /// when set, the ranking enters the config hash by this identity instead
    /// of its path (as `train.init_from_hash` does for checkpoints), and the
    /// run checks the ranking folder's `manifest.json` against it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking_hash: Option<String>,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            kind: ScheduleKind::Full,
            scorer: Scorer::Cei,
            frozen: 0,
            m: Vec::new(),
            stage_steps: Vec::new(),
            stages: 4,
            candidates: Vec::new(),
            allow_decrease: false,
            supernet_rounds: 4,
            supernet_steps: 2,
            heldout_batches: 2,
            clock: Clock::Flops,
            rerank: false,
            reverse: false,
            skip_inactive: false,
            ranking: None,
            ranking_hash: None,
        }
    }
}

impl Validate for ScheduleConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        let ranking = self.ranking.is_some();
        check_hash(
            out,
            self.ranking_hash.as_deref(),
            ranking,
            key(prefix, "ranking_hash"),
            "ranking",
        );
        match self.kind {
            ScheduleKind::Fixed => {
                check(
                    out,
                    !self.m.is_empty(),
                    key(prefix, "m"),
                    "empty, expected m_1..m_K for a fixed schedule",
                );
                check(
                    out,
                    self.stage_steps.is_empty() || self.stage_steps.len() == self.m.len(),
                    key(prefix, "stage_steps"),
                    format!(
                        "{} lengths for {} stages, expected one per entry of m",
                        self.stage_steps.len(),
                        self.m.len()
                    ),
                );
                check(
                    out,
                    self.m.iter().all(|&m| m >= 1),
                    key(prefix, "m"),
                    "0 blocks in a stage, expected >= 1",
                );
            }
            ScheduleKind::Linear | ScheduleKind::Adaptive => {
                check(out, self.stages >= 1, key(prefix, "stages"), "0 stages, expected >= 1");
            }
            _ => {}
        }
        check(
            out,
            self.ranking.as_ref().is_none_or(|p| !p.as_os_str().is_empty()),
            key(prefix, "ranking"),
            "empty path, expected the folder of a finished ranking cell (or leave the key out)",
        );
        if self.kind == ScheduleKind::Adaptive {
            self.validate_adaptive(prefix, out);
        }
    }
}

impl ScheduleConfig {
    /// The checks of an `adaptive` schedule's candidates and supernet.
    fn validate_adaptive(&self, prefix: &str, out: &mut Vec<Invalid>) {
        check(
            out,
            self.candidates.is_empty() || self.candidates.len() == self.stages,
            key(prefix, "candidates"),
            format!(
                "{} candidate sets for {} stages, expected one per stage",
                self.candidates.len(),
                self.stages
            ),
        );
        check(
            out,
            self.candidates.iter().all(|c| !c.is_empty()),
            key(prefix, "candidates"),
            "an empty set",
        );
        check(
            out,
            self.supernet_rounds >= 2,
            key(prefix, "supernet_rounds"),
            "expected >= 2 (CE needs a loss drop)",
        );
        check(
            out,
            self.supernet_steps >= 1,
            key(prefix, "supernet_steps"),
            "expected >= 1",
        );
        check(
            out,
            self.heldout_batches >= 1,
            key(prefix, "heldout_batches"),
            "expected >= 1",
        );
    }
}
