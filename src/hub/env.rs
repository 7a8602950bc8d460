//! Where the Hub is and where its cache lives, from the environment
//! variables Python's `huggingface_hub` reads (`constants.py`), so both share
//! one cache:
//!
//! - `HF_HUB_CACHE`, else `$HF_HOME/hub`; `HF_HOME` defaults to
//!   `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`;
//! - `HF_ENDPOINT` (default `https://huggingface.co`);
//! - `HF_TOKEN`, else the file `HF_TOKEN_PATH`, else `$HF_HOME/token`;
//! - `HF_HUB_OFFLINE` (`1`, `true`, `yes`, `on`): no network, the cache only.

use std::path::PathBuf;

/// The public Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// The settings of the Hub client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubEnv {
    /// The cache root holding `models--<org>--<name>/` folders.
    pub cache: PathBuf,
    /// Base URL of the Hub, without a trailing `/`.
    pub endpoint: String,
    /// Bearer token for private and gated repositories.
    pub token: Option<String>,
    /// Serve from the cache only.
    pub offline: bool,
}

impl HubEnv {
    /// From the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// From the variables `var` returns (tests pass a map instead of
    /// mutating the process environment). Reads the token file when
    /// `HF_TOKEN` is not set.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let home = set("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let xdg = set("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| set("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .or_else(|| std::env::home_dir().map(|h| h.join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"));
            xdg.join("huggingface")
        });
        let cache = set("HF_HUB_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("hub"));
        let endpoint = set("HF_ENDPOINT")
            .map(|e| e.trim().trim_end_matches('/').to_string())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let token_file = set("HF_TOKEN_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("token"));
        let token = set("HF_TOKEN").map(|t| t.trim().to_string()).or_else(|| {
            std::fs::read_to_string(token_file)
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        });
        let offline = set("HF_HUB_OFFLINE").is_some_and(|v| is_true(&v));
        Self {
            cache,
            endpoint,
            token,
            offline,
        }
    }
}

/// `huggingface_hub.utils._runtime._is_true`.
fn is_true(v: &str) -> bool {
    matches!(v.trim().to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HubEnv {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        HubEnv::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn the_cache_follows_hf_hub_cache_then_hf_home_then_xdg_then_home() {
        let none = "/nonexistent-entprog-test";
        assert_eq!(
            env(&[("HOME", none)]).cache,
            PathBuf::from(format!("{none}/.cache/huggingface/hub"))
        );
        assert_eq!(
            env(&[("HOME", none), ("XDG_CACHE_HOME", "/x")]).cache,
            PathBuf::from("/x/huggingface/hub")
        );
        assert_eq!(env(&[("HF_HOME", "/h")]).cache, PathBuf::from("/h/hub"));
        assert_eq!(
            env(&[("HF_HOME", "/h"), ("HF_HUB_CACHE", "/c")]).cache,
            PathBuf::from("/c")
        );
    }

    #[test]
    fn the_endpoint_defaults_to_the_public_hub_and_loses_its_trailing_slash() {
        assert_eq!(env(&[("HF_HOME", "/h")]).endpoint, DEFAULT_ENDPOINT);
        assert_eq!(
            env(&[("HF_ENDPOINT", "http://127.0.0.1:9/")]).endpoint,
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn the_token_comes_from_hf_token_or_the_token_file() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap();
        assert_eq!(env(&[("HF_HOME", home)]).token, None);
        std::fs::write(dir.path().join("token"), "hf_file\n").unwrap();
        assert_eq!(env(&[("HF_HOME", home)]).token.as_deref(), Some("hf_file"));
        assert_eq!(
            env(&[("HF_HOME", home), ("HF_TOKEN", "hf_env")]).token.as_deref(),
            Some("hf_env")
        );
    }

    #[test]
    fn offline_mode_takes_the_values_huggingface_hub_takes() {
        for v in ["1", "true", "YES", "on"] {
            assert!(env(&[("HF_HUB_OFFLINE", v)]).offline, "{v}");
        }
        for v in ["0", "false", "", "no"] {
            assert!(!env(&[("HF_HUB_OFFLINE", v)]).offline, "{v}");
        }
    }
}
