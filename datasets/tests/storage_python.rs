//! The Python reader (`tools/python/read_mds.py`, numpy + zstandard) against the Rust reader.
//!
//! Needs Python 3 with `numpy` and `zstandard`: the project venv `.venv/` that
//! `scripts/test.sh` creates (used when it exists), else `python3` on the PATH. Missing Python
//! is a test failure, not a skip.

mod storage_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use datasets::mds::Compression;
use datasets::{Dataset, Sample, Split};
use serde_json::Value;

const H: u32 = 16;
const W: u32 = 12;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/python/read_mds.py")
}

/// The project venv's interpreter (`<repo>/.venv/bin/python3`, made by `scripts/test.sh`) when
/// it exists, else `python3` from the PATH.
fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python3");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

fn run_python(args: &[&str]) -> std::process::Output {
    let python = python();
    let out = Command::new(&python)
        .arg(script())
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run the tests with scripts/test.sh, which creates the venv .venv/ with numpy and zstandard",
                python.display()
            )
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "{} lacks a module: {stderr}\nrun the tests with scripts/test.sh, which creates the venv .venv/ with numpy and zstandard",
        python.display()
    );
    out
}

fn flatten(v: &Value, out: &mut Vec<i64>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        Value::Number(n) => out.push(n.as_i64().expect("integer")),
        other => panic!("unexpected {other}"),
    }
}

fn column<'a>(json: &'a Value, split: &str, name: &str) -> &'a Value {
    &json[split][name]
}

fn check_against_rust(dir: &Path) {
    let out = run_python(&["--json", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "read_mds.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("read_mds.py --json prints JSON");
    let ds = Dataset::open(dir).unwrap();
    for split in Split::ALL {
        let reader = ds.split(split).unwrap();
        let samples: Vec<Sample> = (0..reader.num_shards())
            .flat_map(|k| reader.read_shard(k).unwrap())
            .collect();
        let n = samples.len();
        assert_eq!(n, ds.manifest().splits.as_array()[split.index()]);
        let s = split.name();
        let shape = |name: &str| column(&json, s, name)["shape"].clone();
        let dtype = |name: &str| {
            column(&json, s, name)["dtype"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let (h, w) = (H as usize, W as usize);
        assert_eq!(shape("image"), serde_json::json!([n, h, w, 3]));
        assert_eq!(shape("depth"), serde_json::json!([n, h, w]));
        assert_eq!(shape("segmentation"), serde_json::json!([n, h, w]));
        assert_eq!(shape("instance"), serde_json::json!([n, h, w]));
        assert_eq!(shape("class"), serde_json::json!([n]));
        assert_eq!(dtype("image"), "uint8");
        assert_eq!(dtype("depth"), "uint16");
        assert_eq!(dtype("class"), "int64");
        let ints = |name: &str| {
            let mut v = Vec::new();
            flatten(&column(&json, s, name)["values"], &mut v);
            v
        };
        let cat =
            |f: &dyn Fn(&Sample) -> Vec<i64>| samples.iter().flat_map(f).collect::<Vec<i64>>();
        assert_eq!(
            ints("image"),
            cat(&|x| x.image.iter().map(|&b| b as i64).collect()),
            "{s}/image"
        );
        assert_eq!(
            ints("segmentation"),
            cat(&|x| x.segmentation.iter().map(|&b| b as i64).collect())
        );
        assert_eq!(
            ints("instance"),
            cat(&|x| x.instance.iter().map(|&b| b as i64).collect())
        );
        assert_eq!(
            ints("depth"),
            cat(&|x| x.depth.iter().map(|&b| b as i64).collect()),
            "{s}/depth"
        );
        assert_eq!(ints("class"), cat(&|x| vec![x.class]));
        assert_eq!(ints("pose"), cat(&|x| vec![x.pose]));
        let metas: Vec<Value> = samples.iter().map(|x| x.meta.clone()).collect();
        assert_eq!(
            column(&json, s, "meta")["values"],
            Value::Array(metas),
            "{s}/meta"
        );
    }
}

#[test]
fn python_reader_matches_rust_reader() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, comp) in [("zstd", Some(Compression::default())), ("raw", None)] {
        let dir = tmp.path().join(name);
        storage_common::write_dataset(&dir, 70, H, W, 16, comp);
        check_against_rust(&dir);
    }
    // one split directory on its own, and the human summary
    let out = run_python(&[tmp.path().join("zstd/val").to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("image") && text.contains("(5, 16, 12, 3)"),
        "{text}"
    );
}

#[test]
fn python_reader_refuses_corrupt_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    storage_common::write_dataset(dir, 40, H, W, 8, Some(Compression::default()));
    let shard = dir.join("train/shard.00001.mds.zstd");
    let mut bytes = std::fs::read(&shard).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&shard, &bytes).unwrap();
    let out = run_python(&["--json", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("shard.00001.mds.zstd") && stderr.contains("hash mismatch"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
