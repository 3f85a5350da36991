//! The per-axis random stretch of the design.
//!
//! Input: the caller's RNG. Output: three scale factors `1 + 0.1 * z_k`, where the `z_k` are
//! standard-normal draws made zero-mean over the three axes, each clipped to `[0.5, 1.5]`.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Standard deviation of the stretch around 1.
pub const STRETCH_SIGMA: f32 = 0.1;
/// Lower clip of a stretch factor.
pub const STRETCH_MIN: f32 = 0.5;
/// Upper clip of a stretch factor.
pub const STRETCH_MAX: f32 = 1.5;

/// Per-axis stretch factors `[sx, sy, sz]` (see the module docs). Consumes exactly three normal
/// draws from `rng`.
pub fn stretch<R: Rng + ?Sized>(rng: &mut R) -> [f32; 3] {
    let z: [f32; 3] = std::array::from_fn(|_| StandardNormal.sample(rng));
    stretch_from_normals(z)
}

/// The stretch for given standard-normal draws (exposed for testing the clipping).
pub fn stretch_from_normals(z: [f32; 3]) -> [f32; 3] {
    let mean = (z[0] + z[1] + z[2]) / 3.0;
    z.map(|zk| {
        let s = 1.0 + STRETCH_SIGMA * (zk - mean);
        if s.is_finite() {
            s.clamp(STRETCH_MIN, STRETCH_MAX)
        } else {
            1.0
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn statistics_match_the_design() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 20_000;
        let mut sum = [0f64; 3];
        let mut sq = [0f64; 3];
        for _ in 0..n {
            let s = stretch(&mut rng);
            // zero-mean over axes: the factors average to 1 unless clipped (never at sigma 0.1)
            let m = (s[0] + s[1] + s[2]) / 3.0;
            assert!((m - 1.0).abs() < 1e-5, "{s:?}");
            for k in 0..3 {
                assert!((STRETCH_MIN..=STRETCH_MAX).contains(&s[k]));
                sum[k] += s[k] as f64;
                sq[k] += (s[k] as f64 - 1.0).powi(2);
            }
        }
        for k in 0..3 {
            let mean = sum[k] / n as f64;
            // after removing the mean of three N(0,1), each axis has variance 2/3
            let sd = (sq[k] / n as f64).sqrt();
            let expect = 0.1 * (2.0f64 / 3.0).sqrt();
            assert!((mean - 1.0).abs() < 0.003, "axis {k} mean {mean}");
            assert!((sd - expect).abs() < 0.003, "axis {k} sd {sd} vs {expect}");
        }
    }

    #[test]
    fn extreme_draws_are_clipped() {
        let s = stretch_from_normals([40.0, -20.0, -20.0]);
        assert_eq!(s, [1.5, 0.5, 0.5]);
        let s = stretch_from_normals([f32::NAN, 0.0, 0.0]);
        assert_eq!(s, [1.0, 1.0, 1.0]);
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = stretch(&mut ChaCha8Rng::seed_from_u64(3));
        let b = stretch(&mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(a, b);
    }
}
