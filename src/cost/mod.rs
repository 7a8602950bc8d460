//! The cost model (docs/cost-model.md): what a training step of a
//! configuration costs in FLOPs, peak memory and wall time, predicted from
//! the configuration alone, for full training and for each candidate m of an
//! Ent-Prog schedule; the calibration that turns work into seconds; and the
//! validation of every prediction against a measured step.

pub mod calibrate;
pub mod memory;
pub mod params;
pub mod predict;
pub mod scenario;
pub mod table;
pub mod time;
pub mod validate;

pub use memory::StepMemory;
pub use predict::{candidates, predict, Candidate, Order, StepCost};
pub use scenario::{Precision, Scenario};
pub use time::{Calibration, StepTime};
