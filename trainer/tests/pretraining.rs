//! Self-supervised pretraining on tiny in-memory data: every method lowers its own loss, the EMA
//! target and the memory bank receive no gradient, a resumed run ends with the same weights,
//! and the `train pretrain` command line rejects an unknown method listing the valid ones.

use std::process::Command;
use std::sync::Arc;

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trainer::backend::{B, autodiff, flex};
use trainer::data::{BatchSource, FixedBatch, HostBatch, Loader, MemoryShards, OwnedSample};
use trainer::methods::{
    Method, MethodKind, amdim::Amdim, barlow::Barlow, byol::Byol, cmc::Cmc, rotation::Rotation,
    simclr::Simclr, vae::Vae,
};
use trainer::model::{BackboneConfig, BackboneKind, parameter_values};
use trainer::pretrain::{
    PretrainConfig, PretrainState, load_pretrain_checkpoint, loader_config, pretrain_steps,
    save_pretrain_checkpoint,
};

/// Blobs of a class-dependent shape and a random colour on a random background.
fn samples(n: usize, res: usize, seed: u64) -> Vec<OwnedSample> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let class = (i % 10) as i64;
            let fg: [u8; 3] = [rng.random(), rng.random(), rng.random()];
            let bg: [u8; 3] = [rng.random(), rng.random(), rng.random()];
            let mut image = Vec::with_capacity(res * res * 3);
            let r = res as f32 * (0.15 + 0.03 * class as f32);
            for y in 0..res {
                for x in 0..res {
                    let (dy, dx) = (y as f32 - res as f32 / 2.0, x as f32 - res as f32 / 2.0);
                    let inside = if class % 2 == 0 {
                        dy * dy + dx * dx < r * r
                    } else {
                        dy.abs() < r && dx.abs() < r / 2.0
                    };
                    image.extend(if inside { fg } else { bg });
                }
            }
            OwnedSample {
                res,
                image,
                class,
                pose: (i % 5) as i64,
                segmentation: vec![0; res * res],
                depth: vec![1000; res * res],
            }
        })
        .collect()
}

fn config(kind: MethodKind, res: usize, batch: usize, steps: u64, n: usize) -> PretrainConfig {
    let d = kind.defaults(BackboneKind::Resnet9);
    PretrainConfig {
        method: kind,
        backbone: kind
            .backbone_config(&BackboneConfig::new(BackboneKind::Resnet9).with_width(0.125)),
        batch_size: batch,
        steps,
        lr: 2e-3,
        min_lr: 1e-4,
        warmup_fraction: 0.05,
        beta1: 0.8,
        beta2: 0.999,
        weight_decay: d.weight_decay,
        nce_k: 16,
        seed: 3,
        eval_every: 0,
        checkpoint_every: 0,
        resolution: res,
        train_images: n,
        dataset: "memory".into(),
        manifest_hash: "0".into(),
        backend: "flex".into(),
        augmentation: None,
    }
}

fn source(n: usize, res: usize) -> Arc<MemoryShards> {
    Arc::new(MemoryShards {
        samples: samples(n, res, 1),
        shard_size: 16,
    })
}

/// The first batch of a method's loader over `n` samples, repeated forever.
fn fixed_batch(kind: MethodKind, n: usize, res: usize, batch: usize) -> FixedBatch {
    let all: Vec<usize> = (0..n).collect();
    let mut l = Loader::start(source(n, res), &all, loader_config(kind, batch, 5)).unwrap();
    FixedBatch(l.next_batch().unwrap())
}

fn losses<M: Method>(steps: u64) -> Vec<f64> {
    let (n, res, batch) = (64, 16, 16);
    let cfg = config(M::KIND, res, batch, steps, n);
    let mut state = PretrainState::<M>::new(&cfg, &flex()).unwrap();
    let mut src = fixed_batch(M::KIND, n, res, batch);
    let mut out = Vec::new();
    pretrain_steps(&cfg, &mut state, steps, &mut src, &mut |log, _| {
        out.push(log.loss);
        Ok(())
    })
    .unwrap();
    out
}

fn lowers<M: Method>() {
    let l = losses::<M>(24);
    let first = l[..3].iter().sum::<f64>() / 3.0;
    let last = l[l.len() - 3..].iter().sum::<f64>() / 3.0;
    eprintln!("{}: {first:.4} -> {last:.4}", M::KIND);
    assert!(
        last < first,
        "{}: loss did not fall ({first} -> {last}): {l:?}",
        M::KIND
    );
}

#[test]
fn vae_lowers_its_loss() {
    lowers::<Vae>();
}

#[test]
fn rotation_lowers_its_loss() {
    lowers::<Rotation>();
}

#[test]
fn cmc_lowers_its_loss() {
    lowers::<Cmc>();
}

#[test]
fn amdim_lowers_its_loss() {
    lowers::<Amdim>();
}

#[test]
fn simclr_lowers_its_loss() {
    lowers::<Simclr>();
}

#[test]
fn byol_lowers_its_loss() {
    lowers::<Byol>();
}

#[test]
fn barlow_lowers_its_loss() {
    lowers::<Barlow>();
}

/// Counts the float parameters of a module that require a gradient, and those that got one.
struct GradCheck<'a> {
    grads: &'a <B as AutodiffBackend>::Gradients,
    require: usize,
    with_grad: usize,
    total: usize,
}

impl ModuleVisitor<B> for GradCheck<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let t = param.val();
        self.total += 1;
        if t.is_require_grad() {
            self.require += 1;
        }
        if t.grad(self.grads).is_some() {
            self.with_grad += 1;
        }
    }
}

fn batch_of(kind: MethodKind, n: usize, res: usize, b: usize) -> HostBatch {
    fixed_batch(kind, n, res, b).0
}

#[test]
fn no_gradient_reaches_the_byol_target() {
    let (n, res, b) = (32, 16, 8);
    let cfg = config(MethodKind::Byol, res, b, 10, n);
    let device = autodiff(&flex());
    let mut state = PretrainState::<Byol>::new(&cfg, &flex()).unwrap();
    let batch = batch_of(MethodKind::Byol, n, res, b);
    let out = state
        .method
        .forward(&state.net, &batch, 0, &device)
        .unwrap();
    let grads = out.loss.backward();
    let mut target = GradCheck {
        grads: &grads,
        require: 0,
        with_grad: 0,
        total: 0,
    };
    state.method.target.visit(&mut target);
    assert!(target.total > 0);
    assert_eq!((target.require, target.with_grad), (0, 0), "target params");
    let mut online = GradCheck {
        grads: &grads,
        require: 0,
        with_grad: 0,
        total: 0,
    };
    state.net.visit(&mut online);
    assert!(online.with_grad > 0, "the online network gets gradients");

    // The EMA rule, value by value (parameters and batch-norm statistics).
    let target = state.method.target.clone();
    let before = parameter_values(&target).unwrap();
    let online_now = parameter_values(&state.net.online).unwrap();
    let tau = 0.9;
    let after = parameter_values(&trainer::methods::byol::ema_update(
        target,
        &state.net.online,
        tau,
    ))
    .unwrap();
    assert_eq!(after.len(), before.len());
    for ((a, b), o) in after.iter().zip(&before).zip(&online_now) {
        let want = tau as f32 * b + (1.0 - tau as f32) * o;
        assert!(
            (a - want).abs() <= 1e-5 * (1.0 + want.abs()),
            "{a} vs {want}"
        );
    }

    // A training step leaves the target without gradients.
    let mut src = FixedBatch(batch);
    pretrain_steps(&cfg, &mut state, 1, &mut src, &mut |_, _| Ok(())).unwrap();
    let out = state
        .method
        .forward(&state.net, &src.0, 1, &device)
        .unwrap();
    let grads = out.loss.backward();
    let mut target = GradCheck {
        grads: &grads,
        require: 0,
        with_grad: 0,
        total: 0,
    };
    state.method.target.visit(&mut target);
    assert_eq!(
        (target.require, target.with_grad),
        (0, 0),
        "target params after a step"
    );
}

#[test]
fn no_gradient_reaches_the_cmc_bank() {
    let (n, res, b) = (40, 16, 8);
    let cfg = config(MethodKind::Cmc, res, b, 10, n);
    let device = autodiff(&flex());
    let mut state = PretrainState::<Cmc>::new(&cfg, &flex()).unwrap();
    assert_eq!(state.method.negatives(), 16);
    let batch = batch_of(MethodKind::Cmc, n, res, b);
    let bank_before = trainer::tasks::to_host_f32(state.method.bank_l.clone()).unwrap();
    let out = state
        .method
        .forward(&state.net, &batch, 0, &device)
        .unwrap();
    let grads = out.loss.backward();
    for bank in [&state.method.bank_l, &state.method.bank_ab] {
        assert!(!bank.is_require_grad());
        assert!(bank.grad(&grads).is_none());
    }
    state.method.after_step(&state.net, 0).unwrap();
    let bank_after = trainer::tasks::to_host_f32(state.method.bank_l.clone()).unwrap();
    let d = trainer::methods::cmc::EMBED;
    for row in 0..n {
        let (old, new) = (
            &bank_before[row * d..(row + 1) * d],
            &bank_after[row * d..(row + 1) * d],
        );
        if batch.indices.contains(&row) {
            assert_ne!(old, new, "row {row} of the batch is updated");
            let norm: f32 = new.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "row {row} is normalised: {norm}");
        } else {
            assert_eq!(old, new, "row {row} outside the batch is untouched");
        }
    }
}

/// Checkpoint at step 3 of 6, reload, continue: same weights (and method state) as 6 steps in
/// one go, through the streaming loader.
fn resume_is_exact<M: Method>() {
    let (n, res, b, steps) = (48, 16, 8, 6);
    let cfg = config(M::KIND, res, b, steps, n);
    let src = source(n, res);
    let all: Vec<usize> = (0..n).collect();
    let run = |from: Option<&std::path::Path>, until: u64| -> PretrainState<M> {
        let mut state = match from {
            Some(dir) => load_pretrain_checkpoint::<M>(dir, &cfg, &flex())
                .unwrap()
                .expect("a checkpoint"),
            None => PretrainState::<M>::new(&cfg, &flex()).unwrap(),
        };
        let mut lc = loader_config(M::KIND, b, cfg.seed);
        lc.start_position = state.step * b as u64;
        let mut loader: Box<dyn BatchSource> =
            Box::new(Loader::start(src.clone(), &all, lc).unwrap());
        pretrain_steps(&cfg, &mut state, until, loader.as_mut(), &mut |_, _| Ok(())).unwrap();
        state
    };
    let straight = run(None, steps);
    let tmp = tempfile::tempdir().unwrap();
    let half = run(None, 3);
    save_pretrain_checkpoint(tmp.path(), &cfg, &half).unwrap();
    drop(half);
    let resumed = run(Some(tmp.path()), steps);
    assert_eq!(resumed.step, steps);
    assert_eq!(
        parameter_values(&straight.net).unwrap(),
        parameter_values(&resumed.net).unwrap(),
        "{}: resumed weights differ",
        M::KIND
    );
}

#[test]
fn resumed_cmc_and_byol_runs_match_uninterrupted_ones() {
    resume_is_exact::<Cmc>();
    resume_is_exact::<Byol>();
}

#[test]
fn unknown_method_lists_the_valid_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_train"))
        .args([
            "pretrain",
            "--method",
            "moco",
            "--dataset",
            "x",
            "--out",
            "y",
        ])
        .output()
        .expect("run the train binary");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for m in MethodKind::ALL {
        assert!(err.contains(m.name()), "{err}");
    }
}

#[test]
fn jitter_hue_out_of_range_names_the_flag() {
    for (args, flag) in [
        (
            &["pretrain", "--method", "amdim", "--jitter-hue", "0.7"][..],
            "--jitter-hue",
        ),
        (
            &[
                "--method",
                "amdim",
                "--task",
                "classification",
                "--pretrain-jitter-hue",
                "turns",
            ][..],
            "--pretrain-jitter-hue",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_train"))
            .args(args)
            .args(["--dataset", "x", "--out", "y"])
            .output()
            .expect("run the train binary");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(flag), "{err}");
        assert!(err.contains("0 to 0.5"), "{err}");
    }
    // Without --method the pretraining flag has nothing to apply to.
    let out = Command::new(env!("CARGO_BIN_EXE_train"))
        .args(["--task", "classification", "--pretrain-jitter-hue", "0.5"])
        .args(["--dataset", "x", "--out", "y"])
        .output()
        .expect("run the train binary");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--pretrain-jitter-hue needs --method"),
        "{err}"
    );
}
