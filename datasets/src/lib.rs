//! Synthetic datasets: variants, scene sampling, labels and MosaicML MDS shards.
//!
//! Input: a variant name (`----` … `TCVL`), a scene kind (single or multi object), a seed and the
//! asset libraries of `shapenet_loader` and `dtd_textures`. Output: a dataset directory with
//! `manifest.json` and one MDS (version 2, zstd) directory per split (`train/`, `val/`, `test/`),
//! readable here and by `streaming.StreamingDataset` in Python.

pub mod sample;

pub use sample::Sample;
