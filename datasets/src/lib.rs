//! Synthetic datasets: variants, scene sampling, labels and MosaicML MDS shards.
//!
//! Input: a variant name (`----` … `TCVL`), a scene kind (single or multi object), a seed and the
//! asset libraries of `shapenet_loader` and `dtd_textures`. Output: a dataset directory with
//! `manifest.json` and one MDS (version 2, zstd) directory per split (`train/`, `val/`, `test/`),
//! readable here and by `streaming.StreamingDataset` in Python.

pub mod color;
pub mod dataset;
pub mod error;
pub mod generate;
pub mod inspect;
pub mod layout;
pub mod live;
pub mod manifest;
pub mod mds;
pub mod pose;
pub mod sample;
pub mod scene_sampler;
pub mod slurm;
pub mod variant;

pub use dataset::{Dataset, SplitReader};
pub use error::DatasetError;
pub use generate::{RenderJob, RenderProgress, RenderSummary, render_dataset};
pub use layout::{ShardPlan, ShardSpec, Split, split_counts};
pub use manifest::{AssetRef, Assets, MANIFEST_FILE, Manifest, SplitSizes};
pub use sample::Sample;
pub use scene_sampler::{SceneKind, SceneParams, SceneSample};
pub use variant::{ParseVariantError, Variant};
