//! `#[repr(C)]` mirrors of the structs the WGSL shaders read (`shaders/scene.wgsl`,
//! `shaders/resolve.wgsl`). Field order and sizes must match the WGSL declarations.

use bytemuck::{Pod, Zeroable};

/// `ids.z` value meaning "no texture".
pub(crate) const NO_TEXTURE: u32 = u32::MAX;
/// `ids.w` for a scene object.
pub(crate) const KIND_OBJECT: u32 = 0;
/// `ids.w` for the background plane.
pub(crate) const KIND_BACKGROUND: u32 = 1;

/// One vertex of the mesh pool: object-space position and normal.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub(crate) struct Vertex {
    pub position: [f32; 3],
    pub normal: [f32; 3],
}

/// Per-draw data (one object, or the background plane, of one image); WGSL `struct Draw`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub(crate) struct DrawData {
    /// Object space -> clip space of the image's tile.
    pub mvp: [[f32; 4]; 4],
    /// Object space -> world space.
    pub model: [[f32; 4]; 4],
    /// Columns of the normal matrix (inverse transpose of the model's 3x3), w unused.
    pub normal_mat: [[f32; 4]; 3],
    /// Camera position (xyz), w unused.
    pub eye: [f32; 4],
    /// Light position (xyz), w = fill strength.
    pub light_pos: [f32; 4],
    /// Light intensity times the squared reference distance (rgb), w unused.
    pub light_color: [f32; 4],
    /// Linear base colour (rgb), w = texture mix.
    pub color: [f32; 4],
    /// x = texture repetitions per object-space unit, y = specular strength, z = background mip
    /// level, w = the object's position in its scene (coverage pass).
    pub params: [f32; 4],
    /// x = class id, y = instance id, z = texture layer or `NO_TEXTURE`, w = kind.
    pub ids: [u32; 4],
    /// World space -> clip space of the image's shadow map (the view from the point light).
    pub light_vp: [[f32; 4]; 4],
    /// x = 1 when the image has a shadow map (0: fully lit), y = normal offset of the lookup
    /// (metres), z = PCF tap spacing (shadow-map uv units), w = shadow-map array layer.
    pub shadow: [f32; 4],
}

/// Uniform of the resolve pass, one per image slot; WGSL `struct ResolveParams`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub(crate) struct ResolveParams {
    /// Image size in pixels.
    pub width: u32,
    pub height: u32,
    /// Slot of the image in the batch (its record offset in the output buffer).
    pub image: u32,
    pub pad: u32,
}

/// Per-image constants of the resolve pass: reversed-z depth `d` -> view depth `b / (d + a)`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub(crate) struct DepthParams {
    pub a: f32,
    pub b: f32,
}

/// Bytes per output pixel of the resolve pass: packed sRGB colour, packed labels, f32 depth.
pub(crate) const OUTPUT_PIXEL_BYTES: u64 = 12;
/// Objects per image whose unoccluded pixels the coverage pass counts (one RGBA8 target).
pub(crate) const COVERAGE_OBJECTS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_wgsl_layout() {
        // WGSL: 2 mat4 (128) + 3 vec4 (48) + 6 vec4 (96) + mat4 (64) + vec4 (16) = 352,
        // 16-byte aligned.
        assert_eq!(std::mem::size_of::<DrawData>(), 352);
        assert_eq!(std::mem::size_of::<DrawData>() % 16, 0);
        assert_eq!(std::mem::size_of::<Vertex>(), 24);
        assert_eq!(std::mem::size_of::<ResolveParams>(), 16);
    }
}
