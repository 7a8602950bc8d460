//! The drawing surface every plot shares: the embedded font (see the
//! module docs of `plot`), a white canvas drawn by plotters into an RGB
//! buffer, PNG encoding with `image`, and the axis ranges and tick labels.

use std::path::{Path, PathBuf};
use std::sync::Once;

use image::RgbImage;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// DejaVu Sans 2.37 (sha256 3fdf69ca...0d22), see the docs of `plot`.
static FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// The family every plot's text uses.
pub(super) const FAMILY: &str = "sans-serif";

/// A chart with f64 axes on the bitmap.
pub(super) type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Why a plot could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PlotError {
    pub path: PathBuf,
    pub message: String,
}

/// Series colours (matplotlib's tab10, in order).
pub const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn register_font() {
    REGISTER.call_once(|| {
        // The embedded file is a valid TrueType font (tested); a failure
        // here would show as missing text, never as a crash.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Draws into a white `size` canvas with `draw` and writes it to `path` as PNG.
pub(super) fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<(), String>,
) -> Result<(), PlotError> {
    let fail = |message: String| PlotError {
        path: path.to_path_buf(),
        message,
    };
    let img = canvas(size, draw).map_err(fail)?;
    save(path, &img)
}

/// Draws into a white `size` canvas with `draw`.
pub(super) fn canvas(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<(), String>,
) -> Result<RgbImage, String> {
    register_font();
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(text)?;
        draw(&root)?;
        root.present().map_err(text)?;
    }
    RgbImage::from_raw(size.0, size.1, buf).ok_or_else(|| "buffer size".to_string())
}

/// Writes `img` to `path` as PNG (a temporary name, then renamed).
pub fn save(path: &Path, img: &RgbImage) -> Result<(), PlotError> {
    let fail = |message: String| PlotError {
        path: path.to_path_buf(),
        message,
    };
    let tmp = path.with_extension("png.tmp");
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| fail(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| fail(e.to_string()))
}

pub(super) fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `[lo, hi]` of `values` with a margin; a unit range around a lone value.
pub(super) fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        0.06 * (hi - lo)
    } else {
        lo.abs().max(1e-12) * 0.1
    };
    (lo - pad, hi + pad)
}

/// Tick labels for an axis over `[lo, hi]` with about five ticks: as many
/// digits as the tick spacing needs (`0.0182`, `350`), scientific beyond
/// [1e-3, 1e5) (`1.21e10`, `2.5e-13`); `integer` labels integers only.
pub(super) fn ticker(lo: f64, hi: f64, integer: bool) -> impl Fn(&f64) -> String {
    let step = ((hi - lo) / 5.0).abs().max(1e-300);
    let top = lo.abs().max(hi.abs()).max(1e-300);
    move |v: &f64| {
        let v = *v;
        if integer {
            return if (v - v.round()).abs() < 1e-9 {
                format!("{}", v.round())
            } else {
                String::new()
            };
        }
        let a = v.abs();
        if a < step * 1e-6 {
            "0".into()
        } else if !(1e-3..1e5).contains(&top) {
            // `+ 1e-9`: a spacing of exactly 1e-4 must not read as 9.99e-5.
            let sig = ((top.log10().floor() - (step.log10() + 1e-9).floor()) as i64 + 1).clamp(1, 6) as usize;
            format!("{v:.*e}", sig - 1)
        } else {
            let d = (-(step.log10() + 1e-9).floor()).clamp(0.0, 8.0) as usize;
            format!("{v:.d$}")
        }
    }
}

/// The label of tick `y` on an axis of `rows` labelled rows: row i of the
/// list sits at y = n - 1 - i (the first on top); none between rows.
pub(super) fn row_label(rows: &[String], y: &f64) -> String {
    let n = rows.len();
    let r = y.round();
    if (y - r).abs() < 1e-6 && r >= 0.0 && (r as usize) < n {
        rows[n - 1 - r as usize].clone()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_carry_the_digits_their_spacing_needs() {
        let t = ticker(0.0181, 0.0186, false);
        assert_eq!((t(&0.0182), t(&0.0183)), ("0.0182".to_string(), "0.0183".to_string()));
        let t = ticker(1.18e10, 1.31e10, false);
        assert_eq!(t(&1.2e10), "1.20e10");
        assert_eq!(ticker(0.0, 40.0, false)(&5.0), "5");
        let k = ticker(-0.1, 1.1, true);
        assert_eq!((k(&1.0), k(&0.5)), ("1".to_string(), String::new()));
    }
}
