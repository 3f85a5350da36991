//! The [`TextureSource`] trait every texture pool implements, and [`open_source`], which picks
//! the DTD folder when one is given and the embedded procedural generator otherwise.

use std::path::Path;

use crate::{Dtd, DtdError, ProceduralTextures, Split, Texture, TextureError};

/// Largest tile side [`TextureSource::load`] accepts.
pub const MAX_TEXTURE_SIZE: u32 = 4096;

/// A fixed, deterministic list of named textures.
pub trait TextureSource: Send + Sync {
    /// `"procedural"` or `"dtd"`.
    fn kind(&self) -> &'static str;
    /// Stable hex id of the content / parameters, recorded in dataset manifests.
    fn fingerprint(&self) -> String;
    /// Number of textures.
    fn len(&self) -> usize;
    /// True when there are no textures.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Name of texture `index`: `"striped/000017"` or `"banded/banded_0002.jpg"`.
    /// Panics if `index >= len()`.
    fn name(&self, index: usize) -> String;
    /// Train / held-out split of texture `index` (80/20 by xxh64 of its name).
    fn split(&self, index: usize) -> Split {
        Split::of_name(&self.name(index))
    }
    /// Texture `index` as a square RGBA8 sRGB tile of side `size`.
    fn load(&self, index: usize, size: u32) -> Result<Texture, TextureError>;

    /// Indices of all textures in `split`, ascending.
    fn indices(&self, split: Split) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.split(i) == split)
            .collect()
    }
}

/// Checks a requested tile size.
pub(crate) fn check_size(size: u32) -> Result<(), TextureError> {
    if size == 0 || size > MAX_TEXTURE_SIZE {
        return Err(TextureError::InvalidSize {
            size,
            max: MAX_TEXTURE_SIZE,
        });
    }
    Ok(())
}

/// Checks a requested index.
pub(crate) fn check_index(
    kind: &'static str,
    index: usize,
    len: usize,
) -> Result<(), TextureError> {
    if index >= len {
        return Err(TextureError::IndexOutOfRange { kind, index, len });
    }
    Ok(())
}

/// The DTD folder at `dtd` when given (opened with default options), else
/// `ProceduralTextures::new(procedural_count)`.
pub fn open_source(
    dtd: Option<&Path>,
    procedural_count: usize,
) -> Result<Box<dyn TextureSource>, DtdError> {
    Ok(match dtd {
        Some(dir) => Box::new(Dtd::open(dir)?),
        None => Box::new(ProceduralTextures::new(procedural_count)),
    })
}
