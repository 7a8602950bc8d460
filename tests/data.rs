//! Integration tests of the dance datasets (issue 3): regeneration is
//! byte-identical, the renderer keeps its invariants on every shipped profile,
//! the profiles differ the way the paper's datasets do, loaders give the
//! promised shapes, ranges and order, real frame folders round-trip, and every
//! bad input fails with one line naming the file and leaves no dataset behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::Device;
use entprog::data::pose::{LIMBS, NAMES};
use entprog::data::render::VideoPlan;
use entprog::data::{
    ensure_built, import_frames, DataError, Dataset, DatasetManifest, DatasetProfile, ImportOptions, Loader, Split,
};

use crate::util::shipped;

/// A root with the shipped profiles plus `<name>.toml` = `extends = "<base>.toml"` and `extra` lines.
fn root_with(dir: &Path, name: &str, base: &str, extra: &str) -> PathBuf {
    for p in ["tiktok", "ubc-fashion", "bilibili"] {
        std::fs::copy(shipped().join(format!("{p}.toml")), dir.join(format!("{p}.toml"))).unwrap();
    }
    std::fs::write(
        dir.join(format!("{name}.toml")),
        format!("extends = \"{base}.toml\"\n{extra}\n"),
    )
    .unwrap();
    dir.to_path_buf()
}

const SMALL: &str = "videos = 5\ntest_videos = 2\nframes_per_video = 10\nrows_per_shard = 20";

/// Entries of a folder other than the given names (leftover staging folders, partial datasets).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ---- regeneration -------------------------------------------------------------------------

mod regeneration {
    use super::*;

    #[test]
    fn the_same_seed_gives_byte_identical_shards() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let da = ensure_built(&root_with(a.path(), "small", "bilibili", SMALL), "small").unwrap();
        let db = ensure_built(&root_with(b.path(), "small", "bilibili", SMALL), "small").unwrap();
        let (ma, mb) = (DatasetManifest::read(&da).unwrap(), DatasetManifest::read(&db).unwrap());
        assert_eq!(
            ma.shards.len(),
            3,
            "3 train videos of 10 frames at 20 rows per shard: 2 train + 1 test shard"
        );
        for (sa, sb) in ma.shards.iter().zip(&mb.shards) {
            assert_eq!(
                std::fs::read(da.join(&sa.path)).unwrap(),
                std::fs::read(db.join(&sb.path)).unwrap(),
                "{}",
                sa.path
            );
        }
        assert_eq!(
            std::fs::read(da.join("manifest.json")).unwrap(),
            std::fs::read(db.join("manifest.json")).unwrap()
        );
        assert_eq!(
            std::fs::read(da.join("README.md")).unwrap(),
            std::fs::read(db.join("README.md")).unwrap()
        );
        ma.verify(&da, true).unwrap();
    }

    #[test]
    fn another_seed_gives_other_videos() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let tiny = "videos = 2\ntest_videos = 1\nframes_per_video = 4";
        let da = ensure_built(&root_with(a.path(), "s", "tiktok", tiny), "s").unwrap();
        let db = ensure_built(&root_with(b.path(), "s", "tiktok", &format!("{tiny}\nseed = 7")), "s").unwrap();
        let (ma, mb) = (DatasetManifest::read(&da).unwrap(), DatasetManifest::read(&db).unwrap());
        assert_ne!(ma.config_hash, mb.config_hash);
        assert_ne!(ma.shards[0].sha256, mb.shards[0].sha256);
    }

    #[test]
    fn ensure_built_reuses_a_current_build_and_rebuilds_a_changed_profile() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with(
            dir.path(),
            "s",
            "ubc-fashion",
            "videos = 2\ntest_videos = 1\nframes_per_video = 4",
        );
        let ds = ensure_built(&root, "s").unwrap();
        let first = DatasetManifest::read(&ds).unwrap();
        // Tamper with nothing: a marker file inside survives a reuse, not a rebuild.
        std::fs::write(ds.join("marker"), "x").unwrap();
        ensure_built(&root, "s").unwrap();
        assert!(ds.join("marker").exists(), "an up-to-date dataset is reused");
        std::fs::write(
            root.join("s.toml"),
            "extends = \"ubc-fashion.toml\"\nvideos = 2\ntest_videos = 1\nframes_per_video = 5\n",
        )
        .unwrap();
        ensure_built(&root, "s").unwrap();
        let second = DatasetManifest::read(&ds).unwrap();
        assert!(!ds.join("marker").exists(), "a changed profile rebuilds");
        assert_ne!(first.config_hash, second.config_hash);
        assert_eq!(second.splits["train"].frames, 5);
        assert_eq!(
            entries(&root).iter().filter(|e| e.starts_with('.')).count(),
            0,
            "no staging left"
        );
    }

    #[test]
    fn the_card_has_the_hub_yaml_header() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with(
            dir.path(),
            "s",
            "tiktok",
            "videos = 2\ntest_videos = 1\nframes_per_video = 3",
        );
        let ds = ensure_built(&root, "s").unwrap();
        let card = std::fs::read_to_string(ds.join("README.md")).unwrap();
        assert!(card.starts_with("---\n"));
        for needle in [
            "configs:",
            "path: data/train-*",
            "path: data/test-*",
            "dtype: image",
            "sequence: float32",
            "num_examples: 3",
        ] {
            assert!(card.contains(needle), "card lacks {needle:?}:\n{card}");
        }
        assert!(ds.join("data/train-00000-of-00001.parquet").is_file());
    }
}

// ---- renderer invariants -------------------------------------------------------------------

mod renderer {
    use super::*;

    fn profiles(size: usize) -> Vec<(String, DatasetProfile)> {
        ["tiktok", "ubc-fashion", "bilibili"]
            .iter()
            .map(|n| {
                let mut p = DatasetProfile::load(&shipped(), n).unwrap();
                (p.height, p.width) = (size, size);
                (n.to_string(), p)
            })
            .collect()
    }

    /// Every third frame of the first videos of every shipped profile, at `size`.
    fn for_frames(size: usize, videos: usize, mut f: impl FnMut(&str, usize, usize, &entprog::data::render::Frame)) {
        for (name, p) in profiles(size) {
            for v in 0..videos {
                let plan = VideoPlan::new(&p, v);
                for fr in (0..p.frames_per_video).step_by(3) {
                    f(&name, v, fr, &plan.frame(fr));
                }
            }
        }
    }

    #[test]
    fn keypoints_stay_inside_the_frame() {
        for size in [32, 64] {
            for_frames(size, 6, |name, v, f, frame| {
                for (i, k) in frame.keypoints.0.iter().enumerate() {
                    let inside = k[0] >= 0.0 && k[1] >= 0.0 && k[0] < size as f32 && k[1] < size as f32;
                    assert!(
                        inside,
                        "{name} video {v} frame {f}: {} at {k:?} outside {size}x{size}",
                        NAMES[i]
                    );
                }
            });
        }
    }

    /// The mask interpolated bilinearly between pixel centres at (x, y): coverage is
    /// linear across an edge, so this is >= 0.5 exactly when the point is inside the silhouette.
    fn mask_at(mask: &[u8], size: usize, x: f32, y: f32) -> f32 {
        let (fx, fy) = (
            (x - 0.5).clamp(0.0, size as f32 - 1.0),
            (y - 0.5).clamp(0.0, size as f32 - 1.0),
        );
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(size - 1), (y0 + 1).min(size - 1));
        let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
        let m = |x: usize, y: usize| mask[y * size + x] as f32 / 255.0;
        (m(x0, y0) * (1.0 - tx) + m(x1, y0) * tx) * (1.0 - ty) + (m(x0, y1) * (1.0 - tx) + m(x1, y1) * tx) * ty
    }

    #[test]
    fn the_mask_covers_every_visible_keypoint() {
        for size in [32, 64] {
            for_frames(size, 6, |name, v, f, frame| {
                for (i, k) in frame.keypoints.0.iter().enumerate() {
                    if k[2] < 0.5 {
                        continue;
                    }
                    let m = mask_at(&frame.mask, size, k[0], k[1]);
                    assert!(
                        m >= 0.5,
                        "{name} video {v} frame {f}: mask {m} under {} at {k:?} ({size}px)",
                        NAMES[i]
                    );
                }
            });
        }
    }

    #[test]
    fn the_pose_map_is_lit_along_every_visible_limb_and_dark_far_from_it() {
        for_frames(32, 6, |name, v, f, frame| {
            let kp = &frame.keypoints;
            for (l, &(a, b)) in LIMBS.iter().enumerate() {
                if !(kp.visible(a) && kp.visible(b)) {
                    continue;
                }
                let (x, y) = ((kp.0[a][0] + kp.0[b][0]) / 2.0, (kp.0[a][1] + kp.0[b][1]) / 2.0);
                let px = &frame.pose[(y as usize * 32 + x as usize) * 3..][..3];
                assert!(
                    px.iter().map(|c| *c as u32).sum::<u32>() > 60,
                    "{name} video {v} frame {f}: limb {l} dark at its middle: {px:?}"
                );
            }
            let lit = frame.pose.chunks(3).filter(|p| p.iter().any(|c| *c > 0)).count();
            assert!(lit < 32 * 32 / 2, "{name}: pose map mostly lit ({lit} px)");
        });
    }

    #[test]
    fn a_dancer_turning_away_hides_the_face_points() {
        // UBC-Fashion turns; somewhere in its videos the nose must go hidden while the ears stay.
        let p = DatasetProfile::load(&shipped(), "ubc-fashion").unwrap();
        let mut back_views = 0;
        for v in 0..p.videos {
            let plan = VideoPlan::new(&p, v);
            for f in (0..p.frames_per_video).step_by(2) {
                let kp = plan.frame(f).keypoints;
                if !kp.visible(0) {
                    back_views += 1;
                    assert!(
                        kp.visible(16) || kp.visible(17),
                        "video {v} frame {f}: a turned head still shows an ear"
                    );
                }
            }
        }
        assert!(back_views > 10, "only {back_views} frames with the back to the camera");
    }

    fn stats(name: &str) -> (f32, f32, f32) {
        // (mean background luminance, mean background saturation, mean keypoint speed px/frame)
        let p = DatasetProfile::load(&shipped(), name).unwrap();
        let (mut lum, mut sat, mut n, mut speed, mut m) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for v in 0..8 {
            let plan = VideoPlan::new(&p, v);
            let mut prev: Option<entprog::data::pose::Keypoints> = None;
            for f in 0..p.frames_per_video {
                let fr = plan.frame(f);
                for (px, mask) in fr.rgb.chunks(3).zip(&fr.mask) {
                    if *mask == 0 {
                        let c: Vec<f32> = px.iter().map(|c| *c as f32 / 255.0).collect();
                        let (hi, lo) = (c[0].max(c[1]).max(c[2]), c[0].min(c[1]).min(c[2]));
                        lum += 0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2];
                        sat += if hi > 0.0 { (hi - lo) / hi } else { 0.0 };
                        n += 1.0;
                    }
                }
                if let Some(q) = prev {
                    for i in 2..14 {
                        speed += ((fr.keypoints.0[i][0] - q.0[i][0]).powi(2)
                            + (fr.keypoints.0[i][1] - q.0[i][1]).powi(2))
                        .sqrt();
                        m += 1.0;
                    }
                }
                prev = Some(fr.keypoints);
            }
        }
        (lum / n, sat / n, speed / m)
    }

    #[test]
    fn the_three_profiles_look_and_move_differently() {
        let (tt, ubc, bili) = (stats("tiktok"), stats("ubc-fashion"), stats("bilibili"));
        eprintln!("luminance, saturation, limb speed: tiktok {tt:?} ubc {ubc:?} bilibili {bili:?}");
        assert!(ubc.0 > 0.8 && ubc.1 < 0.1, "UBC-Fashion: light plain studio {ubc:?}");
        assert!(
            bili.1 > tt.1 + 0.2 && bili.1 > ubc.1 + 0.2,
            "Bilibili: colourful backgrounds"
        );
        assert!(bili.2 > tt.2 && tt.2 > ubc.2, "motion: Bilibili > TikTok > UBC-Fashion");
    }
}

// ---- loaders ---------------------------------------------------------------------------------

mod loader {
    use super::*;
    use candle_core::Tensor;

    fn dataset() -> Arc<Dataset> {
        static DS: std::sync::OnceLock<(tempfile::TempDir, Arc<Dataset>)> = std::sync::OnceLock::new();
        DS.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let root = root_with(
                dir.path(),
                "l",
                "tiktok",
                "videos = 6\ntest_videos = 2\nframes_per_video = 12",
            );
            let ds = Arc::new(Dataset::open(&ensure_built(&root, "l").unwrap()).unwrap());
            (dir, ds)
        })
        .1
        .clone()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn the_dataset_reports_its_size() {
        let ds = dataset();
        assert_eq!(ds.resolution(), (32, 32));
        assert_eq!((ds.num_videos(Split::Train), ds.num_videos(Split::Test)), (4, 2));
        assert_eq!(ds.num_frames(Split::Train), 48);
        let v = &ds.videos(Split::Test)[0];
        assert_eq!(v.id(), 4, "test videos follow the training ones");
        assert!(v.keypoints(0).is_some() && v.mask(0).is_some());
    }

    #[test]
    fn image_mode_batches_have_the_promised_shapes_and_range() {
        let l = Loader::new(dataset(), Split::Train, 1, 1, 5, 42);
        let b = l.batch(0, &Device::Cpu).unwrap();
        assert_eq!(b.reference.dims(), &[5, 3, 32, 32]);
        assert_eq!(b.frames.dims(), &[5, 1, 3, 32, 32]);
        assert_eq!(b.poses.dims(), &[5, 1, 3, 32, 32]);
        assert_eq!(b.video_ids.len(), 5);
        assert!(b.frame_idx.iter().all(|f| f.len() == 1));
        for t in [&b.reference, &b.frames, &b.poses] {
            let v = values(t);
            assert!(v.iter().all(|x| (-1.0..=1.0).contains(x)));
            assert!(
                v.iter().any(|x| *x < -0.5) && v.iter().any(|x| *x > 0.5),
                "uses the range"
            );
        }
    }

    #[test]
    fn video_mode_takes_strided_clips_and_matches_the_decoded_frames() {
        let ds = dataset();
        let l = Loader::new(ds.clone(), Split::Train, 4, 2, 3, 1);
        let b = l.batch(7, &Device::Cpu).unwrap();
        assert_eq!(b.frames.dims(), &[3, 4, 3, 32, 32]);
        for (i, idx) in b.frame_idx.iter().enumerate() {
            assert_eq!(idx.len(), 4);
            assert!(idx.windows(2).all(|w| w[1] == w[0] + 2) && idx[3] < 12);
            let video = ds
                .videos(Split::Train)
                .iter()
                .find(|v| v.id() == b.video_ids[i])
                .unwrap();
            let want: Vec<f32> = video
                .rgb(idx[2] as usize)
                .iter()
                .map(|v| *v as f32 / 127.5 - 1.0)
                .collect();
            let got = values(&b.frames.get(i).unwrap().get(2).unwrap());
            assert_eq!(got, want, "clip {i} frame 2");
            let pose: Vec<f32> = video
                .pose(idx[2] as usize)
                .iter()
                .map(|v| *v as f32 / 127.5 - 1.0)
                .collect();
            assert_eq!(values(&b.poses.get(i).unwrap().get(2).unwrap()), pose);
        }
    }

    #[test]
    fn batches_are_a_pure_function_of_seed_and_step() {
        let (a, b) = (
            Loader::new(dataset(), Split::Train, 1, 1, 4, 9),
            Loader::new(dataset(), Split::Train, 1, 1, 4, 9),
        );
        let late = a.batch(20, &Device::Cpu).unwrap();
        let _ = a.batch(0, &Device::Cpu).unwrap();
        let again = b.batch(20, &Device::Cpu).unwrap();
        assert_eq!((&late.video_ids, &late.frame_idx), (&again.video_ids, &again.frame_idx));
        assert_eq!(values(&late.reference), values(&again.reference));
        let other = Loader::new(dataset(), Split::Train, 1, 1, 4, 10)
            .batch(20, &Device::Cpu)
            .unwrap();
        assert_ne!(late.frame_idx, other.frame_idx, "another seed, another order");
    }

    #[test]
    fn an_epoch_visits_every_frame_once() {
        let l = Loader::new(dataset(), Split::Train, 1, 1, 4, 3);
        assert_eq!(l.epoch_len(), 48);
        let mut seen: Vec<(u32, u32)> = (0..12)
            .flat_map(|s| {
                let b = l.batch(s, &Device::Cpu).unwrap();
                b.video_ids
                    .into_iter()
                    .zip(b.frame_idx.into_iter().map(|f| f[0]))
                    .collect::<Vec<_>>()
            })
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 48);
    }

    #[test]
    fn the_reference_is_another_frame_of_the_same_video() {
        let ds = dataset();
        let l = Loader::new(ds.clone(), Split::Train, 3, 1, 6, 5);
        let b = l.batch(3, &Device::Cpu).unwrap();
        for i in 0..6 {
            let video = ds
                .videos(Split::Train)
                .iter()
                .find(|v| v.id() == b.video_ids[i])
                .unwrap();
            let reference = values(&b.reference.get(i).unwrap());
            let matches: Vec<usize> = (0..video.frames())
                .filter(|&f| {
                    video
                        .rgb(f)
                        .iter()
                        .map(|v| *v as f32 / 127.5 - 1.0)
                        .eq(reference.iter().copied())
                })
                .collect();
            assert!(!matches.is_empty(), "reference {i} is a frame of its video");
            assert!(
                matches.iter().any(|f| !b.frame_idx[i].contains(&(*f as u32))),
                "reference {i} lies outside the clip"
            );
        }
    }

    #[test]
    fn fixed_batches_come_from_the_test_split_and_never_change() {
        let l = Loader::new(dataset(), Split::Train, 2, 1, 4, 11);
        let a = l.fixed_batch(1, &Device::Cpu).unwrap();
        let _ = l.batch(100, &Device::Cpu).unwrap();
        let b = l.fixed_batch(1, &Device::Cpu).unwrap();
        assert!(
            a.video_ids.iter().all(|v| *v >= 4),
            "test videos are 4 and 5: {:?}",
            a.video_ids
        );
        assert_eq!((a.video_ids, a.frame_idx), (b.video_ids, b.frame_idx));
        assert_eq!(values(&a.frames), values(&b.frames));
    }

    #[test]
    fn a_clip_longer_than_every_video_is_an_error() {
        let l = Loader::new(dataset(), Split::Train, 7, 2, 2, 0);
        let e = l.batch(0, &Device::Cpu).unwrap_err().to_string();
        assert!(
            e.contains("7 frames with stride 2") && e.contains("longest video: 12"),
            "{e}"
        );
    }
}

// ---- real-data import --------------------------------------------------------------------------

mod import {
    use super::*;
    use image::{Rgb, RgbImage};

    /// Colour of frame f of video v: distinct, flat, so resizing keeps it exactly.
    fn colour(v: usize, f: usize) -> [u8; 3] {
        [40 * v as u8 + 20, 30 * f as u8 + 10, 200]
    }

    /// FRAMES/<video>/<n>.png (video 2 as JPG) and POSES/<video>/<n>.png, 40x30 pixels.
    fn tree(dir: &Path, videos: usize, frames: usize) -> (PathBuf, PathBuf) {
        let (fr, po) = (dir.join("frames"), dir.join("poses"));
        for v in 0..videos {
            let name = format!("video_{}", v + 1);
            std::fs::create_dir_all(fr.join(&name)).unwrap();
            std::fs::create_dir_all(po.join(&name)).unwrap();
            for f in 0..frames {
                // Numbered 1, 2, ..., 10: must sort numerically.
                let stem = format!("{}", f + 1);
                let img = RgbImage::from_pixel(40, 30, Rgb(colour(v, f)));
                let ext = if v == 2 { "jpg" } else { "png" };
                img.save(fr.join(&name).join(format!("{stem}.{ext}"))).unwrap();
                let mut pose = RgbImage::new(40, 30);
                pose.put_pixel(20, 15, Rgb([255, 0, 0]));
                pose.save(po.join(&name).join(format!("{stem}.png"))).unwrap();
            }
        }
        (fr, po)
    }

    fn opts(dir: &Path, fr: PathBuf, po: PathBuf) -> ImportOptions {
        let root = dir.join("datasets");
        std::fs::create_dir_all(&root).unwrap();
        ImportOptions {
            frames: fr,
            poses: po,
            name: "real".into(),
            root,
            height: 16,
            width: 16,
            test_videos: Some(1),
            rows_per_shard: 8,
        }
    }

    #[test]
    fn a_frame_folder_tree_round_trips_into_shards() {
        let dir = tempfile::tempdir().unwrap();
        let (fr, po) = tree(dir.path(), 3, 11);
        let o = opts(dir.path(), fr, po);
        let out = import_frames(&o, &mut |_, _| {}).unwrap();
        let m = DatasetManifest::read(&out).unwrap();
        assert_eq!(
            (m.kind.as_str(), m.video_names.clone()),
            (
                "import",
                vec!["video_1".to_string(), "video_2".into(), "video_3".into()]
            )
        );
        assert_eq!(
            m.shards.len(),
            3,
            "2 train videos of 11 frames at 8 rows per shard, plus the test shard"
        );
        let ds = Dataset::open(&out).unwrap();
        assert_eq!(ds.resolution(), (16, 16));
        assert_eq!((ds.num_videos(Split::Train), ds.num_videos(Split::Test)), (2, 1));
        for (split, vi, v) in [(Split::Train, 0, 0), (Split::Train, 1, 1)] {
            let video = &ds.videos(split)[vi];
            assert_eq!(video.frames(), 11);
            assert!(video.keypoints(0).is_none() && video.mask(0).is_none());
            for f in [0, 1, 9, 10] {
                let rgb = video.rgb(f);
                let want = colour(v, f);
                assert_eq!(
                    [rgb[0], rgb[256], rgb[512]],
                    want,
                    "video {v} frame {f}: numeric order and colour kept"
                );
            }
        }
        // JPG frames decode too (lossy: close, not exact).
        let jpg = ds.videos(Split::Test)[0].rgb(3);
        let want = colour(2, 3);
        assert!(
            (0..3).all(|c| (jpg[c * 256] as i32 - want[c] as i32).abs() < 12),
            "{:?} vs {want:?}",
            [jpg[0], jpg[256], jpg[512]]
        );
        let b = Loader::new(Arc::new(ds), Split::Train, 4, 1, 2, 0)
            .batch(0, &Device::Cpu)
            .unwrap();
        assert_eq!(b.frames.dims(), &[2, 4, 3, 16, 16]);
        assert_eq!(entries(&o.root), ["real"]);
    }

    /// Runs an import that must fail; returns the message and checks nothing was left in the root.
    fn fails(dir: &Path, o: &ImportOptions) -> String {
        let e = import_frames(o, &mut |_, _| {}).unwrap_err();
        let _ = dir;
        assert!(entries(&o.root).is_empty(), "left behind: {:?}", entries(&o.root));
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "one line: {msg}");
        msg
    }

    #[test]
    fn a_corrupt_image_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (fr, po) = tree(dir.path(), 2, 4);
        std::fs::write(fr.join("video_2/3.png"), b"not a png at all").unwrap();
        let msg = fails(dir.path(), &opts(dir.path(), fr, po));
        assert!(msg.contains("video_2/3.png"), "{msg}");
    }

    #[test]
    fn a_truncated_image_found_while_writing_is_named_and_leaves_no_shard() {
        let dir = tempfile::tempdir().unwrap();
        let (fr, po) = tree(dir.path(), 3, 4);
        // The header (and size) are intact, the pixel data is cut: only decoding notices,
        // after the first shards were written to the staging folder.
        let path = po.join("video_3/4.png");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 30]).unwrap();
        let msg = fails(dir.path(), &opts(dir.path(), fr, po));
        assert!(msg.contains("video_3/4.png"), "{msg}");
    }

    #[test]
    fn a_frame_without_its_pose_image_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (fr, po) = tree(dir.path(), 2, 4);
        std::fs::remove_file(po.join("video_1/2.png")).unwrap();
        let msg = fails(dir.path(), &opts(dir.path(), fr, po));
        assert!(
            msg.contains("frames/video_1/2.png") && msg.contains("no pose image"),
            "{msg}"
        );
    }

    #[test]
    fn frames_of_mixed_sizes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (fr, po) = tree(dir.path(), 2, 4);
        RgbImage::new(41, 30).save(fr.join("video_2/3.png")).unwrap();
        let msg = fails(dir.path(), &opts(dir.path(), fr, po));
        assert!(
            msg.contains("video_2/3.png") && msg.contains("41x30") && msg.contains("40x30"),
            "{msg}"
        );
    }

    #[test]
    fn an_import_may_not_shadow_a_synthetic_profile() {
        let dir = tempfile::tempdir().unwrap();
        let (fr, po) = tree(dir.path(), 2, 2);
        let mut o = opts(dir.path(), fr, po);
        o.name = "tiktok".into();
        std::fs::write(o.root.join("tiktok.toml"), "").unwrap();
        let msg = import_frames(&o, &mut |_, _| {}).unwrap_err().to_string();
        assert!(msg.contains("tiktok.toml") && msg.contains("another name"), "{msg}");
        assert_eq!(entries(&o.root), ["tiktok.toml"]);
    }

    #[test]
    fn empty_folders_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (fr, po) = (dir.path().join("f"), dir.path().join("p"));
        std::fs::create_dir_all(&fr).unwrap();
        std::fs::create_dir_all(&po).unwrap();
        let msg = fails(dir.path(), &opts(dir.path(), fr.clone(), po.clone()));
        assert!(
            msg.contains(&*fr.to_string_lossy()) && msg.contains("empty folder"),
            "{msg}"
        );
        std::fs::create_dir_all(fr.join("v1")).unwrap();
        let msg = fails(dir.path(), &opts(dir.path(), fr.clone(), po));
        assert!(msg.contains("f/v1") && msg.contains("empty folder"), "{msg}");
    }
}

// ---- bad profiles and names ------------------------------------------------------------------

mod bad_profiles {
    use super::*;

    #[test]
    fn an_unknown_dataset_lists_the_available_ones() {
        let e = ensure_built(&shipped(), "tiktak").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DataError::UnknownDataset { .. }));
        assert!(
            msg.contains("tiktak.toml") && ["bilibili", "tiktok", "ubc-fashion"].iter().all(|n| msg.contains(n)),
            "{msg}"
        );
    }

    #[test]
    fn an_unknown_key_names_the_file_line_column_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with(dir.path(), "bad", "tiktok", "[motion]\ntempo = 3");
        let msg = ensure_built(&root, "bad").unwrap_err().to_string();
        let at = root.join("bad.toml:3:1: motion.tempo: unknown key, expected one of: ");
        assert!(msg.starts_with(&*at.to_string_lossy()), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        assert!(!root.join("bad").exists());
    }

    #[test]
    fn every_out_of_range_value_names_its_line_key_and_range() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with(dir.path(), "bad", "tiktok", "test_videos = 0\n[camera]\njitter = 0.9");
        let msg = ensure_built(&root, "bad").unwrap_err().to_string();
        let file = root.join("bad.toml");
        let file = file.display();
        assert_eq!(
            msg,
            format!(
                "{file}:2:1: test_videos: 0 is out of range, expected 1..48 (videos); \
                 {file}:4:1: camera.jitter: 0.9 is out of range, expected [0, 0.2]"
            )
        );
    }

    #[test]
    fn a_rule_broken_by_a_default_names_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let solo = dir.path().join("solo.toml");
        std::fs::write(&solo, "videos = 4\n").unwrap(); // test_videos stays at its default, 8
        let msg = ensure_built(dir.path(), "solo").unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{} (built-in default): test_videos: 8 is out of range, expected 1..4 (videos)",
                solo.display()
            )
        );
    }

    #[test]
    fn a_wrongly_typed_value_names_the_file_line_column_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with(dir.path(), "bad", "tiktok", "[scene]\nbackground = \"beach\"");
        let msg = ensure_built(&root, "bad").unwrap_err().to_string();
        let at = root.join("bad.toml:3:1: scene.background: ");
        assert!(
            msg.starts_with(&*at.to_string_lossy()) && msg.contains("beach"),
            "{msg}"
        );
    }

    #[test]
    fn a_syntax_error_names_the_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with(dir.path(), "bad", "tiktok", "[scene\nbackground = \"home\"");
        let msg = ensure_built(&root, "bad").unwrap_err().to_string();
        let at = root.join("bad.toml:2:");
        assert!(
            msg.starts_with(&*at.to_string_lossy()) && msg.contains("TOML syntax error"),
            "{msg}"
        );
    }

    #[test]
    fn a_missing_or_cyclic_base_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with(dir.path(), "bad", "tiktak", "");
        let msg = ensure_built(&root, "bad").unwrap_err().to_string();
        let (bad, base) = (root.join("bad.toml"), root.join("tiktak.toml"));
        assert_eq!(
            msg,
            format!("{}: extends: no dataset profile {}", bad.display(), base.display())
        );
        std::fs::write(root.join("loop.toml"), "extends = \"bad.toml\"\n").unwrap();
        std::fs::write(root.join("bad.toml"), "extends = \"loop.toml\"\n").unwrap();
        let msg = ensure_built(&root, "bad").unwrap_err().to_string();
        assert!(msg.contains("extends: cycle: ") && msg.contains("loop.toml"), "{msg}");
        std::fs::write(root.join("bad.toml"), "extends = 3\n").unwrap();
        let msg = ensure_built(&root, "bad").unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{}: extends: expected a string path to a base TOML file",
                root.join("bad.toml").display()
            )
        );
    }

    #[test]
    fn the_cli_prints_one_error_line_and_exits_2() {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_entprog"))
            .args(["data", "build", "nope", "--root"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: unknown dataset `nope`") && err.contains("nope.toml"),
            "{err}"
        );
    }

    #[test]
    fn an_error_deep_in_a_command_names_each_cause_once() {
        // `entprog rank` where no dataset is built: the scoring pass fails
        // on the data, through three error types that each show their source.
        let dir = tempfile::tempdir().unwrap();
        let experiment = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/foundation.toml");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_entprog"))
            .arg("rank")
            .arg(&experiment)
            .args(["--set", "model.preset=\"tiny\""])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(err.matches("unknown dataset `tiktok`").count(), 1, "{err}");
        assert!(err.contains("datasets/tiktok.toml"), "{err}");
    }
}

// ---- concurrency and the experiment config ---------------------------------------------------

mod sharing {
    use super::*;
    use entprog::data::DataConfig;

    #[test]
    fn concurrent_callers_build_once_and_all_get_the_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with(
            dir.path(),
            "c",
            "tiktok",
            "videos = 3\ntest_videos = 1\nframes_per_video = 6",
        );
        let hashes: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        DatasetManifest::read(&ensure_built(&root, "c").unwrap())
                            .unwrap()
                            .shards[0]
                            .sha256
                            .clone()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(hashes.windows(2).all(|w| w[0] == w[1]));
        let left: Vec<String> = entries(&root).into_iter().filter(|e| e.starts_with('.')).collect();
        assert!(left.is_empty(), "no lock or staging left: {left:?}");
    }

    #[test]
    fn the_data_section_opens_its_dataset_and_cuts_clips() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with(
            dir.path(),
            "d",
            "bilibili",
            "videos = 3\ntest_videos = 1\nframes_per_video = 9",
        );
        let cfg = DataConfig {
            dataset: "d".into(),
            root,
            clip_frames: 3,
            stride: 2,
            eval_batches: 1,
            mix: vec![],
        };
        let ds = cfg.open().unwrap();
        let b = cfg.loader(ds, Split::Test, 2, 0).batch(0, &Device::Cpu).unwrap();
        assert_eq!(b.frames.dims(), &[2, 3, 3, 32, 32]);
        assert!(b.video_ids.iter().all(|v| *v == 2));
    }
}

// ---- readers other than ours ----------------------------------------------------------------

mod interop {
    use super::*;
    use polars::prelude::*;

    #[test]
    fn polars_reads_a_shard() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with(
            dir.path(),
            "p",
            "tiktok",
            "videos = 2\ntest_videos = 1\nframes_per_video = 5",
        );
        let ds = ensure_built(&root, "p").unwrap();
        let file = std::fs::File::open(ds.join("data/train-00000-of-00001.parquet")).unwrap();
        let df = ParquetReader::new(file).finish().unwrap();
        assert_eq!(df.height(), 5);
        let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
        assert_eq!(names, ["video_id", "frame_idx", "image", "pose", "keypoints", "mask"]);
        assert_eq!(df.column("image").unwrap().dtype(), &DataType::Binary);
        assert_eq!(df.column("frame_idx").unwrap().u32().unwrap().get(4), Some(4));
    }
}

// ---- previews --------------------------------------------------------------------------------

mod preview {
    use super::*;
    use entprog::data::preview::{contact_sheet, write_gif, PreviewOptions};
    use image::AnimationDecoder;

    #[test]
    fn the_sheet_puts_frames_beside_their_pose_maps_and_the_gif_animates_a_clip() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with(
            dir.path(),
            "v",
            "ubc-fashion",
            "videos = 3\ntest_videos = 1\nframes_per_video = 6",
        );
        let ds = Dataset::open(&ensure_built(&root, "v").unwrap()).unwrap();
        let opts = PreviewOptions {
            videos: 2,
            frames: 3,
            scale: 2,
            ..PreviewOptions::default()
        };
        let sheet = contact_sheet(&ds, &opts).unwrap();
        // 3 cells of (64 + 1) * 2 + 4 pixels plus a 4 pixel border; 2 rows of 64 + 4.
        assert_eq!(sheet.dimensions(), (3 * 134 + 4, 2 * 68 + 4));
        // Top-left of the first pose panel is black (pose maps are drawn on black); the
        // frame beside it is not (a studio backdrop).
        assert_eq!(sheet.get_pixel(4 + 65, 4).0, [0, 0, 0]);
        assert!(sheet.get_pixel(4, 4).0.iter().all(|c| *c > 150));
        let gif = dir.path().join("clip.gif");
        write_gif(
            &ds,
            &PreviewOptions {
                videos: 1,
                frames: 0,
                ..opts
            },
            &gif,
        )
        .unwrap();
        let decoder =
            image::codecs::gif::GifDecoder::new(std::io::BufReader::new(std::fs::File::open(&gif).unwrap())).unwrap();
        let frames = decoder.into_frames().collect_frames().unwrap();
        assert_eq!(frames.len(), 6);
        assert_eq!(frames[0].buffer().dimensions(), (2 * 65 - 1, 64));
    }
}

mod versions {
    use super::*;

    #[test]
    fn a_dataset_written_in_another_format_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with(
            dir.path(),
            "o",
            "tiktok",
            "videos = 2\ntest_videos = 1\nframes_per_video = 3",
        );
        let ds = ensure_built(&root, "o").unwrap();
        let path = ds.join("manifest.json");
        let old = std::fs::read_to_string(&path)
            .unwrap()
            .replace(entprog::data::shards::FORMAT, "entprog-dataset-v0");
        std::fs::write(&path, old).unwrap();
        let msg = Dataset::open(&ds).unwrap_err().to_string();
        assert!(
            msg.contains("manifest.json") && msg.contains("entprog-dataset-v0"),
            "{msg}"
        );
        ensure_built(&root, "o").unwrap();
        assert_eq!(
            DatasetManifest::read(&ds).unwrap().format,
            entprog::data::shards::FORMAT
        );
    }
}

mod mixing {
    use super::*;
    use candle_core::Device;
    use entprog::data::{DataConfig, Split};

    #[test]
    fn a_mix_alternates_whole_batches_between_datasets_by_step() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with(dir.path(), "a", "tiktok", SMALL);
        std::fs::write(root.join("b.toml"), format!("extends = \"bilibili.toml\"\n{SMALL}\n")).unwrap();
        let cfg = DataConfig {
            dataset: "a".into(),
            mix: vec!["b".into()],
            root: root.clone(),
            ..DataConfig::default()
        };
        let mixed = cfg.mixed_loader(Split::Train, 2, 5).unwrap();
        assert_eq!(mixed.len(), 2);
        let single = DataConfig {
            mix: vec![],
            ..cfg.clone()
        }
        .mixed_loader(Split::Train, 2, 5)
        .unwrap();
        let dev = Device::Cpu;
        let ids = |b: entprog::data::Batch| b.frames.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        // Even steps are the first dataset's own steps 0, 1, ...; odd steps come from the other.
        assert_eq!(ids(mixed.batch(0, &dev).unwrap()), ids(single.batch(0, &dev).unwrap()));
        assert_eq!(ids(mixed.batch(2, &dev).unwrap()), ids(single.batch(1, &dev).unwrap()));
        assert_ne!(ids(mixed.batch(1, &dev).unwrap()), ids(single.batch(0, &dev).unwrap()));
        // A pure function of the step (resume draws the same batch).
        assert_eq!(ids(mixed.batch(3, &dev).unwrap()), ids(mixed.batch(3, &dev).unwrap()));
    }

    #[test]
    fn a_dataset_listed_twice_is_refused() {
        use entprog::config::Validate;
        let cfg = DataConfig {
            mix: vec!["tiktok".into()],
            ..DataConfig::default()
        };
        let mut out = Vec::new();
        cfg.validate("data", &mut out);
        assert_eq!(out[0].key, "data.mix");
        assert!(out[0].message.contains("listed twice"), "{}", out[0].message);
    }
}
