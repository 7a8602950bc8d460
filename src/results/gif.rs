//! Writing sample clips: as an animated GIF (for each frame, the panels,
//! e.g. ground truth | pose | generated, side by side) or as a PNG sample
//! sheet (one row per panel, one column per frame), upscaled so that 32x32
//! frames are visible. [`write_clip`] picks the format the file name's
//! extension names.

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, Rgba, RgbaImage};

/// Errors writing a GIF.
#[derive(Debug, thiserror::Error)]
pub enum GifError {
    /// The panels do not share one `[t, 3, H, W]` shape.
    #[error("panel {index} has shape {got:?}, expected {expected:?} ([t, 3, H, W] like the first)")]
    Shape {
        index: usize,
        got: Vec<usize>,
        expected: Vec<usize>,
    },
    /// Reading a tensor failed.
    #[error("reading panel {index}: {source}")]
    Tensor { index: usize, source: candle_core::Error },
    /// Writing the file failed.
    #[error("writing {path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// Writes `panels` as the format `path`'s extension names: `.gif` (an
/// animation, see [`write_clip_gif`]) or `.png` (a sheet, see [`write_clip_sheet`]).
pub fn write_clip(path: &Path, panels: &[Tensor], scale: u32, fps: u32) -> Result<(), GifError> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("gif") => write_clip_gif(path, panels, scale, fps),
        Some("png") => write_clip_sheet(path, panels, scale),
        _ => Err(GifError::Write {
            path: path.into(),
            message: "unknown image format, expected a .gif (animation) or .png (sample sheet) file name".into(),
        }),
    }
}

/// Writes `panels` (each `[t, 3, H, W]` in [-1, 1]) as one PNG: panel k is
/// row k, frame f column f, each pixel a `scale` x `scale` square.
pub fn write_clip_sheet(path: &Path, panels: &[Tensor], scale: u32) -> Result<(), GifError> {
    let (data, t, h, w) = panel_data(panels)?;
    let s = scale.max(1);
    let mut img = image::RgbImage::new((w * t) as u32 * s, (h * panels.len()) as u32 * s);
    for (k, v) in data.iter().enumerate() {
        for f in 0..t {
            for y in 0..h {
                for x in 0..w {
                    let px = |c: usize| (((v[((f * 3 + c) * h + y) * w + x] + 1.0) * 127.5).clamp(0.0, 255.0)) as u8;
                    let colour = image::Rgb([px(0), px(1), px(2)]);
                    for dy in 0..s {
                        for dx in 0..s {
                            img.put_pixel((f * w + x) as u32 * s + dx, (k * h + y) as u32 * s + dy, colour);
                        }
                    }
                }
            }
        }
    }
    img.save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| GifError::Write {
            path: path.into(),
            message: e.to_string(),
        })
}

/// The panels' values and their shared `(t, H, W)`.
#[allow(clippy::type_complexity)]
fn panel_data(panels: &[Tensor]) -> Result<(Vec<Vec<f32>>, usize, usize, usize), GifError> {
    let expected = panels.first().map(|p| p.dims().to_vec()).unwrap_or_default();
    let mut data = Vec::new();
    for (index, p) in panels.iter().enumerate() {
        if p.dims() != expected.as_slice() || expected.len() != 4 || expected[1] != 3 {
            return Err(GifError::Shape {
                index,
                got: p.dims().to_vec(),
                expected,
            });
        }
        let v = p
            .flatten_all()
            .and_then(|f| f.to_vec1::<f32>())
            .map_err(|source| GifError::Tensor { index, source })?;
        data.push(v);
    }
    Ok((data, expected[0], expected[2], expected[3]))
}

/// Writes `panels` (each `[t, 3, H, W]` in [-1, 1]) as a looping GIF at
/// `fps`, each pixel drawn as a `scale` x `scale` square.
pub fn write_clip_gif(path: &Path, panels: &[Tensor], scale: u32, fps: u32) -> Result<(), GifError> {
    let (data, t, h, w) = panel_data(panels)?;
    let s = scale.max(1);
    let write = |message: String| GifError::Write {
        path: path.into(),
        message,
    };
    let file = std::fs::File::create(path).map_err(|e| write(e.to_string()))?;
    let mut enc = GifEncoder::new(file);
    enc.set_repeat(Repeat::Infinite).map_err(|e| write(e.to_string()))?;
    for f in 0..t {
        let mut img = RgbaImage::new((w * panels.len()) as u32 * s, h as u32 * s);
        for (k, v) in data.iter().enumerate() {
            for y in 0..h {
                for x in 0..w {
                    let px = |c: usize| (((v[((f * 3 + c) * h + y) * w + x] + 1.0) * 127.5).clamp(0.0, 255.0)) as u8;
                    let colour = Rgba([px(0), px(1), px(2), 255]);
                    for dy in 0..s {
                        for dx in 0..s {
                            img.put_pixel((k * w + x) as u32 * s + dx, y as u32 * s + dy, colour);
                        }
                    }
                }
            }
        }
        let frame = Frame::from_parts(img, 0, 0, Delay::from_numer_denom_ms(1000, fps.max(1)));
        enc.encode_frame(frame).map_err(|e| write(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn writes_a_decodable_gif_with_one_frame_per_clip_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.gif");
        let a = Tensor::zeros((3, 3, 4, 4), DType::F32, &Device::Cpu).unwrap();
        let b = Tensor::ones((3, 3, 4, 4), DType::F32, &Device::Cpu).unwrap();
        write_clip_gif(&path, &[a.clone(), b], 2, 8).unwrap();
        let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
        let dec = image::codecs::gif::GifDecoder::new(file).unwrap();
        let frames = image::AnimationDecoder::into_frames(dec).collect_frames().unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].buffer().dimensions(), (16, 8));
        let bad = Tensor::zeros((2, 3, 4, 4), DType::F32, &Device::Cpu).unwrap();
        assert!(matches!(
            write_clip_gif(&path, &[a, bad], 1, 8),
            Err(GifError::Shape { index: 1, .. })
        ));
    }

    #[test]
    fn the_extension_picks_the_format() {
        let dir = tempfile::tempdir().unwrap();
        let a = Tensor::zeros((3, 3, 4, 4), DType::F32, &Device::Cpu).unwrap();
        let png = dir.path().join("sheet.png");
        write_clip(&png, &[a.clone(), a.clone()], 2, 8).unwrap();
        let img = image::open(&png).unwrap();
        assert_eq!(
            (img.width(), img.height()),
            (3 * 4 * 2, 2 * 4 * 2),
            "frames across, panels down"
        );
        assert_eq!(image::ImageFormat::from_path(&png).unwrap(), image::ImageFormat::Png);
        assert!(image::guess_format(&std::fs::read(&png).unwrap()).unwrap() == image::ImageFormat::Png);
        write_clip(&dir.path().join("c.gif"), std::slice::from_ref(&a), 1, 8).unwrap();
        assert!(
            image::guess_format(&std::fs::read(dir.path().join("c.gif")).unwrap()).unwrap() == image::ImageFormat::Gif
        );
        assert!(write_clip(&dir.path().join("c.bmp"), &[a], 1, 8).is_err());
    }
}
