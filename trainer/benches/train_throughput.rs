//! Training throughput of ResNet9 (full width) at 64x64, batch 64, per compiled backend.
//!
//! `cargo bench -p trainer --bench train_throughput [-- STEPS [WIDTH]]`
//! (add `--features cuda` / `--features wgpu` to measure those backends too).
//! Prints images/s of forward + backward + Adam steps on a fixed random batch (data loading is
//! measured separately by the `loader` line: augmentation + Lab + batching on the host).

use std::time::Instant;

use trainer::augment::{AugmentPolicy, prepare};
use trainer::backend::BackendKind;
use trainer::data::{FixedBatch, HostBatch, LabelBudget, OwnedSample};
use trainer::model::{BackboneConfig, BackboneKind};
use trainer::tasks::Task;
use trainer::training::{Quiet, TrainConfig, TrainState, fit};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let steps: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5);
    let width: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let (res, batch) = (64usize, 64usize);
    let samples: Vec<OwnedSample> = (0..batch)
        .map(|i| OwnedSample {
            res,
            image: (0..res * res * 3)
                .map(|j| ((i * 7919 + j * 31) % 256) as u8)
                .collect(),
            class: (i % 10) as i64,
            pose: 0,
            segmentation: vec![0; res * res],
            depth: vec![1000; res * res],
        })
        .collect();
    let policy = AugmentPolicy::for_task(Task::Classification);
    let t = Instant::now();
    let reps = 5;
    let mut host = None;
    for r in 0..reps {
        let prepared = samples
            .iter()
            .map(|s| {
                let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(r);
                prepare(&s.raw(), Task::Classification, &policy, &mut rng)
            })
            .collect();
        host = Some(HostBatch::from_prepared(
            prepared,
            res,
            Task::Classification,
            0,
        ));
    }
    let prep = t.elapsed().as_secs_f64();
    println!(
        "loader (1 thread: augment + Lab + batch): {:.0} images/s",
        (reps as usize * batch) as f64 / prep
    );
    let Some(host) = host else { return };
    for kind in [BackendKind::Flex, BackendKind::Cuda, BackendKind::Wgpu] {
        if !kind.compiled_in() {
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
            Task::Classification,
            BackboneConfig::new(BackboneKind::Resnet9).with_width(width),
            LabelBudget::All,
            batch,
            2 + steps,
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
        if let Err(e) = fit(&cfg, &mut state, 2, &mut source, None, &mut Quiet) {
            println!("{kind}: failed ({e})");
            continue;
        }
        match fit(&cfg, &mut state, 2 + steps, &mut source, None, &mut Quiet) {
            Ok(stats) => println!(
                "{kind}: ResNet9 width {width} 64x64 batch {batch}: {:.1} images/s \
                 ({steps} steps, {:.3} s/step)",
                stats.images_per_s(),
                stats.seconds / steps as f64
            ),
            Err(e) => println!("{kind}: failed ({e})"),
        }
    }
}
