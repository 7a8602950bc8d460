//! What a downloaded file must be before the cache trusts it. The Hub's
//! ETag of an LFS file (`X-Linked-Etag`) is the SHA-256 of its content; of a
//! file kept in git (`ETag`) it is the git blob id, the SHA-1 of
//! `blob <size>\0<content>`. Either way the ETag names the blob in
//! `blobs/`, so a file whose digest differs from its ETag must never be
//! placed there. The size is checked against the server's size first.

use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::config::hash::hex;

/// The digest an ETag promises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// An LFS file: SHA-256 of the content.
    Sha256(String),
    /// A git file: SHA-1 of `blob <size>\0` + content.
    GitBlob(String),
}

impl Expected {
    /// Reads the promise of `etag`; `None` when it is not a digest (a
    /// server other than the Hub), in which case only the size is checked.
    pub fn from_etag(etag: &str) -> Option<Self> {
        let hex_of = |n: usize| etag.len() == n && etag.bytes().all(|b| b.is_ascii_hexdigit());
        if hex_of(64) {
            Some(Expected::Sha256(etag.to_ascii_lowercase()))
        } else if hex_of(40) {
            Some(Expected::GitBlob(etag.to_ascii_lowercase()))
        } else {
            None
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Expected::Sha256(_) => "sha256",
            Expected::GitBlob(_) => "git blob sha1",
        }
    }

    fn digest(&self) -> &str {
        match self {
            Expected::Sha256(d) | Expected::GitBlob(d) => d,
        }
    }
}

/// A running digest of a download of `size` bytes.
pub enum Hasher {
    Sha256(Sha256),
    GitBlob(Sha1),
    None,
}

impl Hasher {
    pub fn new(expected: Option<&Expected>, size: u64) -> Self {
        match expected {
            Some(Expected::Sha256(_)) => Hasher::Sha256(Sha256::new()),
            Some(Expected::GitBlob(_)) => {
                let mut h = Sha1::new();
                h.update(format!("blob {size}\0").as_bytes());
                Hasher::GitBlob(h)
            }
            None => Hasher::None,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::GitBlob(h) => h.update(bytes),
            Hasher::None => {}
        }
    }

    fn finish(self) -> Option<String> {
        match self {
            Hasher::Sha256(h) => Some(hex(&h.finalize())),
            Hasher::GitBlob(h) => Some(hex(&h.finalize())),
            Hasher::None => None,
        }
    }
}

/// Why a complete download is not the file the Hub described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    Size {
        got: u64,
        expected: u64,
    },
    Digest {
        kind: &'static str,
        got: String,
        expected: String,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Size { got, expected } => write!(f, "received {got} bytes, the server's size is {expected}"),
            Mismatch::Digest { kind, got, expected } => {
                write!(f, "{kind} is {got}, the ETag promises {expected}")
            }
        }
    }
}

/// Checks a finished download: its length, then its digest.
pub fn check(got_size: u64, expected_size: u64, hasher: Hasher, expected: Option<&Expected>) -> Result<(), Mismatch> {
    if got_size != expected_size {
        return Err(Mismatch::Size {
            got: got_size,
            expected: expected_size,
        });
    }
    match (hasher.finish(), expected) {
        (Some(got), Some(e)) if got != e.digest() => Err(Mismatch::Digest {
            kind: e.name(),
            got,
            expected: e.digest().to_string(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(etag: &str, bytes: &[u8]) -> Result<(), Mismatch> {
        let e = Expected::from_etag(etag);
        let mut h = Hasher::new(e.as_ref(), bytes.len() as u64);
        h.update(bytes);
        check(bytes.len() as u64, bytes.len() as u64, h, e.as_ref())
    }

    // printf 'hello\n' | sha256sum; printf 'hello\n' | git hash-object --stdin
    const SHA256_HELLO: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
    const GIT_HELLO: &str = "ce013625030ba8dba906f756967f9e9ca394464a";

    #[test]
    fn lfs_files_are_checked_by_sha256_and_git_files_by_their_blob_id() {
        assert_eq!(digest_of(SHA256_HELLO, b"hello\n"), Ok(()));
        assert_eq!(digest_of(GIT_HELLO, b"hello\n"), Ok(()));
        assert!(matches!(
            digest_of(SHA256_HELLO, b"hellO\n"),
            Err(Mismatch::Digest { kind: "sha256", .. })
        ));
        assert!(matches!(
            digest_of(GIT_HELLO, b"hellO\n"),
            Err(Mismatch::Digest {
                kind: "git blob sha1",
                ..
            })
        ));
    }

    #[test]
    fn a_short_file_fails_on_size_before_its_digest() {
        let e = Expected::from_etag(SHA256_HELLO);
        let h = Hasher::new(e.as_ref(), 6);
        assert_eq!(check(3, 6, h, e.as_ref()), Err(Mismatch::Size { got: 3, expected: 6 }));
    }

    #[test]
    fn an_etag_that_is_no_digest_checks_the_size_only() {
        assert_eq!(Expected::from_etag("abc-123"), None);
        assert_eq!(digest_of("abc-123", b"anything"), Ok(()));
    }
}
