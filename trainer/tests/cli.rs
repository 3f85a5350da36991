//! The `train` command line: exit codes and messages for a bad flag, a missing dataset and a
//! backend that was not compiled in (no training runs here; end_to_end.rs covers those).

use std::process::{Command, Output};

fn train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_train"))
        .args(args)
        .output()
        .expect("run the train binary")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_flag_exits_2_naming_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out_dir = tmp.path().join("run");
    let out = train(&[
        "--task",
        "classification",
        "--dataset",
        "x",
        "--out",
        out_dir.to_str().expect("utf-8 path"),
        "--bogus-flag",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--bogus-flag"), "{}", stderr(&out));

    let out = train(&["--task", "colour", "--dataset", "x", "--out", "y"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("colour"), "{}", stderr(&out));
    assert!(
        !out_dir.exists(),
        "nothing is created on a bad command line"
    );
}

#[test]
fn missing_dataset_exits_1_naming_the_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("no-such-dataset");
    let out = train(&[
        "--task",
        "classification",
        "--dataset",
        missing.to_str().expect("utf-8 path"),
        "--out",
        tmp.path().join("run").to_str().expect("utf-8 path"),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no-such-dataset"), "{err}");
    assert!(
        err.starts_with("error:") || err.contains("\nerror:"),
        "{err}"
    );
}

#[test]
fn backend_not_compiled_in_exits_1_with_the_feature_to_build() {
    for (name, compiled) in [
        ("cuda", cfg!(feature = "cuda")),
        ("wgpu", cfg!(feature = "wgpu")),
    ] {
        if compiled {
            continue; // this build has it: the error below cannot happen
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let run_dir = tmp.path().join("run");
        let out = train(&[
            "--task",
            "classification",
            "--dataset",
            tmp.path().to_str().expect("utf-8 path"),
            "--out",
            run_dir.to_str().expect("utf-8 path"),
            "--backend",
            name,
            "--quiet",
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("--backend {name}")), "{err}");
        assert!(err.contains(&format!("--features {name}")), "{err}");
        assert!(
            !run_dir.exists(),
            "no run directory for a run that cannot start"
        );
    }
}
