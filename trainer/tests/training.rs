//! Training-loop tests on in-memory data: overfitting a fixed batch, resume equivalence,
//! frozen blocks, backbone save/load.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trainer::augment::{AugmentPolicy, prepare};
use trainer::backend::flex;
use trainer::data::{
    FixedBatch, HostBatch, LabelBudget, Loader, LoaderConfig, MemoryShards, OwnedSample,
    ShardSource,
};
use trainer::model::{BackboneConfig, BackboneKind, parameter_values};
use trainer::tasks::Task;
use trainer::training::{
    Quiet, TrainConfig, TrainState, evaluate, fit, load_checkpoint, save_checkpoint,
};

/// Random-noise images with random labels (nothing to learn but memorisation).
fn noise_samples(n: usize, res: usize, seed: u64) -> Vec<OwnedSample> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| OwnedSample {
            res,
            image: (0..res * res * 3).map(|_| rng.random()).collect(),
            class: rng.random_range(0..10),
            pose: rng.random_range(0..5),
            segmentation: (0..res * res).map(|_| rng.random_range(0..11)).collect(),
            depth: (0..res * res)
                .map(|_| rng.random_range(500..5000))
                .collect(),
        })
        .collect()
}

fn config(task: Task, steps: u64, batch: usize) -> TrainConfig {
    TrainConfig::new(
        task,
        BackboneConfig::new(BackboneKind::Resnet9)
            .with_width(0.125)
            .with_dense(task.is_dense()),
        LabelBudget::All,
        batch,
        steps,
    )
}

fn fixed_batch(task: Task, n: usize, res: usize) -> HostBatch {
    let samples = noise_samples(n, res, 1);
    let prepared = samples
        .iter()
        .map(|s| {
            prepare(
                &s.raw(),
                task,
                &AugmentPolicy::none(),
                &mut ChaCha8Rng::seed_from_u64(0),
            )
        })
        .collect();
    HostBatch::from_prepared(prepared, res, task, 0)
}

#[test]
fn a_fixed_batch_overfits() {
    let device = flex();
    // Image-level tasks: random labels on noise images can only be memorised. (Dense targets of
    // pure noise cannot be fitted by a 4x4 feature map resized to 16x16, so they are not used.)
    for task in [Task::Classification, Task::Pose] {
        let cfg = config(task, 60, 16)
            .with_lr(3e-3)
            .with_warmup_fraction(0.05);
        let mut state = TrainState::new(&cfg, &device).unwrap();
        let mut source = FixedBatch(fixed_batch(task, 16, 32));
        let stats = fit(&cfg, &mut state, cfg.steps, &mut source, None, &mut Quiet).unwrap();
        let first = stats.history[0].loss;
        let last = stats
            .history
            .iter()
            .rev()
            .take(3)
            .map(|l| l.loss)
            .sum::<f64>()
            / 3.0;
        assert!(last < 0.1 * first, "{task}: loss {first} -> {last}");
    }
}

#[test]
fn resume_gives_the_same_weights() {
    let device = flex();
    let dir = tempfile::tempdir().unwrap();
    let source: Arc<dyn ShardSource> = Arc::new(MemoryShards {
        samples: noise_samples(40, 16, 2),
        shard_size: 8,
    });
    let all: Vec<usize> = (0..40).collect();
    let cfg = config(Task::Segmentation, 6, 8)
        .with_checkpoint_every(3)
        .with_seed(9);
    let loader_cfg = |start: u64| {
        let mut c = LoaderConfig::train(cfg.task, cfg.batch_size, cfg.seed);
        c.shuffle_buffer = 10;
        c.start_position = start;
        c
    };

    // Uninterrupted.
    let mut a = TrainState::new(&cfg, &device).unwrap();
    let mut la = Loader::start(source.clone(), &all, loader_cfg(0)).unwrap();
    fit(&cfg, &mut a, cfg.steps, &mut la, None, &mut Quiet).unwrap();

    // Killed after step 3 (a checkpoint is written there), then resumed in a fresh state.
    let mut b = TrainState::new(&cfg, &device).unwrap();
    let mut lb = Loader::start(source.clone(), &all, loader_cfg(0)).unwrap();
    fit(&cfg, &mut b, 4, &mut lb, Some(dir.path()), &mut Quiet).unwrap();
    drop((b, lb));
    let mut c = load_checkpoint(dir.path(), &cfg, &device)
        .unwrap()
        .expect("checkpoint");
    assert_eq!(c.step, 3);
    let mut lc = Loader::start(source, &all, loader_cfg(c.step * cfg.batch_size as u64)).unwrap();
    fit(
        &cfg,
        &mut c,
        cfg.steps,
        &mut lc,
        Some(dir.path()),
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(c.step, 6);

    let wa = parameter_values(&a.model).unwrap();
    let wc = parameter_values(&c.model).unwrap();
    assert_eq!(wa.len(), wc.len());
    let max_diff = wa
        .iter()
        .zip(&wc)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(
        max_diff == 0.0,
        "resumed weights differ from the uninterrupted run by {max_diff}"
    );

    // A checkpoint is refused by a run with other settings.
    let other = cfg.clone().with_seed(10);
    assert!(load_checkpoint(dir.path(), &other, &device).is_err());
    // save_checkpoint leaves no temporary directory behind.
    save_checkpoint(dir.path(), &cfg, &c).unwrap();
    assert!(!dir.path().join("checkpoint.tmp").exists());
    assert!(!dir.path().join("checkpoint.old").exists());
}

#[test]
fn frozen_blocks_do_not_change_and_init_loads_backbones() {
    let device = flex();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(Task::Pose, 3, 8);
    // Train briefly, save the backbone.
    let mut pre = TrainState::new(&cfg, &device).unwrap();
    let mut src = FixedBatch(fixed_batch(Task::Pose, 8, 16));
    fit(&cfg, &mut pre, 3, &mut src, None, &mut Quiet).unwrap();
    let path = dir.path().join("backbone.bpk");
    pre.model.backbone.save(&path).unwrap();

    // Finetune with --init and --freeze 3: the trunk must stay exactly as loaded.
    let ft = cfg
        .clone()
        .with_init(Some(path.to_string_lossy().into_owned()))
        .with_freeze(3)
        .with_seed(5);
    let mut state = TrainState::new(&ft, &device).unwrap();
    let loaded = parameter_values(state.model.backbone.trunk()).unwrap();
    let saved = parameter_values(pre.model.backbone.trunk()).unwrap();
    assert!(loaded == saved, "--init loads the saved trunk");
    let head_before = parameter_values(&state.model.head).unwrap();
    fit(&ft, &mut state, 3, &mut src, None, &mut Quiet).unwrap();
    let after = parameter_values(state.model.backbone.trunk()).unwrap();
    assert!(after == saved, "frozen trunk changed");
    let head_after = parameter_values(&state.model.head).unwrap();
    assert!(head_after != head_before, "the head trains");

    // Evaluation runs in inference mode and counts every sample.
    let acc = evaluate(Task::Pose, &state.model, std::iter::once(Ok(src.0.clone()))).unwrap();
    assert_eq!(acc.to_map("accuracy")["count"], 8.0);
}
