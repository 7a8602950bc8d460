//! A target's `include`: the arms, paper rows, trends, random-skip probe and
//! per-profile flags of other targets, added to its own. `ablations` is
//! Table 5 and Figure 1 on three datasets: one study whose cells are the
//! two targets' cells on each dataset, reported side by side. An included
//! arm keeps its group, or takes the included target's title when it has
//! none, so each part keeps its own baseline; a flag the including target
//! sets for an experiment or arm wins over the included one's.

use std::path::Path;

use super::target::{Target, TargetConfig};
use crate::config::{ConfigError, Validate};

/// `config` with its includes resolved (recursively; `seen` holds the
/// chain of names, so a cycle is an error), then validated as a whole.
pub fn resolve(mut config: TargetConfig, path: &Path, seen: &mut Vec<String>) -> Result<TargetConfig, ConfigError> {
    for name in std::mem::take(&mut config.include) {
        if seen.contains(&name) {
            return Err(ConfigError::Value {
                source_desc: path.display().to_string(),
                key: "include".into(),
                message: format!("cycle: {} -> {name}", seen.join(" -> ")),
            });
        }
        seen.push(name.clone());
        let included = Target::load(&name)?;
        seen.pop();
        add(&mut config, included.config);
    }
    let mut issues = Vec::new();
    config.validate("", &mut issues);
    match issues.into_iter().next() {
        Some(i) => Err(ConfigError::Value {
            source_desc: path.display().to_string(),
            key: i.key,
            message: i.message,
        }),
        None => Ok(config),
    }
}

/// Adds `other`'s parts to `config`, each arm, paper row and trend under
/// its group or `other`'s title.
fn add(config: &mut TargetConfig, other: TargetConfig) {
    let group = |g: String| if g.is_empty() { other.title.clone() } else { g };
    for mut arm in other.arms {
        arm.group = group(arm.group);
        config.arms.push(arm);
    }
    for mut row in other.paper {
        row.group = group(row.group);
        config.paper.push(row);
    }
    for mut trend in other.trends {
        trend.group = group(trend.group);
        config.trends.push(trend);
    }
    if config.probe_skip.is_none() {
        config.probe_skip = other.probe_skip;
    }
    for (name, p) in other.profiles {
        let Some(mine) = config.profiles.get_mut(&name) else {
            continue;
        };
        for (k, v) in p.experiment_set {
            mine.experiment_set.entry(k).or_insert(v);
        }
        for (k, v) in p.arm_set {
            mine.arm_set.entry(k).or_insert(v);
        }
    }
}
