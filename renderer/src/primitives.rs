//! Simple procedural meshes (cube, quad, UV sphere) for tests, benchmarks and debugging.
//!
//! Input: sizes and tessellation counts. Output: [`Mesh`]es in object space (centred on the
//! origin, counter-clockwise triangles seen from outside, unit normals).

use shapenet_loader::Mesh;

/// Axis-aligned cube of side `size` with flat-shaded faces (24 vertices, 12 triangles).
pub fn cube(size: f32) -> Mesh {
    let h = size * 0.5;
    let mut mesh = Mesh::default();
    // (normal, u axis, v axis) with u x v = normal, so the quads wind counter-clockwise.
    let faces: [([f32; 3], [f32; 3], [f32; 3]); 6] = [
        ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
        ([-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
        ([0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]),
        ([0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
        ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
        ([0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]),
    ];
    for (n, u, v) in faces {
        let base = mesh.positions.len() as u32;
        for (su, sv) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
            let p = [0, 1, 2].map(|k| (n[k] + su * u[k] + sv * v[k]) * h);
            mesh.positions.push(p);
            mesh.normals.push(n);
        }
        mesh.indices
            .extend_from_slice(&[base, base + 1, base + 2, base, base + 2, base + 3]);
    }
    mesh
}

/// Square of side `size` in the xy plane, facing +z (4 vertices, 2 triangles).
pub fn quad(size: f32) -> Mesh {
    let h = size * 0.5;
    Mesh {
        positions: vec![[-h, -h, 0.0], [h, -h, 0.0], [h, h, 0.0], [-h, h, 0.0]],
        normals: vec![[0.0, 0.0, 1.0]; 4],
        indices: vec![0, 1, 2, 0, 2, 3],
    }
}

/// UV sphere of the given radius with `segments` around the z axis and `rings` from pole to
/// pole: `2 * segments * (rings - 1)` triangles (e.g. 32x32 -> 1984, 100x100 -> 19800,
/// 224x224 -> 99904). `segments >= 3`, `rings >= 2` (smaller values are raised).
pub fn uv_sphere(radius: f32, segments: u32, rings: u32) -> Mesh {
    let segments = segments.max(3);
    let rings = rings.max(2);
    let mut mesh = Mesh::default();
    let pi = std::f32::consts::PI;
    // Poles.
    mesh.positions.push([0.0, 0.0, radius]);
    mesh.normals.push([0.0, 0.0, 1.0]);
    for r in 1..rings {
        let theta = pi * r as f32 / rings as f32;
        for s in 0..segments {
            let phi = 2.0 * pi * s as f32 / segments as f32;
            let n = [
                theta.sin() * phi.cos(),
                theta.sin() * phi.sin(),
                theta.cos(),
            ];
            mesh.positions.push(n.map(|c| c * radius));
            mesh.normals.push(n);
        }
    }
    let south = mesh.positions.len() as u32;
    mesh.positions.push([0.0, 0.0, -radius]);
    mesh.normals.push([0.0, 0.0, -1.0]);
    let ring = |r: u32, s: u32| 1 + (r - 1) * segments + (s % segments);
    for s in 0..segments {
        mesh.indices
            .extend_from_slice(&[0, ring(1, s), ring(1, s + 1)]);
    }
    for r in 1..rings - 1 {
        for s in 0..segments {
            let (a, b, c, d) = (
                ring(r, s),
                ring(r + 1, s),
                ring(r + 1, s + 1),
                ring(r, s + 1),
            );
            mesh.indices.extend_from_slice(&[a, b, c, a, c, d]);
        }
    }
    for s in 0..segments {
        mesh.indices
            .extend_from_slice(&[south, ring(rings - 1, s + 1), ring(rings - 1, s)]);
    }
    mesh
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_outward_ccw(mesh: &Mesh) {
        for t in mesh.indices.chunks_exact(3) {
            let p = |i: u32| glam::Vec3::from(mesh.positions[i as usize]);
            let (a, b, c) = (p(t[0]), p(t[1]), p(t[2]));
            let n = (b - a).cross(c - a);
            let centre = (a + b + c) / 3.0;
            assert!(n.dot(centre) > 0.0, "triangle {t:?} winds inward");
        }
    }

    #[test]
    fn cube_is_closed_and_outward() {
        let m = cube(2.0);
        assert_eq!(m.triangle_count(), 12);
        assert_eq!(m.bounds(), Some(([-1.0; 3], [1.0; 3])));
        check_outward_ccw(&m);
    }

    #[test]
    fn sphere_triangle_counts() {
        for (s, r, tris) in [(32, 32, 1984), (100, 100, 19800), (224, 224, 99904)] {
            let m = uv_sphere(0.35, s, r);
            assert_eq!(m.triangle_count(), tris);
            check_outward_ccw(&m);
            let max_i = *m.indices.iter().max().unwrap_or(&0) as usize;
            assert_eq!(max_i + 1, m.positions.len());
        }
    }
}
