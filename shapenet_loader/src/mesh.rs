//! The triangle mesh every model source produces and the renderer consumes.

use serde::{Deserialize, Serialize};

/// An indexed triangle mesh in object space (z up, metres).
///
/// Invariants (checked by [`Mesh::validate`]): `normals.len() == positions.len()`, every index is
/// `< positions.len()`, `indices.len() % 3 == 0`, all values finite, at least one triangle.
/// Meshes handed out by the model libraries are centred on the origin with their largest
/// bounding-box side equal to 0.7.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Mesh {
    /// Vertex positions.
    pub positions: Vec<[f32; 3]>,
    /// Unit vertex normals, one per position.
    pub normals: Vec<[f32; 3]>,
    /// Triangle list, three indices per triangle, counter-clockwise seen from outside.
    pub indices: Vec<u32>,
}

impl Mesh {
    /// Number of triangles.
    pub fn triangle_count(&self) -> usize {
        self.indices.len() / 3
    }

    /// Axis-aligned bounding box `(min, max)`; `None` for a mesh without vertices.
    pub fn bounds(&self) -> Option<([f32; 3], [f32; 3])> {
        let first = *self.positions.first()?;
        let mut lo = first;
        let mut hi = first;
        for p in &self.positions {
            for k in 0..3 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        Some((lo, hi))
    }
}
