//! The study report: numbers, figures and one self-contained HTML page.
//!
//! Input: a [`ReportInput`]: one [`RunRecord`] per finished supervised / finetuned / linear-eval
//! run (the test metric of its `metrics.json`), the run times of every graph node, dataset
//! contact sheets (PNG bytes), the plan text and the utility mode. Output, in the report
//! directory: `utility.json` (accuracy and utility rows, both interpolation modes), CSVs of every
//! number (`runs.csv`, `accuracy.csv`, `utility.csv`, `linear_eval.csv`, `variant_grid.csv`,
//! `factor_change.csv`, `run_times.csv`), figures under `figures/` as SVG and PNG, and
//! `index.html` with the figures inlined as SVG and the contact sheets as base64 PNG.
//!
//! Accuracy of a (dataset, task, method, labels) point is the mean over seeds of the test metric.
//! Utility is computed against the `supervised` (from scratch) runs of the same dataset and task
//! with [`super::utility::utility_with_interval`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::figures::{self, Cell, Heatmap, LineFigure, Panel, Point, Series};
use super::plan::{SCRATCH, UtilityMode};
use super::utility::{Baseline, Bound, UtilityEstimate, utility_with_interval};

/// Writing the report failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// JSON encoding failed.
    #[error("{path}: {reason}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// One finished downstream run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// `scratch`, `finetune` or `linear`.
    pub kind: String,
    /// Dataset the run trained and was evaluated on.
    pub dataset: String,
    /// Its variant.
    pub variant: String,
    /// Task.
    pub task: String,
    /// Pretraining method (`supervised` for scratch runs).
    pub method: String,
    /// Dataset the backbone was pretrained on, when different from `dataset`.
    pub pretrain_dataset: Option<String>,
    /// Labelled samples.
    pub labels: usize,
    /// Seed.
    pub seed: u64,
    /// Headline metric name.
    pub metric: String,
    /// Headline metric on the test split.
    pub test: f64,
    /// Headline metric on the validation split.
    pub val: f64,
    /// Run directory.
    pub run_dir: String,
}

impl RunRecord {
    /// Series name: the method, plus `@DATASET` for cross-dataset pretraining.
    pub fn series(&self) -> String {
        match &self.pretrain_dataset {
            Some(d) => format!("{}@{d}", self.method),
            None => self.method.clone(),
        }
    }
}

/// Time and state of one graph node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunTime {
    /// Node id (directory name).
    pub id: String,
    /// `render`, `pretrain`, `scratch`, `finetune`, `linear`.
    pub kind: String,
    /// `done`, `failed`, `running`, `missing`.
    pub state: String,
    /// Seconds (of the finished run), if known.
    pub seconds: Option<f64>,
}

/// A dataset contact sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactSheet {
    /// Dataset name.
    pub dataset: String,
    /// Caption (variant, scene, resolution).
    pub caption: String,
    /// PNG bytes.
    pub png: Vec<u8>,
}

/// Everything the report is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportInput {
    /// Title.
    pub title: String,
    /// The plan file's text.
    pub plan_text: String,
    /// Mode of the figures and grids (both are in the numbers).
    pub mode: UtilityMode,
    /// Finished downstream runs.
    pub records: Vec<RunRecord>,
    /// Every graph node.
    pub times: Vec<RunTime>,
    /// Contact sheets.
    pub sheets: Vec<ContactSheet>,
    /// Lines shown at the top (failed runs and their logs, missing runs).
    pub notes: Vec<String>,
    /// Seed of the bootstrap.
    pub seed: u64,
}

/// Mean accuracy of one point of a curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccuracyRow {
    /// Dataset.
    pub dataset: String,
    /// Variant.
    pub variant: String,
    /// Task.
    pub task: String,
    /// Series (method or method@pretrain-dataset).
    pub method: String,
    /// `scratch`, `finetune` or `linear`.
    pub kind: String,
    /// Labels.
    pub labels: usize,
    /// Metric.
    pub metric: String,
    /// Per-seed test values, by seed.
    pub values: BTreeMap<u64, f64>,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one seed).
    pub std: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

/// Utility at one budget in one mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtilityValue {
    /// U(n) of the mean curves.
    pub value: f64,
    /// n_hat.
    pub n_hat: f64,
    /// `exact`, `lower` (U at least value) or `upper` (U at most value).
    pub bound: Bound,
    /// Bootstrap 2.5%.
    pub ci_low: f64,
    /// Bootstrap 97.5% (`null`: open).
    pub ci_high: Option<f64>,
    /// Share of exact bootstrap replicates.
    pub exact_share: f64,
}

impl From<UtilityEstimate> for UtilityValue {
    fn from(e: UtilityEstimate) -> Self {
        UtilityValue {
            value: e.estimate.value,
            n_hat: e.estimate.n_hat,
            bound: e.estimate.bound,
            ci_low: e.ci_low,
            ci_high: e.ci_high,
            exact_share: e.exact_share,
        }
    }
}

/// Utility of one method at one budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtilityRow {
    /// Dataset.
    pub dataset: String,
    /// Variant.
    pub variant: String,
    /// Task.
    pub task: String,
    /// Series.
    pub method: String,
    /// Labels.
    pub labels: usize,
    /// Mean finetuned accuracy.
    pub finetuned: f64,
    /// Best mean scratch accuracy and the smallest budget reaching it.
    pub baseline_best: (usize, f64),
    /// Seeds (baseline, finetuned).
    pub seeds: [usize; 2],
    /// Running-max baseline, linear in log n.
    pub log: UtilityValue,
    /// Raw baseline, linear in n (the original analysis).
    pub paper: UtilityValue,
}

impl UtilityRow {
    /// The value in `mode`.
    pub fn in_mode(&self, mode: UtilityMode) -> &UtilityValue {
        match mode {
            UtilityMode::Log => &self.log,
            UtilityMode::Paper => &self.paper,
        }
    }
}

/// `utility.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    /// Study title.
    pub title: String,
    /// Mode of the figures.
    pub mode: UtilityMode,
    /// Bootstrap replicates per interval.
    pub bootstrap_replicates: usize,
    /// Accuracy rows.
    pub accuracy: Vec<AccuracyRow>,
    /// Utility rows.
    pub utility: Vec<UtilityRow>,
    /// Table 1: linear evaluation next to finetuning, per dataset, task and method.
    #[serde(default)]
    pub linear: Vec<LinearRow>,
}

/// One line of Table 1: a method's linear evaluation on a dataset and task next to what
/// finetuning the same pretraining gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearRow {
    /// Dataset.
    pub dataset: String,
    /// Variant.
    pub variant: String,
    /// Task.
    pub task: String,
    /// Method.
    pub method: String,
    /// Metric.
    pub metric: String,
    /// Labelled samples the linear model was fitted on.
    pub labels: usize,
    /// Mean linear-evaluation test metric.
    pub linear: f64,
    /// Smallest budget with finetuned runs of the method (none: no finetuned runs).
    pub finetune_labels: Option<usize>,
    /// Mean finetuned test metric at that budget.
    pub finetuned: Option<f64>,
    /// Largest budget with finetuned runs.
    pub finetune_labels_max: Option<usize>,
    /// Mean finetuned test metric at the largest budget.
    pub finetuned_max: Option<f64>,
    /// Mean utility over the budgets (the figures' mode).
    pub mean_utility: Option<f64>,
    /// Whether some of those utilities are only bounds.
    pub utility_bound: bool,
}

/// Table 1's rows: every linear-evaluation accuracy row with the finetuned accuracy of the
/// same method, dataset and task at the smallest and largest budget, and its mean utility.
pub fn linear_rows(acc: &[AccuracyRow], util: &[UtilityRow], mode: UtilityMode) -> Vec<LinearRow> {
    acc.iter()
        .filter(|a| a.kind == "linear")
        .map(|l| {
            let ft: Vec<&AccuracyRow> = acc
                .iter()
                .filter(|a| {
                    a.kind == "finetune"
                        && a.method == l.method
                        && a.dataset == l.dataset
                        && a.task == l.task
                })
                .collect();
            let first = ft.iter().min_by_key(|a| a.labels);
            let last = ft.iter().max_by_key(|a| a.labels);
            let rs: Vec<&UtilityRow> = util
                .iter()
                .filter(|u| u.method == l.method && u.dataset == l.dataset && u.task == l.task)
                .collect();
            let mu = mean_utility(&rs, mode);
            LinearRow {
                dataset: l.dataset.clone(),
                variant: l.variant.clone(),
                task: l.task.clone(),
                method: l.method.clone(),
                metric: l.metric.clone(),
                labels: l.labels,
                linear: l.mean,
                finetune_labels: first.map(|a| a.labels),
                finetuned: first.map(|a| a.mean),
                finetune_labels_max: last.map(|a| a.labels),
                finetuned_max: last.map(|a| a.mean),
                mean_utility: mu.as_ref().map(|c| c.value),
                utility_bound: mu.is_some_and(|c| c.grey),
            }
        })
        .collect()
}

/// Groups records into accuracy rows (sorted by dataset, task, method, labels).
pub fn accuracy_rows(records: &[RunRecord]) -> Vec<AccuracyRow> {
    type Key = (String, String, String, String, usize);
    let mut groups: BTreeMap<Key, Vec<&RunRecord>> = BTreeMap::new();
    for r in records {
        groups
            .entry((
                r.dataset.clone(),
                r.task.clone(),
                r.series(),
                r.kind.clone(),
                r.labels,
            ))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|((dataset, task, method, kind, labels), rs)| {
            let values: BTreeMap<u64, f64> = rs.iter().map(|r| (r.seed, r.test)).collect();
            let v: Vec<f64> = values.values().copied().collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let std = if v.len() > 1 {
                (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
            } else {
                0.0
            };
            AccuracyRow {
                variant: rs[0].variant.clone(),
                metric: rs[0].metric.clone(),
                dataset,
                task,
                method,
                kind,
                labels,
                mean,
                std,
                min: v.iter().copied().fold(f64::INFINITY, f64::min),
                max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                values,
            }
        })
        .collect()
}

/// Utility rows of every finetuned point that has a scratch baseline on its dataset and task.
pub fn utility_rows(acc: &[AccuracyRow], seed: u64) -> Vec<UtilityRow> {
    let mut out = Vec::new();
    let keys: BTreeSet<(String, String)> = acc
        .iter()
        .map(|a| (a.dataset.clone(), a.task.clone()))
        .collect();
    for (dataset, task) in keys {
        let base: Vec<&AccuracyRow> = acc
            .iter()
            .filter(|a| {
                a.dataset == dataset && a.task == task && a.kind == "scratch" && a.method == SCRATCH
            })
            .collect();
        if base.is_empty() {
            continue;
        }
        // Seeds that have every baseline budget give the per-seed curves.
        let seeds: BTreeSet<u64> = base
            .iter()
            .flat_map(|a| a.values.keys().copied())
            .filter(|s| base.iter().all(|a| a.values.contains_key(s)))
            .collect();
        let curves: Vec<Vec<(usize, f64)>> = if seeds.is_empty() {
            vec![base.iter().map(|a| (a.labels, a.mean)).collect()]
        } else {
            seeds
                .iter()
                .map(|s| base.iter().map(|a| (a.labels, a.values[s])).collect())
                .collect()
        };
        let mean_curve: Vec<(usize, f64)> = base.iter().map(|a| (a.labels, a.mean)).collect();
        let Ok(mean_base) = Baseline::new(&mean_curve) else {
            continue;
        };
        let best = mean_base.best();
        for f in acc
            .iter()
            .filter(|a| a.dataset == dataset && a.task == task && a.kind == "finetune")
        {
            let ft: Vec<f64> = f.values.values().copied().collect();
            let salt = xxhash_rust::xxh3::xxh3_64(
                format!("{dataset}/{task}/{}/{}", f.method, f.labels).as_bytes(),
            );
            let est = |mode| utility_with_interval(&curves, f.labels, &ft, mode, seed ^ salt);
            let (Ok(log), Ok(paper)) = (est(UtilityMode::Log), est(UtilityMode::Paper)) else {
                continue;
            };
            out.push(UtilityRow {
                dataset: dataset.clone(),
                variant: f.variant.clone(),
                task: task.clone(),
                method: f.method.clone(),
                labels: f.labels,
                finetuned: f.mean,
                baseline_best: best,
                seeds: log.seeds,
                log: log.into(),
                paper: paper.into(),
            });
        }
    }
    out
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` through a temp name.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn put(dir: &Path, files: &mut Vec<PathBuf>, name: &str, bytes: &[u8]) -> Result<(), ReportError> {
    let p = dir.join(name);
    write_file(&p, bytes)?;
    files.push(p);
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = header.join(",");
    out.push('\n');
    for r in rows {
        out.push_str(&r.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(num).unwrap_or_default()
}

fn bound_name(b: Bound) -> &'static str {
    match b {
        Bound::Exact => "exact",
        Bound::Lower => "lower",
        Bound::Upper => "upper",
    }
}

/// Text of a utility value: `1.23`, `>=1.23` (lower bound), `<=-0.90` (upper bound).
pub fn utility_text(v: &UtilityValue) -> String {
    match v.bound {
        Bound::Exact => format!("{:.2}", v.value),
        Bound::Lower => format!(">={:.2}", v.value),
        Bound::Upper => format!("<={:.2}", v.value),
    }
}

/// Mean utility over a method's budgets (the variant grid's cells); `grey` when any is a bound.
fn mean_utility(rows: &[&UtilityRow], mode: UtilityMode) -> Option<Cell> {
    if rows.is_empty() {
        return None;
    }
    let vals: Vec<&UtilityValue> = rows.iter().map(|r| r.in_mode(mode)).collect();
    let mean = vals.iter().map(|v| v.value).sum::<f64>() / vals.len() as f64;
    let grey = vals.iter().any(|v| v.bound != Bound::Exact);
    Some(Cell {
        value: mean,
        text: if grey {
            format!("~{mean:.2}")
        } else {
            format!("{mean:.2}")
        },
        grey,
    })
}

/// Pairs of variants that differ in exactly one factor: (factor letter, without, with).
pub fn factor_pairs(variants: &[String]) -> Vec<(char, String, String)> {
    let mut out = Vec::new();
    for a in variants {
        for b in variants {
            let ca: Vec<char> = a.chars().collect();
            let cb: Vec<char> = b.chars().collect();
            if ca.len() != 4 || cb.len() != 4 {
                continue;
            }
            let diff: Vec<usize> = (0..4).filter(|&i| ca[i] != cb[i]).collect();
            if let [i] = diff[..]
                && ca[i] == '-'
            {
                out.push((cb[i], a.clone(), b.clone()));
            }
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOutput {
    /// The numbers.
    pub data: ReportData,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Figures that could not be drawn (the rest of the report is still written).
    pub figure_errors: Vec<String>,
}

struct Figure {
    title: String,
    svg: PathBuf,
}

/// Writes the report into `dir` (created if missing).
///
/// # Errors
/// [`ReportError`] when a data file cannot be written. Figures that fail (for example without
/// a system font) are listed in [`ReportOutput::figure_errors`] and in the page instead.
pub fn write_report(dir: &Path, input: &ReportInput) -> Result<ReportOutput, ReportError> {
    let fig_dir = dir.join("figures");
    std::fs::create_dir_all(&fig_dir).map_err(io(&fig_dir))?;
    let mode = input.mode;
    let acc = accuracy_rows(&input.records);
    let util = utility_rows(&acc, input.seed);
    let linear_table = linear_rows(&acc, &util, mode);
    let data = ReportData {
        title: input.title.clone(),
        mode,
        bootstrap_replicates: super::utility::BOOTSTRAP_REPLICATES,
        accuracy: acc.clone(),
        utility: util.clone(),
        linear: linear_table.clone(),
    };
    let mut files = Vec::new();
    let json_path = dir.join("utility.json");
    let mut json = serde_json::to_vec_pretty(&data).map_err(|e| ReportError::Json {
        path: json_path.clone(),
        reason: e.to_string(),
    })?;
    json.push(b'\n');
    put(dir, &mut files, "utility.json", &json)?;

    let mut runs: Vec<&RunRecord> = input.records.iter().collect();
    runs.sort_by(|a, b| {
        (&a.dataset, &a.task, a.series(), &a.kind, a.labels, a.seed).cmp(&(
            &b.dataset,
            &b.task,
            b.series(),
            &b.kind,
            b.labels,
            b.seed,
        ))
    });
    put(
        dir,
        &mut files,
        "runs.csv",
        csv(
            &[
                "kind",
                "dataset",
                "variant",
                "task",
                "method",
                "pretrain_dataset",
                "labels",
                "seed",
                "metric",
                "test",
                "val",
                "run_dir",
            ],
            &runs
                .iter()
                .map(|r| {
                    vec![
                        r.kind.clone(),
                        r.dataset.clone(),
                        r.variant.clone(),
                        r.task.clone(),
                        r.method.clone(),
                        r.pretrain_dataset.clone().unwrap_or_default(),
                        r.labels.to_string(),
                        r.seed.to_string(),
                        r.metric.clone(),
                        num(r.test),
                        num(r.val),
                        r.run_dir.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
        )
        .as_bytes(),
    )?;
    put(
        dir,
        &mut files,
        "accuracy.csv",
        csv(
            &[
                "dataset", "variant", "task", "method", "kind", "labels", "metric", "seeds",
                "mean", "std", "min", "max",
            ],
            &acc.iter()
                .map(|a| {
                    vec![
                        a.dataset.clone(),
                        a.variant.clone(),
                        a.task.clone(),
                        a.method.clone(),
                        a.kind.clone(),
                        a.labels.to_string(),
                        a.metric.clone(),
                        a.values.len().to_string(),
                        num(a.mean),
                        num(a.std),
                        num(a.min),
                        num(a.max),
                    ]
                })
                .collect::<Vec<_>>(),
        )
        .as_bytes(),
    )?;
    let mut urows = Vec::new();
    for u in &util {
        for (m, v) in [("log", &u.log), ("paper", &u.paper)] {
            urows.push(vec![
                u.dataset.clone(),
                u.variant.clone(),
                u.task.clone(),
                u.method.clone(),
                u.labels.to_string(),
                m.to_string(),
                num(u.finetuned),
                u.baseline_best.0.to_string(),
                num(u.baseline_best.1),
                num(v.value),
                bound_name(v.bound).to_string(),
                num(v.n_hat),
                num(v.ci_low),
                opt(v.ci_high),
                num(v.exact_share),
                u.seeds[0].to_string(),
                u.seeds[1].to_string(),
            ]);
        }
    }
    put(
        dir,
        &mut files,
        "utility.csv",
        csv(
            &[
                "dataset",
                "variant",
                "task",
                "method",
                "labels",
                "mode",
                "finetuned",
                "baseline_best_labels",
                "baseline_best",
                "utility",
                "bound",
                "n_hat",
                "ci_low",
                "ci_high",
                "exact_share",
                "baseline_seeds",
                "finetuned_seeds",
            ],
            &urows,
        )
        .as_bytes(),
    )?;

    // Linear evaluation (Table 1): method x dataset.
    let linear: Vec<&AccuracyRow> = acc.iter().filter(|a| a.kind == "linear").collect();
    put(
        dir,
        &mut files,
        "linear_eval.csv",
        csv(
            &[
                "dataset",
                "variant",
                "task",
                "method",
                "labels",
                "metric",
                "mean",
                "std",
                "seeds",
                "finetune_labels",
                "finetuned",
                "finetune_labels_max",
                "finetuned_max",
                "mean_utility",
                "utility_bound",
            ],
            &linear
                .iter()
                .zip(&linear_table)
                .map(|(a, t)| {
                    let count = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_default();
                    vec![
                        a.dataset.clone(),
                        a.variant.clone(),
                        a.task.clone(),
                        a.method.clone(),
                        a.labels.to_string(),
                        a.metric.clone(),
                        num(a.mean),
                        num(a.std),
                        a.values.len().to_string(),
                        count(t.finetune_labels),
                        opt(t.finetuned),
                        count(t.finetune_labels_max),
                        opt(t.finetuned_max),
                        opt(t.mean_utility),
                        t.utility_bound.to_string(),
                    ]
                })
                .collect::<Vec<_>>(),
        )
        .as_bytes(),
    )?;
    put(
        dir,
        &mut files,
        "run_times.csv",
        csv(
            &["id", "kind", "state", "seconds"],
            &input
                .times
                .iter()
                .map(|t| {
                    vec![
                        t.id.clone(),
                        t.kind.clone(),
                        t.state.clone(),
                        opt(t.seconds),
                    ]
                })
                .collect::<Vec<_>>(),
        )
        .as_bytes(),
    )?;

    // Variant grid and factor changes (mean utility over budgets, figure mode).
    let tasks: BTreeSet<String> = util.iter().map(|u| u.task.clone()).collect();
    let mut grid_rows = Vec::new();
    let mut factor_rows = Vec::new();
    let mut grids: Vec<(String, Heatmap, Option<Heatmap>)> = Vec::new();
    for task in &tasks {
        let tu: Vec<&UtilityRow> = util.iter().filter(|u| &u.task == task).collect();
        let methods: BTreeSet<String> = tu.iter().map(|u| u.method.clone()).collect();
        let datasets: Vec<(String, String)> = tu
            .iter()
            .map(|u| (u.dataset.clone(), u.variant.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let methods: Vec<String> = methods.into_iter().collect();
        let mut cells = Vec::new();
        for m in &methods {
            let mut row = Vec::new();
            for (d, v) in &datasets {
                let rs: Vec<&UtilityRow> = tu
                    .iter()
                    .copied()
                    .filter(|u| &u.method == m && &u.dataset == d)
                    .collect();
                let cell = mean_utility(&rs, mode);
                if let Some(c) = &cell {
                    grid_rows.push(vec![
                        task.clone(),
                        m.clone(),
                        d.clone(),
                        v.clone(),
                        num(c.value),
                        c.grey.to_string(),
                        rs.len().to_string(),
                    ]);
                }
                row.push(cell);
            }
            cells.push(row);
        }
        let grid = Heatmap {
            title: format!(
                "{task}: mean utility over budgets ({} mode; ~ = includes bounds)",
                mode.name()
            ),
            rows: methods.clone(),
            cols: datasets
                .iter()
                .map(|(d, v)| {
                    if d == v {
                        d.clone()
                    } else {
                        format!("{d} ({v})")
                    }
                })
                .collect(),
            cells,
            diverging: true,
        };
        // Factor changes between datasets whose variants differ in one factor.
        let variants: Vec<String> = datasets.iter().map(|(_, v)| v.clone()).collect();
        let pairs = factor_pairs(&variants);
        let factors: Vec<char> = ['T', 'C', 'V', 'L']
            .into_iter()
            .filter(|f| pairs.iter().any(|p| p.0 == *f))
            .collect();
        let factor_map = if factors.is_empty() {
            None
        } else {
            let mut fcells = Vec::new();
            for (mi, m) in methods.iter().enumerate() {
                let mut row = Vec::new();
                for f in &factors {
                    let mut deltas = Vec::new();
                    for (_, off, on) in pairs.iter().filter(|p| p.0 == *f) {
                        let col = |v: &str| datasets.iter().position(|(_, dv)| dv == v);
                        if let (Some(a), Some(b)) = (col(off), col(on))
                            && let (Some(x), Some(y)) =
                                (&cells_of(&grid, mi, a), &cells_of(&grid, mi, b))
                        {
                            deltas.push(y.value - x.value);
                            factor_rows.push(vec![
                                task.clone(),
                                m.clone(),
                                f.to_string(),
                                off.clone(),
                                on.clone(),
                                num(y.value - x.value),
                            ]);
                        }
                    }
                    row.push((!deltas.is_empty()).then(|| {
                        let d = deltas.iter().sum::<f64>() / deltas.len() as f64;
                        Cell {
                            value: d,
                            text: format!("{d:+.2}"),
                            grey: false,
                        }
                    }));
                }
                fcells.push(row);
            }
            Some(Heatmap {
                title: format!("{task}: change in mean utility when a factor is turned on"),
                rows: methods.clone(),
                cols: factors.iter().map(|f| f.to_string()).collect(),
                cells: fcells,
                diverging: true,
            })
        };
        grids.push((task.clone(), grid, factor_map));
    }
    put(
        dir,
        &mut files,
        "variant_grid.csv",
        csv(
            &[
                "task",
                "method",
                "dataset",
                "variant",
                "mean_utility",
                "includes_bounds",
                "budgets",
            ],
            &grid_rows,
        )
        .as_bytes(),
    )?;
    put(
        dir,
        &mut files,
        "factor_change.csv",
        csv(
            &[
                "task",
                "method",
                "factor",
                "without",
                "with",
                "delta_mean_utility",
            ],
            &factor_rows,
        )
        .as_bytes(),
    )?;

    // Figures.
    let mut figs: Vec<Figure> = Vec::new();
    let mut figure_errors = Vec::new();
    let mut keep = |title: String,
                    r: Result<[PathBuf; 2], figures::FigureError>,
                    files: &mut Vec<PathBuf>| match r {
        Ok([svg, png]) => {
            files.push(svg.clone());
            files.push(png);
            figs.push(Figure { title, svg });
        }
        Err(e) => figure_errors.push(e.to_string()),
    };
    let all_tasks: BTreeSet<String> = acc.iter().map(|a| a.task.clone()).collect();
    for task in &all_tasks {
        let ta: Vec<&AccuracyRow> = acc
            .iter()
            .filter(|a| &a.task == task && a.kind != "linear")
            .collect();
        let datasets: BTreeSet<(String, String)> = ta
            .iter()
            .map(|a| (a.dataset.clone(), a.variant.clone()))
            .collect();
        let metric = ta.first().map(|a| a.metric.clone()).unwrap_or_default();
        let mut acc_panels = Vec::new();
        let mut util_panels = Vec::new();
        for (d, v) in &datasets {
            let title = if d == v {
                format!("{task} on {d}")
            } else {
                format!("{task} on {d} ({v})")
            };
            let da: Vec<&AccuracyRow> = ta.iter().copied().filter(|a| &a.dataset == d).collect();
            let series_names: BTreeSet<String> = da.iter().map(|a| a.method.clone()).collect();
            let mut ordered: Vec<String> = series_names.into_iter().collect();
            ordered.sort_by_key(|m| (m != SCRATCH, m.clone()));
            acc_panels.push(Panel {
                title: title.clone(),
                x_desc: "labelled samples".into(),
                y_desc: format!("test {metric}"),
                log_x: true,
                series: ordered
                    .iter()
                    .map(|m| Series {
                        label: if m == SCRATCH {
                            "supervised (scratch)".into()
                        } else {
                            m.clone()
                        },
                        color_key: m.split('@').next().unwrap_or(m).to_string(),
                        points: da
                            .iter()
                            .filter(|a| &a.method == m)
                            .map(|a| Point {
                                lo: (a.values.len() > 1).then_some(a.min),
                                hi: (a.values.len() > 1).then_some(a.max),
                                ..Point::new(a.labels as f64, a.mean)
                            })
                            .collect(),
                        line: true,
                    })
                    .collect(),
                grey_above: None,
                hline: None,
                y_range: None,
            });
            let du: Vec<&UtilityRow> = util
                .iter()
                .filter(|u| &u.task == task && &u.dataset == d)
                .collect();
            if du.is_empty() {
                continue;
            }
            let n_best = du[0].baseline_best.0 as f64;
            let xs: Vec<f64> = du.iter().map(|u| u.labels as f64).collect();
            let (xmin, xmax) = xs
                .iter()
                .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
            let (lo, hi) = (xmin / 1.6, xmax * 1.6);
            let grey: Vec<(f64, f64)> = (0..=60)
                .map(|k| {
                    let x = lo * (hi / lo).powf(k as f64 / 60.0);
                    (x, n_best / x - 1.0)
                })
                .collect();
            let methods: BTreeSet<String> = du.iter().map(|u| u.method.clone()).collect();
            let ys: Vec<f64> = du
                .iter()
                .flat_map(|u| {
                    let v = u.in_mode(mode);
                    [Some(v.value), Some(v.ci_low), v.ci_high]
                })
                .flatten()
                .filter(|y| y.is_finite())
                .collect();
            let ymax = ys.iter().copied().fold(0.5f64, f64::max).min(50.0);
            let ymin = ys.iter().copied().fold(-0.5f64, f64::min).max(-1.0);
            util_panels.push(Panel {
                title,
                x_desc: "labelled samples".into(),
                y_desc: format!("utility ({} mode)", mode.name()),
                log_x: true,
                series: methods
                    .iter()
                    .map(|m| Series {
                        label: m.clone(),
                        color_key: m.split('@').next().unwrap_or(m).to_string(),
                        points: du
                            .iter()
                            .filter(|u| &u.method == m)
                            .map(|u| {
                                let v = u.in_mode(mode);
                                Point {
                                    lo: Some(v.ci_low.min(v.value)),
                                    hi: v.ci_high.map(|h| h.max(v.value)),
                                    hollow: v.bound != Bound::Exact,
                                    ..Point::new(u.labels as f64, v.value)
                                }
                            })
                            .collect(),
                        line: true,
                    })
                    .collect(),
                grey_above: Some(grey),
                hline: Some(0.0),
                y_range: Some((ymin - 0.1 * (ymax - ymin), ymax + 0.1 * (ymax - ymin))),
            });
        }
        if !acc_panels.is_empty() {
            let cols = acc_panels.len().min(3);
            keep(
                format!("Accuracy vs labels: {task}"),
                figures::write_line_figure(
                    &fig_dir,
                    &format!("accuracy_{task}"),
                    &LineFigure {
                        title: format!(
                            "{task}: test {metric} vs labelled samples (error bars: min-max over seeds)"
                        ),
                        panels: acc_panels,
                        cols,
                    },
                ),
                &mut files,
            );
        }
        if !util_panels.is_empty() {
            let cols = util_panels.len().min(3);
            keep(
                format!("Utility vs labels: {task}"),
                figures::write_line_figure(
                    &fig_dir,
                    &format!("utility_{task}"),
                    &LineFigure {
                        title: format!(
                            "{task}: utility U(n) = n_hat/n - 1 (grey: not computable, hollow: bound; 95% bootstrap over seeds)"
                        ),
                        panels: util_panels,
                        cols,
                    },
                ),
                &mut files,
            );
        }
    }
    for (task, grid, factor) in &grids {
        keep(
            format!("Variant grid: {task}"),
            figures::write_heatmap(&fig_dir, &format!("variant_grid_{task}"), grid),
            &mut files,
        );
        if let Some(f) = factor {
            keep(
                format!("Factor changes: {task}"),
                figures::write_heatmap(&fig_dir, &format!("factor_change_{task}"), f),
                &mut files,
            );
        }
    }
    // Linear evaluation vs finetuning.
    if !linear.is_empty() {
        let methods: Vec<String> = linear
            .iter()
            .map(|a| a.method.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let datasets: Vec<(String, String)> = linear
            .iter()
            .map(|a| (a.dataset.clone(), a.variant.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let cells = methods
            .iter()
            .map(|m| {
                datasets
                    .iter()
                    .map(|(d, _)| {
                        linear
                            .iter()
                            .find(|a| &a.method == m && &a.dataset == d)
                            .map(|a| Cell {
                                value: a.mean,
                                text: format!("{:.1}", 100.0 * a.mean),
                                grey: false,
                            })
                    })
                    .collect()
            })
            .collect();
        let map = Heatmap {
            title: "Linear evaluation (test accuracy %, frozen features, all training labels)"
                .into(),
            rows: methods.clone(),
            cols: datasets
                .iter()
                .map(|(d, v)| {
                    if d == v {
                        d.clone()
                    } else {
                        format!("{d} ({v})")
                    }
                })
                .collect(),
            cells,
            diverging: false,
        };
        keep(
            "Table 1: linear evaluation".into(),
            figures::write_heatmap(&fig_dir, "linear_eval_table", &map),
            &mut files,
        );
        // Scatter: linear accuracy vs finetuned accuracy at the smallest budget and vs mean utility.
        let mut s_acc = Vec::new();
        let mut s_util = Vec::new();
        for m in &methods {
            let mut pa = Vec::new();
            let mut pu = Vec::new();
            for t in linear_table.iter().filter(|t| &t.method == m) {
                if let Some(f) = t.finetuned {
                    pa.push(Point::new(t.linear, f));
                }
                if let Some(u) = t.mean_utility {
                    pu.push(Point {
                        hollow: t.utility_bound,
                        ..Point::new(t.linear, u)
                    });
                }
            }
            s_acc.push(Series {
                label: m.clone(),
                color_key: m.clone(),
                points: pa,
                line: false,
            });
            s_util.push(Series {
                label: m.clone(),
                color_key: m.clone(),
                points: pu,
                line: false,
            });
        }
        let smallest = acc
            .iter()
            .filter(|a| a.kind == "finetune")
            .map(|a| a.labels)
            .min()
            .unwrap_or(0);
        keep(
            "Linear evaluation vs finetuning".into(),
            figures::write_line_figure(
                &fig_dir,
                "linear_vs_finetune",
                &LineFigure {
                    title: "Linear evaluation vs finetuning (one point per method and dataset)"
                        .into(),
                    panels: vec![
                        Panel {
                            title: format!("finetuned accuracy at {smallest} labels"),
                            x_desc: "linear evaluation accuracy".into(),
                            y_desc: "finetuned accuracy".into(),
                            log_x: false,
                            series: s_acc,
                            grey_above: None,
                            hline: None,
                            y_range: None,
                        },
                        Panel {
                            title: format!("mean utility over budgets ({} mode)", mode.name()),
                            x_desc: "linear evaluation accuracy".into(),
                            y_desc: "mean utility".into(),
                            log_x: false,
                            series: s_util,
                            grey_above: None,
                            hline: Some(0.0),
                            y_range: None,
                        },
                    ],
                    cols: 2,
                },
            ),
            &mut files,
        );
    }

    // The page.
    let html = page(input, &data, &figs, &figure_errors, &fig_dir)?;
    put(dir, &mut files, "index.html", html.as_bytes())?;
    Ok(ReportOutput {
        data,
        files,
        figure_errors,
    })
}

fn cells_of(map: &Heatmap, r: usize, c: usize) -> Option<Cell> {
    map.cells
        .get(r)
        .and_then(|row| row.get(c))
        .cloned()
        .flatten()
}

fn page(
    input: &ReportInput,
    data: &ReportData,
    figs: &[Figure],
    figure_errors: &[String],
    fig_dir: &Path,
) -> Result<String, ReportError> {
    let mut h = String::new();
    let title = html_escape(&input.title);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>\
body{{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}}\
table{{border-collapse:collapse;font-size:13px;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}\
th{{background:#f3f3f3}}td.l,th.l{{text-align:left}}.bound{{color:#888}}figure{{margin:1.5em 0}}\
figure svg{{max-width:100%;height:auto}}pre{{background:#f7f7f7;padding:1em;overflow:auto}}.note{{color:#a40}}\
</style></head><body>\n<h1>{title}</h1>\n"
    );
    let done = input.times.iter().filter(|t| t.state == "done").count();
    let _ = writeln!(
        h,
        "<p>{} downstream runs in the numbers; {done} of {} graph nodes done. Utility U(n) = n_hat/n - 1 \
         against the from-scratch (<code>supervised</code>) curve; figures use <b>{}</b> mode \
         (log: running-max baseline, linear in log n; paper: raw baseline, linear in n between the bracketing budgets); \
         both modes are in <code>utility.json</code> and <code>utility.csv</code>. Intervals: 95% bootstrap over seeds ({} replicates). \
         Grey regions and hollow markers: utility not computable there (the finetuned accuracy passes the best scratch accuracy: a lower bound).</p>",
        input.records.len(),
        input.times.len(),
        input.mode.name(),
        data.bootstrap_replicates
    );
    for n in input.notes.iter().chain(figure_errors) {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", html_escape(n));
    }
    h.push_str("<h2>Figures</h2>\n");
    for f in figs {
        let svg = std::fs::read_to_string(&f.svg).map_err(io(&f.svg))?;
        let svg = match svg.find("<svg") {
            Some(i) => &svg[i..],
            None => &svg[..],
        };
        let png = f
            .svg
            .with_extension("png")
            .strip_prefix(fig_dir.parent().unwrap_or(fig_dir))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<figure>{svg}<figcaption>{} (<a href=\"{}\">PNG</a>)</figcaption></figure>",
            html_escape(&f.title),
            html_escape(&png)
        );
    }
    if !data.linear.is_empty() {
        let pct = |x: Option<f64>| {
            x.filter(|x| x.is_finite())
                .map(|x| format!("{:.1}", 100.0 * x))
                .unwrap_or_else(|| "-".into())
        };
        let _ = writeln!(
            h,
            "<h2>Table 1: linear evaluation vs finetuning</h2>\n<p>Linear evaluation: frozen \
             pretrained backbone, logistic regression on all training labels (test metric, %). \
             Finetuned: the same pretraining finetuned at the smallest and the largest budget \
             (test metric, %, mean over seeds); mean U: utility averaged over the budgets \
             ({} mode; ~ when some values are only bounds).</p>",
            data.mode.name()
        );
        h.push_str(
            "<table><tr><th class=\"l\">dataset</th><th class=\"l\">task</th>\
             <th class=\"l\">method</th><th>linear</th><th>finetuned (smallest n)</th>\
             <th>finetuned (largest n)</th><th>mean U</th></tr>\n",
        );
        for t in &data.linear {
            let at = |v: Option<f64>, n: Option<usize>| match n {
                Some(n) => format!("{} (n={n})", pct(v)),
                None => "-".into(),
            };
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td{}>{}</td></tr>",
                html_escape(&if t.dataset == t.variant {
                    t.dataset.clone()
                } else {
                    format!("{} ({})", t.dataset, t.variant)
                }),
                html_escape(&t.task),
                html_escape(&t.method),
                pct(Some(t.linear)),
                at(t.finetuned, t.finetune_labels),
                at(t.finetuned_max, t.finetune_labels_max),
                if t.utility_bound {
                    " class=\"bound\""
                } else {
                    ""
                },
                match t.mean_utility {
                    Some(u) if t.utility_bound => format!("~{u:.2}"),
                    Some(u) => format!("{u:.2}"),
                    None => "-".into(),
                }
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Utility</h2>\n<table><tr><th class=\"l\">dataset</th><th class=\"l\">task</th><th class=\"l\">method</th><th>labels</th><th>finetuned</th><th>best scratch (at n)</th><th>U log</th><th>95% (log)</th><th>U paper</th><th>95% (paper)</th></tr>\n");
    for u in &data.utility {
        let ci = |v: &UtilityValue| {
            format!(
                "{:.2} .. {}",
                v.ci_low,
                v.ci_high
                    .map(|x| format!("{x:.2}"))
                    .unwrap_or_else(|| "open".into())
            )
        };
        let cls = |v: &UtilityValue| {
            if v.bound == Bound::Exact {
                ""
            } else {
                " class=\"bound\""
            }
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{:.4}</td><td>{:.4} ({})</td><td{}>{}</td><td>{}</td><td{}>{}</td><td>{}</td></tr>",
            html_escape(&u.dataset),
            html_escape(&u.task),
            html_escape(&u.method),
            u.labels,
            u.finetuned,
            u.baseline_best.1,
            u.baseline_best.0,
            cls(&u.log),
            utility_text(&u.log),
            ci(&u.log),
            cls(&u.paper),
            utility_text(&u.paper),
            ci(&u.paper)
        );
    }
    h.push_str("</table>\n<h2>Accuracy</h2>\n<table><tr><th class=\"l\">dataset</th><th class=\"l\">task</th><th class=\"l\">method</th><th class=\"l\">kind</th><th>labels</th><th>metric</th><th>mean</th><th>std</th><th>seeds</th></tr>\n");
    for a in &data.accuracy {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td></tr>",
            html_escape(&a.dataset),
            html_escape(&a.task),
            html_escape(&a.method),
            html_escape(&a.kind),
            a.labels,
            html_escape(&a.metric),
            a.mean,
            a.std,
            a.values.len()
        );
    }
    h.push_str("</table>\n<h2>Datasets</h2>\n");
    for s in &input.sheets {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&s.png);
        let _ = writeln!(
            h,
            "<figure><img alt=\"{0}\" src=\"data:image/png;base64,{b64}\"><figcaption>{0}: {1} (image | segmentation | depth)</figcaption></figure>",
            html_escape(&s.dataset),
            html_escape(&s.caption)
        );
    }
    h.push_str("<h2>Run times</h2>\n<table><tr><th class=\"l\">run</th><th class=\"l\">kind</th><th class=\"l\">state</th><th>seconds</th></tr>\n");
    let mut total = 0.0;
    for t in &input.times {
        total += t.seconds.unwrap_or(0.0);
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td></tr>",
            html_escape(&t.id),
            html_escape(&t.kind),
            html_escape(&t.state),
            t.seconds.map(|s| format!("{s:.0}")).unwrap_or_default()
        );
    }
    let _ = writeln!(
        h,
        "<tr><th class=\"l\" colspan=\"3\">total (sum over runs)</th><th>{total:.0}</th></tr></table>"
    );
    let _ = writeln!(
        h,
        "<h2>Plan</h2>\n<pre>{}</pre>\n</body></html>",
        html_escape(&input.plan_text)
    );
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(
        kind: &str,
        dataset: &str,
        variant: &str,
        method: &str,
        labels: usize,
        seed: u64,
        test: f64,
    ) -> RunRecord {
        RunRecord {
            kind: kind.into(),
            dataset: dataset.into(),
            variant: variant.into(),
            task: "classification".into(),
            method: method.into(),
            pretrain_dataset: None,
            labels,
            seed,
            metric: "accuracy".into(),
            test,
            val: test,
            run_dir: format!("runs/{kind}-{method}-{labels}-{seed}"),
        }
    }

    fn input() -> ReportInput {
        let mut records = Vec::new();
        for (d, v, shift) in [("a", "----", 0.0), ("b", "T---", -0.1)] {
            for seed in [0, 1] {
                let s = seed as f64 * 0.02;
                records.push(rec(
                    "scratch",
                    d,
                    v,
                    "supervised",
                    100,
                    seed,
                    0.5 + shift + s,
                ));
                records.push(rec(
                    "scratch",
                    d,
                    v,
                    "supervised",
                    1000,
                    seed,
                    0.7 + shift + s,
                ));
                records.push(rec(
                    "finetune",
                    d,
                    v,
                    "rotation",
                    100,
                    seed,
                    0.6 + shift + s,
                ));
                records.push(rec(
                    "finetune",
                    d,
                    v,
                    "rotation",
                    1000,
                    seed,
                    0.8 + shift + s,
                ));
            }
            records.push(rec("linear", d, v, "rotation", 850, 0, 0.4 + shift));
        }
        ReportInput {
            title: "test study".into(),
            plan_text: "methods = [\"rotation\"] # <plan>".into(),
            mode: UtilityMode::Log,
            records,
            times: vec![RunTime {
                id: "x".into(),
                kind: "scratch".into(),
                state: "done".into(),
                seconds: Some(3.0),
            }],
            sheets: vec![ContactSheet {
                dataset: "a".into(),
                caption: "---- single 32 px".into(),
                png: vec![137, 80, 78, 71],
            }],
            notes: vec!["1 run failed: see runs/x/log.txt".into()],
            seed: 0,
        }
    }

    #[test]
    fn numbers_follow_the_records() {
        let acc = accuracy_rows(&input().records);
        let a = acc
            .iter()
            .find(|a| a.dataset == "a" && a.method == "supervised" && a.labels == 1000)
            .unwrap();
        assert!((a.mean - 0.71).abs() < 1e-12 && a.values.len() == 2);
        let util = utility_rows(&acc, 0);
        assert_eq!(util.len(), 4);
        let u = util
            .iter()
            .find(|u| u.dataset == "a" && u.labels == 100)
            .unwrap();
        // Mean finetuned 0.61 against (100, 0.51) .. (1000, 0.71): half way. Paper: 550.
        assert!((u.paper.n_hat - 550.0).abs() < 1e-6, "{u:?}");
        assert!((u.log.n_hat - 1000f64.sqrt() * 10.0).abs() < 1e-6, "{u:?}");
        let top = util
            .iter()
            .find(|u| u.dataset == "a" && u.labels == 1000)
            .unwrap();
        assert_eq!(top.log.bound, Bound::Lower);
        assert_eq!(top.log.value, 0.0);
        // Table 1: the linear accuracy next to the finetuned means at 100 and 1000 labels and
        // the mean utility over both budgets.
        let lin = linear_rows(&acc, &util, UtilityMode::Log);
        assert_eq!(lin.len(), 2);
        let t = lin.iter().find(|t| t.dataset == "a").unwrap();
        assert_eq!((t.labels, t.linear), (850, 0.4));
        assert_eq!(
            (t.finetune_labels, t.finetune_labels_max),
            (Some(100), Some(1000))
        );
        assert!((t.finetuned.unwrap() - 0.61).abs() < 1e-12);
        assert!((t.finetuned_max.unwrap() - 0.81).abs() < 1e-12);
        let mean_u = (u.log.value + top.log.value) / 2.0;
        assert!((t.mean_utility.unwrap() - mean_u).abs() < 1e-12, "{t:?}");
        assert!(t.utility_bound, "the 1000-label point is a lower bound");
    }

    #[test]
    fn factor_pairs_differ_in_one_factor() {
        let v: Vec<String> = ["----", "T---", "TC--", "-C--"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut p = factor_pairs(&v);
        p.sort();
        assert_eq!(
            p,
            [
                ('C', "----".into(), "-C--".into()),
                ('C', "T---".into(), "TC--".into()),
                ('T', "----".into(), "T---".into()),
                ('T', "-C--".into(), "TC--".into()),
            ]
        );
    }

    #[test]
    fn the_report_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let out = write_report(dir.path(), &input()).unwrap();
        assert!(out.figure_errors.is_empty(), "{:?}", out.figure_errors);
        for f in [
            "utility.json",
            "utility.csv",
            "accuracy.csv",
            "runs.csv",
            "linear_eval.csv",
            "variant_grid.csv",
            "factor_change.csv",
            "run_times.csv",
            "index.html",
            "figures/accuracy_classification.svg",
            "figures/accuracy_classification.png",
            "figures/utility_classification.svg",
            "figures/variant_grid_classification.png",
            "figures/factor_change_classification.svg",
            "figures/linear_eval_table.svg",
            "figures/linear_vs_finetune.png",
        ] {
            assert!(dir.path().join(f).is_file(), "{f} missing");
        }
        let data: ReportData =
            serde_json::from_slice(&std::fs::read(dir.path().join("utility.json")).unwrap())
                .unwrap();
        assert_eq!(data, out.data);
        let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
        assert!(html.contains("<svg") && html.contains("data:image/png;base64,iVBORw"));
        assert!(html.contains("&lt;plan&gt;") && html.contains("1 run failed"));
        assert!(html.contains("Table 1: linear evaluation vs finetuning"));
        assert!(html.contains("<td>40.0</td><td>61.0 (n=100)</td><td>81.0 (n=1000)</td>"));
        let lin = std::fs::read_to_string(dir.path().join("linear_eval.csv")).unwrap();
        assert!(
            lin.contains("a,----,classification,rotation,850,accuracy,0.4,0,1,100,0.61"),
            "{lin}"
        );
        assert!(!html.contains("<?xml"));
        let fc = std::fs::read_to_string(dir.path().join("factor_change.csv")).unwrap();
        assert!(fc.contains("classification,rotation,T,----,T---,"), "{fc}");
        let leftovers: Vec<_> = walk(dir.path())
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(".tmp"))
            })
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    fn walk(p: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(p).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
