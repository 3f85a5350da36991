//! GPU-resident asset pools: every mesh in one vertex + index buffer, every texture in one
//! mip-mapped 2D array texture.
//!
//! Input: [`Mesh`]es and [`Texture`]s. Output: handles ([`MeshId`], [`TextureId`]) and the draw
//! ranges / array layers the renderer binds. Both pools grow by doubling (copying the old
//! contents on the GPU), so uploads may interleave with rendering.

use dtd_textures::Texture;
use shapenet_loader::Mesh;

use crate::error::RenderError;
use crate::gpu_types::Vertex;
use crate::scene::{MeshId, TextureId};

/// Where one uploaded mesh lives in the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MeshRange {
    pub base_vertex: i32,
    pub first_index: u32,
    pub index_count: u32,
    pub orientation: Orientation,
}

/// Whether a mesh encloses a volume with consistent winding, which decides back-face culling:
/// the back faces of a closed, consistently wound surface are never visible from outside, so
/// skipping them changes no pixel and saves half the triangle work. Anything else (open
/// surfaces, inconsistent winding, non-manifold edges) is drawn two-sided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Orientation {
    /// Not a closed, consistently wound surface: no culling.
    Open,
    /// Closed, counter-clockwise seen from outside (positive signed volume).
    Outward,
    /// Closed, clockwise seen from outside (negative signed volume).
    Inward,
}

/// Classifies a (validated) mesh. Vertices are welded by exact position first, since meshes
/// split vertices along normal or UV seams; zero-area triangles with a repeated welded vertex
/// are ignored. Closed means every directed edge appears exactly once and its reverse too.
pub(crate) fn orientation(positions: &[[f32; 3]], indices: &[u32]) -> Orientation {
    use std::collections::HashMap;
    let mut weld: HashMap<[u32; 3], u32> = HashMap::with_capacity(positions.len());
    let ids: Vec<u32> = positions
        .iter()
        .map(|p| {
            // +0.0 and -0.0 are the same point.
            let key = p.map(|c| (c + 0.0).to_bits());
            let next = weld.len() as u32;
            *weld.entry(key).or_insert(next)
        })
        .collect();
    let mut edges: HashMap<(u32, u32), u32> = HashMap::with_capacity(indices.len());
    let mut volume = 0.0f64;
    for t in indices.chunks_exact(3) {
        let [a, b, c] = [t[0], t[1], t[2]].map(|i| ids[i as usize]);
        if a == b || b == c || a == c {
            continue;
        }
        for e in [(a, b), (b, c), (c, a)] {
            *edges.entry(e).or_insert(0) += 1;
        }
        let p = |i: u32| positions[i as usize].map(f64::from);
        let (p0, p1, p2) = (p(t[0]), p(t[1]), p(t[2]));
        let cross = [
            p1[1] * p2[2] - p1[2] * p2[1],
            p1[2] * p2[0] - p1[0] * p2[2],
            p1[0] * p2[1] - p1[1] * p2[0],
        ];
        volume += p0[0] * cross[0] + p0[1] * cross[1] + p0[2] * cross[2];
    }
    if edges.is_empty() {
        return Orientation::Open;
    }
    let closed = edges
        .iter()
        .all(|(&(a, b), &n)| n == 1 && edges.get(&(b, a)) == Some(&1));
    if !closed || volume.abs() < 1e-12 {
        Orientation::Open
    } else if volume > 0.0 {
        Orientation::Outward
    } else {
        Orientation::Inward
    }
}

/// All meshes in one vertex buffer and one index buffer.
pub(crate) struct MeshPool {
    pub vertices: wgpu::Buffer,
    pub indices: wgpu::Buffer,
    vertex_capacity: u64,
    index_capacity: u64,
    vertex_count: u64,
    index_count: u64,
    pub ranges: Vec<MeshRange>,
}

fn vertex_buffer(device: &wgpu::Device, capacity: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("mesh pool vertices"),
        size: capacity * std::mem::size_of::<Vertex>() as u64,
        usage: wgpu::BufferUsages::VERTEX
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    })
}

fn index_buffer(device: &wgpu::Device, capacity: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("mesh pool indices"),
        size: capacity * 4,
        usage: wgpu::BufferUsages::INDEX
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    })
}

/// Checks the [`Mesh`] invariants the renderer relies on.
pub(crate) fn validate_mesh(mesh: &Mesh) -> Result<(), RenderError> {
    let bad = |reason: String| Err(RenderError::InvalidMesh { reason });
    if mesh.indices.is_empty() {
        return bad("no triangles".into());
    }
    if !mesh.indices.len().is_multiple_of(3) {
        return bad(format!(
            "{} indices is not a multiple of 3",
            mesh.indices.len()
        ));
    }
    if mesh.normals.len() != mesh.positions.len() {
        return bad(format!(
            "{} normals for {} positions",
            mesh.normals.len(),
            mesh.positions.len()
        ));
    }
    if mesh.positions.len() > i32::MAX as usize {
        return bad(format!("{} vertices is too many", mesh.positions.len()));
    }
    let n = mesh.positions.len() as u32;
    if let Some((k, i)) = mesh.indices.iter().enumerate().find(|(_, i)| **i >= n) {
        return bad(format!("index {k} is {i} but there are only {n} vertices"));
    }
    let finite = |v: &[f32; 3]| v.iter().all(|c| c.is_finite());
    if let Some(k) = mesh.positions.iter().position(|p| !finite(p)) {
        return bad(format!("position {k} is not finite"));
    }
    if let Some(k) = mesh.normals.iter().position(|p| !finite(p)) {
        return bad(format!("normal {k} is not finite"));
    }
    Ok(())
}

impl MeshPool {
    pub fn new(device: &wgpu::Device) -> MeshPool {
        // The background quad is always mesh range 0 (internal, not a MeshId).
        let vertex_capacity = 1 << 16;
        let index_capacity = 1 << 17;
        MeshPool {
            vertices: vertex_buffer(device, vertex_capacity),
            indices: index_buffer(device, index_capacity),
            vertex_capacity,
            index_capacity,
            vertex_count: 0,
            index_count: 0,
            ranges: Vec::new(),
        }
    }

    /// Appends a mesh (already validated); returns its range index.
    pub fn push(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        positions: &[[f32; 3]],
        normals: &[[f32; 3]],
        indices: &[u32],
    ) -> usize {
        let nv = positions.len() as u64;
        let ni = indices.len() as u64;
        if self.vertex_count + nv > self.vertex_capacity
            || self.index_count + ni > self.index_capacity
        {
            self.grow(device, queue, self.vertex_count + nv, self.index_count + ni);
        }
        let vertices: Vec<Vertex> = positions
            .iter()
            .zip(normals)
            .map(|(p, n)| Vertex {
                position: *p,
                normal: *n,
            })
            .collect();
        let vsize = std::mem::size_of::<Vertex>() as u64;
        queue.write_buffer(
            &self.vertices,
            self.vertex_count * vsize,
            bytemuck::cast_slice(&vertices),
        );
        queue.write_buffer(
            &self.indices,
            self.index_count * 4,
            bytemuck::cast_slice(indices),
        );
        self.ranges.push(MeshRange {
            base_vertex: self.vertex_count as i32,
            first_index: self.index_count as u32,
            index_count: ni as u32,
            orientation: orientation(positions, indices),
        });
        self.vertex_count += nv;
        self.index_count += ni;
        self.ranges.len() - 1
    }

    fn grow(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, need_v: u64, need_i: u64) {
        let new_v = need_v.max(self.vertex_capacity).next_power_of_two();
        let new_i = need_i.max(self.index_capacity).next_power_of_two();
        let vertices = vertex_buffer(device, new_v);
        let indices = index_buffer(device, new_i);
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("mesh pool grow"),
        });
        let vsize = std::mem::size_of::<Vertex>() as u64;
        if self.vertex_count > 0 {
            encoder.copy_buffer_to_buffer(
                &self.vertices,
                0,
                &vertices,
                0,
                self.vertex_count * vsize,
            );
        }
        if self.index_count > 0 {
            encoder.copy_buffer_to_buffer(&self.indices, 0, &indices, 0, self.index_count * 4);
        }
        queue.submit([encoder.finish()]);
        self.vertices = vertices;
        self.indices = indices;
        self.vertex_capacity = new_v;
        self.index_capacity = new_i;
    }

    /// Number of user meshes (the background quad is not counted).
    pub fn mesh_count(&self) -> usize {
        self.ranges.len().saturating_sub(1)
    }

    /// Range of a user mesh.
    pub fn get(&self, id: MeshId) -> Option<MeshRange> {
        self.ranges.get(id.0 as usize + 1).copied()
    }
}

/// All textures as layers of one mip-mapped `Rgba8UnormSrgb` 2D array.
pub(crate) struct TexturePool {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    size: u32,
    mip_levels: u32,
    capacity: u32,
    max_layers: u32,
    count: u32,
}

fn array_texture(
    device: &wgpu::Device,
    size: u32,
    mip_levels: u32,
    layers: u32,
) -> (wgpu::Texture, wgpu::TextureView) {
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("texture pool"),
        size: wgpu::Extent3d {
            width: size,
            height: size,
            depth_or_array_layers: layers,
        },
        mip_level_count: mip_levels,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba8UnormSrgb,
        usage: wgpu::TextureUsages::TEXTURE_BINDING
            | wgpu::TextureUsages::COPY_DST
            | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let view = texture.create_view(&wgpu::TextureViewDescriptor {
        label: Some("texture pool view"),
        dimension: Some(wgpu::TextureViewDimension::D2Array),
        ..Default::default()
    });
    (texture, view)
}

/// sRGB8 -> linear lookup table.
fn srgb_to_linear_table() -> [f32; 256] {
    let mut t = [0.0f32; 256];
    for (i, v) in t.iter_mut().enumerate() {
        let c = i as f32 / 255.0;
        *v = if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        };
    }
    t
}

fn linear_to_srgb8(v: f32) -> u8 {
    let c = v.clamp(0.0, 1.0);
    let s = if c <= 0.003_130_8 {
        c * 12.92
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    };
    (s * 255.0 + 0.5).floor() as u8
}

/// The mip chain of a square sRGB RGBA8 image: 2x2 box filter in linear light.
pub(crate) fn mip_chain(size: u32, rgba: &[u8]) -> Vec<Vec<u8>> {
    let lut = srgb_to_linear_table();
    let mut levels = vec![rgba.to_vec()];
    let mut s = size as usize;
    while s > 1 {
        let prev = levels.last().map(Vec::as_slice).unwrap_or(&[]);
        let half = s / 2;
        let mut next = vec![0u8; half * half * 4];
        for y in 0..half {
            for x in 0..half {
                for c in 0..4 {
                    let at = |xx: usize, yy: usize| prev[(yy * s + xx) * 4 + c];
                    let texels = [
                        at(2 * x, 2 * y),
                        at(2 * x + 1, 2 * y),
                        at(2 * x, 2 * y + 1),
                        at(2 * x + 1, 2 * y + 1),
                    ];
                    next[(y * half + x) * 4 + c] = if c == 3 {
                        let sum: u32 = texels.iter().map(|&t| t as u32).sum();
                        ((sum + 2) / 4) as u8
                    } else {
                        let sum: f32 = texels.iter().map(|&t| lut[t as usize]).sum();
                        linear_to_srgb8(sum * 0.25)
                    };
                }
            }
        }
        levels.push(next);
        s = half;
    }
    levels
}

impl TexturePool {
    pub fn new(device: &wgpu::Device, size: u32, max_layers: u32) -> TexturePool {
        let mip_levels = size.ilog2() + 1;
        let capacity = 8.min(max_layers).max(1);
        let (texture, view) = array_texture(device, size, mip_levels, capacity);
        TexturePool {
            texture,
            view,
            size,
            mip_levels,
            capacity,
            max_layers,
            count: 0,
        }
    }

    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// Side of every layer in texels.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Uploads a texture as the next layer (resized to the pool's tile size if needed).
    /// Returns true when the array texture was replaced (bind groups must be rebuilt).
    pub fn push(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        texture: &Texture,
    ) -> Result<(TextureId, bool), RenderError> {
        let expected = texture.size as usize * texture.size as usize * 4;
        if texture.size == 0 || texture.rgba.len() != expected {
            return Err(RenderError::InvalidTexture {
                reason: format!(
                    "size {} needs {expected} RGBA bytes, got {}",
                    texture.size,
                    texture.rgba.len()
                ),
            });
        }
        let rgba = if texture.size == self.size {
            texture.rgba.clone()
        } else {
            let img = image::RgbaImage::from_raw(texture.size, texture.size, texture.rgba.clone())
                .ok_or_else(|| RenderError::InvalidTexture {
                    reason: "pixel buffer does not match its size".into(),
                })?;
            image::imageops::resize(
                &img,
                self.size,
                self.size,
                image::imageops::FilterType::Triangle,
            )
            .into_raw()
        };
        let mut replaced = false;
        if self.count == self.capacity {
            if self.capacity >= self.max_layers {
                return Err(RenderError::TooManyTextures {
                    max: self.max_layers,
                });
            }
            self.grow(device, queue);
            replaced = true;
        }
        let layer = self.count;
        for (level, data) in mip_chain(self.size, &rgba).iter().enumerate() {
            let side = (self.size >> level).max(1);
            queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture: &self.texture,
                    mip_level: level as u32,
                    origin: wgpu::Origin3d {
                        x: 0,
                        y: 0,
                        z: layer,
                    },
                    aspect: wgpu::TextureAspect::All,
                },
                data,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(side * 4),
                    rows_per_image: Some(side),
                },
                wgpu::Extent3d {
                    width: side,
                    height: side,
                    depth_or_array_layers: 1,
                },
            );
        }
        self.count += 1;
        Ok((TextureId(layer), replaced))
    }

    fn grow(&mut self, device: &wgpu::Device, queue: &wgpu::Queue) {
        let capacity = (self.capacity * 2).min(self.max_layers);
        let (texture, view) = array_texture(device, self.size, self.mip_levels, capacity);
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("texture pool grow"),
        });
        for level in 0..self.mip_levels {
            let side = (self.size >> level).max(1);
            let info = |t| wgpu::TexelCopyTextureInfo {
                texture: t,
                mip_level: level,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            };
            encoder.copy_texture_to_texture(
                info(&self.texture),
                info(&texture),
                wgpu::Extent3d {
                    width: side,
                    height: side,
                    depth_or_array_layers: self.count,
                },
            );
        }
        queue.submit([encoder.finish()]);
        self.texture = texture;
        self.view = view;
        self.capacity = capacity;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mip_chain_averages_in_linear_light() {
        // 2x2 checker of black and white: the 1x1 level is linear 0.5 -> sRGB 188.
        let rgba = [
            0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 255,
        ];
        let chain = mip_chain(2, &rgba);
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1], vec![188, 188, 188, 255]);
    }

    #[test]
    fn orientation_of_closed_open_and_flipped_meshes() {
        let cube = crate::primitives::cube(1.0);
        assert_eq!(
            orientation(&cube.positions, &cube.indices),
            Orientation::Outward
        );
        let sphere = crate::primitives::uv_sphere(0.5, 12, 8);
        assert_eq!(
            orientation(&sphere.positions, &sphere.indices),
            Orientation::Outward
        );
        let flipped: Vec<u32> = cube
            .indices
            .chunks_exact(3)
            .flat_map(|t| [t[0], t[2], t[1]])
            .collect();
        assert_eq!(orientation(&cube.positions, &flipped), Orientation::Inward);
        // One face removed: open.
        assert_eq!(
            orientation(&cube.positions, &cube.indices[6..]),
            Orientation::Open
        );
        // One triangle flipped: inconsistent winding.
        let mut mixed = cube.indices.clone();
        mixed.swap(1, 2);
        assert_eq!(orientation(&cube.positions, &mixed), Orientation::Open);
        let quad = crate::primitives::quad(1.0);
        assert_eq!(
            orientation(&quad.positions, &quad.indices),
            Orientation::Open
        );
    }

    #[test]
    fn mesh_validation_names_the_problem() {
        let mut mesh = Mesh {
            positions: vec![[0.0; 3]; 3],
            normals: vec![[0.0, 0.0, 1.0]; 3],
            indices: vec![0, 1, 3],
        };
        let err = validate_mesh(&mesh).unwrap_err().to_string();
        assert!(err.contains("index 2 is 3"), "{err}");
        mesh.indices = vec![0, 1];
        assert!(validate_mesh(&mesh).is_err());
        mesh.indices = vec![0, 1, 2];
        mesh.normals.pop();
        assert!(
            validate_mesh(&mesh)
                .unwrap_err()
                .to_string()
                .contains("normals")
        );
        mesh.normals.push([f32::NAN, 0.0, 0.0]);
        assert!(
            validate_mesh(&mesh)
                .unwrap_err()
                .to_string()
                .contains("normal 2")
        );
    }
}
