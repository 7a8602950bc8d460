//! A lock file per run folder: `.lock` holds the PID of the process writing
//! the folder. A second process finds it and stops with a clear message; a
//! lock whose process is gone (killed run) is stale and taken over.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{path}: results folder is locked by running process {pid} (remove the lock file if that is wrong)")]
    Held { path: PathBuf, pid: u32 },
    #[error("{path}: cannot create lock file: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Holds a folder's lock until dropped.
#[derive(Debug)]
pub struct FolderLock {
    path: PathBuf,
}

impl FolderLock {
    /// Takes the lock of `dir`, replacing a stale one.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path = dir.join(".lock");
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    writeln!(f, "{}", std::process::id()).map_err(|source| LockError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid) if process_alive(pid) => return Err(LockError::Held { path, pid }),
                        // Stale (dead process or unreadable content): take it over.
                        _ => std::fs::remove_file(&path).map_err(|source| LockError::Io {
                            path: path.clone(),
                            source,
                        })?,
                    }
                }
                Err(source) => return Err(LockError::Io { path, source }),
            }
        }
        Err(LockError::Io {
            path,
            source: std::io::Error::other("lock file reappeared while replacing a stale lock"),
        })
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // Nothing to report from a destructor; a leftover lock is detected as stale.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether a process with this PID exists (Linux: `/proc/<pid>`; elsewhere we
/// cannot tell without libc and assume it does, which errs on the safe side).
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}
