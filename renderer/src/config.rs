//! Renderer configuration: image size, adapter choice, anti-aliasing and batching.

use serde::{Deserialize, Serialize};

use crate::error::RenderError;

/// How the renderer is set up. Every field has a default (`RendererConfig::default()`: 64x64,
/// automatic adapter, 4x MSAA, 256 images per submission, 256-pixel texture layers).
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
    /// Colour anti-aliasing: MSAA sample count, 1 (off) or 4.
    pub samples: u32,
    /// Images rendered per GPU submission (atlas tiles); clamped to what fits in the adapter's
    /// largest texture.
    pub batch: usize,
    /// Side of the texture array layers; textures of another size are resized on upload.
    /// Must be a power of two.
    pub texture_size: u32,
    /// Number of batches in flight in `render_stream` (2 = double buffering, 3 = triple).
    pub frames_in_flight: usize,
}

impl Default for RendererConfig {
    fn default() -> Self {
        RendererConfig {
            width: 64,
            height: 64,
            adapter: None,
            samples: 4,
            batch: 256,
            texture_size: 256,
            frames_in_flight: 2,
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
        if self.samples != 1 && self.samples != 4 {
            return bad("samples", self.samples.to_string(), "1 or 4");
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
