//! Reports, computed with Polars from the Parquet files on disk only: a
//! comparison of a target's arms against its baseline arm, per dataset, in
//! the paper's layout (scheme rows; quality, memory and speedup columns),
//! each cell the mean and 95% interval over seeds, the paper's numbers
//! beside ours, and a verdict per claim computed from the intervals.
//! `report.md` and `report.parquet` (the same cells, long format) go to the
//! target's report folder with the plots of `figures.rs`; `entprog report
//! <target>` rebuilds them without training. A shared ranking cell's time
//! is split evenly over the runs it ranks for and counted in their time
//! and overhead; its whole cost is reported apart.
//!
//! - `load.rs`: reading the result files, the long table of measurements;
//! - `costs.rs`: wall time, FLOPs and memory per run, the shared ranking's cost;
//! - `why.rs`: what the supernet measured of each candidate;
//! - `predicted.rs`: the cost model's prediction per candidate beside the measured FLOPs;
//! - `cei_samples.rs`: CEI rank stability against N;
//! - `probes.rs`: Figure 1b-c's random-skip probe, its table, verdicts and plot;
//! - `curves.rs`: quality curves and the speedup at equal quality;
//! - `verdicts.rs`: values over seeds, paired ratios and differences, verdicts;
//! - `stats.rs`: intervals over seeds and the verdicts drawn from them;
//! - `columns.rs`: the quality columns of a dataset's table;
//! - `render.rs`: the markdown of the introduction and the dataset tables;
//! - `assemble.rs`: the report in order, `report.md` and `report.parquet`;
//! - `figures.rs`, `schedule_figures.rs`: the plots (drawn with `crate::plot`).

mod assemble;
mod cei_samples;
mod columns;
mod costs;
mod curves;
pub mod figures;
mod load;
mod predicted;
mod probes;
mod render;
mod schedule_figures;
pub mod stats;
mod verdicts;
mod why;

pub use assemble::{build, write, Report};
pub use costs::{ranking_share, TIMING};
pub use load::{measurements, ReportError};
