//! Errors of the Hub layer: each names the reference (repository, revision,
//! file) and what was wrong, on one line.

use std::path::PathBuf;

use super::reference::BadReference;

/// Anything that can go wrong resolving, pulling or listing.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    BadReference(#[from] BadReference),

    /// The Hub has no such repository (or it is private and no token was sent).
    #[error("{repo}: repository not found at {endpoint} (private or gated repositories need HF_TOKEN)")]
    RepoNotFound { repo: String, endpoint: String },

    /// The token was refused (gated repository not accepted, wrong token).
    #[error("{repo}: access denied (HTTP {status}); check HF_TOKEN and the repository's access conditions")]
    Denied { repo: String, status: u16 },

    #[error("{repo}: revision `{revision}` not found (a branch, tag, refs/pr/<n> or commit sha)")]
    RevisionNotFound { repo: String, revision: String },

    #[error(
        "{repo}@{revision}: no file `{file}` at commit {commit} ({count} files there; `entprog hub ls` lists them)"
    )]
    FileNotFound {
        repo: String,
        revision: String,
        commit: String,
        file: String,
        count: usize,
    },

    /// Offline (`HF_HUB_OFFLINE`) and the cache cannot serve the request.
    #[error("{reference}: HF_HUB_OFFLINE is set and the cache has no {what} ({})", missing.display())]
    NotCached {
        reference: String,
        what: String,
        /// The cache entry that would have served it.
        missing: PathBuf,
    },

    /// A reference where a single file is needed names a whole repository.
    #[error("{reference}: {purpose} needs a file inside the repository (hf://<org>/<name>[@<revision>]/<path>)")]
    NotAFile { reference: String, purpose: String },

    /// The request failed (connection refused, HTTP error).
    #[error("{url}: {message}")]
    Http { url: String, message: String },

    /// The server answered, but not as the Hub does (missing header, bad JSON, another commit).
    #[error("{url}: unexpected answer: {message}")]
    Protocol { url: String, message: String },

    /// The download was cut short; the part is kept in `blobs/` and the next pull resumes it.
    #[error("{file}: download interrupted after {received} of {expected} bytes ({why}); nothing was placed in snapshots/, pull again to resume")]
    Interrupted {
        file: String,
        received: u64,
        expected: u64,
        why: String,
    },

    /// The download finished but is not the file the Hub described; it was deleted.
    #[error("{file}: download rejected, {why}; it was deleted and nothing was placed in snapshots/")]
    Rejected { file: String, why: String },

    /// A dataset repository that is not a dataset entprog can load, or whose card and data disagree.
    #[error("{reference}: {message}")]
    Dataset { reference: String, message: String },

    /// A run folder that cannot be exported (not complete, no checkpoint).
    #[error("{}: cannot export: {message}", path.display())]
    Export { path: PathBuf, message: String },

    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl HubError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> HubError {
        let path = path.into();
        move |source| HubError::Io { path, source }
    }
}
