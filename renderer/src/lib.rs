//! Native wgpu rasterizer that replaces Blender for the synthetic datasets.
//!
//! Input: meshes ([`shapenet_loader::Mesh`]) and textures ([`dtd_textures::Texture`]) uploaded
//! once, then a stream of [`Scene`]s (plain data, no GPU types). Output: one [`RenderedImage`]
//! per scene: anti-aliased sRGB colour, exact class segmentation and instance maps, and depth.
//! Runs on any wgpu adapter: a real GPU, or the lavapipe software Vulkan driver.

pub mod scene;

pub use scene::{
    Background, Camera, Material, MeshId, ObjectInstance, PointLight, RenderedImage, Scene,
    TextureId,
};
