//! `entprog bench train-step`: forward + backward + AdamW steps of the model
//! presets, fully trained and with an Ent-Prog-like gate pattern, reporting
//! the median step time, samples/s, achieved GFLOP/s (analytic FLOPs of what
//! ran / median time) and peak bytes of the step (counting allocator).
//!
//! Config names are `{preset}-{mode}-{pattern}[-plain]`, the same names
//! `bench/torch_reference.py` prints, so the two JSON-lines outputs join on
//! `config`:
//! - mode `image`: stage-2 step (reference + pose), 16 clips of 1 frame;
//!   `video`: stage-3-like step (reference + pose), 2 clips of 8 frames.
//! - pattern `full`: every unit trainable; `last25`: the last ceil(L/4)
//!   spatial blocks with their temporal blocks and the final layer trainable,
//!   all else frozen (CEI ranks the output side highest, docs/design.md).
//! - suffix `-plain`: candle compositions instead of the fused kernels;
//!   suffix `-whole`: one whole-graph backward instead of the block-by-block
//!   [`crate::model::Tape`] (what the tape saves in peak memory).

use candle_core::Device;

use super::step_time::random_batch;
use crate::diffusion::DiffusionConfig;
use crate::experiment::train::{GatePlan, TrainConfig, TrainingStage};
use crate::model::ops::Kernels;
use crate::model::{Gate, ModelConfig};
use crate::train::trainer::{TrainError, Trainer};

/// One configuration of the benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    pub preset: String,
    /// `image` or `video`.
    pub mode: String,
    /// `full` or `last25`.
    pub pattern: String,
    pub kernels: Kernels,
    /// Backward through the block-by-block tape (the trainer's default).
    pub taped: bool,
}

impl BenchConfig {
    pub fn name(&self) -> String {
        let plain = if self.kernels == Kernels::Plain { "-plain" } else { "" };
        let whole = if self.taped { "" } else { "-whole" };
        format!("{}-{}-{}{plain}{whole}", self.preset, self.mode, self.pattern)
    }

    /// (clips per batch, frames per clip).
    pub fn batch(&self) -> (usize, usize) {
        if self.mode == "video" {
            (2, 8)
        } else {
            (16, 1)
        }
    }

    /// Parses `{preset}-{mode}-{pattern}[-plain][-whole]`.
    pub fn parse(name: &str) -> Option<Self> {
        let parts: Vec<&str> = name.split('-').collect();
        let flags = parts.get(3..).unwrap_or_default();
        let known = flags.iter().all(|f| ["plain", "whole"].contains(f)) && flags.windows(2).all(|w| w[0] < w[1]);
        let ok = ModelConfig::preset(parts.first()?).is_some()
            && ["image", "video"].contains(parts.get(1)?)
            && ["full", "last25"].contains(parts.get(2)?)
            && known;
        ok.then(|| Self {
            preset: parts[0].into(),
            mode: parts[1].into(),
            pattern: parts[2].into(),
            kernels: if flags.contains(&"plain") {
                Kernels::Plain
            } else {
                Kernels::Fused
            },
            taped: !flags.contains(&"whole"),
        })
    }
}

/// The configurations run by default: tiny and default presets, both modes,
/// both patterns, fused kernels.
pub fn default_configs() -> Vec<BenchConfig> {
    let mut out = Vec::new();
    for preset in ["tiny", "default"] {
        for mode in ["image", "video"] {
            for pattern in ["full", "last25"] {
                out.push(BenchConfig {
                    preset: preset.into(),
                    mode: mode.into(),
                    pattern: pattern.into(),
                    kernels: Kernels::Fused,
                    taped: true,
                });
            }
        }
    }
    out
}

/// The gate plan of a pattern for a model of `depth` spatial blocks.
pub fn pattern_plan(pattern: &str, depth: usize) -> GatePlan {
    if pattern == "full" {
        return GatePlan::default();
    }
    let first = depth - depth.div_ceil(4);
    let mut trainable = vec!["final".to_string()];
    for i in first..depth {
        trainable.push(format!("spatial.{i:02}"));
        trainable.push(format!("temporal.{i:02}"));
    }
    GatePlan {
        default: Gate::Frozen,
        trainable,
        ..GatePlan::default()
    }
}

/// One measured configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub config: String,
    pub median_step_s: f64,
    pub samples_per_s: f64,
    pub gflops: f64,
    pub peak_bytes: u64,
    pub flops: u64,
}

impl Measurement {
    /// The JSON line `bench/torch_reference.py` prints too.
    pub fn json(&self) -> String {
        format!(
            "{{\"config\": \"{}\", \"median_step_s\": {:.6}, \"samples_per_s\": {:.3}, \"gflops\": {:.3}, \"peak_bytes\": {}}}",
            self.config, self.median_step_s, self.samples_per_s, self.gflops, self.peak_bytes
        )
    }
}

/// Times `steps` steps (after 2 warm-up steps) of one configuration.
pub fn measure(cfg: &BenchConfig, steps: usize) -> Result<Measurement, TrainError> {
    let device = Device::Cpu;
    let mut model = ModelConfig::preset(&cfg.preset).expect("validated preset");
    model.kernels = cfg.kernels;
    let (b, t) = cfg.batch();
    let warmup = 2;
    let train = TrainConfig {
        stage: if cfg.mode == "video" {
            TrainingStage::Video
        } else {
            TrainingStage::Pose
        },
        batch_size: b,
        steps: (warmup + steps) as u64,
        warmup_steps: 0,
        gates: pattern_plan(&cfg.pattern, model.depth),
        ..TrainConfig::default()
    };
    let net = model.build(0, &device)?;
    let mut trainer = Trainer::new(net, train, DiffusionConfig::default(), 0)?;
    trainer.taped_backward = cfg.taped;
    let batch = random_batch(&model, b, t, 0, &device).map_err(|source| TrainError::Tensor { step: 0, source })?;
    let (mut times, mut peaks, mut flops) = (Vec::new(), Vec::new(), 0);
    for i in 0..warmup + steps {
        let r = trainer.train_step(&batch)?;
        if i >= warmup {
            times.push(r.wall_s);
            peaks.push(r.step_peak_bytes);
            flops = r.flops.total();
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok(Measurement {
        config: cfg.name(),
        median_step_s: median,
        samples_per_s: b as f64 / median,
        gflops: flops as f64 / median / 1e9,
        peak_bytes: peaks.into_iter().max().unwrap_or(0),
        flops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_the_torch_reference_scheme() {
        for c in default_configs() {
            assert_eq!(BenchConfig::parse(&c.name()), Some(c.clone()));
        }
        assert_eq!(
            BenchConfig::parse("default-image-last25-plain").unwrap().kernels,
            Kernels::Plain
        );
        let both = BenchConfig::parse("default-video-full-plain-whole").unwrap();
        assert_eq!((both.kernels, both.taped), (Kernels::Plain, false));
        assert_eq!(both.name(), "default-video-full-plain-whole");
        assert_eq!(BenchConfig::parse("default-image-full-whole-plain"), None);
        assert_eq!(BenchConfig::parse("default-image-full-fast"), None);
        assert_eq!(BenchConfig::parse("default-image-half"), None);
        assert_eq!(BenchConfig::parse("huge-image-full"), None);
    }

    #[test]
    fn last25_trains_the_output_quarter_and_the_final_layer() {
        let p = pattern_plan("last25", 12);
        assert_eq!(p.default, Gate::Frozen);
        assert_eq!(p.trainable.len(), 1 + 2 * 3);
        assert!(p.trainable.contains(&"spatial.09".to_string()) && !p.trainable.contains(&"spatial.08".to_string()));
    }
}
