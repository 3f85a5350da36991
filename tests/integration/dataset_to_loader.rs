//! A rendered dataset -> the trainer's streaming loader (`trainer::data`).
//!
//! Checks that the batches the trainer sees are the samples `datasets` stored: evaluation batches
//! in index order with the stored labels, images as normalised Lab in NCHW order (checked against
//! an independent sRGB -> L* computation), dense targets reduced to the trainer's 16x16 maps from
//! the stored segmentation (nearest, cell centres) and depth (mean of valid millimetres, in
//! metres), and that label budgets select nested subsets whose samples the training stream
//! visits exactly once per epoch across shard boundaries.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use datasets::generate::{RenderJob, render_dataset};
use datasets::{Dataset, Sample, SceneKind, Split};
use dtd_textures::ProceduralTextures;
use shapenet_loader::ProceduralModels;
use trainer::augment::{DENSE_TARGET_SIZE, target_size};
use trainer::backend::BackendKind;
use trainer::color::{LAB_MEAN, LAB_STD};
use trainer::data::{
    BatchSource, HostBatch, LabelBudget, Loader, LoaderConfig, ShardSource, SplitSource,
    select_labels,
};
use trainer::tasks::{HostTargets, Targets, Task};

use crate::read_split;

const RES: usize = 32;
const COUNT: usize = 80;

/// Render a 32 px `TC-L` dataset of 80 samples in shards of 12 (68 train samples in 6 shards).
fn render(dir: &Path) {
    let mut job = RenderJob::new("TC-L".parse().expect("variant"), SceneKind::Single, COUNT);
    job.resolution = Some(RES as u32);
    job.shard_size = 12;
    job.models_per_class = 2;
    job.textures = 4;
    job.texture_size = 32;
    let summary = render_dataset(
        &job,
        &ProceduralModels::new(24),
        &ProceduralTextures::new(40),
        dir,
        &|_| {},
    )
    .expect("render the dataset");
    assert!(summary.merged);
}

fn train_source(dir: &Path) -> Arc<dyn ShardSource> {
    let ds = Dataset::open(dir).expect("open the dataset");
    Arc::new(SplitSource::new(
        ds.split(Split::Train).expect("train split"),
    ))
}

/// All batches of one evaluation pass (index order, no augmentation).
fn eval_pass(source: &Arc<dyn ShardSource>, task: Task, batch: usize) -> Vec<HostBatch> {
    let all: Vec<usize> = (0..source.len()).collect();
    let loader = Loader::start(source.clone(), &all, LoaderConfig::eval(task, batch))
        .expect("start the loader");
    loader.map(|b| b.expect("batch")).collect()
}

/// CIE L* of an 8-bit sRGB colour (D65), computed independently of `trainer::color`.
fn lightness(rgb: &[u8]) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.040_45 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let y = 0.212_672_9 * lin(rgb[0]) + 0.715_152_2 * lin(rgb[1]) + 0.072_175 * lin(rgb[2]);
    let eps = (6.0f64 / 29.0).powi(3);
    let f = if y > eps {
        y.cbrt()
    } else {
        y / (3.0 * (6.0f64 / 29.0).powi(2)) + 4.0 / 29.0
    };
    116.0 * f - 16.0
}

/// De-normalised Lab channel `c` of pixel `p` of image `i` in an NCHW batch.
fn lab(batch: &HostBatch, i: usize, c: usize, p: usize) -> f64 {
    let plane = batch.res * batch.res;
    f64::from(batch.images[(i * 3 + c) * plane + p] * LAB_STD[c] + LAB_MEAN[c])
}

fn labels(batch: &HostBatch) -> &[i64] {
    match &batch.targets {
        HostTargets::Labels(l) => l,
        other => panic!("expected labels, got {other:?}"),
    }
}

#[test]
fn loader_batches_match_the_stored_dataset() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    render(&data);
    let stored: Vec<Sample> = read_split(&data, Split::Train);
    let n = stored.len();
    assert_eq!(n, datasets::split_counts(COUNT)[0]);
    let source = train_source(&data);
    assert_eq!(source.len(), n);
    assert!(source.num_shards() > 3, "want samples spread over shards");
    let device = BackendKind::Flex.device().expect("CPU device");
    let t = target_size(RES);
    assert_eq!(t, DENSE_TARGET_SIZE);
    assert_eq!(t, 16);

    // Segmentation: one ordered pass; images and 16x16 class maps.
    let batches = eval_pass(&source, Task::Segmentation, 16);
    let sizes: Vec<usize> = batches.iter().map(|b| b.size).collect();
    assert_eq!(sizes.iter().sum::<usize>(), n);
    assert!(
        sizes[..sizes.len() - 1].iter().all(|&s| s == 16),
        "{sizes:?}"
    );
    let mut at = 0;
    for b in &batches {
        assert_eq!((b.res, b.target_size), (RES, t));
        assert_eq!(b.first_position, at as u64);
        assert_eq!(b.images_tensor(&device).dims(), [b.size, 3, RES, RES]);
        match b.targets.to_device(b.size, t, &device) {
            Targets::Map(m) => assert_eq!(m.dims(), [b.size, t, t]),
            _ => panic!("segmentation targets must be class maps"),
        }
        let HostTargets::Map(maps) = &b.targets else {
            panic!("segmentation targets must be class maps")
        };
        assert_eq!(maps.len(), b.size * t * t);
        for i in 0..b.size {
            let s = &stored[at + i];
            // Lab input: L* of every pixel as computed from the stored sRGB bytes, a*/b* in range.
            for p in 0..RES * RES {
                let want = lightness(&s.image[3 * p..3 * p + 3]);
                let got = lab(b, i, 0, p);
                assert!(
                    (got - want).abs() < 0.05,
                    "sample {}: pixel {p}: L* {got} vs {want}",
                    at + i
                );
                for c in 1..3 {
                    let v = lab(b, i, c, p);
                    assert!((-128.0..=128.0).contains(&v), "a*/b* {v}");
                }
            }
            // Dense target: the stored class map at each 2x2 cell's centre pixel (1, 1).
            let map = &maps[i * t * t..(i + 1) * t * t];
            for y in 0..t {
                for x in 0..t {
                    let src = s.segmentation[(2 * y + 1) * RES + 2 * x + 1];
                    assert_eq!(
                        map[y * t + x],
                        i64::from(src),
                        "sample {} ({y},{x})",
                        at + i
                    );
                }
            }
            assert!(map.iter().all(|&v| v == 0 || v == s.class + 1));
        }
        at += b.size;
    }

    // Depth: the mean of each cell's valid (non-zero) millimetres, in metres.
    let mut at = 0;
    for b in eval_pass(&source, Task::Depth, 32) {
        match b.targets.to_device(b.size, t, &device) {
            Targets::Depth { depth, valid } => {
                assert_eq!(depth.dims(), [b.size, t, t]);
                assert_eq!(valid.dims(), [b.size, t, t]);
            }
            _ => panic!("depth targets must be depth maps"),
        }
        let HostTargets::Depth(maps) = &b.targets else {
            panic!("depth targets must be depth maps")
        };
        for i in 0..b.size {
            let s = &stored[at + i];
            for y in 0..t {
                for x in 0..t {
                    let cell: Vec<f64> = [(0, 0), (0, 1), (1, 0), (1, 1)]
                        .iter()
                        .map(|(dy, dx)| s.depth[(2 * y + dy) * RES + 2 * x + dx])
                        .filter(|&d| d > 0)
                        .map(f64::from)
                        .collect();
                    let want = if cell.is_empty() {
                        0.0
                    } else {
                        cell.iter().sum::<f64>() / cell.len() as f64 / 1000.0
                    };
                    let got = f64::from(maps[(i * t + y) * t + x]);
                    assert!((got - want).abs() < 1e-4, "depth {got} vs {want} m");
                }
            }
            assert!(maps[i * t * t..(i + 1) * t * t].iter().any(|&d| d > 0.0));
        }
        at += b.size;
    }
    assert_eq!(at, n);

    // Classification and pose: the stored labels, in index order.
    for (task, want) in [
        (
            Task::Classification,
            stored.iter().map(|s| s.class).collect::<Vec<_>>(),
        ),
        (Task::Pose, stored.iter().map(|s| s.pose).collect()),
    ] {
        let got: Vec<i64> = eval_pass(&source, task, 24)
            .iter()
            .flat_map(|b| labels(b).to_vec())
            .collect();
        assert_eq!(got, want, "{task}");
    }
}

/// Multiset of values.
fn counts(values: impl IntoIterator<Item = i64>) -> BTreeMap<i64, usize> {
    let mut m = BTreeMap::new();
    for v in values {
        *m.entry(v).or_insert(0) += 1;
    }
    m
}

#[test]
fn label_budgets_stream_nested_subsets_of_the_dataset() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    render(&data);
    let stored = read_split(&data, Split::Train);
    let source = train_source(&data);
    let n = source.len();

    let small = select_labels(n, LabelBudget::Count(20)).expect("20 labels");
    let big = select_labels(n, LabelBudget::Count(40)).expect("40 labels");
    assert_eq!((small.len(), big.len()), (20, 40));
    assert!(small.iter().all(|i| big.binary_search(i).is_ok()));
    assert!(big.iter().all(|&i| i < n));
    let shards_used: std::collections::BTreeSet<usize> = small
        .iter()
        .map(|&i| (0..source.num_shards()).find(|&k| source.shard_range(k).contains(&i)))
        .map(|k| k.expect("index in a shard"))
        .collect();
    assert!(shards_used.len() > 1, "the budget should span shards");

    // Classification training stream: 5 batches of 8 = 2 epochs of the 20 selected samples, each
    // epoch visiting each selected sample exactly once (labels survive augmentation).
    let device = BackendKind::Flex.device().expect("CPU device");
    let mut loader = Loader::start(
        source.clone(),
        &small,
        LoaderConfig::train(Task::Classification, 8, 7),
    )
    .expect("start the loader");
    let mut stream = Vec::new();
    for _ in 0..5 {
        let b = loader.next_batch().expect("batch");
        assert_eq!(b.images_tensor(&device).dims(), [8, 3, RES, RES]);
        // Augmented Lab images stay in range (crop padding is black, Cutout is the mean).
        for c in 0..3 {
            for i in 0..b.size {
                for p in 0..RES * RES {
                    let v = lab(&b, i, c, p);
                    let ok = if c == 0 {
                        (-0.01..=100.01).contains(&v)
                    } else {
                        (-128.0..=128.0).contains(&v)
                    };
                    assert!(ok, "channel {c}: {v}");
                }
            }
        }
        stream.extend_from_slice(labels(&b));
    }
    let want = counts(small.iter().map(|&i| stored[i].class));
    assert_eq!(counts(stream[..20].iter().copied()), want, "epoch 0");
    assert_eq!(counts(stream[20..].iter().copied()), want, "epoch 1");

    // Segmentation training stream: 16x16 maps of one object class of the selected samples.
    let selected_classes = counts(small.iter().map(|&i| stored[i].class + 1));
    let mut loader = Loader::start(
        source,
        &small,
        LoaderConfig::train(Task::Segmentation, 10, 7),
    )
    .expect("start the loader");
    for _ in 0..2 {
        let b = loader.next_batch().expect("batch");
        let HostTargets::Map(maps) = &b.targets else {
            panic!("segmentation targets must be class maps")
        };
        assert_eq!(maps.len(), 10 * 16 * 16);
        for map in maps.chunks(16 * 16) {
            let values = counts(map.iter().copied().filter(|&v| v != 0));
            assert!(values.len() <= 1, "one object per image: {values:?}");
            for v in values.keys() {
                assert!(selected_classes.contains_key(v), "class id {v}");
            }
        }
    }
}
