//! The run graph of a study: render -> pretrain -> scratch / finetune / linear evaluation.
//!
//! Input: a validated [`Plan`]. Output: the [`Node`]s in an order where every node comes after
//! the nodes it needs (renders, then pretraining, then downstream runs), each with the full
//! configuration that defines its result ([`NodeSpec`]) and a directory name made of a readable
//! prefix and a hash of that configuration. The same plan always gives the same nodes, so
//! `study run-one DIR --index I` on any machine runs the same node, and a run whose configuration
//! is unchanged keeps its directory (and its finished result) when the plan grows.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::plan::{DatasetPlan, DatasetSource, Plan, PretrainSettings, RenderSpec, SCRATCH};

/// Where datasets rendered by the study live (relative to the study directory).
pub const DATASETS_DIR: &str = "datasets";
/// Where runs live (relative to the study directory).
pub const RUNS_DIR: &str = "runs";

/// What one node does; everything that changes its result is in here (and in its hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum NodeSpec {
    /// Render a dataset with the `datasets` crate.
    Render {
        /// Dataset name.
        dataset: String,
        /// What to render.
        spec: RenderSpec,
    },
    /// Self-supervised pretraining of a backbone on a dataset's train split.
    Pretrain {
        /// Dataset name.
        dataset: String,
        /// Dataset directory (relative: inside the study directory), or a `render:` spec.
        dataset_dir: PathBuf,
        /// Method.
        method: String,
        /// Dense backbone variant (for segmentation / depth finetuning).
        dense: bool,
        /// Steps, batch, lr, weight decay (unset: the method's defaults).
        settings: PretrainSettings,
        /// Seed.
        seed: u64,
        /// Backbone.
        backbone: String,
        /// Width.
        width: f64,
        /// Backend.
        backend: String,
    },
    /// Supervised training on a label budget: from scratch, or finetuning a pretrained backbone.
    Train {
        /// Dataset name.
        dataset: String,
        /// Dataset directory (relative: inside the study directory), or a `render:` spec.
        dataset_dir: PathBuf,
        /// Task.
        task: String,
        /// Method (`supervised`: from scratch).
        method: String,
        /// Dataset the backbone was pretrained on (when a pretrained method).
        pretrain_dataset: Option<String>,
        /// Directory name of the pretraining node (when a pretrained method).
        pretrain: Option<String>,
        /// Labels.
        labels: usize,
        /// Seed.
        seed: u64,
        /// Steps (the plan's schedule at this n).
        steps: u64,
        /// Batch size.
        batch_size: usize,
        /// Peak lr (unset: the trainer's).
        lr: Option<f64>,
        /// Weight decay (unset: the trainer's).
        weight_decay: Option<f32>,
        /// Backbone.
        backbone: String,
        /// Width.
        width: f64,
        /// Backend.
        backend: String,
        /// Evaluation sample limit (0: all).
        eval_limit: usize,
    },
    /// Linear evaluation: frozen pretrained features, logistic regression on all train labels
    /// (one per pretraining, seed = the pretraining's).
    Linear {
        /// Dataset name.
        dataset: String,
        /// Dataset directory (relative: inside the study directory), or a `render:` spec.
        dataset_dir: PathBuf,
        /// Task.
        task: String,
        /// Method.
        method: String,
        /// Directory name of the pretraining node.
        pretrain: String,
        /// Seed.
        seed: u64,
        /// Backbone.
        backbone: String,
        /// Width.
        width: f64,
        /// Backend.
        backend: String,
        /// Evaluation sample limit (0: all).
        eval_limit: usize,
    },
}

impl NodeSpec {
    /// `render`, `pretrain`, `scratch`, `finetune` or `linear`.
    pub fn kind(&self) -> &'static str {
        match self {
            NodeSpec::Render { .. } => "render",
            NodeSpec::Pretrain { .. } => "pretrain",
            NodeSpec::Train { method, .. } if method == SCRATCH => "scratch",
            NodeSpec::Train { .. } => "finetune",
            NodeSpec::Linear { .. } => "linear",
        }
    }

    /// The dataset's name.
    pub fn dataset(&self) -> &str {
        match self {
            NodeSpec::Render { dataset, .. }
            | NodeSpec::Pretrain { dataset, .. }
            | NodeSpec::Train { dataset, .. }
            | NodeSpec::Linear { dataset, .. } => dataset,
        }
    }

    /// The method, if any.
    pub fn method(&self) -> Option<&str> {
        match self {
            NodeSpec::Render { .. } => None,
            NodeSpec::Pretrain { method, .. }
            | NodeSpec::Train { method, .. }
            | NodeSpec::Linear { method, .. } => Some(method),
        }
    }
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Position in [`build`]'s order (`study run-one --index`).
    pub index: usize,
    /// Directory name: readable prefix + 12 hex digits of the configuration hash.
    pub id: String,
    /// Configuration.
    pub spec: NodeSpec,
    /// Indices of the nodes it needs.
    pub deps: Vec<usize>,
}

impl Node {
    /// The node's directory inside the study directory: `datasets/ID` for renders into the
    /// study, the plan's `dir` for renders elsewhere, `runs/ID` for runs.
    pub fn dir(&self, study: &Path, plan: &Plan) -> PathBuf {
        match &self.spec {
            NodeSpec::Render { dataset, .. } => match plan.dataset(dataset).map(|d| &d.source) {
                Some(DatasetSource::Render { dir: Some(dir), .. }) => dir.clone(),
                _ => study.join(DATASETS_DIR).join(&self.id),
            },
            _ => study.join(RUNS_DIR).join(&self.id),
        }
    }

    /// A one-line description.
    pub fn describe(&self) -> String {
        match &self.spec {
            NodeSpec::Render { dataset, spec } => format!(
                "render {dataset} ({} {} x{})",
                spec.variant, spec.scene, spec.count
            ),
            NodeSpec::Pretrain {
                dataset, method, ..
            } => format!("pretrain {method} on {dataset}"),
            NodeSpec::Train {
                dataset,
                task,
                method,
                labels,
                seed,
                pretrain_dataset,
                ..
            } => {
                let from = match pretrain_dataset {
                    Some(p) if p != dataset => format!(" (pretrained on {p})"),
                    _ => String::new(),
                };
                format!("{method}{from} {task} on {dataset}, {labels} labels, seed {seed}")
            }
            NodeSpec::Linear {
                dataset,
                task,
                method,
                seed,
                ..
            } => format!("linear eval {method} {task} on {dataset}, seed {seed}"),
        }
    }
}

/// xxh64 (hex) of the node spec's JSON.
pub fn spec_hash(spec: &NodeSpec) -> String {
    let json = serde_json::to_string(spec).unwrap_or_default();
    format!("{:016x}", xxhash_rust::xxh64::xxh64(json.as_bytes(), 0))
}

fn node_id(spec: &NodeSpec) -> String {
    let hash = spec_hash(spec);
    let prefix = match spec {
        NodeSpec::Render { dataset, .. } => dataset.clone(),
        NodeSpec::Pretrain {
            dataset,
            method,
            dense,
            ..
        } => format!(
            "pretrain-{method}{}-{dataset}",
            if *dense { "-dense" } else { "" }
        ),
        NodeSpec::Train {
            dataset,
            task,
            method,
            labels,
            seed,
            pretrain_dataset,
            ..
        } => {
            let m = match pretrain_dataset {
                Some(p) if p != dataset => format!("{method}@{p}"),
                _ => method.clone(),
            };
            format!("{}-{m}-{task}-{dataset}-n{labels}-s{seed}", spec.kind())
        }
        NodeSpec::Linear {
            dataset,
            task,
            method,
            seed,
            ..
        } => format!("linear-{method}-{task}-{dataset}-s{seed}"),
    };
    format!("{prefix}-{}", &hash[..12])
}

/// Whether a task is predicted per pixel (its backbone is the dense variant).
pub fn is_dense(task: &str) -> bool {
    matches!(task, "segmentation" | "depth")
}

/// Batch size of a supervised run: the plan's, or the trainer's default for the task.
pub fn batch_size(plan: &Plan, task: &str) -> usize {
    if let Some(b) = plan.finetune.batch_size {
        return b;
    }
    match (task.parse(), plan.backbone.parse()) {
        (Ok(task), Ok(backbone)) => crate::training::default_batch_size(task, backbone),
        _ => 64,
    }
}

struct Builder<'a> {
    plan: &'a Plan,
    nodes: Vec<Node>,
}

impl Builder<'_> {
    fn add(&mut self, spec: NodeSpec, deps: Vec<usize>) -> usize {
        let id = node_id(&spec);
        if let Some(n) = self.nodes.iter().find(|n| n.id == id) {
            return n.index;
        }
        let index = self.nodes.len();
        self.nodes.push(Node {
            index,
            id,
            spec,
            deps,
        });
        index
    }

    /// Render node of a dataset (if the study renders it) and its directory as the runs see it
    /// (the `render:` spec of a stream: `train --dataset` takes either).
    fn dataset(&mut self, d: &DatasetPlan) -> (Option<usize>, PathBuf) {
        match &d.source {
            DatasetSource::Existing(dir) => (None, dir.clone()),
            DatasetSource::Stream { spec, .. } => (None, PathBuf::from(spec)),
            DatasetSource::Render { dir, spec } => {
                let i = self.add(
                    NodeSpec::Render {
                        dataset: d.name.clone(),
                        spec: spec.clone(),
                    },
                    Vec::new(),
                );
                let rel = match dir {
                    Some(dir) => dir.clone(),
                    None => Path::new(DATASETS_DIR).join(&self.nodes[i].id),
                };
                (Some(i), rel)
            }
        }
    }

    fn pretrain(&mut self, d: &DatasetPlan, method: &str, dense: bool) -> usize {
        let (render, dir) = self.dataset(d);
        // A stream's pretraining sees the plan's `unique_images` (the Figure 10 cap).
        let dir = match &d.source {
            DatasetSource::Stream { pretrain, .. } => PathBuf::from(pretrain),
            _ => dir,
        };
        let p = self.plan;
        self.add(
            NodeSpec::Pretrain {
                dataset: d.name.clone(),
                dataset_dir: dir,
                method: method.to_string(),
                dense,
                settings: p.pretrain_settings(method),
                seed: p.pretrain.seed,
                backbone: p.backbone.clone(),
                width: p.width,
                backend: p.backend.clone(),
            },
            render.into_iter().collect(),
        )
    }

    fn train(&mut self, d: &DatasetPlan, task: &str, method: &str, from: Option<&DatasetPlan>) {
        let p = self.plan;
        let (render, dir) = self.dataset(d);
        let dense = is_dense(task);
        let pre = match (method == SCRATCH, from) {
            (true, _) => None,
            (false, Some(src)) => Some((self.pretrain(src, method, dense), src.name.clone())),
            (false, None) => Some((self.pretrain(d, method, dense), d.name.clone())),
        };
        let batch = batch_size(p, task);
        for &labels in &d.budgets {
            for &seed in &p.seeds {
                let mut deps: Vec<usize> = render.into_iter().collect();
                deps.extend(pre.as_ref().map(|x| x.0));
                let spec = NodeSpec::Train {
                    dataset: d.name.clone(),
                    dataset_dir: dir.clone(),
                    task: task.to_string(),
                    method: method.to_string(),
                    pretrain_dataset: pre.as_ref().map(|x| x.1.clone()),
                    pretrain: pre.as_ref().map(|x| self.nodes[x.0].id.clone()),
                    labels,
                    seed,
                    steps: p.schedule.steps(labels, batch),
                    batch_size: batch,
                    lr: p.finetune.lr,
                    weight_decay: p.finetune.weight_decay,
                    backbone: p.backbone.clone(),
                    width: p.width,
                    backend: p.backend.clone(),
                    eval_limit: p.finetune.eval_limit,
                };
                self.add(spec, deps);
            }
        }
    }
}

/// The nodes of a plan, dependencies first.
pub fn build(plan: &Plan) -> Vec<Node> {
    let mut b = Builder {
        plan,
        nodes: Vec::new(),
    };
    for d in &plan.datasets {
        b.dataset(d);
    }
    for d in &plan.datasets {
        for m in plan.methods.iter().filter(|m| *m != SCRATCH) {
            for dense in [false, true] {
                if d.tasks.iter().any(|t| is_dense(t) == dense) {
                    b.pretrain(d, m, dense);
                }
            }
        }
    }
    for d in &plan.datasets {
        for task in &d.tasks {
            for m in &plan.methods {
                b.train(d, task, m, None);
            }
        }
    }
    for t in &plan.transfers {
        let (Some(src), Some(dst)) = (plan.dataset(&t.pretrain_on), plan.dataset(&t.finetune_on))
        else {
            continue;
        };
        for task in &dst.tasks {
            for m in plan.methods.iter().filter(|m| *m != SCRATCH) {
                b.train(dst, task, m, Some(src));
            }
        }
    }
    if plan.linear_eval {
        for d in &plan.datasets {
            if !d.tasks.iter().any(|t| t == "classification") {
                continue;
            }
            for m in plan.methods.iter().filter(|m| *m != SCRATCH) {
                let pre = b.pretrain(d, m, false);
                let (render, dir) = b.dataset(d);
                let mut deps: Vec<usize> = render.into_iter().collect();
                deps.push(pre);
                // One per pretraining: the fit on all labels is deterministic (the seed only
                // draws pixels of the dense tasks), so the supervised seeds would repeat it.
                let spec = NodeSpec::Linear {
                    dataset: d.name.clone(),
                    dataset_dir: dir.clone(),
                    task: "classification".into(),
                    method: m.clone(),
                    pretrain: b.nodes[pre].id.clone(),
                    seed: plan.pretrain.seed,
                    backbone: plan.backbone.clone(),
                    width: plan.width,
                    backend: plan.backend.clone(),
                    eval_limit: plan.finetune.eval_limit,
                };
                b.add(spec, deps);
            }
        }
    }
    // Pretraining nodes were added lazily for transfers: order renders, pretrains, the rest
    // (stable), then renumber.
    let rank = |n: &Node| match n.spec {
        NodeSpec::Render { .. } => 0,
        NodeSpec::Pretrain { .. } => 1,
        _ => 2,
    };
    let mut order: Vec<usize> = (0..b.nodes.len()).collect();
    order.sort_by_key(|&i| (rank(&b.nodes[i]), i));
    let mut new_index = vec![0; b.nodes.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    order
        .iter()
        .enumerate()
        .map(|(new, &old)| {
            let n = &b.nodes[old];
            Node {
                index: new,
                id: n.id.clone(),
                spec: n.spec.clone(),
                deps: n.deps.iter().map(|&d| new_index[d]).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::plan::{DatasetFacts, DatasetProbe, parse};

    struct Fake;
    impl DatasetProbe for Fake {
        fn existing(&self, _: &Path) -> Result<Option<DatasetFacts>, String> {
            Ok(None)
        }
        fn train_split(&self, count: usize) -> usize {
            count * 85 / 100
        }
        fn default_resolution(&self, _: &str) -> u32 {
            64
        }
    }

    const PLAN: &str = r#"
methods = ["supervised", "rotation"]
tasks = ["classification"]
budgets = [100, 400]
seeds = [0, 1]
linear_eval = true
[finetune]
schedule = "paper"
batch_size = 512
[[dataset]]
name = "a"
tasks = ["classification", "segmentation"]
render = { variant = "----", count = 1000 }
[[dataset]]
name = "b"
render = { variant = "T---", count = 1000 }
[[transfer]]
pretrain_on = "b"
finetune_on = "a"
"#;

    fn nodes(text: &str) -> Vec<Node> {
        build(&parse(text, Path::new("/p/plan.toml"), &Fake).unwrap())
    }

    #[test]
    fn dependencies_come_first_and_kinds_are_contiguous() {
        let n = nodes(PLAN);
        let rank = |k: &str| match k {
            "render" => 0,
            "pretrain" => 1,
            _ => 2,
        };
        for (i, node) in n.iter().enumerate() {
            assert_eq!(node.index, i);
            assert!(node.deps.iter().all(|&d| d < i), "{node:?}");
            if i > 0 {
                assert!(rank(n[i - 1].spec.kind()) <= rank(node.spec.kind()));
            }
        }
        let count = |k: &str| n.iter().filter(|x| x.spec.kind() == k).count();
        // Renders a, b; rotation pretrained on a (plain, and dense for segmentation) and on b
        // (plain, and dense for the transfer to a's segmentation).
        assert_eq!((count("render"), count("pretrain")), (2, 4));
        // a: 2 tasks x 2 budgets x 2 seeds; b: 1 task x 2 x 2; transfer b->a: 2 tasks x 2 x 2.
        assert_eq!(count("scratch"), 8 + 4);
        assert_eq!(count("finetune"), 8 + 4 + 8);
        // One per classification dataset and method (not per seed: the fit is deterministic).
        assert_eq!(count("linear"), 2);
        let ids: std::collections::BTreeSet<&str> = n.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids.len(), n.len(), "ids are unique");
    }

    #[test]
    fn ids_of_existing_node_kinds_are_pinned() {
        // Run directories of finished studies must keep their names: a change here means
        // every run of every existing study would be redone (a new node kind, or a new field
        // of the linear-evaluation spec, must not change these).
        let n = nodes(PLAN);
        let id = |prefix: &str| {
            n.iter()
                .find(|x| x.id.starts_with(prefix))
                .map(|x| x.id.as_str())
                .unwrap_or_default()
        };
        for want in PINNED {
            let prefix = &want[..want.len() - 12];
            assert_eq!(id(prefix), want, "the id of {prefix}... changed");
        }
    }

    const PINNED: [&str; 6] = [
        "a-97193d2f5f59",
        "pretrain-rotation-a-fb9a66f7707f",
        "pretrain-rotation-dense-b-4a8495d43e66",
        "scratch-supervised-classification-a-n100-s0-4d87580a5ec3",
        "finetune-rotation-segmentation-a-n400-s1-6f9eb5cab8f4",
        "finetune-rotation@b-classification-a-n100-s0-76f2179d3638",
    ];

    #[test]
    fn a_stream_dataset_has_no_render_node_and_pretrains_on_its_cap() {
        let plan = PLAN.replace(
            "render = { variant = \"T---\", count = 1000 }",
            "stream = \"render:T---,res=16,count=1000\"\nunique_images = 300",
        );
        let n = nodes(&plan);
        let a = nodes(PLAN);
        assert_eq!(
            n.iter().filter(|x| x.spec.kind() == "render").count(),
            1,
            "only a's"
        );
        for node in &n {
            let (dir, on_b) = match &node.spec {
                NodeSpec::Pretrain {
                    dataset,
                    dataset_dir,
                    ..
                } => (dataset_dir, dataset == "b"),
                NodeSpec::Train {
                    dataset,
                    dataset_dir,
                    ..
                }
                | NodeSpec::Linear {
                    dataset,
                    dataset_dir,
                    ..
                } => (dataset_dir, dataset == "b"),
                NodeSpec::Render { .. } => continue,
            };
            if !on_b {
                continue;
            }
            assert!(node.deps.iter().all(|&d| n[d].spec.kind() != "render"));
            let want = if node.spec.kind() == "pretrain" {
                "render:T---,res=16,count=1000,unique=300"
            } else {
                "render:T---,res=16,count=1000"
            };
            assert_eq!(dir, Path::new(want), "{}", node.id);
        }
        // The nodes of dataset a keep their ids.
        for x in a
            .iter()
            .filter(|x| x.spec.dataset() == "a" && x.spec.kind() != "finetune")
        {
            assert!(n.iter().any(|y| y.id == x.id), "{} kept", x.id);
        }
    }

    #[test]
    fn scratch_and_finetuned_runs_at_one_budget_get_the_same_steps() {
        for node in nodes(PLAN) {
            if let NodeSpec::Train { labels, steps, .. } = node.spec {
                assert_eq!(steps, crate::study::plan::paper_steps(labels, 512));
            }
        }
    }

    #[test]
    fn ids_follow_the_configuration_only() {
        let a = nodes(PLAN);
        // Another seed adds runs but keeps every existing id.
        let b = nodes(&PLAN.replace("seeds = [0, 1]", "seeds = [0, 1, 2]"));
        for x in &a {
            assert!(b.iter().any(|y| y.id == x.id), "{} kept", x.id);
        }
        // Another step schedule changes the supervised runs' ids but not the renders'.
        let c = nodes(&PLAN.replace("schedule = \"paper\"", "schedule = \"default\""));
        for (x, y) in a.iter().zip(&c) {
            assert_eq!(
                x.id == y.id,
                !matches!(x.spec, NodeSpec::Train { .. }),
                "{}",
                x.id
            );
        }
        assert!(a[0].id.starts_with("a-") && a[0].id.len() == 2 + 12);
    }
}
