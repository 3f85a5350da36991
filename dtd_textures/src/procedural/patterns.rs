//! The pattern of every [`Family`]: parameters drawn from the RNG, then a per-pixel colour
//! function of tile coordinates `(u, v)` in `[0,1)` and the pixel footprint `px` (tile units).

use std::f32::consts::{PI, TAU};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::Family;
use super::noise::{
    Rgb, Worley, cover, dist_int, fbm, fract, hash, hash01, hsv, luma, mix, scale, smoothstep,
    turbulence, wrap,
};
use crate::Texture;

/// A per-pixel colour function over the unit tile.
trait Pattern {
    fn colour(&self, u: f32, v: f32, px: f32) -> Rgb;
}

/// Photographic touch shared by all families: low-frequency shading (uneven lighting).
struct Post {
    shade: f32,
    shade_period: u32,
    seed: u32,
    /// Random translation of the periodic pattern, so edges do not line up with the tile border.
    offset: (f32, f32),
}

impl Post {
    fn new(rng: &mut ChaCha8Rng) -> Post {
        Post {
            shade: if rng.random_bool(0.7) {
                rng.random_range(0.03..0.14)
            } else {
                0.0
            },
            shade_period: rng.random_range(1..=3),
            seed: rng.random(),
            offset: (rng.random(), rng.random()),
        }
    }
}

fn render<P: Pattern>(pattern: &P, post: &Post, size: u32) -> Texture {
    let n = size as usize;
    let mut rgba = vec![0u8; n * n * 4];
    if size == 0 {
        return Texture { size, rgba };
    }
    let px = 1.0 / size as f32;
    for (y, row) in rgba.chunks_exact_mut(n * 4).enumerate() {
        let v = (y as f32 + 0.5) * px;
        for (x, out) in row.chunks_exact_mut(4).enumerate() {
            let u = (x as f32 + 0.5) * px;
            let mut c = pattern.colour(u + post.offset.0, v + post.offset.1, px);
            if post.shade > 0.0 {
                let s = 1.0 + post.shade * fbm(u, v, post.shade_period, 3, 0.5, post.seed);
                c = scale(c, s);
            }
            for k in 0..3 {
                out[k] = (c[k].clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
            }
            out[3] = 255;
        }
    }
    Texture { size, rgba }
}

/// Draws the parameters of `family` from `rng` and renders a `size` tile.
pub(super) fn generate(family: Family, rng: &mut ChaCha8Rng, size: u32) -> Texture {
    macro_rules! go {
        ($p:expr) => {{
            let p = $p;
            let post = Post::new(rng);
            render(&p, &post, size)
        }};
    }
    match family {
        Family::Striped => go!(Striped::new(rng)),
        Family::Banded => go!(Banded::new(rng)),
        Family::Chequered => go!(Chequered::new(rng)),
        Family::Dotted => go!(Dotted::new(rng)),
        Family::Zigzagged => go!(Zigzagged::new(rng)),
        Family::Grid => go!(Grid::new(rng)),
        Family::Marbled => go!(Marbled::new(rng)),
        Family::Cellular => go!(Cellular::new(rng)),
        Family::Woven => go!(Woven::new(rng)),
        Family::Noise => go!(Noise::new(rng)),
        Family::Honeycombed => go!(Honeycombed::new(rng)),
        Family::Crosshatched => go!(Crosshatched::new(rng)),
        Family::Sprinkled => go!(Sprinkled::new(rng)),
        Family::Scaly => go!(Scaly::new(rng)),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// A random colour: hue uniform, muted or saturated, any value.
fn random_colour(rng: &mut ChaCha8Rng) -> Rgb {
    let h = rng.random::<f32>();
    let s = if rng.random_bool(0.45) {
        rng.random_range(0.05..0.4)
    } else {
        rng.random_range(0.4..1.0)
    };
    let v = rng.random_range(0.12..1.0);
    hsv(h, s, v)
}

fn contrast(a: Rgb, b: Rgb) -> f32 {
    let d = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
    (luma(a) - luma(b)).abs() + 0.35 * d / 3f32.sqrt()
}

/// `n` random colours, each contrasting with all previous ones.
fn palette(rng: &mut ChaCha8Rng, n: usize) -> Vec<Rgb> {
    let mut out: Vec<Rgb> = vec![random_colour(rng)];
    while out.len() < n {
        let mut best = (f32::MIN, [0.0; 3]);
        for _ in 0..48 {
            let c = random_colour(rng);
            let score = out.iter().map(|&p| contrast(c, p)).fold(f32::MAX, f32::min);
            if score > best.0 {
                best = (score, c);
            }
            if score >= 0.3 {
                break;
            }
        }
        out.push(best.1);
    }
    out
}

/// Primitive integer directions: the first four are axis / diagonal.
const DIRS: [(i32, i32); 8] = [
    (1, 0),
    (0, 1),
    (1, 1),
    (1, -1),
    (2, 1),
    (1, 2),
    (2, -1),
    (1, -2),
];

/// An integer direction `(p, q)`: `p*u + q*v` is periodic on the tile.
#[derive(Clone, Copy)]
struct Dir {
    p: f32,
    q: f32,
    len: f32,
}

impl Dir {
    fn new((p, q): (i32, i32)) -> Dir {
        let (p, q) = (p as f32, q as f32);
        Dir {
            p,
            q,
            len: (p * p + q * q).sqrt(),
        }
    }
    /// Axis-aligned with probability `axis`, else diagonal (or any of the 8 if `all`).
    fn random(rng: &mut ChaCha8Rng, axis: f64, all: bool) -> Dir {
        let i = if rng.random_bool(axis) {
            rng.random_range(0..2)
        } else if all {
            rng.random_range(2..8)
        } else {
            rng.random_range(2..4)
        };
        Dir::new(DIRS[i])
    }
    /// Coordinate along the direction.
    fn along(&self, u: f32, v: f32) -> f32 {
        self.p * u + self.q * v
    }
    /// Coordinate along the perpendicular direction `(-q, p)`.
    fn across(&self, u: f32, v: f32) -> f32 {
        -self.q * u + self.p * v
    }
    /// Integer count of cycles so that the spatial frequency is about `cycles` per tile.
    fn count(&self, cycles: f32) -> f32 {
        (cycles / self.len).round().max(1.0)
    }
}

/// A repeating sequence of coloured bands over one unit of `t`.
struct Bands {
    bounds: Vec<f32>,
    colours: Vec<Rgb>,
    soft: f32,
}

impl Bands {
    fn random(rng: &mut ChaCha8Rng, k: usize, palette: &[Rgb], min_w: f32, soft: f32) -> Bands {
        let widths: Vec<f32> = (0..k).map(|_| rng.random_range(min_w..1.0)).collect();
        let total: f32 = widths.iter().sum();
        let mut bounds = vec![0.0];
        let mut acc = 0.0;
        for w in &widths {
            acc += w / total;
            bounds.push(acc);
        }
        bounds[k] = 1.0;
        let colours = (0..k).map(|i| palette[i % palette.len()]).collect();
        Bands {
            bounds,
            colours,
            soft,
        }
    }

    /// Colour at `t` (any real), with edge blur `w` (in `t` units).
    fn at(&self, t: f32, w: f32) -> Rgb {
        let t = fract(t);
        let k = self.colours.len();
        let i = self.bounds[1..]
            .iter()
            .position(|&b| t < b)
            .unwrap_or(k - 1);
        let (lo, hi) = (self.bounds[i], self.bounds[i + 1]);
        let w = w + self.soft;
        let c = self.colours[i];
        let prev = self.colours[(i + k - 1) % k];
        let next = self.colours[(i + 1) % k];
        let c = mix(prev, c, cover(t - lo, w));
        mix(next, c, cover(hi - t, w))
    }
}

/// Triangle wave with period 1, values in `[0, 1]`, slope magnitude 2.
fn tri(x: f32) -> f32 {
    (2.0 * fract(x) - 1.0).abs()
}

/// Nearest of `pts` to `(u, v)`: (index, distance, exact distance to the nearest Voronoi border).
fn nearest_border(u: f32, v: f32, pts: &[(f32, f32)]) -> (usize, f32, f32) {
    let mut best = (0usize, f32::INFINITY);
    for (i, &(x, y)) in pts.iter().enumerate() {
        let d2 = (x - u) * (x - u) + (y - v) * (y - v);
        if d2 < best.1 {
            best = (i, d2);
        }
    }
    let (p1x, p1y) = pts[best.0];
    let mut border = f32::INFINITY;
    for (i, &(x, y)) in pts.iter().enumerate() {
        if i == best.0 {
            continue;
        }
        let d2 = (x - u) * (x - u) + (y - v) * (y - v);
        let sep = ((x - p1x) * (x - p1x) + (y - p1y) * (y - p1y)).sqrt();
        if sep > 1e-9 {
            border = border.min((d2 - best.1) / (2.0 * sep));
        }
    }
    (best.0, best.1.sqrt(), border)
}

fn darker(c: Rgb, k: f32) -> Rgb {
    scale(c, k)
}

// ---------------------------------------------------------------------------------------------
// Families

struct Striped {
    dir: Dir,
    n: f32,
    bands: Bands,
    wobble: f32,
    wobble_m: f32,
    phase: f32,
}

impl Striped {
    fn new(rng: &mut ChaCha8Rng) -> Striped {
        let dir = Dir::random(rng, 0.55, true);
        let n = dir.count(rng.random_range(3.0..14.0));
        let k = if rng.random_bool(0.4) { 3 } else { 2 };
        let pal = palette(rng, k);
        let k = rng.random_range(2..=4);
        let bands = Bands::random(rng, k, &pal, 0.25, 0.0);
        let wavy = rng.random_bool(0.35);
        Striped {
            dir,
            n,
            bands,
            wobble: if wavy {
                rng.random_range(0.05..0.35)
            } else {
                0.0
            },
            wobble_m: rng.random_range(1..=4) as f32,
            phase: rng.random(),
        }
    }
}

impl Pattern for Striped {
    fn colour(&self, u: f32, v: f32, px: f32) -> Rgb {
        let d = self.dir;
        let arg = TAU * (self.wobble_m * d.across(u, v) + self.phase);
        let f = self.n * d.along(u, v) + self.wobble * arg.sin();
        let k = self.wobble * TAU * self.wobble_m * arg.cos();
        let gu = self.n * d.p - k * d.q;
        let gv = self.n * d.q + k * d.p;
        self.bands.at(f, (gu * gu + gv * gv).sqrt() * px)
    }
}

struct Banded {
    dir: Dir,
    n: f32,
    bands: Bands,
    line: Option<(Rgb, f32)>,
    gradient: f32,
    wave: f32,
    wave_m: f32,
}

impl Banded {
    fn new(rng: &mut ChaCha8Rng) -> Banded {
        let dir = Dir::random(rng, 0.75, false);
        let n = if dir.len > 1.0 {
            1.0
        } else {
            rng.random_range(1..=2) as f32
        };
        let pal = palette(rng, 4);
        let k = rng.random_range(2..=4);
        let soft = if rng.random_bool(0.5) {
            rng.random_range(0.01..0.08)
        } else {
            0.0
        };
        let bands = Bands::random(rng, k, &pal[..3.min(k.max(2))], 0.3, soft);
        let line = rng
            .random_bool(0.4)
            .then(|| (pal[3], rng.random_range(0.004..0.015)));
        let wavy = rng.random_bool(0.3);
        Banded {
            dir,
            n,
            bands,
            line,
            gradient: if rng.random_bool(0.5) {
                rng.random_range(0.1..0.35)
            } else {
                0.0
            },
            wave: if wavy {
                rng.random_range(0.01..0.05)
            } else {
                0.0
            },
            wave_m: rng.random_range(1..=3) as f32,
        }
    }
}

impl Pattern for Banded {
    fn colour(&self, u: f32, v: f32, px: f32) -> Rgb {
        let d = self.dir;
        let f = self.n * d.along(u, v) + self.wave * (TAU * self.wave_m * d.across(u, v)).sin();
        let w = self.n * d.len * px;
        let mut c = self.bands.at(f, w);
        let t = fract(f);
        if self.gradient > 0.0 {
            let b = &self.bands.bounds;
            let i = b[1..].iter().position(|&x| t < x).unwrap_or(b.len() - 2);
            let local = (t - b[i]) / (b[i + 1] - b[i]).max(1e-6);
            c = scale(c, 1.0 - self.gradient * (local - 0.5));
        }
        if let Some((lc, hw)) = self.line {
            let dist = self
                .bands
                .bounds
                .iter()
                .map(|&b| (t - b).abs())
                .fold(f32::MAX, f32::min);
            c = mix(c, lc, cover(hw - dist, w));
        }
        c
    }
}

struct Chequered {
    dir: Dir,
    n: f32,
    a: Rgb,
    b: Rgb,
    grout: Option<(Rgb, f32)>,
}

impl Chequered {
    fn new(rng: &mut ChaCha8Rng) -> Chequered {
        let dir = if rng.random_bool(0.7) {
            Dir::new((1, 0))
        } else {
            Dir::new((1, 1))
        };
        let mut n = rng.random_range(2..=8);
        // Parity of floor(f) + floor(g) must repeat: p + q odd needs an even count.
        if dir.len == 1.0 {
            n = 2 * rng.random_range(1..=6);
        }
        let pal = palette(rng, 3);
        let grout = rng
            .random_bool(0.25)
            .then(|| (pal[2], rng.random_range(0.02..0.07)));
        Chequered {
            dir,
            n: n as f32,
            a: pal[0],
            b: pal[1],
            grout,
        }
    }
}

impl Pattern for Chequered {
    fn colour(&self, u: f32, v: f32, px: f32) -> Rgb {
        let f = self.n * self.dir.along(u, v);
        let g = self.n * self.dir.across(u, v);
        let w = self.n * self.dir.len * px;
        let sf = if (f.floor() as i64).rem_euclid(2) == 0 {
            1.0
        } else {
            -1.0
        };
        let sg = if (g.floor() as i64).rem_euclid(2) == 0 {
            1.0
        } else {
            -1.0
        };
        let (df, dg) = (dist_int(f), dist_int(g));
        let c = sf * (df / (0.5 * w)).min(1.0) * sg * (dg / (0.5 * w)).min(1.0);
        let mut col = mix(self.b, self.a, 0.5 + 0.5 * c);
        if let Some((gc, hw)) = self.grout {
            col = mix(col, gc, cover(hw - df.min(dg), w));
        }
        col
    }
}

struct Dotted {
    n: f32,
    stagger: bool,
    r: f32,
    ring: Option<f32>,
    bg: Rgb,
    dots: Vec<Rgb>,
    random_colours: bool,
    seed: u32,
}

impl Dotted {
    fn new(rng: &mut ChaCha8Rng) -> Dotted {
        let stagger = rng.random_bool(0.5);
        let mut n = rng.random_range(3..=12);
        if stagger && n % 2 == 1 {
            n += 1;
        }
        let colours = rng.random_range(2..=4);
        let pal = palette(rng, colours);
        Dotted {
            n: n as f32,
            stagger,
            r: rng.random_range(0.15..0.4),
            ring: rng.random_bool(0.2).then(|| rng.random_range(0.05..0.1)),
            bg: pal[0],
            dots: pal[1..].to_vec(),
            random_colours: rng.random_bool(0.5),
            seed: rng.random(),
        }
    }
}

impl Pattern for Dotted {
    fn colour(&self, u: f32, v: f32, px: f32) -> Rgb {
        let y = v * self.n;
        let j = y.floor();
        let x = u * self.n
            + if self.stagger && (j as i64).rem_euclid(2) == 1 {
                0.5
            } else {
                0.0
            };
        let i = x.floor();
        let (dx, dy) = (fract(x) - 0.5, fract(y) - 0.5);
        let d = (dx * dx + dy * dy).sqrt();
        let w = self.n * px;
        let (wi, wj) = (wrap(i as i64, self.n as u32), wrap(j as i64, self.n as u32));
        let k = if self.random_colours {
            hash(wi, wj, self.seed) as usize % self.dots.len()
        } else {
            (wi + wj) as usize % self.dots.len()
        };
        let cov = match self.ring {
            Some(rw) => cover(rw - (d - self.r).abs(), w),
            None => cover(self.r - d, w),
        };
        mix(self.bg, self.dots[k], cov)
    }
}

struct Zigzagged {
    dir: Dir,
    n: f32,
    m: f32,
    amp: f32,
    bands: Bands,
}

impl Zigzagged {
    fn new(rng: &mut ChaCha8Rng) -> Zigzagged {
        let dir = Dir::random(rng, 0.8, false);
        let n = dir.count(rng.random_range(3.0..10.0));
        let m = dir.count(rng.random_range(2.0..10.0));
        let amp = rng.random_range(0.6..2.2) * n / (2.0 * m);
        let k = if rng.random_bool(0.4) { 3 } else { 2 };
        let pal = palette(rng, k);
        let k = if pal.len() == 3 { 3 } else { 2 };
        let bands = Bands::random(rng, k, &pal, 0.4, 0.0);
        Zigzagged {
            dir,
            n,
            m,
            amp,
            bands,
        }
    }
}

impl Pattern for Zigzagged {
    fn colour(&self, u: f32, v: f32, px: f32) -> Rgb {
        let d = self.dir;
        let t = self.n * d.along(u, v) + self.amp * tri(self.m * d.across(u, v));
        let grad = d.len * (self.n * self.n + (2.0 * self.amp * self.m).powi(2)).sqrt();
        self.bands.at(t, grad * px)
    }
}

struct Grid {
    dir: Dir,
    n1: f32,
    n2: f32,
    hw: f32,
    double: Option<f32>,
    minor: Option<f32>,
    bg: Rgb,
    line: Rgb,
    minor_c: Rgb,
}

impl Grid {
    fn new(rng: &mut ChaCha8Rng) -> Grid {
        let dir = if rng.random_bool(0.75) {
            Dir::new((1, 0))
        } else {
            Dir::new((1, 1))
        };
        let n1 = dir.count(rng.random_range(2.0..12.0));
        let n2 = if rng.random_bool(0.6) {
            n1
        } else {
            dir.count(rng.random_range(2.0..12.0))
        };
        let hw = rng.random_range(0.03..0.13) / (n1.max(n2) * dir.len);
        let pal = palette(rng, 3);
        Grid {
            dir,
            n1,
            n2,
            hw,
            double: rng
                .random_bool(0.2)
                .then(|| hw * rng.random_range(2.2..3.5)),
            minor: rng
                .random_bool(0.25)
                .then(|| [2.0, 4.0, 5.0][rng.random_range(0..3)]),
            bg: pal[0],
            line: pal[1],
            minor_c: mix(pal[0], pal[2], 0.6),
        }
    }
}

impl Pattern for Grid {
    fn colour(&self, u: f32, v: f32, px: f32) -> Rgb {
        let d = self.dir;
        let (f, g) = (self.n1 * d.along(u, v), self.n2 * d.across(u, v));
        let (s1, s2) = (1.0 / (self.n1 * d.len), 1.0 / (self.n2 * d.len));
        let mut c = self.bg;
        if let Some(k) = self.minor {
            let dm = (dist_int(f * k) * s1 / k).min(dist_int(g * k) * s2 / k);
            c = mix(c, self.minor_c, cover(0.4 * self.hw - dm, px));
        }
        let (df, dg) = (dist_int(f) * s1, dist_int(g) * s2);
        let dist = match self.double {
            Some(off) => (df - off).abs().min((dg - off).abs()),
            None => df.min(dg),
        };
        mix(c, self.line, cover(self.hw - dist, px))
    }
}

struct Marbled {
    dir: Dir,
    k: f32,
    period: u32,
    amp: f32,
    sharp: f32,
    base: Rgb,
    second: Rgb,
    vein: Rgb,
    seed: u32,
}

impl Marbled {
    fn new(rng: &mut ChaCha8Rng) -> Marbled {
        let dir = Dir::random(rng, 0.5, false);
        let pal = palette(rng, 3);
        Marbled {
            dir,
            k: rng.random_range(1..=3) as f32,
            period: rng.random_range(2..=4),
            amp: rng.random_range(1.5..5.0),
            sharp: rng.random_range(1.2..5.0),
            base: pal[0],
            second: mix(pal[0], pal[2], rng.random_range(0.3..0.8)),
            vein: pal[1],
            seed: rng.random(),
        }
    }
}

impl Pattern for Marbled {
    fn colour(&self, u: f32, v: f32, _px: f32) -> Rgb {
        let t = turbulence(u, v, self.period, 5, 0.45, self.seed);
        let phase = self.k * self.dir.along(u, v) + self.amp * t;
        let s = (PI * phase).sin().abs();
        let vein = (1.0 - s).powf(self.sharp);
        let m = (0.5 + 1.2 * fbm(u, v, self.period, 3, 0.55, self.seed ^ 0xa5a5)).clamp(0.0, 1.0);
        let c = mix(self.base, self.second, m);
        let c = mix(c, self.vein, vein);
        scale(c, 0.93 + 0.07 * s)
    }
}

struct Cellular {
    n: u32,
    cells: Worley,
    warp: f32,
    hw: f32,
    fill: Rgb,
    tint: Rgb,
    crack: Rgb,
    rim: f32,
    seed: u32,
}

impl Cellular {
    fn new(rng: &mut ChaCha8Rng) -> Cellular {
        let n = rng.random_range(3..=10);
        let pal = palette(rng, 3);
        let crack = if rng.random_bool(0.8) {
            darker(pal[1], 0.3)
        } else {
            pal[1]
        };
        let jitter = rng.random_range(0.5..0.85);
        let warp = rng.random_range(0.0..0.04);
        let hw = rng.random_range(0.002..0.012);
        let rim = rng.random_range(0.0..0.3);
        let seed = rng.random();
        Cellular {
            n,
            cells: Worley::new(n, jitter, seed),
            warp,
            hw,
            fill: pal[0],
            tint: pal[2],
            crack,
            rim,
            seed,
        }
    }
}

impl Pattern for Cellular {
    fn colour(&self, u: f32, v: f32, px: f32) -> Rgb {
        let (wu, wv) = if self.warp > 0.0 {
            (
                u + self.warp * fbm(u, v, 4, 2, 0.5, self.seed ^ 1),
                v + self.warp * fbm(u, v, 4, 2, 0.5, self.seed ^ 2),
            )
        } else {
            (u, v)
        };
        let cell = self.cells.lookup(wu, wv);
        let h = hash01(cell.id.0, cell.id.1, self.seed ^ 3);
        let mut c = mix(self.fill, self.tint, 0.35 * h);
        c = scale(c, 1.0 - 0.12 * (cell.d1 * self.n as f32).min(1.0));
        let edge = smoothstep(0.0, 0.35 / self.n as f32, cell.border);
        c = scale(c, 1.0 - self.rim * (1.0 - edge));
        let width = self.hw * (0.6 + 0.8 * (0.5 + fbm(u, v, 8, 1, 0.5, self.seed ^ 4)));
        mix(c, self.crack, cover(width - cell.border, px))
    }
}

#[derive(Clone, Copy)]
enum Weave {
    Plain,
    Twill,
    Basket,
}

struct Woven {
    dir: Dir,
    n: f32,
    weave: Weave,
    gap: f32,
    warp: Rgb,
    weft: Rgb,
    shadow: Rgb,
    fibres: f32,
}

impl Woven {
    fn new(rng: &mut ChaCha8Rng) -> Woven {
        let dir = if rng.random_bool(0.8) {
            Dir::new((1, 0))
        } else {
            Dir::new((1, 1))
        };
        let n = 4.0 * rng.random_range(1..=if dir.len > 1.0 { 2 } else { 3 }) as f32;
        let weave = match rng.random_range(0..4) {
            0 | 1 => Weave::Plain,
            2 => Weave::Twill,
            _ => Weave::Basket,
        };
        let pal = palette(rng, 2);
        let weft = if rng.random_bool(0.4) {
            scale(pal[0], rng.random_range(0.6..0.85))
        } else {
            pal[1]
        };
        Woven {
            dir,
            n,
            weave,
            gap: rng.random_range(0.04..0.18),
            warp: pal[0],
            weft,
            shadow: scale(mix(pal[0], weft, 0.5), 0.25),
            fibres: rng.random_range(2.0f32..7.0).round(),
        }
    }

    /// True when the thread running along `f` is on top in cell `(i, j)`.
    fn over(&self, i: i64, j: i64) -> bool {
        match self.weave {
            Weave::Plain => (i + j).rem_euclid(2) == 0,
            Weave::Twill => (i + j).rem_euclid(4) < 2,
            Weave::Basket => (i.div_euclid(2) + j.div_euclid(2)).rem_euclid(2) == 0,
        }
    }

    /// Shaded colour of a thread; `across` in `[0,1]` across it, `along` in `[0,1]` along it.
    fn thread(&self, c: Rgb, across: f32, along: f32) -> Rgb {
        let half = 0.5 - self.gap;
        let r = ((across - 0.5) / half).clamp(-1.0, 1.0);
        let cyl = (1.0 - r * r).sqrt();
        let dip = 1.0 - 0.3 * (1.0 - smoothstep(0.0, 0.3, along.min(1.0 - along)));
        let fib = 1.0 + 0.1 * (TAU * (self.fibres * across + 0.25 * along)).sin();
        scale(c, (0.45 + 0.55 * cyl) * dip * fib)
    }
}

impl Pattern for Woven {
    fn colour(&self, u: f32, v: f32, px: f32) -> Rgb {
        let f = self.n * self.dir.along(u, v);
        let g = self.n * self.dir.across(u, v);
        let (i, j) = (f.floor() as i64, g.floor() as i64);
        let (x, y) = (fract(f), fract(g));
        let w = self.n * self.dir.len * px;
        let half = 0.5 - self.gap;
        // Thread A runs along f (occupies a band in y), thread B along g (a band in x).
        let cov_a = cover(half - (y - 0.5).abs(), w);
        let cov_b = cover(half - (x - 0.5).abs(), w);
        let a = self.thread(self.warp, y, x);
        let b = self.thread(self.weft, x, y);
        if self.over(i, j) {
            mix(mix(self.shadow, scale(b, 0.6), cov_b), a, cov_a)
        } else {
            mix(mix(self.shadow, scale(a, 0.6), cov_a), b, cov_b)
        }
    }
}

#[derive(Clone, Copy)]
enum NoiseMode {
    Smooth,
    Threshold,
    Ridged,
}

struct Noise {
    period: u32,
    octaves: u32,
    gain: f32,
    warp: f32,
    mode: NoiseMode,
    edge: f32,
    colours: Vec<Rgb>,
    seed: u32,
}

impl Noise {
    fn new(rng: &mut ChaCha8Rng) -> Noise {
        let mode = match rng.random_range(0..20) {
            0..=6 => NoiseMode::Smooth,
            7..=14 => NoiseMode::Threshold,
            _ => NoiseMode::Ridged,
        };
        let k = rng.random_range(2..=3);
        Noise {
            period: rng.random_range(2..=6),
            octaves: rng.random_range(3..=6),
            gain: rng.random_range(0.45..0.65),
            warp: if rng.random_bool(0.5) {
                rng.random_range(0.05..0.3)
            } else {
                0.0
            },
            mode,
            edge: rng.random_range(0.01..0.06),
            colours: palette(rng, k),
            seed: rng.random(),
        }
    }
}

impl Pattern for Noise {
    fn colour(&self, u: f32, v: f32, _px: f32) -> Rgb {
        let (mut wu, mut wv) = (u, v);
        if self.warp > 0.0 {
            wu += self.warp * fbm(u, v, self.period, 3, 0.5, self.seed ^ 11);
            wv += self.warp * fbm(u, v, self.period, 3, 0.5, self.seed ^ 12);
        }
        let n = fbm(wu, wv, self.period, self.octaves, self.gain, self.seed);
        let t = (0.5 + 1.3 * n).clamp(0.0, 1.0);
        let cs = &self.colours;
        match self.mode {
            NoiseMode::Smooth => {
                if cs.len() == 2 {
                    mix(cs[0], cs[1], t)
                } else if t < 0.5 {
                    mix(cs[0], cs[1], t * 2.0)
                } else {
                    mix(cs[1], cs[2], t * 2.0 - 1.0)
                }
            }
            NoiseMode::Threshold => {
                let k = cs.len();
                let mut c = cs[0];
                for (i, &next) in cs.iter().enumerate().skip(1) {
                    let th = i as f32 / k as f32;
                    c = mix(c, next, smoothstep(th - self.edge, th + self.edge, t));
                }
                c
            }
            NoiseMode::Ridged => {
                let r = (1.0 - (2.0 * n).abs().min(1.0)).powi(4);
                let base = if cs.len() == 3 {
                    mix(cs[0], cs[2], t)
                } else {
                    cs[0]
                };
                mix(base, cs[1], r)
            }
        }
    }
}

struct Honeycombed {
    n: u32,
    m: u32,
    hw: f32,
    fill: Rgb,
    border: Rgb,
    inner: Rgb,
    hollow: f32,
    seed: u32,
}

impl Honeycombed {
    fn new(rng: &mut ChaCha8Rng) -> Honeycombed {
        let n = rng.random_range(3..=9);
        let m = (((n as f32) / (3f32.sqrt() / 2.0) / 2.0).round() as u32).max(1) * 2;
        let pal = palette(rng, 3);
        Honeycombed {
            n,
            m,
            hw: rng.random_range(0.04..0.14) / n as f32,
            fill: pal[0],
            border: pal[1],
            inner: mix(pal[0], pal[2], 0.7),
            hollow: if rng.random_bool(0.5) {
                rng.random_range(0.3..0.8)
            } else {
                0.0
            },
            seed: rng.random(),
        }
    }
}

impl Pattern for Honeycombed {
    fn colour(&self, u: f32, v: f32, px: f32) -> Rgb {
        let (nf, mf) = (self.n as f32, self.m as f32);
        let j0 = (v * mf - 0.5).floor() as i64;
        let mut pts = [(0f32, 0f32); 16];
        let mut ids = [(0u32, 0u32); 16];
        let mut k = 0;
        for j in j0 - 1..=j0 + 2 {
            let odd = wrap(j, self.m) % 2;
            let shift = 0.5 * odd as f32;
            let i0 = (u * nf - shift).floor() as i64;
            for i in i0 - 1..=i0 + 2 {
                pts[k] = ((i as f32 + 0.5 + shift) / nf, (j as f32 + 0.5) / mf);
                ids[k] = (wrap(i, self.n), wrap(j, self.m));
                k += 1;
            }
        }
        let (idx, d1, border) = nearest_border(u, v, &pts);
        let h = hash01(ids[idx].0, ids[idx].1, self.seed);
        let mut c = scale(self.fill, 0.9 + 0.2 * h);
        if self.hollow > 0.0 {
            let r = 0.5 / nf;
            c = mix(
                c,
                self.inner,
                self.hollow * (1.0 - smoothstep(0.0, r, d1 * 1.3)),
            );
        }
        mix(c, self.border, cover(self.hw - border, px))
    }
}

struct Crosshatched {
    dirs: Vec<(Dir, f32)>,
    hw: f32,
    paper: Rgb,
    ink: Rgb,
    seed: u32,
}

impl Crosshatched {
    fn new(rng: &mut ChaCha8Rng) -> Crosshatched {
        let sets: &[(i32, i32)] = match rng.random_range(0..4) {
            0 | 1 => &[(1, 1), (1, -1)],
            2 => &[(1, 0), (0, 1)],
            _ => &[(2, 1), (-1, 2), (1, -2)],
        };
        let cycles = rng.random_range(8.0..18.0);
        let dirs = sets
            .iter()
            .map(|&d| {
                let d = Dir::new(d);
                (d, d.count(cycles))
            })
            .collect();
        let pal = palette(rng, 2);
        let (light, dark) = if luma(pal[0]) >= luma(pal[1]) {
            (pal[0], pal[1])
        } else {
            (pal[1], pal[0])
        };
        // Ink on paper: a light ground and a dark ink.
        let paper = mix(light, [1.0; 3], rng.random_range(0.3..0.8));
        let ink = scale(dark, rng.random_range(0.2..0.6));
        Crosshatched {
            dirs,
            hw: rng.random_range(0.06..0.16),
            paper,
            ink,
            seed: rng.random(),
        }
    }
}

impl Pattern for Crosshatched {
    fn colour(&self, u: f32, v: f32, px: f32) -> Rgb {
        let mut clear = 1.0;
        let wobble = 0.12 * fbm(u, v, 6, 2, 0.5, self.seed);
        let pressure = (0.5 + fbm(u, v, 3, 3, 0.5, self.seed ^ 0xff)).clamp(0.0, 1.0);
        for (k, &(d, n)) in self.dirs.iter().enumerate() {
            let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
            let f = n * d.along(u, v) + sign * wobble;
            let width = self.hw * (0.5 + if k % 2 == 0 { pressure } else { 1.0 - pressure });
            let w = n * d.len * px;
            clear *= 1.0 - cover(width - dist_int(f), w);
        }
        mix(self.paper, self.ink, 0.92 * (1.0 - clear))
    }
}

/// One sprinkle: centre offset inside its cell (tile units), half-axis vector, draw priority,
/// colour index.
#[derive(Clone, Copy)]
struct Capsule {
    ox: f32,
    oy: f32,
    dx: f32,
    dy: f32,
    inv_len2: f32,
    priority: u32,
    colour: usize,
}

struct Sprinkled {
    n: u32,
    r: f32,
    bg: Rgb,
    colours: Vec<Rgb>,
    /// Per cell (row-major), the sprinkle in it, if any.
    caps: Vec<Option<Capsule>>,
}

impl Sprinkled {
    fn new(rng: &mut ChaCha8Rng) -> Sprinkled {
        let n = rng.random_range(6..=16);
        let nf = n as f32;
        let k = rng.random_range(3..=5);
        let pal = palette(rng, k + 1);
        let density = rng.random_range(0.55..0.95);
        let len = rng.random_range(0.25..0.55) / nf;
        let r = rng.random_range(0.07..0.15) / nf;
        let seed: u32 = rng.random();
        let colours = pal[1..].to_vec();
        let caps = (0..n * n)
            .map(|c| {
                let (wi, wj) = (c % n, c / n);
                let h = hash(wi, wj, seed);
                let bits = hash(wi, wj, seed ^ 1);
                let unit = |shift: u32| ((bits >> shift) & 0xff) as f32 / 256.0;
                (unit(0) <= density).then(|| {
                    let (sin, cos) = (PI * unit(24)).sin_cos();
                    let (dx, dy) = (cos * len, sin * len);
                    Capsule {
                        ox: (0.2 + 0.6 * unit(8)) / nf,
                        oy: (0.2 + 0.6 * unit(16)) / nf,
                        dx,
                        dy,
                        inv_len2: 1.0 / (dx * dx + dy * dy),
                        priority: h,
                        colour: h as usize % colours.len(),
                    }
                })
            })
            .collect();
        Sprinkled {
            n,
            r,
            bg: pal[0],
            colours,
            caps,
        }
    }
}

impl Pattern for Sprinkled {
    fn colour(&self, u: f32, v: f32, px: f32) -> Rgb {
        let nf = self.n as f32;
        let (ci, cj) = ((u * nf).floor() as i64, (v * nf).floor() as i64);
        let mut hits: [(u32, f32, usize); 9] = [(0, 0.0, 0); 9];
        let mut k = 0;
        for j in cj - 1..=cj + 1 {
            for i in ci - 1..=ci + 1 {
                let (wi, wj) = (wrap(i, self.n), wrap(j, self.n));
                let Some(cap) = self.caps[(wj * self.n + wi) as usize] else {
                    continue;
                };
                // Distance to the segment (c - d, c + d).
                let (qx, qy) = (u - (i as f32 / nf + cap.ox), v - (j as f32 / nf + cap.oy));
                let t = ((qx * cap.dx + qy * cap.dy) * cap.inv_len2).clamp(-1.0, 1.0);
                let dist = ((qx - t * cap.dx).powi(2) + (qy - t * cap.dy).powi(2)).sqrt();
                let cov = cover(self.r - dist, px);
                if cov > 0.0 {
                    hits[k] = (cap.priority, cov, cap.colour);
                    k += 1;
                }
            }
        }
        let hits = &mut hits[..k];
        hits.sort_unstable_by_key(|h| h.0);
        hits.iter()
            .fold(self.bg, |c, &(_, cov, ci)| mix(c, self.colours[ci], cov))
    }
}

struct Scaly {
    n: u32,
    m: u32,
    r: f32,
    rim: f32,
    flip: bool,
    transpose: bool,
    a: Rgb,
    b: Rgb,
    edge: Rgb,
    seed: u32,
}

impl Scaly {
    fn new(rng: &mut ChaCha8Rng) -> Scaly {
        let n = rng.random_range(3..=9);
        let ratio = rng.random_range(0.45..0.7);
        let m = ((n as f32 / ratio / 2.0).round() as u32).max(1) * 2;
        let (cw, rh) = (1.0 / n as f32, 1.0 / m as f32);
        let r = (0.62 * cw).max(((0.5 * cw).powi(2) + rh * rh).sqrt() * 1.05);
        let pal = palette(rng, 3);
        Scaly {
            n,
            m,
            r,
            rim: rng.random_range(0.04..0.12) * r,
            flip: rng.random_bool(0.5),
            transpose: rng.random_bool(0.3),
            a: pal[0],
            b: pal[1],
            edge: darker(pal[2], 0.5),
            seed: rng.random(),
        }
    }
}

impl Pattern for Scaly {
    fn colour(&self, u: f32, v: f32, px: f32) -> Rgb {
        let (u, v) = if self.transpose { (v, u) } else { (u, v) };
        let v = if self.flip { 1.0 - v } else { v };
        let (nf, mf) = (self.n as f32, self.m as f32);
        let j_hi = ((v + self.r) * mf).ceil() as i64;
        let j_lo = ((v - self.r) * mf).floor() as i64;
        for j in (j_lo..=j_hi).rev() {
            let shift = 0.5 * (wrap(j, self.m) % 2) as f32;
            let cy = j as f32 / mf;
            let i0 = (u * nf - shift - 0.5).round() as i64;
            for i in i0 - 1..=i0 + 1 {
                let cx = (i as f32 + 0.5 + shift) / nf;
                let d = ((u - cx).powi(2) + (v - cy).powi(2)).sqrt();
                if d < self.r {
                    let h = hash01(wrap(i, self.n), wrap(j, self.m), self.seed);
                    let t = (d / self.r).powi(2);
                    let c = scale(mix(self.a, self.b, t), 0.9 + 0.2 * h);
                    return mix(c, self.edge, cover(self.rim - (self.r - d), px));
                }
            }
        }
        self.edge
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn palettes_contrast() {
        let mut weak = 0;
        for seed in 0..500 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let pal = palette(&mut rng, 3);
            assert!(
                pal.iter().flatten().all(|c| (0.0..=1.0).contains(c)),
                "{pal:?}"
            );
            let min = (0..3)
                .flat_map(|i| (i + 1..3).map(move |j| (i, j)))
                .map(|(i, j)| contrast(pal[i], pal[j]))
                .fold(f32::MAX, f32::min);
            if min < 0.3 {
                weak += 1;
            }
        }
        assert!(
            weak < 10,
            "{weak} of 500 palettes have a pair below contrast 0.3"
        );
    }

    #[test]
    fn bands_blend_only_at_edges() {
        let bands = Bands {
            bounds: vec![0.0, 0.25, 1.0],
            colours: vec![[1.0; 3], [0.0; 3]],
            soft: 0.0,
        };
        assert_eq!(bands.at(0.1, 0.01), [1.0; 3]);
        assert_eq!(bands.at(0.6, 0.01), [0.0; 3]);
        assert_eq!(bands.at(1.6, 0.01), [0.0; 3]);
        let edge = bands.at(0.25, 0.01);
        assert!((edge[0] - 0.5).abs() < 1e-3, "{edge:?}");
    }

    #[test]
    fn integer_directions_are_periodic() {
        for d in DIRS {
            let d = Dir::new(d);
            let n = d.count(7.0);
            assert_eq!(n.fract(), 0.0);
            let (a, b) = (n * d.along(0.3, 0.7), n * d.along(1.3, 1.7));
            assert!(((b - a) - (b - a).round()).abs() < 1e-4);
        }
    }
}
