//! Object meshes for the synthetic datasets.
//!
//! Input: a ShapeNetCore directory (v1 `SYNSET/MODEL/model.obj` or v2
//! `SYNSET/MODEL/models/model_normalized.obj`), or nothing at all, in which case the embedded
//! procedural generator provides thousands of models for each of the ten classes.
//! Output: [`Mesh`]es (triangle lists, centred, largest side 0.7) addressed by [`ModelKey`], the
//! stable 80/20 model split, and the per-axis stretch of the design.

pub mod class;
pub mod mesh;

pub use class::Class;
pub use mesh::Mesh;
