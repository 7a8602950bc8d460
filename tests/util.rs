//! Helpers shared by several test modules.

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::Tensor;

/// The shipped dataset profiles (`datasets/*.toml`).
pub fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets")
}

/// Writes `tiktok.toml` and `s.toml`, a 16x16 TikTok-profile dataset of 6
/// videos (3 test) of 8 frames, into `dir`; build it with `ensure_built(dir, "s")`.
pub fn write_small_tiktok(dir: &Path) {
    std::fs::copy(shipped().join("tiktok.toml"), dir.join("tiktok.toml")).unwrap();
    std::fs::write(
        dir.join("s.toml"),
        "extends = \"tiktok.toml\"\nheight = 16\nwidth = 16\nvideos = 6\ntest_videos = 3\nframes_per_video = 8\n",
    )
    .unwrap();
}

/// Largest absolute elementwise difference of two tensors of the same shape.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    a.sub(b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Set in the process that [`in_own_process`] starts (not `ENTPROG_*`: the
/// config loader reads those).
const OWN_PROCESS: &str = "TESTS_OWN_PROCESS";

/// Runs the test `name` (its path in this binary, `model::costs::...`) alone
/// in a fresh process of this binary, for tests that read the process-wide
/// allocation counters, which other tests running alongside would disturb.
/// Returns `true` in that process, where the caller goes on with its body;
/// in the calling process it checks that the test ran there and passed, and
/// returns `false`.
pub fn in_own_process(name: &str) -> bool {
    if std::env::var_os(OWN_PROCESS).is_some() {
        return true;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(OWN_PROCESS, "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprint!("{stderr}");
    assert!(out.status.success(), "{name} failed in its own process:\n{stdout}");
    assert!(
        stdout.contains("1 passed"),
        "{name}: no such test in this binary:\n{stdout}"
    );
    false
}
