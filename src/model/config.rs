//! `[model]` section: the size of the pose-guided video denoiser, with named
//! presets. The config is the builder: `ModelConfig::tiny().build(seed, &dev)`.

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::config::{check, key, Invalid, Validate};

use super::dit::Denoiser;
use super::ops::Kernels;
use super::ModelError;

/// Size and structure of the denoiser (docs/design.md#model).
///
/// In TOML, `preset` picks the base values and every other key overrides
/// one of them: `preset = "tiny"` with `depth = 6` is the tiny model with six
/// blocks. Serialised, all fields are written, so a resolved config reloads
/// to the same value.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(try_from = "RawModelConfig")]
pub struct ModelConfig {
    /// Name of the preset the values started from (`tiny`, `default`, `paper`).
    pub preset: String,
    /// Frame height and width in pixels (frames are square).
    pub image_size: usize,
    /// Patch side p in pixels; tokens per frame N = (image_size / p)^2.
    pub patch: usize,
    /// Token width d.
    pub dim: usize,
    /// Attention heads (d must divide evenly).
    pub heads: usize,
    /// Number of spatial residual blocks L of the denoiser.
    pub depth: usize,
    /// Whether a temporal attention block follows every spatial block (the
    /// paper's video model; images run as one-frame clips through them too).
    pub temporal: bool,
    /// Number of transformer blocks in the reference encoder.
    pub reference_depth: usize,
    /// MLP hidden width as a multiple of d.
    pub mlp_ratio: usize,
    /// Channels of the pose guider's 3x3 conv.
    pub pose_hidden: usize,
    /// Width of the pose features injected into every spatial block.
    pub pose_dim: usize,
    /// Epsilon of the layer norms.
    pub norm_eps: f64,
    /// Use the frozen-linear op (input gradient only) for frozen weights;
    /// `false` falls back to candle's matmul, which also computes the unused
    /// weight gradient (kept for benchmarks).
    pub frozen_linear_op: bool,
    /// Hot-path implementation: `fused` (the crate's CPU kernels) or `plain`
    /// (candle compositions; always used off the CPU).
    pub kernels: Kernels,
}

/// What TOML may say about the model: a preset and any overrides.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawModelConfig {
    preset: Option<String>,
    image_size: Option<usize>,
    patch: Option<usize>,
    dim: Option<usize>,
    heads: Option<usize>,
    depth: Option<usize>,
    temporal: Option<bool>,
    reference_depth: Option<usize>,
    mlp_ratio: Option<usize>,
    pose_hidden: Option<usize>,
    pose_dim: Option<usize>,
    norm_eps: Option<f64>,
    frozen_linear_op: Option<bool>,
    kernels: Option<Kernels>,
}

impl TryFrom<RawModelConfig> for ModelConfig {
    type Error = String;
    fn try_from(r: RawModelConfig) -> Result<Self, String> {
        let name = r.preset.unwrap_or_else(|| "default".into());
        let mut c = Self::preset(&name)
            .ok_or_else(|| format!("unknown model preset `{name}` (expected tiny, default or paper)"))?;
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = r.$f { c.$f = v; } )* };
        }
        set!(
            image_size,
            patch,
            dim,
            heads,
            depth,
            temporal,
            reference_depth,
            mlp_ratio,
            pose_hidden,
            pose_dim,
            norm_eps,
            frozen_linear_op,
            kernels
        );
        Ok(c)
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self::default_preset()
    }
}

impl ModelConfig {
    /// For tests: 16x16 frames, 16 tokens, d = 64, 4 blocks; a step takes milliseconds.
    /// (d must exceed the 3 p^2 = 48 values of a patch, or the final
    /// projection cannot express arbitrary noise and eps-MSE floors near 1/3.)
    pub fn tiny() -> Self {
        Self {
            preset: "tiny".into(),
            image_size: 16,
            patch: 4,
            dim: 64,
            heads: 2,
            depth: 4,
            temporal: true,
            reference_depth: 1,
            mlp_ratio: 4,
            pose_hidden: 8,
            pose_dim: 16,
            norm_eps: 1e-6,
            frozen_linear_op: true,
            kernels: Kernels::Fused,
        }
    }

    /// The CPU study: 32x32 frames, patch 4 (64 tokens), d = 64, 4 heads, 12
    /// spatial + 12 temporal blocks, 2 reference blocks (the size of the
    /// PyTorch prototype's second round, docs/design.md).
    pub fn default_preset() -> Self {
        Self {
            preset: "default".into(),
            image_size: 32,
            patch: 4,
            dim: 64,
            heads: 4,
            depth: 12,
            temporal: true,
            reference_depth: 2,
            mlp_ratio: 4,
            pose_hidden: 16,
            pose_dim: 32,
            norm_eps: 1e-6,
            frozen_linear_op: true,
            kernels: Kernels::Fused,
        }
    }

    /// DiT-XL-like, for GPUs: 28 blocks, 1152 wide, 16 heads, 256x256 frames
    /// with patch 8 (1024 tokens), 4 reference blocks.
    pub fn paper() -> Self {
        Self {
            preset: "paper".into(),
            image_size: 256,
            patch: 8,
            dim: 1152,
            heads: 16,
            depth: 28,
            temporal: true,
            reference_depth: 4,
            mlp_ratio: 4,
            pose_hidden: 64,
            pose_dim: 256,
            norm_eps: 1e-6,
            frozen_linear_op: true,
            kernels: Kernels::Fused,
        }
    }

    /// A preset by name.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "tiny" => Some(Self::tiny()),
            "default" => Some(Self::default_preset()),
            "paper" => Some(Self::paper()),
            _ => None,
        }
    }

    /// Tokens per frame N.
    pub fn tokens(&self) -> usize {
        (self.image_size / self.patch).pow(2)
    }

    /// Values per patch (3 p^2).
    pub fn patch_dim(&self) -> usize {
        3 * self.patch * self.patch
    }

    /// Builds the denoiser with parameters drawn from the `init.<name>` streams of `seed`.
    pub fn build(&self, seed: u64, device: &Device) -> Result<Denoiser, ModelError> {
        let mut errors = Vec::new();
        self.validate("model", &mut errors);
        if let Some(e) = errors.into_iter().next() {
            return Err(ModelError::Config(e.to_string()));
        }
        Denoiser::new(self.clone(), seed, device)
    }
}

impl Validate for ModelConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        let k = |f| key(prefix, f);
        check(
            out,
            self.patch > 0 && self.image_size.is_multiple_of(self.patch.max(1)),
            k("patch"),
            format!("patch {} must divide image_size {}", self.patch, self.image_size),
        );
        check(
            out,
            self.heads > 0 && self.dim.is_multiple_of(self.heads.max(1)),
            k("heads"),
            format!("heads {} must divide dim {}", self.heads, self.dim),
        );
        check(out, self.depth >= 1, k("depth"), "expected at least 1 spatial block");
        check(out, self.mlp_ratio >= 1, k("mlp_ratio"), "expected >= 1");
        check(
            out,
            self.pose_hidden >= 1 && self.pose_dim >= 1,
            k("pose_dim"),
            "pose widths must be >= 1",
        );
        check(out, self.norm_eps > 0.0, k("norm_eps"), "expected > 0");
        check(
            out,
            self.dim >= self.patch_dim(),
            k("dim"),
            format!(
                "dim {} is below the {} values of a patch; the output could not express arbitrary noise",
                self.dim,
                self.patch_dim()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_named() {
        for name in ["tiny", "default", "paper"] {
            let c = ModelConfig::preset(name).unwrap();
            let mut errs = Vec::new();
            c.validate("model", &mut errs);
            assert!(errs.is_empty(), "{name}: {errs:?}");
            assert_eq!(c.preset, name);
        }
        assert_eq!(ModelConfig::paper().depth, 28);
    }

    #[test]
    fn toml_overrides_start_from_the_named_preset() {
        let c: ModelConfig = toml::from_str("preset = \"tiny\"\ndepth = 6").unwrap();
        assert_eq!(
            c,
            ModelConfig {
                depth: 6,
                ..ModelConfig::tiny()
            }
        );
        let d: ModelConfig = toml::from_str("").unwrap();
        assert_eq!(d, ModelConfig::default_preset());
        assert!(toml::from_str::<ModelConfig>("preset = \"huge\"").is_err());
        assert!(toml::from_str::<ModelConfig>("blocks = 3").is_err());
        let round: ModelConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(round, c);
    }

    #[test]
    fn validation_names_the_offending_key() {
        let c = ModelConfig {
            heads: 3,
            ..ModelConfig::tiny()
        };
        let mut errs = Vec::new();
        c.validate("model", &mut errs);
        assert_eq!(errs[0].key, "model.heads");
    }
}
