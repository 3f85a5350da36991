//! Renderer throughput benchmark (`cargo bench -p renderer`): images/second for 64x64 and
//! 128x128 images, UV-sphere meshes of ~2k, ~20k and ~100k triangles, 1 and 4 objects per
//! image, textured background and textured objects, streamed through `render_stream`.
//! Prints a Markdown table: wall-clock images/s, CPU milliseconds per image (all threads of the
//! process, driver included: less sensitive than wall time to other load on the machine), and
//! the share of wall time in scene preparation, command submission (on lavapipe this includes
//! most of the rendering: a submission returns once the driver has drawn it while the previous
//! batch is in flight), waiting for the device,
//! and copying the readback into images.
//!
//! Environment: `RENDERER_BENCH_SECONDS` (default 3) per row; `RENDERER_BENCH_FILTER` keeps
//! rows whose label (e.g. `64x64 2k x1`) contains the string; `RENDERER_BENCH_TEXTURES=0`
//! renders untextured; `RENDERER_BENCH_SAMPLES` (default 4), `RENDERER_BENCH_BATCH` (default:
//! renderer default) and `RENDERER_BENCH_AA` (`msaa` | `ssaa`) override the config;
//! `RENDERER_BENCH_LANES` (default 2) sets the `MultiRenderer` lanes of the final table (1
//! disables it; the filter `parallel` runs only that table). `RENDERER_BENCH_SHADOWS=0` turns
//! shadows off (the shading of earlier versions) and `RENDERER_BENCH_COVERAGE=1` turns on the
//! coverage pass that multi-object datasets use.

use std::time::{Duration, Instant};

use dtd_textures::Texture;
use glam::{EulerRot, Mat4, Quat, Vec3};
use renderer::{
    Antialias, Background, Camera, Material, MeshId, MultiRenderer, ObjectInstance, PointLight,
    Renderer, RendererConfig, Scene, TextureId, primitives, process_cpu_seconds,
};

fn texture(size: u32, seed: u32) -> Texture {
    let mut rgba = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let cell = ((x / 16) + (y / 16) + seed) % 2;
            let n = ((x * 7919 + y * 104_729 + seed * 31) % 61) as u8;
            let px = if cell == 0 {
                [200, 160 + n, 90, 255]
            } else {
                [60 + n, 50, 140, 255]
            };
            rgba.extend_from_slice(&px);
        }
    }
    Texture { size, rgba }
}

fn scene(i: usize, mesh: MeshId, objects: usize, tex: [TextureId; 2]) -> Scene {
    let textured = env::<u32>("RENDERER_BENCH_TEXTURES").unwrap_or(1) != 0;
    let a = i as f32 * 0.37;
    let objs = (0..objects)
        .map(|j| {
            let (offset, s) = if objects == 1 {
                (Vec3::ZERO, 1.0)
            } else {
                let ang = j as f32 * std::f32::consts::TAU / objects as f32;
                (Vec3::new(0.0, 0.3 * ang.cos(), 0.2 * ang.sin()), 0.5)
            };
            ObjectInstance {
                mesh,
                transform: Mat4::from_scale_rotation_translation(
                    Vec3::new(s, s * 0.9, s * 1.1),
                    Quat::from_euler(EulerRot::XYZ, a, a * 0.5 + j as f32, 0.3),
                    offset,
                )
                .to_cols_array_2d(),
                material: Material {
                    color: [0.8, 0.4 + 0.1 * j as f32, 0.3],
                    texture: textured.then_some(tex[j % 2]),
                    texture_mix: 0.4,
                    texture_scale: 4.0,
                    specular: 0.4,
                },
                class_id: 1 + (i % 10) as u8,
                instance_id: 1 + j as u8,
            }
        })
        .collect();
    Scene {
        camera: Camera::paper_default(),
        light: PointLight {
            position: [0.3, 1.3, 0.7 + 0.1 * (i % 5) as f32],
            intensity: [1.0; 3],
        },
        fill: 0.25,
        background: Background {
            color: [0.5, 0.45, 0.4],
            texture: textured.then_some(tex[(i + 1) % 2]),
            texture_mix: 1.0,
            texture_scale: 1.0,
            center: [-3.0, 0.0, -1.2],
        },
        objects: objs,
    }
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; ignore arguments.
    let seconds: f64 = env("RENDERER_BENCH_SECONDS").unwrap_or(3.0);
    let filter: Option<String> = std::env::var("RENDERER_BENCH_FILTER").ok();
    let samples: u32 = env("RENDERER_BENCH_SAMPLES").unwrap_or(4);
    let batch: Option<usize> = env("RENDERER_BENCH_BATCH");
    let meshes = [(32u32, "2k"), (100, "20k"), (224, "100k")];
    println!(
        "| size | triangles/object | objects | images | images/s | CPU ms/image | Mtri/s | prepare | submit | gpu wait | readback |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut adapter_printed = false;
    for size in [64u32, 128] {
        let mut config = RendererConfig::with_size(size, size);
        config.samples = samples;
        if let Some(b) = batch {
            config.batch = b;
        }
        config.shadows = env::<u32>("RENDERER_BENCH_SHADOWS").unwrap_or(1) != 0;
        config.coverage = env::<u32>("RENDERER_BENCH_COVERAGE").unwrap_or(0) != 0;
        match std::env::var("RENDERER_BENCH_AA").as_deref() {
            Ok("msaa") => config.antialias = Antialias::Msaa,
            Ok("ssaa") => config.antialias = Antialias::Supersample,
            _ => {}
        }
        let mut r = Renderer::new(config)?;
        if !adapter_printed {
            eprintln!(
                "adapter: {} | batch {} | samples {samples}",
                r.adapter(),
                r.batch_size()
            );
            adapter_printed = true;
        }
        let tex = [
            r.upload_texture(&texture(256, 0))?,
            r.upload_texture(&texture(256, 1))?,
        ];
        for (segments, label) in meshes {
            let mesh_data = primitives::uv_sphere(0.3, segments, segments);
            let tris = mesh_data.triangle_count();
            let mesh = r.upload_mesh(&mesh_data)?;
            for objects in [1usize, 4] {
                let row = format!("{size}x{size} {label} x{objects}");
                if filter.as_ref().is_some_and(|f| !row.contains(f.as_str())) {
                    continue;
                }
                // Warm-up (pipeline compilation, first-touch allocations) and rate estimate.
                let warm = r.batch_size();
                let t = Instant::now();
                r.render_stream((0..warm).map(|i| scene(i, mesh, objects, tex)), |_, _| {
                    Ok::<(), std::convert::Infallible>(())
                })?;
                let rate = warm as f64 / t.elapsed().as_secs_f64();
                let n = ((rate * seconds) as usize)
                    .max(r.batch_size())
                    .div_ceil(r.batch_size())
                    * r.batch_size();
                r.reset_stats();
                let cpu0 = process_cpu_seconds();
                let t = Instant::now();
                let mut received = 0usize;
                r.render_stream((0..n).map(|i| scene(i, mesh, objects, tex)), |_, img| {
                    received += img.width as usize;
                    Ok::<(), std::convert::Infallible>(())
                })?;
                let wall = t.elapsed();
                let cpu_ms = match (cpu0, process_cpu_seconds()) {
                    (Some(a), Some(b)) => format!("{:.2}", 1000.0 * (b - a) / n as f64),
                    _ => "-".to_string(),
                };
                assert_eq!(received, n * size as usize);
                let s = r.stats();
                let share = |d: Duration| 100.0 * d.as_secs_f64() / wall.as_secs_f64();
                let ips = n as f64 / wall.as_secs_f64();
                println!(
                    "| {size}x{size} | {tris} | {objects} | {n} | {ips:.0} | {cpu_ms} | {:.1} | {:.0}% | {:.0}% | {:.0}% | {:.0}% |",
                    ips * (tris * objects + 2) as f64 / 1e6,
                    share(s.prepare),
                    share(s.submit),
                    share(s.gpu_wait),
                    share(s.readback),
                );
            }
        }
    }
    let lanes: usize = env("RENDERER_BENCH_LANES").unwrap_or(2);
    if lanes > 1 && filter.as_deref().is_none_or(|f| "parallel".contains(f)) {
        parallel_rows(lanes, samples, seconds)?;
    }
    Ok(())
}

/// `MultiRenderer` with 1 and `lanes` devices: on CPU adapters the driver runs much of a
/// submission on one thread, so a second device keeps the other core busy. Reports the
/// aggregate rate for the ~2k-triangle textured scenes at 64x64 (1 object) and 128x128 (4).
fn parallel_rows(
    lanes: usize,
    samples: u32,
    seconds: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    println!();
    println!(
        "| MultiRenderer lanes | size | triangles/object | objects | images | images/s | CPU ms/image |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (size, objects, n_lanes) in [(64, 1, 1), (64, 1, lanes), (128, 4, 1), (128, 4, lanes)] {
        let mut config = RendererConfig::with_size(size, size);
        config.samples = samples;
        let mut r = MultiRenderer::new(config, n_lanes)?;
        let tex = [
            r.upload_texture(&texture(256, 0))?,
            r.upload_texture(&texture(256, 1))?,
        ];
        let mesh = r.upload_mesh(&primitives::uv_sphere(0.3, 32, 32))?;
        let warm = r.batch_size() * n_lanes;
        r.render_stream((0..warm).map(|i| scene(i, mesh, objects, tex)), |_, _| {
            Ok::<(), std::convert::Infallible>(())
        })?;
        let n = ((if size == 64 { 500.0 } else { 150.0 } * seconds) as usize).div_ceil(warm) * warm;
        let cpu0 = process_cpu_seconds();
        let t = Instant::now();
        let mut received = 0usize;
        r.render_stream((0..n).map(|i| scene(i, mesh, objects, tex)), |_, _| {
            received += 1;
            Ok::<(), std::convert::Infallible>(())
        })?;
        let wall = t.elapsed().as_secs_f64();
        assert_eq!(received, n);
        let cpu_ms = match (cpu0, process_cpu_seconds()) {
            (Some(a), Some(b)) => format!("{:.2}", 1000.0 * (b - a) / n as f64),
            _ => "-".to_string(),
        };
        println!(
            "| {n_lanes} | {size}x{size} | 1984 | {objects} | {n} | {:.0} | {cpu_ms} |",
            n as f64 / wall
        );
    }
    Ok(())
}
