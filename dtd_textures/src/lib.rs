//! Surface textures for the synthetic datasets.
//!
//! Input: a Describable Textures Dataset directory (`images/CATEGORY/*.jpg`, 47 categories), or
//! nothing at all, in which case the embedded procedural generator draws textures modelled on DTD
//! categories. Output: square RGBA8 [`Texture`] tiles of a configurable size.
//!
//! Both sources implement [`TextureSource`]: a fixed, sorted list of named textures, each in the
//! train or held-out [`Split`] (80/20 by a stable hash of the name), loaded at any tile size.
//!
//! - [`ProceduralTextures`] / [`procedural_texture`]: seamless (periodic) tiles of the [`Family`]
//!   patterns (striped, banded, chequered, dotted, ...), deterministic by seed.
//! - [`Dtd`]: a DTD folder, decoded with `image`, centre-cropped and resized; unreadable images
//!   are skipped and reported ([`Dtd::skipped`]).
//! - [`tile()`]: resize any [`Texture`] with wrap-around filtering.

pub mod dtd;
pub mod error;
pub mod procedural;
pub mod source;
pub mod split;
pub mod texture;
pub mod tile;

pub use dtd::{Dtd, DtdOptions, Skipped, Verify};
pub use error::{DtdError, TextureError};
pub use procedural::{Family, GENERATOR_VERSION, ProceduralTextures, procedural_texture};
pub use source::{MAX_TEXTURE_SIZE, TextureSource, open_source};
pub use split::Split;
pub use texture::Texture;
pub use tile::tile;
