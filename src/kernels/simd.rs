//! Vectorisable scalar maths and CPU feature dispatch for the fused kernels.
//!
//! Written by hand because `f32::exp`/`tanh` call libm one value at a time,
//! which is what makes candle's CPU elementwise ops slow (~2 ms per million
//! `exp`); no crate in our set offers branch-free f32 approximations that
//! LLVM can vectorise. [`exp`] is Cephes' `expf` polynomial with round-to-
//! nearest done by the 1.5 * 2^23 trick (SSE2 has no vector round), accurate
//! to about 2 ulp on [-87, 88].

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23

/// e^x, branch-free; inputs are clamped to [-87, 88] (results below 1.7e-38
/// flush towards that bound, which softmax and GELU never notice).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // 2^n from the integer n held in the low mantissa bits of `shifted`
    // (integer ops only: `n as i32` would be a saturating conversion, which
    // keeps LLVM from vectorising the callers' loops).
    let scale = f32::from_bits(shifted.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23);
    er * scale
}

/// tanh(x) = 1 - 2 / (e^{2x} + 1), absolute error below 1e-6.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// erf(x) by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7),
/// branch-free: the sign is restored by multiplying with +-1.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let sign = if x < 0.0 { -1.0f32 } else { 1.0 };
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    sign * (1.0 - poly * exp(-a * a))
}

/// Defines `$name(args)` that runs `$body(args)` compiled for AVX2+FMA when
/// the CPU has them (checked once and cached by std), and the baseline build
/// otherwise. The body must be `#[inline(always)]` so it is compiled inside
/// each variant.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) => $body:path) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the features `avx2` enables were just detected on this CPU.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

#[cfg(test)]
mod tests {
    #[test]
    fn exp_matches_std_to_a_few_ulp() {
        let mut worst = 0f32;
        let mut x = -80.0f32;
        while x < 80.0 {
            let (a, b) = (super::exp(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
    }

    #[test]
    fn erf_matches_a_series_reference() {
        // Reference values: python3 -c "import math; print([math.erf(x) for x in (-2.5, -0.7, 0.0, 0.3, 1.0, 3.0)])"
        let want = [
            -0.999_593_047_982_555,
            -0.677_801_193_837_418_5,
            0.0,
            0.328_626_759_459_127_4,
            0.842_700_792_949_714_9,
            0.999_977_909_503_001_4,
        ];
        for (x, w) in [-2.5f32, -0.7, 0.0, 0.3, 1.0, 3.0].iter().zip(want) {
            assert!((super::erf(*x) as f64 - w).abs() < 3e-7, "erf({x})");
        }
    }

    #[test]
    fn tanh_matches_std() {
        let mut x = -12.0f32;
        while x < 12.0 {
            assert!((super::tanh(x) - x.tanh()).abs() < 1e-6, "{x}");
            x += 0.001;
        }
    }
}
