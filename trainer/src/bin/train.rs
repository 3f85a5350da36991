//! `train`: train a backbone + task head on a rendered dataset and evaluate it.
//!
//! Input: a dataset directory written by `render`. Output: a run directory with `config.json`,
//! `checkpoint/`, `history.json`, `model.bpk`, `backbone.bpk` and `metrics.json`.
//! `train pretrain --method M --dataset D --out RUNDIR` pretrains a backbone with a
//! self-supervised method instead (`trainer::pretrain`); `train --method M --task T ...`
//! pretrains (or reuses a cached pretraining) and then finetunes (`trainer::chain`);
//! `--eval linear` fits a linear model on frozen features (`trainer::linear_eval`).
//! Exit codes: 0 success, 1 run failed (message on stderr), 2 bad command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use trainer::backend::BackendKind;
use trainer::chain::{ChainOptions, EvalMode, default_cache_dir, run_chain};
use trainer::data::LabelBudget;
use trainer::data::render::with_unique_images;
use trainer::linear_eval::{
    DEFAULT_L2, DEFAULT_MAX_ITERS, DEFAULT_MAX_PIXELS, LinearEvalOptions, run_linear_eval,
};
use trainer::methods::MethodKind;
use trainer::model::BackboneKind;
use trainer::pretrain::PretrainOptions;
use trainer::run::{RunMetrics, RunOptions, run};
use trainer::tasks::Task;

/// Train a backbone from scratch (or from `--init` weights) on a label budget of a rendered
/// dataset and report validation and test metrics; `train pretrain` pretrains one with a
/// self-supervised method.
#[derive(Debug, Parser)]
#[command(
    name = "train",
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: Option<Args>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Self-supervised pretraining on every training image of a dataset (labels unused):
    /// writes backbone.bpk for `train --init`.
    Pretrain(trainer_cli::PretrainArgs),
}

/// The training form (`train --task ...`).
#[derive(Debug, clap::Args)]
struct Args {
    /// classification | pose | segmentation | depth
    #[arg(long)]
    task: Task,
    /// Dataset directory (manifest.json, train/, val/, test/), or scenes rendered while
    /// training: render:VARIANT[,scene=multi,res=64,seed=S,...] (docs/cli-train.md).
    #[arg(long, value_name = "DIR|render:SPEC")]
    dataset: PathBuf,
    /// Labelled training samples: a number (the first N of a fixed shuffled order, so budgets
    /// are nested) or `all`.
    #[arg(long, default_value = "all")]
    labels: LabelBudget,
    /// resnet9 | resnet50
    #[arg(long, default_value = "resnet9")]
    backbone: BackboneKind,
    /// Run directory (created if missing).
    #[arg(long, value_name = "RUNDIR")]
    out: PathBuf,
    /// flex (CPU, always built) | cuda | wgpu (need the cargo features of the same name).
    #[arg(long, default_value = "flex")]
    backend: BackendKind,
    /// Seed of initialisation, sample order and augmentation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Images per step [default: 512 image-level ResNet9, 128 image-level ResNet50, 64 dense].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Optimisation steps [default: max(200, ceil(epochs(n) * n / batch)), epochs 200 at
    /// n <= 1000 falling log-linearly to 75 at n >= 100000].
    #[arg(long)]
    steps: Option<u64>,
    /// Peak learning rate (linear warm-up over 5% of the steps, then linear decay to 1e-6).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// L2 weight decay.
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f32,
    /// Width multiplier of the backbone (1.0 = the paper's network).
    #[arg(long, default_value_t = 1.0)]
    width: f64,
    /// Validate every N steps [default: steps / 10].
    #[arg(long)]
    eval_every: Option<u64>,
    /// Write a checkpoint every N steps [default: steps / 10, at most 1000].
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// Continue the run in --out from its checkpoint.
    #[arg(long)]
    resume: bool,
    /// Start the backbone from these weights (a backbone.bpk of an earlier run).
    #[arg(long, value_name = "CHECKPOINT")]
    init: Option<PathBuf>,
    /// Freeze the first K of the backbone's three main blocks.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=3))]
    freeze: u8,
    /// Shard-reading threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Shuffle-buffer slots.
    #[arg(long, default_value_t = 4096)]
    shuffle_buffer: usize,
    /// Evaluate on at most this many validation/test samples (0: all).
    #[arg(long, default_value_t = 0)]
    eval_limit: usize,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// With a `render:` --dataset: train on N distinct scenes (epochs over them) instead of an
    /// endless stream; in the --method form, the pretraining's scenes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    unique_images: Option<u64>,
    /// Where the backbone starts: `supervised` (from scratch, or from --init) or a
    /// self-supervised method pretrained first on --pretrain-dataset (vae, rotation, cmc, amdim,
    /// simclr, byol, barlow), cached in --pretrain-cache.
    #[arg(long, default_value = "supervised", value_parser = parse_method)]
    method: Method,
    /// Dataset to pretrain on [default: --dataset].
    #[arg(long, value_name = "DIR")]
    pretrain_dataset: Option<PathBuf>,
    /// Cache of finished pretrainings [default: pretrain-cache/ next to --out].
    #[arg(long, value_name = "DIR")]
    pretrain_cache: Option<PathBuf>,
    /// Pretraining steps [default: the method's, 100 passes over the images, at least 200].
    #[arg(long)]
    pretrain_steps: Option<u64>,
    /// Pretraining batch [default: the method's reference batch].
    #[arg(long)]
    pretrain_batch_size: Option<usize>,
    /// Pretraining peak learning rate [default: the method's reference rate].
    #[arg(long)]
    pretrain_lr: Option<f64>,
    /// Pretraining weight decay [default: the method's reference value].
    #[arg(long)]
    pretrain_weight_decay: Option<f32>,
    /// Pretraining: largest hue shift of the views' colour jitter, in turns (0..=0.5; 0.5 = any
    /// hue) [default: 0.1].
    #[arg(long, value_name = "TURNS", value_parser = parse_hue)]
    pretrain_jitter_hue: Option<f64>,
    /// Pretraining seed (independent of --seed, so finetuning seeds share one pretraining).
    #[arg(long, default_value_t = 0)]
    pretrain_seed: u64,
    /// finetune (train backbone + head) | linear (freeze the backbone, fit a linear model on
    /// its features: the paper's linear evaluation; needs --init or --method).
    #[arg(long, default_value = "finetune", value_parser = ["finetune", "linear"])]
    eval: String,
    /// Linear evaluation: L2 penalty on the weights (features standardised).
    #[arg(long, default_value_t = DEFAULT_L2)]
    linear_l2: f64,
    /// Linear evaluation: most L-BFGS iterations.
    #[arg(long, default_value_t = DEFAULT_MAX_ITERS)]
    linear_max_iters: usize,
    /// Linear evaluation: most training pixels for segmentation and depth.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS)]
    linear_max_pixels: usize,
}

/// `--method`: from scratch / `--init`, or a self-supervised method to pretrain first.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Method {
    Supervised,
    Pretrained(MethodKind),
}

fn parse_method(s: &str) -> Result<Method, String> {
    if s == "supervised" {
        return Ok(Method::Supervised);
    }
    s.parse::<MethodKind>()
        .map(Method::Pretrained)
        .map_err(|_| {
            format!(
                "unknown method `{s}`: expected supervised, {}",
                MethodKind::valid_names()
            )
        })
}

/// `--jitter-hue` / `--pretrain-jitter-hue`: a hue shift in turns, 0..=0.5.
fn parse_hue(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(h) if trainer::augment::HUE_RANGE.contains(&h) => Ok(h),
        _ => Err(format!(
            "`{s}`: expected a hue shift in turns from 0 to 0.5 (0.5 = any hue)"
        )),
    }
}

/// Exit with a command-line error (status 2), as clap does for its own.
fn usage_error(kind: clap::error::ErrorKind, message: String) -> ! {
    use clap::CommandFactory;
    Cli::command().error(kind, message).exit()
}

/// Flags that contradict each other.
fn check_combinations(args: &Args) {
    use clap::error::ErrorKind;
    let method = match args.method {
        Method::Supervised => None,
        Method::Pretrained(m) => Some(m),
    };
    if args.eval == "linear" && args.init.is_none() && method.is_none() {
        usage_error(
            ErrorKind::MissingRequiredArgument,
            "--eval linear evaluates frozen backbone weights, and none were given: pass              --init RUNDIR/backbone.bpk (a `train pretrain` or `train` run), or --method M to              pretrain them first (vae, rotation, cmc, amdim, simclr, byol, barlow)"
                .into(),
        );
    }
    if let (Some(m), Some(init)) = (method, &args.init) {
        usage_error(
            ErrorKind::ArgumentConflict,
            format!(
                "--method {m} pretrains the starting weights and --init {} loads them: pass one",
                init.display()
            ),
        );
    }
    if method.is_none() {
        let given = [
            ("--pretrain-dataset", args.pretrain_dataset.is_some()),
            ("--pretrain-cache", args.pretrain_cache.is_some()),
            ("--pretrain-steps", args.pretrain_steps.is_some()),
            ("--pretrain-batch-size", args.pretrain_batch_size.is_some()),
            ("--pretrain-lr", args.pretrain_lr.is_some()),
            (
                "--pretrain-weight-decay",
                args.pretrain_weight_decay.is_some(),
            ),
            ("--pretrain-jitter-hue", args.pretrain_jitter_hue.is_some()),
            ("--pretrain-seed", args.pretrain_seed != 0),
        ];
        if let Some((flag, _)) = given.iter().find(|g| g.1) {
            usage_error(
                ErrorKind::ArgumentConflict,
                format!("{flag} needs --method M (a self-supervised method to pretrain)"),
            );
        }
    }
    if args.eval == "linear" && args.freeze != 0 {
        usage_error(
            ErrorKind::ArgumentConflict,
            "--freeze K finetunes the unfrozen blocks; --eval linear freezes the whole backbone"
                .into(),
        );
    }
}

fn main() -> ExitCode {
    // SAFETY: the first statement of `main`: no other thread exists yet.
    #[allow(unsafe_code)]
    unsafe {
        trainer::cli::quiet_window_system_probe()
    };
    let cli = Cli::parse();
    trainer::cli::init_logging();
    let result = match (cli.command, cli.train) {
        (Some(Command::Pretrain(p)), _) => trainer_cli::pretrain(p),
        (None, Some(args)) => real_main(args),
        (None, None) => {
            use clap::CommandFactory;
            Cli::command()
                .error(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "give --task, --dataset and --out (or `train pretrain --help`)",
                )
                .exit()
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main(args: Args) -> anyhow::Result<()> {
    check_combinations(&args);
    if !(args.width > 0.0 && args.width.is_finite()) {
        anyhow::bail!("--width must be a positive number, got {}", args.width);
    }
    if !(args.lr > 0.0 && args.lr.is_finite()) {
        anyhow::bail!("--lr must be a positive number, got {}", args.lr);
    }
    if let Some(init) = &args.init
        && !init.is_file()
    {
        anyhow::bail!("--init {}: no such file", init.display());
    }
    // --unique-images caps the training scenes of a render: dataset, or in the --method form
    // those of the pretraining (the finetuning then streams the spec as given).
    let unique = args.unique_images.map(|n| n as usize);
    let supervised = matches!(args.method, Method::Supervised);
    let dataset = with_unique_images(&args.dataset, unique.filter(|_| supervised))?;
    let mut opts = RunOptions::new(dataset, args.out.clone(), args.task);
    opts.backbone = args.backbone;
    opts.width = args.width;
    opts.labels = args.labels;
    opts.backend = args.backend;
    opts.seed = args.seed;
    opts.batch_size = args.batch_size;
    opts.steps = args.steps;
    opts.lr = args.lr;
    opts.weight_decay = args.weight_decay;
    opts.eval_every = args.eval_every;
    opts.checkpoint_every = args.checkpoint_every;
    opts.resume = args.resume;
    opts.init = args.init;
    opts.freeze = args.freeze as usize;
    opts.workers = args.workers.max(1);
    opts.shuffle_buffer = args.shuffle_buffer.max(1);
    opts.eval_limit = args.eval_limit;
    opts.progress = !args.quiet;
    let linear = EvalMode::Linear {
        l2: args.linear_l2,
        max_iters: args.linear_max_iters.max(1),
        max_pixels: args.linear_max_pixels.max(1),
    };
    let metrics: RunMetrics = match (args.method, args.eval.as_str()) {
        (Method::Pretrained(method), eval) => {
            let pre_data = with_unique_images(
                args.pretrain_dataset.as_ref().unwrap_or(&args.dataset),
                unique,
            )?;
            let mut pre = PretrainOptions::new(pre_data.clone(), PathBuf::new(), method);
            pre.backbone = args.backbone;
            pre.width = args.width;
            pre.backend = args.backend;
            pre.seed = args.pretrain_seed;
            pre.batch_size = args.pretrain_batch_size;
            pre.steps = args.pretrain_steps;
            pre.lr = args.pretrain_lr;
            pre.weight_decay = args.pretrain_weight_decay;
            pre.jitter_hue = args.pretrain_jitter_hue;
            pre.workers = opts.workers;
            pre.shuffle_buffer = opts.shuffle_buffer;
            pre.progress = opts.progress;
            let chain = ChainOptions {
                cache: args
                    .pretrain_cache
                    .clone()
                    .unwrap_or_else(|| default_cache_dir(&args.out)),
                finetune: opts,
                pretrain: pre,
                eval: if eval == "linear" {
                    linear
                } else {
                    EvalMode::Finetune
                },
            };
            run_chain(&chain).with_context(|| {
                format!(
                    "{method} on {} then {} on {} into {}",
                    pre_data.display(),
                    args.task,
                    args.dataset.display(),
                    args.out.display()
                )
            })?
        }
        (Method::Supervised, "linear") => {
            let init = opts.init.clone().unwrap_or_default();
            let mut le =
                LinearEvalOptions::new(args.dataset.clone(), args.out.clone(), args.task, init);
            le.backbone = opts.backbone;
            le.width = opts.width;
            le.labels = opts.labels;
            le.backend = opts.backend;
            le.seed = opts.seed;
            le.batch_size = opts.batch_size;
            le.l2 = args.linear_l2;
            le.max_iters = args.linear_max_iters.max(1);
            le.max_pixels = args.linear_max_pixels.max(1);
            le.workers = opts.workers;
            le.eval_limit = opts.eval_limit;
            run_linear_eval(&le).with_context(|| {
                format!(
                    "linear evaluation of {} on {} into {}",
                    args.task,
                    args.dataset.display(),
                    args.out.display()
                )
            })?
        }
        (Method::Supervised, _) => run(&opts).with_context(|| {
            format!(
                "training {} on {} into {}",
                args.task,
                args.dataset.display(),
                args.out.display()
            )
        })?,
    };
    println!(
        "{} {} ({}, {}): val {:.4}, test {:.4} ({} steps, {:.1} images/s, {:.0} s) -> {}",
        metrics.task,
        metrics.metric,
        metrics.method,
        metrics.eval,
        metrics
            .val
            .get(&metrics.metric)
            .copied()
            .unwrap_or(f64::NAN),
        metrics
            .test
            .get(&metrics.metric)
            .copied()
            .unwrap_or(f64::NAN),
        metrics.steps,
        metrics.images_per_s,
        metrics.wall_time_s,
        args.out.join("metrics.json").display()
    );
    Ok(())
}

/// `train pretrain`.
mod trainer_cli {
    use std::path::PathBuf;

    use anyhow::Context;
    use trainer::backend::BackendKind;
    use trainer::methods::MethodKind;
    use trainer::model::BackboneKind;
    use trainer::pretrain::{PretrainOptions, run_pretrain};

    /// Flags of `train pretrain`.
    #[derive(Debug, clap::Args)]
    pub struct PretrainArgs {
        /// vae | rotation | cmc | amdim | simclr | byol | barlow
        #[arg(long)]
        method: MethodKind,
        /// Dataset directory (manifest.json, train/, val/, test/; every train image is used),
        /// or scenes rendered while training: render:VARIANT[,scene=multi,res=64,seed=S,...].
        #[arg(long, value_name = "DIR|render:SPEC")]
        dataset: PathBuf,
        /// Run directory (created if missing).
        #[arg(long, value_name = "RUNDIR")]
        out: PathBuf,
        /// resnet9 | resnet50
        #[arg(long, default_value = "resnet9")]
        backbone: BackboneKind,
        /// Width multiplier of the backbone (1.0 = the paper's network).
        #[arg(long, default_value_t = 1.0)]
        width: f64,
        /// Dense backbone variant (dilated ResNet50, 512·w projection) [default: true on
        /// multi-object datasets].
        #[arg(long)]
        dense: Option<bool>,
        /// flex (CPU, always built) | cuda | wgpu.
        #[arg(long, default_value = "flex")]
        backend: BackendKind,
        /// Seed of initialisation, sample order, augmentation and the method's draws.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Images per step [default: the method's reference batch, 64 for ResNet50].
        #[arg(long)]
        batch_size: Option<usize>,
        /// Optimisation steps [default: 100 passes over the training images, at least 200].
        #[arg(long)]
        steps: Option<u64>,
        /// Peak learning rate [default: the method's reference rate].
        #[arg(long)]
        lr: Option<f64>,
        /// L2 weight decay [default: the method's reference value].
        #[arg(long)]
        weight_decay: Option<f32>,
        /// CMC: negatives per positive (capped at the number of training images - 1).
        #[arg(long, default_value_t = 8192)]
        nce_k: usize,
        /// Largest hue shift of the views' colour jitter, in turns (0..=0.5; 0.5 = any hue)
        /// [default: 0.1]. Raise it on variants with random object colour, where colour tells
        /// images apart and contrastive methods learn it instead of shape.
        #[arg(long, value_name = "TURNS", value_parser = crate::parse_hue)]
        jitter_hue: Option<f64>,
        /// Probe (kNN, online linear heads, linear probe) every N steps [default: steps / 10].
        #[arg(long)]
        eval_every: Option<u64>,
        /// Write a checkpoint every N steps [default: steps / 10, at most 1000].
        #[arg(long)]
        checkpoint_every: Option<u64>,
        /// Continue the run in --out from its checkpoint.
        #[arg(long)]
        resume: bool,
        /// Shard-reading threads.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Shuffle-buffer slots.
        #[arg(long, default_value_t = 4096)]
        shuffle_buffer: usize,
        /// Probe reference (train) and query (validation) images (0: 2000).
        #[arg(long, default_value_t = 0)]
        eval_limit: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// With a `render:` --dataset: pretrain on N distinct scenes (epochs over them)
        /// instead of an endless stream.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        unique_images: Option<u64>,
    }

    pub fn pretrain(a: PretrainArgs) -> anyhow::Result<()> {
        let dataset = trainer::data::render::with_unique_images(
            &a.dataset,
            a.unique_images.map(|n| n as usize),
        )?;
        let mut opts = PretrainOptions::new(dataset, a.out.clone(), a.method);
        opts.backbone = a.backbone;
        opts.width = a.width;
        opts.dense = a.dense;
        opts.backend = a.backend;
        opts.seed = a.seed;
        opts.batch_size = a.batch_size;
        opts.steps = a.steps;
        opts.lr = a.lr;
        opts.weight_decay = a.weight_decay;
        opts.nce_k = a.nce_k.max(1);
        opts.jitter_hue = a.jitter_hue;
        opts.eval_every = a.eval_every;
        opts.checkpoint_every = a.checkpoint_every;
        opts.resume = a.resume;
        opts.workers = a.workers.max(1);
        opts.shuffle_buffer = a.shuffle_buffer.max(1);
        opts.eval_limit = a.eval_limit;
        opts.progress = !a.quiet;
        let m = run_pretrain(&opts).with_context(|| {
            format!(
                "pretraining {} on {} into {}",
                a.method,
                a.dataset.display(),
                a.out.display()
            )
        })?;
        println!(
            "{}: loss {:.4} -> {:.4}; kNN class {:.3}, pose {:.3}; linear class {:.3}, pose {:.3} \
             ({} steps, {:.1} images/s, {:.0} s) -> {}",
            m.method,
            m.first_loss.unwrap_or(f64::NAN),
            m.final_loss.unwrap_or(f64::NAN),
            m.probes.knn_class,
            m.probes.knn_pose,
            m.probes.linear_class,
            m.probes.linear_pose,
            m.steps,
            m.images_per_s,
            m.wall_time_s,
            a.out.join("backbone.bpk").display()
        );
        Ok(())
    }
}
