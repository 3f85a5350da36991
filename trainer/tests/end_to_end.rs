//! End to end: render a tiny dataset with `datasets::render_dataset` (32 px, a few hundred
//! samples, lavapipe in CI), train a narrow ResNet9 on each task through `trainer::run::run`
//! (streaming loader over the MDS shards, checkpoints, metrics.json) and check it beats chance.

use std::path::Path;

use datasets::generate::{RenderJob, render_dataset};
use datasets::{SceneKind, Split};
use dtd_textures::ProceduralTextures;
use shapenet_loader::ProceduralModels;
use trainer::data::LabelBudget;
use trainer::run::{RunMetrics, RunOptions, run};
use trainer::tasks::Task;

/// Render `--V-` (class-tied colours, random viewpoint): 32 px, 2000 samples (1700 train,
/// 150 val, 150 test).
fn render(dir: &Path) {
    let mut job = RenderJob::new("--V-".parse().expect("variant"), SceneKind::Single, 2000);
    job.resolution = Some(32);
    job.shard_size = 100;
    job.textures = 4;
    job.texture_size = 32;
    job.batch = Some(64);
    render_dataset(
        &job,
        &ProceduralModels::new(24),
        &ProceduralTextures::new(40),
        dir,
        &|_| {},
    )
    .expect("render the test dataset");
}

fn train(data: &Path, out: &Path, task: Task, steps: u64) -> RunMetrics {
    let mut opts = RunOptions::new(data.to_path_buf(), out.to_path_buf(), task);
    opts.width = 0.125;
    opts.batch_size = Some(32);
    opts.steps = Some(steps);
    opts.lr = 3e-3;
    opts.eval_every = Some(steps / 2);
    opts.checkpoint_every = Some(steps / 2);
    opts.progress = false;
    let m = run(&opts).unwrap_or_else(|e| panic!("{task}: {e}"));
    eprintln!(
        "{task}: val {:?} test {:?} ({:.1} images/s)",
        m.val, m.test, m.images_per_s
    );
    m
}

#[test]
fn every_task_beats_chance_on_a_rendered_dataset() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    render(&data);
    let ds = datasets::Dataset::open(&data).expect("open");
    let test = ds.split(Split::Test).expect("test split");
    let mut test_samples = Vec::new();
    for k in 0..test.num_shards() {
        test_samples.extend(test.read_shard(k).expect("read"));
    }

    // Classification: 10 classes, chance 0.1.
    let m = train(&data, &tmp.path().join("cls"), Task::Classification, 120);
    let acc = m.test["accuracy"];
    assert!(acc > 0.3, "classification test accuracy {acc} (chance 0.1)");
    assert_eq!(m.val_history.len(), 1);
    assert_eq!(m.labelled_samples, ds.manifest().splits.train);
    for f in [
        "config.json",
        "metrics.json",
        "model.bpk",
        "backbone.bpk",
        "checkpoint/state.json",
    ] {
        assert!(tmp.path().join("cls").join(f).exists(), "{f}");
    }

    // Pose: 5 bins, ~20% each under V; beat both uniform chance and the most frequent test bin.
    let mut counts = [0usize; 5];
    for s in &test_samples {
        counts[s.pose as usize] += 1;
    }
    let majority = *counts.iter().max().unwrap_or(&0) as f64 / test_samples.len() as f64;
    let m = train(&data, &tmp.path().join("pose"), Task::Pose, 300);
    let acc = m.test["accuracy"];
    let chance = majority.max(Task::Pose.uniform_chance().unwrap_or(0.2));
    assert!(
        acc > chance + 0.03,
        "pose test accuracy {acc} vs chance {chance}"
    );

    // Segmentation: beat predicting background everywhere (at 16x16).
    let mut bg = 0usize;
    let mut total = 0usize;
    for s in &test_samples {
        let map = trainer::augment::reduce_nearest(&s.segmentation, 32, 16);
        bg += map.iter().filter(|&&c| c == 0).count();
        total += map.len();
    }
    let all_background = bg as f64 / total as f64;
    let m = train(&data, &tmp.path().join("seg"), Task::Segmentation, 120);
    let acc = m.test["pixel_accuracy"];
    assert!(
        acc > all_background + 0.01,
        "pixel accuracy {acc} vs all-background {all_background}"
    );

    // Depth: beat the best constant predictions of the test set itself (its median minimises
    // the mean absolute error, its mean the RMSE). (delta < 1.25 of a constant at the background
    // depth is high because most pixels are background, so it is reported, not compared.)
    let depths: Vec<f32> = test_samples
        .iter()
        .flat_map(|s| trainer::augment::reduce_depth_mean(&s.depth, 32, 16))
        .filter(|&d| d > 0.0)
        .collect();
    let mut sorted = depths.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = sorted[sorted.len() / 2];
    let mean = depths.iter().map(|&d| d as f64).sum::<f64>() / depths.len() as f64;
    let mut at_median = trainer::metrics::DepthSums::default();
    at_median.add(&vec![median; depths.len()], &depths);
    let mut at_mean = trainer::metrics::DepthSums::default();
    at_mean.add(&vec![mean as f32; depths.len()], &depths);
    let m = train(&data, &tmp.path().join("depth"), Task::Depth, 120);
    let (mae, rmse) = (m.test["mae"], m.test["rmse"]);
    assert!(
        mae < at_median.mae(),
        "depth MAE {mae} vs constant median {}",
        at_median.mae()
    );
    assert!(
        rmse < at_mean.rmse(),
        "depth RMSE {rmse} vs constant mean {}",
        at_mean.rmse()
    );
    assert!(
        m.test["delta_1_25"] > 0.5,
        "depth delta<1.25 {}",
        m.test["delta_1_25"]
    );

    // Label budgets: a nested subset trains and reports its size.
    let mut opts = RunOptions::new(data.clone(), tmp.path().join("small"), Task::Classification);
    opts.width = 0.125;
    opts.batch_size = Some(16);
    opts.steps = Some(4);
    opts.labels = LabelBudget::Count(50);
    opts.progress = false;
    let small = run(&opts).expect("small run");
    assert_eq!(small.labelled_samples, 50);
    // The same --out without --resume is refused (it holds a checkpoint).
    assert!(run(&opts).is_err());
    opts.resume = true;
    let resumed = run(&opts).expect("resume a finished run");
    assert_eq!(resumed.resumed_from_step, 4);
}
