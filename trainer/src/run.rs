//! A whole supervised run on a dataset directory: what the `train` command does.
//!
//! Input: [`RunOptions`] (dataset directory, task, backbone, label budget, optimisation settings,
//! run directory). Output, in the run directory: `config.json` (the [`TrainConfig`]),
//! `checkpoint/` (every `checkpoint_every` steps), `history.json` (validation metrics during
//! training), and at the end `model.bpk` (backbone + head), `backbone.bpk` (for `--init`) and
//! `metrics.json` ([`RunMetrics`]).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::backend::{B, BackendKind, Device};
use crate::data::{LabelBudget, Loader, LoaderConfig, ShardSource, SplitSource, select_labels};
use crate::model::{Backbone, BackboneConfig, BackboneKind, Model, save_module};
use crate::tasks::Task;
use crate::training::{
    Observer, StepLog, TrainConfig, TrainState, default_batch_size, default_steps, evaluate, fit,
    load_checkpoint,
};
use crate::{TrainError, write_atomic};

/// What the `train` command was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Dataset directory (manifest.json + train/val/test).
    pub dataset: PathBuf,
    /// Run directory.
    pub out: PathBuf,
    /// Task.
    pub task: Task,
    /// Backbone.
    pub backbone: BackboneKind,
    /// Width multiplier.
    pub width: f64,
    /// Label budget.
    pub labels: LabelBudget,
    /// Backend.
    pub backend: BackendKind,
    /// Seed.
    pub seed: u64,
    /// Batch size (`None`: [`default_batch_size`]).
    pub batch_size: Option<usize>,
    /// Steps (`None`: [`default_steps`]).
    pub steps: Option<u64>,
    /// Peak learning rate.
    pub lr: f64,
    /// Weight decay.
    pub weight_decay: f32,
    /// Validate every N steps (`None`: ten times per run).
    pub eval_every: Option<u64>,
    /// Checkpoint every N steps (`None`: ten times per run, at most every 1000 steps).
    pub checkpoint_every: Option<u64>,
    /// Continue from `out/checkpoint`.
    pub resume: bool,
    /// Backbone weights to start from.
    pub init: Option<PathBuf>,
    /// Frozen blocks.
    pub freeze: usize,
    /// Shard-reading threads.
    pub workers: usize,
    /// Shuffle-buffer slots.
    pub shuffle_buffer: usize,
    /// Evaluate on at most this many samples per split (0: all).
    pub eval_limit: usize,
    /// Show a progress bar (when stderr is a terminal).
    pub progress: bool,
    /// Where the starting weights come from, for metrics.json: `supervised` (from scratch or
    /// `--init`, whose own run is then looked up) or the pretraining method of `pretrain`.
    pub method: String,
    /// The pretraining run the weights come from (set by [`crate::chain`]; `None`: from
    /// scratch, or looked up from the `--init` file's run directory).
    pub pretrain: Option<PretrainRef>,
}

impl RunOptions {
    /// Options with the paper's defaults for everything but the required fields.
    pub fn new(dataset: PathBuf, out: PathBuf, task: Task) -> Self {
        Self {
            dataset,
            out,
            task,
            backbone: BackboneKind::Resnet9,
            width: 1.0,
            labels: LabelBudget::All,
            backend: BackendKind::Flex,
            seed: 0,
            batch_size: None,
            steps: None,
            lr: 1e-3,
            weight_decay: 1e-4,
            eval_every: None,
            checkpoint_every: None,
            resume: false,
            init: None,
            freeze: 0,
            workers: 2,
            shuffle_buffer: 4096,
            eval_limit: 0,
            progress: true,
            method: SUPERVISED.into(),
            pretrain: None,
        }
    }
}

/// `method` of a run trained from scratch.
pub const SUPERVISED: &str = "supervised";

/// The run a backbone came from (`metrics.json` → `pretrain`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PretrainRef {
    /// The pretraining (or earlier training) run directory.
    pub dir: String,
    /// Cache key (runs chained by `train --method`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Its method (`unknown` when its directory has no metrics.json).
    pub method: String,
    /// The dataset it was trained on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// Whether a finished cache entry was reused (`false`: pretrained by this run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused: Option<bool>,
}

fn supervised() -> String {
    SUPERVISED.into()
}

fn finetune() -> String {
    "finetune".into()
}

/// Description of the dataset in `metrics.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DatasetInfo {
    /// Directory as given.
    pub dir: String,
    /// xxh64 (hex) of `manifest.json`'s bytes.
    pub manifest_hash: String,
    /// Variant name (`TCVL`...).
    pub variant: String,
    /// `single` or `multi`.
    pub scene: String,
    /// Image side.
    pub resolution: u32,
    /// Samples per split (train, val, test); for a render spec the train entry is the number
    /// of distinct scenes (`unique=`) or, for an endless stream, the train split of the
    /// dataset the spec describes.
    pub splits: [usize; 3],
    /// Scenes rendered while training (`--dataset render:...`): spec, manifest, adapter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render: Option<crate::data::render::RenderSourceInfo>,
}

/// One validation during training.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ValPoint {
    /// Steps done.
    pub step: u64,
    /// Metrics on the validation split.
    pub metrics: BTreeMap<String, f64>,
}

/// `RUNDIR/metrics.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunMetrics {
    /// Task name.
    pub task: String,
    /// Backbone name.
    pub backbone: String,
    /// Width multiplier.
    pub width: f64,
    /// Label budget as given (`1000`, `all`).
    pub labels: String,
    /// Labelled samples used.
    pub labelled_samples: usize,
    /// Optimisation steps.
    pub steps: u64,
    /// Images per step.
    pub batch_size: usize,
    /// Seed.
    pub seed: u64,
    /// Name of the headline metric.
    pub metric: String,
    /// Final validation metrics.
    pub val: BTreeMap<String, f64>,
    /// Final test metrics.
    pub test: BTreeMap<String, f64>,
    /// Validation during training.
    pub val_history: Vec<ValPoint>,
    /// Mean loss over the last 1% (at least 1) of the steps run in this process.
    pub final_train_loss: f64,
    /// Seconds from start to end of this process's run (including evaluation).
    pub wall_time_s: f64,
    /// Seconds in the training loop (this process).
    pub train_time_s: f64,
    /// Training images per second (this process).
    pub images_per_s: f64,
    /// Backend name.
    pub backend: String,
    /// Dataset description.
    pub dataset: DatasetInfo,
    /// `--init` weights.
    pub init: Option<String>,
    /// `--freeze`.
    pub freeze: usize,
    /// Step this process started at (0 unless resumed).
    pub resumed_from_step: u64,
    /// trainer version.
    pub tool_version: String,
    /// `supervised` (from scratch), the pretraining method the weights come from, or `init`
    /// (`--init` weights of unknown origin).
    #[serde(default = "supervised")]
    pub method: String,
    /// The run the starting weights come from (`null` from scratch).
    #[serde(default)]
    pub pretrain: Option<PretrainRef>,
    /// `finetune` or `linear`.
    #[serde(default = "finetune")]
    pub eval: String,
    /// How the linear model was fitted (`eval` = `linear`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear: Option<crate::linear_eval::LinearReport>,
}

pub(crate) fn json_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Json {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), TrainError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| json_err(path, e))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Open the dataset and describe it.
pub(crate) fn open_dataset(dir: &Path) -> Result<(datasets::Dataset, DatasetInfo), TrainError> {
    let dataset = datasets::Dataset::open(dir).map_err(|e| TrainError::Dataset(e.to_string()))?;
    let manifest_path = dir.join(datasets::MANIFEST_FILE);
    let bytes = std::fs::read(&manifest_path).map_err(|e| TrainError::io(&manifest_path, e))?;
    let m = dataset.manifest();
    let info = DatasetInfo {
        dir: dir.display().to_string(),
        manifest_hash: format!("{:016x}", xxhash_rust::xxh64::xxh64(&bytes, 0)),
        variant: m.variant.clone(),
        scene: m.scene.clone(),
        resolution: m.resolution[0],
        splits: m.splits.as_array(),
        render: None,
    };
    Ok((dataset, info))
}

/// The splits of a `--dataset` argument: a dataset directory's shards, or the scenes of a
/// render spec (`render:VARIANT[,...]`, [`crate::data::render`]) rendered while training.
pub(crate) struct Splits {
    /// Description for metrics.json.
    pub info: DatasetInfo,
    /// Train split (endless for a render spec without `unique=`).
    pub train: Arc<dyn ShardSource>,
    /// Validation split.
    pub val: Arc<dyn ShardSource>,
    /// Test split.
    pub test: Arc<dyn ShardSource>,
}

impl Splits {
    /// Whether the samples are rendered while training.
    pub fn rendered(&self) -> bool {
        self.info.render.is_some()
    }
}

/// Open a `--dataset` argument. `cap` limits the distinct training scenes of a render spec
/// without `unique=` (a label budget); it does nothing for a directory.
pub(crate) fn open_splits(dataset: &Path, cap: Option<usize>) -> Result<Splits, TrainError> {
    let text = dataset.to_string_lossy();
    if !datasets::live::is_spec(&text) {
        let (ds, info) = open_dataset(dataset)?;
        return Ok(Splits {
            info,
            train: split_source(&ds, datasets::Split::Train)?,
            val: split_source(&ds, datasets::Split::Val)?,
            test: split_source(&ds, datasets::Split::Test)?,
        });
    }
    let spec = crate::data::render::parse_spec(&text)?;
    let r = crate::data::render::RenderSource::open(spec, cap)?;
    let spec = r.train.spec();
    let info = DatasetInfo {
        dir: text.into_owned(),
        manifest_hash: r.fingerprint,
        variant: spec.job.variant.to_string(),
        scene: spec.job.scene.to_string(),
        resolution: spec.resolution(),
        splits: [r.train.len(), r.val.len(), r.test.len()],
        render: Some(r.info),
    };
    Ok(Splits {
        info,
        train: r.train,
        val: Arc::new(r.val),
        test: Arc::new(r.test),
    })
}

/// `RUNDIR/render-source.json`: what a run on a render spec trains on (spec, manifest with
/// the asset fingerprints, adapter and driver); nothing for a dataset directory.
pub(crate) fn write_render_source(out: &Path, info: &DatasetInfo) -> Result<(), TrainError> {
    match &info.render {
        Some(r) => write_json(&out.join(RENDER_SOURCE_FILE), r),
        None => Ok(()),
    }
}

/// File of a run directory describing a rendered source ([`write_render_source`]).
pub const RENDER_SOURCE_FILE: &str = "render-source.json";

/// Whether a variant name turns on random viewpoints (`V` in third position).
pub fn variant_has_viewpoint(variant: &str) -> bool {
    variant.chars().nth(2) == Some('V')
}

pub(crate) fn split_source(
    dataset: &datasets::Dataset,
    split: datasets::Split,
) -> Result<Arc<dyn ShardSource>, TrainError> {
    let reader = dataset
        .split(split)
        .map_err(|e| TrainError::Dataset(e.to_string()))?;
    Ok(Arc::new(SplitSource::new(reader)))
}

/// Evaluate on (the first `limit` samples of) a split.
fn evaluate_split(
    task: Task,
    model: &Model<B>,
    source: &Arc<dyn ShardSource>,
    batch_size: usize,
    limit: usize,
    workers: usize,
) -> Result<BTreeMap<String, f64>, TrainError> {
    let n = if limit == 0 {
        source.len()
    } else {
        limit.min(source.len())
    };
    if n == 0 {
        return Err(TrainError::Invalid(
            "the evaluation split has no samples".into(),
        ));
    }
    let idx: Vec<usize> = (0..n).collect();
    let mut cfg = LoaderConfig::eval(task, batch_size);
    cfg.workers = workers;
    let loader = Loader::start(source.clone(), &idx, cfg)?;
    Ok(evaluate(task, model, loader)?.to_map(task.metric_name()))
}

struct RunObserver<'a> {
    bar: ProgressBar,
    task: Task,
    val: &'a Arc<dyn ShardSource>,
    batch_size: usize,
    eval_limit: usize,
    workers: usize,
    history: Vec<ValPoint>,
    history_path: PathBuf,
    log_every: u64,
}

impl Observer for RunObserver<'_> {
    fn step(&mut self, log: &StepLog, images_per_s: f64) {
        self.bar.set_position(log.step + 1);
        self.bar.set_message(format!(
            "loss {:.4}  {} {:.3}  {:.0} img/s",
            log.loss,
            self.task.metric_name(),
            log.metric,
            images_per_s
        ));
        if self.bar.is_hidden() && (log.step + 1).is_multiple_of(self.log_every) {
            tracing::info!(
                step = log.step + 1,
                loss = log.loss,
                metric = log.metric,
                lr = log.lr,
                images_per_s,
                "training"
            );
        }
    }

    fn validate(&mut self, step: u64, model: &Model<B>) -> Result<Option<f64>, TrainError> {
        let metrics = evaluate_split(
            self.task,
            model,
            self.val,
            self.batch_size,
            self.eval_limit,
            self.workers,
        )?;
        let primary = metrics.get(self.task.metric_name()).copied();
        tracing::info!(step, ?metrics, "validation");
        self.bar.println(format!(
            "step {step}: val {} {:.4}",
            self.task.metric_name(),
            primary.unwrap_or(f64::NAN)
        ));
        self.history.push(ValPoint { step, metrics });
        write_json(&self.history_path, &self.history)?;
        Ok(primary)
    }
}

/// The dataset of a run: its description, the three splits and the selected training samples.
struct RunData {
    info: DatasetInfo,
    train: Arc<dyn ShardSource>,
    val: Arc<dyn ShardSource>,
    test: Arc<dyn ShardSource>,
    selected: Vec<usize>,
}

impl RunData {
    /// Open the dataset, warn about tasks it cannot teach, select the label budget (on an
    /// endless render spec, `--labels N` takes the first N scenes of the stream).
    fn open(opts: &RunOptions) -> Result<Self, TrainError> {
        let cap = match opts.labels {
            LabelBudget::Count(n) => Some(n),
            LabelBudget::All => None,
        };
        let Splits {
            info,
            train,
            val,
            test,
        } = open_splits(&opts.dataset, cap)?;
        if opts.task == Task::Pose && !variant_has_viewpoint(&info.variant) {
            tracing::warn!(
                variant = %info.variant,
                "--task pose on a dataset without random viewpoints (no V in the variant): \
                 every label is bin 0 (upright), so the task is trivial"
            );
        }
        if opts.task == Task::Classification && info.scene == "multi" {
            tracing::warn!(
                "--task classification on a multi-object dataset: the label is the first object's class"
            );
        }
        let selected = select_labels(train.len(), opts.labels)?;
        Ok(Self {
            info,
            train,
            val,
            test,
            selected,
        })
    }
}

/// File next to `backbone.bpk` holding its [`BackboneConfig`].
pub const BACKBONE_CONFIG_FILE: &str = "backbone.json";

/// The backbone of a run: from the flags, checked against (and completed by) the
/// `backbone.json` next to `--init` weights when there is one (pretrained CMC backbones are
/// split; a dense backbone cannot serve an image-level task and vice versa).
///
/// # Errors
/// When the `--init` weights were trained with another backbone, width or variant.
pub fn backbone_for(
    kind: BackboneKind,
    width: f64,
    task: Task,
    init: Option<&Path>,
) -> Result<BackboneConfig, TrainError> {
    let wanted = BackboneConfig::new(kind)
        .with_width(width)
        .with_dense(task.is_dense());
    let Some(init) = init else {
        return Ok(wanted);
    };
    let path = init.with_file_name(BACKBONE_CONFIG_FILE);
    if !path.is_file() {
        return Ok(wanted);
    }
    let bytes = std::fs::read(&path).map_err(|e| TrainError::io(&path, e))?;
    let saved: BackboneConfig = serde_json::from_slice(&bytes).map_err(|e| json_err(&path, e))?;
    if saved.kind != wanted.kind || saved.width != wanted.width {
        return Err(TrainError::Invalid(format!(
            "--init {}: the weights are a {} of width {} ({}), not the --backbone {} --width {} \
             asked for",
            init.display(),
            saved.kind,
            saved.width,
            path.display(),
            wanted.kind,
            wanted.width
        )));
    }
    if saved.dense != wanted.dense {
        return Err(TrainError::Invalid(format!(
            "--init {}: the weights are the {} backbone variant, --task {} needs the {} one \
             (dense: dilated ResNet50 and a 512·w projection for segmentation and depth)",
            init.display(),
            if saved.dense { "dense" } else { "image-level" },
            task,
            if wanted.dense { "dense" } else { "image-level" },
        )));
    }
    Ok(saved)
}

/// Where `--init` weights came from, read from the `metrics.json` of their run directory:
/// `(method, pretrain)`; method `init` when that run is unknown.
pub fn provenance_of_init(init: &Path) -> (String, Option<PretrainRef>) {
    let dir = init.parent().unwrap_or(Path::new("."));
    let metrics: Option<serde_json::Value> = std::fs::read(dir.join("metrics.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let method = metrics
        .as_ref()
        .and_then(|m| m.get("method"))
        .and_then(|m| m.as_str())
        .map(String::from);
    let dataset = metrics
        .as_ref()
        .and_then(|m| m.pointer("/dataset/dir"))
        .and_then(|d| d.as_str())
        .map(String::from);
    let pretrain = PretrainRef {
        dir: dir.display().to_string(),
        key: None,
        method: method.clone().unwrap_or_else(|| "unknown".into()),
        dataset,
        reused: None,
    };
    (method.unwrap_or_else(|| "init".into()), Some(pretrain))
}

/// The resolved [`TrainConfig`] of a run.
fn train_config(
    opts: &RunOptions,
    backbone: BackboneConfig,
    n: usize,
) -> Result<TrainConfig, TrainError> {
    let batch_size = opts
        .batch_size
        .unwrap_or_else(|| default_batch_size(opts.task, opts.backbone));
    let steps = opts.steps.unwrap_or_else(|| default_steps(n, batch_size));
    if steps == 0 || batch_size == 0 {
        return Err(TrainError::Invalid(
            "--steps and --batch-size must be at least 1".into(),
        ));
    }
    let eval_every = opts.eval_every.unwrap_or((steps / 10).max(1));
    let checkpoint_every = opts.checkpoint_every.unwrap_or((steps / 10).clamp(1, 1000));
    Ok(
        TrainConfig::new(opts.task, backbone, opts.labels, batch_size, steps)
            .with_seed(opts.seed)
            .with_lr(opts.lr)
            .with_weight_decay(opts.weight_decay)
            .with_eval_every(eval_every)
            .with_checkpoint_every(checkpoint_every)
            .with_freeze(opts.freeze)
            .with_init(opts.init.as_ref().map(|p| p.display().to_string()))
            .with_backend(opts.backend.name().to_string())
            .with_dataset(opts.dataset.display().to_string())
            .with_shuffle_buffer(opts.shuffle_buffer)
            .with_workers(opts.workers)
            .with_eval_limit(opts.eval_limit),
    )
}

/// A fresh state, or the checkpoint of `opts.out` with `--resume` (refusing to overwrite a
/// checkpoint without it).
fn initial_state(
    opts: &RunOptions,
    config: &TrainConfig,
    device: &Device,
) -> Result<TrainState, TrainError> {
    let has_checkpoint = crate::training::checkpoint_dir(&opts.out).exists()
        || opts.out.join("checkpoint.old").exists();
    if opts.resume {
        match load_checkpoint(&opts.out, config, device)? {
            Some(s) => {
                tracing::info!(step = s.step, "resuming from {}", opts.out.display());
                Ok(s)
            }
            None => {
                tracing::warn!(
                    "--resume: no checkpoint in {}, starting from step 0",
                    opts.out.display()
                );
                TrainState::new(config, device)
            }
        }
    } else if has_checkpoint {
        Err(TrainError::Invalid(format!(
            "{} already holds a checkpoint: pass --resume to continue it, or choose another --out",
            opts.out.display()
        )))
    } else {
        TrainState::new(config, device)
    }
}

/// `history.json` of a resumed run (empty for a fresh one).
fn load_history(path: &Path, resumed_from: u64) -> Result<Vec<ValPoint>, TrainError> {
    if resumed_from == 0 || !path.exists() {
        return Ok(Vec::new());
    }
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| json_err(path, e))
}

/// A progress bar over `steps`, hidden unless `progress` and stderr is a terminal.
pub(crate) fn progress_bar(steps: u64, position: u64, progress: bool) -> ProgressBar {
    let bar = ProgressBar::new(steps);
    if !(progress && std::io::stderr().is_terminal()) {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(position);
    bar
}

/// Write a backbone's files into `dir`: `backbone.bpk` (for `--init`), `backbone.json` (its
/// [`BackboneConfig`]) and `backbone.safetensors` (PyTorch names, see [`crate::export`]).
///
/// # Errors
/// I/O errors.
pub fn save_backbone_files(
    backbone: &Backbone<B>,
    config: &BackboneConfig,
    dir: &Path,
) -> Result<(), TrainError> {
    backbone.save(&dir.join("backbone.bpk"))?;
    write_json(&dir.join(BACKBONE_CONFIG_FILE), config)?;
    crate::export::save_safetensors(backbone, config, &dir.join(crate::export::SAFETENSORS_FILE))
}

/// Mean loss over the last 1% (at least 1) of the run's `steps`. The window depends on the
/// planned steps, not on how many this process ran, so a run resumed from a checkpoint reports
/// the same value as an uninterrupted one whenever it ran at least that window after the
/// resume (checkpoints come every 10% of the steps, at most 1,000 steps apart).
fn final_loss(history: &[StepLog], steps: u64) -> f64 {
    let tail = (steps / 100).max(1) as usize;
    if history.is_empty() {
        f64::NAN
    } else {
        history.iter().rev().take(tail).map(|l| l.loss).sum::<f64>()
            / tail.min(history.len()) as f64
    }
}

/// Run supervised training and evaluation as the `train` command does.
///
/// # Errors
/// Bad dataset, bad flags (label budget too large, checkpoint from other settings, `--init`
/// weights of another backbone), backend without device, I/O errors in the run directory.
pub fn run(opts: &RunOptions) -> Result<RunMetrics, TrainError> {
    let started = Instant::now();
    if !opts.backend.compiled_in() {
        // Say so before reading the dataset (the error names the cargo feature to build with).
        opts.backend.device()?;
    }
    let data = RunData::open(opts)?;
    let n = data.selected.len();
    let backbone = backbone_for(opts.backbone, opts.width, opts.task, opts.init.as_deref())?;
    let config = train_config(opts, backbone, n)?;
    let (steps, batch_size) = (config.steps, config.batch_size);

    let device = opts.backend.device()?;
    std::fs::create_dir_all(&opts.out).map_err(|e| TrainError::io(&opts.out, e))?;
    let mut state = initial_state(opts, &config, &device)?;
    let resumed_from = state.step;
    write_json(&opts.out.join("config.json"), &config)?;
    write_render_source(&opts.out, &data.info)?;
    let history_path = opts.out.join("history.json");
    let history = load_history(&history_path, resumed_from)?;

    tracing::info!(
        task = %opts.task,
        backbone = %opts.backbone,
        labelled = n,
        steps,
        batch_size,
        backend = %opts.backend,
        "training on {}",
        opts.dataset.display()
    );
    let mut loader_cfg = LoaderConfig::train(opts.task, batch_size, opts.seed);
    loader_cfg.shuffle_buffer = opts.shuffle_buffer;
    loader_cfg.workers = opts.workers;
    loader_cfg.start_position = state.step * batch_size as u64;
    let mut loader = Loader::start(data.train.clone(), &data.selected, loader_cfg)?;

    let eval_batch = batch_size.max(64);
    let mut observer = RunObserver {
        bar: progress_bar(steps, state.step, opts.progress),
        task: opts.task,
        val: &data.val,
        batch_size: eval_batch,
        eval_limit: opts.eval_limit,
        workers: opts.workers,
        history,
        history_path,
        log_every: (steps / 20).max(1),
    };
    let stats = fit(
        &config,
        &mut state,
        steps,
        &mut loader,
        Some(&opts.out),
        &mut observer,
    )?;
    drop(loader);
    observer.bar.finish_and_clear();

    let evaluate_on = |source| {
        evaluate_split(
            opts.task,
            &state.model,
            source,
            eval_batch,
            opts.eval_limit,
            opts.workers,
        )
    };
    let val = evaluate_on(&data.val)?;
    let test = evaluate_on(&data.test)?;
    save_module(&state.model, &opts.out.join("model.bpk"))?;
    save_backbone_files(&state.model.backbone, &config.backbone, &opts.out)?;

    let (method, pretrain) = match (&opts.pretrain, &opts.init) {
        (Some(p), _) => (opts.method.clone(), Some(p.clone())),
        (None, Some(init)) => provenance_of_init(init),
        (None, None) => (opts.method.clone(), None),
    };
    let metrics = RunMetrics {
        task: opts.task.name().into(),
        backbone: opts.backbone.name().into(),
        width: opts.width,
        labels: opts.labels.to_string(),
        labelled_samples: n,
        steps,
        batch_size,
        seed: opts.seed,
        metric: opts.task.metric_name().into(),
        val,
        test,
        val_history: observer.history,
        final_train_loss: final_loss(&stats.history, steps),
        wall_time_s: started.elapsed().as_secs_f64(),
        train_time_s: stats.seconds,
        images_per_s: stats.images_per_s(),
        backend: opts.backend.name().into(),
        dataset: data.info,
        init: config.init.clone(),
        freeze: opts.freeze,
        resumed_from_step: resumed_from,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        method,
        pretrain,
        eval: "finetune".into(),
        linear: None,
    };
    write_json(&opts.out.join("metrics.json"), &metrics)?;
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_loss_window_does_not_depend_on_a_resume() {
        let log = |step: u64| StepLog {
            step,
            loss: step as f64,
            metric: 0.0,
            lr: 0.0,
        };
        let full: Vec<StepLog> = (0..200).map(log).collect();
        // Resumed from the checkpoint at step 40: this process saw steps 40..200.
        let resumed: Vec<StepLog> = (40..200).map(log).collect();
        assert_eq!(final_loss(&full, 200), 198.5);
        assert_eq!(final_loss(&resumed, 200), 198.5);
        assert_eq!(final_loss(&full[..3], 3), 2.0);
        assert!(final_loss(&[], 10).is_nan());
    }

    #[test]
    fn viewpoint_is_the_third_letter() {
        assert!(variant_has_viewpoint("--V-"));
        assert!(variant_has_viewpoint("TCVL"));
        assert!(!variant_has_viewpoint("TC-L"));
        assert!(!variant_has_viewpoint("----"));
        assert!(!variant_has_viewpoint("V---"));
    }

    #[test]
    fn a_missing_dataset_is_named() {
        let opts = RunOptions::new(
            PathBuf::from("/nonexistent/dataset"),
            PathBuf::from("/nonexistent/run"),
            Task::Classification,
        );
        let e = run(&opts).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/dataset"), "{e}");
    }
}
