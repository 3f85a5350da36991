//! End-to-end tests of the render pipeline on the embedded procedural assets, at 32x32 pixels.
//! They need a wgpu adapter (lavapipe in CI) and fail, not skip, without one.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use datasets::generate::{self, RenderJob, RenderSummary};
use datasets::{Dataset, SceneKind, Split, Variant};
use dtd_textures::ProceduralTextures;
use shapenet_loader::{Class, ModelKey, ProceduralModels};

fn assets() -> (ProceduralModels, ProceduralTextures) {
    (ProceduralModels::new(24), ProceduralTextures::new(40))
}

fn job(variant: &str, scene: SceneKind, count: usize) -> RenderJob {
    let mut job = RenderJob::new(variant.parse().unwrap(), scene, count);
    job.seed = 7;
    job.resolution = Some(32);
    job.shard_size = 16;
    job.models_per_class = 2;
    job.textures = 4;
    job.texture_size = 32;
    job.batch = Some(32);
    job
}

fn render(job: &RenderJob, out: &Path) -> RenderSummary {
    let (models, textures) = assets();
    generate::render_dataset(job, &models, &textures, out, &|_| {}).unwrap()
}

/// Every file under `dir` (relative path -> bytes).
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn all_samples(dir: &Path, split: Split) -> Vec<datasets::Sample> {
    let ds = Dataset::open(dir).unwrap();
    let r = ds.split(split).unwrap();
    (0..r.num_shards())
        .flat_map(|k| r.read_shard(k).unwrap())
        .collect()
}

#[test]
fn all_sixteen_variants_render_single_and_multi() {
    let tmp = tempfile::tempdir().unwrap();
    for variant in Variant::all() {
        for scene in [SceneKind::Single, SceneKind::Multi] {
            let out = tmp.path().join(format!("{}_{scene}", variant.slug()));
            let j = job(&variant.to_string(), scene, 14);
            let s = render(&j, &out);
            assert!(s.merged);
            assert_eq!(s.total_rendered(), 14);
            let ds = Dataset::open(&out).unwrap();
            assert_eq!(ds.manifest().variant, variant.to_string());
            for split in Split::ALL {
                for sample in all_samples(&out, split) {
                    assert_eq!((sample.width, sample.height), (32, 32));
                    let meta = &sample.meta;
                    let objects = meta["objects"].as_array().unwrap();
                    assert_eq!(objects.len(), j.objects_per_image());
                    assert_eq!(meta["variant"], variant.to_string());
                    assert_eq!(objects[0]["class"].as_i64().unwrap(), sample.class);
                    assert_eq!(objects[0]["pose"].as_i64().unwrap(), sample.pose);
                    if !variant.viewpoint {
                        assert_eq!(sample.pose, 0);
                    }
                    assert_eq!(objects[0]["texture"].is_string(), variant.texture);
                    assert_eq!(meta["background"]["texture"].is_string(), variant.texture);
                    // the object is visible and labelled consistently
                    let fg = sample.segmentation.iter().filter(|&&v| v != 0).count();
                    assert!(fg > 0, "{variant} {scene}: empty segmentation");
                    for (&seg, &inst) in sample.segmentation.iter().zip(&sample.instance) {
                        assert_eq!(seg == 0, inst == 0);
                        assert!(inst as usize <= objects.len());
                        if inst != 0 {
                            let o = &objects[inst as usize - 1];
                            assert_eq!(seg as i64, o["class"].as_i64().unwrap() + 1);
                        }
                    }
                    assert!(
                        sample.depth.iter().all(|&d| d > 0),
                        "background plane everywhere"
                    );
                }
            }
        }
    }
}

#[test]
fn workers_give_identical_bytes_and_resume_after_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("one");
    let three = tmp.path().join("three");
    let base = job("TCVL", SceneKind::Single, 100);
    let s = render(&base, &one);
    assert!(s.merged);
    assert_eq!(s.shards_written, 8); // train 86 -> 6 shards, val 7, test 7

    for k in 0..3 {
        let mut j = base.clone();
        j.workers = 3;
        j.worker = k;
        let s = render(&j, &three);
        // only the last worker sees every shard and merges
        assert_eq!(s.merged, k == 2, "worker {k}: {:?}", s.merge_note);
    }
    assert_eq!(files(&one), files(&three), "1 worker vs 3 workers + merge");

    // Damage: delete one shard, truncate another (a crash mid-copy), leave the rest.
    let deleted = one.join("train/shard.00001.mds.zstd");
    let truncated = one.join("val/shard.00000.mds.zstd");
    fs::remove_file(&deleted).unwrap();
    let bytes = fs::read(&truncated).unwrap();
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    // the reader reports the damaged shard by name instead of returning data
    let ds = Dataset::open(&one).unwrap();
    let err = ds
        .split(Split::Val)
        .unwrap()
        .read_shard(0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("shard.00000.mds.zstd"), "{err}");

    // Until the rerun's merge, no index claims the dataset is complete.
    let mut j = base.clone();
    j.workers = 2;
    j.worker = 1; // global shards 1, 3, 5, 7: includes the deleted train shard 1
    let s = render(&j, &one);
    assert!(!s.merged);
    assert!(!one.join("train/index.json").exists());
    assert!(Dataset::open(&one).unwrap().split(Split::Train).is_err());

    let untouched = one.join("train/shard.00000.mds.zstd");
    let mtime = |p: &Path| fs::metadata(p).unwrap().modified().unwrap();
    let before: SystemTime = mtime(&untouched);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let s = render(&base, &one);
    assert_eq!(s.shards_written, 1); // the val shard; worker 1 of 2 redid train shard 1
    assert_eq!(s.shards_already_complete, 7);
    assert_eq!(s.total_rendered(), 7);
    assert!(s.merged);
    assert_eq!(
        mtime(&untouched),
        before,
        "complete shards are not rewritten"
    );
    assert_eq!(files(&one), files(&three), "resumed run is byte-identical");

    // A rerun of a finished dataset renders nothing (and needs no GPU work).
    let s = render(&base, &one);
    assert_eq!((s.shards_written, s.shards_already_complete), (0, 8));

    // Another job into the same directory is refused, naming what differs.
    let (models, textures) = assets();
    let mut other = base.clone();
    other.seed = 8;
    let err = generate::render_dataset(&other, &models, &textures, &one, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("seed"), "{err}");
}

#[test]
fn multi_object_worker_split_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let mut base = job("TCVL", SceneKind::Multi, 40);
    base.shard_size = 8;
    base.objects = 3;
    render(&base, &tmp.path().join("one"));
    for k in 0..2 {
        let mut j = base.clone();
        j.workers = 2;
        j.worker = k;
        render(&j, &tmp.path().join("two"));
    }
    assert_eq!(
        files(&tmp.path().join("one")),
        files(&tmp.path().join("two"))
    );
}

#[test]
fn renderer_lanes_give_identical_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut base = job("TCVL", SceneKind::Single, 60);
    // 8-image batches: each 16-sample shard is two batches, so both lanes draw every shard's
    // images; the partial last shard of a split shares a batch with the next shard.
    base.batch = Some(8);
    let mut one = base.clone();
    one.lanes = 1;
    let s = render(&one, &tmp.path().join("one"));
    assert_eq!((s.lanes, s.total_rendered()), (1, 60));
    let mut two = base.clone();
    two.lanes = 2;
    let s = render(&two, &tmp.path().join("two"));
    assert_eq!((s.lanes, s.total_rendered()), (2, 60));
    let a = files(&tmp.path().join("one"));
    assert!(
        a.keys()
            .filter(|p| p.to_string_lossy().contains(".mds"))
            .count()
            >= 5
    );
    assert_eq!(a, files(&tmp.path().join("two")), "lanes 1 vs lanes 2");
    // Another batch size (batches of 4 on 2 lanes) gives the same bytes too.
    let mut small = two.clone();
    small.batch = Some(4);
    render(&small, &tmp.path().join("small"));
    assert_eq!(a, files(&tmp.path().join("small")), "batch 8 vs batch 4");

    let (models, textures) = assets();
    let mut bad = base.clone();
    bad.lanes = 17;
    let err = generate::render_dataset(&bad, &models, &textures, &tmp.path().join("x"), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("--lanes 17"), "{err}");
}

#[test]
fn splits_use_disjoint_models_and_balanced_classes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("d");
    let mut j = job("--V-", SceneKind::Single, 300);
    j.models_per_class = 3;
    render(&j, &out);
    let mut ids: BTreeMap<Split, BTreeSet<String>> = BTreeMap::new();
    let mut classes = [0usize; 10];
    for split in Split::ALL {
        for s in all_samples(&out, split) {
            let o = &s.meta["objects"][0];
            let class = Class::from_index(o["class"].as_u64().unwrap() as usize).unwrap();
            let key = ModelKey::new(class, o["model_id"].as_str().unwrap());
            let want = if split == Split::Train {
                shapenet_loader::Split::Train
            } else {
                shapenet_loader::Split::Held
            };
            assert_eq!(key.split(), want, "{split}: {}", key.path_id());
            ids.entry(split).or_default().insert(key.path_id());
            if split == Split::Train {
                classes[s.class as usize] += 1;
            }
        }
    }
    let train = &ids[&Split::Train];
    for held in [Split::Val, Split::Test] {
        assert!(
            ids[&held].is_disjoint(train),
            "{held} shares models with train"
        );
    }
    // 256 train samples: blocks of ten hold each class once, so counts differ by at most 1
    let (lo, hi) = (classes.iter().min().unwrap(), classes.iter().max().unwrap());
    assert!(hi - lo <= 2, "{classes:?}");
}

#[test]
fn every_column_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("d");
    let j = job("T-VL", SceneKind::Multi, 40);
    render(&j, &out);
    let (models, textures) = assets();
    for split in Split::ALL {
        let stored = all_samples(&out, split);
        let n = stored.len();
        let direct = generate::render_samples(&j, &models, &textures, split, 0..n).unwrap();
        assert_eq!(stored.len(), direct.len());
        for (k, (a, b)) in stored.iter().zip(&direct).enumerate() {
            let differ = |x: &[u8], y: &[u8]| x.iter().zip(y).filter(|(p, q)| p != q).count();
            assert!(
                a == b,
                "{split} sample {k}: stored differs from a direct render: image {} px, \
                 segmentation {}, instance {}, depth {}, class {} vs {}, pose {} vs {}, meta equal {}",
                differ(&a.image, &b.image),
                differ(&a.segmentation, &b.segmentation),
                differ(&a.instance, &b.instance),
                a.depth.iter().zip(&b.depth).filter(|(p, q)| p != q).count(),
                a.class,
                b.class,
                a.pose,
                b.pose,
                a.meta == b.meta
            );
        }
        let ds = Dataset::open(&out).unwrap();
        let r = ds.split(split).unwrap();
        assert_eq!(r.get(n - 1).unwrap(), direct[n - 1]);
    }
    let m = Dataset::open(&out).unwrap().manifest().clone();
    assert_eq!(m.class_colors.len(), 10);
    assert_eq!(m.objects_per_image, 4);
    assert!(m.pose_threshold_rad > 0.2 && m.pose_threshold_rad < 0.5);
    assert_eq!(m.depth, "camera_z_mm");
}

#[test]
fn cli_renders_inspects_and_rejects_bad_flags() {
    let bin = env!("CARGO_BIN_EXE_render");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cli");
    let run = |args: &[&str]| std::process::Command::new(bin).args(args).output().unwrap();

    let bad = run(&[
        "--variant",
        "TCXL",
        "--count",
        "10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(
        msg.contains("--variant") && msg.contains("T/-, C/-, V/-, L/-"),
        "{msg}"
    );

    // `----` is a value, not a flag; --count 0 is refused naming the flag (exit 1)
    let bad = run(&[
        "--variant",
        "----",
        "--count",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(msg.contains("--count 0: expected at least 1"), "{msg}");

    let bad = run(&[
        "--count",
        "10",
        "--out",
        out.to_str().unwrap(),
        "--compression",
        "gzip",
    ]);
    assert_eq!(bad.status.code(), Some(2));

    let ok = run(&[
        "--variant",
        "TC--",
        "--count",
        "20",
        "--out",
        out.to_str().unwrap(),
        "--resolution",
        "32",
        "--shard-size",
        "8",
        "--models-per-class",
        "2",
        "--textures",
        "4",
        "--texture-size",
        "32",
        "--procedural-models",
        "24",
        "--procedural-textures",
        "40",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("train 18, val 1, test 1"), "{text}");
    assert!(text.contains("images/s"), "{text}");

    let sheet = tmp.path().join("sheet.png");
    let ok = run(&[
        "inspect",
        out.to_str().unwrap(),
        "--sheet",
        sheet.to_str().unwrap(),
        "--n",
        "4",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("train: 18 samples"), "{text}");
    assert!(text.contains("depth:"), "{text}");
    let img = image::open(&sheet).unwrap();
    // 4 samples per row, 3 tiles each, 32 px enlarged 4x, 2 px gutters
    assert_eq!((img.width(), img.height()), (4 * (3 * 128 + 2) - 2, 128));

    let merged = run(&["merge", out.to_str().unwrap()]);
    assert!(merged.status.success());
    let missing = run(&["merge", tmp.path().join("nope").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("manifest.json"));
}
