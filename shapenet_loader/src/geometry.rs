//! Mesh processing shared by every model source: normalisation into the common frame,
//! area-weighted normals (with creases), welding and meshopt simplification.
//!
//! Input: raw positions + triangle indices. Output: [`Mesh`]es that satisfy [`Mesh::validate`].

use std::collections::HashMap;

use glam::{DVec3, Vec3};

use crate::Mesh;

/// Largest bounding-box side of every mesh handed out.
pub const NORMALISED_SIZE: f32 = 0.7;

/// Cosine of the crease angle used when normals are computed: faces meeting at more than this
/// angle (60 degrees) keep separate vertex normals, so boxes stay flat-shaded while curved
/// surfaces shade smoothly.
pub const CREASE_COS: f32 = 0.5;

/// Centres `mesh` on its bounding-box centre and scales it so its largest side is
/// [`NORMALISED_SIZE`]. Returns `false` (mesh untouched) when the mesh has no vertices or a
/// zero/non-finite extent.
pub fn normalize(mesh: &mut Mesh) -> bool {
    let Some((lo, hi)) = mesh.bounds() else {
        return false;
    };
    let lo = Vec3::from(lo);
    let hi = Vec3::from(hi);
    let extent = (hi - lo).max_element();
    if !(extent.is_finite() && extent > 1e-12) {
        return false;
    }
    let centre = (lo + hi) * 0.5;
    let s = NORMALISED_SIZE / extent;
    for p in &mut mesh.positions {
        *p = ((Vec3::from(*p) - centre) * s).to_array();
    }
    true
}

/// Unit normal and doubled area of a triangle (zero vector for degenerate ones), computed in
/// f64 so that tiny (or huge) triangles still give unit normals.
fn face_normal(a: Vec3, b: Vec3, c: Vec3) -> (DVec3, f64) {
    let (a, b, c) = (a.as_dvec3(), b.as_dvec3(), c.as_dvec3());
    let n = (b - a).cross(c - a);
    let len = n.length();
    if len > 0.0 && len.is_finite() {
        (n / len, len)
    } else {
        (DVec3::ZERO, 0.0)
    }
}

/// Builds a mesh with area-weighted vertex normals from positions and triangles, splitting
/// vertices along creases sharper than [`CREASE_COS`] and dropping degenerate triangles.
///
/// Triangles with out-of-range indices are dropped like degenerate ones.
pub fn with_computed_normals(positions: &[[f32; 3]], indices: &[u32]) -> Mesh {
    let pos: Vec<Vec3> = positions.iter().map(|p| Vec3::from(*p)).collect();
    let tri_count = indices.len() / 3;
    let mut faces = Vec::with_capacity(tri_count);
    for t in 0..tri_count {
        let [a, b, c] = [0, 1, 2].map(|k| indices[3 * t + k] as usize);
        if a.max(b).max(c) >= pos.len() {
            // out-of-range triangle: treated as degenerate and dropped
            faces.push((DVec3::ZERO, 0.0));
            continue;
        }
        faces.push(face_normal(pos[a], pos[b], pos[c]));
    }
    // vertex -> adjacent faces
    let mut adj: Vec<Vec<u32>> = vec![Vec::new(); pos.len()];
    for t in 0..tri_count {
        if faces[t].1 == 0.0 {
            continue;
        }
        for k in 0..3 {
            adj[indices[3 * t + k] as usize].push(t as u32);
        }
    }
    let mut out = Mesh::default();
    let mut map: HashMap<(u32, [u32; 3]), u32> = HashMap::new();
    for t in 0..tri_count {
        let (nt, area) = faces[t];
        if area == 0.0 {
            continue;
        }
        let mut tri = [0u32; 3];
        for k in 0..3 {
            let v = indices[3 * t + k];
            let mut n = DVec3::ZERO;
            for &f in &adj[v as usize] {
                let (nf, af) = faces[f as usize];
                if nf.dot(nt) >= CREASE_COS as f64 {
                    // weights relative to this face's area keep the sum well scaled
                    n += nf * (af / area);
                }
            }
            let n = n.try_normalize().unwrap_or(nt).as_vec3();
            let key = (v, n.to_array().map(f32::to_bits));
            tri[k] = *map.entry(key).or_insert_with(|| {
                out.positions.push(positions[v as usize]);
                out.normals.push(n.to_array());
                (out.positions.len() - 1) as u32
            });
        }
        out.indices.extend_from_slice(&tri);
    }
    out
}

/// Merges vertices with bit-identical positions. Returns `(positions, indices)`; indices out of
/// range are clamped to the last vertex (callers pass validated meshes).
pub fn weld(positions: &[[f32; 3]], indices: &[u32]) -> (Vec<[f32; 3]>, Vec<u32>) {
    let mut map: HashMap<[u32; 3], u32> = HashMap::new();
    let mut out = Vec::new();
    let mut remap = Vec::with_capacity(positions.len());
    for p in positions {
        let key = p.map(|c| if c == 0.0 { 0 } else { c.to_bits() });
        let id = *map.entry(key).or_insert_with(|| {
            out.push(*p);
            (out.len() - 1) as u32
        });
        remap.push(id);
    }
    let last = remap.len().saturating_sub(1);
    let idx = indices
        .iter()
        .map(|&i| {
            remap
                .get(i as usize)
                .or(remap.get(last))
                .copied()
                .unwrap_or(0)
        })
        .collect();
    (out, idx)
}

/// Simplifies `mesh` to at most about `budget` triangles with meshopt (`simplify`, falling back
/// to `simplify_sloppy` when topology prevents reaching the budget), then recomputes creased
/// normals and re-normalises (centred, largest side [`NORMALISED_SIZE`]), since collapsing
/// edges can shrink the bounding box. Meshes already within budget, or invalid ones (see
/// [`Mesh::validate`]), are returned unchanged.
pub fn simplify(mesh: &Mesh, budget: usize) -> Mesh {
    let budget = budget.max(1);
    if mesh.triangle_count() <= budget || mesh.validate().is_err() {
        return mesh.clone();
    }
    let (pos, idx) = weld(&mesh.positions, &mesh.indices);
    let bytes: Vec<u8> = pos
        .iter()
        .flat_map(|p| p.iter().flat_map(|c| c.to_le_bytes()))
        .collect();
    let Ok(adapter) = meshopt::VertexDataAdapter::new(&bytes, 12, 0) else {
        return mesh.clone();
    };
    let target = budget * 3;
    let mut out = meshopt::simplify(
        &idx,
        &adapter,
        target,
        0.05,
        meshopt::SimplifyOptions::None,
        None,
    );
    if out.len() > target {
        // The error bound or locked topology kept too many triangles: retry without error bound.
        out = meshopt::simplify(
            &idx,
            &adapter,
            target,
            1.0,
            meshopt::SimplifyOptions::None,
            None,
        );
    }
    if out.len() > target {
        out = meshopt::simplify_sloppy(&idx, &adapter, target, 1.0, None);
    }
    if out.len() < 3 {
        return mesh.clone();
    }
    let mut simplified = with_computed_normals(&pos, &out);
    if simplified.indices.is_empty() || !normalize(&mut simplified) {
        return mesh.clone();
    }
    simplified
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cube() -> (Vec<[f32; 3]>, Vec<u32>) {
        let p = vec![
            [0., 0., 0.],
            [1., 0., 0.],
            [1., 1., 0.],
            [0., 1., 0.],
            [0., 0., 1.],
            [1., 0., 1.],
            [1., 1., 1.],
            [0., 1., 1.],
        ];
        let i = vec![
            0, 2, 1, 0, 3, 2, 4, 5, 6, 4, 6, 7, 0, 1, 5, 0, 5, 4, 1, 2, 6, 1, 6, 5, 2, 3, 7, 2, 7,
            6, 3, 0, 4, 3, 4, 7,
        ];
        (p, i)
    }

    #[test]
    fn cube_normals_are_flat_and_outward() {
        let (p, i) = cube();
        let m = with_computed_normals(&p, &i);
        assert_eq!(m.triangle_count(), 12);
        assert_eq!(m.positions.len(), 24);
        for (p, n) in m.positions.iter().zip(&m.normals) {
            let d = Vec3::from(*p) - Vec3::splat(0.5);
            let n = Vec3::from(*n);
            assert!((n.length() - 1.0).abs() < 1e-5);
            assert!(n.dot(d) > 0.0);
            assert_eq!(n.abs().max_element(), 1.0);
        }
        m.validate().unwrap();
    }

    #[test]
    fn normalize_centres_and_scales() {
        let (p, i) = cube();
        let mut m = with_computed_normals(&p, &i);
        for q in &mut m.positions {
            q[0] = q[0] * 4.0 + 10.0;
        }
        assert!(normalize(&mut m));
        let (lo, hi) = m.bounds().unwrap();
        assert!((hi[0] - lo[0] - 0.7).abs() < 1e-6);
        assert!((hi[1] - lo[1] - 0.175).abs() < 1e-6);
        for k in 0..3 {
            assert!((hi[k] + lo[k]).abs() < 1e-6);
        }
    }

    #[test]
    fn bad_indices_never_panic() {
        let p = [[0.0f32; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let m = with_computed_normals(&p, &[0, 1, 2, 0, 1, 7]);
        assert_eq!(m.triangle_count(), 1);
        let (_, idx) = weld(&p, &[0, 1, 9]);
        assert_eq!(idx.len(), 3);
        let bad = Mesh {
            positions: p.to_vec(),
            normals: vec![[0.0, 0.0, 1.0]; 3],
            indices: vec![0, 1, 2, 0, 1, 5],
        };
        assert_eq!(simplify(&bad, 1), bad);
    }

    #[test]
    fn normalize_rejects_degenerate() {
        let mut m = Mesh {
            positions: vec![[1.0; 3]; 3],
            normals: vec![[0.0, 0.0, 1.0]; 3],
            indices: vec![0, 1, 2],
        };
        assert!(!normalize(&mut m));
    }

    #[test]
    fn simplify_reaches_budget() {
        // a finely tessellated sphere
        let (n_u, n_v) = (64, 32);
        let mut p = Vec::new();
        for j in 0..=n_v {
            let th = std::f32::consts::PI * j as f32 / n_v as f32;
            for i in 0..n_u {
                let ph = std::f32::consts::TAU * i as f32 / n_u as f32;
                p.push([th.sin() * ph.cos(), th.sin() * ph.sin(), th.cos()]);
            }
        }
        let mut idx = Vec::new();
        for j in 0..n_v {
            for i in 0..n_u {
                let a = j * n_u + i;
                let b = j * n_u + (i + 1) % n_u;
                let c = a + n_u;
                let d = b + n_u;
                idx.extend_from_slice(&[a, c, b, b, c, d]);
            }
        }
        let m = with_computed_normals(&p, &idx);
        let before = m.triangle_count();
        let s = simplify(&m, 300);
        assert!(before > 3000);
        assert!(s.triangle_count() <= 300, "{}", s.triangle_count());
        assert!(s.triangle_count() >= 100, "{}", s.triangle_count());
        s.validate().unwrap();
    }
}
