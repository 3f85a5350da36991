//! Renders a contact sheet of the procedural models of all ten classes, to judge by eye that
//! each class looks like what it is named.
//!
//! Usage: `cargo run -p renderer --release --example contact_sheet -- --out docs/img/models_sheet.png
//! [--per-class 6] [--size 128] [--first-seed 0] [--classes car,chair] [--yaw -40] [--no-shadows]`
//! Input: nothing (the embedded procedural generator of `shapenet_loader`). Output: a PNG grid,
//! one row per class in label order (airplane, bench, cabinet, car, chair, lamp, sofa, table,
//! watercraft, motorcycle), one column per seed, each cell rendered with the design's camera
//! and light, the object turned 40 degrees about z so it is seen three-quarter.

use std::path::PathBuf;

use glam::{Mat4, Vec3};
use renderer::{
    Background, Camera, Material, ObjectInstance, PointLight, Renderer, RendererConfig, Scene,
};
use shapenet_loader::{Class, procedural_mesh};

struct Args {
    out: PathBuf,
    per_class: u64,
    size: u32,
    first_seed: u64,
    classes: Vec<Class>,
    yaw_deg: f32,
    shadows: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        out: PathBuf::from("models_sheet.png"),
        per_class: 6,
        size: 128,
        first_seed: 0,
        classes: Class::ALL.to_vec(),
        yaw_deg: -40.0,
        shadows: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--out" => args.out = PathBuf::from(value("--out")?),
            "--per-class" => {
                args.per_class = value("--per-class")?
                    .parse()
                    .map_err(|e| format!("--per-class: expected a count: {e}"))?
            }
            "--size" => {
                args.size = value("--size")?
                    .parse()
                    .map_err(|e| format!("--size: expected pixels: {e}"))?
            }
            "--first-seed" => {
                args.first_seed = value("--first-seed")?
                    .parse()
                    .map_err(|e| format!("--first-seed: expected a seed: {e}"))?
            }
            "--yaw" => {
                args.yaw_deg = value("--yaw")?
                    .parse()
                    .map_err(|e| format!("--yaw: expected degrees: {e}"))?
            }
            "--classes" => {
                args.classes = value("--classes")?
                    .split(',')
                    .map(|name| {
                        Class::ALL
                            .into_iter()
                            .find(|c| c.name() == name)
                            .ok_or(format!("--classes: unknown class {name:?}"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--no-shadows" => args.shadows = false,
            "-h" | "--help" => {
                println!(
                    "contact_sheet --out PNG [--per-class N (6)] [--size PX (128)] [--first-seed S (0)] [--classes a,b,..] [--yaw DEG (-40)] [--no-shadows]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    if args.per_class == 0 || args.size < 16 || args.classes.is_empty() {
        return Err("--per-class must be >= 1, --size >= 16, --classes not empty".into());
    }
    Ok(args)
}

/// A distinct, mid-saturation colour per class.
fn class_color(class: Class) -> [f32; 3] {
    const C: [[f32; 3]; 10] = [
        [0.75, 0.78, 0.85],
        [0.72, 0.52, 0.32],
        [0.55, 0.42, 0.3],
        [0.8, 0.2, 0.2],
        [0.35, 0.55, 0.8],
        [0.9, 0.8, 0.4],
        [0.45, 0.7, 0.45],
        [0.65, 0.5, 0.4],
        [0.9, 0.9, 0.92],
        [0.45, 0.45, 0.55],
    ];
    C[class.index()]
}

fn main() {
    if let Err(e) = run() {
        eprintln!("contact_sheet: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let size = args.size;
    let mut config = RendererConfig::with_size(size, size);
    config.batch = config.batch.min(32);
    config.shadows = args.shadows;
    let mut r = Renderer::new(config)?;
    eprintln!("adapter: {}", r.adapter());
    let a = -0.5f32;
    let light = PointLight {
        position: [0.0, 1.5 * a.cos(), 1.5 * (-a).sin()],
        intensity: [1.0; 3],
    };
    let yaw = Mat4::from_rotation_z(args.yaw_deg.to_radians());
    let mut scenes = Vec::new();
    for &class in &args.classes {
        for k in 0..args.per_class {
            let mesh = procedural_mesh(class, args.first_seed + k);
            let id = r.upload_mesh(&mesh)?;
            scenes.push(Scene {
                camera: Camera::paper_default(),
                light,
                fill: 0.3,
                background: Background {
                    color: [0.93, 0.93, 0.9],
                    texture: None,
                    texture_mix: 0.0,
                    texture_scale: 1.0,
                    center: [-3.0, 0.0, -1.2],
                },
                objects: vec![ObjectInstance {
                    mesh: id,
                    transform: (yaw * Mat4::from_scale(Vec3::splat(0.8))).to_cols_array_2d(),
                    material: Material {
                        color: class_color(class),
                        texture: None,
                        texture_mix: 0.0,
                        texture_scale: 1.0,
                        specular: 0.3,
                    },
                    class_id: class.index() as u8 + 1,
                    instance_id: 1,
                }],
            });
        }
    }
    let images = r.render(&scenes)?;
    let cols = args.per_class as u32;
    let pad = 2;
    let mut sheet = image::RgbImage::from_pixel(
        cols * (size + pad) + pad,
        args.classes.len() as u32 * (size + pad) + pad,
        image::Rgb([40, 40, 40]),
    );
    for (i, img) in images.iter().enumerate() {
        let (row, col) = (i as u32 / cols, i as u32 % cols);
        let (ox, oy) = (pad + col * (size + pad), pad + row * (size + pad));
        for y in 0..img.height {
            for x in 0..img.width {
                let p = ((y * img.width + x) * 3) as usize;
                let px = [img.rgb[p], img.rgb[p + 1], img.rgb[p + 2]];
                sheet.put_pixel(ox + x, oy + y, image::Rgb(px));
            }
        }
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = args.out.with_extension("png.tmp");
    sheet
        .save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} classes x {} models, {} px cells)",
        args.out.display(),
        args.classes.len(),
        cols,
        size
    );
    Ok(())
}
