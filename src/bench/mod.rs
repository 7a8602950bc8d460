//! Benchmarks of the harness (not part of the tests): `entprog bench ...`.

pub mod cei_cost;
pub mod train_step;
