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
    /// Number of workers the shards are split over (e.g. a Slurm array size).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// This worker, 0-based (e.g. $SLURM_ARRAY_TASK_ID).
    #[arg(long, default_value_t = 0)]
    worker: usize,
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
    job.workers = a.workers;
    job.worker = a.worker;
    job.adapter = a.adapter.clone();
    job.models_per_class = a.models_per_class;
    job.textures = a.textures;
    job.texture_size = a.texture_size;
    job.batch = a.batch;
    job.lanes = a.lanes;
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
