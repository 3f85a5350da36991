//! The interface every model library serves: list the models of a class, load one as a
//! normalised [`Mesh`].

use std::path::PathBuf;

use crate::{Class, Mesh, ModelError, ModelKey};

/// A library of object models (procedural or ShapeNetCore).
///
/// Every mesh returned by [`ModelSource::load`] is in the common frame: z up, the object's front
/// towards +x, centred on its bounding-box centre, largest bounding-box side 0.7, at most the
/// source's triangle budget.
pub trait ModelSource: Send + Sync {
    /// `"procedural"` or `"shapenet"`.
    fn kind(&self) -> &'static str;
    /// A stable hex id of the content and parameters, for dataset manifests.
    fn fingerprint(&self) -> String;
    /// The models of a class, sorted; deterministic; may be empty.
    fn models(&self, class: Class) -> Vec<ModelKey>;
    /// Loads one model, normalised and simplified to the triangle budget.
    fn load(&self, key: &ModelKey) -> Result<Mesh, ModelError>;
}

/// Default [`LoadOptions::triangle_budget`].
pub const DEFAULT_TRIANGLE_BUDGET: usize = 5000;

/// How ShapeNet models are loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Meshes with more triangles are simplified (meshopt) to about this many. Default 5000.
    pub triangle_budget: usize,
    /// Where parsed, simplified meshes are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            triangle_budget: DEFAULT_TRIANGLE_BUDGET,
            cache_dir: None,
        }
    }
}
