//! Pretraining throughput per method: forward + backward + Adam step (+ the method's bank/EMA
//! update and the online probe step) on a fixed random batch, flex backend.
//!
//! `cargo bench -p trainer --bench pretrain_throughput [-- STEPS [METHOD...]]`
//! Two settings per method: 32x32 width 0.25 batch 32, and 64x64 full width batch 16 (the full
//! network is slow on a CPU: a few steps are enough for a rate). Images/s count each image once,
//! also for the two-view methods. (Add `--features cuda` / `wgpu` and `BENCH_BACKEND=cuda` to
//! measure a GPU backend.)

use std::time::Instant;

use trainer::backend::BackendKind;
use trainer::data::{FixedBatch, HostBatch};
use trainer::methods::{
    Method, MethodKind, amdim::Amdim, barlow::Barlow, byol::Byol, cmc::Cmc, rotation::Rotation,
    simclr::Simclr, vae::Vae,
};
use trainer::model::{BackboneConfig, BackboneKind};
use trainer::pretrain::{PretrainConfig, PretrainState, pretrain_steps};
use trainer::tasks::HostTargets;

fn batch(n: usize, res: usize, views: usize) -> HostBatch {
    let img = |v: usize| -> Vec<f32> {
        (0..n * 3 * res * res)
            .map(|j| (((j * 7919 + v * 104_729) % 1000) as f32 / 500.0) - 1.0)
            .collect()
    };
    HostBatch {
        size: n,
        res,
        target_size: 16.min(res),
        images: img(0),
        targets: HostTargets::Labels((0..n as i64).map(|i| i % 5).collect()),
        first_position: 0,
        views: (1..views).map(img).collect(),
        indices: (0..n).collect(),
        classes: (0..n as i64).map(|i| i % 10).collect(),
    }
}

fn config(
    kind: MethodKind,
    res: usize,
    width: f64,
    batch_size: usize,
    steps: u64,
) -> PretrainConfig {
    let d = kind.defaults(BackboneKind::Resnet9);
    PretrainConfig {
        method: kind,
        backbone: kind
            .backbone_config(&BackboneConfig::new(BackboneKind::Resnet9).with_width(width)),
        batch_size,
        steps,
        lr: d.lr,
        min_lr: d.min_lr,
        warmup_fraction: 0.05,
        beta1: 0.8,
        beta2: 0.999,
        weight_decay: d.weight_decay,
        nce_k: 4096,
        seed: 0,
        eval_every: 0,
        checkpoint_every: 0,
        resolution: res,
        train_images: 4096,
        dataset: String::new(),
        manifest_hash: String::new(),
        backend: "flex".into(),
        augmentation: None,
    }
}

fn measure<M: Method>(res: usize, width: f64, batch_size: usize, steps: u64) -> Option<f64> {
    let backend = std::env::var("BENCH_BACKEND")
        .ok()
        .and_then(|b| b.parse::<BackendKind>().ok())
        .unwrap_or(BackendKind::Flex);
    let device = backend.device().ok()?;
    let cfg = config(M::KIND, res, width, batch_size, steps + 1);
    let mut state = PretrainState::<M>::new(&cfg, &device).ok()?;
    let mut source = FixedBatch(batch(batch_size, res, M::KIND.views()));
    // One warm-up step.
    pretrain_steps(&cfg, &mut state, 1, &mut source, &mut |_, _| Ok(())).ok()?;
    let t = Instant::now();
    pretrain_steps(&cfg, &mut state, steps + 1, &mut source, &mut |_, _| Ok(())).ok()?;
    Some((steps as usize * batch_size) as f64 / t.elapsed().as_secs_f64())
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let steps: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(3);
    let methods: Vec<MethodKind> = if args.len() > 1 {
        args[1..].iter().filter_map(|m| m.parse().ok()).collect()
    } else {
        MethodKind::ALL.to_vec()
    };
    println!("method      32px w0.25 b32 (img/s)   64px w1.0 b16 (img/s)");
    for kind in methods {
        let run = |res, width, b, s| match kind {
            MethodKind::Vae => measure::<Vae>(res, width, b, s),
            MethodKind::Rotation => measure::<Rotation>(res, width, b, s),
            MethodKind::Cmc => measure::<Cmc>(res, width, b, s),
            MethodKind::Amdim => measure::<Amdim>(res, width, b, s),
            MethodKind::Simclr => measure::<Simclr>(res, width, b, s),
            MethodKind::Byol => measure::<Byol>(res, width, b, s),
            MethodKind::Barlow => measure::<Barlow>(res, width, b, s),
        };
        let small = run(32, 0.25, 32, steps * 4);
        let full = run(64, 1.0, 16, steps);
        let show = |v: Option<f64>| {
            v.map(|v| format!("{v:.1}"))
                .unwrap_or_else(|| "failed".into())
        };
        println!(
            "{:<10}  {:>24}  {:>22}",
            kind.name(),
            show(small),
            show(full)
        );
    }
}
