//! Renderer configuration: image size, adapter choice, anti-aliasing and batching.

use serde::{Deserialize, Serialize};

use crate::error::RenderError;

/// Colour anti-aliasing method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Antialias {
    /// Supersampling on software (CPU) adapters, where MSAA costs more than rendering the
    /// sub-pixels outright; MSAA on real GPUs.
    #[default]
    Auto,
    /// Multisampling: `samples` coverage samples per pixel, shaded once per pixel.
    Msaa,
    /// Supersampling: each pixel is rendered as a sqrt(samples) x sqrt(samples) block of
    /// sub-pixels and averaged (textures and highlights are anti-aliased too).
    Supersample,
}

/// How the renderer is set up. Every field has a default (`RendererConfig::default()`: 64x64,
/// automatic adapter, 4 samples per pixel (MSAA on GPUs, 2x2 supersampling on CPU adapters),
/// 256 images per submission, 256-pixel texture layers, shadows on with automatic shadow-map
/// size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RendererConfig {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Case-insensitive substring of the adapter name to use (`None`: the best one found, a
    /// real GPU before the software adapter).
    pub adapter: Option<String>,
    /// Samples per pixel: 1 (no anti-aliasing) or 4 (MSAA 4x / SSAA 2x2); supersampling also
    /// accepts 9 and 16.
    pub samples: u32,
    /// Anti-aliasing method for `samples > 1`.
    pub antialias: Antialias,
    /// Images rendered per GPU submission (each with its own render targets: about 160 KB per
    /// slot at 64x64 with 4 samples, 640 KB at 128x128). Rejected at `Renderer::new` when the
    /// batch's output does not fit in one storage buffer of the adapter.
    pub batch: usize,
    /// Side of the texture array layers; textures of another size are resized on upload.
    /// Must be a power of two.
    pub texture_size: u32,
    /// Number of batches in flight in `render_stream` (2 = double buffering, 3 = triple).
    pub frames_in_flight: usize,
    /// Cast and self shadows of the point light (a shadow map per image, PCF-filtered) and the
    /// hemisphere ambient. `false` gives the shadowless look of earlier versions, byte for byte
    /// (and skips the shadow pass).
    pub shadows: bool,
    /// Side of each image's shadow map in texels; 0: automatic (the image's larger side, at
    /// least 64). The map covers the bounding sphere of the scene's objects as seen from the
    /// light, so its texel size (and the ~4-texel soft edge) follows the objects' size.
    pub shadow_map_size: u32,
    /// Also count, for the first four objects of each scene with two or more objects, the
    /// pixels each would cover in the label maps if no other object hid it
    /// ([`crate::RenderedImage::unoccluded`]): one extra depth-less pass per such image.
    pub coverage: bool,
}

impl Default for RendererConfig {
    fn default() -> Self {
        RendererConfig {
            width: 64,
            height: 64,
            adapter: None,
            samples: 4,
            antialias: Antialias::Auto,
            batch: 256,
            texture_size: 256,
            frames_in_flight: 2,
            shadows: true,
            shadow_map_size: 0,
            coverage: false,
        }
    }
}

impl RendererConfig {
    /// Default config with the given image size.
    pub fn with_size(width: u32, height: u32) -> RendererConfig {
        RendererConfig {
            width,
            height,
            ..RendererConfig::default()
        }
    }

    /// Side of the shadow maps in texels (`shadow_map_size`, or the automatic choice for 0).
    pub fn shadow_map_side(&self) -> u32 {
        if self.shadow_map_size == 0 {
            self.width.max(self.height).max(64)
        } else {
            self.shadow_map_size
        }
    }

    /// Checks the values that do not depend on the adapter.
    pub fn validate(&self) -> Result<(), RenderError> {
        let bad = |field: &'static str, value: String, expected: &str| {
            Err(RenderError::InvalidConfig {
                field,
                value,
                expected: expected.to_string(),
            })
        };
        if self.width == 0 || self.width > 8192 {
            return bad("width", self.width.to_string(), "1..=8192");
        }
        if self.height == 0 || self.height > 8192 {
            return bad("height", self.height.to_string(), "1..=8192");
        }
        let valid = match self.antialias {
            Antialias::Msaa => [1, 4].contains(&self.samples),
            Antialias::Auto => [1, 4].contains(&self.samples),
            Antialias::Supersample => [1, 4, 9, 16].contains(&self.samples),
        };
        if !valid {
            return bad(
                "samples",
                self.samples.to_string(),
                "1 or 4 (supersample: 1, 4, 9 or 16)",
            );
        }
        if self.batch == 0 {
            return bad("batch", self.batch.to_string(), "at least 1");
        }
        if !self.texture_size.is_power_of_two() || !(4..=4096).contains(&self.texture_size) {
            return bad(
                "texture_size",
                self.texture_size.to_string(),
                "a power of two in 4..=4096",
            );
        }
        if self.shadow_map_size != 0 && !(8..=8192).contains(&self.shadow_map_size) {
            return bad(
                "shadow_map_size",
                self.shadow_map_size.to_string(),
                "0 (automatic) or 8..=8192",
            );
        }
        if !(1..=8).contains(&self.frames_in_flight) {
            return bad(
                "frames_in_flight",
                self.frames_in_flight.to_string(),
                "1..=8",
            );
        }
        Ok(())
    }
}
