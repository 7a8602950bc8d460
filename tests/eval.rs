//! Integration tests of the evaluation metrics (issue 12): the frame metrics
//! and the Frechet distance against scikit-image, OpenCV, DisCo's script and
//! scipy on fixed inputs; identities and a noise property; and `entprog
//! metrics` driven as a user drives it, on folders of PNGs, including every
//! bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use entprog::eval::{
    frechet_distance, l1, psnr, psnr_disco, read_frame, score_folders, ssim, ssim_disco, FeatureStats, Frame,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/frames")
}

fn assert_rel(got: f64, want: f64, tol: f64, what: &str) {
    let err = ((got - want) / want).abs();
    assert!(
        err <= tol,
        "{what}: got {got:e}, want {want:e} (relative error {err:.1e} > {tol:.0e})"
    );
}

/// Reference values from scikit-image 0.26.0, opencv-python-headless 5.0.0,
/// numpy 2.4.6 and scipy 1.17.1, printed by `python3
/// tests/reference/eval_reference.py` for the committed PNG pairs under
/// `tests/reference/frames/{truth,pred}/{0,1,2}.png` (24x20 RGB):
///
/// ```text
/// t = cv2.imread(truth)[..., ::-1] / 255;  p = cv2.imread(pred)[..., ::-1] / 255
/// ssim = structural_similarity(t, p, gaussian_weights=True, sigma=1.5,
///                              use_sample_covariance=False, data_range=1, channel_axis=2)
/// ssim_disco, _ = structural_similarity(cv2.cvtColor(bgr_p, cv2.COLOR_BGR2GRAY),
///                                       cv2.cvtColor(bgr_t, cv2.COLOR_BGR2GRAY), full=True)
/// psnr = peak_signal_noise_ratio(t, p, data_range=1)
/// psnr_disco = 20 * np.log10(255 / np.sqrt(np.mean((bgr_p - bgr_t) ** 2)))  # uint8, DisCo @ 4772790
/// l1 = np.mean(np.abs(t - p))
///
/// pair 0: ssim = 0.9377421198985689, ssim_disco = 0.9749196320276167, psnr = 30.14592769481964, psnr_disco = 31.19658775741563, l1 = 0.025147058823529415
/// pair 1: ssim = 0.7594662118169883, ssim_disco = 0.7974805165204355, psnr = 19.81934302719267, psnr_disco = 28.316015329415208, l1 = 0.082619825708061
/// pair 2: ssim = 0.28438403373806376, ssim_disco = 0.5201179613416645, psnr = 16.320136735462615, psnr_disco = 28.474345024146636, l1 = 0.11202614379084967
/// mean:   ssim = 0.6605307884845403, ssim_disco = 0.7641727032965723, psnr = 22.095135819158305, psnr_disco = 29.328982703659154, l1 = 0.07326434277414669
/// ```
const PAIRS: [[f64; 5]; 3] = [
    [
        0.9377421198985689,
        0.9749196320276167,
        30.14592769481964,
        31.19658775741563,
        0.025147058823529415,
    ],
    [
        0.7594662118169883,
        0.7974805165204355,
        19.81934302719267,
        28.316015329415208,
        0.082619825708061,
    ],
    [
        0.28438403373806376,
        0.5201179613416645,
        16.320136735462615,
        28.474345024146636,
        0.11202614379084967,
    ],
];
const MEAN: [f64; 5] = [
    0.6605307884845403,
    0.7641727032965723,
    22.095135819158305,
    29.328982703659154,
    0.07326434277414669,
];

/// Both implementations compute in f64; only the order of the sums differs
/// (numpy's pairwise sums, scipy's filter loops), about 1e-15 relative.
const FRAME_TOL: f64 = 1e-12;

fn pair(k: usize) -> (Frame, Frame) {
    let read = |side: &str| read_frame(&fixtures().join(side).join(format!("{k}.png"))).unwrap();
    (read("truth"), read("pred"))
}

mod reference {
    use super::*;

    #[test]
    fn frame_metrics_match_scikit_image_opencv_and_disco() {
        for (k, want) in PAIRS.iter().enumerate() {
            let (t, p) = pair(k);
            let got = [
                ssim(&t, &p).unwrap(),
                ssim_disco(&t, &p).unwrap(),
                psnr(&t, &p).unwrap(),
                psnr_disco(&t, &p).unwrap(),
                l1(&t, &p).unwrap(),
            ];
            for (name, (g, w)) in ["ssim", "ssim_disco", "psnr", "psnr_disco", "l1"]
                .iter()
                .zip(got.iter().zip(want))
            {
                assert_rel(*g, *w, FRAME_TOL, &format!("pair {k} {name}"));
            }
        }
    }

    #[test]
    fn folder_means_match_the_reference_means() {
        let s = score_folders(&fixtures().join("pred"), &fixtures().join("truth")).unwrap();
        let got = [
            s.mean.ssim,
            s.mean.ssim_disco,
            s.mean.psnr,
            s.mean.psnr_disco,
            s.mean.l1,
        ];
        for (name, (g, w)) in ["ssim", "ssim_disco", "psnr", "psnr_disco", "l1"]
            .iter()
            .zip(got.iter().zip(&MEAN))
        {
            assert_rel(*g, *w, FRAME_TOL, name);
        }
        assert_eq!((s.frames, s.clips), (3, 0));
    }

    /// `features()` of eval_reference.py:
    /// x[i, j] = sin(a (i + 1) (j + 1) + 0.11 j) + 0.3 cos(b i - 0.5 j^2) + 0.05 j i / n.
    pub fn features(n: usize, d: usize, a: f64, b: f64) -> Vec<f64> {
        let mut v = Vec::with_capacity(n * d);
        for i in 0..n {
            for j in 0..d {
                let (fi, fj) = (i as f64, j as f64);
                v.push(
                    (a * (fi + 1.0) * (fj + 1.0) + 0.11 * fj).sin()
                        + 0.3 * (b * fi - 0.5 * fj * fj).cos()
                        + 0.05 * fj * fi / n as f64,
                );
            }
        }
        v
    }

    /// From eval_reference.py (pytorch-fid's formula with scipy.linalg.sqrtm):
    ///
    /// ```text
    /// mu1, mu2 = x.mean(axis=0), y.mean(axis=0); s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    /// fd = diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1.dot(s2)).real)
    ///
    /// x, y = features(40, 6, 0.37, 1.7), features(40, 6, 0.23, 0.9)
    /// fd(x, y) 40x6 = 0.08319180930216952
    /// fd(y, x) 40x6 = 0.08319180930217396
    /// xs, ys = features(5, 6, 0.37, 1.7), features(4, 6, 0.23, 0.9)
    /// fd(x, y) 5x6 vs 4x6 = 2.37945557536723
    /// ```
    ///
    /// Full rank: sqrtm and the eigenvalue route agree to 7e-15 absolute
    /// (numpy's own eigh route gives 0.08319180930217662), so 1e-10 relative
    /// leaves room for sin/cos differing in the last bit. Rank-deficient:
    /// sqrtm of the singular product S1 S2 is itself off by about 1.3e-9
    /// absolute (the numpy eigh route gives 2.3794555740194894), so 1e-8.
    #[test]
    fn frechet_distance_matches_scipy_sqrtm() {
        let x = FeatureStats::from_rows(&features(40, 6, 0.37, 1.7), 6).unwrap();
        let y = FeatureStats::from_rows(&features(40, 6, 0.23, 0.9), 6).unwrap();
        let fd = frechet_distance(&x, &y).unwrap();
        assert_rel(fd.value, 0.08319180930216952, 1e-10, "fd(x, y)");
        assert_eq!((fd.samples, fd.dim), ([40, 40], 6));
        assert!(!fd.rank_deficient() && fd.warning().is_none());

        let xs = FeatureStats::from_rows(&features(5, 6, 0.37, 1.7), 6).unwrap();
        let ys = FeatureStats::from_rows(&features(4, 6, 0.23, 0.9), 6).unwrap();
        let fd = frechet_distance(&xs, &ys).unwrap();
        assert_rel(fd.value, 2.37945557536723, 1e-8, "fd(xs, ys)");
        assert!(fd.rank_deficient());
        let w = fd.warning().unwrap();
        assert!(w.contains("5 and 4 samples of 6-dimensional"), "{w}");
    }
}

mod identities {
    use super::reference::features;
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn a_frame_against_itself_scores_perfectly() {
        for k in 0..3 {
            let (t, _) = pair(k);
            assert!((ssim(&t, &t).unwrap() - 1.0).abs() < 1e-12);
            assert!((ssim_disco(&t, &t).unwrap() - 1.0).abs() < 1e-12);
            assert_eq!(psnr(&t, &t).unwrap(), f64::INFINITY);
            assert_eq!(psnr_disco(&t, &t).unwrap(), 100.0);
            assert_eq!(l1(&t, &t).unwrap(), 0.0);
        }
    }

    #[test]
    fn ssim_and_psnr_fall_as_noise_grows() {
        let base = Frame::from_fn(32, 32, |y, x, c| {
            0.5 + 0.3 * ((x as f64) / 4.0 + c as f64).sin() * ((y as f64) / 5.0).cos()
        });
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let noise: Vec<f64> = (0..base.data().len())
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let noisy = |amp: f64| {
            let data = base
                .data()
                .iter()
                .zip(&noise)
                .map(|(v, n)| (v + amp * n).clamp(0.0, 1.0))
                .collect();
            Frame::new(32, 32, data).unwrap()
        };
        let amps = [0.01, 0.03, 0.1, 0.2, 0.4];
        let scores: Vec<[f64; 3]> = amps
            .iter()
            .map(|&a| {
                let p = noisy(a);
                [
                    ssim(&base, &p).unwrap(),
                    ssim_disco(&base, &p).unwrap(),
                    psnr(&base, &p).unwrap(),
                ]
            })
            .collect();
        for w in scores.windows(2) {
            for ((before, after), name) in w[0].iter().zip(&w[1]).zip(["ssim", "ssim_disco", "psnr"]) {
                assert!(after < before, "{name} did not fall as noise grew: {scores:?}");
            }
        }
    }

    #[test]
    fn frechet_distance_is_zero_on_itself_and_symmetric() {
        let x = FeatureStats::from_rows(&features(40, 6, 0.37, 1.7), 6).unwrap();
        let y = FeatureStats::from_rows(&features(40, 6, 0.23, 0.9), 6).unwrap();
        assert!(frechet_distance(&x, &x).unwrap().value.abs() < 1e-9);
        let (xy, yx) = (frechet_distance(&x, &y).unwrap(), frechet_distance(&y, &x).unwrap());
        assert_rel(yx.value, xy.value, 1e-12, "fd symmetry");
    }
}

/// `entprog metrics` run as a user runs it, on temporary folders of PNGs.
mod command {
    use super::*;

    fn entprog(args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_entprog"))
            .args(args)
            .env_remove("ENTPROG_WEIGHTS")
            .output()
            .unwrap()
    }

    fn metrics(pred: &Path, truth: &Path, json: bool) -> std::process::Output {
        let (p, t) = (pred.to_str().unwrap(), truth.to_str().unwrap());
        let mut args = vec!["metrics", "--pred", p, "--truth", t];
        if json {
            args.push("--json");
        }
        entprog(&args)
    }

    /// `<root>/pred` and `<root>/truth` with the three fixture pairs, flat.
    fn flat_copy(root: &Path) -> (PathBuf, PathBuf) {
        for side in ["pred", "truth"] {
            std::fs::create_dir_all(root.join(side)).unwrap();
            for k in 0..3 {
                let name = format!("{k}.png");
                std::fs::copy(fixtures().join(side).join(&name), root.join(side).join(&name)).unwrap();
            }
        }
        (root.join("pred"), root.join("truth"))
    }

    fn json(out: &std::process::Output) -> serde_json::Value {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout.clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "one JSON object: {text}");
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn json_parses_and_matches_the_library() {
        let dir = tempfile::tempdir().unwrap();
        let (pred, truth) = flat_copy(dir.path());
        let v = json(&metrics(&pred, &truth, true));
        let lib = score_folders(&pred, &truth).unwrap();
        for (key, want) in [
            ("ssim", lib.mean.ssim),
            ("psnr", lib.mean.psnr),
            ("l1", lib.mean.l1),
            ("ssim_disco", lib.mean.ssim_disco),
            ("psnr_disco", lib.mean.psnr_disco),
        ] {
            assert_eq!(v[key].as_f64().unwrap(), want, "{key}");
        }
        assert_eq!((v["frames"].as_u64(), v["clips"].as_u64()), (Some(3), Some(0)));
        // Without weights the network metrics are null (tests/nets.rs scores them).
        for key in ["fid_inception", "lpips_alex", "fid_vid_r3d50", "fvd_i3d"] {
            assert!(v[key].is_null(), "{key}: {v}");
        }
        assert_eq!(v.as_object().unwrap().len(), 11);
        assert_rel(v["ssim"].as_f64().unwrap(), MEAN[0], FRAME_TOL, "ssim");
    }

    #[test]
    fn clip_subfolders_are_matched_by_relative_path_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        for side in ["pred", "truth"] {
            for (clip, k, name) in [
                ("clip_a", 0, "f0.png"),
                ("clip_a", 1, "f1.png"),
                ("clip_b", 2, "f0.png"),
            ] {
                std::fs::create_dir_all(dir.path().join(side).join(clip)).unwrap();
                let src = fixtures().join(side).join(format!("{k}.png"));
                std::fs::copy(src, dir.path().join(side).join(clip).join(name)).unwrap();
            }
        }
        let v = json(&metrics(&dir.path().join("pred"), &dir.path().join("truth"), true));
        assert_eq!((v["frames"].as_u64(), v["clips"].as_u64()), (Some(3), Some(2)));
        assert_rel(v["psnr"].as_f64().unwrap(), MEAN[2], FRAME_TOL, "psnr");
    }

    #[test]
    fn the_table_names_every_metric_and_the_truth_scores_infinite_psnr_as_null() {
        let dir = tempfile::tempdir().unwrap();
        let (pred, truth) = flat_copy(dir.path());
        let out = metrics(&pred, &truth, false);
        let text = String::from_utf8(out.stdout).unwrap();
        for name in ["ssim", "psnr", "l1", "ssim_disco", "psnr_disco", "3 frames"] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
        let v = json(&metrics(&truth, &truth, true));
        assert!(v["psnr"].is_null(), "{v}");
        assert_eq!(v["ssim"].as_f64(), Some(1.0));
        assert_eq!(v["psnr_disco"].as_f64(), Some(100.0));
    }

    /// Exit status 2 and exactly one stderr line, which names `path`.
    fn assert_bad(out: &std::process::Output, path: &Path, what: &str) {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(
            err.contains(path.to_str().unwrap()),
            "{what}: {err} does not name {}",
            path.display()
        );
        assert!(
            out.stdout.is_empty(),
            "{what}: printed {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    fn write_png(path: &Path, w: u32, h: u32) {
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8 * 7, y as u8 * 9, 128]))
            .save(path)
            .unwrap();
    }

    #[test]
    fn every_bad_input_exits_2_with_one_line_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = |name: &str| flat_copy(&dir.path().join(name));

        let (pred, truth) = fresh("missing");
        std::fs::remove_file(pred.join("2.png")).unwrap();
        assert_bad(&metrics(&pred, &truth, true), &pred.join("2.png"), "missing frame");

        let (pred, truth) = fresh("extra");
        std::fs::copy(pred.join("0.png"), pred.join("9.png")).unwrap();
        assert_bad(&metrics(&pred, &truth, true), &pred.join("9.png"), "extra frame");

        let (pred, truth) = fresh("size");
        write_png(&pred.join("1.png"), 32, 32);
        let out = metrics(&pred, &truth, false);
        assert_bad(&out, &pred.join("1.png"), "size mismatch");
        assert!(String::from_utf8_lossy(&out.stderr).contains("32x32 frame, expected 24x20"));

        let (pred, truth) = fresh("corrupt");
        std::fs::write(pred.join("1.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
        assert_bad(&metrics(&pred, &truth, true), &pred.join("1.png"), "corrupt PNG");

        let (pred, truth) = fresh("empty");
        for k in 0..3 {
            std::fs::remove_file(pred.join(format!("{k}.png"))).unwrap();
        }
        assert_bad(&metrics(&pred, &truth, true), &pred, "empty folder");

        let (pred, truth) = fresh("nofolder");
        let nowhere = dir.path().join("does-not-exist");
        assert_bad(&metrics(&pred, &nowhere, true), &nowhere, "no such folder");
        assert_bad(
            &metrics(&truth.join("0.png"), &truth, true),
            &truth.join("0.png"),
            "a file, not a folder",
        );

        let (pred, truth) = fresh("small");
        for side in [&pred, &truth] {
            for k in 0..3 {
                write_png(&side.join(format!("{k}.png")), 8, 8);
            }
        }
        assert_bad(
            &metrics(&pred, &truth, true),
            &truth.join("0.png"),
            "smaller than the SSIM window",
        );

        let (pred, truth) = fresh("mixed");
        std::fs::create_dir(truth.join("clip")).unwrap();
        assert_bad(&metrics(&pred, &truth, true), &truth, "frames beside clip folders");
    }
}
