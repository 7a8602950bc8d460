//! A study as a graph of tasks: the offline feature networks first, then
//! the cells in run order, each with the tasks whose outputs it reads (a
//! chain stage or an arm its starting checkpoint's cell, an arm its ranking
//! cell, an evaluation its arm and the networks). The serial runner, `--jobs
//! N` and the Slurm executor all walk this one graph, and a task is named
//! by its label (`foundation`, `eval Ent-Prog tiktok seed 0`, `network frame`).

use super::cells::{CellKind, Study};
use super::estimate::{estimate_s, nets_estimate_s};
use super::reproduce::{state, CellState};
use crate::eval::dance::Net;

/// What a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// One of the offline feature networks.
    Net(Net),
    /// The study's cell at this index.
    Cell(usize),
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Unique within the study; what `reproduce --cell` takes.
    pub label: String,
    pub kind: TaskKind,
    /// Indices (into the task list) of the tasks this one reads.
    pub deps: Vec<usize>,
}

/// The study's tasks in run order (every task after the tasks it reads).
pub fn tasks(study: &Study) -> Vec<Task> {
    let mut out: Vec<Task> = Vec::new();
    if study.nets.is_some() {
        for net in [Net::Frame, Net::Clip] {
            out.push(Task {
                label: format!("network {}", net.network()),
                kind: TaskKind::Net(net),
                deps: Vec::new(),
            });
        }
    }
    let nets: Vec<usize> = (0..out.len()).collect();
    let offset = out.len();
    for (i, cell) in study.cells.iter().enumerate() {
        let mut deps = Vec::new();
        // The cell whose checkpoint this one starts from (its hash names it).
        if let Some(parent) = &cell.exp.config.train.init_from_hash {
            let producer = study.cells[..i]
                .iter()
                .position(|c| matches!(c.kind, CellKind::Chain | CellKind::Arm) && &c.exp.hash == parent);
            deps.extend(producer.map(|j| j + offset));
        }
        deps.extend(cell.ranking.map(|j| j + offset));
        // A training cell that is an earlier one (an arm of the chain's
        // own settings, as Table 2's full stage 1 is the chain's stage 1)
        // runs after it and finds it done, never beside it in one folder.
        deps.extend(duplicate_of(study, i).map(|j| j + offset));
        if let CellKind::Eval { of } = cell.kind {
            deps.push(of + offset);
            deps.extend(&nets);
        }
        out.push(Task {
            label: cell.label.clone(),
            kind: TaskKind::Cell(i),
            deps,
        });
    }
    out
}

/// The earlier training cell that cell `i` repeats (same config hash, same
/// folder), if any.
pub fn duplicate_of(study: &Study, i: usize) -> Option<usize> {
    let trains = |k: CellKind| matches!(k, CellKind::Chain | CellKind::Arm);
    let cell = &study.cells[i];
    if !trains(cell.kind) {
        return None;
    }
    let dir = cell.train_dir();
    study.cells[..i]
        .iter()
        .position(|c| trains(c.kind) && c.exp.hash == cell.exp.hash && c.train_dir() == dir)
}

/// Whether a task's outputs are on disk, resumable or to be made.
pub fn task_state(study: &Study, task: &Task) -> CellState {
    match task.kind {
        TaskKind::Net(net) => match study.nets.as_ref().is_some_and(|n| n.is_done(net)) {
            true => CellState::Done,
            false => CellState::Todo,
        },
        TaskKind::Cell(i) => state(study, &study.cells[i]),
    }
}

/// Estimated seconds of a task on this machine.
pub fn task_estimate_s(study: &Study, task: &Task) -> f64 {
    match (task.kind, &study.nets) {
        (TaskKind::Net(net), Some(cfg)) => nets_estimate_s(cfg, net),
        (TaskKind::Net(_), None) => 0.0,
        // A repeated cell is done by the time it runs.
        (TaskKind::Cell(i), _) if duplicate_of(study, i).is_some() => 0.0,
        (TaskKind::Cell(i), _) => estimate_s(study, &study.cells[i]),
    }
}

/// The task labelled `label`, or the error listing every label.
pub fn find<'a>(tasks: &'a [Task], label: &str) -> Result<(usize, &'a Task), String> {
    tasks.iter().enumerate().find(|(_, t)| t.label == label).ok_or_else(|| {
        let labels: Vec<&str> = tasks.iter().map(|t| t.label.as_str()).collect();
        format!(
            "no cell {label:?} in this study, expected one of: {}",
            labels.join(", ")
        )
    })
}

/// A file-name form of a label: `eval Ent-Prog tiktok seed 0` -> `eval-ent-prog-tiktok-seed-0`.
pub fn slug(label: &str) -> String {
    let s: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slug_keeps_letters_and_digits() {
        assert_eq!(slug("eval Ent-Prog tiktok seed 0"), "eval-ent-prog-tiktok-seed-0");
        assert_eq!(slug("network frame"), "network-frame");
    }
}
