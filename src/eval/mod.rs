//! Evaluation: quality metrics of generated frames against the ground truth
//! (issue 12; the paper reports SSIM, PSNR, LPIPS, FID, FID-VID and FVD,
//! docs/paper.md section 6).
//!
//! Files, one concept each:
//! - [`frame`]: an RGB frame in [0, 1]; PSNR, L1, DisCo's PSNR and grey.
//! - [`ssim`]: SSIM as scikit-image computes it, and as DisCo calls it.
//! - [`frechet`]: the Frechet distance of feature Gaussians (FID, FVD).
//! - [`folder`]: pairing and scoring two folders of PNG frames.
//! - [`nets`]: the standard feature networks (Inception, LPIPS, R3D-50, I3D).
//! - [`networks`]: their metrics of two folders (`fid_inception`, ...).
//! - [`pose`]: pose adherence (PCK@0.1, pixel error) of predicted keypoints.
//! - [`conditioning`]: the conditioning gap (shuffled minus true pairs' loss).
//! - [`dance`]: the offline feature networks and their metrics (`fid_dance`, ...).
//! - [`sampled`]: generated test clips scored (evaluation cells, `entprog eval`, `[eval]` during training).
//! - [`report`]: what `entprog metrics` reports, and its table.
//! - [`clip`]: one generated clip from a checkpoint as a GIF (`entprog sample`).

pub mod clip;
pub mod conditioning;
pub mod dance;
pub mod folder;
pub mod frame;
pub mod frechet;
pub mod nets;
pub mod networks;
pub mod pose;
pub mod report;
pub mod sampled;
pub mod ssim;

pub use folder::{pair_folders, read_frame, score_folders, FolderScores, FrameScores, MetricsError, Pairing};
pub use frame::{l1, luma_disco, psnr, psnr_disco, Frame, FrameError};
pub use frechet::{frechet_distance, FeatureStats, FrechetDistance, FrechetError};
pub use networks::{score_networks, NetScores, StandardNets, WEIGHT_FILES};
pub use ssim::{ssim, ssim_disco};
