//! Errors of the renderer: what failed (adapter, device, memory, handles, scenes) and why.

use thiserror::Error;

/// Everything that can go wrong while setting up the renderer, uploading assets or rendering.
#[derive(Debug, Error)]
pub enum RenderError {
    /// No wgpu adapter at all (no GPU driver and no software Vulkan driver).
    #[error(
        "no GPU adapter found (adapters seen: {found}); install a Vulkan driver for your GPU, or \
         `mesa-vulkan-drivers` (Debian/Ubuntu) for the lavapipe software adapter"
    )]
    NoAdapter {
        /// Human-readable list of what enumeration returned (may be "none").
        found: String,
    },
    /// `RendererConfig::adapter` matched no adapter name.
    #[error("no adapter name contains {requested:?}; available adapters: {available}")]
    AdapterNotFound {
        /// The requested substring.
        requested: String,
        /// Names of the adapters that were found.
        available: String,
    },
    /// The adapter refused to create a device.
    #[error("adapter {adapter:?} could not create a device: {message}")]
    DeviceRequest {
        /// Adapter name.
        adapter: String,
        /// Driver message.
        message: String,
    },
    /// A configuration value is out of range.
    #[error("invalid renderer config: {field} = {value}: expected {expected}")]
    InvalidConfig {
        /// Offending field of `RendererConfig`.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A mesh handed to `upload_mesh` violates the mesh invariants.
    #[error("invalid mesh: {reason}")]
    InvalidMesh {
        /// What is wrong.
        reason: String,
    },
    /// A texture handed to `upload_texture` is malformed.
    #[error("invalid texture: {reason}")]
    InvalidTexture {
        /// What is wrong.
        reason: String,
    },
    /// The texture array is full (the adapter's `max_texture_array_layers`).
    #[error("too many textures: the adapter allows {max} texture array layers")]
    TooManyTextures {
        /// Adapter limit.
        max: u32,
    },
    /// A scene refers to a mesh that was never uploaded.
    #[error(
        "scene {scene}: object {object} uses mesh {mesh} but only {uploaded} meshes are uploaded"
    )]
    InvalidMeshHandle {
        /// Index of the scene in the call.
        scene: usize,
        /// Index of the object in the scene.
        object: usize,
        /// The handle value.
        mesh: u32,
        /// Number of uploaded meshes.
        uploaded: usize,
    },
    /// A scene refers to a texture that was never uploaded.
    #[error(
        "scene {scene}: {what} uses texture {texture} but only {uploaded} textures are uploaded"
    )]
    InvalidTextureHandle {
        /// Index of the scene in the call.
        scene: usize,
        /// "background" or "object N".
        what: String,
        /// The handle value.
        texture: u32,
        /// Number of uploaded textures.
        uploaded: usize,
    },
    /// More objects in one scene than the u8 instance map can label.
    #[error("scene {scene} has {count} objects; at most {max} are supported")]
    TooManyObjects {
        /// Index of the scene in the call.
        scene: usize,
        /// Number of objects in it.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// A scene value is unusable (non-finite, degenerate camera or transform...).
    #[error("scene {scene}: {reason}")]
    InvalidScene {
        /// Index of the scene in the call.
        scene: usize,
        /// What is wrong.
        reason: String,
    },
    /// The device ran out of memory.
    #[error("GPU out of memory while {context}")]
    OutOfMemory {
        /// What the renderer was doing.
        context: String,
    },
    /// The device reported an error (validation, internal, device lost).
    #[error("GPU error while {context}: {message}")]
    Gpu {
        /// What the renderer was doing.
        context: String,
        /// Driver/wgpu message.
        message: String,
    },
    /// Mapping the readback buffer failed or waiting for the device failed.
    #[error("reading back rendered images failed: {message}")]
    Readback {
        /// wgpu message.
        message: String,
    },
}

/// Error of [`crate::Renderer::render_stream`]: either the renderer or the caller's sink failed.
#[derive(Debug, Error)]
pub enum StreamError<E> {
    /// Rendering failed.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The sink returned an error for the image with this index; streaming stopped.
    #[error("sink failed on image {index}")]
    Sink {
        /// Index of the image (position in the input stream).
        index: usize,
        /// The sink's error.
        #[source]
        source: E,
    },
}
