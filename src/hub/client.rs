//! The Hub client: resolve a revision to its commit, list a repository,
//! pull files into the cache. Built on `hf-hub` 0.5's blocking API for what
//! it does (the repository info endpoint, the resolve protocol of
//! `Api::metadata`: `Range: bytes=0-0`, relative redirects, `X-Repo-Commit`,
//! `ETag` / `X-Linked-Etag`, `Content-Range`; URLs; cache paths). Around it,
//! what 0.5 lacks: offline mode (`refs/`), error lines that tell a missing
//! repository from a missing revision or file, and a download that is
//! verified (size, then SHA-256 or git blob id against the ETag) before the
//! blob and its snapshot link are placed. The body is fetched with the same
//! ureq the crate uses, resuming a kept `blobs/<etag>.incomplete` with
//! `Range: bytes=N-` as `huggingface_hub` does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hf_hub::api::sync::{Api, ApiBuilder, ApiError};
use serde::Deserialize;

use super::cache::RepoCache;
use super::download::{lock, Fetch};
use super::env::HubEnv;
use super::error::HubError;
use super::reference::{is_commit_sha, HubRef};

/// A file as the repository info endpoint lists it (`?blobs=true`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RemoteFile {
    pub rfilename: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub lfs: Option<LfsInfo>,
}

/// The LFS pointer of a file kept out of git.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LfsInfo {
    pub sha256: String,
    pub size: u64,
}

/// `GET /api/{models,datasets}/<repo>/revision/<revision>`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RepoInfo {
    /// The commit the revision resolved to.
    pub sha: String,
    #[serde(default)]
    pub siblings: Vec<RemoteFile>,
}

/// What [`Hub::pull`] placed in the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Pulled {
    /// The reference at its commit.
    pub pinned: HubRef,
    pub commit: String,
    /// The file, or the snapshot folder when the reference names a folder or the repository.
    pub path: PathBuf,
    /// Files fetched from the Hub now (the rest were in the cache).
    pub downloaded: Vec<String>,
}

/// A Hub endpoint and its local cache.
pub struct Hub {
    env: HubEnv,
    api: Api,
    agent: ureq::Agent,
    quiet: bool,
}

impl Hub {
    pub fn from_env(quiet: bool) -> Result<Self, HubError> {
        Self::new(HubEnv::from_env(), quiet)
    }

    pub fn new(env: HubEnv, quiet: bool) -> Result<Self, HubError> {
        let api = ApiBuilder::from_cache(hf_hub::Cache::new(env.cache.clone()))
            .with_endpoint(env.endpoint.clone())
            .with_token(env.token.clone())
            .with_progress(false)
            .with_user_agent("entprog", env!("CARGO_PKG_VERSION"))
            .build()
            .map_err(|e| HubError::Http {
                url: env.endpoint.clone(),
                message: e.to_string(),
            })?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // The token goes to the Hub only, never to the storage a file redirects to.
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .user_agent(format!("entprog/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self { env, api, agent, quiet })
    }

    pub fn env(&self) -> &HubEnv {
        &self.env
    }

    /// The commit `r`'s revision names: asked of the Hub (and recorded in
    /// `refs/`, as `huggingface_hub` does on resolving), or offline read from `refs/`.
    pub fn resolve(&self, r: &HubRef) -> Result<String, HubError> {
        let cache = RepoCache::new(&self.env.cache, r);
        if self.env.offline {
            return self.offline_commit(r, &cache);
        }
        let sha = self.info(r)?.sha;
        cache.write_ref(r.revision(), &sha)?;
        Ok(sha)
    }

    /// The repository's commit and files at `r`'s revision; offline, the cached snapshot's files.
    pub fn list(&self, r: &HubRef) -> Result<RepoInfo, HubError> {
        if !self.env.offline {
            return self.info(r);
        }
        let cache = RepoCache::new(&self.env.cache, r);
        let sha = self.offline_commit(r, &cache)?;
        let snapshot = cache.snapshot(&sha);
        let mut siblings = Vec::new();
        walk(&snapshot, &snapshot, &mut siblings).map_err(HubError::io(&snapshot))?;
        siblings.sort_by(|a, b| a.rfilename.cmp(&b.rfilename));
        Ok(RepoInfo { sha, siblings })
    }

    /// Makes the file (or folder, or whole repository) `r` names available
    /// in the cache at the commit its revision resolves to.
    pub fn pull(&self, r: &HubRef) -> Result<Pulled, HubError> {
        let cache = RepoCache::new(&self.env.cache, r);
        if self.env.offline {
            return self.pull_offline(r, &cache);
        }
        let info = self.info(r)?;
        let commit = info.sha.clone();
        let wanted = select(r, &info)?;
        let mut downloaded = Vec::new();
        for f in wanted {
            if cache.cached_file(&commit, &f.rfilename).is_none() {
                self.download(r, &cache, &commit, f)?;
                downloaded.push(f.rfilename.clone());
            }
        }
        cache.write_ref(r.revision(), &commit)?;
        let snapshot = cache.snapshot(&commit);
        Ok(Pulled {
            pinned: r.pinned(&commit),
            path: r.path.as_ref().map_or(snapshot.clone(), |p| snapshot.join(p)),
            commit,
            downloaded,
        })
    }

    fn pull_offline(&self, r: &HubRef, cache: &RepoCache) -> Result<Pulled, HubError> {
        let commit = self.offline_commit(r, cache)?;
        let snapshot = cache.snapshot(&commit);
        let path = r.path.as_ref().map_or(snapshot.clone(), |p| snapshot.join(p));
        if !(path.is_file() || path.is_dir()) {
            return Err(HubError::NotCached {
                reference: r.to_string(),
                what: match &r.path {
                    Some(p) => format!("file `{p}` at commit {commit}"),
                    None => format!("snapshot of commit {commit}"),
                },
                missing: path,
            });
        }
        Ok(Pulled {
            pinned: r.pinned(&commit),
            commit,
            path,
            downloaded: Vec::new(),
        })
    }

    fn offline_commit(&self, r: &HubRef, cache: &RepoCache) -> Result<String, HubError> {
        cache.commit_for(r.revision()).ok_or_else(|| HubError::NotCached {
            reference: r.to_string(),
            what: format!("revision `{}`", r.revision()),
            missing: cache.root().join("refs").join(r.revision()),
        })
    }

    /// The info endpoint, telling a missing repository from a missing revision by `X-Error-Code`.
    fn info(&self, r: &HubRef) -> Result<RepoInfo, HubError> {
        let repo = r.hf_repo(r.revision());
        let url = format!("{}/api/{}", self.env.endpoint, repo.api_url());
        let response = self
            .api
            .repo(repo)
            .info_request()
            .query("blobs", "true")
            .config()
            .http_status_as_error(false)
            .build()
            .call();
        let mut response = response.map_err(|e| http(&url, e))?;
        let status = response.status().as_u16();
        let code = header(&response, "x-error-code").unwrap_or_default();
        match status {
            200 => {}
            404 if code == "RevisionNotFound" => {
                return Err(HubError::RevisionNotFound {
                    repo: r.repo(),
                    revision: r.revision().to_string(),
                })
            }
            401 | 404 if code != "GatedRepo" => {
                return Err(HubError::RepoNotFound {
                    repo: r.repo(),
                    endpoint: self.env.endpoint.clone(),
                })
            }
            401 | 403 => return Err(HubError::Denied { repo: r.repo(), status }),
            s => {
                return Err(HubError::Http {
                    url,
                    message: format!("HTTP {s} {code}").trim_end().to_string(),
                })
            }
        }
        let text = response.body_mut().read_to_string().map_err(|e| http(&url, e))?;
        let info: RepoInfo = serde_json::from_str(&text).map_err(|e| HubError::Protocol {
            url: url.clone(),
            message: format!("repository info is not the Hub's JSON: {e}"),
        })?;
        if !is_commit_sha(&info.sha) {
            return Err(HubError::Protocol {
                url,
                message: format!("`{}` is not a commit sha", info.sha),
            });
        }
        Ok(info)
    }

    /// Resolves one file at `commit`, fetches and verifies its blob unless
    /// the cache has it, and links it into `snapshots/<commit>/`.
    fn download(&self, r: &HubRef, cache: &RepoCache, commit: &str, f: &RemoteFile) -> Result<PathBuf, HubError> {
        let url = self.api.repo(r.hf_repo(commit)).url(&f.rfilename);
        let meta = self.api.metadata(&url).map_err(|e| api_error(&url, r, e))?;
        let protocol = |message: String| HubError::Protocol {
            url: url.clone(),
            message,
        };
        if meta.commit_hash() != commit {
            return Err(protocol(format!(
                "served commit {}, asked for {commit}",
                meta.commit_hash()
            )));
        }
        let etag = meta.etag().trim_start_matches("W/").to_string();
        if etag.is_empty() || !etag.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) {
            return Err(protocol(format!("ETag `{etag}` cannot name a blob")));
        }
        let size = meta.size() as u64;
        if let Some(listed) = f.size.filter(|&s| s != size) {
            return Err(protocol(format!(
                "the file is listed with {listed} bytes, resolved with {size}"
            )));
        }
        if let Some(lfs) = f.lfs.as_ref().filter(|l| !l.sha256.eq_ignore_ascii_case(&etag)) {
            return Err(protocol(format!(
                "LFS sha256 {} is listed, ETag {etag} served",
                lfs.sha256
            )));
        }
        let blob = cache.blob(&etag);
        if !blob.is_file() {
            let _lock = lock(&self.env.cache, cache)?;
            if !blob.is_file() {
                let label = format!("{}@{}/{}", r.repo(), &commit[..8], f.rfilename);
                let fetch = Fetch {
                    agent: &self.agent,
                    token: self.env.token.as_deref(),
                    quiet: self.quiet,
                };
                fetch.blob(&url, &label, &blob, size, &etag)?;
            }
        }
        cache.link(commit, &f.rfilename, &etag)
    }
}

/// The files `r` names in `info`: one file, every file under a folder, or all.
fn select<'a>(r: &HubRef, info: &'a RepoInfo) -> Result<Vec<&'a RemoteFile>, HubError> {
    // Names come from the server and become paths under snapshots/.
    if let Some(f) = info.siblings.iter().find(|f| !safe_name(&f.rfilename)) {
        return Err(HubError::Protocol {
            url: format!("{}@{}", r.repo(), info.sha),
            message: format!("file name `{}` would leave the snapshot folder", f.rfilename),
        });
    }
    let Some(path) = &r.path else {
        return Ok(info.siblings.iter().collect());
    };
    let folder = format!("{}/", path.trim_end_matches('/'));
    let files: Vec<&RemoteFile> = info
        .siblings
        .iter()
        .filter(|f| f.rfilename == *path || f.rfilename.starts_with(&folder))
        .collect();
    if files.is_empty() {
        return Err(HubError::FileNotFound {
            repo: r.repo(),
            revision: r.revision().to_string(),
            commit: info.sha.clone(),
            file: path.clone(),
            count: info.siblings.len(),
        });
    }
    Ok(files)
}

/// A relative `/`-separated path with no empty, `.` or `..` segment.
fn safe_name(name: &str) -> bool {
    !name.contains('\\') && name.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

pub(super) fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub(super) fn http(url: &str, e: ureq::Error) -> HubError {
    HubError::Http {
        url: url.to_string(),
        message: e.to_string(),
    }
}

/// The crate's errors from resolving a file.
fn api_error(url: &str, r: &HubRef, e: ApiError) -> HubError {
    match e {
        ApiError::RequestError(e) => match *e {
            ureq::Error::StatusCode(s @ (401 | 403)) => HubError::Denied {
                repo: r.repo(),
                status: s,
            },
            other => http(url, other),
        },
        ApiError::MissingHeader(_) | ApiError::InvalidHeader(_) | ApiError::ParseIntError(_) => HubError::Protocol {
            url: url.to_string(),
            message: e.to_string(),
        },
        other => HubError::Http {
            url: url.to_string(),
            message: other.to_string(),
        },
    }
}

/// The files of a cached snapshot, as the info endpoint would list them.
fn walk(root: &Path, dir: &Path, out: &mut Vec<RemoteFile>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        // A link whose blob is gone is not in the cache: left out, as `cached_file` does.
        } else if let Ok(meta) = std::fs::metadata(&path) {
            let rel = path.strip_prefix(root).expect("under the root");
            out.push(RemoteFile {
                rfilename: rel.to_string_lossy().replace('\\', "/"),
                size: Some(meta.len()),
                lfs: None,
            });
        }
    }
    Ok(())
}
