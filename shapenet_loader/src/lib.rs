//! Object meshes for the synthetic datasets.
//!
//! Input: a ShapeNetCore directory (v1 `SYNSET/MODEL/model.obj` or v2
//! `SYNSET/MODEL/models/model_normalized.obj`), or nothing at all, in which case the embedded
//! procedural generator provides thousands of models for each of the ten classes.
//! Output: [`Mesh`]es (triangle lists, z up, front +x, centred, largest side 0.7) addressed by
//! [`ModelKey`], the stable 80/20 model split, and the per-axis stretch of the design.

pub mod cache;
pub mod class;
pub mod error;
pub mod export;
pub mod geometry;
pub mod mesh;
pub mod obj;
pub mod procedural;
pub mod shapenet;
pub mod source;
pub mod split;
pub mod stretch;

pub use class::{Class, UnknownClass};
pub use error::{ExportError, ModelError, ShapeNetError};
pub use export::{ExportSummary, Layout, export_shapenet};
pub use mesh::{Mesh, MeshDefect};
pub use procedural::{ProceduralModels, procedural_mesh};
pub use shapenet::{ShapeNet, Skipped};
pub use source::{DEFAULT_TRIANGLE_BUDGET, LoadOptions, ModelSource};
pub use split::{ModelKey, Split};
pub use stretch::stretch;
