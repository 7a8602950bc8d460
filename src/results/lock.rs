//! A lock per run folder that the kernel releases: `.lock` carries an
//! advisory `flock(2)` lock (std's [`File::try_lock`]) for as long as the
//! process writing the folder keeps it open, and the PID of that process so
//! that a second one can say who holds it.
//!
//! The kernel drops the lock when the holder exits, however it exits (a
//! panic, `kill -9`, an out-of-memory kill), so a killed run never leaves a
//! folder locked: a `.lock` file that no process holds is free, whatever it
//! contains. Nothing reads PIDs to decide, so a zombie or a reused PID cannot
//! block a run. The lock belongs to the open file description, which std opens
//! close-on-exec: commands the run spawns do not inherit it, and a second
//! [`FolderLock::acquire`] in the same process is refused like any other.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another open `.lock` (another process, or another run in this one) holds the lock.
    #[error("{path}: results folder is locked by {}", holder(*pid))]
    Held { path: PathBuf, pid: Option<u32> },
    #[error("{path}: cannot lock: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn holder(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("process {pid}"),
        None => "another process".to_string(),
    }
}

/// Holds a folder's lock until dropped: the open, locked `.lock` file.
#[derive(Debug)]
pub struct FolderLock {
    path: PathBuf,
    /// Unlocked and closed on drop. The file itself stays behind: unlinking it
    /// would let a process that opened it just before lock a file no longer in
    /// the folder while a third locks a new one.
    file: File,
}

impl FolderLock {
    /// Takes the lock of `dir` without waiting; refused while any open `.lock` holds it.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path = dir.join(".lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        // Not truncated on open: until we hold the lock, the PID in it is the holder's.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // A lock just released can look held for a moment: a process being
        // spawned by another thread (`git` for the manifest) holds a copy of
        // every descriptor between its fork and its exec, and with it the
        // flock. A real holder holds it for a whole run, so retry briefly.
        let mut attempt = file.try_lock();
        for _ in 0..25 {
            if !matches!(attempt, Err(TryLockError::WouldBlock)) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            attempt = file.try_lock();
        }
        match attempt {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                // Empty or partly written while the holder is between truncate and write.
                let pid = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok());
                return Err(LockError::Held {
                    path: path.clone(),
                    pid,
                });
            }
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
        file.set_len(0).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Self { path, file })
    }

    /// The `.lock` file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // Unlock explicitly rather than only closing: a process another thread
        // is spawning holds a copy of every descriptor from fork until exec
        // closes it (close-on-exec), and closing ours would leave the lock
        // with that copy for that moment. LOCK_UN releases the open file
        // description's lock whoever else refers to it. It cannot fail on a
        // descriptor we hold open; if it did, closing still releases the lock
        // once the copies are gone, so there is nothing to report.
        let _ = self.file.unlock();
    }
}
