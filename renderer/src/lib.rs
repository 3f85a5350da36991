//! Native wgpu rasterizer that replaces Blender for the synthetic datasets.
//!
//! Input: meshes ([`shapenet_loader::Mesh`]) and textures ([`dtd_textures::Texture`]) uploaded
//! once, then a stream of [`Scene`]s (plain data, no GPU types). Output: one [`RenderedImage`]
//! per scene: anti-aliased sRGB colour, exact class segmentation and instance maps, and depth.
//! Runs on any wgpu adapter: a real GPU, or the lavapipe software Vulkan driver.
//!
//! ```no_run
//! use renderer::{Renderer, RendererConfig};
//! let mut r = Renderer::new(RendererConfig::with_size(64, 64))?;
//! let mesh = r.upload_mesh(&renderer::primitives::cube(0.5))?;
//! # let _ = mesh;
//! # Ok::<(), renderer::RenderError>(())
//! ```
//!
//! Conventions (see `docs/renderer.md`): world units are metres, z up; depth is camera-space z
//! (distance along the view axis, not the ray length), `f32::INFINITY` where nothing was hit;
//! colour is shaded in linear light and encoded to sRGB; anti-aliasing (4x MSAA on GPUs, 2x2
//! supersampling on CPU adapters) is averaged in linear light; labels and depth come from the
//! majority sample of each pixel, never blended.

pub mod adapter;
pub mod config;
pub mod cpu_time;
pub mod error;
pub mod gpu_presence;
mod gpu_types;
pub mod multi;
mod pool;
pub mod primitives;
#[allow(clippy::module_inception)]
mod renderer;
pub mod scene;

pub use adapter::{AdapterSummary, list_adapters};
pub use config::{Antialias, RendererConfig};
pub use cpu_time::process_cpu_seconds;
pub use error::{RenderError, StreamError};
pub use gpu_presence::check_software_fallback;
pub use multi::MultiRenderer;
pub use renderer::{MAX_OBJECTS_PER_SCENE, RenderStats, Renderer};
pub use scene::{
    Background, Camera, Material, MeshId, ObjectInstance, PointLight, RenderedImage, Scene,
    TextureId,
};
