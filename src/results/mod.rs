//! Run outputs: folders with manifests and locks, atomic writes, and the
//! typed Parquet tables that every report is computed from.

pub mod atomic;
pub mod checkpoint;
pub mod columns;
pub mod gif;
pub mod jsonl;
pub mod lock;
pub mod manifest;
pub mod parquet;
pub mod rundir;
pub mod tables;

pub use atomic::write_atomic;
pub use lock::{FolderLock, LockError};
pub use manifest::{RunManifest, RunStatus};
pub use parquet::{write_table, Table, TableError, TableWriter};
pub use rundir::{Opened, RunDir, RunDirError, RunSpec};
pub use tables::{BlockRow, CeiSamplesRow, EvalRow, ProbeSkipRow, RunRow, StepRow, SupernetRow};
