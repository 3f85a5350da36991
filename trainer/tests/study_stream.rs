//! A study plan whose dataset is rendered while training (`stream = "render:..."`): no render
//! node, the pretraining streams the plan's `unique_images` scenes, the scratch / finetune runs
//! at n labels train on the first n scenes (`train --labels N` on a spec), the linear
//! evaluation on the spec's train split; `study run` (child processes and `--in-process`) and
//! `study report` work on it; a bad spec is refused naming the key and the field before
//! anything is written. Tiny sizes (16 px, a 200-image spec, a few steps); lavapipe in CI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use trainer::study::Study;
use trainer::study::exec::{self, NodeState};
use trainer::study::graph::NodeSpec;

const SPEC: &str = "render:----,res=16,count=200,shard=20,val=15,test=15,textures=4,\
                    texture-size=16,procedural-models=12,procedural-textures=20,models-per-class=3";

fn plan_text() -> String {
    format!(
        r#"
name = "stream"
methods = ["supervised", "rotation"]
tasks = ["classification"]
budgets = [40, 180]
seeds = [0]
width = 0.125
linear_eval = true

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
name = "live"
stream = "{SPEC}"
unique_images = 64
"#
    )
}

fn study_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_study"));
    c.env("NO_COLOR", "1");
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

fn write_plan(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("stream.toml");
    std::fs::write(&p, body).expect("write the plan");
    p
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("parse json")
}

/// Every node finished, on the spec (pretraining capped), and the report holds the runs.
fn check_finished(out: &Path) {
    let study = Study::open(out).expect("open the study");
    let kinds: Vec<&str> = study.nodes.iter().map(|n| n.spec.kind()).collect();
    // No render node: 1 pretraining, 2 methods x 2 budgets, 1 linear evaluation.
    assert_eq!(
        kinds,
        [
            "pretrain", "scratch", "scratch", "finetune", "finetune", "linear"
        ]
    );
    let capped = format!("{SPEC},unique=64");
    for (i, node) in study.nodes.iter().enumerate() {
        assert_eq!(exec::node_state(&study, i), NodeState::Done, "{}", node.id);
        let dir = study.node_dir(i);
        let m = json(&dir.join("metrics.json"));
        if node.spec.kind() != "linear" {
            assert!(
                dir.join("render-source.json").is_file(),
                "{}: render-source.json",
                node.id
            );
        }
        match &node.spec {
            NodeSpec::Pretrain { .. } => {
                assert_eq!(m["dataset"]["dir"], capped.as_str(), "{}", node.id);
                assert_eq!(m["dataset"]["splits"][0], 64);
            }
            NodeSpec::Train { labels, .. } => {
                assert_eq!(m["dataset"]["dir"], SPEC, "{}", node.id);
                // 180 > the spec's 170-image train split: the first 180 scenes of the stream.
                assert_eq!(m["labelled_samples"].as_u64(), Some(*labels as u64));
                assert_eq!(m["dataset"]["splits"][0].as_u64(), Some(*labels as u64));
            }
            NodeSpec::Linear { .. } => {
                assert_eq!(m["dataset"]["dir"], SPEC, "{}", node.id);
                assert_eq!(m["labelled_samples"].as_u64(), Some(170));
                assert_eq!(m["pretrain"]["dataset"], capped.as_str());
            }
            NodeSpec::Render { .. } => unreachable!("no render node"),
        }
    }
    let saved = json(&out.join("report/utility.json"));
    let rows = saved["accuracy"].as_array().expect("accuracy rows");
    let kind = |k: &str| rows.iter().filter(|r| r["kind"] == k).count();
    // One row per method and budget, and the linear evaluation's.
    assert_eq!(
        (kind("scratch"), kind("finetune"), kind("linear")),
        (2, 2, 1)
    );
    assert_eq!(saved["linear"].as_array().map(Vec::len), Some(1));
    assert!(out.join("report/index.html").is_file());
    assert!(!out.join("datasets").exists(), "nothing rendered to disk");
}

#[test]
fn a_stream_plan_runs_in_child_processes_and_reports() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plan = write_plan(tmp.path(), &plan_text());
    let out = tmp.path().join("study");
    let o = study_cmd()
        .arg("run")
        .arg(&plan)
        .arg("--out")
        .arg(&out)
        .args(["--jobs", "2"])
        .output()
        .expect("run study run");
    assert!(o.status.success(), "{}", text(&o));
    let o = study_cmd()
        .arg("report")
        .arg(&out)
        .output()
        .expect("run study report");
    assert!(o.status.success(), "{}", text(&o));
    check_finished(&out);
    // A second run finds everything done.
    let o = study_cmd()
        .arg("run")
        .arg(&plan)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("rerun");
    assert!(o.status.success(), "{}", text(&o));
    let study = Study::open(&out).expect("open");
    let again = exec::run(
        &study,
        &exec::ExecOptions {
            jobs: 1,
            mode: exec::ExecMode::InProcess,
            progress: false,
        },
    )
    .expect("run");
    assert!(again.ran.is_empty() && again.already_done == 6, "{again:?}");
}

#[test]
fn a_stream_plan_runs_in_process_and_reports() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plan = write_plan(tmp.path(), &plan_text());
    let out = tmp.path().join("study");
    let o = study_cmd()
        .arg("run")
        .arg(&plan)
        .arg("--out")
        .arg(&out)
        .args(["--jobs", "2", "--in-process"])
        .output()
        .expect("run study run --in-process");
    assert!(o.status.success(), "{}", text(&o));
    let study = Study::open(&out).expect("open the study");
    study.report().expect("report");
    check_finished(&out);
}

#[test]
fn a_bad_stream_spec_is_refused_naming_the_field() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plan = write_plan(tmp.path(), &plan_text().replace("res=16", "res=abc"));
    let out = tmp.path().join("study");
    for dry in [true, false] {
        let mut c = study_cmd();
        c.arg("run").arg(&plan).arg("--out").arg(&out);
        if dry {
            c.arg("--dry-run");
        }
        let o = c.output().expect("run study run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            err.contains("stream.toml: dataset[0].stream = \"render:----,res=abc,")
                && err.contains("field `res`: `abc`: expected an image side in 8..=4096"),
            "{err}"
        );
        assert!(!out.exists(), "nothing written");
    }
}
