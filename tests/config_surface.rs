//! The configuration surface as a property: every leaf key of a resolved
//! experiment can be set through `--set` to another valid value, and the
//! resolved config then shows it (and its hash moves, unless the key is
//! presentation-only). Presets choose the model's values, and keys given
//! explicitly in any layer (file, `extends` chain, `ENTPROG_*`, `--set`)
//! override them. Driven the way users drive it: experiment files, the
//! environment, `--set` strings and the `entprog` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use entprog::config::load::load_with_env;
use entprog::experiment::{Experiment, ExperimentConfig, UNHASHED_KEYS};

/// Loads `file` with `--set` flags and the given `ENTPROG_*` variables only
/// (not the test process's own environment).
fn resolve(file: &Path, sets: &[String], env: &[(&str, &str)]) -> Result<Experiment, String> {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    load_with_env::<ExperimentConfig, _>(file, sets, env)
        .map(|r| Experiment::from_config(r.config, file.to_path_buf(), r.files, r.sets))
        .map_err(|e| e.to_string())
}

/// The resolved config as a TOML table (what `entprog config show` prints).
fn table(exp: &Experiment) -> toml::Table {
    exp.to_toml().parse().expect("resolved configs are TOML")
}

/// Every leaf of `t` as (dotted key, value); arrays are leaves.
fn leaves(prefix: &str, t: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(sub) => leaves(&key, sub, out),
            other => out.push((key, other.clone())),
        }
    }
}

fn get<'a>(t: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut v = t.get(parts.next()?)?;
    for p in parts {
        v = v.as_table()?.get(p)?;
    }
    Some(v)
}

/// Names a refusal lists after "expected" (`` `a`, `b` `` or `a, b`).
fn names_offered(message: &str) -> Vec<String> {
    let Some(at) = message.rfind("expected") else {
        return Vec::new();
    };
    message[at + "expected".len()..]
        .split([',', ' ', '`', ':', '(', ')'])
        .map(|w| w.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')))
        .filter(|w| !w.is_empty() && !["one", "of", "or", "a", "an", "to", "the"].contains(w))
        .map(str::to_string)
        .collect()
}

/// Other values to try for a leaf whose current value is `v`, as `--set` text.
fn candidates(file: &Path, key: &str, v: &toml::Value) -> Vec<String> {
    match v {
        toml::Value::Boolean(b) => vec![(!b).to_string()],
        toml::Value::Integer(i) => [i + 1, i * 2, i - 1, i / 2, 1, 2, 3, 4, 8, 16, 0]
            .into_iter()
            .filter(|c| c != i && *c >= 0)
            .map(|c| c.to_string())
            .collect(),
        toml::Value::Float(f) => [f * 2.0, f / 2.0, f + 0.5, 0.5, 0.25, 1.5]
            .into_iter()
            .filter(|c| c != f)
            .map(|c| format!("{c:?}"))
            .collect(),
        toml::Value::String(s) => {
            // An enum or a checked name: the refusal of a bad value lists the good ones.
            let refusal = resolve(file, &[format!("{key}=\"no-such-value\"")], &[]).err();
            let mut out: Vec<String> = refusal
                .map(|m| names_offered(&m))
                .unwrap_or_default()
                .into_iter()
                .filter(|n| n != s)
                .map(|n| format!("\"{n}\""))
                .collect();
            out.push(format!("\"{s}-other\""));
            out.push("\"other\"".into());
            out
        }
        toml::Value::Array(items) if items.is_empty() => [
            "[1]",
            "[2, 3]",
            "[[3]]",
            "[[1], [1], [1], [1]]",
            "[\"spatial.00\"]",
            "[\"other\"]",
        ]
        .map(String::from)
        .to_vec(),
        toml::Value::Array(items) => {
            let mut fewer = items.clone();
            fewer.pop();
            let mut more = items.clone();
            more.push(items[0].clone());
            vec![
                toml::Value::Array(fewer).to_string(),
                toml::Value::Array(more).to_string(),
            ]
        }
        other => panic!("{key}: unexpected TOML value {other}"),
    }
}

fn same(a: &toml::Value, b: &toml::Value) -> bool {
    match (a, b) {
        (toml::Value::Float(x), toml::Value::Float(y)) => x == y,
        (toml::Value::Integer(x), toml::Value::Float(y)) | (toml::Value::Float(y), toml::Value::Integer(x)) => {
            *x as f64 == *y
        }
        _ => a == b,
    }
}

/// The shipped experiments the walk may use: a key that only one stage
/// admits another value of (an image stage's clip length) is tried there too.
fn experiments() -> Vec<PathBuf> {
    ["stage3-entprog", "stage2", "foundation", "stage3-linear"]
        .iter()
        .map(|n| PathBuf::from(format!("experiments/{n}.toml")))
        .collect()
}

#[test]
fn every_leaf_key_can_be_set_and_shows_in_the_resolved_config() {
    let files = experiments();
    let mut keys: Vec<String> = Vec::new();
    for f in &files {
        let mut l = Vec::new();
        leaves("", &table(&resolve(f, &[], &[]).unwrap()), &mut l);
        keys.extend(l.into_iter().map(|(k, _)| k).filter(|k| k != "name"));
    }
    keys.sort();
    keys.dedup();
    assert!(keys.len() > 60, "only {} keys found", keys.len());
    let mut failures = Vec::new();
    'key: for key in &keys {
        let presentation = UNHASHED_KEYS
            .iter()
            .any(|p| key == p || key.starts_with(&format!("{p}.")));
        for f in &files {
            let base = resolve(f, &[], &[]).unwrap();
            let Some(current) = get(&table(&base), key).cloned() else {
                continue;
            };
            for text in candidates(f, key, &current) {
                let Ok(exp) = resolve(f, &[format!("{key}={text}")], &[]) else {
                    continue;
                };
                let shown = get(&table(&exp), key).cloned();
                let wanted: toml::Value = format!("v = {text}").parse::<toml::Table>().unwrap()["v"].clone();
                match shown {
                    Some(v) if same(&v, &wanted) => {
                        if presentation == (exp.hash != base.hash) {
                            failures.push(format!(
                                "{key}={text} in {}: hash {} (presentation-only: {presentation})",
                                f.display(),
                                if exp.hash == base.hash { "unchanged" } else { "changed" }
                            ));
                        }
                        continue 'key;
                    }
                    other => {
                        failures.push(format!(
                            "{key}={text} in {}: resolved config shows {other:?}",
                            f.display()
                        ));
                        continue 'key;
                    }
                }
            }
        }
        failures.push(format!("{key}: no other valid value found to set"));
    }
    assert!(
        failures.is_empty(),
        "{} keys misbehave:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_preset_chosen_in_any_layer_sets_the_model_and_explicit_keys_override_it() {
    let stage3 = Path::new("experiments/stage3.toml");
    let tiny = entprog::model::ModelConfig::tiny();
    let by_flag = resolve(stage3, &["model.preset=tiny".into()], &[]).unwrap();
    assert_eq!(by_flag.config.model, tiny);
    let by_env = resolve(stage3, &[], &[("ENTPROG_MODEL__PRESET", "tiny")]).unwrap();
    assert_eq!(by_env.config.model, tiny);
    assert_eq!(by_flag.hash, by_env.hash);
    assert_ne!(by_flag.hash, resolve(stage3, &[], &[]).unwrap().hash);
    // A flag on top of the preset.
    let deeper = resolve(stage3, &["model.preset=tiny".into(), "model.depth=6".into()], &[]).unwrap();
    assert_eq!((deeper.config.model.depth, deeper.config.model.dim), (6, tiny.dim));
    // A key in the base file survives a preset chosen in the child file.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("base.toml"), "[model]\ndepth = 5\nkernels = \"plain\"\n").unwrap();
    let child = d.path().join("child.toml");
    std::fs::write(&child, "extends = \"base.toml\"\n[model]\npreset = \"paper\"\n").unwrap();
    let m = resolve(&child, &[], &[]).unwrap().config.model;
    let paper = entprog::model::ModelConfig::paper();
    assert_eq!((m.depth, m.dim, m.image_size), (5, paper.dim, paper.image_size));
    assert_eq!(m.kernels, entprog::model::ops::Kernels::Plain);
    // The resolved config reloads to the same model.
    let saved = d.path().join("saved.toml");
    std::fs::write(&saved, resolve(&child, &[], &[]).unwrap().to_toml()).unwrap();
    assert_eq!(resolve(&saved, &[], &[]).unwrap().config.model, m);
}

#[test]
fn config_show_turns_the_fused_path_off_and_names_a_bad_preset() {
    let show = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_entprog"))
            .args(["config", "show", "experiments/stage3.toml"])
            .args(args)
            .env_remove("ENTPROG_MODEL__PRESET")
            .output()
            .unwrap()
    };
    let fused = show(&[]);
    let plain = show(&["--set", "model.kernels=plain"]);
    assert!(fused.status.success() && plain.status.success());
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(text.contains("kernels = \"plain\""), "{text}");
    assert_ne!(fused.stdout, plain.stdout, "the hash line differs too");
    let tiny = String::from_utf8_lossy(&show(&["--set", "model.preset=tiny"]).stdout).to_string();
    assert!(tiny.contains("image_size = 16") && tiny.contains("depth = 4"), "{tiny}");
    let bad = show(&["--set", "model.preset=huge"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("--set model.preset=huge") && err.contains("tiny, default or paper"),
        "{err}"
    );
}
