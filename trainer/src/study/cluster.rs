//! A study on a cluster: Slurm job arrays (`study slurm`), the Slurm state of queued and running
//! nodes (`study status`), and Kubernetes Indexed Jobs (`study k8s`).
//!
//! Input: a [`Study`] (its graph orders renders, then pretraining, then the downstream runs, so
//! each kind is one contiguous range of node indices) and the resources of its jobs. Output:
//! - Slurm: through [`datasets::slurm`], `DIR/slurm/NN-study-KIND.sbatch` arrays whose task runs
//!   `study run-one DIR --index I` (I = the range's first index + `$SLURM_ARRAY_TASK_ID`), each
//!   kind after the previous ones (`afterok`), then `study report DIR` after all of them
//!   (`afterany`: the report also lists failed runs); `DIR/slurm/jobs.json` once submitted;
//! - Kubernetes: `DIR/k8s/NN-study-KIND.yaml`, one Job per kind (`completionMode: Indexed`,
//!   `completions` = the range's length, the pod runs node `FIRST + $JOB_COMPLETION_INDEX`), a
//!   plain Job for the report, and `DIR/k8s/apply.sh`, which applies them in order and waits
//!   for each (Kubernetes has no dependencies between Jobs).
//!
//! A node that was preempted, cancelled or failed resumes from its checkpoint when its task is
//! resubmitted (`study run-one` skips finished nodes): resubmitting the whole pipeline redoes
//! only what is not finished.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use datasets::slurm::{self, Dependency, Pipeline, Resources, Stage, StageKind};

use super::graph::NodeSpec;
use super::{Study, StudyError};

/// Sub-directory of the study directory for the Kubernetes manifests.
pub const K8S_DIR: &str = "k8s";

/// A contiguous range of nodes of one kind: one job array / Indexed Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRange {
    /// `render`, `pretrain` or `runs` (scratch, finetune and linear evaluation).
    pub kind: &'static str,
    /// First node index.
    pub first: usize,
    /// Number of nodes.
    pub count: usize,
}

fn rank(spec: &NodeSpec) -> (usize, &'static str) {
    match spec {
        NodeSpec::Render { .. } => (0, "render"),
        NodeSpec::Pretrain { .. } => (1, "pretrain"),
        _ => (2, "runs"),
    }
}

/// The study's nodes as ranges of one kind each, in graph order. Every node's dependencies lie
/// in earlier ranges (checked).
///
/// # Errors
/// A graph that is not ordered renders, pretraining, runs (it always is when built by
/// [`super::graph::build`]).
pub fn node_ranges(study: &Study) -> Result<Vec<NodeRange>, StudyError> {
    let mut ranges: Vec<NodeRange> = Vec::new();
    let mut last_rank = None;
    for (i, node) in study.nodes.iter().enumerate() {
        let (r, kind) = rank(&node.spec);
        if last_rank == Some(r) {
            if let Some(range) = ranges.last_mut() {
                range.count += 1;
            }
        } else {
            if last_rank.is_some_and(|l| l > r) {
                return Err(graph_order_error(study, i));
            }
            ranges.push(NodeRange {
                kind,
                first: i,
                count: 1,
            });
            last_rank = Some(r);
        }
        let start = ranges.last().map_or(0, |range| range.first);
        if node.deps.iter().any(|&d| d >= start) {
            return Err(graph_order_error(study, i));
        }
    }
    Ok(ranges)
}

fn graph_order_error(study: &Study, i: usize) -> StudyError {
    StudyError::Invalid {
        path: study.dir.join(super::GRAPH_JSON),
        reason: format!(
            "node {i} ({}) is out of order: a cluster pipeline needs renders, then pretraining, \
             then the runs, each after what it needs",
            study.nodes[i].id
        ),
    }
}

/// Resources of a study's jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudyResources {
    /// Render and training tasks (e.g. `--gres=gpu:1`).
    pub tasks: Resources,
    /// Time limit of the pretraining tasks when it differs from `tasks.time`.
    pub pretrain_time: Option<String>,
    /// The report job (no GPU; by default the partition, time and memory of the tasks).
    pub report: Resources,
}

impl StudyResources {
    /// `tasks` for the tasks, and the report without the GPU, CPU count and throttle.
    pub fn new(tasks: Resources) -> StudyResources {
        let report = Resources {
            gres: None,
            cpus_per_task: None,
            throttle: None,
            ..tasks.clone()
        };
        StudyResources {
            tasks,
            pretrain_time: None,
            report,
        }
    }
}

fn utf8(path: &Path, what: &str) -> Result<String, StudyError> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| StudyError::Invalid {
            path: path.to_path_buf(),
            reason: format!("{what} is not valid UTF-8"),
        })
}

fn absolute(path: &Path) -> Result<PathBuf, StudyError> {
    std::path::absolute(path).map_err(super::io_err(path))
}

/// The Slurm pipeline of a study: one array per [`NodeRange`] (`study-render`,
/// `study-pretrain`, `study-runs`), each after all earlier ones, and `study-report` after every
/// array whatever their outcome. `study_bin` is the `study` executable the jobs run.
///
/// # Errors
/// A graph out of order; a path that is not UTF-8.
pub fn slurm_pipeline(
    study: &Study,
    study_bin: &Path,
    resources: &StudyResources,
) -> Result<Pipeline, StudyError> {
    let dir = absolute(&study.dir)?;
    let dir_text = utf8(&dir, "the study directory")?;
    let bin = utf8(study_bin, "the study executable")?;
    let mut stages = Vec::new();
    for range in node_ranges(study)? {
        let mut res = resources.tasks.clone();
        if range.kind == "pretrain"
            && let Some(t) = &resources.pretrain_time
        {
            res.time = Some(t.clone());
        }
        stages.push(Stage {
            name: format!("study-{}", range.kind),
            kind: StageKind::Array {
                first: range.first,
                count: range.count,
            },
            command: vec![
                bin.clone(),
                "run-one".into(),
                dir_text.clone(),
                "--index".into(),
                slurm::TASK_INDEX.into(),
            ],
            resources: res,
            after: (0..stages.len()).collect(),
            dependency: Dependency::AfterOk,
        });
    }
    stages.push(Stage {
        name: "study-report".into(),
        kind: StageKind::Single,
        command: vec![bin, "report".into(), dir_text],
        resources: resources.report.clone(),
        after: (0..stages.len()).collect(),
        dependency: Dependency::AfterAny,
    });
    Ok(Pipeline {
        dir: dir.clone(),
        workdir: dir,
        env: Vec::new(),
        stages,
    })
}

/// Slurm state of the study's nodes that are queued or running, from the jobs recorded in
/// `DIR/slurm/jobs.json` and `squeue` (`squeue` from PATH). Keys: node index; the report job
/// is under `None`. Empty when nothing was submitted from this directory.
///
/// # Errors
/// No `squeue` on PATH, `squeue` failing, an unreadable jobs file.
pub fn slurm_states(
    study: &Study,
) -> Result<BTreeMap<Option<usize>, slurm::QueueEntry>, slurm::SlurmError> {
    let Some(jobs) = slurm::read_jobs(&study.dir)? else {
        return Ok(BTreeMap::new());
    };
    let squeue = slurm::find_program("squeue", None)?;
    let ids: Vec<u64> = jobs.iter().map(|j| j.job_id).collect();
    let entries = slurm::query_queue(&squeue, &ids)?;
    let mut states = BTreeMap::new();
    for e in entries {
        let Some(job) = jobs.iter().find(|j| j.job_id == e.job_id) else {
            continue;
        };
        let key = match (job.script.array_tasks, e.array_task) {
            (Some(_), Some(t)) => Some(job.script.first_index + t),
            (None, _) => None,
            // A pending array shown as one line without a task id: every task of it.
            (Some(n), None) => {
                for t in 0..n {
                    states.insert(Some(job.script.first_index + t), e.clone());
                }
                continue;
            }
        };
        states.insert(key, e);
    }
    Ok(states)
}

/// `study status`'s Slurm section: `None` when nothing was submitted from this directory
/// (no `DIR/slurm/jobs.json`); otherwise one line per queued or running node (job id, state,
/// why it is pending), or one line saying why the queue could not be read (no `squeue` on
/// PATH, `squeue` failing, an unreadable jobs file): the file states above it stay valid.
pub fn slurm_status_lines(study: &Study) -> Option<String> {
    let jobs_file = study.dir.join(slurm::SCRIPT_DIR).join(slurm::JOBS_FILE);
    match slurm::read_jobs(&study.dir) {
        Ok(None) => return None,
        Ok(Some(_)) => {}
        Err(e) => return Some(format!("slurm: queue state not shown: {e}\n")),
    }
    let states = match slurm_states(study) {
        Ok(states) => states,
        Err(slurm::SlurmError::NotFound { program, .. }) => {
            return Some(format!(
                "slurm: jobs were submitted from this directory ({}), but `{program}` is not on \
                 PATH: their queue state is not shown (run `study status` where the Slurm \
                 client tools are installed)\n",
                jobs_file.display()
            ));
        }
        Err(e) => return Some(format!("slurm: queue state not shown: {e}\n")),
    };
    Some(format_states(study, &states))
}

fn format_states(study: &Study, states: &BTreeMap<Option<usize>, slurm::QueueEntry>) -> String {
    let mut out = String::new();
    if states.is_empty() {
        out.push_str("slurm: no job of this study is queued or running\n");
        return out;
    }
    let nodes = states.keys().filter(|k| k.is_some()).count();
    let _ = writeln!(out, "slurm: {nodes} nodes queued or running");
    // Nodes in index order, then the report job.
    let ordered = states
        .iter()
        .filter(|(k, _)| k.is_some())
        .chain(states.iter().filter(|(k, _)| k.is_none()));
    for (node, e) in ordered {
        let job = match e.array_task {
            Some(t) => format!("{}_{t}", e.job_id),
            None => e.job_id.to_string(),
        };
        let what = match node {
            Some(i) => study
                .nodes
                .get(*i)
                .map(|n| format!("{i:>5}  {}", n.describe()))
                .unwrap_or_else(|| format!("{i:>5}  (not in this graph)")),
            None => "       report".into(),
        };
        let reason = if e.state == "PENDING" {
            format!(" ({})", e.reason)
        } else {
            String::new()
        };
        let _ = writeln!(out, "{what}  job {job}  {}{reason}", e.state);
    }
    out
}

/// Settings of the Kubernetes manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sOptions {
    /// Container image with the `study` executable.
    pub image: String,
    /// The `study` command inside the image.
    pub study_command: String,
    /// Namespace (none: the current context's).
    pub namespace: Option<String>,
    /// PersistentVolumeClaim mounted at the study directory's absolute path (the same path on
    /// every pod: `plan.json` holds absolute paths). None: the image or the cluster provides it.
    pub pvc: Option<String>,
    /// GPUs per pod (`nvidia.com/gpu`), 0 for none.
    pub gpus: u32,
    /// CPU request per pod (`4`, `500m`).
    pub cpu: Option<String>,
    /// Memory request and limit per pod (`16Gi`).
    pub memory: Option<String>,
    /// Pods at once per Job (None: all of the Job's completions).
    pub parallelism: Option<usize>,
    /// Retries per index (`backoffLimitPerIndex`).
    pub retries_per_index: u32,
}

impl K8sOptions {
    /// One GPU per pod, the `study` command, three retries per index.
    pub fn new(image: impl Into<String>) -> K8sOptions {
        K8sOptions {
            image: image.into(),
            study_command: "study".into(),
            namespace: None,
            pvc: None,
            gpus: 1,
            cpu: None,
            memory: None,
            parallelism: None,
            retries_per_index: 3,
        }
    }
}

/// Environment variable the study's pods get with the first node index of their Job.
pub const K8S_FIRST_INDEX_ENV: &str = "STUDY_FIRST_INDEX";

/// A Kubernetes object name: lower-case letters, digits and `-`, at most 63 characters.
fn k8s_name(parts: &[&str]) -> String {
    let mut name: String = parts
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_matches('-');
    let mut name: String = name.chars().take(63).collect();
    while name.ends_with('-') {
        name.pop();
    }
    if name.is_empty() {
        "study".into()
    } else {
        name
    }
}

/// One Kubernetes Job manifest (as a JSON value, written as YAML by [`to_yaml`]).
fn job_manifest(
    study: &Study,
    opts: &K8sOptions,
    name: &str,
    stage: &str,
    range: Option<&NodeRange>,
    args: Vec<String>,
) -> serde_json::Value {
    use serde_json::json;
    let dir = study.dir.display().to_string();
    let mut limits = serde_json::Map::new();
    let mut requests = serde_json::Map::new();
    if opts.gpus > 0 && range.is_some() {
        limits.insert("nvidia.com/gpu".into(), json!(opts.gpus.to_string()));
    }
    if let Some(cpu) = &opts.cpu {
        requests.insert("cpu".into(), json!(cpu));
    }
    if let Some(mem) = &opts.memory {
        requests.insert("memory".into(), json!(mem));
        limits.insert("memory".into(), json!(mem));
    }
    let mut container = json!({
        "name": "study",
        "image": opts.image,
        "command": args,
        "workingDir": dir,
        "resources": { "limits": limits, "requests": requests },
    });
    if let Some(range) = range {
        container["env"] = json!([
            { "name": slurm::K8S_COMPLETIONS_ENV, "value": range.count.to_string() },
            { "name": K8S_FIRST_INDEX_ENV, "value": range.first.to_string() },
        ]);
    }
    let mut pod = json!({
        "restartPolicy": "Never",
        "containers": [container],
    });
    if let Some(pvc) = &opts.pvc {
        pod["containers"][0]["volumeMounts"] = json!([{ "name": "study", "mountPath": dir }]);
        pod["volumes"] =
            json!([{ "name": "study", "persistentVolumeClaim": { "claimName": pvc } }]);
    }
    let labels = json!({
        "app.kubernetes.io/name": "ssl-utility-study",
        "ssl-utility/study": k8s_name(&[&study.plan.name]),
        "ssl-utility/stage": stage,
    });
    let mut metadata = json!({ "name": name, "labels": labels });
    if let Some(ns) = &opts.namespace {
        metadata["namespace"] = json!(ns);
    }
    let mut spec = json!({
        "template": { "metadata": { "labels": labels }, "spec": pod },
    });
    match range {
        Some(range) => {
            spec["completionMode"] = json!("Indexed");
            spec["completions"] = json!(range.count);
            spec["parallelism"] = json!(opts.parallelism.unwrap_or(range.count).min(range.count));
            spec["backoffLimitPerIndex"] = json!(opts.retries_per_index);
            // backoffLimitPerIndex needs an explicit, large overall limit.
            spec["backoffLimit"] = json!(range.count * (opts.retries_per_index as usize + 1));
        }
        None => {
            spec["completions"] = json!(1);
            spec["backoffLimit"] = json!(opts.retries_per_index);
        }
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": spec,
    })
}

/// The name of a study's Job: `study-PLAN-STAGE`, at most 63 characters, the stage always
/// kept whole (so the Jobs of one study never share a name).
fn job_name(plan_name: &str, stage: &str) -> String {
    let stage = k8s_name(&[stage]);
    let mut prefix = k8s_name(&["study", plan_name]);
    prefix.truncate(63 - stage.len() - 1);
    let prefix = prefix.trim_end_matches('-');
    format!("{prefix}-{stage}")
}

/// One Kubernetes Job of a study.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sJob {
    /// File name in `DIR/k8s/` (`NN-study-STAGE.yaml`).
    pub file: String,
    /// The Job's `metadata.name`.
    pub name: String,
    /// The manifest (YAML).
    pub yaml: String,
}

/// The study's Kubernetes Jobs, in the order they must run. One Indexed Job per [`NodeRange`]
/// (pod I runs node `FIRST + I`), then the report Job.
///
/// # Errors
/// A graph out of order; a study directory that is not UTF-8.
pub fn k8s_manifests(study: &Study, opts: &K8sOptions) -> Result<Vec<K8sJob>, StudyError> {
    let mut jobs = Vec::new();
    let dir = absolute(&study.dir)?;
    let dir_text = utf8(&dir, "the study directory")?;
    let study = Study {
        dir: dir.clone(),
        ..study.clone()
    };
    let ranges = node_ranges(&study)?;
    for (n, range) in ranges.iter().enumerate() {
        let name = job_name(&study.plan.name, range.kind);
        let script = format!(
            "exec {} run-one {} --index $(({K8S_FIRST_INDEX_ENV} + JOB_COMPLETION_INDEX))",
            slurm::shell_quote(&opts.study_command),
            slurm::shell_quote(&dir_text)
        );
        let job = job_manifest(
            &study,
            opts,
            &name,
            range.kind,
            Some(range),
            vec!["/bin/sh".into(), "-c".into(), script],
        );
        let header = format!(
            "# Study {:?}: nodes {}..{} ({}), one pod per node.\n",
            study.plan.name,
            range.first,
            range.first + range.count - 1,
            range.kind
        );
        jobs.push(K8sJob {
            file: format!("{n:02}-study-{}.yaml", range.kind),
            name,
            yaml: header + &to_yaml(&job),
        });
    }
    let name = job_name(&study.plan.name, "report");
    let job = job_manifest(
        &study,
        opts,
        &name,
        "report",
        None,
        vec![opts.study_command.clone(), "report".into(), dir_text],
    );
    jobs.push(K8sJob {
        file: format!("{:02}-study-report.yaml", ranges.len()),
        name,
        yaml: format!("# Study {:?}: the report.\n", study.plan.name) + &to_yaml(&job),
    });
    Ok(jobs)
}

/// `apply.sh` for these Jobs (the last one is the report): applies each node Job after the
/// previous one succeeded, then the report Job whatever happened (it lists failed runs), waits
/// for it, and exits 1 when a Job did not succeed. A Job counts as finished when it has the
/// `Complete` or `Failed` condition (polled: `kubectl wait` cannot wait for either).
fn apply_script(jobs: &[K8sJob], namespace: Option<&str>, study_dir: &Path) -> String {
    let ns = namespace
        .map(|n| format!(" -n {}", slurm::shell_quote(n)))
        .unwrap_or_default();
    let dir = slurm::shell_quote(&study_dir.display().to_string());
    let mut s = format!(
        r#"#!/usr/bin/env bash
# Applies the study's Jobs in order, each after the previous one succeeded (Kubernetes has no
# dependencies between Jobs), then the report Job whatever the outcome (it lists failed runs).
# Rerun it to resume: finished nodes are skipped. TIMEOUT_S (default: 7 days) bounds the wait
# for each Job, POLL_S (default: 10) is the polling interval.
set -euo pipefail
cd "$(dirname "$0")"
timeout_s=${{TIMEOUT_S:-604800}}
poll_s=${{POLL_S:-10}}
kc() {{ kubectl{ns} "$@"; }}
# Waits until Job $1 has the Complete (returns 0) or Failed (returns 1) condition.
wait_job() {{
    local deadline=$((SECONDS + timeout_s)) conditions
    while :; do
        conditions=$(kc get job "$1" -o 'jsonpath={{range .status.conditions[?(@.status=="True")]}}{{.type}} {{end}}')
        case " $conditions " in
            *" Complete "*) echo "apply.sh: job $1 succeeded"; return 0 ;;
            *" Failed "*)
                echo "apply.sh: job $1 failed (kubectl logs -l job-name=$1; study status {dir})" >&2
                return 1 ;;
        esac
        if ((SECONDS >= deadline)); then
            echo "apply.sh: job $1 not finished after $timeout_s s" >&2
            return 1
        fi
        sleep "$poll_s"
    done
}}
start_job() {{
    kc delete job "$2" --ignore-not-found
    kc apply -f "$1"
}}
failed=""
stage() {{
    if [[ -n $failed ]]; then
        echo "apply.sh: $2 not started: $failed did not succeed" >&2
        return 0
    fi
    start_job "$1" "$2"
    wait_job "$2" || failed=$2
}}
"#
    );
    let Some((report, stages)) = jobs.split_last() else {
        return s;
    };
    for j in stages {
        let _ = writeln!(
            s,
            "stage {} {}",
            slurm::shell_quote(&j.file),
            slurm::shell_quote(&j.name)
        );
    }
    let _ = write!(
        s,
        r#"start_job {file} {name}
wait_job {name} || failed=${{failed:-{name}}}
if [[ -n $failed ]]; then
    echo "apply.sh: $failed did not succeed; rerun this script to resume" >&2
    exit 1
fi
echo "apply.sh: done; the report is in {dir}/report/"
"#,
        file = slurm::shell_quote(&report.file),
        name = slurm::shell_quote(&report.name),
    );
    s
}

/// Writes [`k8s_manifests`] into `DIR/k8s/` with `apply.sh` (see [`apply_script`]). Returns the
/// files, `apply.sh` last.
///
/// # Errors
/// I/O errors; a graph out of order.
pub fn write_k8s(study: &Study, opts: &K8sOptions) -> Result<Vec<PathBuf>, StudyError> {
    let dir = study.dir.join(K8S_DIR);
    std::fs::create_dir_all(&dir).map_err(super::io_err(&dir))?;
    let jobs = k8s_manifests(study, opts)?;
    let mut written = Vec::new();
    for job in &jobs {
        let path = dir.join(&job.file);
        std::fs::write(&path, &job.yaml).map_err(super::io_err(&path))?;
        written.push(path);
    }
    let study_dir = absolute(&study.dir)?;
    let path = dir.join("apply.sh");
    std::fs::write(
        &path,
        apply_script(&jobs, opts.namespace.as_deref(), &study_dir),
    )
    .map_err(super::io_err(&path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(super::io_err(&path))?;
    }
    written.push(path);
    Ok(written)
}

/// YAML (block style) of a JSON value: strings double-quoted with JSON escapes (valid YAML),
/// keys plain when they are simple.
pub fn to_yaml(v: &serde_json::Value) -> String {
    let mut out = String::new();
    yaml_value(v, 0, &mut out);
    out
}

fn yaml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !k.starts_with(['-', '.', '/'])
    {
        k.to_string()
    } else {
        serde_json::Value::String(k.to_string()).to_string()
    }
}

fn yaml_scalar(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(Value::String(s.clone()).to_string()),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Object(o) if o.is_empty() => Some("{}".into()),
        _ => None,
    }
}

fn yaml_value(v: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value;
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                match yaml_scalar(val) {
                    Some(s) => {
                        let _ = writeln!(out, "{pad}{}: {s}", yaml_key(k));
                    }
                    None => {
                        let _ = writeln!(out, "{pad}{}:", yaml_key(k));
                        yaml_value(val, indent + 2, out);
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match yaml_scalar(item) {
                    Some(s) => {
                        let _ = writeln!(out, "{pad}- {s}");
                    }
                    None => {
                        // The item's block at indent + 2, its first line's indentation
                        // replaced by "- ".
                        let mut block = String::new();
                        yaml_value(item, indent + 2, &mut block);
                        out.push_str(&pad);
                        out.push_str("- ");
                        out.push_str(&block[indent + 2..]);
                    }
                }
            }
        }
        scalar => {
            let _ = writeln!(out, "{pad}{}", yaml_scalar(scalar).unwrap_or_default());
        }
    }
}

/// Errors of `study slurm` / `study k8s`.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Setting up the study (plan errors, I/O).
    #[error(transparent)]
    Study(#[from] StudyError),
    /// Writing or submitting the Slurm scripts.
    #[error(transparent)]
    Slurm(#[from] slurm::SlurmError),
    /// A command-line value.
    #[error("{0}")]
    Flag(String),
    /// `MaxArraySize` could not be read from the cluster.
    #[error("reading MaxArraySize: {0} (pass --max-array-size N instead)")]
    MaxArraySize(#[source] slurm::SlurmError),
    /// `--submit` without `sbatch`: the scripts are written, not submitted.
    #[error(
        "submitting (the scripts are written: run {} where Slurm is installed): {source}",
        submit_sh.display()
    )]
    NoSbatch {
        /// `DIR/slurm/submit.sh`.
        submit_sh: PathBuf,
        /// Why `sbatch` was not found.
        #[source]
        source: slurm::SlurmError,
    },
}

/// Flags of `study slurm PLAN --out DIR` (besides PLAN and DIR).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SlurmFlags {
    /// Submit the scripts with `sbatch --parsable` (default: only write them).
    #[arg(long)]
    pub submit: bool,
    /// Slurm partition of the jobs.
    #[arg(long)]
    pub partition: Option<String>,
    /// Generic resources of each render/training task, e.g. `gpu:1`.
    #[arg(long)]
    pub gres: Option<String>,
    /// CPUs of each task.
    #[arg(long)]
    pub cpus_per_task: Option<u32>,
    /// Time limit of each task and of the report, e.g. `04:00:00`.
    #[arg(long)]
    pub time: Option<String>,
    /// Time limit of the pretraining tasks [default: --time].
    #[arg(long)]
    pub pretrain_time: Option<String>,
    /// Memory of each job, e.g. `32G`.
    #[arg(long)]
    pub mem: Option<String>,
    /// At most K tasks of each array at once (`--array=0-N%K`).
    #[arg(long, value_name = "K")]
    pub array_throttle: Option<usize>,
    /// Split arrays into arrays of at most N tasks [default with --submit: the cluster's
    /// MaxArraySize from `scontrol show config`; without: 1001].
    #[arg(long, value_name = "N")]
    pub max_array_size: Option<usize>,
    /// Further sbatch option for every job, verbatim (repeatable): `--sbatch-option=--qos=high`.
    #[arg(long, value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch_option: Vec<String>,
    /// The `study` program the jobs run [default: the running one].
    #[arg(long, value_name = "PATH")]
    pub study_bin: Option<PathBuf>,
}

/// `study slurm`: writes the scripts for a study set up with [`Study::create`] and, with
/// `--submit`, submits them and records the job ids. Returns what to print.
///
/// # Errors
/// No `sbatch`/`scontrol` when submitting, a rejected submission (sbatch's message), bad
/// flags, I/O.
pub fn slurm_command(study: &Study, flags: &SlurmFlags) -> Result<String, ClusterError> {
    let study_bin = match &flags.study_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| {
            ClusterError::Flag(format!(
                "locating this study executable: {e} (pass --study-bin)"
            ))
        })?,
    };
    let study_bin = absolute(&study_bin)?;
    if flags.array_throttle == Some(0) {
        return Err(ClusterError::Flag(
            "--array-throttle must be at least 1 (tasks of an array at once)".into(),
        ));
    }
    if flags.max_array_size == Some(0) {
        return Err(ClusterError::Flag(
            "--max-array-size must be at least 1".into(),
        ));
    }
    let mut resources = StudyResources::new(Resources {
        partition: flags.partition.clone(),
        gres: flags.gres.clone(),
        cpus_per_task: flags.cpus_per_task,
        time: flags.time.clone(),
        mem: flags.mem.clone(),
        throttle: flags.array_throttle,
        extra: flags.sbatch_option.clone(),
    });
    resources.pretrain_time = flags.pretrain_time.clone();
    let pipeline = slurm_pipeline(study, &study_bin, &resources)?;
    let sbatch = flags.submit.then(|| slurm::find_program("sbatch", None));
    let max_array_size = match (flags.max_array_size, &sbatch) {
        (Some(n), _) => n,
        (None, Some(Ok(_))) => {
            let scontrol =
                slurm::find_program("scontrol", None).map_err(ClusterError::MaxArraySize)?;
            slurm::query_max_array_size(&scontrol).map_err(ClusterError::MaxArraySize)?
        }
        _ => slurm::DEFAULT_MAX_ARRAY_SIZE,
    };
    let scripts = slurm::write_scripts(&pipeline, max_array_size)?;
    let mut out = String::new();
    for s in &scripts {
        match s.array_tasks {
            Some(n) => {
                let _ = writeln!(
                    out,
                    "wrote {} (array of {n}: nodes {}..{})",
                    s.path.display(),
                    s.first_index,
                    s.first_index + n - 1
                );
            }
            None => {
                let _ = writeln!(out, "wrote {}", s.path.display());
            }
        }
    }
    let _ = writeln!(
        out,
        "logs go to {}",
        pipeline.dir.join(slurm::LOG_DIR).display()
    );
    let submit_sh = pipeline.dir.join(slurm::SCRIPT_DIR).join("submit.sh");
    let Some(sbatch) = sbatch else {
        let _ = writeln!(out, "submit with: {}", submit_sh.display());
        return Ok(out);
    };
    let sbatch = sbatch.map_err(|source| ClusterError::NoSbatch {
        submit_sh: submit_sh.clone(),
        source,
    })?;
    let jobs = slurm::submit(&pipeline, &scripts, &sbatch)?;
    let record = slurm::write_jobs(&pipeline.dir, &jobs)?;
    for j in &jobs {
        let _ = writeln!(out, "submitted {} as job {}", j.script.name, j.job_id);
    }
    let _ = writeln!(out, "job ids recorded in {}", record.display());
    Ok(out)
}

/// Flags of `study k8s PLAN --out DIR` (besides PLAN and DIR).
#[derive(Debug, Clone, clap::Args)]
pub struct K8sFlags {
    /// Container image with the `study` executable (and a Vulkan driver for renders).
    #[arg(long)]
    pub image: String,
    /// The `study` command inside the image.
    #[arg(long, default_value = "study")]
    pub study_command: String,
    /// Namespace of the Jobs [default: the current context's].
    #[arg(long)]
    pub namespace: Option<String>,
    /// PersistentVolumeClaim mounted at the study directory's absolute path on every pod.
    #[arg(long)]
    pub pvc: Option<String>,
    /// GPUs per render/training pod (`nvidia.com/gpu`; 0: none).
    #[arg(long, default_value_t = 1)]
    pub gpus: u32,
    /// CPU request per pod, e.g. `8` or `500m`.
    #[arg(long)]
    pub cpu: Option<String>,
    /// Memory request and limit per pod, e.g. `32Gi`.
    #[arg(long)]
    pub memory: Option<String>,
    /// Pods at once per Job [default: all of its completions].
    #[arg(long)]
    pub parallelism: Option<usize>,
    /// Retries of each index (`backoffLimitPerIndex`).
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
}

/// `study k8s`: writes the manifests and `apply.sh` into `DIR/k8s/`. Returns what to print.
///
/// # Errors
/// Bad flags, I/O.
pub fn k8s_command(study: &Study, flags: &K8sFlags) -> Result<String, ClusterError> {
    if flags.parallelism == Some(0) {
        return Err(ClusterError::Flag(
            "--parallelism must be at least 1".into(),
        ));
    }
    let opts = K8sOptions {
        image: flags.image.clone(),
        study_command: flags.study_command.clone(),
        namespace: flags.namespace.clone(),
        pvc: flags.pvc.clone(),
        gpus: flags.gpus,
        cpu: flags.cpu.clone(),
        memory: flags.memory.clone(),
        parallelism: flags.parallelism,
        retries_per_index: flags.retries,
    };
    let files = write_k8s(study, &opts)?;
    let mut out = String::new();
    for f in &files {
        let _ = writeln!(out, "wrote {}", f.display());
    }
    if let Some(apply) = files.last() {
        let _ = writeln!(out, "run with: bash {}", apply.display());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1 render, 1 pretraining, 2 scratch + 2 finetune runs, 1 linear evaluation.
    const PLAN: &str = r#"
name = "tiny cluster"
methods = ["supervised", "rotation"]
tasks = ["classification"]
budgets = [40, 160]
seeds = [0]
width = 0.125
linear_eval = true

[finetune]
schedule = "fixed"
steps = 3
batch_size = 16

[pretrain]
steps = 3
batch_size = 16

[[dataset]]
name = "plain"
render = { variant = "----", scene = "single", count = 240, resolution = 16, shard_size = 64 }
"#;

    fn study(dir: &Path) -> Study {
        let plan = dir.join("tiny.toml");
        std::fs::write(&plan, PLAN).unwrap();
        Study::create(&plan, &dir.join("study")).unwrap()
    }

    #[test]
    fn ranges_cover_the_graph_in_dependency_order() {
        let tmp = tempfile::tempdir().unwrap();
        let s = study(tmp.path());
        let ranges = node_ranges(&s).unwrap();
        let kinds: Vec<_> = ranges.iter().map(|r| (r.kind, r.count)).collect();
        assert_eq!(kinds, vec![("render", 1), ("pretrain", 1), ("runs", 5)]);
        let mut next = 0;
        for r in &ranges {
            assert_eq!(r.first, next);
            next += r.count;
        }
        assert_eq!(next, s.nodes.len());
    }

    #[test]
    fn slurm_pipeline_runs_each_node_once_then_the_report() {
        let tmp = tempfile::tempdir().unwrap();
        let s = study(tmp.path());
        let bin = Path::new("/opt/ssl/study");
        let mut res = StudyResources::new(Resources {
            gres: Some("gpu:1".into()),
            time: Some("01:00:00".into()),
            ..Resources::default()
        });
        res.pretrain_time = Some("1-00:00:00".into());
        let p = slurm_pipeline(&s, bin, &res).unwrap();
        let names: Vec<_> = p.stages.iter().map(|st| st.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "study-render",
                "study-pretrain",
                "study-runs",
                "study-report"
            ]
        );
        assert_eq!(p.stages[2].after, vec![0, 1]);
        assert_eq!(p.stages[3].dependency, Dependency::AfterAny);
        assert_eq!(p.stages[3].resources.gres, None);
        assert_eq!(p.stages[1].resources.time.as_deref(), Some("1-00:00:00"));
        assert_eq!(p.stages[2].resources.time.as_deref(), Some("01:00:00"));
        // Split at MaxArraySize 2: the runs array becomes 3 scripts; every node exactly once.
        let scripts = slurm::write_scripts(&p, 2).unwrap();
        let mut seen = vec![0; s.nodes.len()];
        for sc in &scripts {
            if let Some(n) = sc.array_tasks {
                for count in seen.iter_mut().skip(sc.first_index).take(n) {
                    *count += 1;
                }
                let text = std::fs::read_to_string(&sc.path).unwrap();
                assert!(
                    text.contains(&format!(
                        "TASK_INDEX=$((SLURM_ARRAY_TASK_ID + {}))",
                        sc.first_index
                    )),
                    "{text}"
                );
                assert!(text.contains("/opt/ssl/study run-one "), "{text}");
                assert!(text.contains("--index \"$TASK_INDEX\""), "{text}");
            }
        }
        assert!(seen.iter().all(|&c| c == 1), "{seen:?}");
        let report = std::fs::read_to_string(&scripts.last().unwrap().path).unwrap();
        assert!(report.contains("/opt/ssl/study report "), "{report}");
        let submit = std::fs::read_to_string(s.dir.join("slurm/submit.sh")).unwrap();
        assert!(submit.contains("--dependency=afterany:"), "{submit}");
    }

    #[test]
    fn k8s_names_and_yaml_scalars() {
        assert_eq!(
            k8s_name(&["study", "Tiny Cluster", "runs"]),
            "study-tiny-cluster-runs"
        );
        assert_eq!(k8s_name(&["--", "__"]), "study");
        assert!(k8s_name(&["x"; 40]).len() <= 63);
        let v = serde_json::json!({
            "a": "plain", "n": 3, "list": ["x: y", {"k": "v", "m": {"deep": true}}],
            "empty": [], "nvidia.com/gpu": "1", "-odd key": "#not a comment",
        });
        let y = to_yaml(&v);
        assert!(y.contains("nvidia.com/gpu: \"1\"\n"), "{y}");
        assert!(y.contains("\"-odd key\": \"#not a comment\"\n"), "{y}");
        assert!(
            y.contains("  - \"x: y\"\n  - k: \"v\"\n    m:\n      deep: true\n"),
            "{y}"
        );
        assert!(y.contains("empty: []\n"), "{y}");
    }

    #[test]
    fn k8s_jobs_are_indexed_per_kind_and_applied_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let s = study(tmp.path());
        let mut opts = K8sOptions::new("registry.example/ssl:1");
        opts.pvc = Some("study-data".into());
        opts.parallelism = Some(2);
        let files = write_k8s(&s, &opts).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "00-study-render.yaml",
                "01-study-pretrain.yaml",
                "02-study-runs.yaml",
                "03-study-report.yaml",
                "apply.sh"
            ]
        );
        let runs = std::fs::read_to_string(&files[2]).unwrap();
        for line in [
            "completionMode: \"Indexed\"",
            "completions: 5",
            "parallelism: 2",
            "nvidia.com/gpu: \"1\"",
            "claimName: \"study-data\"",
        ] {
            assert!(runs.contains(line), "{line} missing in\n{runs}");
        }
        let apply = std::fs::read_to_string(&files[4]).unwrap();
        let stages: Vec<_> = apply.lines().filter(|l| l.starts_with("stage ")).collect();
        assert_eq!(
            stages,
            [
                "stage 00-study-render.yaml study-tiny-cluster-render",
                "stage 01-study-pretrain.yaml study-tiny-cluster-pretrain",
                "stage 02-study-runs.yaml study-tiny-cluster-runs",
            ]
        );
        assert!(
            apply.contains("start_job 03-study-report.yaml study-tiny-cluster-report\n"),
            "{apply}"
        );
    }

    #[test]
    fn job_names_keep_the_stage_within_63_characters() {
        let long = "a very long plan name ".repeat(5);
        let names: Vec<String> = ["render", "pretrain", "runs", "report"]
            .iter()
            .map(|k| job_name(&long, k))
            .collect();
        for (n, k) in names.iter().zip(["render", "pretrain", "runs", "report"]) {
            assert!(n.len() <= 63, "{n}");
            assert!(n.ends_with(&format!("-{k}")), "{n}");
            assert!(!n.contains("--"), "{n}");
        }
        assert_eq!(job_name("Tiny", "runs"), "study-tiny-runs");
    }

    #[test]
    fn status_lines_list_nodes_then_the_report() {
        let tmp = tempfile::tempdir().unwrap();
        let s = study(tmp.path());
        let entry = |job_id, task, state: &str, reason: &str| slurm::QueueEntry {
            job_id,
            array_task: task,
            state: state.into(),
            reason: reason.into(),
        };
        let mut states = BTreeMap::new();
        states.insert(None, entry(9, None, "PENDING", "Dependency"));
        states.insert(Some(3), entry(7, Some(1), "RUNNING", "None"));
        states.insert(Some(2), entry(7, Some(0), "PENDING", "Resources"));
        let text = format_states(&s, &states);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "slurm: 2 nodes queued or running");
        assert!(
            lines[1].starts_with("    2  ") && lines[1].ends_with("job 7_0  PENDING (Resources)")
        );
        assert!(lines[2].starts_with("    3  ") && lines[2].ends_with("job 7_1  RUNNING"));
        assert_eq!(lines[3], "       report  job 9  PENDING (Dependency)");
        assert_eq!(
            format_states(&s, &BTreeMap::new()),
            "slurm: no job of this study is queued or running\n"
        );
        // Nothing submitted: no Slurm section at all.
        assert_eq!(slurm_status_lines(&s), None);
    }
}
