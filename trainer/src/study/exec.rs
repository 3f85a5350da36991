//! Running a study: the state of each node, running one node in-process, and the executor that
//! runs the graph N nodes at a time.
//!
//! Input: a [`Study`]. Output: finished nodes on disk; an [`ExecSummary`].
//!
//! State of a node, from its files only (so `study status` and a second `study run` agree with
//! whatever happened before, including kills):
//! - **done**: a render whose dataset opens (manifest + every split's index), a run whose
//!   `metrics.json` exists (the trainer writes it atomically, last);
//! - **failed**: `failed.json` (error and log path) and not done;
//! - **running**: `running.json` names a live process;
//! - **interrupted**: `running.json` of a process that is gone, or a checkpoint without
//!   metrics: the next run resumes it;
//! - **missing**: nothing yet.
//!
//! Execution modes ([`ExecMode`]): the `study` binary runs every node as a child process
//! (`study run-one DIR --index I`, stdout and stderr to the node's `log.txt`): a crash, an
//! out-of-memory kill or a panic in one run cannot take the study down, each run has its own
//! log, and the same command is what a Slurm array task runs. Tests and library users can run
//! nodes in-process (threads).

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::graph::NodeSpec;
use super::plan::SCRATCH;
use super::report::{self, ContactSheet, ReportInput, RunRecord, RunTime};
use super::{Study, StudyError, io_err};

/// `running.json`.
pub const RUNNING: &str = "running.json";
/// `failed.json`.
pub const FAILED: &str = "failed.json";
/// `log.txt`.
pub const LOG: &str = "log.txt";
/// `metrics.json` (written by the trainer).
pub const METRICS: &str = "metrics.json";
/// `summary.json` of a render.
pub const RENDER_SUMMARY: &str = "summary.json";

/// What a node's files say.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeState {
    /// Finished.
    Done,
    /// Failed last time.
    Failed {
        /// The error.
        error: String,
        /// Its log.
        log: PathBuf,
    },
    /// A live process is running it.
    Running {
        /// Its pid.
        pid: u32,
    },
    /// Started and stopped without finishing (resumes from its checkpoint).
    Interrupted,
    /// Not started.
    Missing,
}

impl NodeState {
    /// Short name.
    pub fn name(&self) -> &'static str {
        match self {
            NodeState::Done => "done",
            NodeState::Failed { .. } => "failed",
            NodeState::Running { .. } => "running",
            NodeState::Interrupted => "interrupted",
            NodeState::Missing => "missing",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunningFile {
    pid: u32,
    started_unix_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FailedFile {
    error: String,
    log: PathBuf,
}

fn pid_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Whether node `i` is finished.
pub fn is_done(study: &Study, i: usize) -> bool {
    match study.nodes[i].spec {
        NodeSpec::Render { .. } => datasets::Dataset::open(&study.node_dir(i)).is_ok(),
        _ => study.node_dir(i).join(METRICS).is_file(),
    }
}

/// The state of node `i`.
pub fn node_state(study: &Study, i: usize) -> NodeState {
    if is_done(study, i) {
        return NodeState::Done;
    }
    let state = study.state_dir(i);
    if let Ok(bytes) = std::fs::read(state.join(RUNNING))
        && let Ok(r) = serde_json::from_slice::<RunningFile>(&bytes)
    {
        return if pid_alive(r.pid) {
            NodeState::Running { pid: r.pid }
        } else {
            NodeState::Interrupted
        };
    }
    if let Ok(bytes) = std::fs::read(state.join(FAILED))
        && let Ok(f) = serde_json::from_slice::<FailedFile>(&bytes)
    {
        return NodeState::Failed {
            error: f.error,
            log: f.log,
        };
    }
    if crate::training::checkpoint_dir(&study.node_dir(i)).exists() {
        return NodeState::Interrupted;
    }
    NodeState::Missing
}

fn write_small_json<T: Serialize>(path: &Path, v: &T) -> Result<(), StudyError> {
    let bytes = serde_json::to_vec_pretty(v).map_err(|e| StudyError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    crate::write_atomic(path, &bytes).map_err(|e| StudyError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn remove_if_there(path: &Path) -> Result<(), StudyError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StudyError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Records a failure of node `i` in its `failed.json`.
pub fn mark_failed(study: &Study, i: usize, error: &str) -> Result<(), StudyError> {
    let state = study.state_dir(i);
    std::fs::create_dir_all(&state).map_err(io_err(&state))?;
    remove_if_there(&state.join(RUNNING))?;
    write_small_json(
        &state.join(FAILED),
        &FailedFile {
            error: error.to_string(),
            log: state.join(LOG),
        },
    )
}

/// Runs node `i` in this process (what `study run-one` does). A finished node is left alone;
/// an interrupted one resumes from its checkpoint. On failure `failed.json` names the error.
///
/// # Errors
/// The node's error (also written to `failed.json`), or a dependency that is not finished.
pub fn execute_node(study: &Study, i: usize) -> Result<(), StudyError> {
    let node = study.nodes.get(i).ok_or_else(|| StudyError::Invalid {
        path: study.dir.join(super::GRAPH_JSON),
        reason: format!(
            "--index {i}: expected 0..{} (the study has {} nodes)",
            study.nodes.len(),
            study.nodes.len()
        ),
    })?;
    if is_done(study, i) {
        tracing::info!("{} is already done", node.id);
        return Ok(());
    }
    for &d in &node.deps {
        if !is_done(study, d) {
            return Err(StudyError::Node {
                node: node.id.clone(),
                reason: format!(
                    "needs {} ({}), which is not finished",
                    study.nodes[d].id,
                    study.nodes[d].describe()
                ),
            });
        }
    }
    let state = study.state_dir(i);
    std::fs::create_dir_all(&state).map_err(io_err(&state))?;
    remove_if_there(&state.join(FAILED))?;
    write_small_json(
        &state.join(RUNNING),
        &RunningFile {
            pid: std::process::id(),
            started_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        },
    )?;
    tracing::info!("{}: {}", node.id, node.describe());
    let result = run_spec(study, i);
    match &result {
        Ok(()) => remove_if_there(&state.join(RUNNING))?,
        Err(e) => mark_failed(study, i, &e.to_string())?,
    }
    result
}

fn node_err(study: &Study, i: usize, e: impl std::fmt::Display) -> StudyError {
    StudyError::Node {
        node: study.nodes[i].id.clone(),
        reason: e.to_string(),
    }
}

fn run_spec(study: &Study, i: usize) -> Result<(), StudyError> {
    let err = |e: &dyn std::fmt::Display| node_err(study, i, e);
    match &study.nodes[i].spec {
        NodeSpec::Render { spec, .. } => {
            let variant: datasets::Variant = spec.variant.parse().map_err(|e| err(&e))?;
            let scene: datasets::SceneKind = spec.scene.parse().map_err(|e| err(&e))?;
            let mut job = datasets::RenderJob::new(variant, scene, spec.count);
            job.seed = spec.seed;
            job.resolution = spec.resolution;
            job.objects = spec.objects;
            if let Some(s) = spec.shard_size {
                job.shard_size = s;
            }
            if let Some(m) = spec.models_per_class {
                job.models_per_class = m;
            }
            if let Some(t) = spec.textures {
                job.textures = t;
            }
            if let Some(t) = spec.texture_size {
                job.texture_size = t;
            }
            let models: Box<dyn shapenet_loader::ModelSource> = match &spec.shapenet {
                Some(dir) => Box::new(
                    shapenet_loader::ShapeNet::open(dir, shapenet_loader::LoadOptions::default())
                        .map_err(|e| err(&format!("shapenet {}: {e}", dir.display())))?,
                ),
                None => Box::new(shapenet_loader::ProceduralModels::new(1000)),
            };
            let textures = dtd_textures::open_source(spec.dtd.as_deref(), 1000)
                .map_err(|e| err(&format!("dtd: {e}")))?;
            let out = study.node_dir(i);
            let summary =
                datasets::render_dataset(&job, models.as_ref(), textures.as_ref(), &out, &|_| {})
                    .map_err(|e| err(&format!("rendering into {}: {e}", out.display())))?;
            if !summary.merged {
                return Err(err(&format!(
                    "render of {} did not complete: {}",
                    out.display(),
                    summary.merge_note.unwrap_or_default()
                )));
            }
            write_small_json(&study.state_dir(i).join(RENDER_SUMMARY), &summary)
        }
        NodeSpec::Pretrain { .. } => {
            let o = pretrain_options(study, i)?;
            crate::pretrain::run_pretrain(&o).map_err(|e| err(&e))?;
            Ok(())
        }
        NodeSpec::Train { pretrain, .. } => {
            let o = run_options(study, i)?;
            if pretrain.is_some() {
                check_backbone_file(&o.init)?;
            }
            crate::run::run(&o).map_err(|e| err(&e))?;
            Ok(())
        }
        NodeSpec::Linear { .. } => {
            let o = linear_options(study, i)?;
            check_backbone_file(&Some(o.init.clone()))?;
            crate::linear_eval::run_linear_eval(&o).map_err(|e| err(&e))?;
            Ok(())
        }
    }
}

/// The options of pretraining node `i`, as `train pretrain` (and the pretraining step of
/// `train --method M --task T`, [`crate::chain::pretrain_for`]) would get them: the plan's
/// settings, the study's backbone and width, the dense variant when a segmentation or depth run
/// finetunes it. `resume` when the run directory holds a checkpoint.
///
/// # Errors
/// When node `i` is not a pretraining or names an unknown method, backbone or backend.
pub fn pretrain_options(
    study: &Study,
    i: usize,
) -> Result<crate::pretrain::PretrainOptions, StudyError> {
    let err = |e: &dyn std::fmt::Display| node_err(study, i, e);
    let NodeSpec::Pretrain {
        dataset_dir,
        method,
        dense,
        settings,
        seed,
        backbone,
        width,
        backend,
        ..
    } = &study.nodes[i].spec
    else {
        return Err(err(&"not a pretraining node"));
    };
    let out = study.node_dir(i);
    let kind: crate::methods::MethodKind = method.parse().map_err(|e: String| err(&e))?;
    let mut o =
        crate::pretrain::PretrainOptions::new(dataset_arg(study, dataset_dir), out.clone(), kind);
    o.backbone = backbone.parse().map_err(|e: String| err(&e))?;
    o.width = *width;
    o.dense = Some(*dense);
    o.backend = backend.parse().map_err(|e: String| err(&e))?;
    o.seed = *seed;
    o.batch_size = settings.batch_size;
    o.steps = settings.steps;
    o.lr = settings.lr;
    o.weight_decay = settings.weight_decay;
    o.jitter_hue = settings.jitter_hue;
    o.workers = study.plan.finetune.workers.max(1);
    o.progress = false;
    o.resume = has_checkpoint(&out);
    Ok(o)
}

/// The `--dataset` of a node: the dataset directory (relative paths are inside the study
/// directory), or a stream's `render:` spec as it is.
fn dataset_arg(study: &Study, dataset_dir: &Path) -> PathBuf {
    if datasets::live::is_spec(&dataset_dir.to_string_lossy()) {
        dataset_dir.to_path_buf()
    } else {
        study.dataset_dir(dataset_dir)
    }
}

fn has_checkpoint(out: &Path) -> bool {
    crate::training::checkpoint_dir(out).exists() || out.join("checkpoint.old").exists()
}

/// The options of supervised node `i` as `train` gets them. A finetuning node is built the way
/// `train --method M --task T` builds its finetuning ([`crate::chain::finetune_from`]): `init`
/// = the pretraining node's `backbone.bpk` (whose `backbone.json` carries the split flag of CMC
/// and the dense flag), `method` = M and `pretrain` = the pretraining node (see
/// [`pretrain_ref`]), so its metrics.json names both. `resume` when the run directory holds a
/// checkpoint.
///
/// # Errors
/// When node `i` is not a supervised run or names an unknown task, backbone or backend.
pub fn run_options(study: &Study, i: usize) -> Result<crate::run::RunOptions, StudyError> {
    let err = |e: &dyn std::fmt::Display| node_err(study, i, e);
    let NodeSpec::Train {
        dataset_dir,
        task,
        pretrain,
        labels,
        seed,
        steps,
        batch_size,
        lr,
        weight_decay,
        backbone,
        width,
        backend,
        eval_limit,
        ..
    } = &study.nodes[i].spec
    else {
        return Err(err(&"not a supervised (scratch or finetune) node"));
    };
    let out = study.node_dir(i);
    let task: crate::tasks::Task = task.parse().map_err(|e: String| err(&e))?;
    let mut o = crate::run::RunOptions::new(dataset_arg(study, dataset_dir), out.clone(), task);
    o.backbone = backbone.parse().map_err(|e: String| err(&e))?;
    o.width = *width;
    o.labels = crate::data::LabelBudget::Count(*labels);
    o.backend = backend.parse().map_err(|e: String| err(&e))?;
    o.seed = *seed;
    o.batch_size = Some(*batch_size);
    o.steps = Some(*steps);
    if let Some(lr) = lr {
        o.lr = *lr;
    }
    if let Some(wd) = weight_decay {
        o.weight_decay = *wd;
    }
    o.eval_limit = *eval_limit;
    o.workers = study.plan.finetune.workers.max(1);
    o.progress = false;
    o.resume = has_checkpoint(&out);
    Ok(match pretrain {
        Some(id) => crate::chain::finetune_from(&o, &pretrain_ref(study, i, id)?),
        None => o,
    })
}

/// The options of linear-evaluation node `i`, built the way `train --method M --task T --eval
/// linear` builds them ([`crate::chain::linear_from`]): the pretraining node's backbone frozen,
/// all training labels, `train`'s `--linear-*` defaults, `method` and `pretrain` for
/// metrics.json.
///
/// # Errors
/// When node `i` is not a linear evaluation or names an unknown task, backbone or backend.
pub fn linear_options(
    study: &Study,
    i: usize,
) -> Result<crate::linear_eval::LinearEvalOptions, StudyError> {
    let err = |e: &dyn std::fmt::Display| node_err(study, i, e);
    let NodeSpec::Linear {
        dataset_dir,
        task,
        pretrain,
        seed,
        backbone,
        width,
        backend,
        eval_limit,
        ..
    } = &study.nodes[i].spec
    else {
        return Err(err(&"not a linear-evaluation node"));
    };
    let task: crate::tasks::Task = task.parse().map_err(|e: String| err(&e))?;
    let mut o =
        crate::run::RunOptions::new(dataset_arg(study, dataset_dir), study.node_dir(i), task);
    o.backbone = backbone.parse().map_err(|e: String| err(&e))?;
    o.width = *width;
    o.labels = crate::data::LabelBudget::All;
    o.backend = backend.parse().map_err(|e: String| err(&e))?;
    o.seed = *seed;
    o.eval_limit = *eval_limit;
    o.workers = study.plan.finetune.workers.max(1);
    o.progress = false;
    let eval = crate::chain::EvalMode::Linear {
        l2: crate::linear_eval::DEFAULT_L2,
        max_iters: crate::linear_eval::DEFAULT_MAX_ITERS,
        max_pixels: crate::linear_eval::DEFAULT_MAX_PIXELS,
    };
    Ok(crate::chain::linear_from(
        &o,
        &pretrain_ref(study, i, pretrain)?,
        eval,
    ))
}

/// The pretraining node `id` that node `i` starts from, as metrics.json names it: its run
/// directory, `key` = its node id (the study's configuration hash), its method and dataset.
fn pretrain_ref(study: &Study, i: usize, id: &str) -> Result<crate::run::PretrainRef, StudyError> {
    let p = study
        .nodes
        .iter()
        .position(|n| n.id == id && matches!(n.spec, NodeSpec::Pretrain { .. }))
        .ok_or_else(|| {
            node_err(
                study,
                i,
                format!("its pretraining node {id} is not in the graph"),
            )
        })?;
    let NodeSpec::Pretrain {
        dataset_dir,
        method,
        ..
    } = &study.nodes[p].spec
    else {
        return Err(node_err(study, i, "not a pretraining node"));
    };
    Ok(crate::run::PretrainRef {
        dir: study.node_dir(p).display().to_string(),
        key: Some(id.to_string()),
        method: method.clone(),
        dataset: Some(dataset_arg(study, dataset_dir).display().to_string()),
        reused: None,
    })
}

/// The backbone weights a pretraining node wrote must be there.
fn check_backbone_file(init: &Option<PathBuf>) -> Result<(), StudyError> {
    match init {
        Some(p) if !p.is_file() => Err(StudyError::Invalid {
            path: p.clone(),
            reason: "the pretrained backbone is missing".into(),
        }),
        _ => Ok(()),
    }
}

/// How the executor runs nodes.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecMode {
    /// Threads of this process ([`execute_node`]).
    InProcess,
    /// Child processes `EXE run-one DIR --index I`, output to the node's `log.txt`.
    Subprocess {
        /// The `study` executable.
        exe: PathBuf,
    },
}

/// Executor options.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecOptions {
    /// Nodes at once.
    pub jobs: usize,
    /// Mode.
    pub mode: ExecMode,
    /// Progress bar (when stderr is a terminal).
    pub progress: bool,
}

/// What a `study run` did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExecSummary {
    /// Nodes in the graph.
    pub total: usize,
    /// Already finished before this run.
    pub already_done: usize,
    /// Finished in this run (ids).
    pub ran: Vec<String>,
    /// Failed in this run: (id, error, log).
    pub failed: Vec<(String, String, PathBuf)>,
    /// Not run because a dependency failed (ids).
    pub blocked: Vec<String>,
    /// Seconds.
    pub seconds: f64,
}

fn run_child(study: &Study, i: usize, exe: &Path) -> Result<(), StudyError> {
    let state = study.state_dir(i);
    std::fs::create_dir_all(&state).map_err(io_err(&state))?;
    let log_path = state.join(LOG);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io_err(&log_path))?;
    let log2 = log.try_clone().map_err(io_err(&log_path))?;
    let status = std::process::Command::new(exe)
        .arg("run-one")
        .arg(&study.dir)
        .arg("--index")
        .arg(i.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2)
        .status()
        .map_err(|e| node_err(study, i, format!("cannot start {}: {e}", exe.display())))?;
    if status.success() && is_done(study, i) {
        return Ok(());
    }
    let error = match std::fs::read(state.join(FAILED))
        .ok()
        .and_then(|b| serde_json::from_slice::<FailedFile>(&b).ok())
    {
        Some(f) => f.error,
        None => {
            let e = format!("`study run-one` exited with {status}");
            mark_failed(study, i, &e)?;
            e
        }
    };
    Err(node_err(study, i, error))
}

/// Runs every unfinished node, dependencies first, `jobs` at a time. A failed node is recorded
/// (`failed.json`, log path) and the nodes that need it are skipped; the rest go on.
///
/// # Errors
/// Only I/O errors of the study directory; node failures are in the summary.
pub fn run(study: &Study, opts: &ExecOptions) -> Result<ExecSummary, StudyError> {
    let started = Instant::now();
    let n = study.nodes.len();
    let mut done: Vec<bool> = (0..n).map(|i| is_done(study, i)).collect();
    let mut summary = ExecSummary {
        total: n,
        already_done: done.iter().filter(|d| **d).count(),
        ..ExecSummary::default()
    };
    let todo: Vec<usize> = (0..n).filter(|&i| !done[i]).collect();
    if todo.is_empty() {
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    let bar = ProgressBar::new(todo.len() as u64);
    if !(opts.progress && std::io::stderr().is_terminal()) {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs  ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(500));
    let say = |line: String| {
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    let jobs = opts.jobs.max(1);
    let mut started_set: BTreeSet<usize> = BTreeSet::new();
    let mut failed_or_blocked: Vec<bool> = vec![false; n];
    let mut running = 0usize;
    let (tx, rx) = mpsc::channel::<(usize, Result<(), StudyError>, f64)>();
    std::thread::scope(|scope| -> Result<(), StudyError> {
        loop {
            // Skip nodes whose dependencies failed.
            for &i in &todo {
                if !started_set.contains(&i)
                    && !failed_or_blocked[i]
                    && study.nodes[i].deps.iter().any(|&d| failed_or_blocked[d])
                {
                    failed_or_blocked[i] = true;
                    summary.blocked.push(study.nodes[i].id.clone());
                    bar.inc(1);
                }
            }
            while running < jobs {
                let next = todo.iter().copied().find(|&i| {
                    !started_set.contains(&i)
                        && !failed_or_blocked[i]
                        && study.nodes[i].deps.iter().all(|&d| done[d])
                });
                let Some(i) = next else { break };
                started_set.insert(i);
                running += 1;
                let tx = tx.clone();
                let mode = opts.mode.clone();
                scope.spawn(move || {
                    let t = Instant::now();
                    let r = match &mode {
                        ExecMode::InProcess => execute_node(study, i),
                        ExecMode::Subprocess { exe } => run_child(study, i, exe),
                    };
                    let _ = tx.send((i, r, t.elapsed().as_secs_f64()));
                });
            }
            bar.set_message(format!(
                "{} done, {running} running, {} failed",
                summary.ran.len(),
                summary.failed.len()
            ));
            if running == 0 {
                break;
            }
            let Ok((i, result, secs)) = rx.recv() else {
                break;
            };
            running -= 1;
            bar.inc(1);
            let node = &study.nodes[i];
            match result {
                Ok(()) => {
                    done[i] = true;
                    summary.ran.push(node.id.clone());
                    say(format!("done   {} ({secs:.0} s)", node.describe()));
                }
                Err(e) => {
                    failed_or_blocked[i] = true;
                    let log = study.state_dir(i).join(LOG);
                    say(format!(
                        "FAILED {}: {e} (log: {})",
                        node.describe(),
                        log.display()
                    ));
                    summary.failed.push((node.id.clone(), e.to_string(), log));
                }
            }
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// One line per node: index, state, kind, description, directory (`study status`).
pub fn status_table(study: &Study) -> String {
    let mut out = String::new();
    let mut counts: std::collections::BTreeMap<&'static str, usize> = Default::default();
    out.push_str(&format!(
        "{:>5}  {:<11}  {:<8}  {:<60}  {}\n",
        "index", "state", "kind", "what", "directory"
    ));
    for i in 0..study.nodes.len() {
        let node = &study.nodes[i];
        let state = node_state(study, i);
        *counts.entry(state.name()).or_default() += 1;
        let dir = study.node_dir(i);
        let shown = dir
            .strip_prefix(&study.dir)
            .unwrap_or(&dir)
            .display()
            .to_string();
        out.push_str(&format!(
            "{:>5}  {:<11}  {:<8}  {:<60}  {}\n",
            i,
            state.name(),
            node.spec.kind(),
            node.describe(),
            shown
        ));
        if let NodeState::Failed { error, log } = &state {
            out.push_str(&format!(
                "       error: {error}\n       log: {}\n",
                log.display()
            ));
        }
    }
    let parts: Vec<String> = ["done", "running", "failed", "interrupted", "missing"]
        .iter()
        .map(|k| format!("{} {k}", counts.get(k).copied().unwrap_or(0)))
        .collect();
    out.push_str(&format!(
        "{} nodes: {}\n",
        study.nodes.len(),
        parts.join(", ")
    ));
    out
}

fn read_json_value(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The downstream record of a finished Train / Linear node.
fn record_of(study: &Study, i: usize) -> Option<RunRecord> {
    let node = &study.nodes[i];
    let dir = study.node_dir(i);
    let m = read_json_value(&dir.join(METRICS))?;
    let metric = m.get("metric")?.as_str()?.to_string();
    let get = |split: &str| {
        m.get(split)
            .and_then(|s| s.get(&metric))
            .and_then(|v| v.as_f64())
            .unwrap_or(f64::NAN)
    };
    let (test, val) = (get("test"), get("val"));
    let variant = study
        .plan
        .dataset(node.spec.dataset())
        .map(|d| d.facts.variant.clone())
        .unwrap_or_default();
    let rel = dir
        .strip_prefix(&study.dir)
        .unwrap_or(&dir)
        .display()
        .to_string();
    match &node.spec {
        NodeSpec::Train {
            dataset,
            task,
            method,
            pretrain_dataset,
            labels,
            seed,
            ..
        } => Some(RunRecord {
            kind: if method == SCRATCH {
                "scratch"
            } else {
                "finetune"
            }
            .into(),
            dataset: dataset.clone(),
            variant,
            task: task.clone(),
            method: method.clone(),
            pretrain_dataset: pretrain_dataset.clone().filter(|p| p != dataset),
            labels: *labels,
            seed: *seed,
            metric,
            test,
            val,
            run_dir: rel,
        }),
        NodeSpec::Linear {
            dataset,
            task,
            method,
            seed,
            ..
        } => Some(RunRecord {
            kind: "linear".into(),
            dataset: dataset.clone(),
            variant,
            task: task.clone(),
            method: method.clone(),
            pretrain_dataset: None,
            labels: m
                .get("labelled_samples")
                .and_then(|v| v.as_u64())
                .map(|v| v as usize)
                .unwrap_or(0),
            seed: *seed,
            metric,
            test,
            val,
            run_dir: rel,
        }),
        _ => None,
    }
}

fn seconds_of(study: &Study, i: usize) -> Option<f64> {
    match study.nodes[i].spec {
        NodeSpec::Render { .. } => {
            let s = read_json_value(&study.state_dir(i).join(RENDER_SUMMARY))?;
            Some(
                s.get("asset_seconds")?.as_f64().unwrap_or(0.0)
                    + s.get("render_seconds")?.as_f64().unwrap_or(0.0),
            )
        }
        _ => read_json_value(&study.node_dir(i).join(METRICS))?
            .get("wall_time_s")?
            .as_f64(),
    }
}

/// Collects the finished runs and writes `DIR/report/`.
pub(crate) fn write_study_report(study: &Study) -> Result<report::ReportOutput, StudyError> {
    let out = study.dir.join("report");
    std::fs::create_dir_all(&out).map_err(io_err(&out))?;
    let mut records = Vec::new();
    let mut times = Vec::new();
    let mut notes = Vec::new();
    let mut not_done = 0usize;
    for i in 0..study.nodes.len() {
        let node = &study.nodes[i];
        let state = node_state(study, i);
        if state == NodeState::Done {
            if let Some(r) = record_of(study, i) {
                records.push(r);
            }
        } else {
            not_done += 1;
        }
        if let NodeState::Failed { error, log } = &state {
            notes.push(format!(
                "failed: {}: {error} (log: {})",
                node.describe(),
                log.display()
            ));
        }
        times.push(RunTime {
            id: node.id.clone(),
            kind: node.spec.kind().into(),
            state: state.name().into(),
            seconds: seconds_of(study, i),
        });
    }
    if not_done > 0 {
        notes.insert(
            0,
            format!(
                "{not_done} of {} nodes are not finished: the numbers cover the finished ones",
                study.nodes.len()
            ),
        );
    }
    // Contact sheets of the datasets that exist (a stream has none on disk).
    let sheet_dir = out.join("sheets");
    let mut sheets = Vec::new();
    for d in &study.plan.datasets {
        let dir = match &d.source {
            super::plan::DatasetSource::Existing(dir) => dir.clone(),
            super::plan::DatasetSource::Stream { .. } => continue,
            super::plan::DatasetSource::Render { .. } => {
                match study.nodes.iter().position(
                    |n| matches!(&n.spec, NodeSpec::Render { dataset, .. } if *dataset == d.name),
                ) {
                    Some(i) => study.node_dir(i),
                    None => continue,
                }
            }
        };
        if datasets::Dataset::open(&dir).is_err() {
            continue;
        }
        let scale = (96 / d.facts.resolution.max(1)).max(1);
        let png = sheet_dir.join(format!("{}.png", d.name));
        let made = std::fs::create_dir_all(&sheet_dir)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                datasets::inspect::contact_sheet(&dir, datasets::Split::Train, 8, 4, scale)
                    .map_err(|e| e.to_string())
            })
            .and_then(|img| datasets::inspect::write_png(&png, &img).map_err(|e| e.to_string()))
            .and_then(|()| std::fs::read(&png).map_err(|e| e.to_string()));
        match made {
            Ok(bytes) => sheets.push(ContactSheet {
                dataset: d.name.clone(),
                caption: format!(
                    "{} {}-object {} px, {} training images",
                    d.facts.variant, d.facts.scene, d.facts.resolution, d.facts.train
                ),
                png: bytes,
            }),
            Err(e) => notes.push(format!("contact sheet of {}: {e}", d.name)),
        }
    }
    let input = ReportInput {
        title: format!("Study: {}", study.plan.name),
        plan_text: study.plan_text.clone(),
        mode: study.plan.utility,
        records,
        times,
        sheets,
        notes,
        seed: 0,
    };
    Ok(report::write_report(&out, &input)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{finetune_from, pretrain_for};
    use crate::run::RunOptions;

    /// Every method, every task (the dataset lists them all explicitly), linear evaluation.
    const PLAN: &str = r#"
methods = ["supervised", "vae", "rotation", "cmc", "amdim", "simclr", "byol"]
tasks = ["classification", "pose", "segmentation", "depth"]
budgets = [100, 200]
width = 0.25
linear_eval = true
[finetune]
schedule = "fixed"
steps = 5
[pretrain]
steps = 7
[pretrain.method.cmc]
batch_size = 32
[[dataset]]
name = "a"
tasks = ["classification", "pose", "segmentation", "depth"]
render = { variant = "--V-", count = 600, resolution = 32 }
"#;

    fn study(dir: &Path) -> Study {
        let plan = dir.join("p.toml");
        std::fs::write(&plan, PLAN).expect("write the plan");
        Study::create(&plan, &dir.join("study")).expect("create the study")
    }

    fn pretrain_index(study: &Study, id: &str) -> usize {
        study
            .nodes
            .iter()
            .position(|n| n.id == id)
            .expect("pretraining node")
    }

    #[test]
    fn finetune_nodes_get_the_options_of_the_train_method_task_chain() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let study = study(tmp.path());
        let mut pairs = BTreeSet::new();
        for (i, node) in study.nodes.iter().enumerate() {
            let NodeSpec::Train {
                pretrain, method, ..
            } = &node.spec
            else {
                continue;
            };
            let ft = run_options(&study, i).expect("run options");
            let Some(id) = pretrain else {
                assert_eq!((ft.init.as_ref(), ft.method.as_str()), (None, SCRATCH));
                assert!(ft.pretrain.is_none());
                continue;
            };
            let p = pretrain_index(&study, id);
            let pre = pretrain_options(&study, p).expect("pretrain options");
            // The pretraining is the one `train --method M --task T` runs for this finetuning:
            // same method, backbone, width, and the dense variant exactly for dense tasks.
            assert_eq!(pretrain_for(&pre, &ft), pre, "{}", node.id);
            assert_eq!(pre.method.name(), method);
            // init / method / pretrain set as the chain sets them.
            let mut base: RunOptions = ft.clone();
            base.init = None;
            base.method = SCRATCH.into();
            base.pretrain = None;
            let r = ft.pretrain.clone().expect("pretrain ref");
            let chained = finetune_from(&base, &r);
            assert_eq!(
                (&chained.init, &chained.method, &chained.pretrain),
                (&ft.init, &ft.method, &ft.pretrain)
            );
            assert_eq!(ft.init, Some(study.node_dir(p).join("backbone.bpk")));
            assert_eq!(
                (r.method.as_str(), r.key.as_deref(), r.dir.as_str()),
                (
                    method.as_str(),
                    Some(id.as_str()),
                    study.node_dir(p).display().to_string().as_str()
                )
            );
            pairs.insert((method.clone(), ft.task.name().to_string()));
        }
        assert_eq!(
            pairs.len(),
            6 * 4,
            "every method with every task: {pairs:?}"
        );
    }

    #[test]
    fn linear_nodes_get_the_options_of_train_eval_linear() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let study = study(tmp.path());
        let mut methods = BTreeSet::new();
        for (i, node) in study.nodes.iter().enumerate() {
            let NodeSpec::Linear {
                pretrain, method, ..
            } = &node.spec
            else {
                assert!(linear_options(&study, i).is_err());
                continue;
            };
            let le = linear_options(&study, i).expect("linear options");
            let p = pretrain_index(&study, pretrain);
            let pre = pretrain_options(&study, p).expect("pretrain options");
            let mut ft = RunOptions::new(le.dataset.clone(), le.out.clone(), le.task);
            ft.backbone = le.backbone;
            ft.width = le.width;
            assert_eq!(pretrain_for(&pre, &ft), pre, "{}", node.id);
            assert_eq!(le.init, study.node_dir(p).join("backbone.bpk"));
            assert_eq!(le.labels, crate::data::LabelBudget::All);
            assert_eq!(
                (le.l2, le.max_iters, le.max_pixels),
                (
                    crate::linear_eval::DEFAULT_L2,
                    crate::linear_eval::DEFAULT_MAX_ITERS,
                    crate::linear_eval::DEFAULT_MAX_PIXELS
                )
            );
            let (m, r) = le.provenance.clone().expect("provenance");
            let r = r.expect("pretrain ref");
            assert_eq!(
                (m.as_str(), r.method.as_str(), r.key.as_deref()),
                (method.as_str(), method.as_str(), Some(pretrain.as_str()))
            );
            methods.insert(method.clone());
        }
        assert_eq!(methods.len(), 6);
    }
}
