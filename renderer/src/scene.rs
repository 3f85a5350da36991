//! Renderer-free scene description: what the dataset sampler builds and the renderer draws.
//!
//! Conventions: world units are metres, z is up, matrices are column-major `[[f32; 4]; 4]`
//! (glam's `Mat4::to_cols_array_2d`), colours are sRGB-encoded values in `[0, 1]` (the renderer
//! linearises them for shading and encodes the result back to sRGB).

use serde::{Deserialize, Serialize};

/// Handle of a mesh uploaded with `Renderer::upload_mesh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MeshId(pub u32);

/// Handle of a texture uploaded with `Renderer::upload_texture`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TextureId(pub u32);

/// Pinhole camera.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Camera {
    /// Eye position in world space.
    pub position: [f32; 3],
    /// Point looked at.
    pub target: [f32; 3],
    /// World up vector (usually `[0, 0, 1]`).
    pub up: [f32; 3],
    /// Vertical field of view in degrees.
    pub fov_y_deg: f32,
    /// Near clipping distance.
    pub near: f32,
    /// Far clipping distance.
    pub far: f32,
}

impl Camera {
    /// The design's camera: at (1, 0, 0.4) looking at the origin, 50 mm lens on a 36 mm sensor
    /// (vertical FOV 39.6 degrees for square images).
    pub fn paper_default() -> Camera {
        Camera {
            position: [1.0, 0.0, 0.4],
            target: [0.0, 0.0, 0.0],
            up: [0.0, 0.0, 1.0],
            fov_y_deg: 39.597_75,
            near: 0.05,
            far: 20.0,
        }
    }
}

/// A point light; the renderer adds a weak ambient/fill term given by [`Scene::fill`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PointLight {
    /// Light position in world space.
    pub position: [f32; 3],
    /// Linear RGB intensity (1.0 = white light of unit strength at the objects).
    pub intensity: [f32; 3],
}

/// The background plane behind the objects, perpendicular to the camera's view direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Background {
    /// Flat colour (sRGB in `[0, 1]`); when `texture` is set, the texture is mixed with this colour
    /// with weight `texture_mix`.
    pub color: [f32; 3],
    /// Optional texture on the plane.
    pub texture: Option<TextureId>,
    /// Weight of the texture against `color` (0 = flat colour, 1 = texture only).
    pub texture_mix: f32,
    /// Texture repetitions per metre on the plane.
    pub texture_scale: f32,
    /// Centre of the plane in world space (the design puts it at -3x the camera position).
    pub center: [f32; 3],
}

/// Surface appearance of one object.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Material {
    /// Base colour (sRGB in `[0, 1]`).
    pub color: [f32; 3],
    /// Optional texture, applied by triplanar projection in object space.
    pub texture: Option<TextureId>,
    /// Weight of the texture against `color` (the design uses 0.4 when textures are on).
    pub texture_mix: f32,
    /// Texture repetitions per object-space metre.
    pub texture_scale: f32,
    /// Specular strength of the point light's highlight (0 = matte).
    pub specular: f32,
}

/// One object placed in a scene.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ObjectInstance {
    /// Uploaded mesh.
    pub mesh: MeshId,
    /// Object-to-world transform (column-major), including scale, stretch and rotation.
    pub transform: [[f32; 4]; 4],
    /// Appearance.
    pub material: Material,
    /// Value written to the segmentation map (class index + 1; 0 is background).
    pub class_id: u8,
    /// Value written to the instance map (object k + 1; 0 is background).
    pub instance_id: u8,
}

/// Everything needed to render one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// Camera.
    pub camera: Camera,
    /// Main light.
    pub light: PointLight,
    /// Ambient/fill strength (linear, ~0.1-0.3) so that nothing is pitch black.
    pub fill: f32,
    /// Background plane.
    pub background: Background,
    /// Objects (up to 255).
    pub objects: Vec<ObjectInstance>,
}

/// What the renderer returns for one scene. All maps are row-major, top row first, `width *
/// height` pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Anti-aliased colour, sRGB, HWC, `width * height * 3` bytes.
    pub rgb: Vec<u8>,
    /// Exact class map: 0 background, else the object's `class_id`.
    pub segmentation: Vec<u8>,
    /// Exact instance map: 0 background, else the object's `instance_id`.
    pub instance: Vec<u8>,
    /// Camera-space depth (distance along the view axis, metres) of the nearest surface at the
    /// pixel centre, background plane included.
    pub depth: Vec<f32>,
    /// With `RendererConfig::coverage`, for scenes of two or more objects: the number of pixels
    /// each of the first four objects (in scene order) would get in the label maps if no other
    /// object hid it, counted with the same sample vote as the maps. An object's visible
    /// fraction is its pixel count in `instance` divided by this. Empty otherwise.
    pub unoccluded: Vec<u32>,
}
