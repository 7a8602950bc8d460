//! Sheets of labelled images, one under the other (the sample sheets).

use std::path::Path;

use image::RgbImage;
use plotters::prelude::*;

use super::canvas::{canvas, save, text, PlotError, FAMILY};

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
