//! Parametric parts (boxes, hexahedra, lofts, tubes, cones, ellipsoids, tori) and the builder
//! that merges them into one [`Mesh`].
//!
//! Every part is a closed surface with consistent winding; [`Builder::add`] flips it if its
//! signed volume is negative, so all normals point outwards, then computes creased
//! area-weighted normals ([`crate::geometry::with_computed_normals`]).

use glam::{Mat4, Vec3};

use crate::Mesh;
use crate::geometry::{normalize, with_computed_normals};

/// One closed surface: positions and consistently wound triangles.
#[derive(Debug, Clone, Default)]
pub struct Part {
    pub pos: Vec<Vec3>,
    pub tris: Vec<[u32; 3]>,
}

impl Part {
    /// Applies an affine transform to all positions.
    pub fn transformed(mut self, m: Mat4) -> Part {
        for p in &mut self.pos {
            *p = m.transform_point3(*p);
        }
        self
    }

    /// Mirrors the part across the x-z plane (y -> -y).
    pub fn mirrored_y(self) -> Part {
        self.transformed(Mat4::from_scale(Vec3::new(1.0, -1.0, 1.0)))
    }

    fn quad(&mut self, a: u32, b: u32, c: u32, d: u32) {
        self.tris.push([a, b, c]);
        self.tris.push([a, c, d]);
    }

    /// Signed volume (positive when the winding is outward).
    fn signed_volume(&self) -> f32 {
        self.tris
            .iter()
            .map(|t| {
                let [a, b, c] = t.map(|i| self.pos[i as usize]);
                a.dot(b.cross(c))
            })
            .sum::<f32>()
            / 6.0
    }
}

/// A hexahedron from 8 corners: `c[0..4]` the bottom quad in order around, `c[4..8]` the top
/// quad in the same order.
pub fn hexa(c: [Vec3; 8]) -> Part {
    let mut p = Part {
        pos: c.to_vec(),
        tris: Vec::new(),
    };
    p.quad(0, 3, 2, 1);
    p.quad(4, 5, 6, 7);
    p.quad(0, 1, 5, 4);
    p.quad(1, 2, 6, 5);
    p.quad(2, 3, 7, 6);
    p.quad(3, 0, 4, 7);
    p
}

/// Axis-aligned box from its centre and full size.
pub fn cuboid(centre: Vec3, size: Vec3) -> Part {
    let h = size * 0.5;
    let c = |x: f32, y: f32, z: f32| centre + Vec3::new(x * h.x, y * h.y, z * h.z);
    hexa([
        c(-1., -1., -1.),
        c(1., -1., -1.),
        c(1., 1., -1.),
        c(-1., 1., -1.),
        c(-1., -1., 1.),
        c(1., -1., 1.),
        c(1., 1., 1.),
        c(-1., 1., 1.),
    ])
}

/// A box from `lo` to `hi` corners.
pub fn aabb(lo: Vec3, hi: Vec3) -> Part {
    cuboid((lo + hi) * 0.5, hi - lo)
}

/// A tapered slab (wing, fin, sail): a quadrilateral planform in a plane, with a thickness.
/// `root` and `tip` are `(leading, trailing)` edge points; thickness along `normal`.
pub fn slab(root: (Vec3, Vec3), tip: (Vec3, Vec3), normal: Vec3, t_root: f32, t_tip: f32) -> Part {
    let n = normal.normalize_or_zero();
    let (rl, rt) = root;
    let (tl, tt) = tip;
    let a = n * (0.5 * t_root);
    let b = n * (0.5 * t_tip);
    hexa([
        rl - a,
        rt - a,
        tt - b,
        tl - b,
        rl + a,
        rt + a,
        tt + b,
        tl + b,
    ])
}

/// Lofts closed cross-section rings (all with the same point count, same orientation) into a
/// tube, with optional flat caps at the first and last ring.
pub fn loft(rings: &[Vec<Vec3>], cap_start: bool, cap_end: bool) -> Part {
    let mut p = Part::default();
    let Some(first) = rings.first() else {
        return p;
    };
    let n = first.len() as u32;
    for r in rings {
        p.pos.extend_from_slice(r);
    }
    for j in 0..rings.len() as u32 - 1 {
        for i in 0..n {
            let i2 = (i + 1) % n;
            p.quad(j * n + i, j * n + i2, (j + 1) * n + i2, (j + 1) * n + i);
        }
    }
    let mut cap = |ring: u32, reverse: bool| {
        let base = ring * n;
        let centre = (0..n).map(|i| p.pos[(base + i) as usize]).sum::<Vec3>() / n as f32;
        // separate cap vertices so the rim is a crease even when nearly flat
        let start = p.pos.len() as u32;
        for i in 0..n {
            p.pos.push(p.pos[(base + i) as usize]);
        }
        p.pos.push(centre);
        let c = start + n;
        for i in 0..n {
            let i2 = (i + 1) % n;
            if reverse {
                p.tris.push([c, start + i2, start + i]);
            } else {
                p.tris.push([c, start + i, start + i2]);
            }
        }
    };
    if cap_start {
        cap(0, true);
    }
    if cap_end {
        cap(rings.len() as u32 - 1, false);
    }
    p
}

/// Two unit vectors spanning the plane perpendicular to `axis`.
fn basis(axis: Vec3) -> (Vec3, Vec3) {
    let a = axis.normalize_or_zero();
    let helper = if a.z.abs() < 0.9 { Vec3::Z } else { Vec3::X };
    let u = helper.cross(a).normalize_or_zero();
    let v = a.cross(u);
    (u, v)
}

/// A circle (as a ring of `segs` points) around `centre`, perpendicular to `axis`, with radii
/// `(ru, rv)` along the two basis directions.
pub fn ring(centre: Vec3, axis: Vec3, ru: f32, rv: f32, segs: usize) -> Vec<Vec3> {
    let (u, v) = basis(axis);
    (0..segs)
        .map(|i| {
            let t = std::f32::consts::TAU * i as f32 / segs as f32;
            centre + u * (ru * t.cos()) + v * (rv * t.sin())
        })
        .collect()
}

/// A capped (truncated) cone/cylinder from `a` (radius `ra`) to `b` (radius `rb`).
pub fn tube(a: Vec3, b: Vec3, ra: f32, rb: f32, segs: usize) -> Part {
    let axis = b - a;
    loft(
        &[ring(a, axis, ra, ra, segs), ring(b, axis, rb, rb, segs)],
        true,
        true,
    )
}

/// An ellipsoid with semi-axes `radii` (x, y, z).
pub fn ellipsoid(centre: Vec3, radii: Vec3, segs: usize, stacks: usize) -> Part {
    let rings: Vec<Vec<Vec3>> = (0..=stacks)
        .map(|j| {
            let th = std::f32::consts::PI * j as f32 / stacks as f32;
            let (s, c) = th.sin_cos();
            (0..segs)
                .map(|i| {
                    let ph = std::f32::consts::TAU * i as f32 / segs as f32;
                    centre + radii * Vec3::new(s * ph.cos(), s * ph.sin(), -c)
                })
                .collect()
        })
        .collect();
    loft(&rings, false, false)
}

/// A torus around `axis` through `centre`: major radius `major`, tube radius `minor`.
pub fn torus(centre: Vec3, axis: Vec3, major: f32, minor: f32, segs: usize, sides: usize) -> Part {
    let (u, v) = basis(axis);
    let a = axis.normalize_or_zero();
    let mut p = Part::default();
    for i in 0..segs {
        let t = std::f32::consts::TAU * i as f32 / segs as f32;
        let dir = u * t.cos() + v * t.sin();
        for j in 0..sides {
            let s = std::f32::consts::TAU * j as f32 / sides as f32;
            p.pos
                .push(centre + dir * (major + minor * s.cos()) + a * (minor * s.sin()));
        }
    }
    let (n, m) = (segs as u32, sides as u32);
    for i in 0..n {
        for j in 0..m {
            let (i2, j2) = ((i + 1) % n, (j + 1) % m);
            p.quad(i * m + j, i2 * m + j, i2 * m + j2, i * m + j2);
        }
    }
    p
}

/// A wheel: tyre (torus) plus hub disc, axis along `axis`.
pub fn wheel(centre: Vec3, axis: Vec3, radius: f32, width: f32, segs: usize) -> Vec<Part> {
    let minor = (width * 0.5).min(radius * 0.45);
    let a = axis.normalize_or_zero();
    vec![
        torus(centre, a, radius - minor, minor, segs, 8),
        tube(
            centre - a * (width * 0.3),
            centre + a * (width * 0.3),
            radius - minor * 1.2,
            radius - minor * 1.2,
            segs / 2,
        ),
    ]
}

/// Merges parts into one mesh.
#[derive(Debug, Default)]
pub struct Builder {
    mesh: Mesh,
}

impl Builder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one closed part (fixing its winding and computing its normals).
    pub fn add(&mut self, mut part: Part) {
        if part.tris.is_empty() {
            return;
        }
        if part.signed_volume() < 0.0 {
            for t in &mut part.tris {
                t.swap(1, 2);
            }
        }
        let pos: Vec<[f32; 3]> = part.pos.iter().map(|p| p.to_array()).collect();
        let idx: Vec<u32> = part.tris.iter().flatten().copied().collect();
        let m = with_computed_normals(&pos, &idx);
        let base = self.mesh.positions.len() as u32;
        self.mesh.positions.extend(m.positions);
        self.mesh.normals.extend(m.normals);
        self.mesh.indices.extend(m.indices.iter().map(|i| i + base));
    }

    /// Adds several parts.
    pub fn add_all(&mut self, parts: impl IntoIterator<Item = Part>) {
        for p in parts {
            self.add(p);
        }
    }

    /// Adds a part and its mirror image across the x-z plane.
    pub fn add_mirrored(&mut self, part: Part) {
        self.add(part.clone().mirrored_y());
        self.add(part);
    }

    /// The merged mesh, centred with largest side 0.7.
    pub fn finish(self) -> Mesh {
        let mut m = self.mesh;
        normalize(&mut m);
        // scaling can collapse sliver triangles to zero area: drop them
        let p = &m.positions;
        m.indices = m
            .indices
            .chunks_exact(3)
            .filter(|t| {
                let [a, b, c] = [0, 1, 2].map(|k| Vec3::from(p[t[k] as usize]));
                (b - a).cross(c - a).length_squared() > 0.0
            })
            .flatten()
            .copied()
            .collect();
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_outward(part: Part) {
        let centre = part.pos.iter().sum::<Vec3>() / part.pos.len() as f32;
        let mut b = Builder::new();
        b.add(part);
        let m = b.mesh;
        m.validate().unwrap();
        // for convex parts every face normal points away from the centroid
        for t in m.indices.chunks(3) {
            let [a, b_, c] = [0, 1, 2].map(|k| Vec3::from(m.positions[t[k] as usize]));
            let n = (b_ - a).cross(c - a);
            assert!(n.dot((a + b_ + c) / 3.0 - centre) > -1e-6);
        }
    }

    #[test]
    fn primitives_are_closed_and_outward() {
        check_outward(cuboid(Vec3::ONE, Vec3::new(1.0, 2.0, 3.0)));
        check_outward(tube(Vec3::ZERO, Vec3::new(0.3, 0.2, 1.0), 0.5, 0.2, 12));
        check_outward(tube(Vec3::ZERO, Vec3::new(0.0, 0.0, -1.0), 0.5, 0.0, 12));
        check_outward(ellipsoid(Vec3::ZERO, Vec3::new(1.0, 0.5, 0.3), 12, 8));
        check_outward(
            cuboid(Vec3::ZERO, Vec3::ONE).transformed(Mat4::from_scale(Vec3::new(-1.0, 1.0, 1.0))),
        );
    }

    #[test]
    fn torus_normals_point_away_from_the_tube_centre() {
        let mut b = Builder::new();
        b.add(torus(Vec3::ZERO, Vec3::Y, 1.0, 0.25, 16, 8));
        for (p, n) in b.mesh.positions.iter().zip(&b.mesh.normals) {
            let p = Vec3::from(*p);
            let ring_pt = Vec3::new(p.x, 0.0, p.z).normalize();
            assert!(Vec3::from(*n).dot(p - ring_pt) > 0.0);
        }
    }
}
