//! Training throughput per compiled backend: forward + backward + Adam step on a fixed batch.
//!
//! `cargo bench -p trainer --bench train_throughput [-- STEPS [WIDTH [RES]]]`
//! (add `--features cuda` / `--features wgpu` to measure those backends too).
//! Defaults: 5 timed steps, ResNet9 width 1.0, 64x64, batch 64, classification, after 2 warm-up
//! steps. Prints images/s of forward + backward + Adam steps on a fixed random batch (data
//! loading is measured separately by the `loader` line: augmentation + Lab + batching on the
//! host).
//!
//! Environment (all optional): `TRAIN_BENCH_BACKBONE` (`resnet9` | `resnet50`),
//! `TRAIN_BENCH_BATCH` (images per step), `TRAIN_BENCH_DENSE=1` (dense backbone and the
//! segmentation task instead of classification), `TRAIN_BENCH_WARMUP` (untimed steps),
//! `TRAIN_BENCH_BACKENDS` (comma list of `flex`, `cuda`, `wgpu`: only these),
//! `TRAIN_BENCH_LOADER=0` (skip the loader line). `scripts/gpu-check.sh` uses them for the GPU rows.

use std::time::Instant;

use trainer::augment::{AugmentPolicy, prepare};
use trainer::backend::BackendKind;
use trainer::data::{FixedBatch, HostBatch, LabelBudget, OwnedSample};
use trainer::model::{BackboneConfig, BackboneKind};
use trainer::tasks::Task;
use trainer::training::{Quiet, TrainConfig, TrainState, fit};

/// An environment variable parsed as `T`; exits with a message naming it when it does not parse.
fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok()?;
    match value.parse() {
        Ok(v) => Some(v),
        Err(_) => {
            eprintln!("train_throughput: {name}={value:?} does not parse");
            std::process::exit(2)
        }
    }
}

/// Positional argument `index` parsed as `T`, or `default`; exits with a message when it does not
/// parse.
fn arg<T: std::str::FromStr>(args: &[String], index: usize, what: &str, default: T) -> T {
    match args.get(index) {
        None => default,
        Some(s) => s.parse().unwrap_or_else(|_| {
            eprintln!(
                "train_throughput: {what} {s:?} does not parse (usage: -- STEPS [WIDTH [RES]])"
            );
            std::process::exit(2)
        }),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; positional arguments are STEPS WIDTH RES.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let steps: u64 = arg(&args, 0, "STEPS", 5);
    let width: f64 = arg(&args, 1, "WIDTH", 1.0);
    let res: usize = arg(&args, 2, "RES", 64);
    let batch: usize = env("TRAIN_BENCH_BATCH").unwrap_or(64);
    let warmup: u64 = env("TRAIN_BENCH_WARMUP").unwrap_or(2);
    let dense = env::<u8>("TRAIN_BENCH_DENSE").unwrap_or(0) != 0;
    let backbone: BackboneKind = match std::env::var("TRAIN_BENCH_BACKBONE") {
        Ok(s) => s.parse().unwrap_or_else(|e| {
            eprintln!("train_throughput: TRAIN_BENCH_BACKBONE: {e}");
            std::process::exit(2)
        }),
        Err(_) => BackboneKind::Resnet9,
    };
    let only: Option<Vec<BackendKind>> = std::env::var("TRAIN_BENCH_BACKENDS").ok().map(|list| {
        list.split(',')
            .map(|s| {
                s.trim().parse().unwrap_or_else(|e| {
                    eprintln!("train_throughput: TRAIN_BENCH_BACKENDS: {e}");
                    std::process::exit(2)
                })
            })
            .collect()
    });
    if res == 0 || !res.is_multiple_of(8) || batch == 0 || steps == 0 {
        eprintln!(
            "train_throughput: RES must be a positive multiple of 8 (got {res}), batch and \
             STEPS positive (got {batch}, {steps})"
        );
        std::process::exit(2);
    }
    let task = if dense {
        Task::Segmentation
    } else {
        Task::Classification
    };
    let samples: Vec<OwnedSample> = (0..batch)
        .map(|i| OwnedSample {
            res,
            image: (0..res * res * 3)
                .map(|j| ((i * 7919 + j * 31) % 256) as u8)
                .collect(),
            class: (i % 10) as i64,
            pose: 0,
            segmentation: (0..res * res).map(|j| ((i + j / res) % 11) as u8).collect(),
            depth: vec![1000; res * res],
        })
        .collect();
    let policy = AugmentPolicy::for_task(task);
    let prepare_batch = |seed: u64| {
        let prepared = samples
            .iter()
            .map(|s| {
                let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
                prepare(&s.raw(), task, &policy, &mut rng)
            })
            .collect();
        HostBatch::from_prepared(prepared, res, task, 0)
    };
    let host = if env::<u8>("TRAIN_BENCH_LOADER").unwrap_or(1) != 0 {
        let t = Instant::now();
        let reps = 5;
        let mut host = prepare_batch(0);
        for r in 1..reps {
            host = prepare_batch(r);
        }
        println!(
            "loader (1 thread: augment + Lab + batch): {:.0} images/s",
            (reps as usize * batch) as f64 / t.elapsed().as_secs_f64()
        );
        host
    } else {
        prepare_batch(0)
    };
    let what = format!(
        "{backbone}{} width {width} {res}x{res} batch {batch} {task}",
        if dense { " dense" } else { "" }
    );
    for kind in [BackendKind::Flex, BackendKind::Cuda, BackendKind::Wgpu] {
        if only.as_ref().is_some_and(|o| !o.contains(&kind)) {
            continue;
        }
        if !kind.compiled_in() {
            if only.is_some() {
                println!("{kind}: skipped (not compiled in: build with --features {kind})");
            }
            continue;
        }
        let device = match kind.device() {
            Ok(d) => d,
            Err(e) => {
                println!("{kind}: skipped ({e})");
                continue;
            }
        };
        let cfg = TrainConfig::new(
            task,
            BackboneConfig::new(backbone)
                .with_width(width)
                .with_dense(dense),
            LabelBudget::All,
            batch,
            warmup + steps,
        );
        let mut state = match TrainState::new(&cfg, &device) {
            Ok(s) => s,
            Err(e) => {
                println!("{kind}: skipped ({e})");
                continue;
            }
        };
        let mut source = FixedBatch(host.clone());
        // Warm-up (allocation, autotuning).
        if warmup > 0
            && let Err(e) = fit(&cfg, &mut state, warmup, &mut source, None, &mut Quiet)
        {
            println!("{kind}: failed ({e})");
            continue;
        }
        match fit(
            &cfg,
            &mut state,
            warmup + steps,
            &mut source,
            None,
            &mut Quiet,
        ) {
            Ok(stats) => println!(
                "{kind}: {what}: {:.1} images/s ({steps} steps after {warmup} warm-up, {:.3} s/step)",
                stats.images_per_s(),
                stats.seconds / steps as f64
            ),
            Err(e) => println!("{kind}: failed ({e})"),
        }
    }
}
