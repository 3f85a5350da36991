//! Surface textures for the synthetic datasets.
//!
//! Input: a Describable Textures Dataset directory (`images/CATEGORY/*.jpg`, 47 categories), or
//! nothing at all, in which case the embedded procedural generator draws textures modelled on DTD
//! categories. Output: square RGBA8 [`Texture`] tiles of a configurable size.

pub mod texture;

pub use texture::Texture;
