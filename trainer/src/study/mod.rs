//! Studies: a plan of datasets, methods, tasks, label budgets and seeds, run as a graph of
//! render / pretrain / finetune / linear-evaluation nodes, summarised as utility curves,
//! figures and an HTML report (the `study` command).
//!
//! Input: a plan file ([`plan`]). Output: a study directory:
//! - `plan.toml` (the plan as given) and `plan.json` (validated, paths absolute);
//! - `graph.json`: the nodes in order ([`graph`]), for `study run-one DIR --index I`;
//! - `datasets/ID/`: datasets the study rendered; `renders/ID/`: their logs and summaries;
//! - `runs/ID/`: one directory per run, named by a hash of its configuration, holding what
//!   `train` writes (`metrics.json` last, atomically: present = finished), `log.txt`,
//!   `running.json` while it runs and `failed.json` when it failed;
//! - `report/`: [`report`]'s output.
//!
//! Modules: [`plan`] (TOML, validation, step schedules), [`graph`] (nodes and their hashes),
//! [`exec`] (node state, running one node in-process, the parallel executor), [`utility`],
//! [`figures`], [`report`], [`cluster`] (Slurm job arrays and Kubernetes Indexed Jobs).

pub mod cluster;
pub mod exec;
pub mod figures;
pub mod graph;
pub mod plan;
pub mod report;
pub mod utility;

use std::path::{Path, PathBuf};

use self::graph::{Node, NodeSpec};
use self::plan::{DatasetFacts, DatasetProbe, Plan};

/// Errors of a study.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The plan is invalid.
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    /// Reading or writing a study file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A study file is not what it should be.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A node failed.
    #[error("{node}: {reason}")]
    Node {
        /// Node id.
        node: String,
        /// Why.
        reason: String,
    },
    /// Writing the report failed.
    #[error(transparent)]
    Report(#[from] report::ReportError),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StudyError + '_ {
    move |source| StudyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// [`DatasetProbe`] on the `datasets` crate: a directory holds a dataset when its manifest and
/// every split's index open.
pub struct Probe;

impl DatasetProbe for Probe {
    fn existing(&self, dir: &Path) -> Result<Option<DatasetFacts>, String> {
        if !dir.join(datasets::MANIFEST_FILE).is_file() {
            return Ok(None);
        }
        let m = datasets::Manifest::read(dir).map_err(|e| e.to_string())?;
        if datasets::Dataset::open(dir).is_err() {
            return Ok(None);
        }
        Ok(Some(DatasetFacts {
            variant: m.variant.clone(),
            scene: m.scene.clone(),
            resolution: m.resolution[0],
            train: m.splits.as_array()[0],
        }))
    }

    fn train_split(&self, count: usize) -> usize {
        datasets::split_counts(count)[0]
    }

    fn default_resolution(&self, scene: &str) -> u32 {
        scene
            .parse::<datasets::SceneKind>()
            .map(|s| s.default_resolution())
            .unwrap_or(64)
    }
}

/// A study directory with its plan and graph.
#[derive(Debug, Clone)]
pub struct Study {
    /// The study directory.
    pub dir: PathBuf,
    /// The validated plan.
    pub plan: Plan,
    /// The plan file's text.
    pub plan_text: String,
    /// The graph.
    pub nodes: Vec<Node>,
}

/// `plan.json` in a study directory.
pub const PLAN_JSON: &str = "plan.json";
/// `plan.toml` in a study directory.
pub const PLAN_TOML: &str = "plan.toml";
/// `graph.json` in a study directory.
pub const GRAPH_JSON: &str = "graph.json";

fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<(), StudyError> {
    let mut bytes = serde_json::to_vec_pretty(v).map_err(|e| StudyError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    crate::write_atomic(path, &bytes).map_err(|e| StudyError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

impl Study {
    /// Validates the plan file and sets up (or updates) the study directory: `plan.toml`,
    /// `plan.json`, `graph.json`. Runs already in the directory are kept; those whose
    /// configuration is unchanged are reused.
    ///
    /// # Errors
    /// Plan errors (file, key, expectation) before anything is written; I/O errors.
    pub fn create(plan_path: &Path, dir: &Path) -> Result<Study, StudyError> {
        let text = std::fs::read_to_string(plan_path).map_err(|source| {
            StudyError::Plan(plan::PlanError::Io {
                path: plan_path.to_path_buf(),
                source,
            })
        })?;
        let abs = std::path::absolute(plan_path).map_err(io_err(plan_path))?;
        let plan = plan::parse(&text, &abs, &Probe)?;
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let nodes = graph::build(&plan);
        crate::write_atomic(&dir.join(PLAN_TOML), text.as_bytes()).map_err(|e| {
            StudyError::Invalid {
                path: dir.join(PLAN_TOML),
                reason: e.to_string(),
            }
        })?;
        write_json(&dir.join(PLAN_JSON), &plan)?;
        write_json(&dir.join(GRAPH_JSON), &nodes)?;
        Ok(Study {
            dir: dir.to_path_buf(),
            plan,
            plan_text: text,
            nodes,
        })
    }

    /// Opens a study directory made by [`Study::create`].
    ///
    /// # Errors
    /// Missing or unreadable `plan.json`.
    pub fn open(dir: &Path) -> Result<Study, StudyError> {
        let path = dir.join(PLAN_JSON);
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StudyError::Invalid {
                    path: path.clone(),
                    reason: "no study here (run `study run PLAN --out DIR` first)".into(),
                }
            } else {
                StudyError::Io {
                    path: path.clone(),
                    source: e,
                }
            }
        })?;
        let plan: Plan = serde_json::from_slice(&bytes).map_err(|e| StudyError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let plan_text = std::fs::read_to_string(dir.join(PLAN_TOML)).unwrap_or_default();
        let nodes = graph::build(&plan);
        Ok(Study {
            dir: dir.to_path_buf(),
            plan,
            plan_text,
            nodes,
        })
    }

    /// The directory of node `i` (dataset directory for renders, run directory otherwise).
    pub fn node_dir(&self, i: usize) -> PathBuf {
        self.nodes[i].dir(&self.dir, &self.plan)
    }

    /// Where node `i` keeps `log.txt`, `running.json`, `failed.json`: the run directory, or
    /// `renders/ID/` for renders.
    pub fn state_dir(&self, i: usize) -> PathBuf {
        match self.nodes[i].spec {
            NodeSpec::Render { .. } => self.dir.join("renders").join(&self.nodes[i].id),
            _ => self.node_dir(i),
        }
    }

    /// Absolute directory of a dataset path from a node spec.
    pub fn dataset_dir(&self, rel: &Path) -> PathBuf {
        self.dir.join(rel)
    }

    /// Writes the report into `DIR/report/`.
    ///
    /// # Errors
    /// [`StudyError`] when the data files cannot be written.
    pub fn report(&self) -> Result<report::ReportOutput, StudyError> {
        exec::write_study_report(self)
    }
}
