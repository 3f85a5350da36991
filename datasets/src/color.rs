//! Object colours: class-tied (variant without C) or uniformly random (with C).
//!
//! Input: the dataset seed (for the per-class reference colours) and a sample's RNG. Output:
//! sRGB colours in `[0, 1]`. The numbers follow the design: each class has a reference HSV drawn
//! once per dataset seed; a sample's colour is `h + N(0, 0.06)` (mod 1), `s' = 0.8 s + 0.2 +
//! N(0, 0.2)`, `v' = 0.4 v + 0.6 + N(0, 0.2)`, clipped to `[0, 1]`. With C the reference HSV is
//! drawn uniformly for every object instead of per class, so only the tie to the class changes.

use rand::Rng;
use rand_distr::{Distribution, Normal};

use shapenet_loader::Class;

use crate::scene_sampler::keyed_rng;

/// Standard deviation of the hue jitter around the reference hue.
pub const HUE_SIGMA: f32 = 0.06;
/// Standard deviation of the saturation and value jitter.
pub const SV_SIGMA: f32 = 0.2;

/// HSV (all in `[0, 1]`) to RGB (in `[0, 1]`).
pub fn hsv_to_rgb([h, s, v]: [f32; 3]) -> [f32; 3] {
    let h6 = h.rem_euclid(1.0) * 6.0;
    let sector = (h6.floor() as i32).rem_euclid(6);
    let f = h6 - h6.floor();
    let p = v * (1.0 - s);
    let q = v * (1.0 - s * f);
    let t = v * (1.0 - s * (1.0 - f));
    match sector {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// The ten per-class reference colours (HSV, each in `[0, 1]`) of a dataset seed, in class
/// order. Stored in the manifest as `class_colors`.
pub fn class_reference_colors(seed: u64) -> [[f32; 3]; Class::COUNT] {
    let mut rng = keyed_rng(b"class-colors", seed);
    std::array::from_fn(|_| {
        let h: f32 = rng.random();
        let s: f32 = rng.random();
        let v: f32 = rng.random();
        [h, s, v]
    })
}

/// A sample's jittered HSV around a reference HSV (see the module docs for the numbers).
pub fn jitter_hsv<R: Rng + ?Sized>(reference: [f32; 3], rng: &mut R) -> [f32; 3] {
    let hue = Normal::new(0.0f32, HUE_SIGMA).expect("constant sigma is valid");
    let sv = Normal::new(0.0f32, SV_SIGMA).expect("constant sigma is valid");
    let [h, s, v] = reference;
    let h2 = (h + hue.sample(rng)).rem_euclid(1.0);
    let s2 = (0.8 * s + 0.2 + sv.sample(rng)).clamp(0.0, 1.0);
    let v2 = (0.4 * v + 0.6 + sv.sample(rng)).clamp(0.0, 1.0);
    [h2, s2, v2]
}

/// An object's colour as `(hsv, rgb)`. Always consumes the same random numbers, whichever
/// branch is taken, so variants that differ only in C draw the same everything else.
pub fn object_color<R: Rng + ?Sized>(
    class_reference: [f32; 3],
    random_color: bool,
    rng: &mut R,
) -> ([f32; 3], [f32; 3]) {
    let uniform: [f32; 3] = [rng.random(), rng.random(), rng.random()];
    let reference = if random_color {
        uniform
    } else {
        class_reference
    };
    let hsv = jitter_hsv(reference, rng);
    (hsv, hsv_to_rgb(hsv))
}

/// A background colour: any hue, muted saturation, mid value (as in the paper's renders).
pub fn background_color<R: Rng + ?Sized>(rng: &mut R) -> ([f32; 3], [f32; 3]) {
    let h: f32 = rng.random();
    let s: f32 = rng.random_range(0.1..0.5);
    let v: f32 = rng.random_range(0.2..0.5);
    let hsv = [h, s, v];
    (hsv, hsv_to_rgb(hsv))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn hsv_primaries() {
        let close = |a: [f32; 3], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
        assert!(close(hsv_to_rgb([0.0, 1.0, 1.0]), [1.0, 0.0, 0.0]));
        assert!(close(hsv_to_rgb([1.0 / 3.0, 1.0, 1.0]), [0.0, 1.0, 0.0]));
        assert!(close(hsv_to_rgb([2.0 / 3.0, 1.0, 1.0]), [0.0, 0.0, 1.0]));
        assert!(close(hsv_to_rgb([0.5, 0.0, 0.5]), [0.5, 0.5, 0.5]));
        assert!(close(hsv_to_rgb([1.0, 1.0, 1.0]), [1.0, 0.0, 0.0]));
    }

    #[test]
    fn reference_colors_depend_on_seed_only() {
        assert_eq!(class_reference_colors(7), class_reference_colors(7));
        assert_ne!(class_reference_colors(7), class_reference_colors(8));
        for c in class_reference_colors(3) {
            assert!(c.iter().all(|x| (0.0..1.0).contains(x)));
        }
    }

    #[test]
    fn class_tied_colors_stay_near_the_reference() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let reference = [0.3, 0.5, 0.5];
        let n = 4000;
        let (mut dh, mut s, mut v) = (0.0f64, 0.0f64, 0.0f64);
        for _ in 0..n {
            let (hsv, rgb) = object_color(reference, false, &mut rng);
            assert!(
                rgb.iter()
                    .chain(hsv.iter())
                    .all(|x| (0.0..=1.0).contains(x))
            );
            let d = (hsv[0] - reference[0] + 0.5).rem_euclid(1.0) - 0.5;
            dh += (d * d) as f64;
            s += hsv[1] as f64;
            v += hsv[2] as f64;
        }
        let hue_sd = (dh / n as f64).sqrt();
        assert!((hue_sd - 0.06).abs() < 0.006, "hue sd {hue_sd}");
        // mean of clip(0.6 + N(0, 0.2)) and clip(0.8 + N(0, 0.2)), slightly pulled in by the clip
        assert!((s / n as f64 - 0.59).abs() < 0.03, "s {}", s / n as f64);
        assert!((v / n as f64 - 0.77).abs() < 0.03, "v {}", v / n as f64);
    }

    #[test]
    fn random_colors_cover_all_hues() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut bins = [0usize; 6];
        for _ in 0..6000 {
            let (hsv, _) = object_color([0.0, 0.0, 0.0], true, &mut rng);
            bins[((hsv[0] * 6.0) as usize).min(5)] += 1;
        }
        assert!(bins.iter().all(|&b| b > 800), "{bins:?}");
    }
}
