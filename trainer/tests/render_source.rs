//! Training on scenes rendered while training (`--dataset render:...`): the stream holds exactly
//! the samples `render` writes for the same spec, in order; a capped stream gives the batches of
//! the rendered dataset; a resumed stream continues where it stopped; `train` and
//! `train pretrain` run on a spec; bad specs and a missing Vulkan adapter are explained.
//! Tiny sizes (16 px, a few hundred samples); lavapipe in CI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use datasets::generate::render_dataset;
use datasets::live::RenderSpec;
use trainer::data::render::{RenderSource, with_unique_images};
use trainer::data::{
    HostBatch, LabelBudget, Loader, LoaderConfig, OwnedSample, ShardSource, SplitSource,
};
use trainer::methods::MethodKind;
use trainer::pretrain::{PretrainOptions, run_pretrain};
use trainer::run::{RunOptions, run};
use trainer::tasks::Task;

/// 200 samples: train 170 (shards of 20), val 15, test 15.
const SPEC: &str = "render:--V-,res=16,count=200,shard=20,val=15,test=15,textures=4,\
                    texture-size=16,procedural-models=12,procedural-textures=20,models-per-class=3";

/// Render the dataset a spec describes (with another count when given) into `dir`.
fn render_spec(spec: &RenderSpec, count: Option<usize>, dir: &Path) -> datasets::Dataset {
    let mut job = spec.job.clone();
    if let Some(c) = count {
        job.count = c;
    }
    let (models, textures) = spec.open_assets().expect("assets");
    render_dataset(&job, models.as_ref(), textures.as_ref(), dir, &|_| {}).expect("render");
    datasets::Dataset::open(dir).expect("open the rendered dataset")
}

fn split(ds: &datasets::Dataset, s: datasets::Split) -> Arc<dyn ShardSource> {
    Arc::new(SplitSource::new(ds.split(s).expect("split")))
}

fn batches(loader: &mut Loader, n: usize) -> Vec<HostBatch> {
    (0..n)
        .map(|_| loader.next().expect("a batch").expect("no error"))
        .collect()
}

/// A plain pass (no augmentation) over the stream, `batch` images per batch.
fn plain_stream(batch: usize) -> LoaderConfig {
    let mut cfg = LoaderConfig::train(Task::Classification, batch, 0);
    cfg.policy = trainer::augment::AugmentPolicy::none();
    cfg
}

#[test]
fn the_stream_holds_the_rendered_samples_in_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = RenderSpec::parse(SPEC).expect("spec");
    let ds = render_spec(&spec, None, &tmp.path().join("data"));
    let train = ds.split(datasets::Split::Train).expect("train");
    assert_eq!(train.len(), 170);

    let live = RenderSource::open(spec.clone(), None).expect("open the render source");
    assert!(live.train.endless());
    assert_eq!(live.train.len(), 170, "nominal: the spec's train split");
    assert!(!live.info.adapter.name.is_empty());
    assert_eq!(live.info.manifest["count"], 200);

    // Bytes: every train shard, validation and test equal the rendered shards.
    for k in 0..train.num_shards() {
        let want: Vec<OwnedSample> = train
            .read_shard(k)
            .expect("read")
            .into_iter()
            .map(|s| OwnedSample::try_from(s).expect("sample"))
            .collect();
        // The endless source's last nominal shard goes on past the split (20 samples).
        let got = live.train.read_shard(k).expect("render");
        assert!(got[..want.len()] == want[..], "shard {k} differs");
    }
    for (mem, s) in [
        (&live.val, datasets::Split::Val),
        (&live.test, datasets::Split::Test),
    ] {
        let reader = ds.split(s).expect("split");
        assert_eq!(mem.samples.len(), reader.len());
        for (j, got) in mem.samples.iter().enumerate() {
            let want = OwnedSample::try_from(reader.get(j).expect("get")).expect("sample");
            assert!(got == &want, "{s:?} {j} differs");
        }
    }

    // Order: the endless stream's batches are the train split in index order...
    let train_src: Arc<dyn ShardSource> = live.train.clone();
    let mut stream = Loader::start(train_src.clone(), &[], plain_stream(10)).expect("stream");
    let streamed = batches(&mut stream, 18);
    drop(stream);
    let all: Vec<usize> = (0..170).collect();
    let from_disk: Vec<HostBatch> = Loader::start(
        split(&ds, datasets::Split::Train),
        &all,
        LoaderConfig::eval(Task::Classification, 10),
    )
    .expect("loader")
    .map(|b| b.expect("batch"))
    .collect();
    assert_eq!(from_disk.len(), 17);
    assert!(
        streamed[..17] == from_disk[..],
        "the stream differs from the shards"
    );
    // ... and then go on with train samples of a larger render (dataset indices 200...: the
    // held-out indices of the spec's dataset are skipped).
    let big = render_spec(&spec, Some(400), &tmp.path().join("big"));
    let beyond: Vec<usize> = (200..210).collect();
    let want = Loader::start(
        split(&big, datasets::Split::Train),
        &beyond,
        LoaderConfig::eval(Task::Classification, 10),
    )
    .expect("loader")
    .next()
    .expect("batch")
    .expect("batch");
    assert!(
        streamed[17].images == want.images,
        "position 170 is not dataset index 200"
    );
    assert_eq!(streamed[17].targets, want.targets);

    // Resume: a stream started at position 30 continues exactly.
    let mut cfg = plain_stream(10);
    cfg.policy = trainer::augment::AugmentPolicy::for_task(Task::Classification);
    let mut whole = Loader::start(train_src.clone(), &[], cfg.clone()).expect("stream");
    let uninterrupted = batches(&mut whole, 6);
    drop(whole);
    cfg.start_position = 30;
    let mut resumed = Loader::start(train_src, &[], cfg).expect("stream");
    assert!(
        batches(&mut resumed, 3) == uninterrupted[3..],
        "the resumed stream differs"
    );
    drop(resumed);

    // Capped at the train split's 170 scenes: shuffled, augmented epochs exactly as training
    // on the rendered dataset gives them (same seed, same shards).
    let capped = RenderSource::open(spec, Some(170)).expect("capped source");
    assert!(!capped.train.endless());
    let mut cfg = LoaderConfig::train(Task::Classification, 16, 5);
    cfg.shuffle_buffer = 32;
    let mut a = Loader::start(capped.train.clone(), &all, cfg.clone()).expect("loader");
    let mut b = Loader::start(split(&ds, datasets::Split::Train), &all, cfg).expect("loader");
    // 25 batches of 16 = 2.35 epochs.
    assert!(
        batches(&mut a, 25) == batches(&mut b, 25),
        "the capped stream's batches differ from the rendered dataset's"
    );
}

fn run_options(out: &Path, dataset: &str) -> RunOptions {
    let mut opts = RunOptions::new(
        PathBuf::from(dataset),
        out.to_path_buf(),
        Task::Classification,
    );
    opts.width = 0.125;
    opts.batch_size = Some(8);
    opts.steps = Some(4);
    opts.eval_every = Some(2);
    opts.checkpoint_every = Some(2);
    opts.progress = false;
    opts
}

#[test]
fn train_and_pretrain_run_on_a_render_spec() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let m = run(&run_options(&tmp.path().join("cls"), SPEC)).expect("train on render:");
    let r = m
        .dataset
        .render
        .as_ref()
        .expect("render info in metrics.json");
    assert_eq!(m.dataset.dir, SPEC);
    assert_eq!(m.dataset.splits, [170, 15, 15]);
    assert_eq!(r.unique_images, None);
    assert!(!r.adapter.driver.is_empty() || !r.adapter.name.is_empty());
    let recorded: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join("cls/render-source.json")).expect("render-source.json"),
    )
    .expect("json");
    assert_eq!(recorded["spec"]["spec"], SPEC);
    assert!(recorded["manifest"]["assets"]["models"]["fingerprint"].is_string());
    assert!(recorded["adapter"]["name"].is_string());

    // A label budget on an endless spec takes the first N scenes (a capped source).
    let mut opts = run_options(&tmp.path().join("cls-50"), SPEC);
    opts.labels = LabelBudget::Count(50);
    let m50 = run(&opts).expect("train on 50 scenes");
    assert_eq!(m50.labelled_samples, 50);
    assert_eq!(
        m50.dataset.render.as_ref().and_then(|r| r.unique_images),
        Some(50)
    );
    assert_ne!(m50.dataset.manifest_hash, m.dataset.manifest_hash);

    // Pretraining: endless stream; CMC needs a finite set of scenes.
    let mut pre = PretrainOptions::new(
        PathBuf::from(SPEC),
        tmp.path().join("rot"),
        MethodKind::Rotation,
    );
    pre.width = 0.125;
    pre.batch_size = Some(8);
    pre.steps = Some(2);
    pre.eval_limit = 20;
    pre.progress = false;
    let pm = run_pretrain(&pre).expect("pretrain on render:");
    assert!(pm.dataset.render.is_some());
    assert!(tmp.path().join("rot/render-source.json").is_file());
    // Linear evaluation of that backbone on the first 40 scenes of the stream.
    let mut le = trainer::linear_eval::LinearEvalOptions::new(
        PathBuf::from(SPEC),
        tmp.path().join("linear"),
        Task::Classification,
        tmp.path().join("rot/backbone.bpk"),
    );
    le.width = 0.125;
    le.labels = LabelBudget::Count(40);
    le.max_iters = 20;
    let lm = trainer::linear_eval::run_linear_eval(&le).expect("linear eval on render:");
    assert_eq!(lm.labelled_samples, 40);
    assert!(lm.dataset.render.is_some());

    let mut cmc = pre.clone();
    cmc.method = MethodKind::Cmc;
    cmc.out = tmp.path().join("cmc");
    let e = run_pretrain(&cmc).unwrap_err().to_string();
    assert!(e.contains("--unique-images"), "{e}");
    cmc.dataset = with_unique_images(Path::new(SPEC), Some(40)).expect("unique");
    run_pretrain(&cmc).expect("CMC on 40 scenes");
}

#[test]
fn bad_specs_name_the_field() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (spec, field) in [
        ("render:----,res=abc", "`res`"),
        ("render:-Q--", "`variant`"),
        ("render:----,colour=red", "`colour`"),
        ("render:----,count=100,val=500", "`val`"),
    ] {
        let e = run(&run_options(&tmp.path().join("x"), spec))
            .unwrap_err()
            .to_string();
        assert!(e.contains(field), "{spec}: {e}");
        let pre = PretrainOptions::new(PathBuf::from(spec), tmp.path().join("y"), MethodKind::Vae);
        let e = run_pretrain(&pre).unwrap_err().to_string();
        assert!(e.contains(field), "{spec}: {e}");
    }
    assert!(
        !tmp.path().join("x").exists(),
        "nothing written for a bad spec"
    );
    let e = with_unique_images(Path::new("data/tcvl"), Some(10))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--unique-images") && e.contains("data/tcvl"),
        "{e}"
    );
}

#[test]
fn cli_without_a_vulkan_adapter_says_what_render_says() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_train"))
        .args([
            "--task",
            "classification",
            "--dataset",
            SPEC,
            "--out",
            tmp.path().join("run").to_str().expect("utf-8"),
            "--steps",
            "1",
            "--quiet",
        ])
        // No Vulkan driver: the loader finds no ICD.
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
        .env("RUST_LOG", "off")
        .output()
        .expect("run train");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let render_says = renderer::RenderError::NoAdapter {
        found: "none".into(),
    }
    .to_string();
    assert!(err.contains(&render_says), "{err}");

    // A bad spec on the command line: exit 1, the field named.
    let out = Command::new(env!("CARGO_BIN_EXE_train"))
        .args([
            "pretrain",
            "--method",
            "rotation",
            "--dataset",
            "render:----,res=abc",
            "--out",
            tmp.path().join("pre").to_str().expect("utf-8"),
        ])
        .output()
        .expect("run train");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("field `res`"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_train"))
        .args([
            "--task",
            "classification",
            "--dataset",
            tmp.path().to_str().expect("utf-8"),
            "--unique-images",
            "10",
            "--out",
            tmp.path().join("u").to_str().expect("utf-8"),
        ])
        .output()
        .expect("run train");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--unique-images 10"), "{err}");
}
