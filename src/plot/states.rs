//! State maps: labelled rows of coloured spans (blocks over training steps).

use std::path::Path;

use plotters::prelude::*;

use super::canvas::{render, row_label, text, ticker, Chart, PlotError, FAMILY};

/// Size of a state map (`state_map`).
pub const STATE_SIZE: (u32, u32) = (1000, 520);

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
        let label_of = |y: &f64| row_label(&map.rows, y);
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
        draw_spans(&mut chart, map)?;
        draw_legend(&mut chart, map)
    })
}

/// Each row's spans, coloured by state (row i at y = n - 1 - i).
fn draw_spans(chart: &mut Chart, map: &StateMap) -> Result<(), String> {
    let n = map.rows.len();
    for (i, spans) in map.spans.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        chart
            .draw_series(spans.iter().map(|&(a, b, s)| {
                let c = map.legend.get(s).map_or(BLACK, |l| l.1);
                Rectangle::new([(a, y - 0.42), (b, y + 0.42)], c.filled())
            }))
            .map_err(text)?;
    }
    Ok(())
}

/// The legend: a swatch and name per state, drawn as series labels.
fn draw_legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, map: &StateMap) -> Result<(), String> {
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
}
