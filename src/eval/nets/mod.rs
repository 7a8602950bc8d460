//! The standard feature networks, for metrics comparable with published
//! ones (issue 12, deliverable 3): each rebuilt in candle from its reference
//! PyTorch code and loaded from a safetensors file under the reference
//! state dict's tensor names. Each network's file documents its source,
//! its preprocessing (resize method and size, value range) and its names.
//!
//! - [`inception`]: Inception-v3 pool features, pytorch-fid's FID variant (`fid_inception`).
//! - [`lpips`]: LPIPS with AlexNet and the `lpips` package's heads (`lpips_alex`).
//! - [`r3d50`]: the Kinetics 3D ResNet-50 of DisCo's FID-VID (`fid_vid_r3d50`).
//! - [`i3d`]: the Kinetics I3D of FVD as StyleGAN-V computes it (`fvd_i3d`).
//! - [`weights`]: the safetensors reader with errors naming file, tensor and shapes.
//! - [`layers`], [`layers3d`]: the shared convolutions, batch norm and pools.
//! - [`resize`]: PIL's bicubic resize (DisCo's video preprocessing).

pub mod i3d;
pub mod inception;
pub mod layers;
pub mod layers3d;
pub mod lpips;
pub mod r3d50;
pub mod resize;
pub mod weights;

pub use i3d::{I3d, I3D_DIM, I3D_FRAMES};
pub use inception::{InceptionFid, INCEPTION_DIM};
pub use lpips::LpipsAlex;
pub use r3d50::{R3d50, R3D50_DIM, R3D50_FRAMES};
pub use resize::resize_bicubic_pil;
pub use weights::{NetError, Weights};
