//! The quality columns of a dataset's table: per spec, the metric that
//! fills it, best first, labelled with the network that makes it.

use super::verdicts::Group;

/// A quality column of the table: the metrics that can fill it, best
/// first, each with the network that makes it (a standard network's metric
/// when its weights were present, else the offline dance network's); its
/// label; whether higher is better; the paper's key for it.
struct Spec {
    candidates: &'static [(&'static str, &'static str)],
    label: &'static str,
    higher: bool,
    paper: Option<&'static str>,
    /// Shown for the baselines too (not a property of the model alone).
    baselines: bool,
}

const fn spec(
    candidates: &'static [(&'static str, &'static str)],
    label: &'static str,
    higher: bool,
    paper: Option<&'static str>,
    baselines: bool,
) -> Spec {
    Spec {
        candidates,
        label,
        higher,
        paper,
        baselines,
    }
}

const SPECS: [Spec; 12] = [
    spec(&[("heldout_loss", "")], "held-out loss", false, None, false),
    spec(&[("ssim", "")], "SSIM", true, Some("ssim"), true),
    spec(&[("psnr", "")], "PSNR", true, Some("psnr"), true),
    spec(&[("l1", "")], "L1", false, None, true),
    spec(&[("ssim_disco", "")], "SSIM (DisCo)", true, None, true),
    spec(&[("psnr_disco", "")], "PSNR (DisCo)", true, None, true),
    spec(
        &[
            ("lpips_alex", "alex"),
            ("lpips_vgg", "vgg"),
            ("lpips_dance", "dance-frame"),
        ],
        "LPIPS",
        false,
        Some("lpips"),
        true,
    ),
    spec(
        &[("fid_inception", "inception"), ("fid_dance", "dance-frame")],
        "FID",
        false,
        Some("fid"),
        true,
    ),
    spec(
        &[("fvd_i3d", "i3d"), ("fvd_dance", "dance-clip")],
        "FVD",
        false,
        Some("fvd"),
        true,
    ),
    spec(&[("pck_dance", "dance-frame")], "PCK@0.1", true, None, true),
    spec(
        &[("kp_error_px_dance", "dance-frame")],
        "kp error px",
        false,
        None,
        true,
    ),
    spec(&[("conditioning_gap", "")], "conditioning gap", true, None, false),
];

/// A column resolved for one dataset: the metric that fills it.
pub(super) struct Column {
    pub metric: &'static str,
    pub label: String,
    pub higher: bool,
    pub paper: Option<&'static str>,
    pub baselines: bool,
}

/// The columns of `dataset`'s table: per spec, the first candidate metric
/// measured there (else the last, shown as n/a), labelled with its network.
pub(super) fn columns(groups: &[Group], dataset: &str) -> Vec<Column> {
    SPECS
        .iter()
        .map(|s| {
            let measured = |m: &str| {
                groups
                    .iter()
                    .any(|g| g.dataset == dataset && g.metric == m && !g.values.is_empty())
            };
            let &(metric, network) = s
                .candidates
                .iter()
                .find(|(m, _)| measured(m))
                .unwrap_or(s.candidates.last().expect("a candidate per spec"));
            Column {
                metric,
                label: if network.is_empty() {
                    s.label.to_string()
                } else {
                    format!("{} ({network})", s.label)
                },
                higher: s.higher,
                paper: s.paper,
                baselines: s.baselines,
            }
        })
        .collect()
}
