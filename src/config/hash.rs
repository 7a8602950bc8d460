//! The config hash: SHA-256 of a canonical serialisation of the resolved
//! config, so key order and formatting in the TOML files do not matter.
//!
//! Canonical form: the config serialised to JSON with object keys sorted
//! (serde_json's default map is a BTreeMap), floats in serde_json's shortest
//! round-trip form, presentation-only keys removed. Run ids derive from the
//! hash and the seed.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Hex SHA-256 of the canonical JSON of `config` without the `exclude` keys
/// (dotted paths such as `output` or `data.root`).
pub fn config_hash<T: Serialize>(config: &T, exclude: &[&str]) -> String {
    sha256_hex(canonical_json(config, exclude).as_bytes())
}

/// The canonical JSON text that [`config_hash`] hashes.
pub fn canonical_json<T: Serialize>(config: &T, exclude: &[&str]) -> String {
    let mut value = serde_json::to_value(config).expect("configs serialise to JSON");
    for key in exclude {
        remove_path(&mut value, key);
    }
    serde_json::to_string(&sorted(value)).expect("JSON values serialise")
}

/// Rebuilds objects with keys inserted in sorted order, so the text is
/// canonical whether or not serde_json's `preserve_order` feature is on.
fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn remove_path(value: &mut serde_json::Value, dotted: &str) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().expect("non-empty key");
    let mut cur = value;
    for p in parts {
        match cur.get_mut(p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(obj) = cur.as_object_mut() {
        obj.remove(last);
    }
}

/// Lower-case hex SHA-256 of bytes (configs, dataset profiles, shard files).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of a file's bytes (for manifests' inputs and dataset shards).
pub fn file_sha256(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// A run id: the first 12 hex digits of the config hash and the seed.
pub fn run_id(config_hash: &str, seed: u64) -> String {
    format!("{}-s{seed}", &config_hash[..12.min(config_hash.len())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a = json!({"train": {"lr": 1e-4, "steps": 10}, "seed": 1});
        let b = json!({"seed": 1, "train": {"steps": 10, "lr": 0.0001}});
        assert_eq!(config_hash(&a, &[]), config_hash(&b, &[]));
    }

    #[test]
    fn keys_are_sorted_at_every_level_and_inside_arrays() {
        let v = json!({"b": 1, "a": {"d": 2, "c": [ {"z": 0, "y": 1} ]}});
        assert_eq!(canonical_json(&v, &[]), r#"{"a":{"c":[{"y":1,"z":0}],"d":2},"b":1}"#);
    }

    #[test]
    fn a_changed_value_changes_the_hash() {
        let a = json!({"train": {"lr": 1e-4}});
        let b = json!({"train": {"lr": 2e-4}});
        assert_ne!(config_hash(&a, &[]), config_hash(&b, &[]));
    }

    #[test]
    fn excluded_keys_do_not_count() {
        let a = json!({"output": {"results_dir": "a"}, "seed": 1});
        let b = json!({"output": {"results_dir": "b"}, "seed": 1});
        assert_eq!(config_hash(&a, &["output"]), config_hash(&b, &["output"]));
        assert_ne!(config_hash(&a, &[]), config_hash(&b, &[]));
    }

    #[test]
    fn known_digest() {
        // python3 -c "import hashlib;print(hashlib.sha256(b'{\"a\":1}').hexdigest())"
        assert_eq!(
            config_hash(&json!({"a": 1}), &[]),
            "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
    }
}
