//! A whole self-supervised pretraining run: what `train pretrain` does.
//!
//! Input: [`PretrainOptions`] (dataset directory, method, backbone, optimisation settings, run
//! directory). The method sees every training image (labels unused by the method; the online
//! probe heads use class and pose on detached features). Output, in the run directory:
//! - `config.json`: the resolved [`PretrainConfig`];
//! - `checkpoint/` (every `checkpoint_every` steps): network, optimiser, online probe heads, the
//!   method's state (CMC bank, BYOL target) and the step; `--resume` continues from it with the
//!   same weights an uninterrupted run would have (every random choice is a function of the seed
//!   and the step);
//! - `history.json`: every `eval_every` steps (and at the end) the mean loss since the last point
//!   and the probe results ([`crate::probes`]);
//! - `backbone.bpk`: the pretrained backbone, loadable by `train --init` (CMC's backbone is split,
//!   see [`crate::model::BackboneConfig::split`]; `backbone.json` next to it holds the backbone
//!   configuration);
//! - `metrics.json`: [`PretrainMetrics`].
//!
//! Optimisation: Adam (0.8, 0.999) with L2 weight decay, linear warm-up over 5% of the steps and
//! linear decay to the method's final rate ([`crate::training::lr_at`]), with each method's
//! reference batch size, rates and weight decay unless overridden
//! ([`MethodKind::defaults`]). Default length: [`PRETRAIN_EPOCHS`] passes over the training
//! images, at least [`crate::training::MIN_STEPS`] steps.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer, decay::WeightDecayConfig};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::augment::AugmentPolicy;
use crate::backend::{B, BackendKind, Device, autodiff};
use crate::data::{BatchSource, HostBatch, Loader, LoaderConfig, label_order};
use crate::methods::{
    Method, MethodConfig, MethodKind, amdim::Amdim, barlow::Barlow, byol::Byol, cmc::Cmc,
    rotation::Rotation, simclr::Simclr, vae::Vae,
};
use crate::model::{BackboneConfig, BackboneKind};
use crate::probes::{OnlineProbe, ProbeResults, ProbeSet, evaluate_probes};
use crate::run::{DatasetInfo, Splits, open_splits, write_json, write_render_source};
use crate::tasks::{Task, to_host_f32};
use crate::training::{MIN_STEPS, load_optimizer, lr_at, save_optimizer};

/// Default pretraining length in passes over the training images.
pub const PRETRAIN_EPOCHS: f64 = 100.0;
/// Reference and query images of the probes when `eval_limit` is 0.
pub const PROBE_SAMPLES: usize = 2000;
/// Share of the steps spent warming up.
pub const WARMUP_FRACTION: f64 = 0.05;

/// What `train pretrain` was asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainOptions {
    /// Dataset directory (manifest.json + train/val/test).
    pub dataset: PathBuf,
    /// Run directory.
    pub out: PathBuf,
    /// The method.
    pub method: MethodKind,
    /// Backbone.
    pub backbone: BackboneKind,
    /// Width multiplier.
    pub width: f64,
    /// Dense backbone variant (`None`: dense on multi-object datasets).
    pub dense: Option<bool>,
    /// Backend.
    pub backend: BackendKind,
    /// Seed.
    pub seed: u64,
    /// Images per step (`None`: the method's reference batch).
    pub batch_size: Option<usize>,
    /// Steps (`None`: [`PRETRAIN_EPOCHS`] passes over the training images).
    pub steps: Option<u64>,
    /// Peak learning rate (`None`: the method's reference rate).
    pub lr: Option<f64>,
    /// Weight decay (`None`: the method's reference value).
    pub weight_decay: Option<f32>,
    /// CMC negatives per positive (capped by the dataset size).
    pub nce_k: usize,
    /// Largest hue shift of the colour jitter in turns (`None`: the design's 0.1; 0.5: any
    /// hue). On variants with random object colour a small shift leaves colour as a cue that
    /// tells images apart, which contrastive methods learn instead of shape.
    #[serde(default)]
    pub jitter_hue: Option<f64>,
    /// Probe every N steps (`None`: ten times per run).
    pub eval_every: Option<u64>,
    /// Checkpoint every N steps (`None`: ten times per run, at most every 1000 steps).
    pub checkpoint_every: Option<u64>,
    /// Continue from `out/checkpoint`.
    pub resume: bool,
    /// Shard-reading threads.
    pub workers: usize,
    /// Shuffle-buffer slots.
    pub shuffle_buffer: usize,
    /// Probe reference and query images (0: [`PROBE_SAMPLES`]).
    pub eval_limit: usize,
    /// Show a progress bar (when stderr is a terminal).
    pub progress: bool,
}

impl PretrainOptions {
    /// The augmentation of the method's views with `jitter_hue` applied.
    pub fn policy(&self) -> AugmentPolicy {
        let mut p = self.method.policy();
        if let Some(h) = self.jitter_hue {
            p.hue = h;
        }
        p
    }

    /// Options with the method's defaults for everything but the required fields.
    pub fn new(dataset: PathBuf, out: PathBuf, method: MethodKind) -> Self {
        Self {
            dataset,
            out,
            method,
            backbone: BackboneKind::Resnet9,
            width: 1.0,
            dense: None,
            backend: BackendKind::Flex,
            seed: 0,
            batch_size: None,
            steps: None,
            lr: None,
            weight_decay: None,
            nce_k: crate::methods::cmc::NCE_K,
            jitter_hue: None,
            eval_every: None,
            checkpoint_every: None,
            resume: false,
            workers: 2,
            shuffle_buffer: 4096,
            eval_limit: 0,
            progress: true,
        }
    }
}

/// The resolved settings of a pretraining run (`RUNDIR/config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainConfig {
    /// Method.
    pub method: MethodKind,
    /// Backbone configuration (split for CMC).
    pub backbone: BackboneConfig,
    /// Images per step.
    pub batch_size: usize,
    /// Steps.
    pub steps: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate.
    pub min_lr: f64,
    /// Warm-up share.
    pub warmup_fraction: f64,
    /// Adam beta1.
    pub beta1: f32,
    /// Adam beta2.
    pub beta2: f32,
    /// Weight decay.
    pub weight_decay: f32,
    /// CMC negatives (after capping).
    pub nce_k: usize,
    /// Seed.
    pub seed: u64,
    /// Probe interval.
    pub eval_every: u64,
    /// Checkpoint interval.
    pub checkpoint_every: u64,
    /// Image side.
    pub resolution: usize,
    /// Training images.
    pub train_images: usize,
    /// Dataset directory.
    pub dataset: String,
    /// xxh64 of the dataset's manifest.
    pub manifest_hash: String,
    /// Backend.
    pub backend: String,
    /// Augmentation of the views (`None` in runs written before it was recorded: the method's
    /// default policy).
    #[serde(default)]
    pub augmentation: Option<AugmentPolicy>,
}

impl PretrainConfig {
    /// The augmentation of the views.
    pub fn policy(&self) -> AugmentPolicy {
        self.augmentation.unwrap_or_else(|| self.method.policy())
    }

    /// Fields a resumed run must share with the run that wrote the checkpoint.
    fn identity(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{:?}",
            self.method,
            self.backbone.kind,
            self.backbone.width,
            self.backbone.dense,
            self.backbone.split,
            self.batch_size,
            self.steps,
            self.lr,
            self.min_lr,
            self.weight_decay,
            self.nce_k,
            self.seed,
            self.manifest_hash,
            self.policy()
        )
    }
}

/// One probe point of `history.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// Steps done.
    pub step: u64,
    /// Mean training loss of the steps since the previous point (none at step 0).
    pub loss: Option<f64>,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Probe results.
    pub probes: ProbeResults,
}

/// `RUNDIR/metrics.json` of a pretraining run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainMetrics {
    /// Method name.
    pub method: String,
    /// Backbone name.
    pub backbone: String,
    /// Width multiplier.
    pub width: f64,
    /// Dense variant.
    pub dense: bool,
    /// Split (CMC) backbone.
    pub split: bool,
    /// Optimisation steps.
    pub steps: u64,
    /// Images per step.
    pub batch_size: usize,
    /// Seed.
    pub seed: u64,
    /// Mean loss over the first 1% (at least 1) of the steps run in this process (none when
    /// it ran no step).
    pub first_loss: Option<f64>,
    /// Mean loss over the last 1% (at least 1) of the steps run in this process.
    pub final_loss: Option<f64>,
    /// Probes on the backbone before the first step (a random backbone; absent when resumed).
    pub initial_probes: Option<ProbeResults>,
    /// Probes at the end.
    pub probes: ProbeResults,
    /// Training images per second (this process; a two-view method counts each image once).
    pub images_per_s: f64,
    /// Seconds in the training loop (this process).
    pub train_time_s: f64,
    /// Seconds from start to end of this process's run.
    pub wall_time_s: f64,
    /// Backend name.
    pub backend: String,
    /// Dataset description.
    pub dataset: DatasetInfo,
    /// Step this process started at (0 unless resumed).
    pub resumed_from_step: u64,
    /// trainer version.
    pub tool_version: String,
}

/// The spec of a `--dataset` that is an endless render stream (a `render:` spec without
/// `unique=`); `None` for a directory or a capped spec.
fn endless_spec(dataset: &Path) -> Option<String> {
    let text = dataset.to_string_lossy();
    crate::data::render::parse_spec(&text)
        .ok()
        .filter(|s| s.unique.is_none())
        .map(|s| s.text)
}

/// Default pretraining steps: `max(MIN_STEPS, ceil(PRETRAIN_EPOCHS * n / batch))`.
pub fn default_pretrain_steps(n: usize, batch: usize) -> u64 {
    ((PRETRAIN_EPOCHS * n as f64 / batch.max(1) as f64).ceil() as u64).max(MIN_STEPS)
}

/// The backbone configuration a pretraining run in `run_dir` trained (from its `config.json`).
///
/// # Errors
/// When the file is missing or not a pretraining config.
pub fn pretrained_backbone_config(run_dir: &Path) -> Result<BackboneConfig, TrainError> {
    let path = run_dir.join("config.json");
    let bytes = std::fs::read(&path).map_err(|e| TrainError::io(&path, e))?;
    let config: PretrainConfig = serde_json::from_slice(&bytes).map_err(|e| TrainError::Json {
        path: path.clone(),
        reason: format!("not a pretraining config: {e}"),
    })?;
    Ok(config.backbone)
}

/// Run self-supervised pretraining as `train pretrain` does.
///
/// # Errors
/// Bad dataset, bad settings, backend without device, a checkpoint from other settings, I/O
/// errors in the run directory, a loss that is not finite.
pub fn run_pretrain(opts: &PretrainOptions) -> Result<PretrainMetrics, TrainError> {
    match opts.method {
        MethodKind::Vae => pretrain::<Vae>(opts),
        MethodKind::Rotation => pretrain::<Rotation>(opts),
        MethodKind::Cmc => pretrain::<Cmc>(opts),
        MethodKind::Amdim => pretrain::<Amdim>(opts),
        MethodKind::Simclr => pretrain::<Simclr>(opts),
        MethodKind::Byol => pretrain::<Byol>(opts),
        MethodKind::Barlow => pretrain::<Barlow>(opts),
    }
}

/// Everything that changes during a run.
pub struct PretrainState<M: Method> {
    /// The method's state (bank, target).
    pub method: M,
    /// Trainable network (autodiff device).
    pub net: M::Net,
    /// Adam.
    pub optim: OptimizerAdaptor<Adam, M::Net, B>,
    /// Online probe heads.
    pub probe: OnlineProbe,
    /// Steps done.
    pub step: u64,
}

fn method_config(config: &PretrainConfig) -> MethodConfig {
    MethodConfig {
        backbone: config.backbone.clone(),
        res: config.resolution,
        dataset_len: config.train_images,
        steps: config.steps,
        seed: config.seed,
        nce_k: config.nce_k,
    }
}

impl<M: Method> PretrainState<M> {
    /// A fresh state for `config` on (the autodiff version of) `device`.
    ///
    /// # Errors
    /// When the method does not fit the configuration.
    pub fn new(config: &PretrainConfig, device: &Device) -> Result<Self, TrainError> {
        let device = autodiff(device);
        let (method, net) = M::init(&method_config(config), &device)?;
        let optim = AdamConfig::new()
            .with_beta_1(config.beta1)
            .with_beta_2(config.beta2)
            .with_epsilon(1e-8)
            .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay)))
            .init();
        Ok(Self {
            method,
            net,
            optim,
            probe: OnlineProbe::new(config.backbone.projection_channels(), config.seed, &device),
            step: 0,
        })
    }
}

const CKPT_NET: &str = "net.bpk";
const CKPT_OPTIM: &str = "optimizer.mpk";
const CKPT_PROBE: &str = "probe.bpk";

/// Write `state` to `RUNDIR/checkpoint/` atomically (a complete `checkpoint.tmp/` is renamed
/// over the previous one).
///
/// # Errors
/// I/O errors.
pub fn save_pretrain_checkpoint<M: Method>(
    run_dir: &Path,
    config: &PretrainConfig,
    state: &PretrainState<M>,
) -> Result<(), TrainError> {
    crate::training::write_checkpoint_dir(run_dir, state.step, config.identity(), |tmp| {
        crate::model::save_module(&state.net, &tmp.join(CKPT_NET))?;
        save_optimizer(&state.optim, &state.net, &tmp.join(CKPT_OPTIM))?;
        state.probe.save(&tmp.join(CKPT_PROBE))?;
        state.method.save_state(tmp)
    })
}

/// Load the checkpoint of `run_dir` (or `checkpoint.old/` after a crash between renames);
/// `None` when there is none.
///
/// # Errors
/// A checkpoint of other settings, unreadable files.
pub fn load_pretrain_checkpoint<M: Method>(
    run_dir: &Path,
    config: &PretrainConfig,
    device: &Device,
) -> Result<Option<PretrainState<M>>, TrainError> {
    let Some(found) = crate::training::find_checkpoint_dir(run_dir)? else {
        return Ok(None);
    };
    if found.identity != config.identity() {
        return Err(TrainError::Invalid(format!(
            "{}: the checkpoint belongs to a pretraining run with other settings ({}); resume \
             with the same flags and dataset or use a new --out",
            found.state_path.display(),
            found.identity
        )));
    }
    let mut fresh = PretrainState::<M>::new(config, device)?;
    fresh.net = crate::model::load_module(fresh.net, &found.dir.join(CKPT_NET))?;
    fresh.optim = load_optimizer(fresh.optim, &fresh.net, &found.dir.join(CKPT_OPTIM), device)?;
    fresh.probe = fresh.probe.load(&found.dir.join(CKPT_PROBE))?;
    fresh.method.load_state(&found.dir, &autodiff(device))?;
    fresh.step = found.step;
    Ok(Some(fresh))
}

/// What [`pretrain_steps`] calls after every step.
pub type StepHook<'a, M> =
    dyn FnMut(&PretrainStep, &PretrainState<M>) -> Result<(), TrainError> + 'a;

/// Per-step record of [`pretrain_steps`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PretrainStep {
    /// Step (0-based).
    pub step: u64,
    /// Loss of the step's batch.
    pub loss: f64,
    /// Online probe loss (class + pose cross-entropy) before its update.
    pub probe_loss: f64,
    /// Learning rate used.
    pub lr: f64,
}

/// Labels of the rows a method's features belong to: (classes, poses).
fn row_labels(batch: &HostBatch, rows: &[usize]) -> (Vec<i64>, Vec<i64>) {
    let poses: &[i64] = match &batch.targets {
        crate::tasks::HostTargets::Labels(l) => l,
        _ => &[],
    };
    let classes = rows
        .iter()
        .map(|&r| batch.classes.get(r).copied().unwrap_or(0))
        .collect();
    let poses = rows
        .iter()
        .map(|&r| poses.get(r).copied().unwrap_or(0))
        .collect();
    (classes, poses)
}

/// Train `state` from its step up to `until` (exclusive, at most `config.steps`), calling
/// `each` after every step (it may probe, checkpoint or stop the loop by returning an error).
///
/// # Errors
/// Data errors, a loss that is not finite, errors of `each`.
pub fn pretrain_steps<M: Method>(
    config: &PretrainConfig,
    state: &mut PretrainState<M>,
    until: u64,
    source: &mut dyn BatchSource,
    each: &mut StepHook<'_, M>,
) -> Result<(), TrainError> {
    let device = state
        .net
        .devices()
        .first()
        .map(autodiff)
        .ok_or_else(|| TrainError::Backend("the network has no device".into()))?;
    while state.step < until.min(config.steps) {
        let batch = source.next_batch()?;
        let step = state.step;
        let lr = lr_at(
            step,
            config.steps,
            config.lr,
            config.min_lr,
            config.warmup_fraction,
        );
        let out = state.method.forward(&state.net, &batch, step, &device)?;
        let loss = to_host_f32(out.loss.clone())?
            .first()
            .copied()
            .unwrap_or(f32::NAN) as f64;
        if !loss.is_finite() {
            return Err(TrainError::Invalid(format!(
                "--method {}: the loss became {loss} at step {step}; lower --lr",
                M::KIND
            )));
        }
        let grads = GradientsParams::from_grads(out.loss.backward(), &state.net);
        state.net = state.optim.step(lr, state.net.clone(), grads);
        state.method.after_step(&state.net, step)?;
        let (classes, poses) = row_labels(&batch, &out.rows);
        let probe_loss = state.probe.train_step(out.features, &classes, &poses)?;
        state.step += 1;
        each(
            &PretrainStep {
                step,
                loss,
                probe_loss,
                lr,
            },
            state,
        )?;
    }
    Ok(())
}

/// The loader settings of a method's training stream.
pub fn loader_config(method: MethodKind, batch_size: usize, seed: u64) -> LoaderConfig {
    // Task::Pose: the targets are the flip-corrected pose bins the online pose head needs; the
    // method itself ignores them.
    let mut cfg = LoaderConfig::train(Task::Pose, batch_size, seed);
    cfg.policy = method.policy();
    cfg.views = method.views();
    cfg
}

fn pretrain<M: Method>(opts: &PretrainOptions) -> Result<PretrainMetrics, TrainError> {
    let started = Instant::now();
    if !opts.backend.compiled_in() {
        opts.backend.device()?;
    }
    if !(opts.width > 0.0 && opts.width.is_finite()) {
        return Err(TrainError::Invalid(format!(
            "--width must be a positive number, got {}",
            opts.width
        )));
    }
    if opts.method == MethodKind::Cmc
        && let Some(spec) = endless_spec(&opts.dataset)
    {
        return Err(TrainError::Invalid(format!(
            "--method cmc keeps a memory bank row per training image, so it needs a finite set \
             of scenes: add --unique-images N (or unique=N) to --dataset {spec}"
        )));
    }
    let splits = open_splits(&opts.dataset, None)?;
    let rendered = splits.rendered();
    let Splits {
        info,
        train: train_src,
        val: val_src,
        ..
    } = splits;
    // For an endless render stream: the train split of the dataset the spec describes (the
    // nominal size behind the default steps); the stream itself never repeats a scene.
    let n = train_src.len();
    if n == 0 {
        return Err(TrainError::Invalid(format!(
            "{}: the train split is empty",
            opts.dataset.display()
        )));
    }
    let defaults = opts.method.defaults(opts.backbone);
    let batch_size = opts.batch_size.unwrap_or(defaults.batch_size);
    let steps = opts
        .steps
        .unwrap_or_else(|| default_pretrain_steps(n, batch_size));
    if steps == 0 || batch_size == 0 {
        return Err(TrainError::Invalid(
            "--steps and --batch-size must be at least 1".into(),
        ));
    }
    if opts.method.views() > 1 || opts.method == MethodKind::Amdim {
        // In-batch negatives need at least two images.
        if batch_size < 2 {
            return Err(TrainError::Invalid(format!(
                "--method {} contrasts images of a batch: --batch-size must be at least 2",
                opts.method
            )));
        }
    }
    let dense = opts.dense.unwrap_or(info.scene == "multi");
    let base = BackboneConfig::new(opts.backbone)
        .with_width(opts.width)
        .with_dense(dense);
    let config = PretrainConfig {
        method: opts.method,
        backbone: opts.method.backbone_config(&base),
        batch_size,
        steps,
        lr: opts.lr.unwrap_or(defaults.lr),
        min_lr: defaults.min_lr.min(opts.lr.unwrap_or(defaults.lr)),
        warmup_fraction: WARMUP_FRACTION,
        beta1: 0.8,
        beta2: 0.999,
        weight_decay: opts.weight_decay.unwrap_or(defaults.weight_decay),
        nce_k: opts.nce_k.min(n.saturating_sub(1)).max(1),
        seed: opts.seed,
        eval_every: opts.eval_every.unwrap_or((steps / 10).max(1)),
        checkpoint_every: opts.checkpoint_every.unwrap_or((steps / 10).clamp(1, 1000)),
        resolution: info.resolution as usize,
        train_images: n,
        dataset: opts.dataset.display().to_string(),
        manifest_hash: info.manifest_hash.clone(),
        backend: opts.backend.name().to_string(),
        augmentation: Some(opts.policy()),
    };
    if let Some(h) = opts.jitter_hue
        && !crate::augment::HUE_RANGE.contains(&h)
    {
        return Err(TrainError::Invalid(format!(
            "--jitter-hue must be a hue shift in turns in 0..=0.5, got {h}"
        )));
    }
    if !(config.lr > 0.0 && config.lr.is_finite()) {
        return Err(TrainError::Invalid(format!(
            "--lr must be a positive number, got {}",
            config.lr
        )));
    }

    let device = opts.backend.device()?;
    std::fs::create_dir_all(&opts.out).map_err(|e| TrainError::io(&opts.out, e))?;
    let has_checkpoint = crate::training::checkpoint_dir(&opts.out).exists()
        || opts.out.join("checkpoint.old").exists();
    let mut state = if opts.resume {
        match load_pretrain_checkpoint::<M>(&opts.out, &config, &device)? {
            Some(s) => {
                tracing::info!(step = s.step, "resuming from {}", opts.out.display());
                s
            }
            None => {
                tracing::warn!(
                    "--resume: no checkpoint in {}, starting from step 0",
                    opts.out.display()
                );
                PretrainState::<M>::new(&config, &device)?
            }
        }
    } else if has_checkpoint {
        return Err(TrainError::Invalid(format!(
            "{} already holds a checkpoint: pass --resume to continue it, or choose another --out",
            opts.out.display()
        )));
    } else {
        PretrainState::<M>::new(&config, &device)?
    };
    let resumed_from = state.step;
    write_json(&opts.out.join("config.json"), &config)?;
    write_render_source(&opts.out, &info)?;
    let history_path = opts.out.join("history.json");
    let mut history: Vec<HistoryPoint> = if resumed_from > 0 && history_path.exists() {
        let bytes = std::fs::read(&history_path).map_err(|e| TrainError::io(&history_path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| TrainError::Json {
            path: history_path.clone(),
            reason: e.to_string(),
        })?
    } else {
        Vec::new()
    };

    // Probe sets: the first images of the fixed label order of the train split (reference) and
    // the first images of the validation split (queries).
    let probe_n = if opts.eval_limit == 0 {
        PROBE_SAMPLES
    } else {
        opts.eval_limit
    };
    // Rendered scenes are independent draws in index order: the first ones are as good a
    // reference set as a shuffled pick, and render only the first shards.
    let ref_idx: Vec<usize> = if rendered {
        (0..probe_n.min(n)).collect()
    } else {
        label_order(n).into_iter().take(probe_n).collect()
    };
    let query_idx: Vec<usize> = (0..val_src.len().min(probe_n)).collect();
    let reference = ProbeSet::read(&train_src, &ref_idx)?;
    let queries = ProbeSet::read(&val_src, &query_idx)?;
    let eval_batch = batch_size.max(64);
    let probe_now = |state: &PretrainState<M>| {
        evaluate_probes(
            M::backbone(&state.net),
            &state.probe,
            &reference,
            &queries,
            eval_batch,
        )
    };
    let initial_probes = if resumed_from == 0 {
        let p = probe_now(&state)?;
        history.push(HistoryPoint {
            step: 0,
            loss: None,
            lr: 0.0,
            probes: p.clone(),
        });
        write_json(&history_path, &history)?;
        Some(p)
    } else {
        None
    };

    tracing::info!(
        method = %opts.method,
        backbone = %opts.backbone,
        images = n,
        steps,
        batch_size,
        backend = %opts.backend,
        "pretraining on {}",
        opts.dataset.display()
    );
    let mut loader_cfg = loader_config(opts.method, batch_size, opts.seed);
    loader_cfg.policy = config.policy();
    loader_cfg.shuffle_buffer = opts.shuffle_buffer;
    loader_cfg.workers = opts.workers;
    loader_cfg.start_position = state.step * batch_size as u64;
    let all: Vec<usize> = (0..n).collect();
    let mut loader = Loader::start(train_src.clone(), &all, loader_cfg)?;

    let bar = ProgressBar::new(steps);
    if !(opts.progress && std::io::stderr().is_terminal()) {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(state.step);
    let log_every = (steps / 20).max(1);
    let loop_start = Instant::now();
    let mut losses: Vec<f64> = Vec::new();
    let mut since_eval: Vec<f64> = Vec::new();
    let mut last_probe = String::new();
    let out_dir = opts.out.clone();
    pretrain_steps(
        &config,
        &mut state,
        steps,
        &mut loader,
        &mut |log, state| {
            losses.push(log.loss);
            since_eval.push(log.loss);
            let done = log.step + 1;
            let images_per_s =
                (losses.len() * batch_size) as f64 / loop_start.elapsed().as_secs_f64().max(1e-9);
            if (config.eval_every > 0 && done.is_multiple_of(config.eval_every)) || done == steps {
                let probes = probe_now(state)?;
                let mean = since_eval.iter().sum::<f64>() / since_eval.len().max(1) as f64;
                since_eval.clear();
                last_probe = format!(
                    "knn class {:.3} pose {:.3}, online class {:.3} pose {:.3}",
                    probes.knn_class, probes.knn_pose, probes.online_class, probes.online_pose
                );
                tracing::info!(step = done, loss = mean, ?probes, "probes");
                bar.println(format!("step {done}: loss {mean:.4}, {last_probe}"));
                history.push(HistoryPoint {
                    step: done,
                    loss: Some(mean),
                    lr: log.lr,
                    probes,
                });
                write_json(&history_path, &history)?;
            }
            if config.checkpoint_every > 0 && done.is_multiple_of(config.checkpoint_every) {
                save_pretrain_checkpoint(&out_dir, &config, state)?;
            }
            bar.set_position(done);
            bar.set_message(format!(
                "loss {:.4}  {:.0} img/s  {last_probe}",
                log.loss, images_per_s
            ));
            if bar.is_hidden() && done.is_multiple_of(log_every) {
                tracing::info!(
                    step = done,
                    loss = log.loss,
                    lr = log.lr,
                    images_per_s,
                    "pretraining"
                );
            }
            Ok(())
        },
    )?;
    let train_time_s = loop_start.elapsed().as_secs_f64();
    drop(loader);
    bar.finish_and_clear();

    let backbone = M::backbone(&state.net);
    backbone.save(&opts.out.join("backbone.bpk"))?;
    write_json(&opts.out.join("backbone.json"), &config.backbone)?;
    crate::export::save_safetensors(
        backbone,
        &config.backbone,
        &opts.out.join(crate::export::SAFETENSORS_FILE),
    )?;
    let probes = match history.last() {
        Some(p) if p.step == steps => p.probes.clone(),
        _ => probe_now(&state)?,
    };
    let tail = (losses.len() / 100).max(1);
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let metrics = PretrainMetrics {
        method: opts.method.name().into(),
        backbone: opts.backbone.name().into(),
        width: opts.width,
        dense,
        split: config.backbone.split,
        steps,
        batch_size,
        seed: opts.seed,
        first_loss: mean(&losses[..tail.min(losses.len())]),
        final_loss: mean(&losses[losses.len().saturating_sub(tail)..]),
        initial_probes,
        probes,
        images_per_s: losses.len() as f64 * batch_size as f64 / train_time_s.max(1e-9),
        train_time_s,
        wall_time_s: started.elapsed().as_secs_f64(),
        backend: opts.backend.name().into(),
        dataset: info,
        resumed_from_step: resumed_from,
        tool_version: env!("CARGO_PKG_VERSION").into(),
    };
    write_json(&opts.out.join("metrics.json"), &metrics)?;
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_steps_are_epochs_over_the_images() {
        assert_eq!(default_pretrain_steps(10, 512), MIN_STEPS);
        assert_eq!(default_pretrain_steps(204_000, 512), 39_844);
    }

    #[test]
    fn a_missing_dataset_is_named() {
        let opts = PretrainOptions::new(
            PathBuf::from("/nonexistent/dataset"),
            PathBuf::from("/nonexistent/run"),
            MethodKind::Simclr,
        );
        let e = run_pretrain(&opts).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/dataset"), "{e}");
    }
}
