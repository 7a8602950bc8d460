//! Looking at a dataset: a contact sheet (rows = videos, columns = frames
//! spread over each video, each frame beside its pose map and optionally its
//! mask) and an animated GIF of one clip. Both are upscaled with nearest
//! neighbour so a 32x32 dataset is visible.

use std::path::Path;

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, Rgb, RgbImage, RgbaImage};

use super::dataset::{Dataset, Split, Video};
use super::error::DataError;

/// What a preview shows.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewOptions {
    /// Split to draw videos from.
    pub split: Split,
    /// Videos (rows of the sheet), from the first of the split; for a GIF, the index of the one video.
    pub videos: usize,
    /// Frames per video (columns of the sheet; the GIF takes the first `frames` frames, 0 = all).
    pub frames: usize,
    /// Upscaling factor (0 = automatic: cells at least 128 pixels tall).
    pub scale: usize,
    /// Also show the person mask.
    pub mask: bool,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        Self {
            split: Split::Train,
            videos: 6,
            frames: 8,
            scale: 0,
            mask: false,
        }
    }
}

fn scale_for(opts: &PreviewOptions, h: usize) -> usize {
    if opts.scale > 0 {
        opts.scale
    } else {
        (128 / h).max(1)
    }
}

/// Copies a planar `[3, h, w]` (or grey `[h, w]`) image into `img` at (x, y), scaled by `s`.
fn blit(img: &mut RgbImage, src: &[u8], grey: bool, (h, w): (usize, usize), x: usize, y: usize, s: usize) {
    let plane = h * w;
    for j in 0..h * s {
        for i in 0..w * s {
            let k = (j / s) * w + i / s;
            let p = if grey {
                [src[k]; 3]
            } else {
                [src[k], src[plane + k], src[2 * plane + k]]
            };
            img.put_pixel((x + i) as u32, (y + j) as u32, Rgb(p));
        }
    }
}

/// One frame's panel: image | pose [| mask], `gap` pixels apart.
fn panel(img: &mut RgbImage, v: &Video, f: usize, hw: (usize, usize), (x, y): (usize, usize), s: usize, mask: bool) {
    let (h, w) = hw;
    blit(img, v.rgb(f), false, hw, x, y, s);
    blit(img, v.pose(f), false, hw, x + w * s + 1, y, s);
    if mask {
        let blank = vec![0u8; h * w];
        blit(img, v.mask(f).unwrap_or(&blank), true, hw, x + 2 * (w * s + 1), y, s);
    }
}

fn panels(mask: bool) -> usize {
    if mask {
        3
    } else {
        2
    }
}

/// Renders the contact sheet as an image.
pub fn contact_sheet(ds: &Dataset, opts: &PreviewOptions) -> Result<RgbImage, DataError> {
    let (h, w) = ds.resolution();
    let s = scale_for(opts, h);
    let videos: Vec<&Video> = ds.videos(opts.split).iter().take(opts.videos.max(1)).collect();
    if videos.is_empty() {
        return Err(DataError::Loader(format!(
            "the {} split has no videos",
            opts.split.name()
        )));
    }
    let cols = opts.frames.max(1);
    let n = panels(opts.mask);
    let cell_w = n * (w * s + 1) + 4;
    let cell_h = h * s + 4;
    let mut img = RgbImage::from_pixel(
        (cols * cell_w + 4) as u32,
        (videos.len() * cell_h + 4) as u32,
        Rgb([40, 40, 44]),
    );
    for (row, v) in videos.iter().enumerate() {
        for col in 0..cols {
            let f = if cols == 1 {
                0
            } else {
                col * (v.frames() - 1) / (cols - 1)
            };
            panel(
                &mut img,
                v,
                f,
                (h, w),
                (4 + col * cell_w, 4 + row * cell_h),
                s,
                opts.mask,
            );
        }
    }
    Ok(img)
}

/// Writes the contact sheet as PNG.
pub fn write_sheet(ds: &Dataset, opts: &PreviewOptions, out: &Path) -> Result<(), DataError> {
    let img = contact_sheet(ds, opts)?;
    img.save_with_format(out, image::ImageFormat::Png)
        .map_err(|e| DataError::Image {
            path: out.into(),
            message: e.to_string(),
        })
}

/// Frames per second stored in a synthetic dataset's manifest (10 for imports).
pub fn dataset_fps(ds: &Dataset) -> f64 {
    ds.manifest()
        .config
        .pointer("/profile/fps")
        .and_then(|v| v.as_f64())
        .unwrap_or(10.0)
}

/// Writes video `opts.videos` of the split as an animated GIF (image | pose per frame).
pub fn write_gif(ds: &Dataset, opts: &PreviewOptions, out: &Path) -> Result<(), DataError> {
    let (h, w) = ds.resolution();
    let s = scale_for(opts, h);
    let all = ds.videos(opts.split);
    let v = all.get(opts.videos).ok_or_else(|| {
        DataError::Loader(format!(
            "video {} is out of range: the {} split has {} videos",
            opts.videos,
            opts.split.name(),
            all.len()
        ))
    })?;
    let n = if opts.frames == 0 {
        v.frames()
    } else {
        opts.frames.min(v.frames())
    };
    let delay = Delay::from_numer_denom_ms(1000, dataset_fps(ds).round().max(1.0) as u32);
    let file = std::fs::File::create(out).map_err(DataError::io(out))?;
    let mut enc = GifEncoder::new_with_speed(std::io::BufWriter::new(file), 10);
    let err = |e: image::ImageError| DataError::Image {
        path: out.into(),
        message: e.to_string(),
    };
    enc.set_repeat(Repeat::Infinite).map_err(err)?;
    let width = panels(opts.mask) * (w * s + 1) - 1;
    for f in 0..n {
        let mut img = RgbImage::from_pixel(width as u32, (h * s) as u32, Rgb([40, 40, 44]));
        panel(&mut img, v, f, (h, w), (0, 0), s, opts.mask);
        let rgba: RgbaImage = image::DynamicImage::ImageRgb8(img).into_rgba8();
        enc.encode_frame(Frame::from_parts(rgba, 0, 0, delay)).map_err(err)?;
    }
    Ok(())
}
