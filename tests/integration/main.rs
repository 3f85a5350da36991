//! End-to-end tests across crates: one test binary, one module per data-flow stage.
//!
//! - [`assets_to_dataset`]: procedural models exported in ShapeNet v2 layout and a DTD-style
//!   folder of JPEG files, opened by `shapenet_loader` / `dtd_textures`, rendered by `datasets`
//!   (through `renderer` on the Vulkan adapter, lavapipe in CI) and read back with
//!   `datasets::Dataset`.
//! - [`dataset_to_loader`]: a rendered dataset streamed through the trainer's loader
//!   (`trainer::data`), checked against the samples `datasets` stores.
//! - [`plan_to_report`]: a study plan rendered, run, resumed and reported in-process
//!   (`trainer::study`), the report's numbers checked against the runs' metrics.
//! - [`slurm_cluster`]: `render slurm --submit` on a live single-node Slurm started by the test
//!   (skipped with a printed line when the Slurm programs are absent).
//!
//! The `render` command line is covered by `datasets/tests/generate.rs`. Only `slurm_cluster`
//! runs other crates' binaries (the Slurm jobs need executables): it builds them with
//! `cargo build -p CRATE --bin NAME` into this test's target directory first.

mod assets_to_dataset;
mod dataset_to_loader;
mod plan_to_report;
mod slurm_cluster;

use std::path::Path;

use datasets::{Dataset, Sample, Split};

/// Every sample of a split, in index order.
pub fn read_split(dir: &Path, split: Split) -> Vec<Sample> {
    let ds = Dataset::open(dir).expect("open the dataset");
    let reader = ds.split(split).expect("open the split");
    let mut out = Vec::with_capacity(reader.len());
    for k in 0..reader.num_shards() {
        let shard = reader.read_shard(k).expect("read a shard");
        assert_eq!(shard.len(), reader.shard_range(k).len(), "shard {k}");
        out.extend(shard);
    }
    assert_eq!(out.len(), reader.len());
    out
}
