//! What a person wears: garments with a colour, a contrasting accent and a
//! fabric pattern, drawn from a profile's palette and clothing odds.

use rand::Rng;

use super::profile::{ClothingProfile, Palette};
use crate::seed::Stream;

/// Fabric pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Texture {
    /// Plain colour.
    Solid,
    /// Horizontal stripes.
    Stripes,
    /// Polka dots.
    Dots,
    /// Checks.
    Checks,
}

/// One garment: two colours, a pattern and its period (standing heights).
#[derive(Debug, Clone, PartialEq)]
pub struct Garment {
    /// Main colour, RGB in [0, 1].
    pub colour: [f32; 3],
    /// Pattern colour.
    pub accent: [f32; 3],
    /// Pattern.
    pub texture: Texture,
    /// Pattern period, standing heights.
    pub period: f64,
}

/// What a person wears.
#[derive(Debug, Clone, PartialEq)]
pub struct Outfit {
    /// Shirt (or the bodice of a dress).
    pub top: Garment,
    /// Trousers, shorts or the skirt of a dress.
    pub bottom: Garment,
    /// One flared garment from the chest to the knees.
    pub dress: bool,
    /// Sleeves down to the wrist (else to mid upper arm).
    pub long_sleeves: bool,
    /// Trousers to the ankle (else shorts to mid thigh).
    pub long_bottom: bool,
    /// Shoe colour.
    pub shoes: [f32; 3],
    /// Chest logo: background and symbol colours.
    pub logo: Option<([f32; 3], [f32; 3])>,
}

const MUTED: [[f32; 3]; 10] = [
    [0.12, 0.16, 0.30],
    [0.45, 0.47, 0.50],
    [0.10, 0.10, 0.11],
    [0.92, 0.92, 0.90],
    [0.28, 0.42, 0.62],
    [0.40, 0.42, 0.24],
    [0.80, 0.72, 0.58],
    [0.48, 0.14, 0.18],
    [0.42, 0.28, 0.18],
    [0.20, 0.30, 0.45],
];
const PASTEL: [[f32; 3]; 8] = [
    [0.98, 0.75, 0.80],
    [0.70, 0.92, 0.82],
    [0.80, 0.74, 0.95],
    [0.70, 0.84, 0.98],
    [0.98, 0.95, 0.82],
    [0.99, 0.80, 0.68],
    [0.98, 0.96, 0.60],
    [0.95, 0.95, 0.97],
];
const BRIGHT: [[f32; 3]; 10] = [
    [0.90, 0.10, 0.12],
    [0.98, 0.50, 0.05],
    [0.98, 0.85, 0.10],
    [0.10, 0.72, 0.25],
    [0.05, 0.75, 0.85],
    [0.10, 0.25, 0.90],
    [0.90, 0.15, 0.65],
    [0.50, 0.15, 0.80],
    [0.97, 0.97, 0.97],
    [0.08, 0.08, 0.10],
];

pub(super) fn pick<const N: usize>(rng: &mut Stream, table: &[[f32; 3]; N]) -> [f32; 3] {
    table[rng.random_range(0..N)]
}

fn palette_colour(rng: &mut Stream, p: Palette) -> [f32; 3] {
    match p {
        Palette::Muted => pick(rng, &MUTED),
        Palette::Pastel => pick(rng, &PASTEL),
        Palette::Bright => pick(rng, &BRIGHT),
    }
}

/// A colour far enough from `c` to be seen as a pattern on it.
pub(super) fn contrasting(rng: &mut Stream, p: Palette, c: [f32; 3]) -> [f32; 3] {
    for _ in 0..8 {
        let a = palette_colour(rng, p);
        let d: f32 = (0..3).map(|k| (a[k] - c[k]).abs()).sum();
        if d > 0.6 {
            return a;
        }
    }
    let lum = 0.3 * c[0] + 0.6 * c[1] + 0.1 * c[2];
    if lum > 0.5 {
        [0.08, 0.08, 0.1]
    } else {
        [0.97, 0.97, 0.95]
    }
}

fn garment(rng: &mut Stream, c: &ClothingProfile) -> Garment {
    let w = &c.texture_weights;
    let weights = [w.solid, w.stripes, w.dots, w.checks];
    let mut x = rng.random::<f64>() * weights.iter().sum::<f64>();
    let mut texture = Texture::Solid;
    for (t, wt) in [Texture::Solid, Texture::Stripes, Texture::Dots, Texture::Checks]
        .into_iter()
        .zip(weights)
    {
        if x < wt {
            texture = t;
            break;
        }
        x -= wt;
    }
    let colour = palette_colour(rng, c.palette);
    let accent = contrasting(rng, c.palette, colour);
    Garment {
        colour,
        accent,
        texture,
        period: rng.random_range(0.045..0.075),
    }
}

impl Outfit {
    /// Draws an outfit from the clothing distribution of a profile.
    pub(super) fn sample(rng: &mut Stream, clothing: &ClothingProfile) -> Outfit {
        let dress = rng.random_bool(clothing.dress_probability);
        let top = garment(rng, clothing);
        let bottom = if dress {
            top.clone()
        } else {
            let mut g = garment(rng, clothing);
            g.colour = contrasting(rng, clothing.palette, top.colour);
            g.accent = contrasting(rng, clothing.palette, g.colour);
            g
        };
        let long_sleeves = rng.random_bool(clothing.long_sleeve_probability);
        let long_bottom = !dress && rng.random_bool(clothing.long_bottom_probability);
        let shoes = pick(
            rng,
            &[
                [0.08, 0.08, 0.09],
                [0.95, 0.95, 0.95],
                [0.45, 0.30, 0.2],
                [0.75, 0.1, 0.12],
            ],
        );
        let logo = rng.random_bool(clothing.logo_probability).then(|| {
            let bg = contrasting(rng, Palette::Bright, top.colour);
            (bg, contrasting(rng, Palette::Bright, bg))
        });
        Outfit {
            top,
            bottom,
            dress,
            long_sleeves,
            long_bottom,
            shoes,
            logo,
        }
    }
}
