//! PNG plots with plotters: the few chart shapes the reports draw (panels
//! of lines with seed bands or points with whiskers, horizontal bars with
//! standard errors, a state map of blocks over training steps, and a sheet
//! of labelled images). Drawing only: what to plot comes from the Parquet
//! files (`figures.rs`).
//!
//! plotters draws into an RGB buffer (its bitmap backend, no encoder) and
//! `image` writes the PNG (temporary name, then renamed). Text is DejaVu
//! Sans, embedded in the binary (`fonts/DejaVuSans.ttf`, from matplotlib
//! 3.11.2's wheel on PyPI, `mpl-data/fonts/ttf/`; licence in
//! `fonts/LICENSE_DEJAVU`: the Bitstream Vera / DejaVu public licence,
//! which allows embedding and redistribution), rasterised by ab_glyph, so
//! no system fonts are read.

use std::path::{Path, PathBuf};
use std::sync::Once;

use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;

/// DejaVu Sans 2.37 (sha256 3fdf69ca...0d22), see the module docs.
static FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// The family every plot's text uses.
const FAMILY: &str = "sans-serif";

/// Size of a panel figure (`panels`).
pub const PANEL_SIZE: (u32, u32) = (1200, 720);
/// Width of a bar chart (`bar_chart`); its height grows with the bars.
pub const BAR_WIDTH: u32 = 720;
/// Size of a state map (`state_map`).
pub const STATE_SIZE: (u32, u32) = (1000, 520);

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
fn render(
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
fn canvas(
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

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Style {
    /// A line through the points, its band a shaded polygon.
    Line,
    /// Points, its band vertical whiskers.
    Points,
}

/// One series of a panel: points (x, y) and, per point, a band (x, lo, hi).
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub color: RGBColor,
    pub style: Style,
    pub points: Vec<(f64, f64)>,
    pub band: Vec<(f64, f64, f64)>,
}

/// One panel: axes titles and the series.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub series: Vec<Series>,
    /// Label only integer x values (a stage index).
    pub x_integer: bool,
}

/// `[lo, hi]` of `values` with a margin; a unit range around a lone value.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
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
fn ticker(lo: f64, hi: f64, integer: bool) -> impl Fn(&f64) -> String {
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

/// Writes `panels` in a grid of `cols` columns under `title` to `path` ([`PANEL_SIZE`]).
pub fn panels(path: &Path, title: &str, panels: &[Panel], cols: usize) -> Result<(), PlotError> {
    render(path, PANEL_SIZE, |root| {
        let area = root.titled(title, (FAMILY, 22)).map_err(text)?;
        let rows = panels.len().div_ceil(cols.max(1));
        for (panel, cell) in panels.iter().zip(area.split_evenly((rows.max(1), cols.max(1)))) {
            draw_panel(&cell, panel)?;
        }
        Ok(())
    })
}

fn draw_panel(area: &DrawingArea<BitMapBackend, Shift>, p: &Panel) -> Result<(), String> {
    let xs = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|q| q.0).chain(s.band.iter().map(|b| b.0)));
    let (x0, x1) = range(xs);
    let ys = p.series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|q| q.1)
            .chain(s.band.iter().flat_map(|b| [b.1, b.2]))
    });
    let (y0, y1) = range(ys);
    let (xt, yt) = (ticker(x0, x1, p.x_integer), ticker(y0, y1, false));
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FAMILY, 16))
        .margin(8)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_desc(p.x_desc.as_str())
        .y_desc(p.y_desc.as_str())
        .x_labels(5)
        .y_labels(6)
        .x_label_formatter(&xt)
        .y_label_formatter(&yt)
        .label_style((FAMILY, 12))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(text)?;
    if p.series.is_empty() {
        let style = TextStyle::from((FAMILY, 14).into_font()).color(&RGBColor(120, 120, 120));
        chart
            .draw_series(std::iter::once(Text::new(
                "no data",
                (x0 + 0.4 * (x1 - x0), 0.5 * (y0 + y1)),
                style,
            )))
            .map_err(text)?;
        return Ok(());
    }
    for s in &p.series {
        let c = s.color;
        match s.style {
            Style::Line => {
                if s.band.len() >= 2 {
                    let mut poly: Vec<(f64, f64)> = s.band.iter().map(|b| (b.0, b.2)).collect();
                    poly.extend(s.band.iter().rev().map(|b| (b.0, b.1)));
                    chart
                        .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.18).filled())))
                        .map_err(text)?;
                }
                chart
                    .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
                    .map_err(text)?
                    .label(s.label.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
            }
            Style::Points => {
                chart
                    .draw_series(
                        s.band
                            .iter()
                            .map(|&(x, lo, hi)| PathElement::new(vec![(x, lo), (x, hi)], c.stroke_width(2))),
                    )
                    .map_err(text)?;
                chart
                    .draw_series(s.points.iter().map(|&q| Circle::new(q, 4, c.filled())))
                    .map_err(text)?
                    .label(s.label.as_str())
                    .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
            }
        }
    }
    chart
        .configure_series_labels()
        .label_font((FAMILY, 12))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(text)?;
    Ok(())
}

/// One bar: label, value, optional standard error.
pub type Bar = (String, f64, Option<f64>);

/// Colour of a bar at or above zero.
pub const POSITIVE: RGBColor = RGBColor(70, 110, 180);
/// Colour of a bar below zero.
pub const NEGATIVE: RGBColor = RGBColor(200, 110, 70);

/// Height of a bar chart of `n` bars.
pub fn bar_height(n: usize) -> u32 {
    120 + 22 * n as u32
}

/// Writes a horizontal bar chart of `bars` (top to bottom as given) with a
/// zero line and +-1 standard-error whiskers to `path` ([`BAR_WIDTH`] x [`bar_height`]).
pub fn bar_chart(path: &Path, title: &str, bars: &[Bar]) -> Result<(), PlotError> {
    let n = bars.len();
    render(path, (BAR_WIDTH, bar_height(n)), |root| {
        let (lo, hi) = range(
            bars.iter()
                .flat_map(|b| {
                    let se = b.2.filter(|s| s.is_finite()).unwrap_or(0.0);
                    [b.1 - se, b.1 + se]
                })
                .chain([0.0]),
        );
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        let xt = ticker(lo, hi, false);
        // Row i of the list sits at y = n - 1 - i (the first on top).
        let label_of = |y: &f64| {
            let r = y.round();
            if (y - r).abs() < 1e-6 && r >= 0.0 && (r as usize) < n {
                labels[n - 1 - r as usize].clone()
            } else {
                String::new()
            }
        };
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FAMILY, 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(110)
            .build_cartesian_2d(lo..hi, -0.6..(n as f64 - 0.4))
            .map_err(text)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n.max(1) * 2 + 1)
            .y_label_formatter(&label_of)
            .x_labels(6)
            .x_label_formatter(&xt)
            .label_style((FAMILY, 12))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(text)?;
        for (i, (_, v, se)) in bars.iter().enumerate() {
            if !v.is_finite() {
                continue;
            }
            let y = (n - 1 - i) as f64;
            let color = if *v >= 0.0 { POSITIVE } else { NEGATIVE };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y - 0.35), (*v, y + 0.35)],
                    color.filled(),
                )))
                .map_err(text)?;
            if let Some(se) = se.filter(|s| s.is_finite() && *s > 0.0) {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(v - se, y), (v + se, y)],
                        BLACK.stroke_width(1),
                    )))
                    .map_err(text)?;
            }
        }
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, -0.6), (0.0, n as f64 - 0.4)],
                RGBColor(60, 60, 60).stroke_width(1),
            )))
            .map_err(text)?;
        Ok(())
    })
}

/// A state map: one row per label (top to bottom as given), and per row
/// spans `(from, to, state)` of x coloured by `legend[state]`.
pub struct StateMap {
    pub title: String,
    pub x_desc: String,
    pub rows: Vec<String>,
    pub spans: Vec<Vec<(f64, f64, usize)>>,
    pub legend: Vec<(String, RGBColor)>,
}

/// Writes `map` to `path` ([`STATE_SIZE`]).
pub fn state_map(path: &Path, map: &StateMap) -> Result<(), PlotError> {
    let n = map.rows.len();
    render(path, STATE_SIZE, |root| {
        let x1 = map.spans.iter().flatten().map(|s| s.1).fold(1.0, f64::max);
        let label_of = |y: &f64| {
            let r = y.round();
            if (y - r).abs() < 1e-6 && r >= 0.0 && (r as usize) < n {
                map.rows[n - 1 - r as usize].clone()
            } else {
                String::new()
            }
        };
        let mut chart = ChartBuilder::on(root)
            .caption(&map.title, (FAMILY, 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(110)
            .build_cartesian_2d(0.0..x1, -0.5..(n as f64 - 0.5))
            .map_err(text)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(map.x_desc.as_str())
            .y_labels(n.max(1) * 2 + 1)
            .y_label_formatter(&label_of)
            .x_label_formatter(&ticker(0.0, x1, x1 >= 10.0))
            .label_style((FAMILY, 12))
            .draw()
            .map_err(text)?;
        for (i, spans) in map.spans.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            chart
                .draw_series(spans.iter().map(|&(a, b, s)| {
                    let c = map.legend.get(s).map_or(BLACK, |l| l.1);
                    Rectangle::new([(a, y - 0.42), (b, y + 0.42)], c.filled())
                }))
                .map_err(text)?;
        }
        // The legend: a swatch and name per state, drawn as series labels.
        for (name, c) in &map.legend {
            let c = *c;
            chart
                .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                .map_err(text)?
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled()));
        }
        chart
            .configure_series_labels()
            .label_font((FAMILY, 12))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(180, 180, 180))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(text)?;
        Ok(())
    })
}

/// Height of the label strip above each image of a sheet.
pub const SHEET_LABEL: u32 = 28;

/// The size of a sheet of `images` scaled by `scale`.
pub fn sheet_size(images: &[(String, RgbImage)], scale: u32) -> (u32, u32) {
    let w = images.iter().map(|i| i.1.width() * scale).max().unwrap_or(1);
    let h = images.iter().map(|i| i.1.height() * scale + SHEET_LABEL).sum::<u32>();
    (w.max(1), h.max(1))
}

/// The nearest-neighbour factor that makes the widest image at least `width` pixels.
pub fn sheet_scale(images: &[(String, RgbImage)], width: u32) -> u32 {
    let w = images.iter().map(|i| i.1.width()).max().unwrap_or(1).max(1);
    width.div_ceil(w).clamp(1, 8)
}

/// Writes `images` one under the other, each scaled by `scale` (nearest
/// neighbour) under its label, to `path` ([`sheet_size`]).
pub fn sheet(path: &Path, images: &[(String, RgbImage)], scale: u32) -> Result<(), PlotError> {
    let size = sheet_size(images, scale);
    // The labels with plotters, then the images copied in below each.
    let mut out = canvas(size, |root| {
        let mut y = 0i32;
        for (label, img) in images {
            let style = TextStyle::from((FAMILY, 16).into_font()).color(&BLACK);
            root.draw_text(label, &style, (6, y + 5)).map_err(text)?;
            y += (SHEET_LABEL + img.height() * scale) as i32;
        }
        Ok(())
    })
    .map_err(|message| PlotError {
        path: path.to_path_buf(),
        message,
    })?;
    let mut y = 0;
    for (_, img) in images {
        y += SHEET_LABEL;
        for py in 0..img.height() * scale {
            for px in 0..img.width() * scale {
                out.put_pixel(px, y + py, *img.get_pixel(px / scale, py / scale));
            }
        }
        y += img.height() * scale;
    }
    save(path, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns_of(img: &RgbImage, c: RGBColor) -> Vec<u32> {
        let mut xs: Vec<u32> = img
            .enumerate_pixels()
            .filter(|(_, _, p)| p.0 == [c.0, c.1, c.2])
            .map(|(x, _, _)| x)
            .collect();
        xs.sort();
        xs.dedup();
        xs
    }

    #[test]
    fn bars_are_drawn_on_the_right_side_of_zero_in_proportion() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        let bars = vec![("a".to_string(), 1.0, Some(0.1)), ("b".to_string(), -0.5, None)];
        bar_chart(&path, "test", &bars).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (BAR_WIDTH, bar_height(2)));
        let (pos, neg) = (columns_of(&img, POSITIVE), columns_of(&img, NEGATIVE));
        assert!(!pos.is_empty() && !neg.is_empty());
        assert!(
            neg.iter().max() < pos.iter().min(),
            "negative bar left of the positive one"
        );
        // Bar lengths in proportion: 1.0 against 0.5.
        let ratio = pos.len() as f64 / neg.len() as f64;
        assert!((ratio - 2.0).abs() < 0.1, "{ratio}");
    }

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

    #[test]
    fn the_embedded_font_draws_text() {
        // A panel with only a title and axes: the title's glyphs are dark
        // pixels in the top strip, which only a loaded font can draw.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.png");
        panels(&path, "Held-out loss", &[Panel::default()], 1).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), PANEL_SIZE);
        let dark = (0..img.width())
            .flat_map(|x| (0..24).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&v| v < 100))
            .count();
        assert!(dark > 50, "{dark} dark pixels in the title strip");
    }

    #[test]
    fn a_sheet_stacks_scaled_images_under_their_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.png");
        let red = RgbImage::from_pixel(4, 2, image::Rgb([255, 0, 0]));
        let images = vec![("a".to_string(), red.clone()), ("b".to_string(), red)];
        let scale = sheet_scale(&images, 16);
        assert_eq!(scale, 4);
        sheet(&path, &images, scale).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (16, 2 * (8 + SHEET_LABEL)));
        assert_eq!(img.get_pixel(15, SHEET_LABEL + 7).0, [255, 0, 0]);
    }
}
