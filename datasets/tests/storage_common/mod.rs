//! Shared helpers of the storage tests: random samples and a small dataset writer.

#![allow(dead_code)]

use std::path::Path;

use datasets::mds::Compression;
use datasets::{AssetRef, Assets, Manifest, Sample, ShardPlan, SplitSizes};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random sample; `index` 0 carries edge values (depth 0/65535, empty meta, class 0).
pub fn random_sample(seed: u64, index: usize, h: u32, w: u32) -> Sample {
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let n = (h * w) as usize;
    let mut depth: Vec<u16> = (0..n).map(|_| rng.random()).collect();
    let meta = if index == 0 {
        depth[0] = 65535;
        depth[n - 1] = 0;
        serde_json::json!({})
    } else {
        serde_json::json!({
            "index": index,
            "models": [format!("02691156/model-{}", rng.random::<u32>())],
            "rotation": [rng.random::<f64>(), -rng.random::<f64>(), 1e-7],
            "text": "é ü \" \\ \n",
        })
    };
    Sample {
        height: h,
        width: w,
        image: (0..n * 3).map(|_| rng.random()).collect(),
        class: if index == 0 {
            0
        } else {
            rng.random_range(0..10)
        },
        pose: rng.random_range(0..5),
        segmentation: (0..n).map(|_| rng.random_range(0..11)).collect(),
        instance: (0..n).map(|_| rng.random_range(0..5)).collect(),
        depth,
        meta,
    }
}

/// A manifest for a random test dataset.
pub fn manifest(
    count: usize,
    h: u32,
    w: u32,
    shard_size: usize,
    compression: Option<Compression>,
) -> Manifest {
    Manifest {
        tool_version: "test".into(),
        variant: "TCVL".into(),
        scene: "single".into(),
        seed: 7,
        count,
        splits: SplitSizes::from(datasets::split_counts(count)),
        resolution: [w, h],
        objects_per_image: 1,
        classes: shapenet_loader::Class::ALL.to_vec(),
        shard_size,
        compression: compression.map(|c| c.to_string()),
        assets: Assets {
            models: AssetRef {
                kind: "procedural".into(),
                fingerprint: "00".into(),
            },
            textures: AssetRef {
                kind: "procedural".into(),
                fingerprint: "11".into(),
            },
        },
        class_colors: vec![[0.5, 0.5, 0.5]; 10],
        pose_threshold_rad: 0.4,
        depth: "camera_z_mm".into(),
        columns: Sample::columns(h, w)
            .into_iter()
            .map(|c| (c.name, c.encoding.to_string()))
            .collect(),
        extra: Default::default(),
    }
}

/// Write worker `worker` of `workers`'s shards of a random dataset; returns shards written.
pub fn render_worker(
    dir: &Path,
    plan: &ShardPlan,
    h: u32,
    w: u32,
    workers: usize,
    worker: usize,
) -> usize {
    let columns = Sample::columns(h, w);
    let mut written = 0;
    for spec in plan.for_worker(workers, worker).unwrap() {
        if plan.is_complete(dir, &spec) {
            continue;
        }
        let rows: Vec<_> = spec
            .dataset_samples()
            .map(|i| random_sample(1, i, h, w).to_row())
            .collect();
        plan.write_shard(dir, &spec, &columns, &rows).unwrap();
        written += 1;
    }
    written
}

/// A complete random dataset in `dir` (manifest, shards, merged indexes).
pub fn write_dataset(
    dir: &Path,
    count: usize,
    h: u32,
    w: u32,
    shard_size: usize,
    compression: Option<Compression>,
) -> ShardPlan {
    let plan = ShardPlan::new(count, shard_size, compression).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    manifest(count, h, w, shard_size, compression)
        .write(dir)
        .unwrap();
    render_worker(dir, &plan, h, w, 1, 0);
    plan.merge(dir).unwrap();
    plan
}
