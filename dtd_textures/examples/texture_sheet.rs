//! Contact sheet of textures: one row per procedural family, one column per seed; or, with
//! `--dtd DIR`, the first textures of a DTD folder.
//!
//! `cargo run -p dtd_textures --release --example texture_sheet -- --out docs/img/textures_sheet.png`

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;
use dtd_textures::{Dtd, Family, Texture, TextureSource, procedural_texture};

#[derive(Parser)]
#[command(about = "Write a contact sheet PNG of textures")]
struct Args {
    /// Output PNG file.
    #[arg(long)]
    out: PathBuf,
    /// Tile size in pixels.
    #[arg(long, default_value_t = 96)]
    size: u32,
    /// Columns (seeds per family).
    #[arg(long, default_value_t = 8)]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Draw each tile 2x2 times to show that it repeats seamlessly.
    #[arg(long)]
    repeat: bool,
    /// Show a DTD folder (first `--seeds` x 8 textures) instead of the procedural families.
    #[arg(long)]
    dtd: Option<PathBuf>,
}

const GAP: u32 = 4;

fn main() -> Result<()> {
    let args = Args::parse();
    if args.size == 0 || args.seeds == 0 {
        bail!("--size and --seeds must be at least 1");
    }
    let rows: Vec<Vec<Texture>> = match &args.dtd {
        None => Family::ALL
            .iter()
            .map(|&f| {
                (args.first_seed..args.first_seed + args.seeds)
                    .map(|s| procedural_texture(f, s, args.size))
                    .collect()
            })
            .collect(),
        Some(dir) => {
            let dtd = Dtd::open(dir).with_context(|| format!("--dtd {}", dir.display()))?;
            for s in dtd.skipped() {
                eprintln!("skipped {}: {}", s.name, s.message);
            }
            let per_row = args.seeds as usize;
            let n = dtd.len().min(per_row * 8);
            let tiles = (0..n)
                .map(|i| dtd.load(i, args.size))
                .collect::<Result<Vec<_>, _>>()?;
            tiles.chunks(per_row).map(|c| c.to_vec()).collect()
        }
    };
    let reps = if args.repeat { 2 } else { 1 };
    let cell = args.size * reps;
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let width = cols * (cell + GAP) + GAP;
    let height = rows.len() as u32 * (cell + GAP) + GAP;
    let mut sheet = image::RgbaImage::from_pixel(width, height, image::Rgba([255, 255, 255, 255]));
    for (r, row) in rows.iter().enumerate() {
        for (c, tex) in row.iter().enumerate() {
            let x0 = GAP + c as u32 * (cell + GAP);
            let y0 = GAP + r as u32 * (cell + GAP);
            for y in 0..cell {
                for x in 0..cell {
                    let p = tex.pixel(x % tex.size, y % tex.size);
                    sheet.put_pixel(x0 + x, y0 + y, image::Rgba(p));
                }
            }
        }
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = args.out.with_extension("png.tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        std::io::BufWriter::new(file),
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    );
    // RGB (the tiles are opaque) keeps the file small.
    let rgb = image::DynamicImage::ImageRgba8(sheet).into_rgb8();
    rgb.write_with_encoder(encoder)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &args.out)
        .with_context(|| format!("renaming to {}", args.out.display()))?;
    println!("wrote {} ({}x{})", args.out.display(), width, height);
    Ok(())
}
