//! The standard feature networks (src/eval/nets/) against their reference
//! PyTorch modules, and `entprog metrics --weights` driven as a user drives it.
//!
//! The reference numbers come from `tests/reference/nets_reference.py` (its
//! docstring holds the install line), which builds each reference module
//! (pytorch-fid 0.3.0, lpips 0.1.4, DisCo's copied 3D ResNet; torch 2.15.0,
//! torchvision 0.29.2, Pillow 13.0.0), fills every floating tensor with the
//! formula [`formula`] reproduces, runs a formula input and prints the first
//! outputs, their sum and L2 norm; it also wrote the sorted `(name, shape)`
//! lists under `tests/reference/nets/`, which these tests write to
//! safetensors files and load through the real loader.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{Device, Tensor};
use entprog::eval::nets::{resize_bicubic_pil, I3d, InceptionFid, LpipsAlex, NetError, R3d50, Weights};

/// `(name, shape)` of a reference state dict, sorted (`tests/reference/nets/<net>.names`).
fn names(net: &str) -> Vec<(String, Vec<usize>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/reference/nets/{net}.names"));
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next().unwrap().to_string();
            (name, parts.filter(|p| *p != "-").map(|p| p.parse().unwrap()).collect())
        })
        .collect()
}

/// The fill formula of `nets_reference.py`, for the `k`-th sorted name:
///
/// ```text
/// u = ((i * 7919 + k * 104729 + 13) % 2003) / 1001 - 1
/// running_var: 1 + 0.5 u; running_mean: 0.1 u; 1-d weight: 1 + 0.25 u; 1-d bias: 0.1 u
/// rank >= 2: u * sqrt(6 / prod(shape[1:]))
/// ```
fn formula(k: usize, name: &str, shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let leaf = name.rsplit('.').next().unwrap();
    let fan_in: usize = shape.iter().skip(1).product();
    (0..n as u64)
        .map(|i| {
            let u = ((i * 7919 + k as u64 * 104729 + 13) % 2003) as f64 / 1001.0 - 1.0;
            let v = match (leaf, shape.len()) {
                ("running_var", _) => 1.0 + 0.5 * u,
                ("running_mean", _) => 0.1 * u,
                ("weight", 1) => 1.0 + 0.25 * u,
                ("bias", 1) => 0.1 * u,
                _ => u * (6.0 / fan_in as f64).sqrt(),
            };
            v as f32
        })
        .collect()
}

/// Writes the reference names of `net`, filled by [`formula`], to `path`
/// (leaving out `drop`, reshaping `reshape`).
fn write_weights(net: &str, path: &Path, drop: &[&str], reshape: &[(&str, &[usize])]) {
    let mut tensors = HashMap::new();
    for (k, (name, shape)) in names(net).into_iter().enumerate() {
        if drop.contains(&name.as_str()) {
            continue;
        }
        let data = formula(k, &name, &shape);
        let shape = reshape
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(shape.clone(), |(_, s)| s.to_vec());
        let data = data
            .into_iter()
            .cycle()
            .take(shape.iter().product())
            .collect::<Vec<_>>();
        tensors.insert(name, Tensor::from_vec(data, shape, &Device::Cpu).unwrap());
    }
    candle_core::safetensors::save(&tensors, path).unwrap();
}

/// The formula input of `nets_reference.py`:
/// `((b * 97 + c * 31 + t * 53 + y * 17 + x * 7) % 256) / 255`, shape `[b, c, (t,) h, w]`.
fn input(shape: &[usize]) -> Tensor {
    let (dims, video) = match shape.len() {
        4 => ([shape[0], shape[1], 1, shape[2], shape[3]], false),
        _ => ([shape[0], shape[1], shape[2], shape[3], shape[4]], true),
    };
    let [nb, nc, nt, nh, nw] = dims;
    let mut v = Vec::with_capacity(nb * nc * nt * nh * nw);
    for b in 0..nb {
        for c in 0..nc {
            for t in 0..nt {
                for y in 0..nh {
                    for x in 0..nw {
                        v.push(((b * 97 + c * 31 + t * 53 + y * 17 + x * 7) % 256) as f32 / 255.0);
                    }
                }
            }
        }
    }
    let t = Tensor::from_vec(v, dims.to_vec(), &Device::Cpu).unwrap();
    if video {
        t
    } else {
        t.squeeze(2).unwrap()
    }
}

/// What `nets_reference.py` prints of an output: the first 4 values of each row, sum, L2 norm.
struct Reference {
    first: &'static [f64],
    sum: f64,
    l2: f64,
}

fn assert_matches(out: &Tensor, want: &Reference, what: &str) {
    let rows = out.dims()[0];
    let v = out
        .reshape((rows, ()))
        .unwrap()
        .to_dtype(candle_core::DType::F64)
        .unwrap()
        .to_vec2::<f64>()
        .unwrap();
    let flat: Vec<f64> = v.concat();
    let scale = want.l2 / (flat.len() as f64).sqrt();
    let first: Vec<f64> = v.iter().flat_map(|r| r.iter().take(4).copied()).collect();
    for (i, (g, w)) in first.iter().zip(want.first).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * (w.abs() + scale),
            "{what}: value {i}: got {g}, want {w}"
        );
    }
    let sum: f64 = flat.iter().sum();
    let l2 = flat.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!(
        (sum - want.sum).abs() <= 1e-4 * (want.sum.abs() + want.l2),
        "{what}: sum {sum}, want {}",
        want.sum
    );
    assert!(
        (l2 - want.l2).abs() <= 1e-4 * want.l2,
        "{what}: L2 {l2}, want {}",
        want.l2
    );
}

/// Every reference name is read but those starting with `unused`.
fn assert_reads_all(w: &Weights, net: &str, unused: &[&str]) {
    let want: Vec<String> = names(net)
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| !unused.iter().any(|u| n.starts_with(u)))
        .collect();
    assert_eq!(w.read_names(), want, "{net}: the tensors read are the reference names");
}

/// ```text
/// net = pytorch_fid.inception._inception_v3(num_classes=1008, aux_logits=False, weights=None)
/// net.Mixed_5b = FIDInceptionA(192, pool_features=32) ... net.Mixed_7c = FIDInceptionE_2(2048)
/// fill(net); pytorch_fid.inception.fid_inception_v3 = lambda: net
/// InceptionV3([3]).eval()(image_input((2, 3, 40, 48)))[0]
/// {"net": "inception-fid", "shape": [2, 2048], "first": [...], "sum": 2261.806783353275, "l2": 63.358563343450236}
/// ```
#[test]
fn inception_matches_pytorch_fid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inception-fid.safetensors");
    write_weights("inception-fid", &path, &[], &[]);
    let w = Weights::open(&path).unwrap();
    let net = InceptionFid::new(&w).unwrap();
    assert_reads_all(&w, "inception-fid", &["fc."]);
    let out = net.features(&input(&[2, 3, 40, 48])).unwrap();
    assert_eq!(out.dims(), &[2, 2048]);
    let want = Reference {
        first: &[
            1.2914260625839233,
            1.977491855621338,
            2.7996766567230225,
            1.4772484302520752,
            1.2643041610717773,
            1.9363672733306885,
            2.7346150875091553,
            1.434171438217163,
        ],
        sum: 2261.806783353275,
        l2: 63.358563343450236,
    };
    assert_matches(&out, &want, "inception-fid");
}

/// ```text
/// model = lpips.LPIPS(net="alex", pretrained=False, pnet_rand=True).eval()
/// fill(model, skip=("scaling_layer.shift", "scaling_layer.scale", "lins.0.model.1.weight", ...))
/// x0 = image_input((2, 3, 64, 80)); x1 = torch.flip(x0, dims=[3]) * 0.5 + 0.25
/// model(x0, x1, normalize=True)
/// {"net": "lpips-alex", "shape": [2, 1], "first": [0.010411597788333893, -0.015016831457614899], "sum": -0.004605233669281006, "l2": 0.018273111271276482}
/// ```
#[test]
fn lpips_matches_the_lpips_package() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lpips-alex.safetensors");
    write_weights("lpips-alex", &path, &[], &[]);
    let w = Weights::open(&path).unwrap();
    let net = LpipsAlex::new(&w).unwrap();
    assert_reads_all(&w, "lpips-alex", &[]);
    let x0 = input(&[2, 3, 64, 80]);
    let x1 = ((x0.flip(&[3]).unwrap() * 0.5).unwrap() + 0.25).unwrap();
    let out = net.distance(&x0, &x1).unwrap().unsqueeze(1).unwrap();
    let want = Reference {
        first: &[0.010411597788333893, -0.015016831457614899],
        sum: -0.004605233669281006,
        l2: 0.018273111271276482,
    };
    assert_matches(&out, &want, "lpips-alex");
    let same = net.distance(&x0, &x0).unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(same, vec![0.0, 0.0], "a frame against itself");
}

/// ```text
/// model = resnet50(num_classes=400, shortcut_type="B", sample_size=32, sample_duration=4, last_fc=False).eval()
/// fill(model)
/// x = image_input((1, 3, 4, 32, 32)) * 255 - [114.7748, 107.7354, 99.4750] (per channel)
/// {"net": "r3d50-kinetics", "shape": [1, 2048], "first": [165.41659545898438, 93.35409545898438, 103.12225341796875, 0.0], "sum": 110363.5027605053, "l2": 3944.5228451240896}
/// ```
#[test]
fn r3d50_matches_disco_resnet3d() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r3d50-kinetics.safetensors");
    write_weights("r3d50-kinetics", &path, &[], &[]);
    let w = Weights::open(&path).unwrap();
    let net = R3d50::new(&w).unwrap();
    assert_reads_all(&w, "r3d50-kinetics", &["fc."]);
    let mean = Tensor::new(&[114.7748f32, 107.7354, 99.4750], &Device::Cpu)
        .unwrap()
        .reshape((1, 3, 1, 1, 1))
        .unwrap();
    let x = (input(&[1, 3, 4, 32, 32]) * 255.0)
        .unwrap()
        .broadcast_sub(&mean)
        .unwrap();
    let out = net.features(&x).unwrap();
    let want = Reference {
        first: &[165.41659545898438, 93.35409545898438, 103.12225341796875, 0.0],
        sum: 110363.5027605053,
        l2: 3944.5228451240896,
    };
    assert_matches(&out, &want, "r3d50-kinetics");
}

/// ```text
/// model = InceptionI3d(400, in_channels=3).eval()      # piergiaj's, as DisCo copies it
/// model.avg_pool = nn.AvgPool3d(kernel_size=[1, 2, 2], stride=(1, 1, 1))  # the whole map of a 64 x 64 input
/// fill(model)
/// model(image_input((1, 3, 8, 64, 64)) * 2 - 1)
/// {"net": "i3d-fvd", "shape": [1, 400], "first": [2.0457916259765625, -2.0047285556793213, 2.2886998653411865, -2.3602187633514404], "sum": 2.2030532509088516, "l2": 31.571041867835124}
/// ```
#[test]
fn i3d_matches_the_pytorch_i3d_port() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i3d-fvd.safetensors");
    write_weights("i3d-fvd", &path, &[], &[]);
    let w = Weights::open(&path).unwrap();
    let net = I3d::new(&w).unwrap();
    assert_reads_all(&w, "i3d-fvd", &[]);
    let x = ((input(&[1, 3, 8, 64, 64]) * 2.0).unwrap() - 1.0).unwrap();
    let out = net.features(&x).unwrap();
    assert_eq!(out.dims(), &[1, 400]);
    let want = Reference {
        first: &[
            2.0457916259765625,
            -2.0047285556793213,
            2.2886998653411865,
            -2.3602187633514404,
        ],
        sum: 2.2030532509088516,
        l2: 31.571041867835124,
    };
    assert_matches(&out, &want, "i3d-fvd");
}

/// ```text
/// img = image_input((1, 3, 21, 27))[0].numpy() * 255
/// [Image.fromarray(img[c].astype(np.float32), mode="F").resize((w, h), resample=Image.BICUBIC) for c in range(3)]
/// {"net": "pil-bicubic-112x112", "first": [-2.7631726264953613, -2.37252140045166, -1.5627294778823853, -0.2170896828174591], "sum": 4933821.49749003, "l2": 28833.212144975652}
/// {"net": "pil-bicubic-11x8", "first": [20.27931022644043, 36.81909942626953, 54.243873596191406, 71.52052307128906], "sum": 34675.39102935791, "l2": 2350.515643820199}
/// ```
#[test]
fn bicubic_resize_matches_pillow() {
    let img = (input(&[1, 3, 21, 27]) * 255.0)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec3::<f32>()
        .unwrap();
    let cases = [
        (
            (112, 112),
            Reference {
                first: &[
                    -2.7631726264953613,
                    -2.37252140045166,
                    -1.5627294778823853,
                    -0.2170896828174591,
                ],
                sum: 4933821.49749003,
                l2: 28833.212144975652,
            },
        ),
        (
            (8, 11),
            Reference {
                first: &[
                    20.27931022644043,
                    36.81909942626953,
                    54.243873596191406,
                    71.52052307128906,
                ],
                sum: 34675.39102935791,
                l2: 2350.515643820199,
            },
        ),
    ];
    for ((h, w), want) in cases {
        let out: Vec<f32> = img
            .iter()
            .flat_map(|c| resize_bicubic_pil(&c.concat(), (21, 27), (h, w)))
            .collect();
        let out = Tensor::from_vec(out, (1, 3 * h * w), &Device::Cpu).unwrap();
        assert_matches(&out, &want, &format!("pil bicubic {w}x{h}"));
    }
}

#[test]
fn a_missing_or_misshapen_tensor_names_the_file_tensor_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lpips-alex.safetensors");
    write_weights("lpips-alex", &path, &["lin4.model.1.weight"], &[]);
    let err = LpipsAlex::new(&Weights::open(&path).unwrap()).unwrap_err();
    assert!(matches!(err, NetError::Missing { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(path.to_str().unwrap()) && msg.contains("lin4.model.1.weight") && msg.contains("[1, 256, 1, 1]"),
        "{msg}"
    );

    write_weights("lpips-alex", &path, &[], &[("net.slice1.0.weight", &[64, 3, 11, 10])]);
    let msg = LpipsAlex::new(&Weights::open(&path).unwrap()).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "{}: tensor net.slice1.0.weight has shape [64, 3, 11, 10], expected [64, 3, 11, 11]",
            path.display()
        )
    );
    let msg = Weights::open(&dir.path().join("nope.safetensors"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("nope.safetensors") && msg.contains("no such file"),
        "{msg}"
    );
}

/// `entprog metrics --weights DIR`, through the binary.
mod command {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/frames")
    }

    fn entprog(args: &[&str], env_weights: Option<&Path>) -> std::process::Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_entprog"));
        cmd.args(args).env_remove("ENTPROG_WEIGHTS");
        if let Some(w) = env_weights {
            cmd.env("ENTPROG_WEIGHTS", w);
        }
        cmd.output().unwrap()
    }

    fn json(out: &std::process::Output) -> serde_json::Value {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(String::from_utf8(out.stdout.clone()).unwrap().trim()).unwrap()
    }

    /// `<root>/pred`, `<root>/truth`: the three fixture pairs (24x20), flat.
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

    /// `<root>/pred`, `<root>/truth`: three 40x36 pairs, flat (AlexNet needs 31 pixels a side).
    fn flat_frames(root: &Path) -> (PathBuf, PathBuf) {
        for (side, shift) in [("truth", 0u32), ("pred", 60)] {
            std::fs::create_dir_all(root.join(side)).unwrap();
            for k in 0..3u32 {
                let img = image::RgbImage::from_fn(40, 36, |x, y| {
                    image::Rgb([
                        ((x * 7 + k * 50) % 256) as u8,
                        ((y * 5 + shift) % 256) as u8,
                        ((x * y + k) % 256) as u8,
                    ])
                });
                img.save(root.join(side).join(format!("{k}.png"))).unwrap();
            }
        }
        (root.join("pred"), root.join("truth"))
    }

    #[test]
    fn image_networks_are_reported_with_n_and_dim_and_warn_when_n_is_below_dim() {
        let dir = tempfile::tempdir().unwrap();
        let (pred, truth) = flat_frames(dir.path());
        let weights = dir.path().join("weights");
        std::fs::create_dir(&weights).unwrap();
        write_weights("inception-fid", &weights.join("inception-fid.safetensors"), &[], &[]);
        write_weights("lpips-alex", &weights.join("lpips-alex.safetensors"), &[], &[]);
        let (p, t, w) = (
            pred.to_str().unwrap(),
            truth.to_str().unwrap(),
            weights.to_str().unwrap(),
        );

        let out = entprog(&["metrics", "--pred", p, "--truth", t, "--weights", w, "--json"], None);
        let v = json(&out);
        let fid = &v["fid_inception"];
        assert_eq!(fid["samples"], serde_json::json!([3, 3]), "{v}");
        assert_eq!(fid["dim"].as_u64(), Some(2048));
        assert!(fid["value"].as_f64().unwrap() > 0.0, "{v}");
        assert!(v["lpips_alex"].as_f64().unwrap().is_finite(), "{v}");
        assert!(v["fid_vid_r3d50"].is_null(), "no R3D-50 weights: {v}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("warning: fid_inception") && err.contains("3 and 3 samples of 2048-dimensional"),
            "{err}"
        );

        // The same folder as truth and prediction, weights from ENTPROG_WEIGHTS.
        let v = json(&entprog(
            &["metrics", "--pred", t, "--truth", t, "--json"],
            Some(&weights),
        ));
        assert_eq!(v["lpips_alex"].as_f64(), Some(0.0), "{v}");
        assert!(v["fid_inception"]["value"].as_f64().unwrap().abs() < 1e-6, "{v}");

        let table = entprog(&["metrics", "--pred", p, "--truth", t, "--weights", w], None);
        let text = String::from_utf8(table.stdout).unwrap();
        assert!(
            text.contains("fid_inception") && text.contains("n = 3 / 3, d = 2048") && text.contains("lpips_alex"),
            "{text}"
        );
    }

    #[test]
    fn the_video_networks_score_16_frame_clips() {
        let dir = tempfile::tempdir().unwrap();
        // Clips of 17 frames (2 windows), 16 (1) and 5 (none).
        for (side, shift) in [("truth", 0u32), ("pred", 40)] {
            for (clip, n) in [("a", 17u32), ("b", 16), ("c", 5)] {
                let d = dir.path().join(side).join(clip);
                std::fs::create_dir_all(&d).unwrap();
                for f in 0..n {
                    let img = image::RgbImage::from_fn(20, 16, |x, y| {
                        image::Rgb([
                            ((x * 9 + f * 13 + shift) % 256) as u8,
                            ((y * 11 + f * 5) % 256) as u8,
                            ((x + y + clip.len() as u32 * 50) % 256) as u8,
                        ])
                    });
                    img.save(d.join(format!("{f:03}.png"))).unwrap();
                }
            }
        }
        // Both networks, and the R3D-50 alone (for the cheaper identity run).
        let (both, r3d) = (dir.path().join("both"), dir.path().join("r3d"));
        for d in [&both, &r3d] {
            std::fs::create_dir(d).unwrap();
            write_weights("r3d50-kinetics", &d.join("r3d50-kinetics.safetensors"), &[], &[]);
        }
        write_weights("i3d-fvd", &both.join("i3d-fvd.safetensors"), &[], &[]);
        let (p, t) = (dir.path().join("pred"), dir.path().join("truth"));
        let args = |pred: &Path, weights: &Path| {
            vec![
                "metrics".to_string(),
                "--pred".into(),
                pred.to_str().unwrap().into(),
                "--truth".into(),
                t.to_str().unwrap().into(),
                "--weights".into(),
                weights.to_str().unwrap().into(),
                "--json".into(),
            ]
        };
        let run = |pred: &Path, weights: &Path| {
            json(&entprog(
                &args(pred, weights).iter().map(String::as_str).collect::<Vec<_>>(),
                None,
            ))
        };
        let v = run(&p, &both);
        let fd = &v["fid_vid_r3d50"];
        assert_eq!(fd["samples"], serde_json::json!([3, 3]), "{v}");
        assert_eq!(fd["dim"].as_u64(), Some(2048));
        assert!(fd["value"].as_f64().unwrap() > 0.0, "{v}");
        assert!(v["fid_inception"].is_null() && v["lpips_alex"].is_null(), "{v}");
        // FVD: the first 16 frames of each of the two long clips.
        let fvd = &v["fvd_i3d"];
        assert_eq!(fvd["samples"], serde_json::json!([2, 2]), "{v}");
        assert_eq!(fvd["dim"].as_u64(), Some(400));
        assert!(fvd["value"].as_f64().unwrap() > 0.0, "{v}");
        // Identical sets: 0 up to the square roots of the rounding-level
        // eigenvalues of a rank-deficient covariance in 2048 dimensions
        // (measured -0.031 against 27333 for shifted frames, 4 windows).
        let same = run(&t, &r3d);
        assert!(same["fvd_i3d"].is_null(), "{same}");
        assert!(
            same["fid_vid_r3d50"]["value"].as_f64().unwrap().abs() < 1e-5 * fd["value"].as_f64().unwrap(),
            "{same} against {v}"
        );
    }

    #[test]
    fn bad_weights_exit_2_with_one_line_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let (pred, truth) = flat_copy(dir.path());
        let (p, t) = (pred.to_str().unwrap(), truth.to_str().unwrap());
        let weights = dir.path().join("weights");
        let w = weights.to_str().unwrap();
        let check = |out: std::process::Output, needles: &[&str]| {
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{err}");
            assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
            for n in needles {
                assert!(err.contains(n), "{n} missing from {err}");
            }
        };
        check(
            entprog(&["metrics", "--pred", p, "--truth", t, "--weights", w], None),
            &[w, "no such folder"],
        );
        std::fs::create_dir(&weights).unwrap();
        let file = weights.join("lpips-alex.safetensors");
        write_weights("lpips-alex", &file, &[], &[("lin2.model.1.weight", &[1, 383, 1, 1])]);
        check(
            entprog(&["metrics", "--pred", p, "--truth", t], Some(&weights)),
            &[
                file.to_str().unwrap(),
                "lin2.model.1.weight",
                "[1, 383, 1, 1]",
                "expected [1, 384, 1, 1]",
            ],
        );
        std::fs::write(&file, b"not safetensors").unwrap();
        check(
            entprog(&["metrics", "--pred", p, "--truth", t, "--weights", w], None),
            &[file.to_str().unwrap(), "cannot read as safetensors"],
        );
    }
}
