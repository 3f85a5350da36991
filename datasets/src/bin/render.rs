//! `render`: render a synthetic T/C/V/L dataset to MosaicML MDS shards.
//!
//! Input: flags (variant, count, output directory, ...) and optionally ShapeNetCore / DTD
//! directories; without them the embedded procedural meshes and textures are used. Output: a
//! dataset directory (`manifest.json`, `train/`, `val/`, `test/`), a progress bar on terminals
//! and a summary. `render merge DIR` writes the index of a dataset rendered by several workers;
//! `render inspect DIR` prints statistics and writes a contact sheet. See `docs/cli-render.md`.
//!
//! Exit codes: 0 success, 1 error, 2 bad command line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use datasets::generate::{self, RenderJob, RenderProgress, RenderSummary, SkippedAsset};
use datasets::inspect;
use datasets::layout::Split;
use datasets::mds::Compression;
use datasets::scene_sampler::MultiLayout;
use datasets::slurm;
use datasets::{SceneKind, Variant};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Parser)]
#[command(
    name = "render",
    version,
    about = "Render a synthetic T/C/V/L dataset (images, class/pose labels, segmentation, depth) to MDS shards",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    render: RenderArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write Slurm scripts (a job array whose task K renders worker K of --workers, then a
    /// dependent `render merge`) into OUT/slurm/; --submit submits them. See docs/cluster.md.
    Slurm(Box<SlurmArgs>),
    /// Write the splits' index.json once every worker's shards are present.
    Merge {
        /// Dataset directory.
        dir: PathBuf,
    },
    /// Print counts, class/pose histograms and depth range; optionally write a contact sheet.
    Inspect(InspectArgs),
    /// List the wgpu adapters (the one `render` picks first) and warn when an NVIDIA GPU is
    /// present but Vulkan offers only the software rasterizer.
    Adapters {
        /// Print JSON (`adapters`, `picked`, `warning`) instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// Dataset directory.
    dir: PathBuf,
    /// Write a contact sheet (image | segmentation | depth per sample) to this PNG.
    #[arg(long, value_name = "PNG")]
    sheet: Option<PathBuf>,
    /// Samples on the contact sheet.
    #[arg(long, default_value_t = 8)]
    n: usize,
    /// Samples per row of the contact sheet.
    #[arg(long, default_value_t = 4)]
    per_row: usize,
    /// Enlargement of the contact sheet tiles (default: to at least 128 pixels).
    #[arg(long)]
    scale: Option<u32>,
    /// Split shown on the contact sheet.
    #[arg(long, default_value = "train", value_parser = parse_split)]
    split: Split,
    /// Samples examined per split for the histograms.
    #[arg(long, default_value_t = 20_000)]
    limit: usize,
}

#[derive(Debug, Args)]
struct RenderArgs {
    /// Variant: T C V L in this order, `-` for the easier setting (----, T---, -C-L, TCVL, ...).
    #[arg(long, default_value = "----", allow_hyphen_values = true)]
    variant: Variant,
    /// Total number of samples (85% train, 7.5% val, 7.5% test).
    #[arg(long, required = true)]
    count: Option<usize>,
    /// Output dataset directory (created; rerun the same command to resume).
    #[arg(long, required = true, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Scene kind: `single` (64x64, one centred object) or `multi` (128x128, several objects).
    #[arg(long, default_value = "single")]
    scene: SceneKind,
    /// Image side in pixels (default 64 single, 128 multi).
    #[arg(long)]
    resolution: Option<u32>,
    /// Objects per multi-object image (1-255).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..))]
    objects: u8,
    /// Dataset seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Samples per shard.
    #[arg(long, default_value_t = generate::DEFAULT_SHARD_SIZE)]
    shard_size: usize,
    /// Shard compression: `zstd:LEVEL` (1-22) or `none`.
    #[arg(long, default_value = "zstd:3", value_parser = parse_compression)]
    compression: CompressionArg,
    /// Number of workers the shards are split over [default: $SLURM_ARRAY_TASK_COUNT in a Slurm
    /// array task, $JOB_COMPLETIONS in a Kubernetes Indexed Job, else 1].
    #[arg(long)]
    workers: Option<usize>,
    /// This worker, 0-based [default: $SLURM_ARRAY_TASK_ID - $SLURM_ARRAY_TASK_MIN,
    /// $JOB_COMPLETION_INDEX, else 0].
    #[arg(long)]
    worker: Option<usize>,
    /// Use the first wgpu adapter whose name contains this (case-insensitive), e.g. `llvmpipe`.
    #[arg(long)]
    adapter: Option<String>,
    /// ShapeNetCore directory (v1 or v2); default: embedded procedural meshes.
    #[arg(long, value_name = "DIR")]
    shapenet: Option<PathBuf>,
    /// Render only these classes, comma-separated (e.g. `airplane,car,chair`; default all ten).
    /// Labels keep the ten-class ids; with --shapenet only their folders must exist.
    #[arg(long, value_name = "LIST", value_parser = parse_classes)]
    classes: Option<Classes>,
    /// Cache directory for parsed, simplified ShapeNet meshes.
    #[arg(long, value_name = "DIR")]
    mesh_cache: Option<PathBuf>,
    /// DTD directory; default: embedded procedural textures.
    #[arg(long, value_name = "DIR")]
    dtd: Option<PathBuf>,
    /// Models per class and split kept in the GPU pool.
    #[arg(long, default_value_t = generate::DEFAULT_MODELS_PER_CLASS)]
    models_per_class: usize,
    /// Train textures in the pool (held-out: a quarter of it).
    #[arg(long, default_value_t = generate::DEFAULT_TEXTURES)]
    textures: usize,
    /// Side of the texture tiles (power of two).
    #[arg(long, default_value_t = generate::DEFAULT_TEXTURE_SIZE)]
    texture_size: u32,
    /// Procedural models per class (embedded assets only).
    #[arg(long, default_value_t = 1000)]
    procedural_models: usize,
    /// Procedural textures (embedded assets only).
    #[arg(long, default_value_t = 1000)]
    procedural_textures: usize,
    /// Images per GPU submission (default: the renderer's).
    #[arg(long)]
    batch: Option<usize>,
    /// Renderer devices fed in parallel; 0: automatic (2 on a CPU adapter such as lavapipe, 1 on
    /// a GPU). The output does not depend on it.
    #[arg(long, default_value_t = 0)]
    lanes: usize,
    /// Render without shadows (the shadowless look of earlier versions); recorded in the
    /// manifest.
    #[arg(long)]
    no_shadows: bool,
    /// Multi-object layout: `overlap` (as in the paper: objects at single-object size at
    /// different depths, overlapping and hiding each other) or `spread` (smaller objects on a
    /// jittered grid, rarely touching); recorded in the manifest.
    #[arg(long, default_value = "overlap")]
    layout: MultiLayout,
    /// Multi-object scenes: an object counts as present (meta `present`, `present_classes`)
    /// when at least this fraction of it is visible; recorded in the manifest.
    #[arg(long, default_value_t = generate::DEFAULT_MIN_VISIBLE, value_name = "FRACTION")]
    min_visible: f32,
    /// Also write the run summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    summary_json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy)]
struct CompressionArg(Option<Compression>);

fn parse_compression(s: &str) -> Result<CompressionArg, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(CompressionArg(None));
    }
    s.parse::<Compression>()
        .map(|c| CompressionArg(Some(c)))
        .map_err(|e| format!("{e} (expected zstd:LEVEL such as zstd:3, or none)"))
}

#[derive(Debug, Clone)]
struct Classes(Vec<shapenet_loader::Class>);

fn parse_classes(s: &str) -> Result<Classes, String> {
    shapenet_loader::Class::parse_list(s)
        .map(Classes)
        .map_err(|e| e.to_string())
}

fn parse_split(s: &str) -> Result<Split, String> {
    s.parse::<Split>().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let quieted = quiet_window_system_probe();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(log_colour())
        .init();
    if let Some(dir) = quieted {
        tracing::debug!("XDG_RUNTIME_DIR was unset: set to {dir} to keep Vulkan layers quiet");
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Keeps the Vulkan layers' window-system probing from printing `error: XDG_RUNTIME_DIR is
/// invalid or not set` on headless machines (see
/// [`renderer::adapter::window_system_probe_fix`]). Returns the value set, if any.
#[allow(unsafe_code)]
fn quiet_window_system_probe() -> Option<&'static str> {
    let (name, value) = renderer::adapter::window_system_probe_fix()?;
    // SAFETY: called as the first statement of `main`: no other thread exists yet that could
    // read or write the environment at the same time.
    unsafe { std::env::set_var(name, value) };
    Some(value)
}

/// Whether log lines on stderr get ANSI colours: only when stderr is a terminal, and never when
/// `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
fn log_colour() -> bool {
    colour_wanted(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

fn colour_wanted(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The error and its causes joined by `: `, skipping causes whose text the message already
/// contains (library errors often include their source in their own message).
fn error_chain(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Merge { dir }) => {
            generate::merge(&dir).with_context(|| format!("merging {}", dir.display()))?;
            println!(
                "merged {}: index.json written for train, val, test",
                dir.display()
            );
            Ok(())
        }
        Some(Command::Inspect(args)) => run_inspect(args),
        Some(Command::Slurm(args)) => run_slurm(*args),
        Some(Command::Adapters { json }) => run_adapters(json),
        None => run_render(cli.render),
    }
}

fn run_adapters(json: bool) -> Result<()> {
    let adapters = renderer::list_adapters();
    // The order `render` prefers without --adapter: real GPUs before software adapters.
    let rank = |a: &renderer::AdapterSummary| match a.device_type.as_str() {
        "DiscreteGpu" => 0,
        "IntegratedGpu" => 1,
        "VirtualGpu" => 2,
        "Cpu" => 3,
        _ => 4,
    };
    let picked = adapters
        .iter()
        .enumerate()
        .min_by_key(|(i, a)| (rank(a), *i))
        .map(|(_, a)| a);
    let warning = renderer::check_software_fallback();
    if json {
        let value = serde_json::json!({
            "adapters": adapters,
            "picked": picked,
            "warning": warning,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).context("serialising the adapter list")?
        );
        return Ok(());
    }
    if adapters.is_empty() {
        println!("no wgpu adapter found (install a Vulkan driver, or mesa-vulkan-drivers)");
    }
    for a in &adapters {
        let mark = if Some(a) == picked { "*" } else { " " };
        println!("{mark} {a}");
    }
    if let Some(why) = &warning {
        print_gpu_warning(why);
    }
    Ok(())
}

fn run_inspect(args: InspectArgs) -> Result<()> {
    let report = inspect::inspect(&args.dir, args.limit)
        .with_context(|| format!("inspecting {}", args.dir.display()))?;
    print!("{report}");
    if let Some(sheet) = &args.sheet {
        let res = report.manifest.resolution[0].max(1);
        let scale = args.scale.unwrap_or_else(|| 128u32.div_ceil(res).max(1));
        let img = inspect::contact_sheet(&args.dir, args.split, args.n, args.per_row, scale)
            .with_context(|| format!("drawing a contact sheet of {}", args.dir.display()))?;
        inspect::write_png(sheet, &img)
            .with_context(|| format!("writing --sheet {}", sheet.display()))?;
        println!(
            "\ncontact sheet ({} x {}) written to {}",
            img.width(),
            img.height(),
            sheet.display()
        );
    }
    Ok(())
}

fn run_render(a: RenderArgs) -> Result<()> {
    // clap enforces both when no subcommand is given.
    let count = a.count.context("--count is required")?;
    let out = a.out.clone().context("--out is required")?;
    let mut job = RenderJob::new(a.variant, a.scene, count);
    job.seed = a.seed;
    job.resolution = a.resolution;
    job.objects = usize::from(a.objects);
    job.shard_size = a.shard_size;
    job.compression = a.compression.0;
    let env = slurm::worker_from_env(|k| std::env::var(k).ok())?;
    let (workers, worker, source) = slurm::resolve_workers(a.workers, a.worker, env)?;
    if let Some(source) = source {
        eprintln!(
            "render: worker {worker} of {workers} (from {})",
            source.describe()
        );
    }
    job.workers = workers;
    job.worker = worker;
    job.adapter = a.adapter.clone();
    job.models_per_class = a.models_per_class;
    job.textures = a.textures;
    job.texture_size = a.texture_size;
    job.batch = a.batch;
    job.lanes = a.lanes;
    job.shadows = !a.no_shadows;
    job.layout = a.layout;
    job.min_visible = a.min_visible;
    if let Some(Classes(classes)) = &a.classes {
        job.classes = classes.clone();
    }

    // Folders and images found unusable while opening the libraries, reported with the rest.
    let mut open_skipped_models = Vec::new();
    let mut open_skipped_textures = Vec::new();
    let models: Box<dyn shapenet_loader::ModelSource> = match &a.shapenet {
        Some(dir) => {
            let opts = shapenet_loader::LoadOptions {
                cache_dir: a.mesh_cache.clone(),
                ..Default::default()
            };
            let shapenet = shapenet_loader::ShapeNet::open_classes(dir, opts, &job.classes())
                .with_context(|| format!("opening --shapenet {}", dir.display()))?;
            for s in shapenet.skipped() {
                open_skipped_models.push(SkippedAsset {
                    name: s.path.display().to_string(),
                    reason: "no-model".into(),
                    message: s.reason.clone(),
                });
            }
            Box::new(shapenet)
        }
        None => Box::new(shapenet_loader::ProceduralModels::new(a.procedural_models)),
    };
    let textures: Box<dyn dtd_textures::TextureSource> = match &a.dtd {
        Some(dir) => {
            let dtd = dtd_textures::Dtd::open(dir)
                .with_context(|| format!("opening --dtd {}", dir.display()))?;
            for s in dtd.skipped() {
                open_skipped_textures.push(SkippedAsset {
                    name: s.name.clone(),
                    reason: s.reason.to_string(),
                    message: s.message.clone(),
                });
            }
            Box::new(dtd)
        }
        None => Box::new(dtd_textures::ProceduralTextures::new(a.procedural_textures)),
    };

    if a.adapter.is_none() {
        warn_if_gpu_unused();
    }
    let bar = progress_bar();
    let on_progress = |p: RenderProgress| {
        if bar.length() != Some(p.total as u64) {
            bar.set_length(p.total as u64);
        }
        bar.set_position(p.done as u64);
        bar.set_message(format!("shards {}/{}", p.shards_written, p.shards_total));
    };
    let mut summary =
        generate::render_dataset(&job, models.as_ref(), textures.as_ref(), &out, &on_progress)
            .with_context(|| {
                format!(
                    "rendering {} {} into {}",
                    job.variant,
                    job.scene,
                    out.display()
                )
            })?;
    bar.finish_and_clear();
    open_skipped_models.append(&mut summary.skipped_models);
    summary.skipped_models = open_skipped_models;
    open_skipped_textures.append(&mut summary.skipped_textures);
    summary.skipped_textures = open_skipped_textures;
    print_summary(&job, &out, &summary);
    if let Some(path) = &a.summary_json {
        let text = serde_json::to_string_pretty(&summary).context("serialising the summary")?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("writing --summary-json {}", path.display()))?;
    }
    Ok(())
}

/// Warns loudly on stderr when Vulkan offers only the software rasterizer on a machine that has
/// an NVIDIA GPU (missing ICD, container without the `graphics` driver capability, ...).
fn warn_if_gpu_unused() {
    if let Some(why) = renderer::check_software_fallback() {
        print_gpu_warning(&why);
    }
}

fn print_gpu_warning(why: &str) {
    let rule = "!".repeat(78);
    eprintln!("{rule}\nrender: WARNING: NVIDIA GPU NOT USED\nrender: {why}\n{rule}");
}

fn progress_bar() -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} images  {per_sec}  ETA {eta}  {msg}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn print_summary(job: &RenderJob, out: &Path, s: &RenderSummary) {
    let plan_counts = datasets::layout::split_counts(job.count);
    println!(
        "{} {} x{} seed {} -> {}",
        job.variant,
        job.scene,
        job.resolution(),
        job.seed,
        out.display()
    );
    println!(
        "dataset splits: train {}, val {}, test {}",
        plan_counts[0], plan_counts[1], plan_counts[2]
    );
    let classes = job.classes();
    if classes.len() < shapenet_loader::Class::COUNT {
        let names: Vec<&str> = classes.iter().map(|c| c.name()).collect();
        println!(
            "classes: {} ({} of {}, labels keep the ten-class ids)",
            names.join(", "),
            classes.len(),
            shapenet_loader::Class::COUNT
        );
    }
    println!(
        "rendered this run: train {}, val {}, test {} ({} shard(s) written, {} already complete)",
        s.rendered[0], s.rendered[1], s.rendered[2], s.shards_written, s.shards_already_complete
    );
    if !s.adapter.is_empty() {
        println!(
            "assets: {} models (mean {:.0} triangles), {} textures uploaded in {:.1} s; adapter {} ({} lane{})",
            s.models_loaded,
            s.mean_triangles,
            s.textures_loaded,
            s.asset_seconds,
            s.adapter,
            s.lanes,
            if s.lanes == 1 { "" } else { "s" }
        );
        let cpu = s
            .cpu_ms_per_image()
            .map(|ms| format!(", {ms:.2} CPU ms/image"))
            .unwrap_or_default();
        println!(
            "throughput: {:.1} images/s ({} images in {:.1} s{cpu})",
            s.images_per_second(),
            s.total_rendered(),
            s.render_seconds
        );
    }
    if !s.skipped_models.is_empty() {
        println!("skipped {} model(s):", s.skipped_models.len());
        for m in s.skipped_models.iter().take(20) {
            println!("  {} [{}]: {}", m.name, m.reason, m.message);
        }
        if s.skipped_models.len() > 20 {
            println!(
                "  ... and {} more (see --summary-json)",
                s.skipped_models.len() - 20
            );
        }
    }
    if !s.skipped_textures.is_empty() {
        println!("skipped {} texture(s):", s.skipped_textures.len());
        for t in s.skipped_textures.iter().take(20) {
            println!("  {} [{}]: {}", t.name, t.reason, t.message);
        }
    }
    if s.merged {
        println!("dataset complete: index.json written for train, val, test");
    } else if let Some(note) = &s.merge_note {
        println!("not merged yet: {note}");
    }
}

#[derive(Debug, Args)]
struct SlurmArgs {
    #[command(flatten)]
    render: RenderArgs,
    #[command(flatten)]
    opts: SlurmOpts,
}

/// Options of `render slurm` that are not render flags.
#[derive(Debug, Args)]
struct SlurmOpts {
    /// Submit the scripts with `sbatch --parsable` (default: only write them).
    #[arg(long)]
    submit: bool,
    /// Slurm partition of the jobs.
    #[arg(long)]
    partition: Option<String>,
    /// Generic resources of each render task, e.g. `gpu:1`.
    #[arg(long)]
    gres: Option<String>,
    /// CPUs of each render task.
    #[arg(long)]
    cpus_per_task: Option<u32>,
    /// Time limit of each job, e.g. `02:00:00`.
    #[arg(long)]
    time: Option<String>,
    /// Memory of each job, e.g. `16G`.
    #[arg(long)]
    mem: Option<String>,
    /// At most K render tasks at once (`--array=0-N%K`; per array when the array is split).
    #[arg(long, value_name = "K")]
    array_throttle: Option<usize>,
    /// Split the render array into arrays of at most this many tasks [default with --submit:
    /// the cluster's MaxArraySize from `scontrol show config`; without: 1001].
    #[arg(long, value_name = "N")]
    max_array_size: Option<usize>,
    /// Further sbatch option for every job, verbatim (repeatable): `--sbatch-option=--account=proj`.
    #[arg(long, value_name = "OPTION", allow_hyphen_values = true)]
    sbatch_option: Vec<String>,
    /// The `render` program the jobs run [default: this one].
    #[arg(long, value_name = "PATH")]
    render_bin: Option<PathBuf>,
}

/// The render flags given on the command line of `render slurm`, as `--name=value`, except the
/// ones the scripts set themselves. Read back from clap so that every render flag passes through.
fn render_flags_given() -> Result<Vec<String>> {
    use clap::parser::ValueSource;
    use clap::{ArgAction, CommandFactory};
    let cli = Cli::command();
    let matches = cli.clone().get_matches_from(std::env::args_os());
    let (_, sub) = matches
        .subcommand()
        .context("`render slurm`: subcommand arguments not found")?;
    let sub_cmd = cli
        .find_subcommand("slurm")
        .context("`render slurm`: subcommand not defined")?;
    let own = SlurmOpts::augment_args(clap::Command::new("slurm-opts"));
    let skip = |id: &str| {
        ["out", "workers", "worker"].contains(&id) || own.get_arguments().any(|a| a.get_id() == id)
    };
    let mut flags = Vec::new();
    for arg in sub_cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if skip(id) || sub.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let long = arg
            .get_long()
            .with_context(|| format!("render flag `{id}` has no long name"))?;
        match arg.get_action() {
            ArgAction::SetTrue if sub.get_flag(id) => flags.push(format!("--{long}")),
            ArgAction::SetTrue => {}
            action if action.takes_values() => {
                for value in sub.get_raw(id).into_iter().flatten() {
                    let value = value
                        .to_str()
                        .with_context(|| format!("--{long}: value is not valid UTF-8"))?;
                    flags.push(format!("--{long}={value}"));
                }
            }
            _ => anyhow::bail!("render flag --{long} cannot be passed on to the Slurm jobs"),
        }
    }
    Ok(flags)
}

fn run_slurm(args: SlurmArgs) -> Result<()> {
    let a = &args.render;
    let o = &args.opts;
    let out = a.out.clone().context("--out is required")?;
    let workers = a
        .workers
        .context("`render slurm` needs --workers N (the number of array tasks)")?;
    if workers == 0 {
        anyhow::bail!("--workers must be at least 1");
    }
    if a.worker.is_some() {
        anyhow::bail!("`render slurm` sets --worker for each array task; do not pass it");
    }
    if a.summary_json.is_some() {
        anyhow::bail!(
            "--summary-json is written by one process; with Slurm each task's summary is in its log (OUT/logs/)"
        );
    }
    let render_bin = match &o.render_bin {
        Some(p) => p.clone(),
        None => {
            std::env::current_exe().context("locating this render binary (pass --render-bin)")?
        }
    };
    let render_bin = std::path::absolute(&render_bin)
        .with_context(|| format!("--render-bin {}", render_bin.display()))?;
    let workdir = std::env::current_dir().context("reading the current directory")?;
    let resources = slurm::Resources {
        partition: o.partition.clone(),
        gres: o.gres.clone(),
        cpus_per_task: o.cpus_per_task,
        time: o.time.clone(),
        mem: o.mem.clone(),
        throttle: o.array_throttle,
        extra: o.sbatch_option.clone(),
    };
    let merge_resources = slurm::Resources {
        gres: None,
        cpus_per_task: None,
        throttle: None,
        ..resources.clone()
    };
    let pipeline = slurm::RenderPipeline {
        render_bin,
        render_args: render_flags_given()?,
        out: out.clone(),
        workers,
        workdir,
        resources,
        merge_resources,
    }
    .pipeline()?;

    let sbatch = o.submit.then(|| slurm::find_program("sbatch", None));
    let max_array_size = match (o.max_array_size, &sbatch) {
        (Some(n), _) => n,
        (None, Some(Ok(_))) => {
            let scontrol = slurm::find_program("scontrol", None)
                .context("reading MaxArraySize (pass --max-array-size N instead)")?;
            slurm::query_max_array_size(&scontrol)
                .context("reading MaxArraySize (pass --max-array-size N instead)")?
        }
        _ => slurm::DEFAULT_MAX_ARRAY_SIZE,
    };
    let scripts = slurm::write_scripts(&pipeline, max_array_size)
        .with_context(|| format!("writing Slurm scripts into {}", out.display()))?;
    for s in &scripts {
        match s.array_tasks {
            Some(n) => println!(
                "wrote {} (array of {n}: workers {}..{} of {workers})",
                s.path.display(),
                s.first_index,
                s.first_index + n - 1
            ),
            None => println!("wrote {}", s.path.display()),
        }
    }
    let dir = std::path::absolute(&out).context("resolving --out")?;
    println!("logs go to {}", dir.join(slurm::LOG_DIR).display());
    let Some(sbatch) = sbatch else {
        println!(
            "submit with: {}",
            dir.join(slurm::SCRIPT_DIR).join("submit.sh").display()
        );
        return Ok(());
    };
    let submit_sh = dir.join(slurm::SCRIPT_DIR).join("submit.sh");
    let sbatch = sbatch.with_context(|| {
        format!(
            "submitting (the scripts are written: run {} where Slurm is installed)",
            submit_sh.display()
        )
    })?;
    let jobs = slurm::submit(&pipeline, &scripts, &sbatch)?;
    let record = slurm::write_jobs(&dir, &jobs)?;
    for j in &jobs {
        println!("submitted {} as job {}", j.script.name, j.job_id);
    }
    println!("job ids recorded in {}", record.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::colour_wanted;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_wanted(true, None));
        assert!(colour_wanted(true, Some(OsStr::new(""))));
        assert!(!colour_wanted(true, Some(OsStr::new("1"))));
        assert!(!colour_wanted(false, None));
        assert!(!colour_wanted(false, Some(OsStr::new("1"))));
    }
}
