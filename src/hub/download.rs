//! One verified download: the body of a resolved file fetched into
//! `blobs/<etag>.incomplete` (resumed with `Range: bytes=N-` when a part is
//! there, as `huggingface_hub` does), its size and digest checked against
//! what the Hub promised, and only then renamed to `blobs/<etag>`. An
//! interrupted or short body keeps its part for the next pull; a body that
//! is too long or has the wrong digest is deleted. Neither is linked into
//! `snapshots/`: that is the caller's step after this one succeeds.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::cache::RepoCache;
use super::client::{header, http};
use super::error::HubError;
use super::verify::{check, Expected, Hasher, Mismatch};
use crate::progress::ProgressMode;
use crate::results::{FolderLock, LockError};

/// How to fetch: the HTTP agent, the token for the Hub, whether to show progress.
pub(super) struct Fetch<'a> {
    pub agent: &'a ureq::Agent,
    pub token: Option<&'a str>,
    pub quiet: bool,
}

impl Fetch<'_> {
    /// Downloads `url` into `blobs/<etag>.incomplete` (resuming what is
    /// there), verifies it, and only then renames it to `blobs/<etag>`.
    pub fn blob(&self, url: &str, label: &str, blob: &Path, size: u64, etag: &str) -> Result<(), HubError> {
        let dir = blob.parent().expect("blobs/ holds the blob");
        std::fs::create_dir_all(dir).map_err(HubError::io(dir))?;
        let expected = Expected::from_etag(etag);
        let mut part = Part::open(
            blob.with_file_name(format!("{etag}.incomplete")),
            size,
            expected.as_ref(),
        )?;
        if part.have < size {
            self.receive(url, label, &mut part, size, expected.as_ref())?;
        }
        part.file.sync_all().map_err(HubError::io(&part.path))?;
        settle(part, blob, label, size, expected.as_ref())
    }

    /// Asks for the bytes `part` lacks and appends what arrives. A server
    /// that answers another range than asked for restarts the part.
    fn receive(
        &self,
        url: &str,
        label: &str,
        part: &mut Part,
        size: u64,
        expected: Option<&Expected>,
    ) -> Result<(), HubError> {
        let mut request = self.agent.get(url).header("Accept-Encoding", "identity");
        if let Some(t) = &self.token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        if part.have > 0 {
            request = request.header("Range", format!("bytes={}-", part.have));
        }
        let response = request.call().map_err(|e| http(url, e))?;
        let resumes =
            header(&response, "content-range").is_some_and(|c| c.starts_with(&format!("bytes {}-", part.have)));
        match response.status().as_u16() {
            206 if resumes => {}
            200 | 206 => part.restart(size, expected)?,
            s => {
                return Err(HubError::Http {
                    url: url.to_string(),
                    message: format!("HTTP {s} downloading {label}"),
                })
            }
        }
        let mut progress = self.progress(label, size, part.have);
        let mut body = response.into_body().into_reader();
        let mut buf = vec![0u8; 1 << 16];
        // Reading past `size` is pointless: the file is already too long.
        while part.have <= size {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    part.file.sync_all().map_err(HubError::io(&part.path))?;
                    return Err(HubError::Interrupted {
                        file: label.to_string(),
                        received: part.have,
                        expected: size,
                        why: format!("the connection failed: {e}"),
                    });
                }
            };
            part.append(&buf[..n])?;
            progress.inc(n as u64);
        }
        progress.finish();
        Ok(())
    }

    fn progress(&self, label: &str, size: u64, start: u64) -> Bytes {
        match ProgressMode::detect(self.quiet, Duration::ZERO) {
            ProgressMode::Bar => {
                let bar = indicatif::ProgressBar::new(size);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                bar.set_message(label.to_string());
                bar.set_position(start);
                Bytes(Some(bar))
            }
            ProgressMode::Log { .. } => {
                if !self.quiet {
                    eprintln!("hub: downloading {label} ({size} bytes)");
                }
                Bytes(None)
            }
        }
    }
}

/// `blobs/<etag>.incomplete`: the bytes received so far and their running digest.
struct Part {
    path: PathBuf,
    file: std::fs::File,
    have: u64,
    hasher: Hasher,
}

impl Part {
    /// Opens (creating) the part and hashes what an earlier pull left, or
    /// discards it when it is longer than the file.
    fn open(path: PathBuf, size: u64, expected: Option<&Expected>) -> Result<Self, HubError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(HubError::io(&path))?;
        let have = file.metadata().map_err(HubError::io(&path))?.len();
        let mut part = Part {
            path,
            file,
            have,
            hasher: Hasher::new(expected, size),
        };
        if part.have > size {
            part.restart(size, expected)?;
        } else if part.have > 0 {
            hash_file(&part.path, &mut part.hasher).map_err(HubError::io(&part.path))?;
        }
        Ok(part)
    }

    fn restart(&mut self, size: u64, expected: Option<&Expected>) -> Result<(), HubError> {
        self.file.set_len(0).map_err(HubError::io(&self.path))?;
        self.have = 0;
        self.hasher = Hasher::new(expected, size);
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), HubError> {
        self.file.write_all(bytes).map_err(HubError::io(&self.path))?;
        self.hasher.update(bytes);
        self.have += bytes.len() as u64;
        Ok(())
    }
}

/// The part becomes `blobs/<etag>` only when its size and digest are the
/// promised ones; a short part is kept for the next pull, a wrong one deleted.
fn settle(part: Part, blob: &Path, label: &str, size: u64, expected: Option<&Expected>) -> Result<(), HubError> {
    let Part {
        path,
        file,
        have,
        hasher,
    } = part;
    drop(file);
    match check(have, size, hasher, expected) {
        Ok(()) => std::fs::rename(&path, blob).map_err(HubError::io(blob)),
        Err(Mismatch::Size { got, expected }) if got < expected => Err(HubError::Interrupted {
            file: label.to_string(),
            received: got,
            expected,
            why: "the body ended early".into(),
        }),
        Err(m) => {
            std::fs::remove_file(&path).map_err(HubError::io(&path))?;
            Err(HubError::Rejected {
                file: label.to_string(),
                why: m.to_string(),
            })
        }
    }
}

/// One downloader per repository at a time, across processes: the lock
/// lives where `huggingface_hub` keeps its own, `<cache>/.locks/<repo folder>/`.
pub(super) fn lock(cache_root: &Path, cache: &RepoCache) -> Result<FolderLock, HubError> {
    let folder = cache.root().file_name().expect("a repository folder");
    let dir = cache_root.join(".locks").join(folder);
    std::fs::create_dir_all(&dir).map_err(HubError::io(&dir))?;
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        match FolderLock::acquire(&dir) {
            Ok(lock) => return Ok(lock),
            Err(LockError::Held { .. }) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(250)),
            Err(LockError::Held { path, pid }) => {
                return Err(HubError::Io {
                    path,
                    source: std::io::Error::other(format!(
                        "{} is still downloading into this repository",
                        pid.map_or("another process".to_string(), |p| format!("process {p}"))
                    )),
                })
            }
            Err(LockError::Io { path, source }) => return Err(HubError::Io { path, source }),
        }
    }
}

/// A byte progress bar, or nothing.
struct Bytes(Option<indicatif::ProgressBar>);

impl Bytes {
    fn inc(&mut self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    fn finish(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

fn hash_file(path: &Path, hasher: &mut Hasher) -> std::io::Result<()> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf)? {
            0 => return Ok(()),
            n => hasher.update(&buf[..n]),
        }
    }
}
