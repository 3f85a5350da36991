//! Pretrain -> finetune chaining (`train --method M`), the pretraining cache, linear evaluation
//! (`--eval linear`), the `method`/`pretrain` fields of metrics.json, `backbone.safetensors`, and
//! the PyTorch mirror (`tools/python/torch_backbones.py`), on a tiny synthetic dataset written
//! directly as MDS shards (16 px, a few hundred samples, width 1/8).

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::prelude::*;
use datasets::{AssetRef, Assets, Manifest, Sample, ShardPlan, SplitSizes};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trainer::backend::{autodiff, flex};
use trainer::chain::{ChainOptions, EvalMode, cache_key, run_chain};
use trainer::export::{SAFETENSORS_FILE, describe_safetensors, save_f32_tensors, save_safetensors};
use trainer::linear_eval::{LinearEvalOptions, run_linear_eval};
use trainer::methods::MethodKind;
use trainer::model::{BackboneConfig, BackboneKind, inference, init_weights};
use trainer::pretrain::PretrainOptions;
use trainer::run::{RunMetrics, RunOptions, run};
use trainer::tasks::{Task, to_host_f32};

const RES: u32 = 16;

/// A dataset whose class shows as the colour of a centred square (and whose segmentation and
/// depth follow the square); `seed` changes the noise, so two seeds are two datasets.
fn toy_dataset(dir: &Path, count: usize, seed: u64) {
    let plan = ShardPlan::new(count, 64, None).expect("plan");
    std::fs::create_dir_all(dir).expect("mkdir");
    let columns = Sample::columns(RES, RES);
    let n = (RES * RES) as usize;
    let manifest = Manifest {
        tool_version: "test".into(),
        variant: "-C--".into(),
        scene: "single".into(),
        seed,
        count,
        splits: SplitSizes::from(plan.counts()),
        resolution: [RES, RES],
        objects_per_image: 1,
        shard_size: plan.shard_size(),
        compression: None,
        assets: Assets {
            models: AssetRef {
                kind: "procedural".into(),
                fingerprint: "00".into(),
            },
            textures: AssetRef {
                kind: "procedural".into(),
                fingerprint: "11".into(),
            },
        },
        classes: shapenet_loader::Class::ALL.to_vec(),
        class_colors: vec![[0.5, 0.5, 0.5]; 10],
        pose_threshold_rad: 0.4,
        depth: "camera_z_mm".into(),
        columns: columns
            .iter()
            .map(|c| (c.name.clone(), c.encoding.to_string()))
            .collect(),
        extra: Default::default(),
    };
    manifest.write(dir).expect("manifest");
    for spec in plan.shards() {
        let rows: Vec<_> = spec
            .dataset_samples()
            .map(|i| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed * 1_000_003 + i as u64);
                let class = rng.random_range(0..10i64);
                let colour = [
                    (class * 25) as u8,
                    (255 - class * 20) as u8,
                    ((class * 97) % 256) as u8,
                ];
                let mut image: Vec<u8> = (0..n * 3).map(|_| rng.random_range(0..60)).collect();
                let mut segmentation = vec![0u8; n];
                let mut depth = vec![3000u16; n];
                for y in 4..12 {
                    for x in 4..12 {
                        let p = (y * RES + x) as usize;
                        image[3 * p..3 * p + 3].copy_from_slice(&colour);
                        segmentation[p] = class as u8 + 1;
                        depth[p] = 1000 + 100 * class as u16;
                    }
                }
                Sample {
                    height: RES,
                    width: RES,
                    image,
                    class,
                    pose: rng.random_range(0..5),
                    segmentation,
                    instance: vec![0; n],
                    depth,
                    meta: serde_json::json!({}),
                }
                .to_row()
            })
            .collect();
        plan.write_shard(dir, &spec, &columns, &rows)
            .expect("write shard");
    }
    plan.merge(dir).expect("merge");
}

fn finetune_opts(data: &Path, out: &Path, task: Task) -> RunOptions {
    let mut o = RunOptions::new(data.to_path_buf(), out.to_path_buf(), task);
    o.width = 0.125;
    o.batch_size = Some(16);
    o.steps = Some(4);
    o.eval_limit = 32;
    o.progress = false;
    o
}

fn pretrain_opts(data: &Path, method: MethodKind) -> PretrainOptions {
    let mut p = PretrainOptions::new(data.to_path_buf(), PathBuf::new(), method);
    p.width = 0.125;
    p.dense = Some(false);
    p.batch_size = Some(16);
    p.steps = Some(3);
    p.eval_every = Some(3);
    p.eval_limit = 32;
    p.progress = false;
    p
}

fn read_metrics(dir: &Path) -> serde_json::Value {
    let bytes = std::fs::read(dir.join("metrics.json")).expect("metrics.json");
    serde_json::from_slice(&bytes).expect("json")
}

fn mtime(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime")
}

#[test]
fn chained_pretraining_is_cached_reused_and_recorded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let other = tmp.path().join("other");
    toy_dataset(&data, 200, 1);
    toy_dataset(&other, 200, 2);
    let cache = tmp.path().join("cache");

    let chain = |out: &str, pre: PretrainOptions| -> RunMetrics {
        let opts = ChainOptions {
            finetune: finetune_opts(&data, &tmp.path().join(out), Task::Classification),
            pretrain: pre,
            cache: cache.clone(),
            eval: EvalMode::Finetune,
        };
        run_chain(&opts).unwrap_or_else(|e| panic!("{out}: {e}"))
    };

    // First run pretrains into the cache, then finetunes from it.
    let first = chain("ft1", pretrain_opts(&data, MethodKind::Rotation));
    assert_eq!(first.method, "rotation");
    let pre = first.pretrain.clone().expect("pretrain field");
    assert_eq!(pre.reused, Some(false));
    let entry = PathBuf::from(&pre.dir);
    assert!(entry.starts_with(&cache), "{}", entry.display());
    let key = pre.key.clone().expect("key");
    assert!(entry.ends_with(&key));
    for f in [
        "metrics.json",
        "backbone.bpk",
        SAFETENSORS_FILE,
        "cache-key.json",
    ] {
        assert!(entry.join(f).exists(), "cache entry lacks {f}");
    }
    let stamp = mtime(&entry.join("metrics.json"));
    let on_disk = read_metrics(&tmp.path().join("ft1"));
    assert_eq!(on_disk["method"], "rotation");
    assert_eq!(on_disk["pretrain"]["key"], key.as_str());
    assert_eq!(on_disk["eval"], "finetune");
    // Finetuning gets the steps of a from-scratch run (here --steps 4).
    assert_eq!(first.steps, 4);

    // Same settings, another run directory and finetuning seed: reused, not pretrained again.
    let mut pre2 = pretrain_opts(&data, MethodKind::Rotation);
    pre2.workers = 1; // does not change the weights, so not part of the key
    let second = chain("ft2", pre2);
    let p2 = second.pretrain.expect("pretrain");
    assert_eq!(p2.key.as_deref(), Some(key.as_str()));
    assert_eq!(p2.reused, Some(true));
    assert_eq!(
        mtime(&entry.join("metrics.json")),
        stamp,
        "the cached pretraining ran again"
    );

    // Other settings or another dataset: another entry.
    let mut longer = pretrain_opts(&data, MethodKind::Rotation);
    longer.steps = Some(4);
    let k_steps = cache_key(&longer).expect("key").0;
    let k_other = cache_key(&pretrain_opts(&other, MethodKind::Rotation))
        .expect("key")
        .0;
    let k_method = cache_key(&pretrain_opts(&data, MethodKind::Simclr))
        .expect("key")
        .0;
    let mut hue = pretrain_opts(&data, MethodKind::Rotation);
    hue.jitter_hue = Some(0.5);
    let (k_hue, hue_canonical) = cache_key(&hue).expect("key");
    let keys = [key.clone(), k_steps, k_other.clone(), k_method, k_hue];
    for i in 0..keys.len() {
        for j in i + 1..keys.len() {
            assert_ne!(keys[i], keys[j]);
        }
    }
    // The method's augmentation policy is part of the key (a change of a method's views is a
    // new pretraining): CMC's views have neither colour jitter nor grayscale.
    let (_, canonical) = cache_key(&pretrain_opts(&data, MethodKind::Cmc)).expect("key");
    let value: serde_json::Value = serde_json::from_str(&canonical).expect("canonical JSON");
    assert_eq!(value["augmentation"]["grayscale"], 0.0, "{canonical}");
    assert_eq!(value["augmentation"]["jitter"], 0.0, "{canonical}");
    assert_eq!(value["augmentation"]["flip"], true, "{canonical}");
    let value: serde_json::Value = serde_json::from_str(&hue_canonical).expect("canonical JSON");
    assert_eq!(value["augmentation"]["hue"], 0.5, "{hue_canonical}");
    // --pretrain-dataset: pretrain on `other`, finetune on `data`.
    let third = chain("ft3", pretrain_opts(&other, MethodKind::Rotation));
    let p3 = third.pretrain.expect("pretrain");
    assert_eq!(p3.key.as_deref(), Some(k_other.as_str()));
    assert_eq!(p3.reused, Some(false));
    assert!(p3.dataset.as_deref().unwrap_or("").ends_with("other"));
}

#[test]
fn scratch_runs_say_supervised_and_write_safetensors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    toy_dataset(&data, 120, 3);
    let out = tmp.path().join("scratch");
    let m = run(&finetune_opts(&data, &out, Task::Segmentation)).expect("run");
    assert_eq!(m.method, "supervised");
    assert!(m.pretrain.is_none());
    let (names, meta) = describe_safetensors(&out.join(SAFETENSORS_FILE)).expect("safetensors");
    assert_eq!(meta["backbone"], "resnet9");
    assert_eq!(meta["dense"], "true");
    let names: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "trunk.stem.conv.weight",
        "trunk.stem.bn.weight",
        "trunk.stem.bn.bias",
        "trunk.stem.bn.running_mean",
        "trunk.stem.bn.running_var",
        "trunk.stem.bn.num_batches_tracked",
        "trunk.block1.residual.conv2.weight",
        "projection.conv.weight",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    // A finetune from that backbone names the run it came from.
    let mut ft = finetune_opts(&data, &tmp.path().join("ft"), Task::Segmentation);
    ft.init = Some(out.join("backbone.bpk"));
    let m = run(&ft).expect("finetune");
    assert_eq!(m.method, "supervised");
    let pre = m.pretrain.expect("pretrain of an --init run");
    assert_eq!(PathBuf::from(pre.dir), out);
}

#[test]
fn linear_evaluation_beats_chance_for_every_task() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    toy_dataset(&data, 300, 4);
    // A random backbone: colour gives the class away, so its features suffice.
    for task in [Task::Classification, Task::Segmentation, Task::Depth] {
        let cfg = BackboneConfig::new(BackboneKind::Resnet9)
            .with_width(0.125)
            .with_dense(task.is_dense());
        let backbone = init_weights(cfg.init(&flex()), 5);
        let init = tmp.path().join(format!("{task}.bpk"));
        backbone.save(&init).expect("save");
        let out = tmp.path().join(format!("linear-{task}"));
        let mut opts = LinearEvalOptions::new(data.clone(), out.clone(), task, init);
        opts.width = 0.125;
        opts.max_pixels = 4000;
        let m = run_linear_eval(&opts).unwrap_or_else(|e| panic!("{task}: {e}"));
        eprintln!("{task}: {:?} {:?}", m.test, m.linear);
        assert_eq!(m.eval, "linear");
        let lin = m.linear.clone().expect("linear report");
        assert!(lin.iterations > 0);
        match task {
            Task::Classification => {
                assert_eq!(lin.train_rows, m.labelled_samples);
                assert!(m.test["accuracy"] > 0.5, "{:?}", m.test);
            }
            Task::Segmentation => {
                // At 16 px the feature map is 2x2 (stride 8), bilinearly resized to 16x16: far
                // too coarse to place the 8x8 square, so only well above uniform (1/11).
                assert!(m.test["pixel_accuracy"] > 0.5, "{:?}", m.test);
                assert!(lin.train_rows <= 4000);
            }
            _ => assert!(m.test["delta_1_25"] > 0.5, "{:?}", m.test),
        }
        let on_disk = read_metrics(&out);
        assert_eq!(on_disk["eval"], "linear");
        assert_eq!(on_disk["method"], "init");
    }
}

fn python_with_torch() -> Option<String> {
    let mut candidates = Vec::new();
    if let Ok(p) = std::env::var("TORCH_PYTHON") {
        candidates.push(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    candidates.push(root.join(".venv/bin/python").display().to_string());
    candidates.push("python3".into());
    candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import torch"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

#[test]
fn torch_mirror_gives_the_same_features() {
    let Some(python) = python_with_torch() else {
        println!(
            "SKIPPED torch_mirror_gives_the_same_features: no Python with torch \
             (set TORCH_PYTHON, or install torch into .venv)"
        );
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/python/torch_backbones.py");
    let tmp = tempfile::tempdir().expect("tempdir");
    let device = flex();
    for (kind, width, dense, split, res) in [
        (BackboneKind::Resnet9, 0.125, false, false, 32),
        (BackboneKind::Resnet9, 0.125, true, false, 32),
        (BackboneKind::Resnet9, 0.25, false, true, 32),
        (BackboneKind::Resnet50, 1.0 / 16.0, false, false, 32),
        (BackboneKind::Resnet50, 1.0 / 16.0, true, false, 32),
        (BackboneKind::Resnet50, 1.0 / 8.0, true, true, 32),
    ] {
        let cfg = BackboneConfig::new(kind)
            .with_width(width)
            .with_dense(dense)
            .with_split(split);
        let name = format!("{kind}-dense{dense}-split{split}");
        // Weights from a seed, BN statistics from a few training-mode passes.
        let ad = autodiff(&device);
        let backbone = init_weights(cfg.init(&ad), 7);
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        for _ in 0..3 {
            let x: Vec<f32> = (0..4 * 3 * res * res)
                .map(|_| rng.random_range(-2.0..2.0))
                .collect();
            let _ = backbone.forward(Tensor::from_data(TensorData::new(x, [4, 3, res, res]), &ad));
        }
        let weights = tmp.path().join(format!("{name}.safetensors"));
        save_safetensors(&backbone, &cfg, &weights).expect("export");
        let frozen = inference(&backbone);
        let x: Vec<f32> = (0..2 * 3 * res * res)
            .map(|_| rng.random_range(-2.0..2.0))
            .collect();
        let f = frozen.forward(Tensor::from_data(
            TensorData::new(x.clone(), [2, 3, res, res]),
            &device,
        ));
        let shape = f.dims().to_vec();
        let features = to_host_f32(f).expect("features");
        let batch = tmp.path().join(format!("{name}-batch.safetensors"));
        save_f32_tensors(
            &batch,
            &[
                ("input", vec![2, 3, res, res], &x),
                ("features", shape, &features),
            ],
        )
        .expect("batch");
        let out = Command::new(&python)
            .arg(&script)
            .arg(&weights)
            .arg("--check")
            .arg(&batch)
            .args(["--tol", "1e-4"])
            .output()
            .expect("run python");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{name}: {text}");
        assert!(out.status.success(), "{name}: {text}");
        assert!(text.contains("max_abs_diff"), "{text}");
    }
}

fn train_cli(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_train"))
        .args(args)
        .output()
        .expect("run the train binary");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_combinations_explain_themselves() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("run");
    let out = out.to_str().expect("utf-8");
    let base = ["--task", "classification", "--dataset", "x", "--out", out];

    let (code, err) = train_cli(&[&base[..], &["--eval", "linear"]].concat());
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--eval linear") && err.contains("--init"),
        "{err}"
    );
    assert!(err.contains("--method"), "{err}");

    let (code, err) = train_cli(&[&base[..], &["--method", "moco"]].concat());
    assert_eq!(code, Some(2), "{err}");
    for m in [
        "supervised",
        "vae",
        "rotation",
        "cmc",
        "amdim",
        "simclr",
        "byol",
    ] {
        assert!(err.contains(m), "{m} missing: {err}");
    }

    let (code, err) = train_cli(&[&base[..], &["--method", "amdim", "--init", "b.bpk"]].concat());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--init"), "{err}");

    let (code, err) = train_cli(&[&base[..], &["--pretrain-steps", "5"]].concat());
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--pretrain-steps") && err.contains("--method"),
        "{err}"
    );
    assert!(
        !Path::new(out).exists(),
        "nothing is created on a bad command line"
    );
}

/// `train` writing its log into a pipe (a file, CI's log) has no ANSI colour escapes, also when
/// the user's environment does not set NO_COLOR.
#[test]
fn piped_train_logs_carry_no_colour_escapes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    toy_dataset(&data, 120, 5);
    let out = Command::new(env!("CARGO_BIN_EXE_train"))
        .args([
            "--task",
            "classification",
            "--dataset",
            data.to_str().expect("utf-8 path"),
            "--out",
            tmp.path().join("run").to_str().expect("utf-8 path"),
            "--width",
            "0.125",
            "--batch-size",
            "16",
            "--steps",
            "4",
            "--eval-every",
            "2",
            "--eval-limit",
            "32",
            "--quiet",
        ])
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .output()
        .expect("run the train binary");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("validation"),
        "expected tracing lines on stderr: {err}"
    );
    assert!(
        !out.stderr.contains(&0x1b),
        "ANSI escape in piped stderr: {err}"
    );
}
