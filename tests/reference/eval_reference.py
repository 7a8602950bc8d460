"""Reference values for tests/eval.rs (frame metrics and the Frechet distance).

Run once, from the repository root, with numpy 2.4.6, scipy 1.17.1,
scikit-image 0.26.0 and opencv-python-headless 5.0.0:

    python3 tests/reference/eval_reference.py

It writes three fixed truth/pred pairs of 24x20 RGB PNGs (numpy seed 12)
under tests/reference/frames/{truth,pred}/ (skipped if they exist: the PNGs
are committed, and the numbers below are computed from the files on disk)
and prints, per pair and averaged over the pairs:

- ssim: skimage structural_similarity(truth, pred, gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=2) on
  RGB in [0, 1];
- ssim_disco, psnr_disco: DisCo's tool/metrics/ssim_l1_lpips_psnr.py
  (github.com/Wangt-CN/DisCo) on cv2.imread (BGR uint8) frames; psnr_disco is
  psnr_eval as of its first commit 4772790 (uint8 subtraction, wraps);
- psnr: skimage peak_signal_noise_ratio(truth, pred, data_range=1);
- l1: mean absolute difference in [0, 1];

then Frechet distances (pytorch-fid's formula with scipy.linalg.sqrtm) between
the feature sets of `features()` below, which tests/eval.rs rebuilds with the
same formula.
"""

import os

import cv2
import numpy as np
import scipy.linalg
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

HERE = os.path.dirname(os.path.abspath(__file__))
FRAMES = os.path.join(HERE, "frames")
H, W = 20, 24


def write_frames():
    rng = np.random.default_rng(12)
    y, x = np.mgrid[0:H, 0:W]
    for k in range(3):
        base = np.stack(
            [
                128 + 90 * np.sin(x / (3.0 + k) + c) * np.cos(y / (4.0 + c))
                for c in range(3)
            ],
            axis=2,
        )
        truth = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).round()
        if k == 0:  # mild noise
            pred = truth + rng.normal(0, 8, base.shape)
        elif k == 1:  # shifted two pixels right, then noise
            pred = np.roll(truth, 2, axis=1) + rng.normal(0, 4, base.shape)
        else:  # heavy noise, an inverted band, an exact copy band
            pred = truth + rng.normal(0, 40, base.shape)
            pred[5:9] = 255 - truth[5:9]
            pred[12:15] = truth[12:15]
        pred = np.clip(pred, 0, 255).round()
        for name, img in (("truth", truth), ("pred", pred)):
            os.makedirs(os.path.join(FRAMES, name), exist_ok=True)
            rgb = img.astype(np.uint8)
            cv2.imwrite(os.path.join(FRAMES, name, f"{k}.png"), rgb[..., ::-1])


# DisCo tool/metrics/ssim_l1_lpips_psnr.py @ 4772790 (2023-06-21), psnr_eval:
def psnr_eval_4772790(original, compressed):
    mse = np.mean((original - compressed) ** 2)
    if mse == 0:
        return 100
    return 20 * np.log10(255.0 / np.sqrt(mse))


def frame_metrics(k):
    bgr_t = cv2.imread(os.path.join(FRAMES, "truth", f"{k}.png"))
    bgr_p = cv2.imread(os.path.join(FRAMES, "pred", f"{k}.png"))
    t = bgr_t[..., ::-1].astype(np.float64) / 255
    p = bgr_p[..., ::-1].astype(np.float64) / 255
    ssim = structural_similarity(
        t, p, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=2
    )
    # DisCo: ssim_eval(image1_gray, image2_gray, full=True) with image1 = gen.
    ssim_disco, _ = structural_similarity(
        cv2.cvtColor(bgr_p, cv2.COLOR_BGR2GRAY), cv2.cvtColor(bgr_t, cv2.COLOR_BGR2GRAY), full=True
    )
    psnr = peak_signal_noise_ratio(t, p, data_range=1)
    psnr_disco = psnr_eval_4772790(bgr_p, bgr_t)
    l1 = np.mean(np.abs(t - p))
    return dict(ssim=ssim, ssim_disco=ssim_disco, psnr=psnr, psnr_disco=psnr_disco, l1=l1)


def check_gray_formula():
    """cv2 BGR2GRAY on uint8 equals (9798 R + 19235 G + 3735 B + 16384) >> 15 for all 2^24 colours.

    OpenCV's RGB2Gray<uchar> (modules/imgproc/src/color_rgb.simd.hpp: RY15,
    GY15, BY15, gray_shift = 15). OpenCV 2.x-3.x used 14-bit weights
    (4899, 9617, 1868), which differ by 1 on 43,864 colours.
    """
    v = np.arange(1 << 24, dtype=np.uint32)
    r, g, b = (v >> 16) & 255, (v >> 8) & 255, v & 255
    bgr = np.stack([b, g, r], axis=1).astype(np.uint8).reshape(4096, 4096, 3)
    ours = ((9798 * r + 19235 * g + 3735 * b + 16384) >> 15).reshape(4096, 4096)
    assert (cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) == ours).all()
    print("cv2 BGR2GRAY == (9798 R + 19235 G + 3735 B + 16384) >> 15 on all 2^24 colours")


def features(n, d, a, b):
    """x[i, j] = sin(a (i + 1) (j + 1) + 0.11 j) + 0.3 cos(b i - 0.5 j^2) + 0.05 j i / n."""
    i, j = np.mgrid[0:n, 0:d].astype(np.float64)
    return np.sin(a * (i + 1) * (j + 1) + 0.11 * j) + 0.3 * np.cos(b * i - 0.5 * j * j) + 0.05 * j * i / n


def frechet(x, y):
    """pytorch-fid calculate_frechet_distance (without its disp=False, deprecated in scipy 1.17) on np.mean / np.cov(rowvar=False) statistics."""
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real)


if __name__ == "__main__":
    if not os.path.exists(os.path.join(FRAMES, "pred", "2.png")):
        write_frames()
    check_gray_formula()
    rows = [frame_metrics(k) for k in range(3)]
    for k, r in enumerate(rows):
        print(f"pair {k}: " + ", ".join(f"{m} = {float(v)!r}" for m, v in r.items()))
    print("mean:   " + ", ".join(f"{m} = {float(np.mean([r[m] for r in rows]))!r}" for m in rows[0]))
    x, y = features(40, 6, 0.37, 1.7), features(40, 6, 0.23, 0.9)
    print(f"fd(x, y) 40x6 = {float(frechet(x, y))!r}")
    print(f"fd(y, x) 40x6 = {float(frechet(y, x))!r}")
    print(f"fd(x, x) 40x6 = {float(frechet(x, x))!r}")
    print(f"eigvals cov(x) = {np.linalg.eigvalsh(np.cov(x, rowvar=False))!r}")
    print(f"eigvals cov(y) = {np.linalg.eigvalsh(np.cov(y, rowvar=False))!r}")
    xs, ys = features(5, 6, 0.37, 1.7), features(4, 6, 0.23, 0.9)
    print(f"fd(x, y) 5x6 vs 4x6 = {float(frechet(xs, ys))!r}")
