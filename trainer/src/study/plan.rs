//! The study plan: a TOML file naming datasets, methods, tasks, label budgets, seeds and the
//! step schedule, parsed with serde and validated before anything runs.
//!
//! Input: the plan file's text (and, through a [`DatasetProbe`], the manifests of datasets that
//! already exist). Output: a [`Plan`] with every name checked and every default filled in, or a
//! [`PlanError`] naming the file, the key and what was expected.
//!
//! ```toml
//! name = "mini"
//! methods = ["supervised", "rotation", "simclr"]   # supervised = from scratch
//! tasks = ["classification", "segmentation"]
//! budgets = [100, 250, 1000, 4000]                  # default: 100 ... 200000, capped at the split
//! seeds = [0]
//! backbone = "resnet9"
//! width = 0.25
//! backend = "flex"
//! linear_eval = true                                # Table 1 (classification datasets)
//! utility = "log"                                   # or "paper"
//!
//! [finetune]
//! schedule = "default"                              # paper | default | fixed
//! scale = 0.1                                       # multiplies the schedule's steps
//!
//! [pretrain]
//! steps = 400
//! [pretrain.method.rotation]
//! lr = 5e-4
//!
//! [[dataset]]
//! name = "single-TCVL"
//! render = { variant = "TCVL", scene = "single", count = 6000, resolution = 32 }
//!
//! [[dataset]]
//! name = "endless"
//! stream = "render:----,res=32"                     # rendered while training, nothing on disk
//! unique_images = 20000                             # scenes of the pretraining runs (optional)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Pretraining methods a plan may name (`supervised` is training from scratch: no pretraining).
pub const METHODS: [&str; 8] = [
    "supervised",
    "vae",
    "rotation",
    "cmc",
    "amdim",
    "simclr",
    "byol",
    "barlow",
];
/// The from-scratch baseline's method name.
pub const SCRATCH: &str = "supervised";
/// Downstream tasks.
pub const TASKS: [&str; 4] = ["classification", "pose", "segmentation", "depth"];
/// Label budgets when a plan names none (capped at the train split).
pub const DEFAULT_BUDGETS: [usize; 8] = [100, 250, 1000, 4000, 20000, 50000, 100000, 200000];
/// Backbones.
pub const BACKBONES: [&str; 2] = ["resnet9", "resnet50"];
/// Backends.
pub const BACKENDS: [&str; 3] = ["flex", "cuda", "wgpu"];

/// What went wrong with a plan file.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The plan file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has keys of the wrong type / unknown keys.
    #[error("{path}: {message}")]
    Syntax {
        /// The plan file.
        path: PathBuf,
        /// toml's message (with line, column and key).
        message: String,
    },
    /// A key has a value the study cannot use.
    #[error("{path}: {key} = {value}: expected {expected}")]
    Invalid {
        /// The plan file.
        path: PathBuf,
        /// Dotted key (`dataset[1].render.variant`).
        key: String,
        /// The value found.
        value: String,
        /// What would be accepted.
        expected: String,
    },
}

/// `[[dataset]]`: an existing directory, or a render spec, or both (render into `dir` when it
/// holds no dataset yet), or scenes rendered while training (`stream`, nothing on disk).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetEntry {
    /// Unique short name (used in run directory names and figure legends).
    pub name: String,
    /// Dataset directory, relative to the plan file.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// How to render it when `dir` is missing or not given.
    #[serde(default)]
    pub render: Option<RenderSpec>,
    /// Scenes rendered while training: a `render:VARIANT[,key=value...]` spec, as
    /// `train --dataset` takes it (no render node, nothing written to disk).
    #[serde(default)]
    pub stream: Option<String>,
    /// With `stream`: distinct scenes of the pretraining runs (`--unique-images`); the
    /// supervised runs use the spec as given.
    #[serde(default)]
    pub unique_images: Option<usize>,
    /// Tasks on this dataset (default: the plan's tasks that fit its scene).
    #[serde(default)]
    pub tasks: Option<Vec<String>>,
}

/// What `study` renders with the `datasets` crate when a dataset is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderSpec {
    /// Variant (`----` ... `TCVL`).
    pub variant: String,
    /// `single` or `multi`.
    #[serde(default = "default_scene")]
    pub scene: String,
    /// Images over all splits (85% train).
    pub count: usize,
    /// Image side (default 64 single, 128 multi).
    #[serde(default)]
    pub resolution: Option<u32>,
    /// Dataset seed.
    #[serde(default)]
    pub seed: u64,
    /// Objects per multi-object image (0: the default 4).
    #[serde(default)]
    pub objects: usize,
    /// Samples per shard (default: the `render` command's).
    #[serde(default)]
    pub shard_size: Option<usize>,
    /// ShapeNetCore directory (default: embedded procedural meshes), relative to the plan.
    #[serde(default)]
    pub shapenet: Option<PathBuf>,
    /// DTD directory (default: embedded procedural textures), relative to the plan.
    #[serde(default)]
    pub dtd: Option<PathBuf>,
    /// Models per class and asset split in the render pool (default: the `render` command's).
    #[serde(default)]
    pub models_per_class: Option<usize>,
    /// Train textures in the render pool (default: the `render` command's).
    #[serde(default)]
    pub textures: Option<usize>,
    /// Side of the texture tiles, a power of two (default: the `render` command's).
    #[serde(default)]
    pub texture_size: Option<u32>,
}

fn default_scene() -> String {
    "single".into()
}

/// `[[transfer]]`: pretrain on one dataset, finetune on another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferEntry {
    /// Dataset name the methods are pretrained on.
    pub pretrain_on: String,
    /// Dataset name they are finetuned (and the baseline trained) on.
    pub finetune_on: String,
}

/// `[finetune]`: the supervised runs (scratch and finetuned).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneSection {
    /// `paper`, `default` or `fixed`.
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// Steps of the `fixed` schedule.
    #[serde(default)]
    pub steps: Option<u64>,
    /// Multiplies the schedule's steps (quick studies).
    #[serde(default = "one")]
    pub scale: f64,
    /// Fewest steps after scaling.
    #[serde(default = "one_u64")]
    pub min_steps: u64,
    /// Images per step (default: the trainer's per task and backbone).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Peak learning rate (default: the trainer's).
    #[serde(default)]
    pub lr: Option<f64>,
    /// Weight decay (default: the trainer's).
    #[serde(default)]
    pub weight_decay: Option<f32>,
    /// Evaluate on at most this many validation/test samples (0: all).
    #[serde(default)]
    pub eval_limit: usize,
    /// Shard-reading threads per run.
    #[serde(default = "two")]
    pub workers: usize,
}

impl Default for FinetuneSection {
    fn default() -> Self {
        Self {
            schedule: default_schedule(),
            steps: None,
            scale: 1.0,
            min_steps: 1,
            batch_size: None,
            lr: None,
            weight_decay: None,
            eval_limit: 0,
            workers: 2,
        }
    }
}

fn default_schedule() -> String {
    "default".into()
}
fn one() -> f64 {
    1.0
}
fn one_u64() -> u64 {
    1
}
fn two() -> usize {
    2
}

/// Settings of a pretraining run (all optional: the pretraining code's defaults otherwise).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainSettings {
    /// Optimisation steps.
    #[serde(default)]
    pub steps: Option<u64>,
    /// Images per step.
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Peak learning rate.
    #[serde(default)]
    pub lr: Option<f64>,
    /// Weight decay.
    #[serde(default)]
    pub weight_decay: Option<f32>,
    /// Largest hue shift of the views' colour jitter in turns (`--jitter-hue`); left out of
    /// the node configuration when unset, so plans without it keep their node ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_hue: Option<f64>,
}

impl PretrainSettings {
    /// `self` with the keys `over` sets replaced.
    pub fn overridden_by(&self, over: &PretrainSettings) -> PretrainSettings {
        PretrainSettings {
            steps: over.steps.or(self.steps),
            batch_size: over.batch_size.or(self.batch_size),
            lr: over.lr.or(self.lr),
            weight_decay: over.weight_decay.or(self.weight_decay),
            jitter_hue: over.jitter_hue.or(self.jitter_hue),
        }
    }
}

/// `[pretrain]`: shared settings and per-method overrides (`[pretrain.method.NAME]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainSection {
    /// Steps for every method.
    #[serde(default)]
    pub steps: Option<u64>,
    /// Batch size for every method.
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Peak learning rate for every method.
    #[serde(default)]
    pub lr: Option<f64>,
    /// Weight decay for every method.
    #[serde(default)]
    pub weight_decay: Option<f32>,
    /// Largest hue shift of the views' colour jitter for every method.
    #[serde(default)]
    pub jitter_hue: Option<f64>,
    /// Seed of the pretraining runs (one pretrained model per method and dataset).
    #[serde(default)]
    pub seed: u64,
    /// Per-method overrides.
    #[serde(default)]
    pub method: BTreeMap<String, PretrainSettings>,
}

/// The plan file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// Study name (report title).
    #[serde(default)]
    pub name: Option<String>,
    /// Methods; `supervised` (the from-scratch baseline) is added when missing.
    pub methods: Vec<String>,
    /// Tasks.
    pub tasks: Vec<String>,
    /// Label budgets (default [`DEFAULT_BUDGETS`] capped at each dataset's train split).
    #[serde(default)]
    pub budgets: Option<Vec<usize>>,
    /// Seeds of the supervised runs.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Backbone.
    #[serde(default = "default_backbone")]
    pub backbone: String,
    /// Width multiplier.
    #[serde(default = "one")]
    pub width: f64,
    /// Backend.
    #[serde(default = "default_backend")]
    pub backend: String,
    /// Linear evaluation (Table 1) of every method on the classification datasets.
    #[serde(default)]
    pub linear_eval: bool,
    /// Utility interpolation: `log` or `paper`.
    #[serde(default = "default_utility")]
    pub utility: String,
    /// Finetuning / scratch settings.
    #[serde(default)]
    pub finetune: FinetuneSection,
    /// Pretraining settings.
    #[serde(default)]
    pub pretrain: PretrainSection,
    /// Datasets.
    #[serde(default, rename = "dataset")]
    pub datasets: Vec<DatasetEntry>,
    /// Cross-dataset pairs.
    #[serde(default, rename = "transfer")]
    pub transfers: Vec<TransferEntry>,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}
fn default_backbone() -> String {
    "resnet9".into()
}
fn default_backend() -> String {
    "flex".into()
}
fn default_utility() -> String {
    "log".into()
}

/// How the supervised runs' step counts follow the label count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ScheduleKind {
    /// The original code: [`paper_steps`].
    Paper,
    /// Today's `train` default ([`crate::training::default_steps`]).
    Default,
    /// The same number of steps for every budget.
    Fixed {
        /// Steps.
        steps: u64,
    },
}

/// A step schedule: kind, scale and floor. Depends only on n and the batch size, so scratch and
/// finetuned runs at the same n get the same steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepSchedule {
    /// Kind.
    pub kind: ScheduleKind,
    /// Multiplier of the kind's steps.
    pub scale: f64,
    /// Fewest steps after scaling.
    pub min_steps: u64,
}

impl StepSchedule {
    /// Steps for `n` labelled samples at `batch` images per step.
    pub fn steps(&self, n: usize, batch: usize) -> u64 {
        let base = match self.kind {
            ScheduleKind::Paper => paper_steps(n, batch),
            ScheduleKind::Default => crate::training::default_steps(n, batch),
            ScheduleKind::Fixed { steps } => steps,
        };
        ((base as f64 * self.scale).round() as u64).max(self.min_steps.max(1))
    }
}

/// Images per epoch of the original finetuning code: the labelled set repeated (whole copies) to
/// at least 10,000 images (20,000 from n = 4,000 on), capped at 50,000.
pub fn paper_epoch_images(n: usize) -> usize {
    let n = n.max(1);
    let min: usize = if n >= 4000 { 20_000 } else { 10_000 };
    (n * min.div_ceil(n)).min(50_000)
}

/// Epochs of the original finetuning code: 200 below 20,000 labels, 600 from 20,000.
pub fn paper_epochs(n: usize) -> u64 {
    if n < 20_000 { 200 } else { 600 }
}

/// Steps of the `paper` schedule: `epochs(n) * ceil(epoch_images(n) / batch)`. At batch 512:
/// 4,000 steps for 100-1,000 labels, 8,000 for 4,000, 24,000 for 20,000, 58,800 from 50,000.
pub fn paper_steps(n: usize, batch: usize) -> u64 {
    paper_epochs(n) * paper_epoch_images(n).div_ceil(batch.max(1)) as u64
}

/// Utility interpolation of the scratch baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UtilityMode {
    /// Running-maximum baseline, piecewise linear in log n.
    Log,
    /// The original analysis: linear in raw n between the bracketing scratch budgets.
    Paper,
}

impl UtilityMode {
    /// Name in the plan and the report.
    pub fn name(self) -> &'static str {
        match self {
            UtilityMode::Log => "log",
            UtilityMode::Paper => "paper",
        }
    }
}

/// Facts about a dataset that validation needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetFacts {
    /// Variant.
    pub variant: String,
    /// `single` or `multi`.
    pub scene: String,
    /// Image side.
    pub resolution: u32,
    /// Train split size.
    pub train: usize,
}

/// Reads existing datasets and predicts rendered ones (the study module implements it on the
/// `datasets` crate; tests use fakes).
pub trait DatasetProbe {
    /// Facts of the dataset in `dir`: `Ok(None)` when there is no dataset there (no manifest),
    /// `Err` when there is one that cannot be read.
    fn existing(&self, dir: &Path) -> Result<Option<DatasetFacts>, String>;
    /// Train split size of a rendered dataset of `count` images.
    fn train_split(&self, count: usize) -> usize;
    /// Default image side of a scene.
    fn default_resolution(&self, scene: &str) -> u32;
}

/// Where a dataset comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetSource {
    /// A directory that already holds it.
    Existing(PathBuf),
    /// Rendered by the study, into `dir` (`None`: under the study directory).
    Render {
        /// Target directory given in the plan (absolute).
        dir: Option<PathBuf>,
        /// What to render (asset paths absolute).
        spec: RenderSpec,
    },
    /// Rendered while training (`render:` spec), never written to disk.
    Stream {
        /// The spec of the supervised and linear runs (asset paths absolute).
        spec: String,
        /// The spec of the pretraining runs: `spec` with the plan's `unique_images`.
        pretrain: String,
    },
}

/// A validated dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetPlan {
    /// Name.
    pub name: String,
    /// Source.
    pub source: DatasetSource,
    /// Variant, scene, resolution, train size.
    pub facts: DatasetFacts,
    /// Tasks run on it.
    pub tasks: Vec<String>,
    /// Label budgets (ascending, each at most the train split).
    pub budgets: Vec<usize>,
}

/// A validated plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Plan file.
    pub path: PathBuf,
    /// Study name.
    pub name: String,
    /// Methods (the baseline first).
    pub methods: Vec<String>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Backbone.
    pub backbone: String,
    /// Width.
    pub width: f64,
    /// Backend.
    pub backend: String,
    /// Linear evaluation.
    pub linear_eval: bool,
    /// Utility mode.
    pub utility: UtilityMode,
    /// Step schedule of the supervised runs.
    pub schedule: StepSchedule,
    /// Finetuning settings as written.
    pub finetune: FinetuneSection,
    /// Pretraining settings as written.
    pub pretrain: PretrainSection,
    /// Datasets.
    pub datasets: Vec<DatasetPlan>,
    /// Transfer pairs.
    pub transfers: Vec<TransferEntry>,
}

impl Plan {
    /// The dataset called `name`.
    pub fn dataset(&self, name: &str) -> Option<&DatasetPlan> {
        self.datasets.iter().find(|d| d.name == name)
    }

    /// The pretraining settings of `method`.
    pub fn pretrain_settings(&self, method: &str) -> PretrainSettings {
        let base = PretrainSettings {
            steps: self.pretrain.steps,
            batch_size: self.pretrain.batch_size,
            lr: self.pretrain.lr,
            weight_decay: self.pretrain.weight_decay,
            jitter_hue: self.pretrain.jitter_hue,
        };
        match self.pretrain.method.get(method) {
            Some(over) => base.overridden_by(over),
            None => base,
        }
    }
}

/// Scene a task needs: classification and pose on single-object images, the dense tasks on
/// multi-object images.
pub fn task_scene(task: &str) -> &'static str {
    match task {
        "segmentation" | "depth" => "multi",
        _ => "single",
    }
}

/// Whether `v` is a variant name: four characters T, C, V, L in that order, `-` where off.
pub fn is_variant(v: &str) -> bool {
    let c: Vec<char> = v.chars().collect();
    c.len() == 4
        && ['T', 'C', 'V', 'L']
            .iter()
            .zip(&c)
            .all(|(want, got)| got == want || *got == '-')
}

/// Reads and validates a plan file.
///
/// # Errors
/// [`PlanError`] naming the file, the key and what was expected.
pub fn load(path: &Path, probe: &dyn DatasetProbe) -> Result<Plan, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path, probe)
}

/// Parses and validates plan text; `path` names the file in errors and anchors relative paths.
///
/// # Errors
/// [`PlanError`] naming the file, the key and what was expected.
pub fn parse(text: &str, path: &Path, probe: &dyn DatasetProbe) -> Result<Plan, PlanError> {
    let file: PlanFile = toml::from_str(text).map_err(|e| PlanError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })?;
    validate(file, path, probe)
}

struct Checker<'a> {
    path: &'a Path,
}

impl Checker<'_> {
    fn err(
        &self,
        key: impl Into<String>,
        value: impl std::fmt::Display,
        expected: &str,
    ) -> PlanError {
        PlanError::Invalid {
            path: self.path.to_path_buf(),
            key: key.into(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    fn one_of(&self, key: &str, value: &str, allowed: &[&str]) -> Result<(), PlanError> {
        if allowed.contains(&value) {
            Ok(())
        } else {
            Err(self.err(
                key,
                format!("\"{value}\""),
                &format!("one of {}", allowed.join(", ")),
            ))
        }
    }
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Paths of a `render:` spec (`shapenet=`, `mesh-cache=`, `dtd=`) made absolute against the
/// plan's directory, as every other path of a plan is; the rest of the text is kept as given.
fn absolute_spec_paths(text: &str, base: &Path) -> String {
    let mut items = text.split(',');
    let mut out = vec![items.next().unwrap_or("").to_string()];
    for item in items {
        let rewritten = item.split_once('=').and_then(|(k, v)| {
            let field = k.trim().to_ascii_lowercase().replace('_', "-");
            let v = v.trim();
            (["shapenet", "mesh-cache", "dtd"].contains(&field.as_str())
                && !v.is_empty()
                && Path::new(v).is_relative())
            .then(|| format!("{}={}", k.trim(), base.join(v).display()))
        });
        out.push(rewritten.unwrap_or_else(|| item.to_string()));
    }
    out.join(",")
}

/// Validates `dataset[i].stream` (and `unique_images`): the source, the facts, and whether the
/// supervised runs' stream is endless (no `unique=`: label budgets are not capped).
fn stream_source(
    c: &Checker,
    i: usize,
    text: &str,
    unique_images: Option<usize>,
    base: &Path,
    methods: &[String],
) -> Result<(DatasetSource, DatasetFacts, bool), PlanError> {
    use datasets::live::RenderSpec as LiveSpec;
    let key = |k: &str| format!("dataset[{i}].{k}");
    let spec = LiveSpec::parse(&absolute_spec_paths(text.trim(), base)).map_err(|e| {
        c.err(
            key("stream"),
            format!("\"{text}\""),
            &format!(
                "a render spec `render:VARIANT[,key=value...]` (docs/cli-train.md); field `{}`: {}",
                e.field, e.problem
            ),
        )
    })?;
    let pretrain = match unique_images {
        None => spec.text.clone(),
        Some(0) => return Err(c.err(key("unique_images"), 0, "at least 1 distinct scene")),
        Some(n) => LiveSpec::with_unique(&spec.text, n).map_err(|_| {
            c.err(
                key("unique_images"),
                n,
                &format!(
                    "the stream's own unique={} or no unique_images key",
                    spec.unique.unwrap_or(0)
                ),
            )
        })?,
    };
    if methods.iter().any(|m| m == "cmc") && spec.unique.is_none() && unique_images.is_none() {
        return Err(c.err(
            key("unique_images"),
            "(missing)",
            "a number of distinct scenes: method cmc keeps a memory-bank row per image, so it \
             cannot pretrain on an endless stream",
        ));
    }
    let facts = DatasetFacts {
        variant: spec.job.variant.to_string(),
        scene: spec.job.scene.to_string(),
        resolution: spec.resolution(),
        train: spec.unique.unwrap_or_else(|| spec.train_count()),
    };
    let endless = spec.unique.is_none();
    Ok((
        DatasetSource::Stream {
            spec: spec.text,
            pretrain,
        },
        facts,
        endless,
    ))
}

fn validate(file: PlanFile, path: &Path, probe: &dyn DatasetProbe) -> Result<Plan, PlanError> {
    let c = Checker { path };
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();

    // Names.
    if file.methods.is_empty() {
        return Err(c.err("methods", "[]", "at least one method"));
    }
    let mut methods = vec![SCRATCH.to_string()];
    for (i, m) in file.methods.iter().enumerate() {
        c.one_of(&format!("methods[{i}]"), m, &METHODS)?;
        if !methods.contains(m) {
            methods.push(m.clone());
        }
    }
    if file.tasks.is_empty() {
        return Err(c.err("tasks", "[]", "at least one task"));
    }
    let mut tasks: Vec<String> = Vec::new();
    for (i, t) in file.tasks.iter().enumerate() {
        c.one_of(&format!("tasks[{i}]"), t, &TASKS)?;
        if !tasks.contains(t) {
            tasks.push(t.clone());
        }
    }
    c.one_of("backbone", &file.backbone, &BACKBONES)?;
    c.one_of("backend", &file.backend, &BACKENDS)?;
    c.one_of("utility", &file.utility, &["log", "paper"])?;
    let utility = if file.utility == "paper" {
        UtilityMode::Paper
    } else {
        UtilityMode::Log
    };
    if !(file.width > 0.0 && file.width.is_finite()) {
        return Err(c.err("width", file.width, "a positive number"));
    }
    if file.seeds.is_empty() {
        return Err(c.err("seeds", "[]", "at least one seed"));
    }
    let mut seeds = file.seeds.clone();
    seeds.sort_unstable();
    seeds.dedup();

    // Budgets as written.
    if let Some(b) = &file.budgets {
        if b.is_empty() {
            return Err(c.err("budgets", "[]", "at least one label budget (or no key)"));
        }
        for (i, &n) in b.iter().enumerate() {
            if n == 0 {
                return Err(c.err(format!("budgets[{i}]"), n, "a positive number of labels"));
            }
        }
    }

    // Schedule.
    let f = &file.finetune;
    c.one_of(
        "finetune.schedule",
        &f.schedule,
        &["paper", "default", "fixed"],
    )?;
    let kind = match f.schedule.as_str() {
        "paper" => ScheduleKind::Paper,
        "default" => ScheduleKind::Default,
        _ => match f.steps {
            Some(s) if s > 0 => ScheduleKind::Fixed { steps: s },
            other => {
                return Err(c.err(
                    "finetune.steps",
                    other.map_or("(missing)".to_string(), |s| s.to_string()),
                    "a positive number of steps with schedule = \"fixed\"",
                ));
            }
        },
    };
    if f.steps.is_some() && !matches!(kind, ScheduleKind::Fixed { .. }) {
        return Err(c.err(
            "finetune.steps",
            f.steps.unwrap_or(0),
            "no steps key unless schedule = \"fixed\" (use scale to shorten paper/default)",
        ));
    }
    if !(f.scale > 0.0 && f.scale.is_finite()) {
        return Err(c.err("finetune.scale", f.scale, "a positive number"));
    }
    if f.batch_size == Some(0) {
        return Err(c.err("finetune.batch_size", 0, "at least 1"));
    }
    if let Some(lr) = f.lr
        && !(lr > 0.0 && lr.is_finite())
    {
        return Err(c.err("finetune.lr", lr, "a positive number"));
    }
    if f.workers == 0 {
        return Err(c.err("finetune.workers", 0, "at least 1"));
    }
    let schedule = StepSchedule {
        kind,
        scale: f.scale,
        min_steps: f.min_steps.max(1),
    };

    // Pretraining.
    let check_hue = |key: String, hue: Option<f64>| match hue
        .filter(|h| !crate::augment::HUE_RANGE.contains(h))
    {
        Some(h) => Err(c.err(key, h, "a hue shift in turns from 0 to 0.5")),
        None => Ok(()),
    };
    for (m, s) in &file.pretrain.method {
        let key = format!("pretrain.method.{m}");
        c.one_of(&key, m, &METHODS[1..])?;
        if !methods.contains(m) {
            return Err(c.err(&key, format!("\"{m}\""), "a method listed in `methods`"));
        }
        if s.steps == Some(0) || s.batch_size == Some(0) {
            return Err(c.err(key, "0", "steps and batch_size of at least 1"));
        }
        check_hue(format!("{key}.jitter_hue"), s.jitter_hue)?;
    }
    check_hue("pretrain.jitter_hue".into(), file.pretrain.jitter_hue)?;
    if file.pretrain.steps == Some(0) {
        return Err(c.err("pretrain.steps", 0, "at least 1"));
    }
    if file.pretrain.batch_size == Some(0) {
        return Err(c.err("pretrain.batch_size", 0, "at least 1"));
    }

    // Datasets.
    if file.datasets.is_empty() {
        return Err(c.err("dataset", "(none)", "at least one [[dataset]] table"));
    }
    let mut names = BTreeSet::new();
    let mut datasets = Vec::new();
    for (i, d) in file.datasets.iter().enumerate() {
        let key = |k: &str| format!("dataset[{i}].{k}");
        let valid_name = !d.name.is_empty()
            && d.name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
        if !valid_name {
            return Err(c.err(
                key("name"),
                format!("\"{}\"", d.name),
                "a non-empty name of letters, digits, '-', '_' or '.'",
            ));
        }
        if !names.insert(d.name.clone()) {
            return Err(c.err(
                key("name"),
                format!("\"{}\"", d.name),
                "a name no other dataset has",
            ));
        }
        let dir = d.dir.as_ref().map(|p| resolve(&base, p));
        if let (Some(n), None) = (d.unique_images, &d.stream) {
            return Err(c.err(
                key("unique_images"),
                n,
                "no unique_images key without `stream` (it caps the scenes rendered while training)",
            ));
        }
        // An endless stream has no train split to cap a budget with.
        let mut endless = false;
        let (source, facts) = match (&d.stream, &d.render, &dir) {
            // Scenes rendered while training: no render node, nothing on disk.
            (Some(text), render, dir) => {
                if render.is_some() || dir.is_some() {
                    let (k, v) = match dir {
                        Some(dir) => ("dir", format!("\"{}\"", dir.display())),
                        None => ("render", "{ ... }".to_string()),
                    };
                    return Err(c.err(
                        key(k),
                        v,
                        "no `dir` or `render` key with `stream` (scenes rendered while training are not written to disk)",
                    ));
                }
                let (source, facts, is_endless) =
                    stream_source(&c, i, text, d.unique_images, &base, &methods)?;
                endless = is_endless;
                (source, facts)
            }
            // A render spec makes the study own the dataset: rendered (or resumed, or checked
            // against its manifest) into `dir`, or under the study directory.
            (None, Some(r), _) => {
                if !is_variant(&r.variant) {
                    return Err(c.err(
                        key("render.variant"),
                        format!("\"{}\"", r.variant),
                        "four characters T, C, V, L in that order with '-' where off (\"----\", \"T---\", \"TCVL\")",
                    ));
                }
                c.one_of(&key("render.scene"), &r.scene, &["single", "multi"])?;
                if r.count == 0 {
                    return Err(c.err(key("render.count"), 0, "at least 1 image"));
                }
                if let Some(res) = r.resolution
                    && !(8..=4096).contains(&res)
                {
                    return Err(c.err(key("render.resolution"), res, "8..=4096 pixels"));
                }
                for (k, v) in [
                    ("shard_size", r.shard_size),
                    ("models_per_class", r.models_per_class),
                    ("textures", r.textures),
                ] {
                    if v == Some(0) {
                        return Err(c.err(key(&format!("render.{k}")), 0, "at least 1"));
                    }
                }
                if let Some(t) = r.texture_size
                    && !(t.is_power_of_two() && (4..=4096).contains(&t))
                {
                    return Err(c.err(key("render.texture_size"), t, "a power of two in 4..=4096"));
                }
                let mut spec = r.clone();
                spec.shapenet = spec.shapenet.map(|p| resolve(&base, &p));
                spec.dtd = spec.dtd.map(|p| resolve(&base, &p));
                let facts = DatasetFacts {
                    variant: r.variant.clone(),
                    scene: r.scene.clone(),
                    resolution: r
                        .resolution
                        .unwrap_or_else(|| probe.default_resolution(&r.scene)),
                    train: probe.train_split(r.count),
                };
                (
                    DatasetSource::Render {
                        dir: dir.clone(),
                        spec,
                    },
                    facts,
                )
            }
            (None, None, Some(dir)) => {
                let facts = probe.existing(dir).map_err(|e| {
                    c.err(
                        key("dir"),
                        format!("\"{}\"", dir.display()),
                        &format!("a readable dataset ({e})"),
                    )
                })?;
                match facts {
                    Some(f) => (DatasetSource::Existing(dir.clone()), f),
                    None => {
                        return Err(c.err(
                            key("dir"),
                            format!("\"{}\"", dir.display()),
                            "an existing, complete dataset directory (manifest.json and every split's index.json), or a `render` spec to create it",
                        ));
                    }
                }
            }
            (None, None, None) => {
                return Err(c.err(
                    format!("dataset[{i}]"),
                    format!("\"{}\"", d.name),
                    "a `dir`, a `render` spec or a `stream`",
                ));
            }
        };
        let dtasks: Vec<String> = match &d.tasks {
            Some(ts) => {
                // Listed explicitly, any task runs on any scene (segmentation of single
                // objects, classification of a multi-object image's first object).
                for (j, t) in ts.iter().enumerate() {
                    c.one_of(&key(&format!("tasks[{j}]")), t, &TASKS)?;
                }
                ts.clone()
            }
            None => tasks
                .iter()
                .filter(|t| task_scene(t) == facts.scene)
                .cloned()
                .collect(),
        };
        let budgets = match &file.budgets {
            Some(b) => {
                for (j, &n) in b.iter().enumerate() {
                    if n > facts.train && !endless {
                        return Err(c.err(
                            format!("budgets[{j}]"),
                            n,
                            &format!(
                                "at most the {} training images of dataset \"{}\"",
                                facts.train, d.name
                            ),
                        ));
                    }
                }
                let mut b = b.clone();
                b.sort_unstable();
                b.dedup();
                b
            }
            None => DEFAULT_BUDGETS
                .iter()
                .copied()
                .filter(|&n| n <= facts.train)
                .collect(),
        };
        if budgets.is_empty() {
            return Err(c.err(
                format!("dataset[{i}]"),
                format!("\"{}\" ({} training images)", d.name, facts.train),
                "a train split of at least 100 images for the default budgets, or a `budgets` key",
            ));
        }
        datasets.push(DatasetPlan {
            name: d.name.clone(),
            source,
            facts,
            tasks: dtasks,
            budgets,
        });
    }
    for (j, t) in tasks.iter().enumerate() {
        if !datasets.iter().any(|d| d.tasks.contains(t)) {
            return Err(c.err(
                format!("tasks[{j}]"),
                format!("\"{t}\""),
                &format!("a [[dataset]] with {}-object images for it", task_scene(t)),
            ));
        }
    }
    for (i, t) in file.transfers.iter().enumerate() {
        for (k, name) in [
            ("pretrain_on", &t.pretrain_on),
            ("finetune_on", &t.finetune_on),
        ] {
            if !names.contains(name) {
                return Err(c.err(
                    format!("transfer[{i}].{k}"),
                    format!("\"{name}\""),
                    &format!(
                        "the name of a [[dataset]] ({})",
                        names.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }

    let name = file.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "study".into())
    });
    Ok(Plan {
        path: path.to_path_buf(),
        name,
        methods,
        seeds,
        backbone: file.backbone,
        width: file.width,
        backend: file.backend,
        linear_eval: file.linear_eval,
        utility,
        schedule,
        finetune: file.finetune,
        pretrain: file.pretrain,
        datasets,
        transfers: file.transfers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_methods_are_the_trainers_methods() {
        // A method `train --method` knows must be accepted in a plan, and the other way round.
        let trainer: Vec<&str> = crate::methods::MethodKind::ALL
            .iter()
            .map(|m| m.name())
            .collect();
        assert_eq!(METHODS[0], SCRATCH);
        assert_eq!(&METHODS[1..], trainer.as_slice());
    }

    struct Fake;
    impl DatasetProbe for Fake {
        fn existing(&self, dir: &Path) -> Result<Option<DatasetFacts>, String> {
            if dir.ends_with("have") {
                Ok(Some(DatasetFacts {
                    variant: "T---".into(),
                    scene: "single".into(),
                    resolution: 32,
                    train: 850,
                }))
            } else if dir.ends_with("broken") {
                Err("manifest.json: bad json".into())
            } else {
                Ok(None)
            }
        }
        fn train_split(&self, count: usize) -> usize {
            count * 85 / 100
        }
        fn default_resolution(&self, scene: &str) -> u32 {
            if scene == "multi" { 128 } else { 64 }
        }
    }

    const BASE: &str = r#"
methods = ["rotation"]
tasks = ["classification"]
budgets = [100, 400]
[[dataset]]
name = "a"
render = { variant = "TCVL", count = 1000, resolution = 32 }
"#;

    fn parse_str(text: &str) -> Result<Plan, PlanError> {
        parse(text, Path::new("/plans/p.toml"), &Fake)
    }

    fn err_of(text: &str) -> String {
        parse_str(text).unwrap_err().to_string()
    }

    #[test]
    fn a_minimal_plan_gets_its_defaults() {
        let p = parse_str(BASE).unwrap();
        assert_eq!(p.name, "p");
        assert_eq!(p.methods, ["supervised", "rotation"]);
        assert_eq!(p.seeds, [0]);
        assert_eq!(p.backbone, "resnet9");
        assert_eq!(p.utility, UtilityMode::Log);
        assert_eq!(p.schedule.kind, ScheduleKind::Default);
        let d = &p.datasets[0];
        assert_eq!(d.facts.train, 850);
        assert_eq!(d.facts.resolution, 32);
        assert_eq!(d.budgets, [100, 400]);
        assert_eq!(d.tasks, ["classification"]);
        assert!(matches!(d.source, DatasetSource::Render { dir: None, .. }));
    }

    #[test]
    fn default_budgets_are_capped_at_the_split() {
        let p = parse_str(&BASE.replace("budgets = [100, 400]\n", "")).unwrap();
        assert_eq!(p.datasets[0].budgets, [100, 250]);
    }

    #[test]
    fn unknown_names_are_reported_with_file_key_and_expectation() {
        let e = err_of(&BASE.replace("\"rotation\"", "\"rotate\""));
        assert!(
            e.starts_with("/plans/p.toml: methods[0] = \"rotate\": expected one of supervised"),
            "{e}"
        );
        let e = err_of(&BASE.replace("\"classification\"", "\"detection\""));
        assert!(
            e.contains("tasks[0] = \"detection\": expected one of classification"),
            "{e}"
        );
        let e = err_of(&BASE.replace("TCVL", "TXVL"));
        assert!(
            e.contains("dataset[0].render.variant = \"TXVL\": expected four characters"),
            "{e}"
        );
        let e = err_of(&BASE.replace("TCVL", "CT--"));
        assert!(e.contains("render.variant"), "{e}");
        let e = err_of(&format!("{BASE}\n[pretrain.method.vae]\nsteps = 3\n"));
        assert!(
            e.contains("pretrain.method.vae = \"vae\": expected a method listed in `methods`"),
            "{e}"
        );
    }

    #[test]
    fn a_budget_larger_than_the_split_is_an_error() {
        let e = err_of(&BASE.replace("[100, 400]", "[100, 851]"));
        assert!(
            e.contains(
                "budgets[1] = 851: expected at most the 850 training images of dataset \"a\""
            ),
            "{e}"
        );
    }

    #[test]
    fn a_missing_dataset_without_render_spec_is_an_error() {
        let text = "methods = [\"supervised\"]\ntasks = [\"classification\"]\n[[dataset]]\nname = \"x\"\ndir = \"data/missing\"\n";
        let e = err_of(text);
        assert!(e.contains("dataset[0].dir = \"/plans/data/missing\": expected an existing, complete dataset directory"), "{e}");
        let e = err_of(&text.replace("dir = \"data/missing\"\n", ""));
        assert!(
            e.contains("dataset[0] = \"x\": expected a `dir`, a `render` spec or a `stream`"),
            "{e}"
        );
        let e = err_of(&text.replace("missing", "broken"));
        assert!(e.contains("bad json"), "{e}");
    }

    #[test]
    fn an_existing_dataset_is_used_and_checked() {
        let text = "methods = [\"supervised\"]\ntasks = [\"classification\"]\n[[dataset]]\nname = \"x\"\ndir = \"have\"\n";
        let p = parse_str(text).unwrap();
        assert_eq!(
            p.datasets[0].source,
            DatasetSource::Existing("/plans/have".into())
        );
        assert_eq!(p.datasets[0].budgets, [100, 250]);
        // With a render spec the study owns the directory (renders, resumes or checks it).
        let p = parse_str(&format!(
            "{text}render = {{ variant = \"----\", count = 200 }}\n"
        ))
        .unwrap();
        assert!(
            matches!(&p.datasets[0].source, DatasetSource::Render { dir: Some(d), .. } if d == Path::new("/plans/have"))
        );
    }

    const STREAM: &str = r#"
methods = ["rotation"]
tasks = ["classification"]
budgets = [100, 400]
[[dataset]]
name = "live"
stream = "render:T---,res=16,count=200,dtd=textures"
unique_images = 150
"#;

    #[test]
    fn a_stream_dataset_is_a_render_spec_with_the_pretraining_cap() {
        let p = parse_str(STREAM).unwrap();
        let d = &p.datasets[0];
        assert_eq!(
            d.source,
            DatasetSource::Stream {
                spec: "render:T---,res=16,count=200,dtd=/plans/textures".into(),
                pretrain: "render:T---,res=16,count=200,dtd=/plans/textures,unique=150".into(),
            }
        );
        assert_eq!(d.facts.variant, "T---");
        assert_eq!(d.facts.scene, "single");
        assert_eq!(d.facts.resolution, 16);
        // An endless stream: the budget 400 is not capped by the 170 of `count`'s train split
        // (`--labels N` = the first N scenes).
        assert_eq!(d.facts.train, 170);
        assert_eq!(d.budgets, [100, 400]);
        // With unique= in the spec the supervised runs have a finite split.
        let e = err_of(&STREAM.replace("count=200", "count=200,unique=300"));
        assert!(
            e.contains("dataset[0].unique_images = 150: expected the stream's own unique=300"),
            "{e}"
        );
        let e = err_of(
            &STREAM
                .replace("count=200", "count=200,unique=300")
                .replace("unique_images = 150\n", ""),
        );
        assert!(
            e.contains("budgets[1] = 400: expected at most the 300 training images"),
            "{e}"
        );
        // Default budgets: capped at `count`'s train split.
        let p = parse_str(&STREAM.replace("budgets = [100, 400]\n", "")).unwrap();
        assert_eq!(p.datasets[0].budgets, [100]);
    }

    #[test]
    fn bad_streams_name_the_key_and_the_field() {
        let e = err_of(&STREAM.replace("res=16", "res=abc"));
        assert!(
            e.starts_with("/plans/p.toml: dataset[0].stream = \"render:T---,res=abc,"),
            "{e}"
        );
        assert!(
            e.contains("field `res`: `abc`: expected an image side"),
            "{e}"
        );
        let e = err_of(&STREAM.replace("res=16", "bogus=1"));
        assert!(e.contains("field `bogus`: unknown field"), "{e}");
        let e = err_of(&STREAM.replace("render:T---", "render:TXVL"));
        assert!(
            e.contains("dataset[0].stream") && e.contains("`variant`"),
            "{e}"
        );
        let e = err_of(&format!("{STREAM}dir = \"have\"\n"));
        assert!(
            e.contains("dataset[0].dir = \"/plans/have\": expected no `dir` or `render` key"),
            "{e}"
        );
        let e = err_of(&STREAM.replace("unique_images = 150", "unique_images = 0"));
        assert!(
            e.contains("dataset[0].unique_images = 0: expected at least 1"),
            "{e}"
        );
        let e = err_of(&format!("{BASE}unique_images = 5\n"));
        assert!(
            e.contains(
                "dataset[0].unique_images = 5: expected no unique_images key without `stream`"
            ),
            "{e}"
        );
        let e = err_of(&format!("{STREAM}bogus = 1\n"));
        assert!(
            e.starts_with("/plans/p.toml: ") && e.contains("bogus"),
            "{e}"
        );
        // CMC needs a finite set of pretraining scenes.
        let cmc = STREAM.replace("\"rotation\"", "\"cmc\"");
        assert!(parse_str(&cmc).is_ok());
        let e = err_of(&cmc.replace("unique_images = 150\n", ""));
        assert!(
            e.contains("dataset[0].unique_images = (missing): expected a number of distinct scenes: method cmc"),
            "{e}"
        );
    }

    #[test]
    fn tasks_need_a_dataset_of_their_scene() {
        let e = err_of(&BASE.replace("[\"classification\"]", "[\"classification\", \"depth\"]"));
        assert!(
            e.contains("tasks[1] = \"depth\": expected a [[dataset]] with multi-object images"),
            "{e}"
        );
    }

    #[test]
    fn syntax_and_unknown_keys_name_the_file() {
        let e = err_of(&format!("{BASE}\nbogus = 1\n"));
        assert!(
            e.starts_with("/plans/p.toml: ") && e.contains("bogus"),
            "{e}"
        );
        let e = err_of("methods = [");
        assert!(e.starts_with("/plans/p.toml: "), "{e}");
    }

    #[test]
    fn transfer_names_must_exist() {
        let e = err_of(&format!(
            "{BASE}\n[[transfer]]\npretrain_on = \"a\"\nfinetune_on = \"b\"\n"
        ));
        assert!(
            e.contains("transfer[0].finetune_on = \"b\": expected the name of a [[dataset]] (a)"),
            "{e}"
        );
    }

    #[test]
    fn fixed_schedule_needs_steps() {
        let e = err_of(&format!("{BASE}\n[finetune]\nschedule = \"fixed\"\n"));
        assert!(e.contains("finetune.steps = (missing)"), "{e}");
        let p = parse_str(&format!(
            "{BASE}\n[finetune]\nschedule = \"fixed\"\nsteps = 7\n"
        ))
        .unwrap();
        assert_eq!(p.schedule.steps(100, 64), 7);
        assert_eq!(p.schedule.steps(400, 64), 7);
    }

    #[test]
    fn paper_schedule_matches_the_original_step_counts_at_batch_512() {
        for n in [100, 250, 1000] {
            assert_eq!(paper_steps(n, 512), 4000, "n = {n}");
        }
        assert_eq!(paper_steps(4000, 512), 8000);
        assert_eq!(paper_steps(20_000, 512), 24_000);
        for n in [50_000, 100_000, 200_000] {
            assert_eq!(paper_steps(n, 512), 58_800, "n = {n}");
        }
        // Whole copies of the set: 300 labels -> 34 copies = 10,200 images per epoch.
        assert_eq!(paper_epoch_images(300), 10_200);
        assert_eq!(paper_epoch_images(30_000), 30_000);
    }

    #[test]
    fn scale_and_floor_apply_to_every_schedule() {
        let s = StepSchedule {
            kind: ScheduleKind::Paper,
            scale: 0.01,
            min_steps: 50,
        };
        assert_eq!(s.steps(100, 512), 50);
        assert_eq!(s.steps(50_000, 512), 588);
        let d = StepSchedule {
            kind: ScheduleKind::Default,
            scale: 1.0,
            min_steps: 1,
        };
        assert_eq!(d.steps(1000, 64), crate::training::default_steps(1000, 64));
    }

    #[test]
    fn pretrain_overrides_apply_per_method() {
        let p = parse_str(&format!(
            "{BASE}\n[pretrain]\nsteps = 10\nbatch_size = 32\n[pretrain.method.rotation]\nsteps = 20\n"
        ))
        .unwrap();
        let s = p.pretrain_settings("rotation");
        assert_eq!((s.steps, s.batch_size), (Some(20), Some(32)));
        assert_eq!(p.pretrain_settings("simclr").steps, Some(10));
    }

    #[test]
    fn jitter_hue_applies_per_method_and_is_checked() {
        let p = parse_str(&format!(
            "{BASE}\n[pretrain]\njitter_hue = 0.5\n[pretrain.method.rotation]\njitter_hue = 0.1\n"
        ))
        .unwrap();
        assert_eq!(p.pretrain_settings("rotation").jitter_hue, Some(0.1));
        assert_eq!(p.pretrain_settings("simclr").jitter_hue, Some(0.5));
        let e = err_of(&format!("{BASE}\n[pretrain]\njitter_hue = 0.7\n"));
        assert!(
            e.contains("pretrain.jitter_hue = 0.7: expected a hue shift in turns from 0 to 0.5"),
            "{e}"
        );
        let e = err_of(&format!(
            "{BASE}\n[pretrain.method.rotation]\njitter_hue = 2.5\n"
        ));
        assert!(
            e.contains("pretrain.method.rotation.jitter_hue = 2.5"),
            "{e}"
        );
    }
}
