//! `reproduce all`: every target, in an order that shares cells (Table 3's
//! chain and arms first, the targets built on them next, the union of
//! Table 5 and Figure 1 last), and the `--dry-run` summary: each target's
//! time left and the whole, counting a cell that several targets share once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::cells::Study;
use super::estimate::human;
use super::graph::{task_estimate_s, task_state, tasks, TaskKind};
use super::reproduce::{spec_of, CellState};

/// The targets in run order; any other file of `experiments/targets/`
/// follows, by name.
pub const ORDER: [&str; 9] = [
    "table3",
    "table3-tiktok",
    "table5",
    "fig1",
    "scorers",
    "table1",
    "table2",
    "table4",
    "ablations",
];

/// Every target's name, in run order.
pub fn names(dir: &Path) -> Vec<String> {
    let found = crate::config::load::toml_names(dir);
    let mut out: Vec<String> = ORDER
        .iter()
        .filter(|n| found.iter().any(|f| f == *n))
        .map(|n| n.to_string())
        .collect();
    out.extend(found.into_iter().filter(|f| !ORDER.contains(&f.as_str())));
    out
}

/// The folders of a study's unfinished tasks with their estimated seconds.
fn left(study: &Study) -> Vec<(PathBuf, f64)> {
    tasks(study)
        .iter()
        .filter(|t| task_state(study, t) != CellState::Done)
        .map(|t| {
            let dir = match (t.kind, &study.nets) {
                (TaskKind::Net(net), Some(cfg)) => cfg.spec(net).dir(),
                (TaskKind::Cell(i), _) => spec_of(study, &study.cells[i]).dir(),
                (TaskKind::Net(_), None) => PathBuf::new(),
            };
            (dir, task_estimate_s(study, t))
        })
        .collect()
}

/// The summary `reproduce all --dry-run` ends with: per target, its cells,
/// those still to run, the time they need on their own and the time they
/// add after the targets before it; then the whole.
pub fn summary(studies: &[Study]) -> String {
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    let mut out =
        String::from("\n| target | cells | to run | time alone | time added in this order |\n|---|---|---|---|---|\n");
    let mut total = 0.0;
    for s in studies {
        let todo = left(s);
        let alone: f64 = todo.iter().map(|t| t.1).sum();
        let added: f64 = todo.iter().filter(|t| seen.insert(t.0.clone())).map(|t| t.1).sum();
        total += added;
        let cells = tasks(s).len();
        out.push_str(&format!(
            "| {} | {cells} | {} | {} | {} |\n",
            s.target.name,
            todo.len(),
            human(alone),
            human(added)
        ));
    }
    out.push_str(&format!(
        "\nall targets, profile {}: estimated time left {} (a cell several targets share counted once)\n",
        studies.first().map_or("-", |s| s.profile_name.as_str()),
        human(total)
    ));
    out
}
