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

use std::path::PathBuf;

use super::target::{Arm, Profile, Target};
use crate::config::ConfigError;
use crate::entprog::schedule::ScheduleKind;
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

fn load(experiment: &str, sets: &[String]) -> Result<Experiment, ConfigError> {
    Experiment::load(experiment, sets)
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
            for (i, d) in target.config.datasets.iter().enumerate() {
                let init = ends[i].last().map(|&(_, c)| cells[c].checkpoint());
                let name = format!("{}-{d}", probe.experiment);
                let mut sets = flags.cell_sets(&probe.experiment, &name, 0, init, Some(d))?;
                sets.extend(probe.set.iter().cloned());
                cells.push(Cell {
                    kind: CellKind::Probe { trials: probe.trials },
                    label: format!("probe skip {d}"),
                    exp: load(&probe.experiment, &sets)?,
                    dataset: Some(d.clone()),
                    scheme: None,
                    group: String::new(),
                    baseline: false,
                    sets,
                    ranking: None,
                });
            }
        }
        if let Some(cs) = &target.config.cei_samples {
            for (i, d) in target.config.datasets.iter().enumerate() {
                let init = ends[i].last().map(|&(_, c)| cells[c].checkpoint());
                let name = format!("{}-{d}", cs.experiment);
                let sets = flags.cell_sets(&cs.experiment, &name, 0, init, Some(d))?;
                cells.push(Cell {
                    kind: CellKind::CeiSamples,
                    label: format!("cei samples {d}"),
                    exp: load(&cs.experiment, &sets)?,
                    dataset: Some(d.clone()),
                    scheme: None,
                    group: String::new(),
                    baseline: false,
                    sets,
                    ranking: None,
                });
            }
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

/// How a profile turns an experiment into a cell's `--set` flags.
struct Flags<'a> {
    profile: &'a Profile,
    /// Where the cells' run folders go (`output.results_dir`).
    cell_dir: &'a std::path::Path,
}

impl Flags<'_> {
    /// The profile's flags for `experiment`, then the cell's name, seed,
    /// folder and starting checkpoint (with the hash of the run that writes
    /// it, so the cell's hash names its parent by identity, not by path).
    fn sets(&self, experiment: &str, name: &str, seed: u64, init: Option<Checkpoint>) -> Vec<String> {
        let p = self.profile;
        let mut sets = p.set.clone();
        sets.extend(p.experiment_set.get(experiment).cloned().unwrap_or_default());
        sets.push(format!("name={name}"));
        sets.push(format!("seed={seed}"));
        sets.push(format!("output.results_dir={:?}", self.cell_dir.display().to_string()));
        if let Some((path, hash)) = init {
            sets.push(format!("train.init_from={:?}", path.display().to_string()));
            sets.push(format!("train.init_from_hash={hash:?}"));
        }
        sets
    }

    /// `sets` with the dataset flags: `dataset` (when given) and the
    /// profile's suffix on every dataset name.
    fn with_data(
        &self,
        experiment: &str,
        sets: Vec<String>,
        dataset: Option<&str>,
    ) -> Result<Vec<String>, ConfigError> {
        let plain = load(experiment, &sets)?;
        let d = &plain.config.data;
        let suffix = &self.profile.dataset_suffix;
        let main = dataset.unwrap_or(&d.dataset);
        let mut sets = sets;
        sets.push(format!("data.dataset=\"{main}{suffix}\""));
        let mix: Vec<String> = d.mix.iter().map(|m| format!("\"{m}{suffix}\"")).collect();
        sets.push(format!("data.mix=[{}]", mix.join(", ")));
        Ok(sets)
    }

    /// All of a cell's flags: [`Flags::sets`] then [`Flags::with_data`].
    fn cell_sets(
        &self,
        experiment: &str,
        name: &str,
        seed: u64,
        init: Option<Checkpoint>,
        dataset: Option<&str>,
    ) -> Result<Vec<String>, ConfigError> {
        self.with_data(experiment, self.sets(experiment, name, seed, init), dataset)
    }
}

/// Per dataset, the chain's cells in order: (experiment, cell index).
type ChainEnds = Vec<Vec<(String, usize)>>;

/// The shared stage chain (shared stages once, per-dataset stages once per
/// dataset); returns each dataset's chain cells in order.
fn chain_cells(target: &Target, flags: &Flags, cells: &mut Vec<Cell>) -> Result<ChainEnds, StudyError> {
    let datasets = &target.config.datasets;
    let mut ends: ChainEnds = vec![Vec::new(); datasets.len()];
    let last = |ends: &ChainEnds, i: usize| ends[i].last().map(|&(_, c)| c);
    let chain_cell = |label: String, exp: Experiment, dataset: Option<String>, sets: Vec<String>| Cell {
        kind: CellKind::Chain,
        label,
        exp,
        dataset,
        scheme: None,
        group: String::new(),
        baseline: false,
        sets,
        ranking: None,
    };
    for stage in &target.config.chain {
        if stage.per_dataset {
            for (i, d) in datasets.iter().enumerate() {
                let init = last(&ends, i).map(|c| cells[c].checkpoint());
                let name = format!("{}-{d}", stage.experiment);
                let sets = flags.cell_sets(&stage.experiment, &name, 0, init, Some(d))?;
                let exp = load(&stage.experiment, &sets)?;
                cells.push(chain_cell(name, exp, Some(d.clone()), sets));
                ends[i].push((stage.experiment.clone(), cells.len() - 1));
            }
        } else {
            // A shared stage starts from the first dataset's chain so far.
            let init = last(&ends, 0).map(|c| cells[c].checkpoint());
            let name = stage.experiment.clone();
            let sets = flags.cell_sets(&stage.experiment, &name, 0, init, None)?;
            let exp = load(&stage.experiment, &sets)?;
            cells.push(chain_cell(name, exp, None, sets));
            let at = cells.len() - 1;
            ends.iter_mut().for_each(|e| e.push((stage.experiment.clone(), at)));
        }
    }
    Ok(ends)
}

/// An arm's cells on dataset `d` from checkpoint `init`: one ranking cell
/// when its schedule needs an order (made with seed 0's settings, shared by
/// every seed), pushed; returns its training run per seed, for the caller to
/// place (each followed by its evaluation).
fn arm_cells(
    arm: &Arm,
    d: &str,
    init: Option<Checkpoint>,
    seeds: u64,
    flags: &Flags,
    cells: &mut Vec<Cell>,
) -> Result<Vec<Cell>, StudyError> {
    // Arms that share an experiment are told apart by their group and scheme.
    let name = match arm.has_own_flags(flags.profile) {
        false => format!("{}-{d}", arm.experiment),
        true => format!(
            "{}-{}-{d}",
            arm.experiment,
            super::graph::slug(format!("{} {}", arm.group, arm.scheme).trim_start())
        ),
    };
    // The arm's step budget: a multiple of its experiment's steps under the profile.
    let steps = match arm.steps_factor {
        Some(f) => {
            let plain = load(
                &arm.experiment,
                &flags.cell_sets(&arm.experiment, &name, 0, None, Some(d))?,
            )?;
            let steps = (plain.config.train.steps as f64 * f).round().max(1.0) as u64;
            vec![format!("train.steps={steps}")]
        }
        None => Vec::new(),
    };
    let arm_set = flags.profile.arm_flags(arm);
    let with_arm = |mut sets: Vec<String>| {
        sets.extend(arm.set.iter().cloned());
        sets.extend(arm_set.iter().cloned());
        sets.extend(steps.iter().cloned());
        sets
    };
    let ranking_sets = with_arm(flags.cell_sets(&arm.experiment, &name, 0, init.clone(), Some(d))?);
    let ranked = load(&arm.experiment, &ranking_sets)?;
    let ranking = if ranked.config.schedule.kind != ScheduleKind::Full {
        cells.push(Cell {
            kind: CellKind::Ranking,
            label: format!("ranking {} {}", arm.scheme, super::target::block_name(d, &arm.group)),
            exp: ranked,
            dataset: Some(d.to_string()),
            scheme: Some(arm.scheme.clone()),
            group: arm.group.clone(),
            baseline: arm.baseline,
            sets: ranking_sets,
            ranking: None,
        });
        Some(cells.len() - 1)
    } else {
        None
    };
    let mut runs = Vec::new();
    for seed in 0..seeds {
        let mut sets = with_arm(flags.cell_sets(&arm.experiment, &name, seed, init.clone(), Some(d))?);
        if let Some(r) = ranking {
            sets.push(format!(
                "schedule.ranking={:?}",
                cells[r].ranking_dir().display().to_string()
            ));
            sets.push(format!("schedule.ranking_hash={:?}", cells[r].exp.hash));
        }
        runs.push(Cell {
            kind: CellKind::Arm,
            label: format!(
                "{} {} seed {seed}",
                arm.scheme,
                super::target::block_name(d, &arm.group)
            ),
            exp: load(&arm.experiment, &sets)?,
            dataset: Some(d.to_string()),
            scheme: Some(arm.scheme.clone()),
            group: arm.group.clone(),
            baseline: arm.baseline,
            sets,
            ranking,
        });
    }
    Ok(runs)
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
