//! A live single-node Slurm (`tests/slurm/slurm-up.sh`: munged, slurmctld, slurmd on localhost,
//! `MaxArraySize=2`) running `render slurm --submit` and `study slurm --submit`.
//!
//! Render checks: a render split over 3 array tasks plus the dependent merge job gives shards
//! byte-identical to a one-process render (the 3 tasks need two arrays under `MaxArraySize=2`,
//! read from `scontrol`); a task cancelled with `scancel` after it wrote some shards, then
//! resubmitted, gives the same bytes as an uninterrupted render (and its merge job is cancelled,
//! not left pending); a rejected submission shows sbatch's message; no `sbatch` on PATH is
//! explained.
//!
//! Study checks: a tiny plan (16 px, 240 images, two budgets, supervised + rotation, a few
//! steps) as job arrays (render, pretraining, the runs split in two arrays, the report) gives
//! the same report numbers (`utility.json`, the CSVs), metrics and weights as a local `study
//! run`; `study status` shows the queued jobs; a training task cancelled with `scancel` after
//! its first checkpoint, then resubmitted, resumes from the checkpoint and ends with the same
//! metrics and weights as an uninterrupted local run.
//!
//! Skipped, with a printed line, only when the Slurm programs are absent (`.ci/run` installs
//! Debian's `slurm-wlm` and `munge`). Needs root. Every wait is bounded; the daemons are stopped
//! and their state removed also when the test fails (a drop guard runs `slurm-down.sh`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Programs the test needs; without any of them it is skipped.
const SLURM_PROGRAMS: [&str; 8] = [
    "sbatch",
    "squeue",
    "scancel",
    "scontrol",
    "sinfo",
    "slurmctld",
    "slurmd",
    "munged",
];

/// Longest wait for a set of jobs to leave the queue.
const JOB_TIMEOUT: Duration = Duration::from_secs(150);

/// The live tests run one after the other: each starts its own cluster, and two clusters with
/// their jobs at once would only slow both down on a small machine.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Prints why `test` is skipped and returns true when Slurm programs are absent.
fn skipped(test: &str) -> bool {
    let missing = missing_programs();
    if missing.is_empty() {
        return false;
    }
    println!(
        "SKIPPED slurm_cluster::{test}: Slurm programs absent ({}); apt-get install slurm-wlm \
         munge (.ci/run does)",
        missing.join(", ")
    );
    true
}

/// The Slurm programs found neither on PATH nor in /usr/sbin or /sbin (where Debian puts the
/// daemons, which a non-login root shell may lack on PATH).
fn missing_programs() -> Vec<&'static str> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin".into(), "/sbin".into()]);
    SLURM_PROGRAMS
        .iter()
        .copied()
        .filter(|p| !dirs.iter().any(|d| d.join(p).is_file()))
        .collect()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .to_path_buf()
}

/// Builds (if needed) a binary of another workspace crate with this test's profile and target
/// directory, and returns its path. Cargo builds other crates' binaries only for their own
/// tests, and the Slurm jobs need real executables.
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test binary");
    // target/PROFILE/deps/integration-HASH
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary inside target/PROFILE/deps");
    let target_dir = profile_dir.parent().expect("target directory");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(name) => name,
        None => panic!("profile directory of {}", exe.display()),
    };
    let out = Command::new(env!("CARGO"))
        .args([
            "build",
            "--locked",
            "-p",
            package,
            "--bin",
            bin,
            "--profile",
            profile,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(workspace_root())
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build -p {package} --bin {bin} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = profile_dir.join(bin);
    assert!(path.is_file(), "{} not built", path.display());
    path
}

/// A running private cluster; dropping it stops the daemons and removes their state.
pub struct Cluster {
    state: PathBuf,
    conf: PathBuf,
    path: std::ffi::OsString,
}

impl Cluster {
    /// Starts one with `MaxArraySize=max_array_size` (state in a fresh directory under the
    /// system temp dir).
    pub fn start(max_array_size: usize) -> Cluster {
        let state = tempfile::Builder::new()
            .prefix("ssl-slurm-")
            .tempdir()
            .expect("temp dir for the Slurm state")
            .keep();
        // PATH with the daemons' directory, for the scripts and the jobs.
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        for extra in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            if !dirs.iter().any(|d| d == Path::new(extra)) {
                dirs.push(extra.into());
            }
        }
        let path = std::env::join_paths(dirs).expect("PATH");
        let script = workspace_root().join("tests/slurm/slurm-up.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&state)
            .arg(max_array_size.to_string())
            .env("PATH", &path)
            .output()
            .expect("run slurm-up.sh");
        let cluster = Cluster {
            conf: state.join("slurm.conf"),
            state,
            path,
        };
        assert!(
            out.status.success(),
            "slurm-up.sh failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    /// A command that talks to this cluster.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf).env("PATH", &self.path);
        for var in [
            "SLURM_ARRAY_TASK_ID",
            "SLURM_ARRAY_TASK_COUNT",
            "JOB_COMPLETION_INDEX",
        ] {
            c.env_remove(var);
        }
        c
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"))
    }

    /// Jobs (of `ids`, array tasks expanded) still in the queue.
    pub fn queued(&self, ids: &[u64]) -> Vec<String> {
        let list: Vec<String> = ids.iter().map(u64::to_string).collect();
        let out = self.run(
            "squeue",
            &["-h", "-r", "-o", "%i %T %r", "-j", &list.join(",")],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    /// Waits (at most [`JOB_TIMEOUT`]) until none of `ids` is queued or running.
    pub fn wait_gone(&self, ids: &[u64]) {
        let start = Instant::now();
        loop {
            let left = self.queued(ids);
            if left.is_empty() {
                return;
            }
            if start.elapsed() > JOB_TIMEOUT {
                panic!(
                    "jobs still queued after {JOB_TIMEOUT:?}: {left:?}\n{}",
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `JobState` of every job or array task of `id` (`scontrol show job`, kept for MinJobAge
    /// after the end), by `JobId` (array tasks: `ARRAY_TASK`).
    pub fn states(&self, id: u64) -> BTreeMap<String, String> {
        let out = self.run("scontrol", &["show", "job", "-o", &id.to_string()]);
        let mut states = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(name))
                    .map(str::to_string)
            };
            let key = match (field("ArrayJobId="), field("ArrayTaskId=")) {
                (Some(a), Some(t)) => format!("{a}_{t}"),
                _ => field("JobId=").unwrap_or_default(),
            };
            states.insert(key, field("JobState=").unwrap_or_default());
        }
        states
    }

    fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.state.join("log").join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Queue and daemon log tails, for failure messages.
    pub fn diagnostics(&self) -> String {
        let q = self.run("squeue", &["-r", "-o", "%i %j %T %r"]);
        format!(
            "squeue:\n{}\nslurmctld.log:\n{}\nslurmd.log:\n{}",
            String::from_utf8_lossy(&q.stdout),
            self.log_tail("slurmctld.log"),
            self.log_tail("slurmd.log")
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = workspace_root().join("tests/slurm/slurm-down.sh");
        let ok = Command::new("bash")
            .arg(&script)
            .arg(&self.state)
            .env("PATH", &self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok || self.state.exists() {
            eprintln!(
                "slurm_cluster: slurm-down.sh did not clean up {}",
                self.state.display()
            );
        }
    }
}

/// The job ids `render slurm --submit` recorded, in submission order.
fn recorded_jobs(out: &Path) -> Vec<datasets::slurm::Submitted> {
    datasets::slurm::read_jobs(out)
        .expect("read slurm/jobs.json")
        .expect("slurm/jobs.json written by --submit")
}

/// Every file of a dataset directory (manifest and splits; not slurm/ and logs/) with its bytes.
pub fn dataset_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read a dataset directory") {
            let path = entry.expect("directory entry").path();
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(rel, std::fs::read(&path).expect("read a dataset file"));
            }
        }
    }
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("read the dataset directory") {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == datasets::slurm::SCRIPT_DIR || name == datasets::slurm::LOG_DIR {
            continue;
        }
        if path.is_dir() {
            walk(dir, &path, &mut files);
        } else {
            files.insert(
                PathBuf::from(name),
                std::fs::read(&path).expect("read a dataset file"),
            );
        }
    }
    files
}

/// Panics with the first difference between two datasets' files.
pub fn assert_same_files(expected: &Path, actual: &Path) {
    let a = dataset_files(expected);
    let b = dataset_files(actual);
    let names_a: Vec<_> = a.keys().collect();
    let names_b: Vec<_> = b.keys().collect();
    assert_eq!(
        names_a,
        names_b,
        "file lists of {} and {} differ",
        expected.display(),
        actual.display()
    );
    for (name, bytes) in &a {
        assert!(
            bytes == &b[name],
            "{} differs between {} and {}",
            name.display(),
            expected.display(),
            actual.display()
        );
    }
}

/// Render flags of a small dataset (everything but --out and the worker split).
fn render_flags(count: usize, resolution: u32, shard_size: usize) -> Vec<String> {
    [
        "--variant=T---".to_string(),
        format!("--count={count}"),
        format!("--resolution={resolution}"),
        format!("--shard-size={shard_size}"),
        "--procedural-models=20".into(),
        "--procedural-textures=20".into(),
        "--models-per-class=2".into(),
        "--textures=4".into(),
        "--texture-size=32".into(),
    ]
    .to_vec()
}

fn check_output(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A one-process render (the reference).
fn render_locally(render: &Path, flags: &[String], out: &Path) {
    let o = Command::new(render)
        .args(flags)
        .arg(format!("--out={}", out.display()))
        .args(["--workers=1", "--worker=0"])
        .output()
        .expect("run render");
    check_output("one-process render", &o);
}

fn render_slurm(cluster: &Cluster, render: &Path, flags: &[String], out: &Path) -> Output {
    cluster
        .command(render)
        .arg("slurm")
        .args(flags)
        .arg(format!("--out={}", out.display()))
        .args(["--workers=3", "--submit", "--time=00:10:00"])
        .output()
        .expect("run render slurm")
}

/// Shard sidecars present for worker `worker` of `workers` (global shard numbers: train, val,
/// test), and how many that worker owns, from the reference dataset's layout.
fn worker_share(reference: &Path, out: &Path, workers: usize, worker: usize) -> (usize, usize) {
    let mut global = 0;
    let (mut present, mut owned) = (0, 0);
    for split in ["train", "val", "test"] {
        let mut locals: Vec<String> = std::fs::read_dir(reference.join(split))
            .expect("reference split")
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                (name.starts_with("shard.") && name.ends_with(".json")).then_some(name)
            })
            .collect();
        locals.sort();
        for name in locals {
            if global % workers == worker {
                owned += 1;
                present += usize::from(out.join(split).join(&name).is_file());
            }
            global += 1;
        }
    }
    (present, owned)
}

#[test]
fn render_on_a_live_slurm() {
    if skipped("render_on_a_live_slurm") {
        return;
    }
    let _serial = one_at_a_time();
    let render = workspace_bin("datasets", "render");
    let tmp = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::start(2);

    // 1. Three array tasks (two arrays: MaxArraySize=2) + merge == one process.
    let flags = render_flags(90, 16, 10);
    let reference = tmp.path().join("reference");
    render_locally(&render, &flags, &reference);
    let out = tmp.path().join("slurm-render");
    let o = render_slurm(&cluster, &render, &flags, &out);
    check_output("render slurm --submit", &o);
    let jobs = recorded_jobs(&out);
    let arrays: Vec<_> = jobs
        .iter()
        .filter(|j| j.script.array_tasks.is_some())
        .collect();
    assert_eq!(
        arrays
            .iter()
            .map(|j| (j.script.first_index, j.script.array_tasks))
            .collect::<Vec<_>>(),
        vec![(0, Some(2)), (2, Some(1))],
        "3 tasks under MaxArraySize=2"
    );
    let ids: Vec<u64> = jobs.iter().map(|j| j.job_id).collect();
    cluster.wait_gone(&ids);
    for id in &ids {
        for (job, state) in cluster.states(*id) {
            assert_eq!(state, "COMPLETED", "job {job}\n{}", cluster.diagnostics());
        }
    }
    assert_same_files(&reference, &out);
    let logs: Vec<_> = std::fs::read_dir(out.join("logs"))
        .expect("logs directory")
        .collect();
    assert_eq!(logs.len(), 4, "one log per array task and the merge");

    // 2. A task cancelled mid-run, then the whole pipeline resubmitted: same bytes.
    let flags = render_flags(6000, 64, 25);
    let reference = tmp.path().join("reference-killed");
    render_locally(&render, &flags, &reference);
    let out = tmp.path().join("slurm-killed");
    let o = render_slurm(&cluster, &render, &flags, &out);
    check_output("render slurm --submit (to be cancelled)", &o);
    let jobs = recorded_jobs(&out);
    let first_array = jobs[0].job_id;
    let merge = jobs.last().expect("merge job").job_id;
    let start = Instant::now();
    loop {
        let (present, _) = worker_share(&reference, &out, 3, 0);
        if present >= 1 {
            break;
        }
        assert!(
            start.elapsed() < JOB_TIMEOUT,
            "worker 0 wrote no shard in {JOB_TIMEOUT:?}\n{}",
            cluster.diagnostics()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = cluster.run("scancel", &[&format!("{first_array}_0")]);
    check_output("scancel", &o);
    let ids: Vec<u64> = jobs.iter().map(|j| j.job_id).collect();
    cluster.wait_gone(&ids);
    let (present, owned) = worker_share(&reference, &out, 3, 0);
    assert!(
        present < owned,
        "worker 0 finished all {owned} shards before it was cancelled; the test render is too \
         small for this machine"
    );
    assert_eq!(
        cluster.states(first_array).get(&format!("{first_array}_0")),
        Some(&"CANCELLED".to_string())
    );
    // The merge job is cancelled (--kill-on-invalid-dep), not left pending.
    let merge_state = cluster
        .states(merge)
        .into_values()
        .next()
        .unwrap_or_default();
    assert_eq!(
        merge_state, "CANCELLED",
        "merge job after a failed dependency"
    );
    assert!(!out.join("train/index.json").exists());
    let o = render_slurm(&cluster, &render, &flags, &out);
    check_output("render slurm --submit (resubmitted)", &o);
    let jobs = recorded_jobs(&out);
    let ids: Vec<u64> = jobs.iter().map(|j| j.job_id).collect();
    cluster.wait_gone(&ids);
    for id in &ids {
        for (job, state) in cluster.states(*id) {
            assert_eq!(state, "COMPLETED", "job {job}\n{}", cluster.diagnostics());
        }
    }
    assert_same_files(&reference, &out);

    // 3. Errors: a rejected submission shows sbatch's reason; no sbatch is explained.
    let o = cluster
        .command(&render)
        .arg("slurm")
        .args(render_flags(90, 16, 10))
        .arg(format!("--out={}", tmp.path().join("rejected").display()))
        .args(["--workers=3", "--submit", "--partition=no-such-partition"])
        .output()
        .expect("run render slurm");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sbatch rejected") && stderr.contains("Invalid partition"),
        "{stderr}"
    );
    let o = cluster
        .command(&render)
        .env("PATH", "")
        .arg("slurm")
        .args(render_flags(90, 16, 10))
        .arg(format!("--out={}", tmp.path().join("no-sbatch").display()))
        .args(["--workers=3", "--submit"])
        .output()
        .expect("run render slurm");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`sbatch` not found on PATH"), "{stderr}");
    assert!(
        tmp.path()
            .join("no-sbatch/slurm/00-render-shards.sbatch")
            .is_file(),
        "the scripts are written even when they cannot be submitted"
    );
    drop(cluster);
}

/// The study plan run on Slurm and locally: 1 render, 1 pretraining, 4 runs (scratch and
/// rotation finetuning at 40 and 160 labels).
const STUDY_PLAN: &str = r#"
name = "tiny slurm"
methods = ["supervised", "rotation"]
tasks = ["classification"]
budgets = [40, 160]
seeds = [0]
width = 0.125

[finetune]
schedule = "fixed"
steps = 3
batch_size = 16
eval_limit = 16
workers = 1

[pretrain]
steps = 2
batch_size = 16

[[dataset]]
name = "plain"
render = { variant = "----", scene = "single", count = 240, resolution = 16, shard_size = 64, models_per_class = 2, textures = 4, texture_size = 32 }
"#;

/// Steps of the run that is cancelled mid-run (a checkpoint every 20 steps; some seconds of
/// training on a small CPU, so the cancel lands long before it would finish).
const RESUME_STEPS: u64 = 200;

/// One scratch run of [`RESUME_STEPS`] steps on the same dataset.
fn resume_plan() -> String {
    STUDY_PLAN
        .replace("name = \"tiny slurm\"", "name = \"tiny slurm resume\"")
        .replace("[\"supervised\", \"rotation\"]", "[\"supervised\"]")
        .replace("budgets = [40, 160]", "budgets = [40]")
        .replace("steps = 3", &format!("steps = {RESUME_STEPS}"))
}

/// `study run PLAN --out OUT` then `study report OUT`, outside Slurm (the reference).
fn study_locally(study: &Path, plan: &Path, out: &Path) {
    for args in [
        vec![
            "run".into(),
            plan.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ],
        vec!["report".into(), out.display().to_string()],
    ] {
        let o = Command::new(study)
            .args(&args)
            .env_remove("SLURM_CONF")
            .output()
            .expect("run study");
        check_output(&format!("local study {}", args[0]), &o);
    }
}

fn study_slurm(cluster: &Cluster, study: &Path, plan: &Path, out: &Path) -> Vec<u64> {
    let o = cluster
        .command(study)
        .arg("slurm")
        .arg(plan)
        .arg(format!("--out={}", out.display()))
        .args(["--submit", "--time=00:10:00"])
        .output()
        .expect("run study slurm");
    check_output("study slurm --submit", &o);
    recorded_jobs(out).iter().map(|j| j.job_id).collect()
}

fn study_status(cluster: &Cluster, study: &Path, out: &Path) -> String {
    let o = cluster
        .command(study)
        .arg("status")
        .arg(out)
        .output()
        .expect("run study status");
    check_output("study status", &o);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn assert_all_completed(cluster: &Cluster, ids: &[u64]) {
    for id in ids {
        let states = cluster.states(*id);
        assert!(!states.is_empty(), "job {id} unknown to scontrol");
        for (job, state) in states {
            assert_eq!(state, "COMPLETED", "job {job}\n{}", cluster.diagnostics());
        }
    }
}

/// The tensors of a safetensors file (header entries and data bytes), without its metadata
/// (whose key order is not fixed).
fn tensors(path: &Path) -> (serde_json::Value, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let mut header: serde_json::Value =
        serde_json::from_slice(&bytes[8..8 + len]).expect("safetensors header");
    if let Some(h) = header.as_object_mut() {
        h.remove("__metadata__");
    }
    (header, bytes[8 + len..].to_vec())
}

/// The report files and every run's numbers and weights of two study directories are equal.
fn assert_same_study_results(reference: &Path, actual: &Path) {
    for f in ["utility.json", "accuracy.csv", "utility.csv", "runs.csv"] {
        let a = std::fs::read(reference.join("report").join(f)).expect("reference report file");
        let b = std::fs::read(actual.join("report").join(f)).expect("Slurm report file");
        assert!(
            a == b,
            "report/{f} differs:\nlocal:\n{}\nslurm:\n{}",
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b)
        );
    }
    let mut runs = 0;
    for entry in std::fs::read_dir(reference.join("runs")).expect("reference runs") {
        let name = entry.expect("entry").file_name();
        let (a, b) = (
            reference.join("runs").join(&name),
            actual.join("runs").join(&name),
        );
        let metrics = |d: &Path| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(d.join("metrics.json")).expect("metrics.json"))
                .expect("parse metrics.json")
        };
        if a.join("metrics.json").is_file() {
            let (ma, mb) = (metrics(&a), metrics(&b));
            for key in [
                "test",
                "val",
                "val_history",
                "final_train_loss",
                "labelled_samples",
            ] {
                assert_eq!(ma.get(key), mb.get(key), "{name:?}: metrics.json {key}");
            }
        }
        assert!(
            tensors(&a.join("backbone.safetensors")) == tensors(&b.join("backbone.safetensors")),
            "{name:?}: the backbone weights differ"
        );
        runs += 1;
    }
    assert!(runs > 0, "no runs in {}", reference.display());
}

#[test]
fn study_on_a_live_slurm() {
    if skipped("study_on_a_live_slurm") {
        return;
    }
    let _serial = one_at_a_time();
    let study = workspace_bin("trainer", "study");
    let tmp = tempfile::tempdir().expect("tempdir");

    // References first (before the cluster competes for the CPUs).
    let plan = tmp.path().join("tiny.toml");
    std::fs::write(&plan, STUDY_PLAN).expect("write the plan");
    let reference = tmp.path().join("local");
    study_locally(&study, &plan, &reference);
    let resume_plan_path = tmp.path().join("resume.toml");
    std::fs::write(&resume_plan_path, resume_plan()).expect("write the plan");
    let resume_reference = tmp.path().join("resume-local");
    study_locally(&study, &resume_plan_path, &resume_reference);

    let cluster = Cluster::start(2);

    // 1. The whole study as job arrays: the report equals the local one.
    let out = tmp.path().join("slurm-study");
    let ids = study_slurm(&cluster, &study, &plan, &out);
    let jobs = recorded_jobs(&out);
    assert_eq!(
        jobs.iter()
            .map(|j| (
                j.script.name.as_str(),
                j.script.first_index,
                j.script.array_tasks
            ))
            .collect::<Vec<_>>(),
        vec![
            ("study-render", 0, Some(1)),
            ("study-pretrain", 1, Some(1)),
            ("study-runs", 2, Some(2)),
            ("study-runs", 4, Some(2)),
            ("study-report", 0, None),
        ],
        "4 runs under MaxArraySize=2: two arrays"
    );
    let status = study_status(&cluster, &study, &out);
    let report_job = ids[ids.len() - 1];
    assert!(
        status.contains("slurm: ") && status.contains(&format!("report  job {report_job}")),
        "{status}"
    );
    cluster.wait_gone(&ids);
    assert_all_completed(&cluster, &ids);
    assert_same_study_results(&reference, &out);
    let status = study_status(&cluster, &study, &out);
    assert!(
        status.contains("6 nodes: 6 done")
            && status.contains("slurm: no job of this study is queued or running"),
        "{status}"
    );
    let logs = std::fs::read_dir(out.join("logs")).expect("logs").count();
    assert_eq!(logs, 7, "one log per array task and the report");

    // 2. The training task cancelled after its first checkpoint, the study resubmitted: it
    // resumes and ends as the uninterrupted local run did.
    let out = tmp.path().join("slurm-resume");
    let ids = study_slurm(&cluster, &study, &resume_plan_path, &out);
    let opened = trainer::study::Study::open(&out).expect("open the study");
    assert_eq!(opened.nodes.len(), 2, "a render and one run");
    let run_dir = opened.node_dir(1);
    let checkpoint = trainer::training::checkpoint_dir(&run_dir);
    let start = Instant::now();
    while !checkpoint.is_dir() {
        assert!(
            !run_dir.join("metrics.json").exists(),
            "the run finished before a checkpoint was seen"
        );
        assert!(
            start.elapsed() < JOB_TIMEOUT,
            "no checkpoint in {} after {JOB_TIMEOUT:?}\n{}",
            run_dir.display(),
            cluster.diagnostics()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let runs_array = ids[1];
    let o = cluster.run("scancel", &[&format!("{runs_array}_0")]);
    check_output("scancel", &o);
    cluster.wait_gone(&ids);
    assert!(
        !run_dir.join("metrics.json").exists(),
        "the run finished all {RESUME_STEPS} steps before the cancel landed; make \
         RESUME_STEPS larger for this machine"
    );
    assert_eq!(
        cluster.states(runs_array).get(&format!("{runs_array}_0")),
        Some(&"CANCELLED".to_string()),
        "{}",
        cluster.diagnostics()
    );
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(checkpoint.join("state.json")).expect("checkpoint/state.json"),
    )
    .expect("parse state.json");
    let step = state["step"].as_u64().expect("checkpoint step");
    assert!(step > 0 && step < RESUME_STEPS, "checkpoint at step {step}");
    let status = study_status(&cluster, &study, &out);
    assert!(
        status
            .lines()
            .any(|l| l.contains(" interrupted ") && l.contains("scratch")),
        "{status}"
    );
    let ids = study_slurm(&cluster, &study, &resume_plan_path, &out);
    cluster.wait_gone(&ids);
    assert_all_completed(&cluster, &ids);
    let log = out
        .join("logs")
        .join(format!("study-runs_{}_0.out", ids[1]));
    let log = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert!(log.contains("resuming from"), "not resumed:\n{log}");
    let metrics: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run_dir.join("metrics.json")).expect("metrics.json of the resumed run"),
    )
    .expect("parse metrics.json");
    assert_eq!(
        metrics["resumed_from_step"].as_u64(),
        Some(step),
        "{metrics}"
    );
    assert_same_study_results(&resume_reference, &out);
    drop(cluster);
}
