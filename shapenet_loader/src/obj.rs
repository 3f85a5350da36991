//! Reading one OBJ file into a [`Mesh`] in the common frame.
//!
//! Input: an OBJ file (ShapeNetCore's y-up convention). Output: a validated mesh, z up, front
//! +x, centred, largest side 0.7, simplified to a triangle budget; or a [`ModelError`] naming
//! the file and the reason. Parsing is tobj's (triangulated, single index, all groups merged,
//! materials ignored: `mtllib` is never opened). Face indices are checked before tobj sees the
//! text, so malformed files give typed errors, and any parser panic is caught and reported as a
//! parse error: no input file can crash the caller.
//!
//! ShapeNetCore's canonical orientation depends on the release (its README files):
//! v1 OBJs are "pre-aligned so that the up direction is the +Y axis, and the front is the +X
//! axis"; v2 OBJs so that "the up direction is the +Y axis, and the front is the -Z axis".
//! [`to_frame`] maps either to ours (z up, front +x) with a proper rotation:
//! v1 `(x, y, z) -> (x, -z, y)`, v2 `(x, y, z) -> (-z, -x, y)`.

use std::io::BufReader;
use std::path::Path;

use glam::Vec3;

use crate::geometry::{normalize, simplify, with_computed_normals};
use crate::{Layout, Mesh, ModelError};

/// Version of the OBJ processing (parsing, orientation, normals, normalisation, simplification).
/// Part of the cache key and of [`crate::ShapeNet`]'s fingerprint: bump it whenever loaded meshes
/// change, so stale cache entries are never served.
pub const LOADER_VERSION: u32 = 2;

/// Maps a vector of a ShapeNet OBJ of the given layout (y up; front +x in v1, -z in v2) into
/// the common frame (z up, front +x).
pub fn to_frame(layout: Layout, p: [f32; 3]) -> [f32; 3] {
    match layout {
        Layout::V1 => [p[0], -p[2], p[1]],
        Layout::V2 => [-p[2], -p[0], p[1]],
    }
}

/// Inverse of [`to_frame`]: a vector of the common frame in a ShapeNet OBJ of `layout`.
pub fn from_frame(layout: Layout, p: [f32; 3]) -> [f32; 3] {
    match layout {
        Layout::V1 => [p[0], p[2], -p[1]],
        Layout::V2 => [-p[1], p[2], -p[0]],
    }
}

/// Loads, validates, rotates (from `layout`'s orientation), normalises and simplifies one OBJ
/// file.
pub fn load_obj_file(
    path: &Path,
    layout: Layout,
    triangle_budget: usize,
) -> Result<Mesh, ModelError> {
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_obj_bytes(&bytes, path, layout, triangle_budget)
}

/// Like [`load_obj_file`] on the file's contents; `path` only names the file in errors.
pub fn load_obj_bytes(
    bytes: &[u8],
    path: &Path,
    layout: Layout,
    triangle_budget: usize,
) -> Result<Mesh, ModelError> {
    let raw = parse_obj(bytes, path)?;
    finish(raw, path, layout, triangle_budget)
}

/// Checks every face index against the element counts seen so far (OBJ indices are 1-based,
/// negative ones relative to the end), so tobj only ever sees in-range indices.
fn check_face_indices(text: &str, path: &Path) -> Result<(), ModelError> {
    let mut counts = [0i64; 3]; // v, vt, vn
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("v") => counts[0] += 1,
            Some("vt") => counts[1] += 1,
            Some("vn") => counts[2] += 1,
            Some("f") | Some("l") | Some("p") => {
                for word in words {
                    if word.split('/').count() > 3 {
                        return Err(ModelError::Parse {
                            path: path.to_path_buf(),
                            message: format!(
                                "bad face vertex {word:?} (expected v, v/vt, v//vn or v/vt/vn)"
                            ),
                        });
                    }
                    for (k, part) in word.split('/').enumerate() {
                        if part.is_empty() {
                            continue;
                        }
                        let Ok(i) = part.parse::<i64>() else {
                            return Err(ModelError::Parse {
                                path: path.to_path_buf(),
                                message: format!("bad face index {part:?}"),
                            });
                        };
                        let n = counts[k];
                        let resolved = if i < 0 { n + i } else { i - 1 };
                        if i == 0 || resolved < 0 || resolved >= n {
                            return Err(ModelError::IndexOutOfRange {
                                path: path.to_path_buf(),
                                element: ["vertex", "texture coordinate", "normal"][k],
                                index: resolved,
                                vertices: n as usize,
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Raw merged geometry in ShapeNet's frame.
struct RawMesh {
    positions: Vec<[f32; 3]>,
    normals: Option<Vec<[f32; 3]>>,
    indices: Vec<u32>,
}

fn parse_obj(bytes: &[u8], path: &Path) -> Result<RawMesh, ModelError> {
    let text = String::from_utf8_lossy(bytes);
    check_face_indices(&text, path)?;
    let opts = tobj::LoadOptions {
        single_index: true,
        triangulate: true,
        ignore_points: true,
        ignore_lines: true,
    };
    let parsed = std::panic::catch_unwind(|| {
        let mut reader = BufReader::new(text.as_bytes());
        // materials are ignored: the loader never opens the mtllib file
        tobj::load_obj_buf(&mut reader, &opts, |_| Ok((Vec::new(), Default::default())))
    });
    let (models, _materials) = match parsed {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return Err(ModelError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
        Err(_) => {
            return Err(ModelError::Parse {
                path: path.to_path_buf(),
                message: "the OBJ parser panicked on this file".into(),
            });
        }
    };
    let mut positions = Vec::new();
    let mut normals = Vec::new();
    let mut indices = Vec::new();
    let mut all_normals = true;
    for model in &models {
        let m = &model.mesh;
        let base = positions.len();
        let nv = m.positions.len() / 3;
        positions.extend(m.positions.chunks_exact(3).map(|c| [c[0], c[1], c[2]]));
        if m.normals.len() == m.positions.len() {
            normals.extend(m.normals.chunks_exact(3).map(|c| [c[0], c[1], c[2]]));
        } else {
            all_normals = false;
        }
        for &i in &m.indices {
            if i as usize >= nv {
                return Err(ModelError::IndexOutOfRange {
                    path: path.to_path_buf(),
                    element: "vertex",
                    index: i as i64,
                    vertices: nv,
                });
            }
            let Ok(gi) = u32::try_from(base + i as usize) else {
                return Err(ModelError::Parse {
                    path: path.to_path_buf(),
                    message: "more than 2^32 vertices".into(),
                });
            };
            indices.push(gi);
        }
    }
    // drop a trailing partial triangle (cannot happen with triangulate, but never trust input)
    indices.truncate(indices.len() / 3 * 3);
    Ok(RawMesh {
        positions,
        normals: all_normals.then_some(normals),
        indices,
    })
}

fn finish(
    raw: RawMesh,
    path: &Path,
    layout: Layout,
    triangle_budget: usize,
) -> Result<Mesh, ModelError> {
    if raw.indices.is_empty() {
        return Err(ModelError::NoFaces {
            path: path.to_path_buf(),
        });
    }
    // only vertices used by faces matter (ShapeNet files carry stray ones)
    let mut used = vec![false; raw.positions.len()];
    for &i in &raw.indices {
        used[i as usize] = true;
    }
    if let Some(v) = (0..raw.positions.len())
        .find(|&v| used[v] && !raw.positions[v].iter().all(|c| c.is_finite()))
    {
        return Err(ModelError::NonFinite {
            path: path.to_path_buf(),
            what: format!("position of vertex {}", v + 1),
        });
    }
    let positions: Vec<[f32; 3]> = raw.positions.iter().map(|p| to_frame(layout, *p)).collect();
    // file normals are used when every vertex has a finite, non-zero one
    let normals = raw.normals.and_then(|ns| {
        let ok = ns.iter().enumerate().all(|(v, n)| {
            !used[v] || (n.iter().all(|c| c.is_finite()) && Vec3::from(*n).length_squared() > 1e-12)
        });
        ok.then(|| {
            ns.iter()
                .map(|n| {
                    Vec3::from(to_frame(layout, *n))
                        .normalize_or_zero()
                        .to_array()
                })
                .collect::<Vec<_>>()
        })
    });
    let mut mesh = match normals {
        Some(normals) => drop_degenerate(Mesh {
            positions,
            normals,
            indices: raw.indices,
        }),
        None => with_computed_normals(&positions, &raw.indices),
    };
    if mesh.indices.is_empty() {
        return Err(ModelError::Degenerate {
            path: path.to_path_buf(),
            what: "every triangle has zero area".into(),
        });
    }
    compact(&mut mesh);
    if !normalize(&mut mesh) {
        return Err(ModelError::Degenerate {
            path: path.to_path_buf(),
            what: "zero-size bounding box".into(),
        });
    }
    let mesh = simplify(&mesh, triangle_budget);
    if let Err(e) = mesh.validate() {
        return Err(ModelError::Degenerate {
            path: path.to_path_buf(),
            what: e.to_string(),
        });
    }
    Ok(mesh)
}

/// Removes zero-area triangles.
fn drop_degenerate(mut m: Mesh) -> Mesh {
    let p = &m.positions;
    let keep: Vec<u32> = m
        .indices
        .chunks_exact(3)
        .filter(|t| {
            let [a, b, c] = [0, 1, 2].map(|k| Vec3::from(p[t[k] as usize]));
            let n = (b - a).cross(c - a);
            n.length_squared() > 0.0 && n.is_finite()
        })
        .flatten()
        .copied()
        .collect();
    m.indices = keep;
    m
}

/// Drops vertices no triangle uses (so the bounding box is that of the surface).
fn compact(m: &mut Mesh) {
    let mut remap = vec![u32::MAX; m.positions.len()];
    let mut positions = Vec::new();
    let mut normals = Vec::new();
    for i in &mut m.indices {
        let r = &mut remap[*i as usize];
        if *r == u32::MAX {
            *r = positions.len() as u32;
            positions.push(m.positions[*i as usize]);
            normals.push(m.normals[*i as usize]);
        }
        *i = *r;
    }
    m.positions = positions;
    m.normals = normals;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Mesh, ModelError> {
        load_obj_bytes(text.as_bytes(), Path::new("test.obj"), Layout::V2, 5000)
    }

    #[test]
    fn frame_rotations_are_proper_and_inverse() {
        for (layout, front) in [(Layout::V1, [1., 0., 0.]), (Layout::V2, [0., 0., -1.])] {
            let x = Vec3::from(to_frame(layout, [1., 0., 0.]));
            let y = Vec3::from(to_frame(layout, [0., 1., 0.]));
            let z = Vec3::from(to_frame(layout, [0., 0., 1.]));
            assert!((x.cross(y).dot(z) - 1.0).abs() < 1e-6, "{layout:?}");
            assert_eq!(y, Vec3::Z, "{layout:?}: up");
            assert_eq!(
                Vec3::from(to_frame(layout, front)),
                Vec3::X,
                "{layout:?}: front"
            );
            let p = [0.1, -2.0, 3.5];
            assert_eq!(from_frame(layout, to_frame(layout, p)), p);
            assert_eq!(to_frame(layout, from_frame(layout, p)), p);
        }
    }

    #[test]
    fn quad_loads_and_normalises() {
        let m = load("v 0 0 0\nv 2 0 0\nv 2 0 -1\nv 0 0 -1\nf 1 2 3 4\n").unwrap();
        assert_eq!(m.triangle_count(), 2);
        let (lo, hi) = m.bounds().unwrap();
        assert!((hi[1] - lo[1] - 0.7).abs() < 1e-6);
        // the quad lies in y=0 (ShapeNet) -> z=0 (ours); normal is ShapeNet +y -> +z or -z
        for n in &m.normals {
            assert!((n[2].abs() - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(load("").unwrap_err().reason(), "no_faces");
        assert_eq!(
            load("v 0 0 0\nf 1 2 3\n").unwrap_err().reason(),
            "index_out_of_range"
        );
        assert_eq!(
            load("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 0\n")
                .unwrap_err()
                .reason(),
            "index_out_of_range"
        );
        assert_eq!(
            load("v 0 0 0\nv 1 0 0\nv 0 1 0\nf -1 -2 -4\n")
                .unwrap_err()
                .reason(),
            "index_out_of_range"
        );
        assert_eq!(
            load("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1/99999999999999 2 3\n")
                .unwrap_err()
                .reason(),
            "index_out_of_range"
        );
        assert_eq!(
            load("v 0 0 nan\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
                .unwrap_err()
                .reason(),
            "non_finite"
        );
        assert_eq!(
            load("v 0 0 0\nv 0 0 0\nv 0 0 0\nf 1 2 3\n")
                .unwrap_err()
                .reason(),
            "degenerate"
        );
        assert_eq!(
            load("v 0 0 x\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
                .unwrap_err()
                .reason(),
            "parse"
        );
    }
}
