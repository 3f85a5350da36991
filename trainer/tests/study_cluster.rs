//! `study slurm`, `study k8s` and the Slurm lines of `study status`, without a cluster: the
//! Kubernetes manifests are parsed as YAML (yaml-rust2) and their indices checked against the
//! graph; `apply.sh` runs against a stand-in `kubectl`; the Slurm scripts are submitted to
//! stand-in `sbatch` / `scontrol` / `squeue` programs. The live-Slurm test is
//! tests/integration/slurm_cluster.rs. Also: the node logs of `study run` are plain text.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use trainer::study::Study;
use yaml_rust2::{Yaml, YamlLoader};

/// Two rendered datasets, three methods, two budgets, linear evaluation: renders, pretraining
/// and downstream runs of every kind. Nothing is run: the commands only write files.
const PLAN: &str = r#"
name = "Cluster Test"
methods = ["supervised", "rotation", "simclr"]
tasks = ["classification"]
budgets = [40, 160]
seeds = [0, 1]
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

[[dataset]]
name = "textured"
render = { variant = "T---", scene = "single", count = 240, resolution = 16, shard_size = 64 }
"#;

fn study_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_study"));
    c.env("RUST_LOG", "warn");
    c
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write_plan(dir: &Path) -> PathBuf {
    let p = dir.join("cluster.toml");
    std::fs::write(&p, PLAN).expect("write the plan");
    p
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// An executable shell script `name` in `dir`.
fn stand_in(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/bash\n{body}")).expect("write a stand-in program");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// PATH with `first` before the system directories (for `apply.sh`: dirname, sleep).
fn path_with(first: &Path) -> String {
    format!("{}:/usr/bin:/bin", first.display())
}

/// PATH of only `dir`: the Slurm programs installed on the machine stay out of reach (the
/// stand-ins are pure bash).
fn only(dir: &Path) -> String {
    dir.display().to_string()
}

fn yaml(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).expect("read a manifest");
    let mut docs = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}\n{text}", path.display()));
    assert_eq!(docs.len(), 1, "{}: one document", path.display());
    docs.remove(0)
}

fn env_value(container: &Yaml, name: &str) -> Option<String> {
    container["env"]
        .as_vec()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

#[test]
fn k8s_manifests_parse_and_their_indices_cover_the_graph() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plan = write_plan(tmp.path());
    let out = tmp.path().join("study");
    let o = study_cmd()
        .args(["k8s", s(&plan), "--out", s(&out)])
        .args(["--image", "registry.example/ssl:1", "--pvc", "study-data"])
        .args(["--cpu", "2", "--memory", "4Gi", "--parallelism", "3"])
        .output()
        .expect("run study k8s");
    assert!(o.status.success(), "{}", text(&o));
    let study = Study::open(&out).expect("the study directory is set up");
    let n = study.nodes.len();

    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join("k8s"))
        .expect("DIR/k8s")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "00-study-render.yaml",
            "01-study-pretrain.yaml",
            "02-study-runs.yaml",
            "03-study-report.yaml"
        ]
    );

    // Node index -> stage that runs it; every node exactly once.
    let mut stage_of: Vec<Option<usize>> = vec![None; n];
    let abs_dir = std::path::absolute(&out).expect("absolute");
    let command_tail = format!(
        "run-one {} --index $((STUDY_FIRST_INDEX + JOB_COMPLETION_INDEX))",
        abs_dir.display()
    );
    for (stage, file) in files.iter().take(3).enumerate() {
        let job = yaml(file);
        assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
        assert_eq!(job["kind"].as_str(), Some("Job"));
        let spec = &job["spec"];
        assert_eq!(spec["completionMode"].as_str(), Some("Indexed"), "{file:?}");
        let completions = spec["completions"].as_i64().expect("completions") as usize;
        let parallelism = spec["parallelism"].as_i64().expect("parallelism") as usize;
        assert_eq!(parallelism, completions.min(3), "{file:?}");
        assert!(spec["backoffLimitPerIndex"].as_i64().is_some());
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
        let c = &pod["containers"][0];
        assert_eq!(c["image"].as_str(), Some("registry.example/ssl:1"));
        let resources = &c["resources"];
        assert_eq!(resources["limits"]["nvidia.com/gpu"].as_str(), Some("1"));
        assert_eq!(resources["limits"]["memory"].as_str(), Some("4Gi"));
        assert_eq!(resources["requests"]["cpu"].as_str(), Some("2"));
        let command: Vec<&str> = c["command"]
            .as_vec()
            .expect("command list")
            .iter()
            .map(|a| a.as_str().expect("string argument"))
            .collect();
        assert_eq!(command[..2], ["/bin/sh", "-c"]);
        assert!(command[2].ends_with(&command_tail), "{}", command[2]);
        assert_eq!(
            c["volumeMounts"][0]["mountPath"].as_str(),
            abs_dir.to_str(),
            "the study directory is mounted at its own path"
        );
        assert_eq!(
            pod["volumes"][0]["persistentVolumeClaim"]["claimName"].as_str(),
            Some("study-data")
        );
        assert_eq!(
            env_value(c, "JOB_COMPLETIONS"),
            Some(completions.to_string())
        );
        let first: usize = env_value(c, "STUDY_FIRST_INDEX")
            .expect("STUDY_FIRST_INDEX")
            .parse()
            .expect("a number");
        // JOB_COMPLETION_INDEX takes 0..completions: the pods run first..first+completions.
        assert!(
            first + completions <= n,
            "{file:?}: indices {first}..{} beyond the {n} nodes",
            first + completions
        );
        for (i, slot) in stage_of
            .iter_mut()
            .enumerate()
            .skip(first)
            .take(completions)
        {
            assert_eq!(*slot, None, "node {i} in two Jobs");
            *slot = Some(stage);
        }
    }
    assert!(
        stage_of.iter().all(Option::is_some),
        "nodes not in any Job: {:?}",
        stage_of
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_none())
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    );
    // Jobs run one after the other: each node's dependencies are in an earlier Job.
    for (i, node) in study.nodes.iter().enumerate() {
        for &d in &node.deps {
            assert!(
                stage_of[d] < stage_of[i],
                "node {i} ({}) runs with or before its dependency {d}",
                node.id
            );
        }
    }
    // Every kind of node is there (2 renders, 2 methods x 2 datasets pretrained, runs).
    let kinds: Vec<usize> = (0..3)
        .map(|k| stage_of.iter().filter(|s| **s == Some(k)).count())
        .collect();
    assert_eq!(kinds[..2], [2, 4]);
    assert_eq!(kinds[2], n - 6);

    // The report: a plain Job without a GPU running `study report DIR`.
    let report = yaml(&files[3]);
    assert!(report["spec"]["completionMode"].is_badvalue());
    let c = &report["spec"]["template"]["spec"]["containers"][0];
    assert!(c["resources"]["limits"]["nvidia.com/gpu"].is_badvalue());
    let command: Vec<&str> = c["command"]
        .as_vec()
        .expect("command")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(
        command,
        ["study", "report", abs_dir.to_str().expect("utf-8")]
    );
}

const KUBECTL: &str = r#"
echo "$*" >> "$KUBECTL_LOG"
args=("$@")
[[ ${args[0]} == -n ]] && args=("${args[@]:2}")
if [[ ${args[0]} == get ]]; then
    if [[ ${args[2]} == "$FAIL_JOB" ]]; then echo -n "FailureTarget Failed "; else echo -n "Complete "; fi
fi
"#;

#[test]
fn apply_sh_runs_the_jobs_in_order_and_the_report_after_a_failure() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plan = write_plan(tmp.path());
    let out = tmp.path().join("study");
    let o = study_cmd()
        .args(["k8s", s(&plan), "--out", s(&out), "--image", "x:1"])
        .args(["--namespace", "ml"])
        .output()
        .expect("run study k8s");
    assert!(o.status.success(), "{}", text(&o));
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    stand_in(&bin, "kubectl", KUBECTL);
    let log = tmp.path().join("kubectl.log");
    let apply = |fail: &str| {
        let _ = std::fs::remove_file(&log);
        let o = Command::new("bash")
            .arg(out.join("k8s/apply.sh"))
            .env("PATH", path_with(&bin))
            .env("KUBECTL_LOG", &log)
            .env("FAIL_JOB", fail)
            .env("POLL_S", "0.1")
            .env("TIMEOUT_S", "20")
            .output()
            .expect("run apply.sh");
        let calls: Vec<String> = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" apply ") || l.contains(" get "))
            .map(str::to_string)
            .collect();
        (o, calls)
    };

    let (o, calls) = apply("");
    assert!(o.status.success(), "{}", text(&o));
    let get = |stage: &str| format!("-n ml get job study-cluster-test-{stage} -o");
    let applied = |n: &str| format!("-n ml apply -f {n}");
    let expected = [
        applied("00-study-render.yaml"),
        get("render"),
        applied("01-study-pretrain.yaml"),
        get("pretrain"),
        applied("02-study-runs.yaml"),
        get("runs"),
        applied("03-study-report.yaml"),
        get("report"),
    ];
    assert_eq!(calls.len(), expected.len(), "{calls:#?}");
    for (call, want) in calls.iter().zip(&expected) {
        assert!(call.starts_with(want.as_str()), "{call:?} != {want:?}");
    }

    // Pretraining fails: the runs are not started, the report is, and apply.sh exits 1.
    let (o, calls) = apply("study-cluster-test-pretrain");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        !calls.iter().any(|c| c.contains("02-study-runs.yaml")),
        "{calls:#?}"
    );
    assert!(
        calls.iter().any(|c| c.contains("03-study-report.yaml")),
        "{calls:#?}"
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("job study-cluster-test-pretrain failed")
            && stderr.contains("study-cluster-test-runs not started"),
        "{stderr}"
    );
}

/// Stand-in sbatch: logs its arguments, answers job ids 101, 102, ...
const SBATCH: &str = r#"
lines=()
[[ -f $SBATCH_LOG ]] && mapfile -t lines < "$SBATCH_LOG"
n=$((101 + ${#lines[@]}))
echo "$*" >> "$SBATCH_LOG"
echo "$n;cluster"
"#;

#[test]
fn study_slurm_writes_and_submits_arrays_and_status_reads_the_queue() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plan = write_plan(tmp.path());
    let out = tmp.path().join("study");
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");

    // --submit without sbatch: the scripts are written and the message says how to submit.
    let o = study_cmd()
        .args(["slurm", s(&plan), "--out", s(&out), "--submit"])
        .env("PATH", only(&bin))
        .output()
        .expect("run study slurm");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`sbatch` not found on PATH") && err.contains("slurm/submit.sh"),
        "{err}"
    );
    assert!(out.join("slurm/02-study-runs.sbatch").is_file());
    let o = study_cmd()
        .args(["slurm", s(&plan), "--out", s(&out), "--array-throttle", "0"])
        .output()
        .expect("run study slurm");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--array-throttle must be at least 1"));

    // Submitted to stand-ins; MaxArraySize 8 from scontrol splits the runs array.
    let sbatch_log = tmp.path().join("sbatch.log");
    stand_in(&bin, "sbatch", SBATCH);
    stand_in(
        &bin,
        "scontrol",
        "[[ $* == 'show config' ]] && echo 'MaxArraySize            = 8'\n",
    );
    let o = study_cmd()
        .args(["slurm", s(&plan), "--out", s(&out), "--submit"])
        .args([
            "--partition",
            "gpu",
            "--gres",
            "gpu:1",
            "--cpus-per-task",
            "4",
        ])
        .args(["--time", "01:00:00", "--pretrain-time", "1-00:00:00"])
        .args([
            "--mem",
            "8G",
            "--array-throttle",
            "5",
            "--sbatch-option=--qos=high",
        ])
        .env("PATH", only(&bin))
        .env("SBATCH_LOG", &sbatch_log)
        .output()
        .expect("run study slurm --submit");
    assert!(o.status.success(), "{}", text(&o));
    let study = Study::open(&out).expect("open");
    let n = study.nodes.len();
    let runs = n - 6;
    let parts = runs.div_ceil(8);
    let jobs = datasets::slurm::read_jobs(&out)
        .expect("jobs.json")
        .expect("written");
    assert_eq!(jobs.len(), 2 + parts + 1, "{jobs:#?}");
    let ids: Vec<u64> = jobs.iter().map(|j| j.job_id).collect();
    assert_eq!(ids, (101..101 + ids.len() as u64).collect::<Vec<_>>());
    // Every node in exactly one array task.
    let mut seen = vec![0; n];
    for j in &jobs {
        if let Some(t) = j.script.array_tasks {
            assert!(t <= 8);
            for count in seen.iter_mut().skip(j.script.first_index).take(t) {
                *count += 1;
            }
        }
    }
    assert!(seen.iter().all(|&c| c == 1), "{seen:?}");
    let calls: Vec<String> = std::fs::read_to_string(&sbatch_log)
        .expect("sbatch log")
        .lines()
        .map(str::to_string)
        .collect();
    assert!(calls[0].starts_with("--parsable ") && !calls[0].contains("--dependency"));
    assert!(
        calls[1].contains("--dependency=afterok:101 --kill-on-invalid-dep=yes"),
        "{calls:#?}"
    );
    assert!(
        calls[2].contains("--dependency=afterok:101:102 --kill-on-invalid-dep=yes"),
        "{calls:#?}"
    );
    let all_before: Vec<String> = ids[..ids.len() - 1].iter().map(u64::to_string).collect();
    assert!(
        calls
            .last()
            .expect("report")
            .contains(&format!("--dependency=afterany:{}", all_before.join(":"))),
        "{calls:#?}"
    );
    let pretrain = std::fs::read_to_string(out.join("slurm/01-study-pretrain.sbatch"))
        .expect("pretrain script");
    for line in [
        "#SBATCH --array=0-3%5",
        "#SBATCH --partition=gpu",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --time=1-00:00:00",
        "#SBATCH --mem=8G",
        "#SBATCH --qos=high",
        "TASK_INDEX=$((SLURM_ARRAY_TASK_ID + 2))",
    ] {
        assert!(pretrain.contains(line), "{line} missing:\n{pretrain}");
    }
    let logs = std::path::absolute(out.join("logs")).expect("absolute");
    assert!(pretrain.contains(&format!("#SBATCH --output={}/", logs.display())));
    let report = std::fs::read_to_string(out.join(format!("slurm/{:02}-study-report.sbatch", 3)))
        .expect("report script");
    assert!(report.contains("#SBATCH --time=01:00:00"), "{report}");
    assert!(
        !report.contains("--gres") && !report.contains("--array"),
        "{report}"
    );
    assert!(report.contains(" report "), "{report}");

    // status: the queue as the stand-in squeue reports it (node 2 running, node 3 pending,
    // the report pending on its dependency).
    let squeue = format!(
        "echo '{p}|0|RUNNING|None'\necho '{p}|1|PENDING|Priority'\necho '{r}|N/A|PENDING|Dependency'\n",
        p = ids[1],
        r = ids[ids.len() - 1]
    );
    stand_in(&bin, "squeue", &squeue);
    let o = study_cmd()
        .args(["status", s(&out)])
        .env("PATH", only(&bin))
        .output()
        .expect("run study status");
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("slurm: 2 nodes queued or running"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("job {}_0  RUNNING\n", ids[1])),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("job {}_1  PENDING (Priority)\n", ids[1])),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "report  job {}  PENDING (Dependency)",
            ids[ids.len() - 1]
        )),
        "{stdout}"
    );
    // Without squeue: the file states and one line saying why the queue is not shown.
    std::fs::remove_file(bin.join("squeue")).expect("remove squeue");
    let o = study_cmd()
        .args(["status", s(&out)])
        .env("PATH", only(&bin))
        .output()
        .expect("run study status");
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains(&format!("{n} nodes: 0 done")), "{stdout}");
    assert!(
        stdout.contains("but `squeue` is not on PATH: their queue state is not shown"),
        "{stdout}"
    );
}

/// The node logs `study run` writes (DIR/renders/*/log.txt, DIR/runs/*/log.txt: the same files a
/// Slurm array task appends to) and its own piped stderr are plain text: no ANSI colour escapes,
/// also when the environment does not set NO_COLOR.
#[test]
fn study_run_logs_carry_no_colour_escapes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plan = tmp.path().join("tiny.toml");
    std::fs::write(
        &plan,
        r#"
name = "plain logs"
methods = ["supervised"]
tasks = ["classification"]
budgets = [40]
width = 0.125

[finetune]
schedule = "fixed"
steps = 2
batch_size = 16
eval_limit = 16

[[dataset]]
name = "plain"
render = { variant = "----", scene = "single", count = 120, resolution = 16, shard_size = 64 }
"#,
    )
    .expect("write the plan");
    let out_dir = tmp.path().join("study");
    let out = study_cmd()
        .args(["run", s(&plan), "--out", s(&out_dir), "--jobs", "1"])
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .output()
        .expect("run the study binary");
    assert!(out.status.success(), "{}", text(&out));
    assert!(!out.stderr.contains(&0x1b), "{}", text(&out));
    let mut logs = 0;
    for kind in ["renders", "runs"] {
        for entry in std::fs::read_dir(out_dir.join(kind)).expect("node directories") {
            let log = entry.expect("entry").path().join("log.txt");
            let bytes = std::fs::read(&log).expect("every node has a log.txt");
            assert!(
                String::from_utf8_lossy(&bytes).contains("INFO"),
                "{}: no tracing lines",
                log.display()
            );
            assert!(!bytes.contains(&0x1b), "ANSI escape in {}", log.display());
            logs += 1;
        }
    }
    assert_eq!(logs, 2, "one render and one scratch run");
}
