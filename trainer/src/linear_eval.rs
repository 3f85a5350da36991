//! Linear evaluation (the paper's Table 1): a frozen backbone, features extracted once, and a
//! linear model fitted on them.
//!
//! Input: [`LinearEvalOptions`]: a dataset, a task, backbone weights (`--init`, or a pretraining
//! run chained by `train --method M --eval linear`) and a label budget (all labels by default,
//! as in the paper). Output, in the run directory: `config.json` (the options), `metrics.json`
//! (a [`RunMetrics`] with `eval` = `linear` and a [`LinearReport`]).
//!
//! What is fitted:
//! - classification, pose: multinomial logistic regression on the globally average-pooled
//!   projected features (one row per labelled image);
//! - segmentation: per-pixel multinomial logistic regression (11 classes) on the projected
//!   feature map resized bilinearly to the 16x16 target map (the same map a dense head sees; a
//!   linear map commutes with the resize), on at most `max_pixels` training pixels (the same
//!   number of pixels drawn from each image, seeded);
//! - depth: per-pixel least squares (linear regression, metres) on the same features, on valid
//!   pixels only, also capped at `max_pixels`.
//!
//! Features are standardised (per dimension, statistics of the training rows); the objective is
//! the mean loss plus `l2/2 |W|^2` (biases not penalised), minimised by full-batch L-BFGS on the
//! host ([`solver`]), deterministic to the bit. Validation and test metrics stream over the
//! splits (all pixels), exactly as for finetuned runs.

pub mod solver;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::nn::interpolate::{Interpolate2dConfig, InterpolateMode};
use rand::SeedableRng;
use rand::seq::index::sample as sample_indices;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::backend::BackendKind;
use crate::backend::{B, Device};
use crate::data::{HostBatch, LabelBudget, Loader, LoaderConfig, ShardSource, mix, select_labels};
use crate::metrics::MetricAccumulator;
use crate::model::{Backbone, BackboneKind, global_average_pool};
use crate::run::{PretrainRef, RunMetrics, Splits, backbone_for, open_splits, write_json};
use crate::tasks::{HostTargets, Task, to_host_f32};
use solver::{LbfgsOptions, LinearModel, Standardizer, Targets, fit_linear};

/// Default L2 penalty (on standardised features).
pub const DEFAULT_L2: f64 = 1e-4;
/// Default cap on training pixels for the dense tasks.
pub const DEFAULT_MAX_PIXELS: usize = 262_144;
/// Default cap on L-BFGS iterations (`train --linear-max-iters`).
pub const DEFAULT_MAX_ITERS: usize = 500;

/// What `train --eval linear` was asked to do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinearEvalOptions {
    /// Dataset directory.
    pub dataset: PathBuf,
    /// Run directory.
    pub out: PathBuf,
    /// Task.
    pub task: Task,
    /// Backbone weights (`backbone.bpk`).
    pub init: PathBuf,
    /// Backbone kind of the weights.
    pub backbone: BackboneKind,
    /// Width multiplier of the weights.
    pub width: f64,
    /// Labelled training samples the linear model is fitted on.
    pub labels: LabelBudget,
    /// Backend of the feature extraction.
    pub backend: BackendKind,
    /// Seed (pixel sampling of the dense tasks).
    pub seed: u64,
    /// Images per extraction batch (`None`: 64 dense, 256 image-level).
    pub batch_size: Option<usize>,
    /// L2 penalty on the weights.
    pub l2: f64,
    /// Most L-BFGS iterations.
    pub max_iters: usize,
    /// Most training pixels (dense tasks).
    pub max_pixels: usize,
    /// Shard-reading threads.
    pub workers: usize,
    /// Evaluate on at most this many validation/test samples (0: all).
    pub eval_limit: usize,
    /// Where the weights came from (recorded in metrics.json as `method` / `pretrain`).
    #[serde(skip)]
    pub provenance: Option<(String, Option<PretrainRef>)>,
}

impl LinearEvalOptions {
    /// Defaults for everything but the required fields.
    pub fn new(dataset: PathBuf, out: PathBuf, task: Task, init: PathBuf) -> Self {
        Self {
            dataset,
            out,
            task,
            init,
            backbone: BackboneKind::Resnet9,
            width: 1.0,
            labels: LabelBudget::All,
            backend: BackendKind::Flex,
            seed: 0,
            batch_size: None,
            l2: DEFAULT_L2,
            max_iters: DEFAULT_MAX_ITERS,
            max_pixels: DEFAULT_MAX_PIXELS,
            workers: 2,
            eval_limit: 0,
            provenance: None,
        }
    }
}

/// How the linear model was fitted (`metrics.json` → `linear`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinearReport {
    /// `logistic` (classification, pose, segmentation) or `least_squares` (depth).
    pub model: String,
    /// L2 penalty.
    pub l2: f64,
    /// L-BFGS iterations.
    pub iterations: usize,
    /// Whether a tolerance (not the iteration limit) ended the fit.
    pub converged: bool,
    /// Final objective (mean training loss + penalty).
    pub objective: f64,
    /// Feature dimension.
    pub feature_dim: usize,
    /// Training rows (images, or pixels for the dense tasks).
    pub train_rows: usize,
    /// Rows drawn per training image (1 for image-level tasks).
    pub rows_per_image: usize,
    /// Training accuracy (or delta < 1.25 for depth) of the fitted model.
    pub train_metric: f64,
    /// Seconds extracting training features.
    pub extract_seconds: f64,
    /// Seconds fitting.
    pub fit_seconds: f64,
}

/// Features of one batch: `rows x dim` values (one row per image, or per target pixel in the
/// order of the batch's dense targets).
fn batch_features(
    backbone: &Backbone<B>,
    batch: &HostBatch,
    task: Task,
    device: &Device,
) -> Result<(Vec<f32>, usize), TrainError> {
    let f = backbone.forward(batch.images_tensor(device));
    let [b, p, h, w] = f.dims();
    if !task.is_dense() {
        return Ok((to_host_f32(global_average_pool(f))?, p));
    }
    let t = batch.target_size;
    let f = if [h, w] == [t, t] {
        f
    } else {
        Interpolate2dConfig::new()
            .with_output_size(Some([t, t]))
            .with_mode(InterpolateMode::Linear)
            .with_align_corners(false)
            .init()
            .forward(f)
    };
    let rows = f.permute([0, 2, 3, 1]).reshape([b * t * t, p]);
    Ok((to_host_f32(rows)?, p))
}

/// Training rows, their targets and how many rows each image gave.
struct TrainTable {
    x: Vec<f32>,
    dim: usize,
    classes: Vec<i64>,
    values: Vec<f32>,
    rows_per_image: usize,
}

fn extract_train(
    backbone: &Backbone<B>,
    source: &Arc<dyn ShardSource>,
    selected: &[usize],
    res: usize,
    opts: &LinearEvalOptions,
    batch_size: usize,
    device: &Device,
) -> Result<TrainTable, TrainError> {
    let task = opts.task;
    let n = selected.len();
    let pixels = crate::augment::target_size(res);
    let rows_per_image = if task.is_dense() {
        (opts.max_pixels / n.max(1)).clamp(1, pixels * pixels)
    } else {
        1
    };
    let mut cfg = LoaderConfig::eval(task, batch_size);
    cfg.workers = opts.workers;
    let loader = Loader::start(source.clone(), selected, cfg)?;
    let mut table = TrainTable {
        x: Vec::new(),
        dim: 0,
        classes: Vec::new(),
        values: Vec::new(),
        rows_per_image,
    };
    let mut image = 0u64;
    for batch in loader {
        let batch = batch?;
        let (x, dim) = batch_features(backbone, &batch, task, device)?;
        table.dim = dim;
        match &batch.targets {
            HostTargets::Labels(y) => {
                table.x.extend_from_slice(&x);
                table.classes.extend_from_slice(y);
            }
            targets @ (HostTargets::Map(_) | HostTargets::Depth(_)) => {
                let tt = batch.target_size * batch.target_size;
                for i in 0..batch.size {
                    // Eligible pixels: all for segmentation, valid depths for depth.
                    let eligible: Vec<usize> = match targets {
                        HostTargets::Depth(d) => (0..tt).filter(|&q| d[i * tt + q] > 0.0).collect(),
                        _ => (0..tt).collect(),
                    };
                    let k = rows_per_image.min(eligible.len());
                    let mut rng = ChaCha8Rng::seed_from_u64(mix(opts.seed ^ 0x11ea, image));
                    image += 1;
                    let mut chosen: Vec<usize> = sample_indices(&mut rng, eligible.len(), k)
                        .into_iter()
                        .map(|j| eligible[j])
                        .collect();
                    chosen.sort_unstable();
                    for q in chosen {
                        let row = i * tt + q;
                        table.x.extend_from_slice(&x[row * dim..(row + 1) * dim]);
                        match targets {
                            HostTargets::Depth(d) => table.values.push(d[row]),
                            HostTargets::Map(m) => table.classes.push(m[row]),
                            HostTargets::Labels(_) => {}
                        }
                    }
                }
            }
        }
    }
    Ok(table)
}

/// Stream a split through the frozen backbone and the fitted model.
#[allow(clippy::too_many_arguments)]
fn evaluate_linear(
    backbone: &Backbone<B>,
    model: &LinearModel,
    standardizer: &Standardizer,
    source: &Arc<dyn ShardSource>,
    opts: &LinearEvalOptions,
    batch_size: usize,
    device: &Device,
) -> Result<MetricAccumulator, TrainError> {
    let task = opts.task;
    let n = if opts.eval_limit == 0 {
        source.len()
    } else {
        opts.eval_limit.min(source.len())
    };
    if n == 0 {
        return Err(TrainError::Invalid(
            "the evaluation split has no samples".into(),
        ));
    }
    let idx: Vec<usize> = (0..n).collect();
    let mut cfg = LoaderConfig::eval(task, batch_size);
    cfg.workers = opts.workers;
    let mut acc = task.accumulator();
    for batch in Loader::start(source.clone(), &idx, cfg)? {
        let batch = batch?;
        let (mut x, _) = batch_features(backbone, &batch, task, device)?;
        standardizer.apply(&mut x);
        match &batch.targets {
            HostTargets::Labels(y) | HostTargets::Map(y) => {
                acc.add_classes(&model.predict_classes(&x), y);
            }
            HostTargets::Depth(y) => acc.add_depth(&model.predict_values(&x), y),
        }
    }
    Ok(acc)
}

/// Run linear evaluation as `train --eval linear` does.
///
/// # Errors
/// Bad dataset, weights that do not fit `--backbone`/`--width`, label budget too large, I/O
/// errors in the run directory.
pub fn run_linear_eval(opts: &LinearEvalOptions) -> Result<RunMetrics, TrainError> {
    let started = Instant::now();
    if !opts.backend.compiled_in() {
        opts.backend.device()?;
    }
    if !opts.init.is_file() {
        return Err(TrainError::Invalid(format!(
            "--init {}: no such file (linear evaluation needs backbone weights)",
            opts.init.display()
        )));
    }
    if !(opts.l2 >= 0.0 && opts.l2.is_finite()) {
        return Err(TrainError::Invalid(format!(
            "--linear-l2 must be >= 0, got {}",
            opts.l2
        )));
    }
    // A render spec: `--labels N` fits on the first N scenes of the stream, `all` on the train
    // split of the dataset the spec describes (`count=`).
    let cap = match opts.labels {
        LabelBudget::Count(n) => Some(n),
        LabelBudget::All => None,
    };
    let Splits {
        info,
        train: train_src,
        val: val_src,
        test: test_src,
    } = open_splits(&opts.dataset, cap)?;
    let selected = select_labels(train_src.len(), opts.labels)?;
    let batch_size = opts
        .batch_size
        .unwrap_or(if opts.task.is_dense() { 64 } else { 256 })
        .max(1);

    let device = opts.backend.device()?;
    let config = backbone_for(opts.backbone, opts.width, opts.task, Some(&opts.init))?;
    let backbone = config.init(&device).load(&opts.init).map_err(|e| {
        TrainError::Invalid(format!(
            "--init {} does not fit --backbone {} --width {}{} ({}): {e}",
            opts.init.display(),
            opts.backbone,
            opts.width,
            if opts.task.is_dense() {
                " with the dense projection of segmentation/depth"
            } else {
                ""
            },
            opts.task
        ))
    })?;
    std::fs::create_dir_all(&opts.out).map_err(|e| TrainError::io(&opts.out, e))?;
    write_json(&opts.out.join("config.json"), opts)?;
    tracing::info!(
        task = %opts.task,
        labelled = selected.len(),
        init = %opts.init.display(),
        "linear evaluation on {}",
        opts.dataset.display()
    );

    let t0 = Instant::now();
    let mut table = extract_train(
        &backbone,
        &train_src,
        &selected,
        info.resolution as usize,
        opts,
        batch_size,
        &device,
    )?;
    let extract_seconds = t0.elapsed().as_secs_f64();
    let standardizer = Standardizer::fit(&table.x, table.dim);
    standardizer.apply(&mut table.x);
    let targets = if opts.task == Task::Depth {
        Targets::Values(&table.values)
    } else {
        Targets::Classes {
            labels: &table.classes,
            classes: opts.task.outputs(),
        }
    };
    let t1 = Instant::now();
    let lbfgs = LbfgsOptions {
        max_iters: opts.max_iters,
        ..LbfgsOptions::default()
    };
    let (model, report) = fit_linear(&table.x, table.dim, targets, opts.l2, &lbfgs)
        .map_err(|e| TrainError::Invalid(format!("linear evaluation: {e}")))?;
    let fit_seconds = t1.elapsed().as_secs_f64();
    let mut train_acc = opts.task.accumulator();
    match targets {
        Targets::Classes { labels, .. } => {
            train_acc.add_classes(&model.predict_classes(&table.x), labels)
        }
        Targets::Values(v) => train_acc.add_depth(&model.predict_values(&table.x), v),
    }
    tracing::info!(
        iterations = report.iterations,
        objective = report.objective,
        converged = report.converged,
        train = train_acc.primary(),
        "fitted the linear model"
    );
    let train_rows = table.x.len() / table.dim.max(1);
    let rows_per_image = table.rows_per_image;
    drop(table);

    let metric = opts.task.metric_name();
    let val = evaluate_linear(
        &backbone,
        &model,
        &standardizer,
        &val_src,
        opts,
        batch_size,
        &device,
    )?
    .to_map(metric);
    let test = evaluate_linear(
        &backbone,
        &model,
        &standardizer,
        &test_src,
        opts,
        batch_size,
        &device,
    )?
    .to_map(metric);

    let (method, pretrain) = match &opts.provenance {
        Some((m, p)) => (m.clone(), p.clone()),
        None => crate::run::provenance_of_init(&opts.init),
    };
    let linear = LinearReport {
        model: if opts.task == Task::Depth {
            "least_squares".into()
        } else {
            "logistic".into()
        },
        l2: opts.l2,
        iterations: report.iterations,
        converged: report.converged,
        objective: report.objective,
        feature_dim: model.dim,
        train_rows,
        rows_per_image,
        train_metric: train_acc.primary(),
        extract_seconds,
        fit_seconds,
    };
    let metrics = RunMetrics {
        task: opts.task.name().into(),
        backbone: opts.backbone.name().into(),
        width: opts.width,
        labels: opts.labels.to_string(),
        labelled_samples: selected.len(),
        steps: report.iterations as u64,
        batch_size,
        seed: opts.seed,
        metric: metric.into(),
        val,
        test,
        val_history: Vec::new(),
        final_train_loss: report.objective,
        wall_time_s: started.elapsed().as_secs_f64(),
        train_time_s: fit_seconds,
        images_per_s: if extract_seconds > 0.0 {
            selected.len() as f64 / extract_seconds
        } else {
            0.0
        },
        backend: opts.backend.name().into(),
        dataset: info,
        init: Some(opts.init.display().to_string()),
        freeze: 3,
        resumed_from_step: 0,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        method,
        pretrain,
        eval: "linear".into(),
        linear: Some(linear),
    };
    write_json(&opts.out.join("metrics.json"), &metrics)?;
    Ok(metrics)
}
