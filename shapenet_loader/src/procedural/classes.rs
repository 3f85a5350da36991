//! The ten class generators, each assembling parametric parts whose proportions and optional
//! pieces are drawn from the seeded RNG.
//!
//! Frame: z up (ground at z = 0 before normalisation), front towards +x, sizes in rough metres.
//! [`Builder::finish`] centres and scales the result.

use std::f32::consts::{FRAC_PI_2, PI, TAU};

use glam::{Mat4, Vec3};
use rand::Rng;

use super::parts::*;
use crate::Mesh;

fn v(x: f32, y: f32, z: f32) -> Vec3 {
    Vec3::new(x, y, z)
}

/// Uniform in `[a, b)` (any order of bounds, never panics).
fn u<R: Rng>(rng: &mut R, a: f32, b: f32) -> f32 {
    a + (b - a) * rng.random::<f32>()
}

/// True with probability `p`.
fn chance<R: Rng>(rng: &mut R, p: f32) -> bool {
    rng.random::<f32>() < p
}

/// Index drawn with the given relative weights.
fn pick<R: Rng>(rng: &mut R, weights: &[f32]) -> usize {
    let total: f32 = weights.iter().sum();
    let mut x = rng.random::<f32>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// Integer in `lo..=hi`.
fn int<R: Rng>(rng: &mut R, lo: u32, hi: u32) -> u32 {
    lo + (rng.random::<u32>() % (hi - lo + 1))
}

/// A vertical post (square or round) from `z0` to `z1` at `(x, y)`.
fn post(x: f32, y: f32, z0: f32, z1: f32, t: f32, round: bool) -> Part {
    if round {
        tube(v(x, y, z0), v(x, y, z1), t * 0.5, t * 0.5, 10)
    } else {
        aabb(
            v(x - t / 2.0, y - t / 2.0, z0),
            v(x + t / 2.0, y + t / 2.0, z1),
        )
    }
}

/// A leg between two arbitrary points (square section approximated by a 6-sided tube when
/// round is false, to allow slanted legs).
fn strut(a: Vec3, b: Vec3, t: f32, round: bool) -> Part {
    tube(a, b, t * 0.5, t * 0.5, if round { 10 } else { 4 })
}

// ---------------------------------------------------------------------------------------------

pub fn airplane<R: Rng>(rng: &mut R) -> Mesh {
    let mut b = Builder::new();
    // 0 airliner, 1 small prop / business jet, 2 fighter
    let kind = pick(rng, &[0.5, 0.25, 0.25]);
    let half = 0.5;
    let rf = match kind {
        0 => u(rng, 0.045, 0.065),
        1 => u(rng, 0.035, 0.05),
        _ => u(rng, 0.035, 0.05),
    };
    let squash = u(rng, 0.9, 1.15);
    let tail_rise = rf * u(rng, 0.4, 0.9);
    let nose_len = u(rng, 0.08, 0.18);
    let tail_len = u(rng, 0.22, 0.35);
    let segs = 14;
    let stations = 14;
    let rings: Vec<Vec<Vec3>> = (0..=stations)
        .map(|i| {
            let t = i as f32 / stations as f32; // 0 = tail, 1 = nose
            let x = -half + t;
            let from_nose = half - x;
            let from_tail = x + half;
            let (r, zc) = if from_nose < nose_len {
                let s = (from_nose / nose_len).max(0.0);
                (
                    rf * (0.08 + 0.92 * (s * (2.0 - s)).sqrt()),
                    -rf * 0.15 * (1.0 - s),
                )
            } else if from_tail < tail_len {
                let s = (from_tail / tail_len).max(0.0);
                (rf * (0.25 + 0.75 * s), tail_rise * (1.0 - s))
            } else {
                (rf, 0.0)
            };
            ring(v(x, 0.0, zc), Vec3::X, r, r * squash, segs)
        })
        .collect();
    b.add(loft(&rings, true, true));

    // wings
    let (span, cr, ct, sweep, x_le) = match kind {
        0 => (
            u(rng, 0.42, 0.58),
            u(rng, 0.17, 0.25),
            u(rng, 0.05, 0.09),
            u(rng, 0.35, 0.65),
            u(rng, 0.05, 0.15),
        ),
        1 => (
            u(rng, 0.45, 0.6),
            u(rng, 0.12, 0.18),
            u(rng, 0.07, 0.11),
            u(rng, 0.0, 0.25),
            u(rng, 0.05, 0.15),
        ),
        _ => (
            u(rng, 0.25, 0.36),
            u(rng, 0.38, 0.5),
            u(rng, 0.03, 0.07),
            u(rng, 0.7, 1.0),
            u(rng, 0.15, 0.25),
        ),
    };
    let z_w = rf * [-0.55, 0.0, 0.55][pick(rng, &[0.5, 0.25, 0.25])];
    let dihedral = span * u(rng, 0.0, 0.1);
    let x_tip = x_le - span * sweep.tan();
    let wing = slab(
        (v(x_le, 0.0, z_w), v(x_le - cr, 0.0, z_w)),
        (
            v(x_tip, span, z_w + dihedral),
            v(x_tip - ct, span, z_w + dihedral),
        ),
        Vec3::Z,
        0.03,
        0.012,
    );
    b.add_mirrored(wing);

    // engines under the wings
    if kind == 0 {
        let pairs = if chance(rng, 0.3) { 2 } else { 1 };
        let er = u(rng, 0.028, 0.04);
        let el = u(rng, 0.13, 0.19);
        for k in 0..pairs {
            let f = if pairs == 1 {
                0.35
            } else {
                0.28 + 0.3 * k as f32
            };
            let y = span * f;
            let xl = x_le - y * sweep.tan();
            let z = z_w + dihedral * f - er * 1.3;
            b.add_mirrored(tube(
                v(xl + el * 0.6, y, z),
                v(xl - el * 0.4, y, z),
                er,
                er * 0.8,
                12,
            ));
        }
    } else if kind == 1 && chance(rng, 0.5) {
        // rear-mounted jets
        let er = u(rng, 0.022, 0.03);
        b.add_mirrored(tube(
            v(-0.18, rf + er * 0.6, rf * 0.4),
            v(-0.32, rf + er * 0.6, rf * 0.4),
            er,
            er * 0.85,
            10,
        ));
    }

    // tail: fin and stabilisers
    let fin_h = u(rng, 0.12, 0.2) * if kind == 2 { 0.9 } else { 1.0 };
    let fin_root = u(rng, 0.14, 0.22);
    let fin_sweep = u(rng, 0.06, 0.14);
    let zt = tail_rise + rf * 0.1;
    let twin = kind == 2 && chance(rng, 0.5);
    let fin = |y: f32| {
        slab(
            (
                v(-half + fin_root, y, zt - rf * 0.2),
                v(-half + 0.01, y, zt - rf * 0.2),
            ),
            (
                v(-half + fin_root * 0.4 - fin_sweep, y, zt + fin_h),
                v(-half + 0.01 - fin_sweep * 0.6, y, zt + fin_h),
            ),
            Vec3::Y,
            0.02,
            0.012,
        )
    };
    if twin {
        b.add_mirrored(fin(rf * 0.6));
    } else {
        b.add(fin(0.0));
    }
    let t_tail = kind != 2 && !twin && chance(rng, 0.25);
    let zs = if t_tail {
        zt + fin_h * 0.95
    } else {
        zt - rf * 0.1
    };
    let s_span = span * u(rng, 0.3, 0.42);
    let s_root = u(rng, 0.1, 0.16);
    let s_x = -half + s_root + if t_tail { -fin_sweep } else { 0.01 };
    let s_sweep = u(rng, 0.2, 0.6);
    let stab = slab(
        (v(s_x, 0.0, zs), v(s_x - s_root, 0.0, zs)),
        (
            v(s_x - s_span * s_sweep.tan(), s_span, zs + 0.01),
            v(
                s_x - s_span * s_sweep.tan() - s_root * 0.5,
                s_span,
                zs + 0.01,
            ),
        ),
        Vec3::Z,
        0.018,
        0.01,
    );
    b.add_mirrored(stab);
    if kind == 1 && chance(rng, 0.5) {
        // propeller disc at the nose
        b.add(tube(
            v(half, 0.0, 0.0),
            v(half + 0.01, 0.0, 0.0),
            rf * 2.2,
            rf * 2.2,
            16,
        ));
    }
    b.finish()
}

// ---------------------------------------------------------------------------------------------

pub fn bench<R: Rng>(rng: &mut R) -> Mesh {
    let mut b = Builder::new();
    let len = u(rng, 1.1, 1.9);
    let depth = u(rng, 0.36, 0.5);
    let h = u(rng, 0.38, 0.47);
    let t = u(rng, 0.03, 0.05);
    let hy = len / 2.0;
    let hx = depth / 2.0;
    // seat
    if chance(rng, 0.7) {
        let n = int(rng, 3, 6);
        let gap = u(rng, 0.01, 0.025);
        let w = (depth - gap * (n - 1) as f32) / n as f32;
        for k in 0..n {
            let x0 = -hx + k as f32 * (w + gap);
            b.add(aabb(v(x0, -hy, h - t), v(x0 + w, hy, h)));
        }
    } else {
        b.add(aabb(v(-hx, -hy, h - t), v(hx, hy, h)));
    }
    // supports
    let inset = u(rng, 0.04, 0.15) * len;
    let legs_y = [-hy + inset, hy - inset];
    let style = pick(rng, &[0.45, 0.35, 0.2]);
    let lt = u(rng, 0.04, 0.07);
    match style {
        0 => {
            let round = chance(rng, 0.3);
            for y in legs_y {
                for x in [-hx + lt, hx - lt] {
                    b.add(post(x, y, 0.0, h - t, lt, round));
                }
                b.add(aabb(
                    v(-hx + lt, y - lt / 3.0, 0.08),
                    v(hx - lt, y + lt / 3.0, 0.08 + lt),
                ));
            }
        }
        1 => {
            for y in legs_y {
                b.add(aabb(
                    v(-hx * 0.9, y - lt / 2.0, 0.0),
                    v(hx * 0.9, y + lt / 2.0, h - t),
                ));
            }
        }
        _ => {
            // A-frames of round bars
            for y in legs_y {
                b.add(strut(v(-hx, y, 0.0), v(0.0, y, h - t), lt * 0.7, true));
                b.add(strut(v(hx, y, 0.0), v(0.0, y, h - t), lt * 0.7, true));
            }
        }
    }
    // backrest
    if chance(rng, 0.75) {
        let bh = u(rng, 0.25, 0.42);
        let tilt = u(rng, 0.0, 0.12);
        let n = int(rng, 1, 4);
        let slat_h = bh / (2 * n) as f32 * u(rng, 1.0, 1.6);
        for k in 0..n {
            let z1 = h + bh - k as f32 * (bh / n as f32);
            let z0 = (z1 - slat_h).max(h + 0.03);
            let dx = tilt * (z1 - h);
            b.add(hexa([
                v(-hx - dx + tilt * (z1 - z0), -hy, z0),
                v(-hx - dx + tilt * (z1 - z0) + t, -hy, z0),
                v(-hx - dx + tilt * (z1 - z0) + t, hy, z0),
                v(-hx - dx + tilt * (z1 - z0), hy, z0),
                v(-hx - dx, -hy, z1),
                v(-hx - dx + t, -hy, z1),
                v(-hx - dx + t, hy, z1),
                v(-hx - dx, hy, z1),
            ]));
        }
        for y in legs_y {
            b.add(strut(
                v(-hx + t / 2.0, y, h - t),
                v(-hx - tilt * bh + t / 2.0, y, h + bh),
                lt * 0.8,
                false,
            ));
        }
        if chance(rng, 0.45) {
            let za = h + u(rng, 0.18, 0.26);
            for y in [-hy + 0.02, hy - 0.02] {
                b.add(aabb(
                    v(-hx, y - 0.025, za - 0.03),
                    v(hx + 0.02, y + 0.025, za),
                ));
                b.add(post(hx - 0.03, y, h, za, 0.035, false));
            }
        }
    }
    b.finish()
}

// ---------------------------------------------------------------------------------------------

pub fn cabinet<R: Rng>(rng: &mut R) -> Mesh {
    let mut b = Builder::new();
    // 0 tall wardrobe/cupboard, 1 chest of drawers, 2 low sideboard
    let kind = pick(rng, &[0.35, 0.35, 0.3]);
    let (w, d, h) = match kind {
        0 => (u(rng, 0.5, 1.1), u(rng, 0.35, 0.6), u(rng, 1.2, 1.9)),
        1 => (u(rng, 0.5, 1.0), u(rng, 0.4, 0.55), u(rng, 0.7, 1.2)),
        _ => (u(rng, 1.0, 1.8), u(rng, 0.4, 0.5), u(rng, 0.6, 0.9)),
    };
    let hx = d / 2.0;
    let hy = w / 2.0;
    let foot = if chance(rng, 0.6) {
        u(rng, 0.04, 0.14)
    } else {
        0.0
    };
    let top_t = u(rng, 0.02, 0.04);
    let over = u(rng, 0.0, 0.03);
    b.add(aabb(v(-hx, -hy, foot), v(hx, hy, h - top_t)));
    b.add(aabb(
        v(-hx - over, -hy - over, h - top_t),
        v(hx + over, hy + over, h),
    ));
    if foot > 0.0 {
        let ft = u(rng, 0.04, 0.07);
        let round = chance(rng, 0.5);
        for x in [-hx + ft, hx - ft] {
            for y in [-hy + ft, hy - ft] {
                b.add(post(x, y, 0.0, foot, ft, round));
            }
        }
    } else {
        b.add(aabb(
            v(-hx + 0.02, -hy + 0.02, -0.06),
            v(hx - 0.02, hy - 0.02, 0.0),
        ));
    }
    // front panels: a grid of doors and drawers, each a thin raised panel with a handle
    let gap = 0.012;
    let z0 = foot + 0.03;
    let z1 = h - top_t - 0.02;
    let cols = match kind {
        0 => int(rng, 1, 2),
        1 => int(rng, 1, 2),
        _ => int(rng, 2, 4),
    };
    let rows_drawer = match kind {
        0 => int(rng, 0, 2),
        1 => int(rng, 3, 6),
        _ => int(rng, 0, 1),
    };
    let drawer_h = (z1 - z0)
        * if kind == 1 {
            1.0 / rows_drawer as f32
        } else {
            0.12
        };
    let door_top = z1 - rows_drawer as f32 * drawer_h;
    let col_w = (w - 0.04) / cols as f32;
    let knob = chance(rng, 0.5);
    let pt = 0.015;
    let panel = |b: &mut Builder, y0: f32, y1: f32, za: f32, zb: f32, drawer: bool, k: u32| {
        b.add(aabb(
            v(hx, y0 + gap, za + gap),
            v(hx + pt, y1 - gap, zb - gap),
        ));
        let (hy_, hz) = if drawer {
            ((y0 + y1) / 2.0, (za + zb) / 2.0)
        } else {
            let side = if k.is_multiple_of(2) {
                y1 - 0.05
            } else {
                y0 + 0.05
            };
            (side, za + (zb - za) * 0.55)
        };
        if knob {
            b.add(tube(
                v(hx + pt, hy_, hz),
                v(hx + pt + 0.03, hy_, hz),
                0.012,
                0.016,
                8,
            ));
        } else if drawer {
            let hw = ((y1 - y0) * 0.2).min(0.08);
            b.add(aabb(
                v(hx + pt, hy_ - hw, hz - 0.008),
                v(hx + pt + 0.025, hy_ + hw, hz + 0.008),
            ));
        } else {
            let hl = ((zb - za) * 0.12).min(0.12);
            b.add(aabb(
                v(hx + pt, hy_ - 0.008, hz - hl),
                v(hx + pt + 0.025, hy_ + 0.008, hz + hl),
            ));
        }
    };
    for c in 0..cols {
        let y0 = -hy + 0.02 + c as f32 * col_w;
        let y1 = y0 + col_w;
        for r in 0..rows_drawer {
            let zb = z1 - r as f32 * drawer_h;
            panel(&mut b, y0, y1, zb - drawer_h, zb, true, c);
        }
        if door_top - z0 > 0.1 {
            panel(&mut b, y0, y1, z0, door_top, false, c);
        }
    }
    b.finish()
}

// ---------------------------------------------------------------------------------------------

/// A rounded-rectangle cross-section ring in the y-z plane at `x`.
fn rounded_section(
    x: f32,
    half_w: f32,
    z0: f32,
    z1: f32,
    round: f32,
    per_corner: usize,
) -> Vec<Vec3> {
    let r = round.min(half_w * 0.95).min((z1 - z0) * 0.48).max(1e-4);
    let corners = [
        (v(x, half_w - r, z1 - r), 0.0f32),
        (v(x, -half_w + r, z1 - r), FRAC_PI_2),
        (v(x, -half_w + r, z0 + r), PI),
        (v(x, half_w - r, z0 + r), 1.5 * PI),
    ];
    let mut pts = Vec::with_capacity(4 * per_corner);
    for (c, a0) in corners {
        for k in 0..per_corner {
            let a = a0 + FRAC_PI_2 * k as f32 / (per_corner - 1) as f32;
            pts.push(c + v(0.0, r * a.cos(), r * a.sin()));
        }
    }
    pts
}

pub fn car<R: Rng>(rng: &mut R) -> Mesh {
    let mut b = Builder::new();
    // 0 sedan, 1 hatchback, 2 SUV/van, 3 sports, 4 pickup
    let kind = pick(rng, &[0.3, 0.2, 0.2, 0.15, 0.15]);
    let half = 0.5;
    let width = u(rng, 0.4, 0.47);
    let hw = width / 2.0;
    let rw = match kind {
        2 | 4 => u(rng, 0.09, 0.115),
        3 => u(rng, 0.075, 0.09),
        _ => u(rng, 0.08, 0.095),
    };
    let z_bot = rw * u(rng, 0.5, 0.8);
    let body_h = match kind {
        2 | 4 => u(rng, 0.17, 0.23),
        3 => u(rng, 0.1, 0.13),
        _ => u(rng, 0.13, 0.17),
    };
    let z_belt = z_bot + body_h;
    // lower body: loft along x, nose lower than the belt line
    let nose_drop = body_h * u(rng, 0.25, 0.45);
    let tail_drop = body_h * u(rng, 0.05, 0.25);
    let round = u(rng, 0.03, 0.06);
    let xs: [f32; 7] = [
        -half,
        -half + 0.03,
        -half + 0.12,
        0.0,
        half - 0.2,
        half - 0.04,
        half,
    ];
    let rings: Vec<Vec<Vec3>> = xs
        .iter()
        .map(|&x| {
            let f_nose = ((x - (half - 0.25)) / 0.25).clamp(0.0, 1.0);
            let f_tail = ((-half + 0.12 - x) / 0.12).clamp(0.0, 1.0);
            let top = z_belt - nose_drop * f_nose * f_nose - tail_drop * f_tail;
            let end = if x.abs() > half - 0.01 { 0.92 } else { 1.0 };
            let zb = z_bot + if x.abs() > half - 0.01 { 0.015 } else { 0.0 };
            rounded_section(x, hw * end, zb, top, round, 4)
        })
        .collect();
    b.add(loft(&rings, true, true));
    // cabin (greenhouse): a hexahedron with sloped windscreen and rear window
    let cab_h = match kind {
        2 => u(rng, 0.13, 0.17),
        3 => u(rng, 0.07, 0.09),
        _ => u(rng, 0.1, 0.13),
    };
    let (x_front, x_rear) = match kind {
        0 => (u(rng, 0.12, 0.2), u(rng, -0.3, -0.22)),
        1 => (u(rng, 0.12, 0.2), u(rng, -0.46, -0.42)),
        2 => (u(rng, 0.16, 0.24), u(rng, -0.48, -0.44)),
        3 => (u(rng, 0.05, 0.12), u(rng, -0.3, -0.18)),
        _ => (u(rng, 0.16, 0.24), u(rng, -0.1, -0.02)),
    };
    let ws = match kind {
        2 | 4 => u(rng, 0.06, 0.12),
        3 => u(rng, 0.16, 0.22),
        _ => u(rng, 0.12, 0.18),
    };
    let rs = match kind {
        0 => u(rng, 0.1, 0.16),
        3 => u(rng, 0.12, 0.2),
        _ => u(rng, 0.02, 0.06),
    };
    let bw = hw * 0.94;
    let tw = hw * u(rng, 0.72, 0.85);
    let zc = z_belt - 0.005;
    b.add(hexa([
        v(x_rear, -bw, zc),
        v(x_front, -bw, zc),
        v(x_front, bw, zc),
        v(x_rear, bw, zc),
        v(x_rear + rs, -tw, zc + cab_h),
        v(x_front - ws, -tw, zc + cab_h),
        v(x_front - ws, tw, zc + cab_h),
        v(x_rear + rs, tw, zc + cab_h),
    ]));
    if kind == 4 {
        // open bed walls behind the cab
        b.add(aabb(
            v(-half + 0.01, -hw, z_belt),
            v(x_rear - 0.02, -hw + 0.02, z_belt + 0.05),
        ));
        b.add(aabb(
            v(-half + 0.01, hw - 0.02, z_belt),
            v(x_rear - 0.02, hw, z_belt + 0.05),
        ));
    }
    if kind == 3 && chance(rng, 0.5) {
        // rear spoiler
        let z = z_belt - tail_drop + 0.05;
        b.add(aabb(
            v(-half + 0.01, -hw * 0.85, z),
            v(-half + 0.08, hw * 0.85, z + 0.012),
        ));
        for y in [-hw * 0.6, hw * 0.6] {
            b.add(aabb(
                v(-half + 0.03, y - 0.006, z - 0.05),
                v(-half + 0.06, y + 0.006, z),
            ));
        }
    }
    // wheels
    let tyre_w = u(rng, 0.06, 0.08);
    let front = half - u(rng, 0.14, 0.2);
    let rear = -half + u(rng, 0.14, 0.2);
    for x in [front, rear] {
        for y in [-1.0f32, 1.0] {
            let c = v(x, y * (hw - tyre_w * 0.35), rw);
            b.add_all(wheel(c, Vec3::Y, rw, tyre_w, 18));
        }
    }
    b.finish()
}

// ---------------------------------------------------------------------------------------------

pub fn chair<R: Rng>(rng: &mut R) -> Mesh {
    let mut b = Builder::new();
    let w = u(rng, 0.4, 0.55);
    let d = u(rng, 0.4, 0.52);
    let h = u(rng, 0.4, 0.48);
    let st = u(rng, 0.03, 0.08);
    let hx = d / 2.0;
    let hy = w / 2.0;
    // 0 four legs, 1 office swivel, 2 sled/cantilever
    let base = pick(rng, &[0.7, 0.15, 0.15]);
    let lt = u(rng, 0.03, 0.055);
    let round = chance(rng, 0.4);
    let back_h = u(rng, 0.32, 0.55);
    let tilt = u(rng, 0.0, 0.28);
    let bt = u(rng, 0.025, 0.06);
    // seat
    if base == 1 || chance(rng, 0.3) {
        b.add(loft(
            &[
                rounded_section(-hx, hy, h - st, h, st * 0.45, 3),
                rounded_section(hx, hy, h - st, h, st * 0.45, 3),
            ],
            true,
            true,
        ));
    } else {
        b.add(aabb(v(-hx, -hy, h - st), v(hx, hy, h)));
    }
    match base {
        0 => {
            let splay = u(rng, 0.0, 0.05);
            for (x, y) in [(-1.0f32, -1.0f32), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)] {
                let top = v(x * (hx - lt), y * (hy - lt), h - st);
                let bot = top + v(x * splay, y * splay, 0.0) - v(0.0, 0.0, h - st);
                if splay < 0.01 {
                    b.add(post(top.x, top.y, 0.0, h - st, lt, round));
                } else {
                    b.add(strut(bot, top, lt, round));
                }
            }
            if chance(rng, 0.4) {
                let zs = u(rng, 0.1, 0.2);
                for y in [-hy + lt, hy - lt] {
                    b.add(aabb(
                        v(-hx + lt, y - lt / 4.0, zs),
                        v(hx - lt, y + lt / 4.0, zs + lt * 0.6),
                    ));
                }
            }
        }
        1 => {
            let g = h - st - 0.12;
            b.add(tube(
                v(0.0, 0.0, 0.06),
                v(0.0, 0.0, h - st),
                0.025,
                0.025,
                10,
            ));
            b.add(aabb(v(-0.07, -0.07, g), v(0.07, 0.07, h - st)));
            let arm = u(rng, 0.24, 0.3);
            for k in 0..5 {
                let a = TAU * k as f32 / 5.0 + 0.3;
                let tip = v(arm * a.cos(), arm * a.sin(), 0.035);
                b.add(strut(v(0.0, 0.0, 0.06), tip, 0.035, false));
                b.add(ellipsoid(
                    tip - v(0.0, 0.0, 0.015),
                    Vec3::splat(0.022),
                    8,
                    5,
                ));
            }
        }
        _ => {
            for y in [-hy + lt / 2.0, hy - lt / 2.0] {
                b.add(strut(
                    v(-hx, y, lt / 2.0),
                    v(hx, y, lt / 2.0),
                    lt * 0.7,
                    true,
                ));
                b.add(strut(
                    v(hx - 0.04, y, lt / 2.0),
                    v(hx - 0.06, y, h - st),
                    lt * 0.7,
                    true,
                ));
                b.add(strut(
                    v(-hx + 0.02, y, lt / 2.0),
                    v(-hx + 0.04, y, h - st),
                    lt * 0.7,
                    true,
                ));
            }
        }
    }
    // backrest
    let top_x = -hx - tilt * back_h;
    let z_top = h + back_h;
    let back_style = pick(rng, &[0.5, 0.25, 0.25]);
    let panel = |x0: f32, z0: f32, z1: f32, y0: f32, y1: f32| {
        let dx0 = -tilt * (z0 - h);
        let dx1 = -tilt * (z1 - h);
        hexa([
            v(x0 + dx0, y0, z0),
            v(x0 + dx0 + bt, y0, z0),
            v(x0 + dx0 + bt, y1, z0),
            v(x0 + dx0, y1, z0),
            v(x0 + dx1, y0, z1),
            v(x0 + dx1 + bt, y0, z1),
            v(x0 + dx1 + bt, y1, z1),
            v(x0 + dx1, y1, z1),
        ])
    };
    match back_style {
        0 => b.add(panel(-hx, h, z_top, -hy, hy)),
        1 => {
            // two posts, horizontal slats
            for y in [-hy + lt / 2.0, hy - lt / 2.0] {
                b.add(strut(
                    v(-hx + lt / 2.0, y, h),
                    v(top_x + lt / 2.0, y, z_top),
                    lt,
                    round,
                ));
            }
            let n = int(rng, 2, 4);
            for k in 0..n {
                let z1 = z_top - k as f32 * back_h / n as f32;
                b.add(panel(
                    -hx,
                    z1 - back_h / (2.2 * n as f32),
                    z1,
                    -hy + lt,
                    hy - lt,
                ));
            }
        }
        _ => {
            // frame with vertical spindles
            b.add(panel(-hx, z_top - 0.07, z_top, -hy, hy));
            let n = int(rng, 3, 6);
            for k in 0..n {
                let y = -hy + lt / 2.0 + (w - lt) * k as f32 / (n - 1) as f32;
                b.add(strut(
                    v(-hx + bt / 2.0, y, h),
                    v(top_x + bt / 2.0, y, z_top - 0.05),
                    lt * 0.6,
                    true,
                ));
            }
        }
    }
    // arms
    if chance(rng, 0.3) {
        let za = h + u(rng, 0.18, 0.25);
        for y in [-hy - 0.02, hy + 0.02] {
            b.add(aabb(
                v(-hx - tilt * 0.2, y - 0.025, za - 0.03),
                v(hx - 0.02, y + 0.025, za),
            ));
            b.add(post(hx - 0.06, y, h, za - 0.03, 0.03, round));
        }
    }
    b.finish()
}

// ---------------------------------------------------------------------------------------------

pub fn lamp<R: Rng>(rng: &mut R) -> Mesh {
    let mut b = Builder::new();
    // 0 table lamp, 1 floor lamp, 2 desk (arm) lamp
    let kind = pick(rng, &[0.4, 0.25, 0.35]);
    let base_r = u(rng, 0.07, 0.13);
    let base_h = u(rng, 0.015, 0.04);
    if chance(rng, 0.7) {
        b.add(tube(
            v(0.0, 0.0, 0.0),
            v(0.0, 0.0, base_h),
            base_r,
            base_r * u(rng, 0.7, 1.0),
            20,
        ));
    } else {
        b.add(aabb(v(-base_r, -base_r, 0.0), v(base_r, base_r, base_h)));
    }
    let sr = u(rng, 0.008, 0.016);
    match kind {
        0 | 1 => {
            let stem_h = if kind == 0 {
                u(rng, 0.2, 0.4)
            } else {
                u(rng, 1.1, 1.6)
            };
            let body = kind == 0 && chance(rng, 0.5);
            if body {
                // vase-shaped body
                let bh = stem_h * u(rng, 0.5, 0.8);
                let rings: Vec<Vec<Vec3>> = (0..=8)
                    .map(|k| {
                        let t = k as f32 / 8.0;
                        let r = base_r * (0.35 + 0.55 * (PI * t).sin()) * 0.9;
                        ring(v(0.0, 0.0, base_h + bh * t), Vec3::Z, r, r, 16)
                    })
                    .collect();
                b.add(loft(&rings, true, true));
                b.add(tube(
                    v(0.0, 0.0, base_h + bh),
                    v(0.0, 0.0, base_h + stem_h),
                    sr,
                    sr,
                    8,
                ));
            } else {
                b.add(tube(
                    v(0.0, 0.0, base_h),
                    v(0.0, 0.0, base_h + stem_h),
                    sr,
                    sr,
                    8,
                ));
            }
            let top = base_h + stem_h;
            if kind == 1 && chance(rng, 0.35) {
                // torchiere: bowl opening upwards
                let r1 = u(rng, 0.12, 0.2);
                b.add(tube(
                    v(0.0, 0.0, top - 0.02),
                    v(0.0, 0.0, top + 0.08),
                    0.03,
                    r1,
                    18,
                ));
            } else {
                let sh = u(rng, 0.13, 0.25);
                let r_bot = u(rng, 0.1, 0.2) * if kind == 1 { 1.2 } else { 1.0 };
                let r_top = r_bot * u(rng, 0.45, 0.85);
                let z0 = top - sh * u(rng, 0.3, 0.6);
                b.add(tube(
                    v(0.0, 0.0, z0),
                    v(0.0, 0.0, z0 + sh),
                    r_bot,
                    r_top,
                    20,
                ));
            }
        }
        _ => {
            // articulated arm reaching forward (+x), shade pointing down-forward
            let l1 = u(rng, 0.25, 0.4);
            let l2 = u(rng, 0.22, 0.35);
            let a1 = u(rng, 0.15, 0.5); // lean of the lower arm from vertical, backwards
            let a2 = u(rng, 0.9, 1.6); // upper arm angle from vertical, forwards
            let p0 = v(-base_r * 0.3, 0.0, base_h);
            let p1 = p0 + v(-a1.sin() * l1, 0.0, a1.cos() * l1);
            let p2 = p1 + v(a2.sin() * l2, 0.0, a2.cos() * l2);
            b.add(strut(p0, p1, sr * 2.0, true));
            b.add(strut(p1, p2, sr * 2.0, true));
            b.add(ellipsoid(p1, Vec3::splat(sr * 2.2), 8, 5));
            let sh = u(rng, 0.1, 0.16);
            let r_open = u(rng, 0.06, 0.1);
            let tilt = u(rng, 0.3, 0.9);
            let dir = v(tilt.sin(), 0.0, -tilt.cos());
            b.add(tube(
                p2 - dir * 0.02,
                p2 + dir * sh,
                r_open * 0.3,
                r_open,
                16,
            ));
        }
    }
    b.finish()
}

// ---------------------------------------------------------------------------------------------

pub fn sofa<R: Rng>(rng: &mut R) -> Mesh {
    let mut b = Builder::new();
    let w = u(rng, 1.4, 2.3);
    let d = u(rng, 0.75, 0.98);
    let leg = u(rng, 0.04, 0.14);
    let seat = u(rng, 0.38, 0.48);
    let cush = u(rng, 0.09, 0.15);
    let back_t = u(rng, 0.15, 0.26);
    let back_top = seat + u(rng, 0.32, 0.5);
    let arm_w = if chance(rng, 0.9) {
        u(rng, 0.1, 0.25)
    } else {
        0.0
    };
    let arm_top = seat + u(rng, 0.08, 0.26);
    let hx = d / 2.0;
    let hy = w / 2.0;
    let round = u(rng, 0.02, 0.06);
    let boxy = |lo: Vec3, hi: Vec3| {
        loft(
            &[
                rounded_section(lo.x, (hi.y - lo.y) / 2.0, lo.z, hi.z, round, 3),
                rounded_section(hi.x, (hi.y - lo.y) / 2.0, lo.z, hi.z, round, 3),
            ],
            true,
            true,
        )
        .transformed(Mat4::from_translation(v(0.0, (lo.y + hi.y) / 2.0, 0.0)))
    };
    // base
    b.add(aabb(
        v(-hx, -hy + arm_w, leg),
        v(hx, hy - arm_w, seat - cush),
    ));
    // seat cushions
    let n = int(rng, 1, 3);
    let inner = w - 2.0 * arm_w;
    let cw = inner / n as f32;
    for k in 0..n {
        let y0 = -hy + arm_w + k as f32 * cw;
        b.add(boxy(
            v(-hx + back_t, y0 + 0.005, seat - cush),
            v(hx + 0.01, y0 + cw - 0.005, seat),
        ));
    }
    // backrest
    b.add(boxy(
        v(-hx, -hy + arm_w * 0.5, leg),
        v(-hx + back_t, hy - arm_w * 0.5, back_top),
    ));
    if chance(rng, 0.5) {
        for k in 0..n {
            let y0 = -hy + arm_w + k as f32 * cw;
            b.add(boxy(
                v(-hx + back_t - 0.02, y0 + 0.01, seat),
                v(
                    -hx + back_t + u(rng, 0.08, 0.14),
                    y0 + cw - 0.01,
                    back_top - 0.06,
                ),
            ));
        }
    }
    // arms
    if arm_w > 0.0 {
        let roll = chance(rng, 0.35);
        for s in [-1.0f32, 1.0] {
            let (y0, y1) = if s < 0.0 {
                (-hy, -hy + arm_w)
            } else {
                (hy - arm_w, hy)
            };
            b.add(boxy(v(-hx, y0, leg), v(hx, y1, arm_top)));
            if roll {
                let r = arm_w * 0.6;
                b.add(tube(
                    v(-hx, (y0 + y1) / 2.0, arm_top - r * 0.4),
                    v(hx + 0.01, (y0 + y1) / 2.0, arm_top - r * 0.4),
                    r,
                    r,
                    12,
                ));
            }
        }
    }
    // chaise extension on one side
    if chance(rng, 0.15) {
        let s = if chance(rng, 0.5) { 1.0 } else { -1.0 };
        let ext = u(rng, 0.5, 0.8);
        let (y0, y1) = if s > 0.0 {
            (hy - arm_w - cw, hy - arm_w)
        } else {
            (-hy + arm_w, -hy + arm_w + cw)
        };
        b.add(aabb(v(hx, y0, leg), v(hx + ext, y1, seat - cush)));
        b.add(boxy(
            v(hx, y0 + 0.005, seat - cush),
            v(hx + ext, y1 - 0.005, seat),
        ));
        b.add(post(hx + ext - 0.05, (y0 + y1) / 2.0, 0.0, leg, 0.05, true));
    }
    // legs
    let lt = u(rng, 0.035, 0.06);
    for x in [-hx + 0.05, hx - 0.05] {
        for y in [-hy + 0.05, hy - 0.05] {
            b.add(post(x, y, 0.0, leg, lt, chance(rng, 0.5)));
        }
    }
    b.finish()
}

// ---------------------------------------------------------------------------------------------

pub fn table<R: Rng>(rng: &mut R) -> Mesh {
    let mut b = Builder::new();
    // 0 dining (4 legs), 1 round pedestal, 2 coffee table, 3 trestle/desk
    let kind = pick(rng, &[0.4, 0.2, 0.2, 0.2]);
    let h = if kind == 2 {
        u(rng, 0.35, 0.5)
    } else {
        u(rng, 0.68, 0.78)
    };
    let t = u(rng, 0.025, 0.06);
    let lt = u(rng, 0.04, 0.08);
    let round_leg = chance(rng, 0.4);
    if kind == 1 {
        let r = u(rng, 0.35, 0.6);
        let oval = u(rng, 1.0, 1.4);
        b.add(loft(
            &[
                ring(v(0.0, 0.0, h - t), Vec3::Z, r * oval, r, 28),
                ring(v(0.0, 0.0, h), Vec3::Z, r * oval, r, 28),
            ],
            true,
            true,
        ));
        let cr = u(rng, 0.03, 0.08);
        b.add(tube(
            v(0.0, 0.0, 0.03),
            v(0.0, 0.0, h - t),
            cr,
            cr * u(rng, 0.8, 1.2),
            12,
        ));
        if chance(rng, 0.5) {
            b.add(tube(
                v(0.0, 0.0, 0.0),
                v(0.0, 0.0, 0.04),
                r * 0.55,
                r * 0.45,
                20,
            ));
        } else {
            let feet = int(rng, 3, 4);
            for k in 0..feet {
                let a = TAU * k as f32 / feet as f32;
                b.add(strut(
                    v(0.0, 0.0, 0.12),
                    v(0.45 * r * a.cos() * oval, 0.45 * r * a.sin(), 0.02),
                    0.04,
                    false,
                ));
            }
        }
        return b.finish();
    }
    let (len, dep) = match kind {
        0 => (u(rng, 1.1, 2.0), u(rng, 0.7, 1.0)),
        2 => (u(rng, 0.8, 1.3), u(rng, 0.45, 0.7)),
        _ => (u(rng, 1.1, 1.7), u(rng, 0.55, 0.8)),
    };
    let (hx, hy) = (dep / 2.0, len / 2.0);
    b.add(aabb(v(-hx, -hy, h - t), v(hx, hy, h)));
    let inset = u(rng, 0.0, 0.08);
    match kind {
        3 => {
            for y in [-hy + 0.08, hy - 0.08] {
                b.add(aabb(
                    v(-hx * 0.85, y - lt / 2.0, 0.0),
                    v(hx * 0.85, y + lt / 2.0, h - t),
                ));
            }
            b.add(aabb(
                v(-0.02, -hy + 0.08, h * 0.3),
                v(0.02, hy - 0.08, h * 0.3 + 0.06),
            ));
        }
        _ => {
            for x in [-hx + inset + lt / 2.0, hx - inset - lt / 2.0] {
                for y in [-hy + inset + lt / 2.0, hy - inset - lt / 2.0] {
                    b.add(post(x, y, 0.0, h - t, lt, round_leg));
                }
            }
            if chance(rng, 0.5) {
                let ah = u(rng, 0.05, 0.1);
                let xa = hx - inset - lt;
                let ya = hy - inset - lt;
                b.add(aabb(v(-xa, -ya, h - t - ah), v(-xa + 0.02, ya, h - t)));
                b.add(aabb(v(xa - 0.02, -ya, h - t - ah), v(xa, ya, h - t)));
                b.add(aabb(v(-xa, -ya, h - t - ah), v(xa, -ya + 0.02, h - t)));
                b.add(aabb(v(-xa, ya - 0.02, h - t - ah), v(xa, ya, h - t)));
            }
            if kind == 2 && chance(rng, 0.5) {
                let zs = h * u(rng, 0.2, 0.35);
                b.add(aabb(
                    v(-hx + inset, -hy + inset, zs),
                    v(hx - inset, hy - inset, zs + 0.02),
                ));
            }
        }
    }
    b.finish()
}

// ---------------------------------------------------------------------------------------------

pub fn watercraft<R: Rng>(rng: &mut R) -> Mesh {
    let mut b = Builder::new();
    // 0 sailboat, 1 motor yacht, 2 ship
    let kind = pick(rng, &[0.35, 0.35, 0.3]);
    let half = 0.5;
    let beam = match kind {
        2 => u(rng, 0.13, 0.2),
        _ => u(rng, 0.24, 0.36),
    };
    let depth = match kind {
        2 => u(rng, 0.09, 0.13),
        _ => u(rng, 0.1, 0.16),
    };
    let fullness = u(rng, 0.5, 1.2);
    let bow_rake = u(rng, 0.3, 0.6);
    let stations = 12;
    let n_side = 7;
    let rings: Vec<Vec<Vec3>> = (0..=stations)
        .map(|i| {
            let t = i as f32 / stations as f32; // 0 stern, 1 bow
            let x = -half + t;
            let bow = ((t - 0.55) / 0.45).clamp(0.0, 1.0);
            let stern = (1.0 - t / 0.15).clamp(0.0, 1.0);
            let hb = beam / 2.0 * (1.0 - bow.powf(1.6)).max(0.02) * (1.0 - 0.15 * stern);
            let keel = depth * bow_rake * bow * bow + depth * 0.3 * stern;
            let deck = depth * (1.0 + 0.25 * bow * bow);
            let mut pts = Vec::with_capacity(2 * n_side);
            for k in 0..n_side {
                let phi = PI * k as f32 / (n_side - 1) as f32;
                let s = phi.sin();
                pts.push(v(
                    x,
                    hb * phi.cos(),
                    deck - (deck - keel) * s.powf(fullness),
                ));
            }
            // the deck line (right to left closes the ring via the straight top edge)
            pts.reverse();
            pts
        })
        .collect();
    b.add(loft(&rings, true, true));
    let deck = depth;
    match kind {
        0 => {
            // sailboat: low cabin, mast, mainsail (+ jib)
            let cl = u(rng, 0.2, 0.35);
            b.add(aabb(
                v(-0.15, -beam * 0.25, deck * 0.9),
                v(-0.15 + cl, beam * 0.25, deck + 0.05),
            ));
            let mast_x = u(rng, 0.0, 0.15);
            let mast_h = u(rng, 0.7, 1.1);
            b.add(tube(
                v(mast_x, 0.0, deck),
                v(mast_x, 0.0, deck + mast_h),
                0.009,
                0.006,
                8,
            ));
            let boom_z = deck + u(rng, 0.06, 0.12);
            let foot = u(rng, 0.3, 0.45);
            b.add(slab(
                (
                    v(mast_x - 0.012, 0.0, boom_z),
                    v(mast_x - foot, 0.0, boom_z),
                ),
                (
                    v(mast_x - 0.012, 0.0, deck + mast_h * 0.97),
                    v(mast_x - 0.03, 0.0, deck + mast_h * 0.97),
                ),
                Vec3::Y,
                0.008,
                0.004,
            ));
            if chance(rng, 0.7) {
                let top = deck + mast_h * u(rng, 0.75, 0.92);
                b.add(slab(
                    (
                        v(half - 0.06, 0.0, deck + 0.03),
                        v(mast_x + 0.02, 0.0, deck + 0.05),
                    ),
                    (v(mast_x + 0.03, 0.0, top), v(mast_x + 0.015, 0.0, top)),
                    Vec3::Y,
                    0.006,
                    0.004,
                ));
            }
        }
        1 => {
            // motor yacht: stacked cabins with raked windscreen
            let levels = int(rng, 1, 2);
            let mut x0 = u(rng, -0.38, -0.25);
            let mut x1 = u(rng, 0.1, 0.25);
            let mut z = deck;
            let mut hw = beam * 0.38;
            for _ in 0..levels {
                let hgt = u(rng, 0.07, 0.1);
                let rake = u(rng, 0.04, 0.1);
                b.add(hexa([
                    v(x0, -hw, z),
                    v(x1, -hw, z),
                    v(x1, hw, z),
                    v(x0, hw, z),
                    v(x0, -hw * 0.9, z + hgt),
                    v(x1 - rake, -hw * 0.9, z + hgt),
                    v(x1 - rake, hw * 0.9, z + hgt),
                    v(x0, hw * 0.9, z + hgt),
                ]));
                z += hgt;
                x0 += 0.05;
                x1 -= rake + u(rng, 0.05, 0.1);
                hw *= 0.85;
            }
            if chance(rng, 0.5) {
                b.add(tube(
                    v(x0 + 0.05, 0.0, z),
                    v(x0 + 0.05, 0.0, z + 0.08),
                    0.006,
                    0.006,
                    6,
                ));
            }
        }
        _ => {
            // ship: superstructure, funnels, masts
            let sx = u(rng, -0.3, 0.05);
            let sl = u(rng, 0.15, 0.3);
            let hw = beam * 0.4;
            let mut z = deck;
            for k in 0..int(rng, 2, 4) {
                let hgt = u(rng, 0.045, 0.065);
                let shrink = 0.025 * k as f32;
                b.add(aabb(
                    v(sx + shrink, -hw, z),
                    v(sx + sl - shrink, hw, z + hgt),
                ));
                z += hgt;
            }
            let funnels = int(rng, 1, 2);
            for k in 0..funnels {
                let fx = sx - 0.05 - 0.07 * k as f32;
                b.add(tube(
                    v(fx, 0.0, deck),
                    v(fx - 0.01, 0.0, deck + u(rng, 0.1, 0.16)),
                    0.025,
                    0.022,
                    12,
                ));
            }
            b.add(tube(
                v(sx + sl * 0.5, 0.0, z),
                v(sx + sl * 0.5, 0.0, z + u(rng, 0.06, 0.12)),
                0.005,
                0.004,
                6,
            ));
            if chance(rng, 0.6) {
                b.add(tube(
                    v(0.3, 0.0, deck),
                    v(0.3, 0.0, deck + 0.09),
                    0.005,
                    0.004,
                    6,
                ));
            }
        }
    }
    b.finish()
}

// ---------------------------------------------------------------------------------------------

pub fn motorcycle<R: Rng>(rng: &mut R) -> Mesh {
    let mut b = Builder::new();
    // 0 standard, 1 sport (fairing), 2 cruiser/chopper
    let kind = pick(rng, &[0.45, 0.3, 0.25]);
    let rw = u(rng, 0.16, 0.2);
    let tyre = u(rng, 0.06, 0.09);
    let front_x = if kind == 2 {
        u(rng, 0.45, 0.52)
    } else {
        u(rng, 0.36, 0.42)
    };
    let rear_x = -u(rng, 0.36, 0.42);
    b.add_all(wheel(v(front_x, 0.0, rw), Vec3::Y, rw, tyre, 20));
    b.add_all(wheel(v(rear_x, 0.0, rw), Vec3::Y, rw, tyre * 1.15, 20));
    // steering head and fork
    let rake = u(rng, 0.35, 0.5) + if kind == 2 { 0.25 } else { 0.0 };
    let fork_len = rw + u(rng, 0.2, 0.27) + if kind == 2 { 0.08 } else { 0.0 };
    let head = v(
        front_x - rake.sin() * fork_len,
        0.0,
        rw + rake.cos() * fork_len,
    );
    for y in [-0.05f32, 0.05] {
        b.add(strut(v(front_x, y, rw), head + v(0.0, y, 0.0), 0.026, true));
    }
    // front fender
    b.add(slab(
        (
            v(front_x + rw * 0.7, 0.0, rw * 1.45),
            v(front_x, 0.0, rw * 1.3),
        ),
        (
            v(front_x + rw * 0.85, 0.0, rw * 1.2),
            v(front_x + rw * 0.3, 0.0, rw * 1.55),
        ),
        Vec3::Y,
        tyre * 1.2,
        tyre * 1.2,
    ));
    // tank
    let tank_z = head.z - u(rng, 0.02, 0.06);
    let tank_x = head.x - u(rng, 0.15, 0.19);
    b.add(ellipsoid(
        v(tank_x, 0.0, tank_z),
        v(0.16, 0.09, 0.075),
        14,
        8,
    ));
    b.add(strut(head, v(tank_x, 0.0, tank_z), 0.04, true));
    // engine block with cylinders, hung below the tank
    let e_top = tank_z - 0.06;
    let e_bot = rw * u(rng, 0.45, 0.65);
    let e_x0 = -u(rng, 0.1, 0.16);
    let e_x1 = u(rng, 0.1, 0.16);
    let e_mid = (rw * 1.25).min(e_top - 0.05);
    b.add(aabb(v(e_x0, -0.075, e_bot), v(e_x1, 0.075, e_mid)));
    // cylinder block: a narrower raked hexahedron up to the tank
    b.add(hexa([
        v(-0.03, -0.05, e_mid),
        v(e_x1 - 0.01, -0.05, e_mid),
        v(e_x1 - 0.01, 0.05, e_mid),
        v(-0.03, 0.05, e_mid),
        v(0.0, -0.045, e_top),
        v(e_x1 + 0.03, -0.045, e_top),
        v(e_x1 + 0.03, 0.045, e_top),
        v(0.0, 0.045, e_top),
    ]));
    b.add(tube(
        v(e_x0 * 0.3, -0.095, e_bot + 0.05),
        v(e_x0 * 0.3, 0.095, e_bot + 0.05),
        0.055,
        0.055,
        12,
    ));
    b.add(strut(head, v(e_x1, 0.0, e_bot + 0.02), 0.03, true));
    // seat, side cover and tail
    let seat_z = tank_z + u(rng, -0.04, 0.0) - if kind == 2 { 0.06 } else { 0.0 };
    let seat_x1 = tank_x - 0.12;
    let seat_len = u(rng, 0.24, 0.34);
    let tail_x = seat_x1 - seat_len;
    b.add(loft(
        &[
            rounded_section(tail_x, 0.07, seat_z - 0.05, seat_z + 0.01, 0.02, 3),
            rounded_section(seat_x1, 0.085, seat_z - 0.06, seat_z + 0.02, 0.025, 3),
        ],
        true,
        true,
    ));
    b.add(strut(
        v(e_x0 + 0.02, 0.0, e_mid),
        v(seat_x1 - 0.05, 0.0, seat_z - 0.05),
        0.035,
        true,
    ));
    let tail_up = if kind == 1 { 0.05 } else { 0.0 };
    b.add(hexa([
        v(tail_x - 0.1, -0.045, seat_z - 0.05 + tail_up),
        v(tail_x + 0.02, -0.06, seat_z - 0.07),
        v(tail_x + 0.02, 0.06, seat_z - 0.07),
        v(tail_x - 0.1, 0.045, seat_z - 0.05 + tail_up),
        v(tail_x - 0.12, -0.04, seat_z - 0.02 + tail_up),
        v(tail_x + 0.02, -0.06, seat_z - 0.01),
        v(tail_x + 0.02, 0.06, seat_z - 0.01),
        v(tail_x - 0.12, 0.04, seat_z - 0.02 + tail_up),
    ]));
    // swing arm and rear shock
    for y in [-0.06f32, 0.06] {
        b.add(strut(
            v(rear_x, y, rw),
            v(e_x0 + 0.02, y, e_bot + 0.04),
            0.03,
            false,
        ));
        b.add(strut(
            v(rear_x + 0.06, y, rw + 0.03),
            v(tail_x + 0.05, y, seat_z - 0.06),
            0.025,
            true,
        ));
    }
    // handlebars
    let bar_w = u(rng, 0.16, 0.22);
    let bar_up = if kind == 2 {
        u(rng, 0.08, 0.14)
    } else {
        u(rng, 0.02, 0.06)
    };
    let bar = head + v(-0.04, 0.0, bar_up);
    b.add(strut(head, bar, 0.022, true));
    b.add(strut(
        bar + v(-0.03, -bar_w, 0.01),
        bar + v(-0.03, bar_w, 0.01),
        0.022,
        true,
    ));
    for y in [-bar_w, bar_w] {
        b.add(strut(
            bar + v(-0.03, y, 0.01),
            bar + v(-0.03, y * 1.15, 0.01),
            0.032,
            true,
        ));
    }
    // headlight or fairing
    if kind == 1 {
        let c = head + v(0.04, 0.0, -0.05);
        b.add(ellipsoid(c, v(0.13, 0.1, 0.1), 14, 8));
        b.add(slab(
            (
                v(c.x + 0.02, 0.0, c.z + 0.05),
                v(c.x - 0.08, 0.0, c.z + 0.06),
            ),
            (
                v(c.x - 0.08, 0.0, c.z + 0.15),
                v(c.x - 0.12, 0.0, c.z + 0.15),
            ),
            Vec3::Y,
            0.12,
            0.08,
        ));
    } else {
        b.add(tube(
            head + v(0.03, 0.0, -0.03),
            head + v(0.08, 0.0, -0.03),
            0.04,
            0.05,
            12,
        ));
    }
    // exhaust
    let side = if chance(rng, 0.5) { 1.0 } else { -1.0 };
    let ey = side * 0.1;
    b.add(strut(
        v(e_x1, ey, e_bot + 0.03),
        v(rear_x + 0.05, ey, rw + 0.04),
        0.045,
        true,
    ));
    b.finish()
}
