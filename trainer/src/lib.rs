//! Training and evaluation of backbones on the synthetic datasets (burn 0.21, one run-time
//! dispatch backend: [`backend::B`]).
//!
//! Input: a dataset directory written by `datasets` (manifest + MDS shards per split), a task, a
//! backbone and a label budget. Output: a run directory with `config.json`, checkpoints,
//! `backbone.bpk` and `metrics.json`.
//!
//! Modules: [`model`] (ResNet9/ResNet50 backbones, projection, heads), [`tasks`] (loss and metrics
//! per task), [`metrics`] (plain functions on host data), [`color`] (sRGB -> Lab), [`augment`],
//! [`data`] (streaming loader, label budgets), [`training`] (the supervised loop, checkpoints,
//! resume), [`run`] (a whole `train` run on a dataset directory), [`backend`] (run-time device
//! selection), [`cli`] (start-up shared by the binaries), [`study`] (plans of label sweeps, the
//! run graph and executor, utility, figures and the HTML report behind the `study` command).

pub mod augment;
pub mod backend;
pub mod chain;
pub mod cli;
pub mod color;
pub mod data;
pub mod export;
pub mod linear_eval;
pub mod methods;
pub mod metrics;
pub mod model;
pub mod pretrain;
pub mod probes;
pub mod run;
pub mod study;
pub mod tasks;
pub mod training;

use std::path::{Path, PathBuf};

/// Errors of the trainer library.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A weights/optimiser record could not be written or read.
    #[error("{path}: cannot save/load weights: {reason}")]
    Record {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A JSON file could not be parsed or written.
    #[error("{path}: {reason}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The dataset could not be read.
    #[error("dataset: {0}")]
    Dataset(String),
    /// The dataset does not fit the request (missing split, too few samples, wrong columns...).
    #[error("{0}")]
    Invalid(String),
    /// The requested backend is not compiled in or has no device.
    #[error("{0}")]
    Backend(String),
    /// The loader's background threads stopped.
    #[error("data loader stopped: {0}")]
    Loader(String),
}

impl TrainError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Temporary sibling name used for atomic writes (`name.tmp`).
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Write `bytes` to `path` atomically (temp file, fsync, rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    use std::io::Write;
    let tmp = tmp_path(path);
    let mut f = std::fs::File::create(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| TrainError::io(&tmp, e))?;
    f.sync_all().map_err(|e| TrainError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}
