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

/// Why a [`Mesh`] breaks its invariants.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeshDefect {
    /// No triangle at all.
    #[error("no triangles")]
    NoTriangles,
    /// `indices.len()` is not a multiple of 3.
    #[error("index count {0} is not a multiple of 3")]
    PartialTriangle(usize),
    /// `normals.len() != positions.len()`.
    #[error("{normals} normals for {positions} positions")]
    NormalCount {
        /// Number of normals.
        normals: usize,
        /// Number of positions.
        positions: usize,
    },
    /// An index is not below the vertex count.
    #[error("index {index} out of range ({vertices} vertices)")]
    IndexOutOfRange {
        /// The index.
        index: u32,
        /// Vertex count.
        vertices: usize,
    },
    /// A NaN or infinite position or normal.
    #[error("non-finite {what} at vertex {vertex}")]
    NonFinite {
        /// "position" or "normal".
        what: &'static str,
        /// The vertex.
        vertex: usize,
    },
}

impl Mesh {
    /// Checks the invariants documented on [`Mesh`].
    pub fn validate(&self) -> Result<(), MeshDefect> {
        if !self.indices.len().is_multiple_of(3) {
            return Err(MeshDefect::PartialTriangle(self.indices.len()));
        }
        if self.indices.is_empty() {
            return Err(MeshDefect::NoTriangles);
        }
        if self.normals.len() != self.positions.len() {
            return Err(MeshDefect::NormalCount {
                normals: self.normals.len(),
                positions: self.positions.len(),
            });
        }
        if let Some(&index) = self
            .indices
            .iter()
            .find(|&&i| i as usize >= self.positions.len())
        {
            return Err(MeshDefect::IndexOutOfRange {
                index,
                vertices: self.positions.len(),
            });
        }
        for (what, data) in [("position", &self.positions), ("normal", &self.normals)] {
            if let Some(vertex) = data.iter().position(|p| !p.iter().all(|c| c.is_finite())) {
                return Err(MeshDefect::NonFinite { what, vertex });
            }
        }
        Ok(())
    }

    /// Little-endian bytes of positions, normals and indices (with their lengths): equal meshes
    /// have equal bytes. Used for determinism checks and fingerprints.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.positions.len() * 24 + self.indices.len() * 4);
        out.extend_from_slice(&(self.positions.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.indices.len() as u64).to_le_bytes());
        for p in self.positions.iter().chain(&self.normals) {
            for c in p {
                out.extend_from_slice(&c.to_le_bytes());
            }
        }
        for i in &self.indices {
            out.extend_from_slice(&i.to_le_bytes());
        }
        out
    }

    /// Parses [`Mesh::to_bytes`] output; `None` when the bytes are not a complete mesh.
    pub fn from_bytes(bytes: &[u8]) -> Option<Mesh> {
        let rd_u64 = |o: usize| -> Option<u64> {
            Some(u64::from_le_bytes(bytes.get(o..o + 8)?.try_into().ok()?))
        };
        let nv = usize::try_from(rd_u64(0)?).ok()?;
        let ni = usize::try_from(rd_u64(8)?).ok()?;
        let need = nv
            .checked_mul(24)?
            .checked_add(ni.checked_mul(4)?)?
            .checked_add(16)?;
        if bytes.len() != need {
            return None;
        }
        let f = |o: usize| f32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        let vec3 =
            |base: usize, k: usize| [f(base + 12 * k), f(base + 12 * k + 4), f(base + 12 * k + 8)];
        let positions = (0..nv).map(|k| vec3(16, k)).collect();
        let normals = (0..nv).map(|k| vec3(16 + 12 * nv, k)).collect();
        let ib = 16 + 24 * nv;
        let indices = (0..ni)
            .map(|k| {
                let o = ib + 4 * k;
                u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]])
            })
            .collect();
        Some(Mesh {
            positions,
            normals,
            indices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tri() -> Mesh {
        Mesh {
            positions: vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            normals: vec![[0.0, 0.0, 1.0]; 3],
            indices: vec![0, 1, 2],
        }
    }

    #[test]
    fn validate_catches_defects() {
        assert_eq!(tri().validate(), Ok(()));
        let mut m = tri();
        m.indices.push(0);
        assert_eq!(m.validate(), Err(MeshDefect::PartialTriangle(4)));
        let mut m = tri();
        m.indices[2] = 3;
        assert!(matches!(
            m.validate(),
            Err(MeshDefect::IndexOutOfRange { index: 3, .. })
        ));
        let mut m = tri();
        m.normals.pop();
        assert!(matches!(m.validate(), Err(MeshDefect::NormalCount { .. })));
        let mut m = tri();
        m.positions[1][2] = f32::NAN;
        assert!(matches!(
            m.validate(),
            Err(MeshDefect::NonFinite {
                what: "position",
                vertex: 1
            })
        ));
        assert_eq!(Mesh::default().validate(), Err(MeshDefect::NoTriangles));
    }

    #[test]
    fn bytes_round_trip() {
        let m = tri();
        let b = m.to_bytes();
        assert_eq!(Mesh::from_bytes(&b), Some(m));
        assert_eq!(Mesh::from_bytes(&b[..b.len() - 1]), None);
        assert_eq!(Mesh::from_bytes(&[]), None);
        let mut huge = b.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(Mesh::from_bytes(&huge), None);
    }
}
