//! Panels of lines with seed bands, or points with whiskers, in a grid.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::canvas::{range, render, text, ticker, Chart, PlotError, FAMILY};

/// Size of a panel figure (`panels`).
pub const PANEL_SIZE: (u32, u32) = (1200, 720);

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
    let (x0, x1, y0, y1) = extent(p);
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
        draw_series(&mut chart, s)?;
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

/// The x and y ranges of a panel's points and bands: `(x0, x1, y0, y1)`.
fn extent(p: &Panel) -> (f64, f64, f64, f64) {
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
    (x0, x1, y0, y1)
}

/// Draws one series with its band and its legend entry.
fn draw_series(chart: &mut Chart, s: &Series) -> Result<(), String> {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
