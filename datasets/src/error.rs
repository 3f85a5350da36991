//! Errors of the `datasets` library. Each variant names the file, flag or shard at fault.
//!
//! datasets-render may append variants (append-only).

use std::path::PathBuf;

use shapenet_loader::Class;

use crate::mds::MdsError;
use crate::scene_sampler::AssetSplit;

/// Errors of dataset reading, writing and planning.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// An MDS shard or index problem (names the file).
    #[error(transparent)]
    Mds(#[from] MdsError),
    /// An I/O error on a file or directory.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `manifest.json` is missing or invalid.
    #[error("{}: invalid manifest: {reason}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A row does not match the dataset's sample columns.
    #[error("column `{column}`: {reason}")]
    Column {
        /// Column name.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// Shards needed by a merge are missing or incomplete.
    #[error("{}: {} shard(s) missing or incomplete: {}; render them (all workers) before merging", dir.display(), missing.len(), missing.join(", "))]
    MissingShards {
        /// The dataset directory.
        dir: PathBuf,
        /// Relative paths of the missing shards (`train/shard.00003.mds.zstd`).
        missing: Vec<String>,
    },
    /// Invalid shard plan parameters (shard size, workers, worker index).
    #[error("invalid shard plan: {0}")]
    Plan(String),
    /// A sample index past the end of a split.
    #[error("sample {index} out of range (split has {len} samples)")]
    OutOfRange {
        /// Requested index.
        index: usize,
        /// Split length.
        len: usize,
    },
    /// A render job parameter is invalid (names the flag), or a job-level failure.
    #[error("{0}")]
    Job(String),
    /// The output directory already holds a dataset made with other parameters.
    #[error("{}: {reason}", path.display())]
    ManifestMismatch {
        /// The existing manifest.
        path: PathBuf,
        /// Which fields differ.
        reason: String,
    },
    /// The renderer failed (no adapter, device lost, ...).
    #[error("renderer: {0}")]
    Render(#[from] renderer::RenderError),
    /// A scene could not be sampled (no usable models/textures for a class or split).
    #[error("scene sampling: {0}")]
    Sampler(#[from] crate::scene_sampler::SamplerError),
    /// A rendered class has no usable model on one side of the 80/20 model split.
    #[error(
        "class {class}: {}: {found} found, {train} on the train side and {held} held out by the stable 80/20 model split (usable after loading: {usable_train} train-side, {usable_held} held-out); train images need at least 1 usable train-side model and val/test images at least 1 usable held-out model, so a class needs about 5 models or more; add models of this class or leave it out with --classes",
        if *short == AssetSplit::Held { "too few models for a held-out split" } else { "no usable model for the train split" }
    )]
    TooFewModels {
        /// The class.
        class: Class,
        /// Models the source lists for the class.
        found: usize,
        /// Of those, on the train side of the model split.
        train: usize,
        /// Of those, held out (used only for val and test).
        held: usize,
        /// Train-side models that loaded (skipped ones are reported separately).
        usable_train: usize,
        /// Held-out models that loaded.
        usable_held: usize,
        /// The first side without a usable model.
        short: AssetSplit,
    },
}

impl DatasetError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> DatasetError {
        DatasetError::Io {
            path: path.into(),
            source,
        }
    }
}
