//! The `render` command as a newcomer meets it: what it writes to stderr (only our own lines,
//! no window-system noise, colour only on a terminal) and `--classes` for a ShapeNet download
//! of a few synsets. They need a wgpu adapter (lavapipe in CI) and fail, not skip, without one.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use datasets::{Dataset, Split};
use shapenet_loader::{Class, Layout, ModelKey, ModelSource, ProceduralModels};

const BIN: &str = env!("CARGO_BIN_EXE_render");

/// A tiny, fast render of `count` images into `out`, plus `extra` flags.
fn render_args(out: &Path, count: usize, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--count",
        &count.to_string(),
        "--out",
        out.to_str().unwrap(),
        "--resolution",
        "16",
        "--models-per-class",
        "2",
        "--procedural-models",
        "24",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// `render` with stdout and stderr piped, `XDG_RUNTIME_DIR` and `NO_COLOR` unset.
fn render(args: &[String], rust_log: &str) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", rust_log)
        .output()
        .expect("run target/.../render")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A line `render` itself writes to stderr on a successful run: a tracing line
/// (`2026-12-01T14:49:44.936307Z  INFO target: message`) or a `render: ...` notice (the GPU
/// warning block is framed by rules of `!`). Its only other line, the final `error: ...`, comes
/// with a failure.
fn is_our_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let tracing_line = match (words.next(), words.next()) {
        (Some(time), Some(level)) => {
            time.len() > 20
                && time.as_bytes()[4] == b'-'
                && time.contains('T')
                && time.ends_with('Z')
                && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level)
        }
        _ => false,
    };
    let rule = !line.is_empty() && line.bytes().all(|b| b == b'!');
    tracing_line || rule || line.starts_with("render: ")
}

#[test]
fn stderr_holds_only_our_lines_without_colour_when_piped() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    // info: our own log lines are there too, and must be plain text in a pipe
    let run = render(&render_args(&out, 20, &[]), "info");
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        !run.stderr.contains(&0x1b),
        "ANSI escape in piped stderr: {stderr:?}"
    );
    assert!(
        !stderr.contains("XDG_RUNTIME_DIR"),
        "window-system noise: {stderr}"
    );
    assert!(
        stderr.contains(" INFO datasets::generate: "),
        "expected our info lines, got: {stderr}"
    );
    for line in stderr.lines() {
        assert!(is_our_line(line), "not a line of ours: {line:?}\n{stderr}");
    }
    assert!(!run.stdout.contains(&0x1b), "{}", text(&run.stdout));

    // The default level on a successful run: nothing on stderr but, on a host whose NVIDIA GPU
    // Vulkan does not see, our warning block (rendering again into a fresh directory, so the
    // device is created and the adapters enumerated again).
    let run = render(&render_args(&tmp.path().join("ds2"), 20, &[]), "warn");
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    for line in stderr.lines() {
        assert!(
            line.starts_with("render: ") || line.bytes().all(|b| b == b'!'),
            "stderr of a quiet successful render: {line:?}\n{stderr}"
        );
    }
}

/// `render` under a pseudo-terminal (`script` from util-linux), stderr and stdout together.
fn render_in_terminal(args: &[String], no_color: Option<&str>) -> String {
    let mut cmd_line = shell_quote(BIN);
    for a in args {
        cmd_line.push(' ');
        cmd_line.push_str(&shell_quote(a));
    }
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &cmd_line, "/dev/null"])
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info");
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let run = cmd
        .output()
        .expect("run `script` (util-linux) for a pseudo-terminal");
    let all = text(&run.stdout);
    assert!(run.status.success(), "{all}{}", text(&run.stderr));
    all
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = " INFO datasets::generate: ";
    let coloured = render_in_terminal(&render_args(&tmp.path().join("a"), 10, &[]), None);
    assert!(coloured.contains("INFO"), "{coloured:?}");
    assert!(
        !coloured.contains(plain),
        "a terminal gets coloured log lines: {coloured:?}"
    );
    let no_color = render_in_terminal(&render_args(&tmp.path().join("b"), 10, &[]), Some("1"));
    assert!(
        no_color.contains(plain),
        "NO_COLOR=1 gives plain log lines: {no_color:?}"
    );
}

/// A ShapeNet-style folder holding only airplane, car and chair (`per_class` models each).
fn three_class_shapenet(root: &Path, per_class: usize) {
    shapenet_loader::export_shapenet(
        &ProceduralModels::new(per_class),
        root,
        per_class,
        Layout::V2,
    )
    .unwrap();
    for class in Class::ALL {
        if ![Class::Airplane, Class::Car, Class::Chair].contains(&class) {
            std::fs::remove_dir_all(root.join(class.synset())).unwrap();
        }
    }
}

#[test]
fn classes_render_a_shapenet_download_of_three_synsets() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shapenet");
    three_class_shapenet(&root, 12);
    let shapenet = root.to_str().unwrap();

    // Without --classes: refused, and the error says which --classes would work.
    let out = tmp.path().join("all");
    let run = render(&render_args(&out, 30, &["--shapenet", shapenet]), "warn");
    assert_eq!(run.status.code(), Some(1));
    let stderr = text(&run.stderr);
    assert!(stderr.contains("--classes airplane,car,chair"), "{stderr}");
    assert!(
        stderr.contains("7 of the requested classes are missing"),
        "{stderr}"
    );

    // An unknown class name is a command-line error listing the names.
    let run = render(
        &render_args(&out, 30, &["--shapenet", shapenet, "--classes", "plane"]),
        "warn",
    );
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run.stderr).contains("motorcycle"),
        "{}",
        text(&run.stderr)
    );

    // With --classes (any order): the three classes, ten-class label ids, balanced.
    let out = tmp.path().join("three");
    let run = render(
        &render_args(
            &out,
            60,
            &["--shapenet", shapenet, "--classes", "chair,airplane,car"],
        ),
        "warn",
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        !text(&run.stderr).contains("error"),
        "{}",
        text(&run.stderr)
    );
    let stdout = text(&run.stdout);
    assert!(
        stdout.contains("classes: airplane, car, chair (3 of 10"),
        "{stdout}"
    );
    let ds = Dataset::open(&out).unwrap();
    let m = ds.manifest();
    assert_eq!(m.classes, [Class::Airplane, Class::Car, Class::Chair]);
    assert_eq!(m.assets.models.kind, "shapenet");
    let wanted: BTreeSet<i64> = [0, 3, 4].into();
    for split in Split::ALL {
        let reader = ds.split(split).unwrap();
        let mut counts = [0usize; Class::COUNT];
        for k in 0..reader.num_shards() {
            for s in reader.read_shard(k).unwrap() {
                assert!(wanted.contains(&s.class), "{split}: class {}", s.class);
                counts[s.class as usize] += 1;
                // segmentation = class id + 1, of the ten-class ids
                let seg: BTreeSet<u8> = s.segmentation.iter().copied().collect();
                assert_eq!(seg, [0, s.class as u8 + 1].into(), "{split}");
                assert_eq!(
                    s.meta["objects"][0]["synset"],
                    Class::from_index(s.class as usize).unwrap().synset()
                );
            }
        }
        let present: Vec<usize> = [0, 3, 4].iter().map(|&c| counts[c]).collect();
        let (lo, hi) = (
            *present.iter().min().unwrap(),
            *present.iter().max().unwrap(),
        );
        assert!(hi - lo <= 2, "{split}: unbalanced {counts:?}");
    }
    let inspect = Command::new(BIN)
        .args(["inspect", out.to_str().unwrap()])
        .output()
        .unwrap();
    let report = text(&inspect.stdout);
    assert!(report.contains("classes: airplane, car, chair"), "{report}");
    assert!(!report.contains("lamp="), "{report}");
}

#[test]
fn a_class_too_small_for_a_held_out_split_says_what_it_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shapenet");
    three_class_shapenet(&root, 12);
    // Keep a single chair model, one on the train side of the 80/20 split.
    let chairs = ProceduralModels::new(12).models(Class::Chair);
    let keep: &ModelKey = chairs
        .iter()
        .find(|k| k.split() == shapenet_loader::Split::Train)
        .unwrap();
    for k in &chairs {
        if k != keep {
            std::fs::remove_dir_all(root.join(k.path_id())).unwrap();
        }
    }
    let run = render(
        &render_args(
            &tmp.path().join("out"),
            40,
            &[
                "--shapenet",
                root.to_str().unwrap(),
                "--classes",
                "airplane,car,chair",
            ],
        ),
        "warn",
    );
    assert_eq!(run.status.code(), Some(1));
    let stderr = text(&run.stderr);
    for part in [
        "class chair: too few models for a held-out split",
        "1 found, 1 on the train side and 0 held out",
        "at least 1 usable held-out model",
        "--classes",
    ] {
        assert!(stderr.contains(part), "missing {part:?} in: {stderr}");
    }
}

#[test]
fn classes_restrict_the_procedural_models_too() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("proc");
    let run = render(&render_args(&out, 20, &["--classes", "lamp,sofa"]), "warn");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let ds = Dataset::open(&out).unwrap();
    assert_eq!(ds.manifest().classes, [Class::Lamp, Class::Sofa]);
    assert_eq!(ds.manifest().assets.models.kind, "procedural");
    let train = ds.split(Split::Train).unwrap();
    let classes: BTreeSet<i64> = (0..train.num_shards())
        .flat_map(|k| train.read_shard(k).unwrap())
        .map(|s| s.class)
        .collect();
    assert_eq!(classes, [5, 6].into());
}
