//! Hub references: `hf://<org>/<name>[@<revision>][/<path>]` for a model
//! repository and `hf://datasets/<org>/<name>[@<revision>][/<path>]` for a
//! dataset repository, the syntax of Python's `HfFileSystem`. The revision is
//! a branch, a tag, `refs/pr/<n>` (`refs/convert/<name>`) or a commit sha; none
//! means the default branch `main`. A reference is *pinned* when its revision
//! is a commit sha: that is the form runs record and hash.

use std::fmt;
use std::path::Path;

/// The scheme every reference starts with.
pub const SCHEME: &str = "hf://";

/// The branch a reference without `@<revision>` names.
pub const DEFAULT_REVISION: &str = "main";

/// Which kind of repository a reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepoKind {
    Model,
    Dataset,
}

impl RepoKind {
    /// The crate's repository type (cache folder prefix and URL paths).
    pub fn repo_type(self) -> hf_hub::RepoType {
        match self {
            RepoKind::Model => hf_hub::RepoType::Model,
            RepoKind::Dataset => hf_hub::RepoType::Dataset,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RepoKind::Model => "model",
            RepoKind::Dataset => "dataset",
        }
    }
}

/// A parsed `hf://` reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HubRef {
    pub kind: RepoKind,
    /// `<org>/<name>`.
    pub repo_id: String,
    /// As written; `None` means [`DEFAULT_REVISION`].
    pub revision: Option<String>,
    /// A file inside the repository (`/`-separated); `None` names the whole repository.
    pub path: Option<String>,
}

/// A string that is not a hub reference, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{reference}` is not a hub reference: {why} (expected hf://[datasets/]<org>/<name>[@<revision>][/<path>])")]
pub struct BadReference {
    pub reference: String,
    pub why: String,
}

impl HubRef {
    /// Parses `hf://...`.
    pub fn parse(s: &str) -> Result<Self, BadReference> {
        let bad = |why: &str| BadReference {
            reference: s.to_string(),
            why: why.to_string(),
        };
        let rest = s
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad("it does not start with hf://"))?;
        let (kind, rest) = match rest.split_once('/') {
            Some(("datasets", r)) => (RepoKind::Dataset, r),
            Some(("spaces", _)) => return Err(bad("Spaces are not supported")),
            _ => (RepoKind::Model, rest),
        };
        let mut segments = rest.split('/');
        let org = segments.next().unwrap_or_default();
        let name_rev = segments
            .next()
            .ok_or_else(|| bad("the repository id needs an <org>/ part"))?;
        let (name, first_rev) = match name_rev.split_once('@') {
            Some((n, r)) => (n, Some(r)),
            None => (name_rev, None),
        };
        check_repo_part(org).map_err(|w| bad(&format!("organisation `{org}`: {w}")))?;
        check_repo_part(name).map_err(|w| bad(&format!("repository name `{name}`: {w}")))?;
        let rest: Vec<&str> = segments.collect();
        let (revision, path_segments) = match first_rev {
            None => (None, &rest[..]),
            // `refs/pr/1` spans three segments; the Hub names no other slashed refs.
            Some("refs") if rest.len() >= 2 && matches!(rest[0], "pr" | "convert") => {
                (Some(format!("refs/{}/{}", rest[0], rest[1])), &rest[2..])
            }
            Some(r) => (Some(r.replace("%2F", "/").replace("%2f", "/")), &rest[..]),
        };
        if let Some(r) = &revision {
            check_revision(r).map_err(|w| bad(&format!("revision `{r}`: {w}")))?;
        }
        let path = match path_segments {
            [] | [""] => None,
            segs => {
                if let Some(s) = segs.iter().find(|s| s.is_empty() || **s == "." || **s == "..") {
                    return Err(bad(&format!("the file path has an empty, `.` or `..` segment (`{s}`)")));
                }
                Some(segs.join("/"))
            }
        };
        Ok(Self {
            kind,
            repo_id: format!("{org}/{name}"),
            revision,
            path,
        })
    }

    /// Parses a repository argument (`hub ls`): `hf://...`, or the same without the scheme.
    pub fn parse_repo(s: &str) -> Result<Self, BadReference> {
        if s.starts_with(SCHEME) {
            Self::parse(s)
        } else {
            Self::parse(&format!("{SCHEME}{s}")).map_err(|e| BadReference {
                reference: s.to_string(),
                ..e
            })
        }
    }

    /// `Some` when a configured path is a hub reference (`hf://...`), parsed.
    pub fn from_path(p: &Path) -> Option<Result<Self, BadReference>> {
        let s = p.to_str()?;
        s.starts_with(SCHEME).then(|| Self::parse(s))
    }

    /// The revision, `main` when none was written.
    pub fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or(DEFAULT_REVISION)
    }

    /// Whether the revision is a commit sha.
    pub fn is_pinned(&self) -> bool {
        is_commit_sha(self.revision())
    }

    /// The same reference at commit `sha`.
    pub fn pinned(&self, sha: &str) -> Self {
        Self {
            revision: Some(sha.to_string()),
            ..self.clone()
        }
    }

    /// The repository alone, without revision or path (`hf://org/name`).
    pub fn repo(&self) -> String {
        match self.kind {
            RepoKind::Model => format!("{SCHEME}{}", self.repo_id),
            RepoKind::Dataset => format!("{SCHEME}datasets/{}", self.repo_id),
        }
    }

    /// The crate's repository handle at `revision`.
    pub fn hf_repo(&self, revision: &str) -> hf_hub::Repo {
        hf_hub::Repo::with_revision(self.repo_id.clone(), self.kind.repo_type(), revision.to_string())
    }
}

impl fmt::Display for HubRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repo())?;
        if let Some(r) = &self.revision {
            write!(f, "@{r}")?;
        }
        if let Some(p) = &self.path {
            write!(f, "/{p}")?;
        }
        Ok(())
    }
}

/// A full (40 hex digit, lower-case) git commit sha.
pub fn is_commit_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The rules of `huggingface_hub.utils.validate_repo_id`, per part.
fn check_repo_part(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("empty");
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err("only letters, digits, `-`, `_` and `.` are allowed");
    }
    if s.contains("--") || s.contains("..") {
        return Err("`--` and `..` are not allowed");
    }
    if s.starts_with(['-', '.']) || s.ends_with(['-', '.']) {
        return Err("cannot start or end with `-` or `.`");
    }
    if s.len() > 96 {
        return Err("longer than 96 characters");
    }
    Ok(())
}

fn check_revision(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("empty");
    }
    if s.contains("..") || s.chars().any(|c| c.is_whitespace() || c.is_control()) || s.starts_with('/') {
        return Err("no `..`, whitespace or leading `/` allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn a_model_reference_parses_into_repo_revision_and_path() {
        let r = HubRef::parse("hf://org/tiny@v1/weights/last.safetensors").unwrap();
        assert_eq!(r.kind, RepoKind::Model);
        assert_eq!(r.repo_id, "org/tiny");
        assert_eq!(r.revision(), "v1");
        assert_eq!(r.path.as_deref(), Some("weights/last.safetensors"));
        assert_eq!(r.to_string(), "hf://org/tiny@v1/weights/last.safetensors");
    }

    #[test]
    fn no_revision_means_main_and_no_path_means_the_whole_repository() {
        let r = HubRef::parse("hf://datasets/org/dance").unwrap();
        assert_eq!(
            (r.kind, r.revision(), r.path.clone()),
            (RepoKind::Dataset, "main", None)
        );
        assert_eq!(r.to_string(), "hf://datasets/org/dance");
        assert_eq!(HubRef::parse("hf://org/dance/").unwrap().path, None);
    }

    #[test]
    fn pull_request_refs_span_three_segments() {
        let r = HubRef::parse("hf://org/tiny@refs/pr/3/model.safetensors").unwrap();
        assert_eq!(r.revision(), "refs/pr/3");
        assert_eq!(r.path.as_deref(), Some("model.safetensors"));
        let escaped = HubRef::parse("hf://org/tiny@refs%2Fpr%2F3/model.safetensors").unwrap();
        assert_eq!(escaped, r);
    }

    #[test]
    fn pinning_replaces_the_revision_with_the_commit() {
        let r = HubRef::parse("hf://org/tiny/last.safetensors").unwrap();
        assert!(!r.is_pinned());
        let p = r.pinned(SHA);
        assert!(p.is_pinned());
        assert_eq!(p.to_string(), format!("hf://org/tiny@{SHA}/last.safetensors"));
        assert_eq!(HubRef::parse(&p.to_string()).unwrap(), p);
    }

    #[test]
    fn bad_references_name_the_reference_and_what_was_expected() {
        for (s, why) in [
            ("org/tiny/x", "does not start with hf://"),
            ("hf://tiny", "needs an <org>/ part"),
            ("hf://org/ti ny/x", "only letters"),
            ("hf://org/a--b/x", "`--`"),
            ("hf://org/tiny@/x", "revision ``: empty"),
            ("hf://org/tiny/a/../b", "`..` segment"),
            ("hf://org/tiny/a//b", "empty"),
            ("hf://spaces/org/app", "Spaces"),
        ] {
            let e = HubRef::parse(s).unwrap_err().to_string();
            assert!(e.starts_with(&format!("`{s}` is not a hub reference")), "{e}");
            assert!(e.contains(why), "{s}: {e}");
            assert!(e.contains("expected hf://[datasets/]<org>/<name>"), "{e}");
        }
    }

    #[test]
    fn repository_arguments_may_omit_the_scheme() {
        let r = HubRef::parse_repo("datasets/org/dance@v2").unwrap();
        assert_eq!(
            (r.kind, r.repo_id.as_str(), r.revision()),
            (RepoKind::Dataset, "org/dance", "v2")
        );
        let e = HubRef::parse_repo("dance").unwrap_err();
        assert_eq!(e.reference, "dance");
    }

    #[test]
    fn only_paths_with_the_scheme_are_references() {
        assert!(HubRef::from_path(Path::new("results/a/last.safetensors")).is_none());
        assert!(HubRef::from_path(Path::new("hf://org/tiny/x")).unwrap().is_ok());
    }

    #[test]
    fn commit_shas_are_forty_lower_case_hex_digits() {
        assert!(is_commit_sha(SHA));
        assert!(!is_commit_sha(&SHA.to_uppercase()));
        assert!(!is_commit_sha("main"));
        assert!(!is_commit_sha(&SHA[..39]));
    }
}
