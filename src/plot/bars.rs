//! Horizontal bar charts with a zero line and standard-error whiskers.

use std::path::Path;

use plotters::prelude::*;

use super::canvas::{range, render, row_label, text, ticker, Chart, PlotError, FAMILY};

/// Width of a bar chart (`bar_chart`); its height grows with the bars.
pub const BAR_WIDTH: u32 = 720;

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
        let (lo, hi) = value_range(bars);
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        let xt = ticker(lo, hi, false);
        let label_of = |y: &f64| row_label(&labels, y);
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
        draw_bars(&mut chart, bars)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, -0.6), (0.0, n as f64 - 0.4)],
                RGBColor(60, 60, 60).stroke_width(1),
            )))
            .map_err(text)?;
        Ok(())
    })
}

/// The x range of `bars`: their values +- their standard errors, and zero.
fn value_range(bars: &[Bar]) -> (f64, f64) {
    range(
        bars.iter()
            .flat_map(|b| {
                let se = b.2.filter(|s| s.is_finite()).unwrap_or(0.0);
                [b.1 - se, b.1 + se]
            })
            .chain([0.0]),
    )
}

/// Draws each finite bar (row i at y = n - 1 - i) and its whisker.
fn draw_bars(chart: &mut Chart, bars: &[Bar]) -> Result<(), String> {
    let n = bars.len();
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

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
}
