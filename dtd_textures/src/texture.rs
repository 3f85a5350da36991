//! The square texture tile every texture source produces and the renderer consumes.

/// A square RGBA8 texture tile, sRGB encoded, row-major, `size * size * 4` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texture {
    /// Side length in pixels.
    pub size: u32,
    /// Pixels, `size * size * 4` bytes, sRGB, alpha 255.
    pub rgba: Vec<u8>,
}

impl Texture {
    /// RGBA of pixel `(x, y)`.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.size + x) * 4) as usize;
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }
}
