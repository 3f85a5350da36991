//! A study plan -> rendered dataset -> runs -> report (`trainer::study`).
//!
//! A tiny plan (16 px, 240 images rendered by the study, two label budgets, two seeds, a few
//! steps per run) is run end to end in-process. Checks: every node finishes; the report's
//! numbers are the runs' `metrics.json` test metrics (per seed, and their means); a second run
//! does nothing; deleting one run's directory redoes only that run; a failed run is reported
//! with its log and leaves no `metrics.json`; plan errors name the file and the key. A second
//! plan pretrains CMC (a split backbone), finetunes it on classification and segmentation and
//! evaluates it linearly: every run's metrics.json names its method and pretraining, and the
//! report's Table 1 holds the runs' numbers.

use std::path::{Path, PathBuf};

use trainer::study::Study;
use trainer::study::exec::{self, ExecMode, ExecOptions, NodeState};
use trainer::study::graph::NodeSpec;
use trainer::study::utility::{Baseline, UtilityMode, utility};

const PLAN: &str = r#"
name = "tiny"
methods = ["supervised", "rotation"]
tasks = ["classification"]
budgets = [40, 160]
seeds = [0, 1]
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

fn in_process() -> ExecOptions {
    ExecOptions {
        jobs: 2,
        mode: ExecMode::InProcess,
        progress: false,
    }
}

fn write_plan(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("tiny.toml");
    std::fs::write(&p, text).expect("write the plan");
    p
}

fn metrics(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read metrics.json")).expect("parse")
}

#[test]
fn a_tiny_plan_runs_resumes_and_reports() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plan = write_plan(tmp.path(), PLAN);
    let out = tmp.path().join("study");
    let study = Study::create(&plan, &out).expect("create the study");
    // 1 render + 1 pretraining + 2 methods x 2 budgets x 2 seeds.
    assert_eq!(study.nodes.len(), 10);

    let first = exec::run(&study, &in_process()).expect("run");
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    assert_eq!(first.ran.len(), 10);
    for i in 0..study.nodes.len() {
        assert_eq!(exec::node_state(&study, i), NodeState::Done, "node {i}");
    }

    // The report's numbers are the runs' metrics.
    let report = study.report().expect("report");
    assert!(
        report.figure_errors.is_empty(),
        "{:?}",
        report.figure_errors
    );
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("report/utility.json")).expect("utility.json"),
    )
    .expect("parse utility.json");
    let rows = saved["accuracy"].as_array().expect("accuracy rows");
    assert_eq!(rows.len(), 4, "one row per method and budget");
    for (i, node) in study.nodes.iter().enumerate() {
        let NodeSpec::Train {
            labels,
            seed,
            method,
            ..
        } = &node.spec
        else {
            continue;
        };
        let m = metrics(&study.node_dir(i).join("metrics.json"));
        let test = m["test"][m["metric"].as_str().expect("metric")]
            .as_f64()
            .expect("test metric");
        let row = rows
            .iter()
            .find(|r| r["labels"].as_u64() == Some(*labels as u64) && r["method"] == *method)
            .expect("row of the method and budget");
        assert_eq!(row["values"][seed.to_string()].as_f64(), Some(test));
        assert_eq!(m["labelled_samples"].as_u64(), Some(*labels as u64));
    }
    for r in rows {
        let v: Vec<f64> = r["values"]
            .as_object()
            .expect("values")
            .values()
            .map(|x| x.as_f64().expect("number"))
            .collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((r["mean"].as_f64().expect("mean") - mean).abs() < 1e-12);
    }
    // Utility of every finetuned point, recomputed from the accuracy rows.
    let mean_of = |method: &str, n: u64| {
        rows.iter()
            .find(|r| r["method"] == method && r["labels"].as_u64() == Some(n))
            .and_then(|r| r["mean"].as_f64())
            .expect("mean")
    };
    let baseline = Baseline::new(&[
        (40, mean_of("supervised", 40)),
        (160, mean_of("supervised", 160)),
    ])
    .expect("baseline");
    let util = saved["utility"].as_array().expect("utility rows");
    assert_eq!(util.len(), 2);
    for u in util {
        let n = u["labels"].as_u64().expect("labels");
        let expect = utility(
            &baseline,
            n as usize,
            mean_of("rotation", n),
            UtilityMode::Log,
        )
        .expect("utility");
        assert!(
            (u["log"]["value"].as_f64().expect("value") - expect.value).abs() < 1e-9,
            "{u}"
        );
        assert_eq!(u["finetuned"].as_f64(), Some(mean_of("rotation", n)));
    }
    for f in [
        "index.html",
        "utility.csv",
        "figures/utility_classification.svg",
        "accuracy.csv",
        "runs.csv",
        "figures/accuracy_classification.svg",
        "figures/accuracy_classification.png",
        "sheets/plain.png",
    ] {
        assert!(out.join("report").join(f).is_file(), "{f}");
    }
    let html = std::fs::read_to_string(out.join("report/index.html")).expect("html");
    assert!(html.contains("<svg") && html.contains("data:image/png;base64,"));

    // A second run does nothing.
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .expect("mtime")
    };
    let some_run = study.node_dir(1).join("metrics.json");
    let before = stamp(&some_run);
    let again = exec::run(&study, &in_process()).expect("run again");
    assert!(again.ran.is_empty() && again.failed.is_empty(), "{again:?}");
    assert_eq!(again.already_done, 10);
    assert_eq!(stamp(&some_run), before);

    // Deleting one run's directory redoes only that run (the plan re-read: same nodes).
    let study = Study::create(&plan, &out).expect("re-open from the plan");
    let last = study.nodes.len() - 1;
    let victim = study.nodes[last].id.clone();
    std::fs::remove_dir_all(study.node_dir(last)).expect("delete a run");
    let third = exec::run(&study, &in_process()).expect("run a third time");
    assert_eq!(third.ran, vec![victim]);
    assert_eq!(stamp(&some_run), before);

    let table = exec::status_table(&study);
    assert!(table.contains("10 nodes: 10 done"), "{table}");
}

/// CMC (a split backbone: two half-width trunks on L and ab) pretrained, finetuned on an
/// image-level and a dense task, and linearly evaluated (Table 1).
const CMC_PLAN: &str = r#"
name = "tiny-cmc"
methods = ["supervised", "cmc"]
tasks = ["classification", "segmentation"]
budgets = [40, 160]
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
name = "plain"
tasks = ["classification", "segmentation"]
render = { variant = "----", scene = "single", count = 240, resolution = 16, shard_size = 64, models_per_class = 2, textures = 4, texture_size = 32 }
"#;

fn json(path: &Path) -> serde_json::Value {
    metrics(path)
}

#[test]
fn cmc_finetunes_and_linear_evaluation_fill_table_1() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plan = write_plan(tmp.path(), CMC_PLAN);
    let out = tmp.path().join("study");
    let study = Study::create(&plan, &out).expect("create the study");
    let count = |kind: &str| study.nodes.iter().filter(|n| n.spec.kind() == kind).count();
    // 1 render, CMC pretrained twice (image-level, dense), 2 tasks x 2 budgets scratch and
    // finetuned, one linear evaluation.
    assert_eq!(
        [
            count("render"),
            count("pretrain"),
            count("scratch"),
            count("finetune"),
            count("linear")
        ],
        [1, 2, 4, 4, 1]
    );
    let summary = exec::run(&study, &in_process()).expect("run");
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    assert_eq!(summary.ran.len(), study.nodes.len());

    // Every downstream run names its method and the pretraining it started from; a CMC
    // backbone is split (and dense exactly for segmentation), as `train --method cmc` makes it.
    let mut linear_test = None;
    for (i, node) in study.nodes.iter().enumerate() {
        let dir = study.node_dir(i);
        let pretrain_dep = node
            .deps
            .iter()
            .copied()
            .find(|&d| study.nodes[d].spec.kind() == "pretrain");
        match &node.spec {
            NodeSpec::Pretrain { dense, .. } => {
                let m = json(&dir.join("metrics.json"));
                assert_eq!(m["method"], "cmc");
                assert_eq!(m["split"], true, "{}", node.id);
                assert_eq!(m["dense"], *dense, "{}", node.id);
            }
            NodeSpec::Train { method, task, .. } => {
                let m = json(&dir.join("metrics.json"));
                assert_eq!(m["method"], *method, "{}", node.id);
                assert_eq!(m["eval"], "finetune");
                let config = json(&dir.join("config.json"));
                let dense = task == "segmentation";
                assert_eq!(config["backbone"]["dense"], dense, "{}", node.id);
                if method == "supervised" {
                    assert!(m["pretrain"].is_null(), "{}", node.id);
                    assert_eq!(config["backbone"]["split"], false);
                    continue;
                }
                let p = pretrain_dep.expect("finetuning depends on its pretraining");
                assert_eq!(m["pretrain"]["method"], "cmc");
                assert_eq!(m["pretrain"]["key"], study.nodes[p].id.as_str());
                assert_eq!(
                    m["pretrain"]["dir"],
                    study.node_dir(p).display().to_string().as_str()
                );
                assert_eq!(
                    m["init"],
                    study
                        .node_dir(p)
                        .join("backbone.bpk")
                        .display()
                        .to_string()
                        .as_str()
                );
                assert_eq!(config["backbone"]["split"], true, "{}", node.id);
            }
            NodeSpec::Linear { .. } => {
                let m = json(&dir.join("metrics.json"));
                let p = pretrain_dep.expect("linear evaluation depends on its pretraining");
                assert_eq!(
                    (&m["eval"], &m["method"]),
                    (&"linear".into(), &"cmc".into())
                );
                assert_eq!(m["pretrain"]["key"], study.nodes[p].id.as_str());
                // All training labels (85% of 240), the image-level CMC backbone.
                assert_eq!(m["labelled_samples"], 204);
                assert!(m["linear"]["feature_dim"].as_u64().is_some_and(|d| d > 0));
                linear_test = m["test"]["accuracy"].as_f64();
            }
            NodeSpec::Render { .. } => {}
        }
    }
    let linear_test = linear_test.expect("linear test accuracy");

    // Table 1 is the runs' numbers: the linear accuracy, the finetuned means at the smallest
    // and largest budget, and the mean utility of the utility rows.
    let report = study.report().expect("report");
    assert!(
        report.figure_errors.is_empty(),
        "{:?}",
        report.figure_errors
    );
    let saved = json(&out.join("report/utility.json"));
    let table = saved["linear"].as_array().expect("Table 1 rows");
    assert_eq!(table.len(), 1);
    let t = &table[0];
    assert_eq!(
        (&t["method"], &t["task"]),
        (&"cmc".into(), &"classification".into())
    );
    assert_eq!(t["linear"].as_f64(), Some(linear_test));
    assert_eq!(t["labels"], 204);
    let finetuned_at = |n: u64| {
        let i = study
            .nodes
            .iter()
            .position(|x| {
                matches!(&x.spec, NodeSpec::Train { method, task, labels, .. }
                    if method == "cmc" && task == "classification" && *labels as u64 == n)
            })
            .expect("finetuned run");
        json(&study.node_dir(i).join("metrics.json"))["test"]["accuracy"].as_f64()
    };
    assert_eq!(t["finetune_labels"], 40);
    assert_eq!(t["finetuned"].as_f64(), finetuned_at(40));
    assert_eq!(t["finetune_labels_max"], 160);
    assert_eq!(t["finetuned_max"].as_f64(), finetuned_at(160));
    let utils: Vec<f64> = saved["utility"]
        .as_array()
        .expect("utility rows")
        .iter()
        .filter(|u| u["method"] == "cmc" && u["task"] == "classification")
        .map(|u| u["log"]["value"].as_f64().expect("utility"))
        .collect();
    assert_eq!(utils.len(), 2);
    let mean_u = utils.iter().sum::<f64>() / 2.0;
    assert!((t["mean_utility"].as_f64().expect("mean utility") - mean_u).abs() < 1e-12);
    for f in [
        "linear_eval.csv",
        "figures/linear_eval_table.svg",
        "figures/linear_eval_table.png",
        "figures/linear_vs_finetune.svg",
        "figures/linear_vs_finetune.png",
    ] {
        assert!(out.join("report").join(f).is_file(), "{f}");
    }
    let csv = std::fs::read_to_string(out.join("report/linear_eval.csv")).expect("csv");
    assert!(
        csv.contains(&format!(
            "plain,----,classification,cmc,204,accuracy,{linear_test},"
        )),
        "{csv}"
    );
    let html = std::fs::read_to_string(out.join("report/index.html")).expect("html");
    assert!(
        html.contains("Table 1: linear evaluation vs finetuning")
            && html.contains(&format!("<td>{:.1}</td>", 100.0 * linear_test)),
        "Table 1 in the page"
    );
}

#[test]
fn a_failing_run_is_reported_and_leaves_no_result() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // An existing "dataset" whose shards are garbage: the run must fail, the report must not
    // count it.
    let plan = write_plan(
        tmp.path(),
        &PLAN.replace("[\"supervised\", \"rotation\"]", "[\"supervised\"]"),
    );
    let out = tmp.path().join("study");
    let study = Study::create(&plan, &out).expect("create");
    assert_eq!(study.nodes.len(), 5);
    // Render only (node 0), then break the train split's shards.
    exec::execute_node(&study, 0).expect("render");
    let train = study.node_dir(0).join("train");
    for e in std::fs::read_dir(&train).expect("train dir") {
        let p = e.expect("entry").path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("shard."))
        {
            std::fs::write(&p, b"not a shard").expect("corrupt a shard");
        }
    }
    let summary = exec::run(&study, &in_process()).expect("run");
    assert_eq!(summary.failed.len(), 4, "{summary:?}");
    for (id, error, log) in &summary.failed {
        assert!(!error.is_empty(), "{id}");
        assert!(log.ends_with("log.txt"), "{}", log.display());
    }
    for i in 1..study.nodes.len() {
        assert!(!study.node_dir(i).join("metrics.json").exists());
        assert!(matches!(
            exec::node_state(&study, i),
            NodeState::Failed { .. }
        ));
    }
    let report = study.report().expect("report");
    assert!(report.data.accuracy.is_empty());
    let table = exec::status_table(&study);
    assert!(table.contains("4 failed"), "{table}");
}

#[test]
fn plan_errors_name_the_file_and_key_before_anything_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plan = write_plan(tmp.path(), &PLAN.replace("[40, 160]", "[40, 9999]"));
    let out = tmp.path().join("study");
    let e = Study::create(&plan, &out)
        .expect_err("budget too large")
        .to_string();
    assert!(
        e.contains("tiny.toml") && e.contains("budgets[1] = 9999") && e.contains("204 training"),
        "{e}"
    );
    assert!(!out.exists(), "nothing written for an invalid plan");
    let plan = write_plan(tmp.path(), &PLAN.replace("\"rotation\"]", "\"jigsaw\"]"));
    let e = Study::create(&plan, &out)
        .expect_err("unknown method")
        .to_string();
    assert!(
        e.contains("methods[1] = \"jigsaw\": expected one of"),
        "{e}"
    );
}
