//! How each kind of cell is built from a target and a profile: the
//! profile's flags for an experiment (`Flags`), the shared chain, the
//! probes of its last checkpoint and each arm's ranking and runs.

use super::cells::{Cell, CellKind, Checkpoint, StudyError};
use super::target::{Arm, Profile, Target};
use crate::config::ConfigError;
use crate::entprog::schedule::ScheduleKind;
use crate::experiment::Experiment;

fn load(experiment: &str, sets: &[String]) -> Result<Experiment, ConfigError> {
    Experiment::load(experiment, sets)
}

/// How a profile turns an experiment into a cell's `--set` flags.
pub(super) struct Flags<'a> {
    pub(super) profile: &'a Profile,
    /// Where the cells' run folders go (`output.results_dir`).
    pub(super) cell_dir: &'a std::path::Path,
}

impl Flags<'_> {
    /// The profile's flags for `experiment`, then the cell's name, seed,
    /// folder and starting checkpoint (with the hash of the run that writes
    /// it, so the cell's hash names its parent by identity, not by path).
    pub(super) fn sets(&self, experiment: &str, name: &str, seed: u64, init: Option<Checkpoint>) -> Vec<String> {
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
    pub(super) fn with_data(
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
    pub(super) fn cell_sets(
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
pub(super) type ChainEnds = Vec<Vec<(String, usize)>>;

/// The shared stage chain (shared stages once, per-dataset stages once per
/// dataset); returns each dataset's chain cells in order.
pub(super) fn chain_cells(target: &Target, flags: &Flags, cells: &mut Vec<Cell>) -> Result<ChainEnds, StudyError> {
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

/// A probe of the chain's last checkpoint (`kind`), one cell per dataset:
/// `experiment` with the profile's flags and `extra`.
pub(super) fn probe_cells(
    target: &Target,
    flags: &Flags,
    ends: &ChainEnds,
    cells: &mut Vec<Cell>,
    kind: CellKind,
    experiment: &str,
    extra: &[String],
) -> Result<(), StudyError> {
    for (i, d) in target.config.datasets.iter().enumerate() {
        let init = ends[i].last().map(|&(_, c)| cells[c].checkpoint());
        let name = format!("{experiment}-{d}");
        let mut sets = flags.cell_sets(experiment, &name, 0, init, Some(d))?;
        sets.extend(extra.iter().cloned());
        let label = match kind {
            CellKind::CeiSamples => format!("cei samples {d}"),
            _ => format!("probe skip {d}"),
        };
        cells.push(Cell {
            kind,
            label,
            exp: load(experiment, &sets)?,
            dataset: Some(d.clone()),
            scheme: None,
            group: String::new(),
            baseline: false,
            sets,
            ranking: None,
        });
    }
    Ok(())
}

/// An arm's cells on dataset `d` from checkpoint `init`: one ranking cell
/// when its schedule needs an order (made with seed 0's settings, shared by
/// every seed), pushed; returns its training run per seed, for the caller to
/// place (each followed by its evaluation).
pub(super) fn arm_cells(
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
