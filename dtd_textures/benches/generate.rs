//! Generation speed of procedural tiles per family, and DTD-style decode + crop + resize.
//!
//! `cargo bench -p dtd_textures --bench generate` prints the median milliseconds per tile.
//! Plain bench binary (no criterion): each case runs a fixed number of iterations over
//! different seeds and reports the median (robust to other processes on a shared machine).

use std::hint::black_box;
use std::time::Instant;

use dtd_textures::{Dtd, Family, Texture, TextureSource, procedural_texture, tile};

fn median_ms(mut f: impl FnMut(u64), iters: u64) -> f64 {
    let mut times: Vec<f64> = (0..iters)
        .map(|i| {
            let t0 = Instant::now();
            f(i);
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing special. Keep the
    // run short in the latter case.
    let quick = !std::env::args().any(|a| a == "--bench");
    let iters = if quick { 1 } else { 31 };
    println!("{:<14} {:>10} {:>10}", "family", "128px ms", "256px ms");
    let mut total = [0.0f64; 2];
    for family in Family::ALL {
        let mut row = [0.0f64; 2];
        for (k, size) in [128u32, 256].into_iter().enumerate() {
            row[k] = median_ms(
                |s| drop(black_box(procedural_texture(family, s, size))),
                iters,
            );
            total[k] += row[k];
        }
        println!("{:<14} {:>10.2} {:>10.2}", family.name(), row[0], row[1]);
    }
    let n = Family::ALL.len() as f64;
    println!(
        "{:<14} {:>10.2} {:>10.2}",
        "mean",
        total[0] / n,
        total[1] / n
    );

    let src: Texture = procedural_texture(Family::Noise, 1, 512);
    let ms = median_ms(|_| drop(black_box(tile(&src, 128))), iters);
    println!("tile() 512 -> 128 px: {ms:.2} ms");

    // A DTD-sized photo (640x480 JPEG): decode + centre crop + Lanczos-3 resize.
    let dir = tempfile::tempdir().expect("temp dir");
    let cat = dir.path().join("images/marbled");
    std::fs::create_dir_all(&cat).expect("category dir");
    let big = procedural_texture(Family::Marbled, 5, 640);
    let rgb = image::RgbaImage::from_raw(640, 640, big.rgba).expect("640x640 RGBA");
    let photo =
        image::DynamicImage::ImageRgba8(image::imageops::crop_imm(&rgb, 0, 0, 640, 480).to_image());
    photo
        .into_rgb8()
        .save(cat.join("marbled_0001.jpg"))
        .expect("write jpeg");
    let dtd = Dtd::open(dir.path()).expect("open temp DTD");
    for size in [128, 256] {
        let ms = median_ms(|_| drop(black_box(dtd.load(0, size).expect("load"))), iters);
        println!("Dtd::load 640x480 JPEG -> {size} px: {ms:.2} ms");
    }
}
