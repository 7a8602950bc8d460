//! The offline dance networks (issue 12, items 3-4) as a user trains them,
//! `entprog nets train` on the shipped `experiments/nets/dance.toml` with
//! `--set` flags on the 16x16 datasets: two trainings give bit-identical
//! weights and a third reuses the cell; the keypoint head scores frames
//! shifted by a few pixels worse than the real frames against the
//! renderer's keypoints; bad settings are one line naming the key.

use std::path::Path;
use std::process::Command;

use candle_core::{Device, Tensor};
use entprog::data::Split;
use entprog::eval::dance::data::DanceFrames;
use entprog::eval::dance::{load_config, DanceNets};
use entprog::eval::pose::{pose_scores, PoseScores};

/// The smoke-sized networks of `reproduce table3 --profile smoke`, with
/// `extra` flags, into `results`.
fn sets(results: &Path, extra: &[&str]) -> Vec<String> {
    let mut s: Vec<String> = [
        "datasets=[\"tiktok-16\", \"ubc-fashion-16\", \"bilibili-16\"]",
        "threads=2",
        "frame.steps=40",
        "frame.batch_size=16",
        "clip.steps=15",
        "clip.batch_size=4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    s.extend(extra.iter().map(|s| s.to_string()));
    s.push(format!("results_dir={:?}", results.display().to_string()));
    s
}

fn nets_train(sets: &[String]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_entprog"));
    cmd.args(["nets", "train", "--quiet"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for s in sets {
        cmd.args(["--set", s]);
    }
    cmd.output().unwrap()
}

fn weights(results: &Path, net: &str, seed: u64) -> Vec<u8> {
    let dir = results.join("dance-nets").join(net).join(format!("seed-{seed}"));
    std::fs::read(dir.join("weights.safetensors")).unwrap()
}

#[test]
fn two_trainings_give_bit_identical_weights_and_a_third_reuses_the_cells() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for d in [&a, &b] {
        let out = nets_train(&sets(d.path(), &[]));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("dance-frame trained in") && text.contains("pck_dance ="),
            "{text}"
        );
    }
    for net in ["frame", "clip"] {
        assert_eq!(
            weights(a.path(), net, 0),
            weights(b.path(), net, 0),
            "{net} weights differ"
        );
    }
    let again = nets_train(&sets(a.path(), &[]));
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        text.contains("dance-frame reused") && text.contains("dance-clip reused"),
        "{text}"
    );
    // Another seed is another network.
    let c = tempfile::tempdir().unwrap();
    assert!(nets_train(&sets(c.path(), &["seed=1"])).status.success());
    assert_ne!(weights(a.path(), "frame", 0), weights(c.path(), "frame", 1));
}

/// Shifts frames `[n, 3, h, w]` right by `px` pixels, repeating the first column.
fn shift_right(frames: &Tensor, px: usize) -> Tensor {
    let w = frames.dim(3).unwrap();
    let edge = frames.narrow(3, 0, 1).unwrap().repeat((1, 1, 1, px)).unwrap();
    Tensor::cat(&[&edge, &frames.narrow(3, 0, w - px).unwrap()], 3).unwrap()
}

#[test]
fn the_keypoint_head_scores_frames_shifted_by_a_few_pixels_worse_than_the_real_ones() {
    let d = tempfile::tempdir().unwrap();
    // An absolute dataset folder, so the test process reads what the binary read.
    let root = format!(
        "root={:?}",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("datasets")
            .display()
            .to_string()
    );
    let s = sets(d.path(), &["frame.steps=300", &root]);
    let out = nets_train(&s);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cfg = load_config(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/nets/dance.toml"),
        &s,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let nets = DanceNets::load(&cfg).unwrap();
    let test = DanceFrames::new(cfg.open().unwrap(), &cfg.datasets, Split::Test).unwrap();
    let (h, w) = test.resolution();
    let items = test.items(1);
    let (mut real, mut shifted) = (PoseScores::default(), PoseScores::default());
    for chunk in items.chunks(64) {
        let b = test.batch(chunk, 1, &[], &Device::Cpu).unwrap();
        let frames = b.pixels.reshape((chunk.len(), 3, h, w)).unwrap();
        let (kp, vis) = (b.keypoints.squeeze(1).unwrap(), b.visible.squeeze(1).unwrap());
        for (frames, scores) in [(frames.clone(), &mut real), (shift_right(&frames, 3), &mut shifted)] {
            let out = nets.frame.forward(&frames).unwrap();
            scores.add(&pose_scores(&out.keypoints, &kp, &vis, (h, w)).unwrap());
        }
    }
    assert!(real.points > 1000, "{real:?}");
    assert!(
        shifted.pck() < real.pck() && shifted.error_px() > real.error_px(),
        "real {:.3} / {:.2} px, shifted {:.3} / {:.2} px",
        real.pck(),
        real.error_px(),
        shifted.pck(),
        shifted.error_px()
    );
}

#[test]
fn bad_settings_are_one_line_naming_the_key() {
    let d = tempfile::tempdir().unwrap();
    for (flag, key) in [
        ("frame.steps=0", "frame.steps"),
        ("clip.batch_size=3", "clip.batch_size"),
        ("datasets=[\"tiktok-16\", \"tiktok\"]", "tiktok"),
    ] {
        let out = nets_train(&sets(d.path(), &[flag]));
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{flag}: {err}");
        assert!(err.contains(key), "{flag}: {err}");
    }
}
