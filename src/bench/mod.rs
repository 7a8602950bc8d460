//! Benchmarks of the harness (not part of the tests): `entprog bench ...`.

pub mod train_step;
