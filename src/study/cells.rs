//! The cell graph of a target under a profile: dataset builds happen on
//! first use inside the cells; the shared stage chain (shared stages once,
//! per-dataset stages once per dataset), then per dataset, arm and seed a
//! training run from the chain's last checkpoint and its evaluation; an arm
//! whose schedule needs a priority order first gets one ranking cell per
//! dataset (`ranking.rs`), shared by all its seeds through
//! `schedule.ranking` (the paper ranks once, offline). Every
//! training cell is an experiment of `experiments/` loaded with `--set`
//! flags, exactly what `entprog train <experiment> --set ...` would run, so a
//! finished cell is reused by its config hash by any target and by hand.
//! A seed's arms run back to back, their order alternating by seed; probe
//! cells (random skipping, CEI samples) follow. `build.rs` builds each kind.

use std::path::PathBuf;

use super::build::{arm_cells, chain_cells, probe_cells, Flags};
use super::target::{Profile, Target};
use crate::config::ConfigError;
use crate::eval::dance::DanceNetsConfig;
use crate::experiment::Experiment;

/// What a cell does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// A stage of the shared chain.
    Chain,
    /// The priority order of an arm's blocks in the chain's last checkpoint,
    /// shared by the arm's seeds.
    Ranking,
    /// A compared arm's training run.
    Arm,
    /// The evaluation of the arm cell at this index.
    Eval { of: usize },
    /// Figure 1b-c's random-skip probe of the chain's last checkpoint.
    Probe { trials: usize },
    /// CEI rank stability against N of the chain's last checkpoint (the
    /// target's `cei_samples`).
    CeiSamples,
}

/// One cell of the study.
#[derive(Debug, Clone)]
pub struct Cell {
    pub kind: CellKind,
    /// Progress label (`stage2-tiktok`, `Ent-Prog tiktok seed 1`).
    pub label: String,
    pub exp: Experiment,
    /// The dataset block of the table (without the profile's suffix).
    pub dataset: Option<String>,
    /// The arm's scheme.
    pub scheme: Option<String>,
    /// The arm's group (empty: none); with the dataset, the report's block.
    pub group: String,
    pub baseline: bool,
    /// The `--set` flags of the cell's experiment (`entprog train <experiment> --set ...` reruns it).
    pub sets: Vec<String>,
    /// An arm: the index of the ranking cell it is given.
    pub ranking: Option<usize>,
}

impl Cell {
    /// The cell's training run folder (for an evaluation: the run it evaluates).
    pub fn train_dir(&self) -> PathBuf {
        self.exp.run_spec("train", None).dir()
    }

    /// The checkpoint a child cell starts from, with this cell's config hash.
    pub fn checkpoint(&self) -> Checkpoint {
        (self.train_dir().join("last.safetensors"), self.exp.hash.clone())
    }

    /// The report block of the cell: its dataset, and its arm's group.
    pub fn block(&self) -> String {
        super::target::block_name(self.dataset.as_deref().unwrap_or_default(), &self.group)
    }

    /// The cell's ranking folder (a ranking cell's own output).
    pub fn ranking_dir(&self) -> PathBuf {
        super::ranking::ranking_dir(&self.exp)
    }
}

/// A starting checkpoint: its path and the config hash of the run that writes it.
pub type Checkpoint = (PathBuf, String);

/// A target's cells in run order (every cell after the cells it reads).
#[derive(Debug, Clone)]
pub struct Study {
    pub target: Target,
    pub profile_name: String,
    pub profile: Profile,
    pub seeds: u64,
    pub cells: Vec<Cell>,
    /// Where the cells' run folders go.
    pub results_dir: PathBuf,
    /// The offline feature networks of the evaluations (the target's
    /// `features` file with the profile's `features_set`, the profile's
    /// dataset suffix, cells beside the others): two cells run first.
    pub nets: Option<DanceNetsConfig>,
}

/// Why the study could not be laid out.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Profile(String),
    #[error(transparent)]
    Nets(#[from] Box<crate::eval::dance::DanceError>),
    /// A cell's model and its dataset disagree on the frame size.
    #[error("profile {profile}, cell {cell}: {source}")]
    FrameSize {
        profile: String,
        cell: String,
        source: Box<crate::data::DataError>,
    },
}

impl Study {
    /// Lays out `target` under profile `profile` with `seeds` seeds per arm
    /// (`None`: the profile's or the target's count), cells under `results_dir`.
    pub fn new(target: Target, profile: &str, seeds: Option<u64>, results_dir: PathBuf) -> Result<Self, StudyError> {
        let p = target.profile(profile).map_err(StudyError::Profile)?.clone();
        if seeds == Some(0) {
            return Err(StudyError::Profile(
                "--seeds 0: a study needs at least one seed per arm".into(),
            ));
        }
        let seeds = seeds
            .or((p.seeds > 0).then_some(p.seeds))
            .unwrap_or(target.config.seeds);
        let cell_dir = results_dir.join(format!("cells-{profile}"));
        let flags = Flags {
            profile: &p,
            cell_dir: &cell_dir,
        };
        let mut cells: Vec<Cell> = Vec::new();
        let ends = chain_cells(&target, &flags, &mut cells)?;
        for (i, d) in target.config.datasets.iter().enumerate() {
            // Each arm's ranking first, then its runs per seed.
            let mut runs: Vec<Vec<Cell>> = Vec::new();
            for arm in &target.config.arms {
                // The stage the arm starts from (validated to be in the chain), or the last.
                let from = ends[i]
                    .iter()
                    .rev()
                    .find(|(e, _)| arm.from.is_empty() || *e == arm.from);
                let init = from.map(|&(_, c)| cells[c].checkpoint());
                runs.push(arm_cells(arm, d, init, seeds, &flags, &mut cells)?);
            }
            // A seed's arms run back to back, in the target's order on even
            // seeds and reversed on odd ones, so the machine's drift over a
            // study falls on no arm alone; each run is followed by its evaluation.
            for seed in 0..seeds as usize {
                let mut order: Vec<usize> = (0..runs.len()).collect();
                if seed % 2 == 1 {
                    order.reverse();
                }
                for a in order {
                    cells.push(runs[a][seed].clone());
                    let of = cells.len() - 1;
                    let mut eval = cells[of].clone();
                    eval.kind = CellKind::Eval { of };
                    eval.label = format!("eval {}", cells[of].label);
                    cells.push(eval);
                }
            }
        }
        if let Some(probe) = &target.config.probe_skip {
            let kind = CellKind::Probe { trials: probe.trials };
            probe_cells(&target, &flags, &ends, &mut cells, kind, &probe.experiment, &probe.set)?;
        }
        if let Some(cs) = &target.config.cei_samples {
            probe_cells(
                &target,
                &flags,
                &ends,
                &mut cells,
                CellKind::CeiSamples,
                &cs.experiment,
                &[],
            )?;
        }
        let nets = nets_config(&target, &p, &cell_dir)?;
        check_frame_sizes(&cells, profile)?;
        Ok(Self {
            target,
            profile_name: profile.to_string(),
            profile: p,
            seeds,
            cells,
            results_dir,
            nets,
        })
    }

    /// Where this study's report goes: `results/<target>/` for the default
    /// profile, `results/<target>/<profile>/` for the others.
    pub fn report_dir(&self) -> PathBuf {
        let base = self.results_dir.join(&self.target.name);
        if self.profile_name == "default" {
            base
        } else {
            base.join(&self.profile_name)
        }
    }
}

/// The offline feature networks of the evaluations: the target's
/// `features` file with the profile's `features_set`, the profile's dataset
/// suffix on every dataset, cells beside the others.
fn nets_config(
    target: &Target,
    p: &Profile,
    cell_dir: &std::path::Path,
) -> Result<Option<DanceNetsConfig>, StudyError> {
    if target.config.features.is_empty() {
        return Ok(None);
    }
    let path = crate::experiment::resolve_experiment_path(&target.config.features);
    let plain = crate::eval::dance::load_config(&path, &p.features_set).map_err(Box::new)?;
    let mut sets = p.features_set.clone();
    let names: Vec<String> = plain
        .datasets
        .iter()
        .map(|d| format!("\"{d}{}\"", p.dataset_suffix))
        .collect();
    sets.push(format!("datasets=[{}]", names.join(", ")));
    sets.push(format!("results_dir={:?}", cell_dir.display().to_string()));
    Ok(Some(crate::eval::dance::load_config(&path, &sets).map_err(Box::new)?))
}

/// Every cell's model must fit its data: a profile that swaps the model
/// (the paper's 256x256 preset) swaps the datasets too.
fn check_frame_sizes(cells: &[Cell], profile: &str) -> Result<(), StudyError> {
    for cell in cells {
        let c = &cell.exp.config;
        c.data
            .check_frame_size(c.model.image_size)
            .map_err(|source| StudyError::FrameSize {
                profile: profile.to_string(),
                cell: cell.label.clone(),
                source: Box::new(source),
            })?;
    }
    Ok(())
}
