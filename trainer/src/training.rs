//! Supervised training: configuration, learning-rate schedule, the step loop, evaluation,
//! checkpoints and resume.
//!
//! Input: a [`TrainConfig`], a device, a [`Model`] and batch sources (any [`BatchSource`] for
//! training, any iterator of [`HostBatch`]es for evaluation). Output: the trained model, the
//! loss/metric history and, when a run directory is given, `checkpoint/` (model, optimiser and
//! step, written atomically every `checkpoint_every` steps).
//!
//! Optimiser: Adam (beta1 0.8, beta2 0.999) with L2 weight decay 1e-4 added to the gradient;
//! learning rate: linear warm-up over the first `warmup_fraction` of the steps from
//! `peak/warmup` to `lr`, then linear decay to `min_lr` (1e-6) at the last step ([`lr_at`]).
//!
//! Steps: by default a function of the label count n only ([`default_steps`]), so finetuning
//! and training from scratch get the same number of steps for the same n.
//!
//! Resume: every random choice of a run flows from `seed` and the step number (model init,
//! sample order, augmentation), so the checkpoint only needs the weights, the optimiser state
//! and the step; a resumed run produces the same weights as an uninterrupted one.
//!
//! Checkpoint files: `model.bpk` (burnpack, like `model.bpk`/`backbone.bpk` of a run),
//! `optimizer.mpk` (burn's named MessagePack record of the Adam state at full precision, keyed
//! by each parameter's position in the model) and `state.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer, decay::WeightDecayConfig};
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use serde::{Deserialize, Serialize};

use crate::backend::{B, Device, autodiff, without_autodiff};
use crate::data::{BatchSource, HostBatch, LabelBudget};
use crate::metrics::MetricAccumulator;
use crate::model::{BackboneConfig, Model, inference, init_weights, load_module, save_module};
use crate::tasks::{Task, to_host_f32};
use crate::{TrainError, write_atomic};

/// Everything that defines a supervised run (saved as `RUNDIR/config.json`).
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// The downstream task.
    pub task: Task,
    /// The backbone.
    pub backbone: BackboneConfig,
    /// Labelled training samples.
    pub labels: LabelBudget,
    /// Images per step.
    pub batch_size: usize,
    /// Optimisation steps.
    pub steps: u64,
    /// Seed of initialisation, sample order and augmentation.
    #[config(default = 0)]
    pub seed: u64,
    /// Peak learning rate.
    #[config(default = 1e-3)]
    pub lr: f64,
    /// Final learning rate.
    #[config(default = 1e-6)]
    pub min_lr: f64,
    /// Share of the steps spent warming up.
    #[config(default = 0.05)]
    pub warmup_fraction: f64,
    /// Adam beta1.
    #[config(default = 0.8)]
    pub beta1: f32,
    /// Adam beta2.
    #[config(default = 0.999)]
    pub beta2: f32,
    /// L2 weight decay.
    #[config(default = 1e-4)]
    pub weight_decay: f32,
    /// Validate every this many steps (0: only at the end).
    #[config(default = 0)]
    pub eval_every: u64,
    /// Write a checkpoint every this many steps (0: never).
    #[config(default = 0)]
    pub checkpoint_every: u64,
    /// Freeze the first K of the backbone's three main blocks.
    #[config(default = 0)]
    pub freeze: usize,
    /// Backbone weights to start from (`--init`).
    #[config(default = "None")]
    pub init: Option<String>,
    /// Backend name (`flex`, `cuda`, `wgpu`).
    #[config(default = "String::from(\"flex\")")]
    pub backend: String,
    /// Dataset directory.
    #[config(default = "String::new()")]
    pub dataset: String,
    /// Shuffle-buffer slots of the loader.
    #[config(default = 4096)]
    pub shuffle_buffer: usize,
    /// Shard-reading threads.
    #[config(default = 2)]
    pub workers: usize,
    /// Evaluate on at most this many validation/test samples (0: all).
    #[config(default = 0)]
    pub eval_limit: usize,
}

impl TrainConfig {
    /// Fields a resumed run must share with the run that wrote the checkpoint.
    fn identity(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{:?}|{}",
            self.task,
            self.backbone.kind,
            self.backbone.width,
            self.backbone.dense,
            self.labels,
            self.batch_size,
            self.steps,
            self.seed,
            self.lr,
            self.freeze,
            self.init,
            self.dataset
        )
    }

    /// Adam with the configured betas and weight decay.
    pub fn optimizer(&self) -> Optim {
        AdamConfig::new()
            .with_beta_1(self.beta1)
            .with_beta_2(self.beta2)
            .with_epsilon(1e-8)
            .with_weight_decay(Some(WeightDecayConfig::new(self.weight_decay)))
            .init()
    }

    /// The learning rate at `step` (0-based).
    pub fn lr_at(&self, step: u64) -> f64 {
        lr_at(step, self.steps, self.lr, self.min_lr, self.warmup_fraction)
    }
}

/// Paper default batch size: 512 for single-object (image-level) tasks with ResNet9, 64 for
/// dense tasks, 128 for ResNet50 on image-level tasks (memory).
pub fn default_batch_size(task: Task, backbone: crate::model::BackboneKind) -> usize {
    match (task.is_dense(), backbone) {
        (true, _) => 64,
        (false, crate::model::BackboneKind::Resnet9) => 512,
        (false, crate::model::BackboneKind::Resnet50) => 128,
    }
}

/// Fewest steps any run gets.
pub const MIN_STEPS: u64 = 200;

/// Epochs over the labelled set: 200 for n <= 1000, 75 for n >= 100000, log-linear between
/// (the paper trains 75-200 epochs depending on the number of images).
pub fn default_epochs(n: usize) -> f64 {
    let (lo, hi) = (1000f64.ln(), 100_000f64.ln());
    let t = (((n.max(1) as f64).ln() - lo) / (hi - lo)).clamp(0.0, 1.0);
    200.0 + t * (75.0 - 200.0)
}

/// Default number of steps for `n` labelled samples at `batch` images per step:
/// `max(MIN_STEPS, ceil(default_epochs(n) * n / batch))`. Depends only on n and the batch size,
/// so finetuning and from-scratch runs with the same n train equally long.
pub fn default_steps(n: usize, batch: usize) -> u64 {
    let steps = (default_epochs(n) * n as f64 / batch.max(1) as f64).ceil() as u64;
    steps.max(MIN_STEPS)
}

/// Linear warm-up then linear decay: step 0..w ramps `peak * (s+1)/w`; afterwards the rate falls
/// linearly from `peak` to `min` at the last step (`steps - 1`).
pub fn lr_at(step: u64, steps: u64, peak: f64, min: f64, warmup_fraction: f64) -> f64 {
    let warmup = ((steps as f64 * warmup_fraction).round() as u64).max(1);
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = steps.saturating_sub(1).saturating_sub(warmup).max(1) as f64;
    let t = ((step - warmup) as f64 / span).min(1.0);
    peak + (min - peak) * t
}

/// The optimiser of a [`Model`]: Adam through burn's optimiser adaptor.
pub type Optim = OptimizerAdaptor<Adam, Model<B>, B>;

/// Adam's state per parameter.
type OptimRecord = <Optim as Optimizer<Model<B>, B>>::Record;

/// One optimisation step's record.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    /// Step (0-based).
    pub step: u64,
    /// Loss of the step's batch.
    pub loss: f64,
    /// Task metric on the step's batch (before the update).
    pub metric: f64,
    /// Learning rate used.
    pub lr: f64,
}

/// What the loop reports to its caller (progress bars, logs, validation).
pub trait Observer {
    /// After each step.
    fn step(&mut self, _log: &StepLog, _images_per_s: f64) {}
    /// Every `eval_every` steps: return validation metrics to record (or `None` to skip).
    fn validate(&mut self, _step: u64, _model: &Model<B>) -> Result<Option<f64>, TrainError> {
        Ok(None)
    }
}

/// An observer that does nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// Model, optimiser and position of a run.
pub struct TrainState {
    /// The network (on the autodiff device).
    pub model: Model<B>,
    /// Adam state.
    pub optim: Optim,
    /// Steps done.
    pub step: u64,
}

impl TrainState {
    /// A fresh model for `config`, initialised from `seed` (and `--init` weights), with the
    /// first `freeze` blocks frozen.
    pub fn new(config: &TrainConfig, device: &Device) -> Result<Self, TrainError> {
        let device = autodiff(device);
        B::seed(&device, config.seed);
        let mut model = init_weights(
            Model::new(
                &config.backbone,
                config.task.head(),
                config.task.outputs(),
                &device,
            ),
            crate::data::mix(config.seed, 0x1417),
        );
        if let Some(init) = &config.init {
            model.backbone = model.backbone.load(Path::new(init))?;
        }
        model.backbone = model.backbone.freeze_blocks(config.freeze);
        Ok(Self {
            model,
            optim: config.optimizer(),
            step: 0,
        })
    }
}

/// Files of a checkpoint directory.
const CKPT_MODEL: &str = "model.bpk";
const CKPT_OPTIM: &str = "optimizer.mpk";
const CKPT_STATE: &str = "state.json";

#[derive(Debug, Serialize, Deserialize)]
struct CheckpointState {
    step: u64,
    identity: String,
}

/// `RUNDIR/checkpoint`.
pub fn checkpoint_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint")
}

/// Write `state` to `RUNDIR/checkpoint/` atomically (see [`write_checkpoint_dir`]).
pub fn save_checkpoint(
    run_dir: &Path,
    config: &TrainConfig,
    state: &TrainState,
) -> Result<(), TrainError> {
    write_checkpoint_dir(run_dir, state.step, config.identity(), |tmp| {
        save_module(&state.model, &tmp.join(CKPT_MODEL))?;
        save_optimizer(&state.optim, &state.model, &tmp.join(CKPT_OPTIM))
    })
}

/// Replace `RUNDIR/checkpoint/` atomically: `write_files` fills a fresh `checkpoint.tmp/`, then
/// `state.json` (step and run identity) is added and the directory is renamed over the previous
/// checkpoint (which is kept as `checkpoint.old/` until then). Shared by supervised and
/// pretraining runs.
pub(crate) fn write_checkpoint_dir(
    run_dir: &Path,
    step: u64,
    identity: String,
    write_files: impl FnOnce(&Path) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    let dir = checkpoint_dir(run_dir);
    let tmp = run_dir.join("checkpoint.tmp");
    let old = run_dir.join("checkpoint.old");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    write_files(&tmp)?;
    crate::run::write_json(&tmp.join(CKPT_STATE), &CheckpointState { step, identity })?;
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| TrainError::io(&old, e))?;
        }
        std::fs::rename(&dir, &old).map_err(|e| TrainError::io(&dir, e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| TrainError::io(&tmp, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| TrainError::io(&old, e))?;
    }
    Ok(())
}

/// A checkpoint directory found by [`find_checkpoint_dir`].
pub(crate) struct FoundCheckpoint {
    /// `checkpoint/` or, after a crash between the two renames, `checkpoint.old/`.
    pub dir: PathBuf,
    /// Its `state.json`.
    pub state_path: PathBuf,
    /// Steps done.
    pub step: u64,
    /// Identity of the run that wrote it.
    pub identity: String,
}

/// The checkpoint of `run_dir` written by [`write_checkpoint_dir`] (falling back to
/// `checkpoint.old/` when a crash happened between its two renames), with its `state.json`
/// read; `None` when there is none.
pub(crate) fn find_checkpoint_dir(run_dir: &Path) -> Result<Option<FoundCheckpoint>, TrainError> {
    let mut dir = checkpoint_dir(run_dir);
    if !dir.join(CKPT_STATE).exists() {
        dir = run_dir.join("checkpoint.old");
        if !dir.join(CKPT_STATE).exists() {
            return Ok(None);
        }
    }
    let state_path = dir.join(CKPT_STATE);
    let bytes = std::fs::read(&state_path).map_err(|e| TrainError::io(&state_path, e))?;
    let meta: CheckpointState = serde_json::from_slice(&bytes).map_err(|e| TrainError::Json {
        path: state_path.clone(),
        reason: e.to_string(),
    })?;
    Ok(Some(FoundCheckpoint {
        dir,
        state_path,
        step: meta.step,
        identity: meta.identity,
    }))
}

/// Load the checkpoint of `run_dir` (falling back to `checkpoint.old/` when a crash happened
/// between the two renames of [`save_checkpoint`]); `None` when there is none.
pub fn load_checkpoint(
    run_dir: &Path,
    config: &TrainConfig,
    device: &Device,
) -> Result<Option<TrainState>, TrainError> {
    let Some(found) = find_checkpoint_dir(run_dir)? else {
        return Ok(None);
    };
    if found.identity != config.identity() {
        return Err(TrainError::Invalid(format!(
            "{}: the checkpoint belongs to a run with other settings ({}); \
             resume with the same flags or use a new --out",
            found.state_path.display(),
            found.identity
        )));
    }
    let mut fresh = TrainState::new(config, device)?;
    fresh.model = load_module(fresh.model, &found.dir.join(CKPT_MODEL))?;
    // Frozen blocks stay frozen: the record holds values, not gradient settings, but reapply.
    fresh.model.backbone = fresh.model.backbone.freeze_blocks(config.freeze);
    fresh.optim = load_optimizer(
        fresh.optim,
        &fresh.model,
        &found.dir.join(CKPT_OPTIM),
        device,
    )?;
    fresh.step = found.step;
    Ok(Some(fresh))
}

/// Ids of the float parameters and buffers of `model`, in visiting order.
fn param_ids<M: Module<B>>(model: &M) -> Vec<ParamId> {
    struct Ids(Vec<ParamId>);
    impl ModuleVisitor<B> for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0.push(param.id);
        }
    }
    let mut ids = Ids(Vec::new());
    model.visit(&mut ids);
    ids.0
}

/// Write the optimiser state to `path` atomically, keyed by parameter position: parameter ids
/// are drawn anew whenever a model is built, so a resumed run maps positions back to the ids of
/// its own model ([`load_optimizer`]).
pub(crate) fn save_optimizer<M: AutodiffModule<B>>(
    optim: &OptimizerAdaptor<Adam, M, B>,
    model: &M,
    path: &Path,
) -> Result<(), TrainError> {
    let mut by_id = optim.to_record();
    let by_position: OptimRecord = param_ids(model)
        .iter()
        .enumerate()
        .filter_map(|(i, id)| Some((ParamId::from(i as u64), by_id.remove(id)?)))
        .collect();
    let bytes = NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
        .record(by_position, ())
        .map_err(|e| TrainError::Record {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    write_atomic(path, &bytes)
}

/// Load an optimiser state written by [`save_optimizer`] for `model`.
pub(crate) fn load_optimizer<M: AutodiffModule<B>>(
    optim: OptimizerAdaptor<Adam, M, B>,
    model: &M,
    path: &Path,
    device: &Device,
) -> Result<OptimizerAdaptor<Adam, M, B>, TrainError> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    let error = |reason: String| TrainError::Record {
        path: path.to_path_buf(),
        reason,
    };
    let by_position: OptimRecord = NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
        .load(bytes, &without_autodiff(device))
        .map_err(|e| error(e.to_string()))?;
    let ids = param_ids(model);
    let by_id = by_position
        .into_iter()
        .map(|(position, record)| {
            ids.get(position.val() as usize)
                .map(|id| (*id, record))
                .ok_or_else(|| {
                    error(format!(
                        "the optimiser state names parameter {} but the model has {}",
                        position.val(),
                        ids.len()
                    ))
                })
        })
        .collect::<Result<OptimRecord, _>>()?;
    Ok(optim.load_record(by_id))
}

/// Summary of a [`fit`] call.
#[derive(Debug, Clone, Default)]
pub struct FitStats {
    /// Per-step records of this call.
    pub history: Vec<StepLog>,
    /// Seconds spent in the loop (including waiting for data).
    pub seconds: f64,
    /// Images processed in this call.
    pub images: u64,
}

impl FitStats {
    /// Training throughput of this call.
    pub fn images_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.images as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Train `state` from its current step up to `until` (exclusive) on batches from `source`,
/// checkpointing into `run_dir` every `config.checkpoint_every` steps.
pub fn fit(
    config: &TrainConfig,
    state: &mut TrainState,
    until: u64,
    source: &mut dyn BatchSource,
    run_dir: Option<&Path>,
    observer: &mut dyn Observer,
) -> Result<FitStats, TrainError> {
    let task = config.task;
    let device = autodiff(
        state
            .model
            .devices()
            .first()
            .ok_or_else(|| TrainError::Backend("the model has no device".into()))?,
    );
    let start = Instant::now();
    let mut stats = FitStats::default();
    while state.step < until.min(config.steps) {
        let batch = source.next_batch()?;
        let step = state.step;
        let lr = config.lr_at(step);
        let images = batch.images_tensor(&device);
        let targets = batch
            .targets
            .to_device(batch.size, batch.target_size, &device);
        let output = state.model.forward(images, batch.target_size);
        let loss = task.loss(&output, &targets)?;
        let mut acc = task.accumulator();
        task.accumulate(&output, &batch.targets, &mut acc)?;
        let loss_value = to_host_f32(loss.clone())?
            .first()
            .copied()
            .unwrap_or(f32::NAN) as f64;
        if !loss_value.is_finite() {
            return Err(TrainError::Invalid(format!(
                "the loss became {loss_value} at step {step}; lower --lr"
            )));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &state.model);
        state.model = state.optim.step(lr, state.model.clone(), grads);
        state.step += 1;
        stats.images += batch.size as u64;
        let log = StepLog {
            step,
            loss: loss_value,
            metric: acc.primary(),
            lr,
        };
        stats.history.push(log);
        stats.seconds = start.elapsed().as_secs_f64();
        observer.step(&log, stats.images_per_s());
        if config.eval_every > 0
            && state.step.is_multiple_of(config.eval_every)
            && state.step < config.steps
        {
            observer.validate(state.step, &state.model)?;
        }
        if let Some(dir) = run_dir
            && config.checkpoint_every > 0
            && state.step.is_multiple_of(config.checkpoint_every)
        {
            save_checkpoint(dir, config, state)?;
        }
    }
    stats.seconds = start.elapsed().as_secs_f64();
    Ok(stats)
}

/// Evaluate `model` (in inference mode) on `batches`.
pub fn evaluate(
    task: Task,
    model: &Model<B>,
    batches: impl Iterator<Item = Result<HostBatch, TrainError>>,
) -> Result<MetricAccumulator, TrainError> {
    let model = inference(model);
    let device = without_autodiff(
        model
            .devices()
            .first()
            .ok_or_else(|| TrainError::Backend("the model has no device".into()))?,
    );
    let mut acc = task.accumulator();
    for batch in batches {
        let batch = batch?;
        let output = model.forward(batch.images_tensor(&device), batch.target_size);
        task.accumulate(&output, &batch.targets, &mut acc)?;
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_and_decays() {
        let (steps, peak, min) = (100, 1e-3, 1e-6);
        assert!((lr_at(0, steps, peak, min, 0.05) - peak / 5.0).abs() < 1e-12);
        assert!((lr_at(4, steps, peak, min, 0.05) - peak).abs() < 1e-12);
        assert!((lr_at(5, steps, peak, min, 0.05) - peak).abs() < 1e-12);
        assert!((lr_at(99, steps, peak, min, 0.05) - min).abs() < 1e-12);
        let mid = lr_at(52, steps, peak, min, 0.05);
        assert!(mid < peak && mid > min);
        for s in 5..99 {
            assert!(lr_at(s + 1, steps, peak, min, 0.05) <= lr_at(s, steps, peak, min, 0.05));
        }
    }

    #[test]
    fn steps_depend_on_label_count_only() {
        assert_eq!(default_epochs(100), 200.0);
        assert_eq!(default_epochs(1000), 200.0);
        assert_eq!(default_epochs(100_000), 75.0);
        assert_eq!(default_epochs(1_000_000), 75.0);
        assert_eq!(default_steps(100, 512), MIN_STEPS);
        assert_eq!(
            default_steps(200_000, 512),
            (75.0f64 * 200_000.0 / 512.0).ceil() as u64
        );
        assert!(default_steps(20_000, 512) > default_steps(4000, 512));
    }
}
