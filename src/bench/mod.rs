//! Benchmarks of the harness (not part of the tests): `entprog bench ...`.

pub mod cei_cost;
pub mod kernels;
pub mod nets;
pub mod step_time;
pub mod train_step;
