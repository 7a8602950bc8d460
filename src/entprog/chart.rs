//! PNG bar charts of block scores (`entprog cei` writes `cei.png`): one
//! horizontal bar per block in rank order, a zero line (CEI can be
//! negative), and a +-1 standard-error whisker where the scorer has one.
//! Text comes from embedded-graphics' built-in bitmap font, drawn into an
//! `image` buffer, so no font files or system fonts are needed.

use std::path::Path;

use embedded_graphics::mono_font::{ascii::FONT_6X10, MonoTextStyle};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Line, PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Alignment, Baseline, Text, TextStyleBuilder};
use image::{Rgb, RgbImage};

/// An `image` buffer as an embedded-graphics draw target.
struct Canvas(RgbImage);

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.0.width(), self.0.height())
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = std::convert::Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(&mut self, pixels: I) -> Result<(), Self::Error> {
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.y >= 0 && (p.x as u32) < self.0.width() && (p.y as u32) < self.0.height() {
                self.0.put_pixel(p.x as u32, p.y as u32, Rgb([c.r(), c.g(), c.b()]));
            }
        }
        Ok(())
    }
}

/// One bar: label, value, optional standard error.
pub type Bar = (String, f64, Option<f64>);

const ROW: i32 = 14;
const LABEL_W: i32 = 96;
const PLOT_W: i32 = 420;
const VALUE_W: i32 = 80;

/// Writes a horizontal bar chart of `bars` (drawn top to bottom as given) to `path`.
pub fn bar_chart(path: &Path, title: &str, bars: &[Bar]) -> Result<(), image::ImageError> {
    let top = 30;
    let height = (top + ROW * bars.len() as i32 + 24) as u32;
    let width = (LABEL_W + PLOT_W + VALUE_W + 16) as u32;
    let mut c = Canvas(RgbImage::from_pixel(width, height, Rgb([255, 255, 255])));
    let text = MonoTextStyle::new(&FONT_6X10, Rgb888::BLACK);
    let grey = MonoTextStyle::new(&FONT_6X10, Rgb888::new(90, 90, 90));
    let left = TextStyleBuilder::new().baseline(Baseline::Middle).build();
    let right = TextStyleBuilder::new()
        .baseline(Baseline::Middle)
        .alignment(Alignment::Right)
        .build();
    let _ = Text::with_baseline(title, Point::new(8, 10), text, Baseline::Middle).draw(&mut c);

    let ext = |b: &Bar| b.1.abs() + b.2.unwrap_or(0.0).abs();
    let lo = bars
        .iter()
        .map(|b| (b.1 - b.2.unwrap_or(0.0)).min(0.0))
        .fold(0.0, f64::min);
    let hi = bars
        .iter()
        .map(|b| (b.1 + b.2.unwrap_or(0.0)).max(0.0))
        .fold(0.0, f64::max);
    let span = if hi - lo > 0.0 {
        hi - lo
    } else {
        bars.iter().map(ext).fold(1.0, f64::max)
    };
    let x0 = LABEL_W + 8;
    let px = |v: f64| x0 + ((v - lo) / span * PLOT_W as f64).round() as i32;
    let zero = px(0.0);
    let bar_style = PrimitiveStyle::with_fill(Rgb888::new(70, 110, 180));
    let neg_style = PrimitiveStyle::with_fill(Rgb888::new(200, 110, 70));
    let whisker = PrimitiveStyle::with_stroke(Rgb888::BLACK, 1);
    for (i, (label, v, se)) in bars.iter().enumerate() {
        let y = top + ROW * i as i32;
        let mid = y + ROW / 2;
        let _ = Text::with_text_style(label, Point::new(LABEL_W, mid), text, right).draw(&mut c);
        if v.is_finite() {
            let (a, b) = if *v >= 0.0 { (zero, px(*v)) } else { (px(*v), zero) };
            let style = if *v >= 0.0 { bar_style } else { neg_style };
            let _ = Rectangle::new(Point::new(a, y + 2), Size::new((b - a).max(1) as u32, (ROW - 4) as u32))
                .into_styled(style)
                .draw(&mut c);
            if let Some(se) = se.filter(|s| s.is_finite() && *s > 0.0) {
                let _ = Line::new(Point::new(px(v - se), mid), Point::new(px(v + se), mid))
                    .into_styled(whisker)
                    .draw(&mut c);
            }
        }
        let _ = Text::with_text_style(&format!("{v:.4}"), Point::new(x0 + PLOT_W + 8, mid), grey, left).draw(&mut c);
    }
    let axis = PrimitiveStyle::with_stroke(Rgb888::new(60, 60, 60), 1);
    let bottom = top + ROW * bars.len() as i32;
    let _ = Line::new(Point::new(zero, top - 2), Point::new(zero, bottom + 2))
        .into_styled(axis)
        .draw(&mut c);
    let mut labelled: Vec<i32> = Vec::new();
    for v in [0.0, lo, hi] {
        // Skip a tick label that would overlap one already drawn.
        if labelled.iter().any(|&x| (x - px(v)).abs() < 48) {
            continue;
        }
        labelled.push(px(v));
        let _ = Text::with_text_style(
            &format!("{v:.3}"),
            Point::new(px(v), bottom + 12),
            grey,
            TextStyleBuilder::new()
                .baseline(Baseline::Middle)
                .alignment(Alignment::Center)
                .build(),
        )
        .draw(&mut c);
    }
    let tmp = path.with_extension("png.tmp");
    c.0.save_with_format(&tmp, image::ImageFormat::Png)?;
    std::fs::rename(&tmp, path).map_err(image::ImageError::IoError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_drawn_on_the_right_side_of_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        let bars = vec![("a".to_string(), 1.0, Some(0.1)), ("b".to_string(), -0.5, None)];
        bar_chart(&path, "test", &bars).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        let blue = Rgb([70, 110, 180]);
        let orange = Rgb([200, 110, 70]);
        let row = |i: u32| 30 + 14 * i + 7;
        let cols = |r: u32, c: Rgb<u8>| {
            (0..img.width())
                .filter(|&x| *img.get_pixel(x, r) == c)
                .collect::<Vec<_>>()
        };
        let (pos, neg) = (cols(row(0) - 3, blue), cols(row(1) - 3, orange));
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
