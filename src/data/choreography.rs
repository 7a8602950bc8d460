//! Seeded dance motion: key poses on the beat, interpolated smoothly
//! (Catmull-Rom), plus periodic bounce, walking gait and sideways travel, and
//! turns spread over several keys so limbs swing through the depth order.
//!
//! A [`MotionProfile`] sets tempo, amplitude and style: `dance` draws key
//! poses from a vocabulary of moves (arms up, punches, knee lifts, squats,
//! hands on hips ...); `catwalk` walks in place with small arm motion and
//! slow half turns, as the UBC-Fashion models do.

use std::f64::consts::PI;

use rand::Rng;
use rand_distr::{Distribution, Normal};

use super::figure::{Limb, Pose};
use super::profile::{MotionProfile, MotionStyle};
use crate::seed::Stream;

const FIELDS: usize = 21;

/// A video's motion: key poses every `key_s` seconds from t = -key_s.
#[derive(Debug, Clone, PartialEq)]
pub struct Choreography {
    /// Seconds per beat.
    pub beat_s: f64,
    /// Seconds between key poses.
    pub key_s: f64,
    keys: Vec<[f64; FIELDS]>,
    jumps: Vec<usize>,
    bounce: f64,
    gait: f64,
    travel: f64,
    travel_period_beats: f64,
    phase: f64,
    jump_height: f64,
}

fn limb(abduct: f64, flex: f64, bend: f64, bend_fwd: f64) -> Limb {
    Limb {
        abduct,
        flex,
        bend,
        bend_fwd,
    }
}

/// A neutral stance: arms relaxed, legs straight.
fn neutral() -> Pose {
    let arm = limb(0.2, 0.1, 0.15, 0.25);
    let leg = limb(0.04, 0.0, 0.05, 0.0);
    Pose {
        arms: [arm, arm],
        legs: [leg, leg],
        ..Pose::default()
    }
}

/// One dance move as a key pose (before mirroring and noise).
fn dance_move(rng: &mut Stream) -> Pose {
    let mut p = neutral();
    let relaxed = limb(0.35, 0.3, 0.5, 0.6);
    match rng.random_range(0..12) {
        0 => p.arms = [limb(2.55, 0.1, 0.15, 0.0); 2], // V overhead
        1 => p.arms = [limb(1.6, 0.0, 0.05, 0.0); 2],  // arms out
        2 => {
            // one arm up, other on the hip
            p.arms = [limb(2.9, 0.05, 0.0, 0.0), limb(0.8, 0.0, -1.9, 0.0)];
            p.lean = 0.12;
        }
        3 => p.arms = [limb(0.8, 0.0, -1.9, 0.0); 2], // hands on hips
        4 => p.arms = [limb(1.45, 0.0, 1.5, 0.0); 2], // flexed, fists up
        5 => {
            // punch forward and pull back
            p.arms = [limb(0.3, 1.5, 0.0, 0.0), limb(0.5, 0.6, 0.6, 1.3)];
            p.lean = -0.08;
        }
        6 => {
            // knee lift with opposite arm swing
            p.legs[0] = limb(0.05, 1.2, 1.6, 0.0);
            p.arms = [limb(0.6, -0.3, 0.6, 0.3), limb(1.1, 0.9, 0.9, 0.2)];
        }
        7 => {
            // squat with arms forward
            p.legs = [limb(0.25, 0.7, 1.3, 0.0); 2];
            p.arms = [limb(0.5, 1.3, 0.2, 0.0); 2];
        }
        8 => {
            // wide stance, sway, diagonal point
            p.legs = [limb(0.28, 0.1, 0.35, 0.0); 2];
            p.arms = [limb(2.3, 0.3, 0.0, 0.0), limb(0.5, 0.2, 0.9, 0.3)];
            p.lean = -0.15;
        }
        9 => {
            // side kick
            p.legs[1] = limb(0.8, 0.1, 0.1, 0.0);
            p.arms = [limb(1.3, 0.2, 0.3, 0.0), limb(1.9, 0.0, 0.4, 0.0)];
            p.lean = -0.18;
        }
        10 => {
            // clap overhead
            p.arms = [limb(2.75, 0.15, 0.45, 0.0); 2];
            p.legs = [limb(0.1, 0.2, 0.4, 0.0); 2];
        }
        _ => {
            // groove: relaxed arms, soft knees
            p.arms = [relaxed, limb(0.45, 0.5, 0.8, 0.4)];
            p.legs = [limb(0.08, 0.25, 0.5, 0.0), limb(0.06, 0.05, 0.15, 0.0)];
            p.lean = 0.06;
        }
    }
    p
}

/// A catwalk key pose: small arm motion, the occasional hand on the hip.
fn catwalk_move(rng: &mut Stream) -> Pose {
    let mut p = neutral();
    match rng.random_range(0..5) {
        0 => p.arms[1] = limb(0.8, 0.0, -1.8, 0.0),
        1 => p.arms = [limb(0.12, 0.05, 0.1, 0.1); 2],
        2 => p.arms = [limb(0.25, 0.2, 0.3, 0.4), limb(0.18, -0.1, 0.2, 0.2)],
        3 => p.arms[0] = limb(0.75, 0.0, -1.8, 0.0),
        _ => {}
    }
    p.head_tilt = rng.random_range(-0.08..0.08);
    p
}

fn to_array(p: &Pose) -> [f64; FIELDS] {
    let mut a = [0.0; FIELDS];
    a[..5].copy_from_slice(&[p.yaw, p.lean, p.head_tilt, p.travel, p.lift]);
    for (i, l) in p.arms.iter().chain(p.legs.iter()).enumerate() {
        a[5 + 4 * i..][..4].copy_from_slice(&[l.abduct, l.flex, l.bend, l.bend_fwd]);
    }
    a
}

fn from_array(a: &[f64; FIELDS]) -> Pose {
    let l = |i: usize| limb(a[5 + 4 * i], a[6 + 4 * i], a[7 + 4 * i], a[8 + 4 * i]);
    Pose {
        yaw: a[0],
        lean: a[1],
        head_tilt: a[2],
        travel: a[3],
        lift: a[4],
        arms: [l(0), l(1)],
        legs: [l(2), l(3)],
    }
}

/// Scales a key pose's excursion from neutral, adds noise, mirrors it at random.
fn vary(rng: &mut Stream, key: Pose, m: &MotionProfile) -> Pose {
    let n = to_array(&neutral());
    let mut a = to_array(&key);
    let noise = Normal::new(0.0, 0.12 * m.amplitude).expect("finite sigma");
    for (i, v) in a.iter_mut().enumerate() {
        let scale = match i {
            5..=12 => m.amplitude * m.arm_amplitude,
            13..=20 => m.amplitude * m.leg_amplitude,
            _ => m.amplitude,
        };
        *v = n[i] + (*v - n[i]) * scale;
        if (5..FIELDS).contains(&i) {
            *v += noise.sample(rng);
        }
    }
    let mut p = from_array(&a);
    if rng.random_bool(0.5) {
        p.arms.swap(0, 1);
        p.legs.swap(0, 1);
        p.lean = -p.lean;
    }
    // Keep joints in a humanly plausible range.
    for arm in &mut p.arms {
        arm.abduct = arm.abduct.clamp(-0.1, 3.0);
        arm.bend = arm.bend.clamp(-2.2, 2.0);
    }
    for leg in &mut p.legs {
        leg.abduct = leg.abduct.clamp(-0.05, 1.0);
        leg.flex = leg.flex.clamp(-0.4, 1.5);
        leg.bend = leg.bend.clamp(0.0, 2.0);
    }
    p
}

impl Choreography {
    /// Draws a video's motion for `duration_s` seconds.
    pub fn sample(rng: &mut Stream, m: &MotionProfile, duration_s: f64) -> Choreography {
        let bpm = rng.random_range(m.tempo_bpm[0]..=m.tempo_bpm[1]);
        let beat_s = 60.0 / bpm;
        let key_s = beat_s * m.beats_per_key;
        let n = (duration_s / key_s).ceil() as usize + 4;
        let mut keys = Vec::with_capacity(n);
        let mut jumps = Vec::new();
        let mut yaw = 0.0;
        let mut turn: Option<(f64, usize)> = None; // (yaw per key, keys left)
        let turn_keys = 2;
        let yaw_noise = Normal::new(0.0, if m.style == MotionStyle::Catwalk { 0.08 } else { 0.2 }).expect("sigma");
        for i in 0..n {
            let key = match m.style {
                MotionStyle::Dance => dance_move(rng),
                MotionStyle::Catwalk => catwalk_move(rng),
            };
            let mut p = vary(rng, key, m);
            if let Some((step, left)) = turn {
                yaw += step;
                turn = (left > 1).then_some((step, left - 1));
            } else if i > 0 && rng.random_bool(m.turn_probability) {
                let facing_back = (yaw.rem_euclid(2.0 * PI) - PI).abs() < 0.5;
                let full = m.style == MotionStyle::Dance && !facing_back && rng.random_bool(0.7);
                let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                let total = if full { 2.0 * PI } else { PI };
                turn = Some((sign * total / turn_keys as f64, turn_keys));
            } else if m.jump_probability > 0.0 && rng.random_bool(m.jump_probability) {
                jumps.push(i);
                p.legs = [limb(0.12, 0.9, 1.6, 0.0); 2];
            }
            p.yaw = yaw + yaw_noise.sample(rng) * m.amplitude.min(1.0);
            keys.push(to_array(&p));
        }
        Choreography {
            beat_s,
            key_s,
            keys,
            jumps,
            bounce: m.bounce,
            gait: m.gait,
            travel: m.travel,
            travel_period_beats: rng.random_range(6.0..12.0),
            phase: rng.random_range(0.0..2.0 * PI),
            jump_height: 0.06 * m.amplitude.min(1.5),
        }
    }

    /// The pose at time `t` seconds (0 <= t <= the duration sampled).
    pub fn pose_at(&self, t: f64) -> Pose {
        let u = t / self.key_s + 1.0; // key 0 sits at t = -key_s
        let i = (u.floor() as usize).clamp(1, self.keys.len() - 3);
        let f = u - i as f64;
        let (k0, k1, k2, k3) = (&self.keys[i - 1], &self.keys[i], &self.keys[i + 1], &self.keys[i + 2]);
        let a: [f64; FIELDS] = std::array::from_fn(|j| catmull_rom(k0[j], k1[j], k2[j], k3[j], f));
        let mut p = from_array(&a);
        let beat = t / self.beat_s;
        // Bounce: knees and hips soften on every beat (the planted foot keeps the floor).
        let b = self.bounce * 10.0 * 0.5 * (1.0 - (2.0 * PI * beat).cos());
        for leg in &mut p.legs {
            leg.flex += 0.5 * b;
            leg.bend += b;
        }
        // Gait: one step per beat, legs alternate, arms swing against them.
        if self.gait > 0.0 {
            let s = (PI * beat + self.phase).sin();
            let c = (PI * beat + self.phase).cos();
            for (k, sign) in [1.0, -1.0].into_iter().enumerate() {
                p.legs[k].flex += self.gait * 0.35 * sign * s;
                p.legs[k].bend += self.gait * 0.7 * (sign * c).max(0.0);
                p.arms[k].flex -= self.gait * 0.25 * sign * s;
            }
        }
        p.travel += self.travel * (2.0 * PI * beat / self.travel_period_beats + self.phase).sin();
        for &j in &self.jumps {
            let d = (u - j as f64) / 0.5; // key j sits at u = j; -1..1 across the jump
            p.lift += self.jump_height * (1.0 - d * d).max(0.0);
        }
        p
    }
}

fn catmull_rom(p0: f64, p1: f64, p2: f64, p3: f64, t: f64) -> f64 {
    let t2 = t * t;
    0.5 * (2.0 * p1
        + (p2 - p0) * t
        + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * t2
        + (3.0 * p1 - p0 - 3.0 * p2 + p3) * t2 * t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::stream;

    #[test]
    fn catmull_rom_passes_through_its_keys() {
        assert_eq!(catmull_rom(0.0, 1.0, 3.0, 2.0, 0.0), 1.0);
        assert!((catmull_rom(0.0, 1.0, 3.0, 2.0, 1.0) - 3.0).abs() < 1e-12);
    }

    #[test]
    fn motion_is_smooth_between_frames() {
        let m = MotionProfile::default();
        let c = Choreography::sample(&mut stream(3, "motion", 0), &m, 4.0);
        let mut prev = to_array(&c.pose_at(0.0));
        for f in 1..48 {
            let cur = to_array(&c.pose_at(f as f64 / 12.0));
            let jump = cur.iter().zip(&prev).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(jump < 1.2, "frame {f}: {jump}");
            prev = cur;
        }
    }

    #[test]
    fn the_same_stream_gives_the_same_dance() {
        let m = MotionProfile {
            turn_probability: 0.3,
            jump_probability: 0.2,
            ..MotionProfile::default()
        };
        let a = Choreography::sample(&mut stream(1, "motion", 5), &m, 3.0);
        let b = Choreography::sample(&mut stream(1, "motion", 5), &m, 3.0);
        assert_eq!(a, b);
        assert_eq!(a.pose_at(1.3), b.pose_at(1.3));
    }
}
