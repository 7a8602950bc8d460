//! Ent-Prog's method (docs/paper.md §2-4): block priorities (CEI and the other
//! scorers), progressive schedules, and the Nested Diffusion Supernet's
//! decision rule. Pure policy and estimator maths live here; the passes over
//! a model go through the model's `Blocks` trait.

pub mod cei;
pub mod decisions;
pub mod heldout;
pub mod knn;
pub mod progressive;
mod progressive_rows;
mod progressive_step;
mod progressive_supernet;
pub mod rank;
pub mod replay;
pub mod schedule;
mod schedule_config;
pub mod score;
pub mod scorers;
pub mod supernet;

pub use progressive::{Phase, Progressive};
pub use schedule::{Clock, Plan, ScheduleConfig, ScheduleKind, ScheduleStage, StageBlocks};
pub use scorers::Scorer;
