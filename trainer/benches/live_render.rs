//! Training images/s on scenes rendered while training (`--dataset render:...`) against the same
//! scenes read from zstd shards on disk: same model, batch, loader settings and steps; the two
//! sources alternate, each run a fresh model from the same seed.
//!
//! `cargo bench -p trainer --bench live_render [-- STEPS [WIDTH [RES]]]`
//! Defaults: 10 timed steps after 2 warm-up steps, ResNet9 width 0.25, 64x64, batch 64,
//! classification, flex (CPU), 2 rounds (shards then live, then live then shards, ...). Environment (optional): `LIVE_BENCH_BATCH`,
//! `LIVE_BENCH_ROUNDS`, `LIVE_BENCH_WARMUP`, `LIVE_BENCH_LANES` (renderer devices of the live
//! source, default 1), `LIVE_BENCH_VARIANT` (default `----`), `LIVE_BENCH_SHARD` (samples per
//! shard of both sources, default the batch: the loader keeps 4 shards in flight, so small shards
//! keep a short run from rendering far ahead of what it trains on).
//!
//! Prints each run (images/s, s/step, CPU seconds of the whole process per step), the median
//! images/s of both sources, their ratio, and the renderer's own rate (images/s rendering
//! alone, no training).

use std::sync::Arc;
use std::time::Instant;

use datasets::generate::render_dataset;
use datasets::live::RenderSpec;
use trainer::backend::BackendKind;
use trainer::data::render::RenderSource;
use trainer::data::{LabelBudget, Loader, LoaderConfig, ShardSource, SplitSource};
use trainer::model::{BackboneConfig, BackboneKind};
use trainer::tasks::Task;
use trainer::training::{Quiet, TrainConfig, TrainState, fit};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Err(_) => default,
        Ok(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("live_render: {name}={v:?} does not parse");
            std::process::exit(2)
        }),
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str, default: T) -> T {
    match args.get(i) {
        None => default,
        Some(s) => s.parse().unwrap_or_else(|_| {
            eprintln!("live_render: {what} {s:?} does not parse (usage: -- STEPS [WIDTH [RES]])");
            std::process::exit(2)
        }),
    }
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("live_render: {what}: {e}");
    std::process::exit(1)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // SAFETY: the first statement of `main`: no other thread exists yet.
    #[allow(unsafe_code)]
    unsafe {
        trainer::cli::quiet_window_system_probe()
    };
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let steps: u64 = arg(&args, 0, "STEPS", 10);
    let width: f64 = arg(&args, 1, "WIDTH", 0.25);
    let res: usize = arg(&args, 2, "RES", 64);
    let batch: usize = env("LIVE_BENCH_BATCH", 64);
    let rounds: usize = env("LIVE_BENCH_ROUNDS", 2);
    let warmup: u64 = env("LIVE_BENCH_WARMUP", 2);
    let lanes: usize = env("LIVE_BENCH_LANES", 1);
    let shard: usize = env("LIVE_BENCH_SHARD", batch);
    let variant: String = env("LIVE_BENCH_VARIANT", "----".to_string());
    if steps == 0 || batch == 0 || rounds == 0 || shard == 0 {
        fail(
            "settings",
            "STEPS, batch, rounds and shard must be positive",
        );
    }

    // One pass over the train split per run: no epoch repeats, no in-memory cache.
    let needed = (warmup + steps) as usize * batch;
    let count = (needed * 100).div_ceil(85) + 40;
    let text = format!(
        "render:{variant},res={res},count={count},shard={shard},val=1,test=1,lanes={lanes}"
    );
    let spec = RenderSpec::parse(&text).unwrap_or_else(|e| fail("spec", e));
    let tmp = tempfile::tempdir().unwrap_or_else(|e| fail("tempdir", e));
    let (models, textures) = spec.open_assets().unwrap_or_else(|e| fail("assets", e));
    let mut job = spec.job.clone();
    job.lanes = 0; // the dataset on disk is rendered as fast as `render` does
    let t = Instant::now();
    render_dataset(
        &job,
        models.as_ref(),
        textures.as_ref(),
        tmp.path(),
        &|_| {},
    )
    .unwrap_or_else(|e| fail("render the shard dataset", e));
    println!(
        "dataset: {count} x {res}x{res} {variant} rendered to shards in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let ds = datasets::Dataset::open(tmp.path()).unwrap_or_else(|e| fail("open", e));
    let shards: Arc<dyn ShardSource> = Arc::new(SplitSource::new(
        ds.split(datasets::Split::Train)
            .unwrap_or_else(|e| fail("train split", e)),
    ));
    let t = Instant::now();
    let live = RenderSource::open(spec, None).unwrap_or_else(|e| fail("open the live source", e));
    println!(
        "live source: {} ({} lane(s)), set up in {:.1} s",
        live.info.adapter,
        live.info.lanes,
        t.elapsed().as_secs_f64()
    );
    let live: Arc<dyn ShardSource> = live.train;

    // The renderer alone: a few shards far from the ones the runs use.
    let t = Instant::now();
    let mut rendered = 0;
    for k in 1000..1004 {
        rendered += live
            .read_shard(k)
            .unwrap_or_else(|e| fail("render", e))
            .len();
    }
    let render_rate = rendered as f64 / t.elapsed().as_secs_f64();
    println!("renderer alone: {render_rate:.0} images/s ({rendered} images)");

    let device = BackendKind::Flex
        .device()
        .unwrap_or_else(|e| fail("flex device", e));
    let all: Vec<usize> = (0..shards.len()).collect();
    let cfg = TrainConfig::new(
        Task::Classification,
        BackboneConfig::new(BackboneKind::Resnet9).with_width(width),
        LabelBudget::All,
        batch,
        warmup + steps,
    );
    let what = format!("ResNet9 width {width} {res}x{res} batch {batch}, flex");
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        // ABBA: the order flips every round, so a load that drifts during the run (other jobs
        // on the machine) does not favour one source.
        let mut order = [(0, "shards", &shards), (1, "live", &live)];
        if round % 2 == 1 {
            order.reverse();
        }
        for (m, name, source) in order {
            let mut state = TrainState::new(&cfg, &device).unwrap_or_else(|e| fail("model", e));
            let loader_cfg = LoaderConfig::train(Task::Classification, batch, 0);
            let mut loader = Loader::start(source.clone(), &all, loader_cfg)
                .unwrap_or_else(|e| fail("loader", e));
            fit(&cfg, &mut state, warmup, &mut loader, None, &mut Quiet)
                .unwrap_or_else(|e| fail("warm-up", e));
            let cpu0 = renderer::process_cpu_seconds();
            let stats = fit(
                &cfg,
                &mut state,
                warmup + steps,
                &mut loader,
                None,
                &mut Quiet,
            )
            .unwrap_or_else(|e| fail("training", e));
            let cpu = cpu0
                .zip(renderer::process_cpu_seconds())
                .map_or(f64::NAN, |(a, b)| b - a);
            drop(loader);
            let rate = stats.images_per_s();
            println!(
                "round {round} {name:>6}: {rate:.1} images/s ({steps} steps, {:.2} s/step, \
                 process CPU {:.2} s/step)",
                stats.seconds / steps as f64,
                cpu / steps as f64
            );
            rates[m].push(rate);
        }
    }
    let disk = median(&mut rates[0]);
    let live_rate = median(&mut rates[1]);
    println!(
        "{what}: shards {disk:.1} images/s, live {live_rate:.1} images/s (medians of {rounds}); \
         live / shards = {:.3} ({:+.1}%)",
        live_rate / disk,
        100.0 * (live_rate / disk - 1.0)
    );
}
