//! A live single-node Slurm (`tests/slurm/slurm-up.sh`: munged, slurmctld, slurmd on localhost,
//! `MaxArraySize=2`) running `render slurm --submit`.
//!
//! Checks: a render split over 3 array tasks plus the dependent merge job gives shards
//! byte-identical to a one-process render (the 3 tasks need two arrays under `MaxArraySize=2`,
//! read from `scontrol`); a task cancelled with `scancel` after it wrote some shards, then
//! resubmitted, gives the same bytes as an uninterrupted render (and its merge job is cancelled,
//! not left pending); a rejected submission shows sbatch's message; no `sbatch` on PATH is
//! explained.
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
    let missing = missing_programs();
    if !missing.is_empty() {
        println!(
            "SKIPPED slurm_cluster::render_on_a_live_slurm: Slurm programs absent ({}); \
             apt-get install slurm-wlm munge (.ci/run does)",
            missing.join(", ")
        );
        return;
    }
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
