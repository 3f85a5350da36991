//! Periodic noise and colour helpers on the unit tile `[0,1)^2`.
//!
//! Every function here is periodic with period 1 in both tile coordinates (integer lattice
//! periods, wrapped cell indices), so textures built from them repeat without seams.

/// Linear RGB-ish colour triple in `[0,1]` (values are sRGB-encoded; mixing is done on them).
pub type Rgb = [f32; 3];

/// A 32-bit integer hash of a lattice point and a seed.
#[inline]
pub fn hash(x: u32, y: u32, seed: u32) -> u32 {
    let mut h =
        x.wrapping_mul(0x8da6_b343) ^ y.wrapping_mul(0xd816_3841) ^ seed.wrapping_mul(0xcb1a_b31f);
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^= h >> 16;
    h
}

/// [`hash`] mapped to `[0,1)`.
#[inline]
pub fn hash01(x: u32, y: u32, seed: u32) -> f32 {
    (hash(x, y, seed) >> 8) as f32 / (1u32 << 24) as f32
}

/// `x` modulo `n` for lattice indices.
#[inline]
pub fn wrap(i: i64, n: u32) -> u32 {
    let n = n as i64;
    // Fast paths for the usual ranges (tile coordinates in [-1, 2)), no division.
    if (0..n).contains(&i) {
        i as u32
    } else if (n..2 * n).contains(&i) {
        (i - n) as u32
    } else if (-n..0).contains(&i) {
        (i + n) as u32
    } else {
        i.rem_euclid(n) as u32
    }
}

#[inline]
fn fade(t: f32) -> f32 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

const GRADS: [[f32; 2]; 8] = [
    [1.0, 0.0],
    [-1.0, 0.0],
    [0.0, 1.0],
    [0.0, -1.0],
    [
        std::f32::consts::FRAC_1_SQRT_2,
        std::f32::consts::FRAC_1_SQRT_2,
    ],
    [
        -std::f32::consts::FRAC_1_SQRT_2,
        std::f32::consts::FRAC_1_SQRT_2,
    ],
    [
        std::f32::consts::FRAC_1_SQRT_2,
        -std::f32::consts::FRAC_1_SQRT_2,
    ],
    [
        -std::f32::consts::FRAC_1_SQRT_2,
        -std::f32::consts::FRAC_1_SQRT_2,
    ],
];

#[inline]
fn grad(h: u32, dx: f32, dy: f32) -> f32 {
    let g = GRADS[(h & 7) as usize];
    g[0] * dx + g[1] * dy
}

/// Gradient (Perlin) noise at `(x, y)` in lattice units, periodic with `period` cells,
/// roughly in `[-1, 1]`.
pub fn perlin(x: f32, y: f32, period: u32, seed: u32) -> f32 {
    let (xf, yf) = (x.floor(), y.floor());
    let (fx, fy) = (x - xf, y - yf);
    let ix = wrap(xf as i64, period);
    let iy = wrap(yf as i64, period);
    let ix1 = if ix + 1 == period { 0 } else { ix + 1 };
    let iy1 = if iy + 1 == period { 0 } else { iy + 1 };
    let n00 = grad(hash(ix, iy, seed), fx, fy);
    let n10 = grad(hash(ix1, iy, seed), fx - 1.0, fy);
    let n01 = grad(hash(ix, iy1, seed), fx, fy - 1.0);
    let n11 = grad(hash(ix1, iy1, seed), fx - 1.0, fy - 1.0);
    let (u, v) = (fade(fx), fade(fy));
    let a = n00 + (n10 - n00) * u;
    let b = n01 + (n11 - n01) * u;
    (a + (b - a) * v) * std::f32::consts::SQRT_2
}

/// Fractal sum of [`perlin`] octaves over the tile (`u, v` in tile units), `period` lattice
/// cells per tile at the first octave, doubling per octave; normalised by the amplitude sum.
pub fn fbm(u: f32, v: f32, period: u32, octaves: u32, gain: f32, seed: u32) -> f32 {
    let (mut p, mut amp, mut sum, mut norm) = (period.max(1), 1.0f32, 0.0f32, 0.0f32);
    for o in 0..octaves {
        sum += amp * perlin(u * p as f32, v * p as f32, p, seed.wrapping_add(o * 0x9e37));
        norm += amp;
        p *= 2;
        amp *= gain;
    }
    if norm > 0.0 { sum / norm } else { 0.0 }
}

/// Like [`fbm`] but sums `|perlin|`: billowy turbulence in `[0, 1]`.
pub fn turbulence(u: f32, v: f32, period: u32, octaves: u32, gain: f32, seed: u32) -> f32 {
    let (mut p, mut amp, mut sum, mut norm) = (period.max(1), 1.0f32, 0.0f32, 0.0f32);
    for o in 0..octaves {
        sum += amp * perlin(u * p as f32, v * p as f32, p, seed.wrapping_add(o * 0x9e37)).abs();
        norm += amp;
        p *= 2;
        amp *= gain;
    }
    if norm > 0.0 {
        (sum / norm).min(1.0)
    } else {
        0.0
    }
}

/// Result of a [`Worley::lookup`].
#[derive(Clone, Copy, Debug)]
pub struct Cell {
    /// Wrapped index of the nearest feature point's cell.
    pub id: (u32, u32),
    /// Distance to the nearest feature point, tile units.
    pub d1: f32,
    /// Distance to the nearest Voronoi border, tile units.
    pub border: f32,
}

/// Periodic Worley/Voronoi cells: one feature point per cell of an `n x n` grid, jittered by
/// `jitter` (0 = regular grid, 1 = anywhere in the cell). Distance to the cell border is exact
/// among the 3x3 neighbouring cells searched, which finds the true nearest points for
/// `jitter <= 0.85` in all but rare configurations. Feature points are tabulated once.
pub struct Worley {
    n: u32,
    /// Feature point offsets from each cell's corner, in cell units, row-major.
    offsets: Vec<(f32, f32)>,
}

impl Worley {
    /// Feature points of an `n x n` grid.
    pub fn new(n: u32, jitter: f32, seed: u32) -> Worley {
        let n = n.max(1);
        let offsets = (0..n * n)
            .map(|k| {
                let h = hash(k % n, k / n, seed);
                let (hx, hy) = ((h & 0xffff) as f32 / 65536.0, (h >> 16) as f32 / 65536.0);
                (0.5 + jitter * (hx - 0.5), 0.5 + jitter * (hy - 0.5))
            })
            .collect();
        Worley { n, offsets }
    }

    /// The cell containing `(u, v)` (tile units, any real).
    pub fn lookup(&self, u: f32, v: f32) -> Cell {
        let n = self.n;
        let nf = n as f32;
        let (cx, cy) = ((u * nf).floor() as i64, (v * nf).floor() as i64);
        let mut pts = [(0f32, 0f32, 0u32, 0u32, 0f32); 9];
        let mut k = 0;
        let mut best = (f32::INFINITY, 0usize);
        for dy in -1..=1i64 {
            for dx in -1..=1i64 {
                let (i, j) = (cx + dx, cy + dy);
                let (wi, wj) = (wrap(i, n), wrap(j, n));
                let (ox, oy) = self.offsets[(wj * n + wi) as usize];
                let px = (i as f32 + ox) / nf;
                let py = (j as f32 + oy) / nf;
                let d2 = (px - u) * (px - u) + (py - v) * (py - v);
                pts[k] = (px, py, wi, wj, d2);
                if d2 < best.0 {
                    best = (d2, k);
                }
                k += 1;
            }
        }
        let (p1x, p1y, wi, wj, d1sq) = pts[best.1];
        let mut border = f32::INFINITY;
        for (idx, &(qx, qy, _, _, d2)) in pts.iter().enumerate() {
            if idx == best.1 {
                continue;
            }
            let sep = ((qx - p1x) * (qx - p1x) + (qy - p1y) * (qy - p1y)).sqrt();
            if sep > 1e-9 {
                border = border.min((d2 - d1sq) / (2.0 * sep));
            }
        }
        Cell {
            id: (wi, wj),
            d1: d1sq.sqrt(),
            border,
        }
    }
}

/// `a + (b - a) * t` per channel.
#[inline]
pub fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// `c * k` per channel.
#[inline]
pub fn scale(c: Rgb, k: f32) -> Rgb {
    [c[0] * k, c[1] * k, c[2] * k]
}

/// Anti-aliased coverage of a shape with signed distance `d` (positive inside) for a pixel
/// footprint `w` (same units).
#[inline]
pub fn cover(d: f32, w: f32) -> f32 {
    (d / w.max(1e-6) + 0.5).clamp(0.0, 1.0)
}

/// Hermite smoothstep.
#[inline]
pub fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Fractional part, always in `[0, 1)`.
#[inline]
pub fn fract(x: f32) -> f32 {
    x - x.floor()
}

/// Distance of `x` to the nearest integer, in `[0, 0.5]`.
#[inline]
pub fn dist_int(x: f32) -> f32 {
    (x - x.round()).abs()
}

/// HSV (all in `[0,1]`) to RGB.
pub fn hsv(h: f32, s: f32, v: f32) -> Rgb {
    let h6 = fract(h) * 6.0;
    let c = v * s;
    let x = c * (1.0 - (h6 % 2.0 - 1.0).abs());
    let (r, g, b) = match h6 as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r + m, g + m, b + m]
}

/// Approximate luminance of an sRGB-encoded colour.
#[inline]
pub fn luma(c: Rgb) -> f32 {
    0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_periodic_on_the_tile() {
        for &(u, v) in &[(0.13f32, 0.77f32), (0.5, 0.01), (0.91, 0.33)] {
            let a = fbm(u, v, 3, 4, 0.5, 9);
            let b = fbm(u + 1.0, v - 1.0, 3, 4, 0.5, 9);
            assert!((a - b).abs() < 1e-4, "{a} {b}");
            let w = Worley::new(5, 0.8, 4);
            let c = w.lookup(u, v);
            let d = w.lookup(u - 1.0, v + 2.0);
            assert_eq!(c.id, d.id);
            assert!((c.border - d.border).abs() < 1e-4);
        }
    }

    #[test]
    fn noise_varies_and_stays_in_range() {
        let vals: Vec<f32> = (0..400)
            .map(|i| perlin(i as f32 * 0.137, i as f32 * 0.071, 8, 1))
            .collect();
        let (lo, hi) = vals
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &x| (l.min(x), h.max(x)));
        assert!(lo >= -1.01 && hi <= 1.01 && hi - lo > 0.5, "{lo} {hi}");
    }

    #[test]
    fn worley_border_is_zero_between_two_points() {
        // Regular grid: border between cells (0,0) and (1,0) lies at u = 1/n.
        let w = Worley::new(4, 0.0, 0);
        let c = w.lookup(0.25 - 1e-3, 0.125);
        assert!(c.border < 2e-3, "{c:?}");
        let c = w.lookup(0.125, 0.125);
        assert!((c.border - 0.125).abs() < 1e-4, "{c:?}");
    }
}
