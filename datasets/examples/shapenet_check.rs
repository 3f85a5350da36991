//! Checks the orientation convention of real ShapeNet OBJ files against the procedural models:
//! renders each given OBJ through our loader (`shapenet_loader::obj::load_obj_file`, which turns
//! it into our frame: z up, front +x) next to procedural models of the same class, once seen
//! from the front (yaw 0: the object's front faces the camera on +x) and once in the dataset's
//! canonical view (`scene_sampler::object_rotation`), with the design's camera and light. If the
//! convention is right, each real model shows the same side as the procedural ones in both
//! columns (a car's nose, a chair's seat front, an airplane's nose towards the camera in the
//! front view). It also prints each loaded mesh's bounding-box size along our x (front), y and z
//! (up).
//!
//! Usage: `cargo run -p datasets --release --example shapenet_check -- --out sheet.png
//! [--size 128] [--layout v2|v1] airplane=PATH.obj car=PATH.obj chair=PATH.obj ...`
//! The OBJ files are ShapeNetCore `model_normalized.obj` (v2) or `model.obj` (v1) files; they
//! are only read. Output: a PNG, one row per OBJ: real front view, real canonical view, then
//! procedural seed 0 front and canonical views.

use std::path::PathBuf;

use datasets::scene_sampler::{
    FILL, LIGHT_ANGLE, LIGHT_INTENSITY, OBJECT_SCALE, SPECULAR, light_position, object_rotation,
};
use glam::{Mat4, Vec3};
use renderer::{
    Background, Camera, Material, ObjectInstance, PointLight, Renderer, RendererConfig, Scene,
};
use shapenet_loader::{Class, Layout, procedural_mesh};

struct Args {
    out: PathBuf,
    size: u32,
    layout: Layout,
    models: Vec<(Class, PathBuf)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        out: PathBuf::from("shapenet_check.png"),
        size: 128,
        layout: Layout::V2,
        models: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--out" => args.out = PathBuf::from(value("--out")?),
            "--size" => {
                args.size = value("--size")?
                    .parse()
                    .map_err(|e| format!("--size: expected pixels: {e}"))?
            }
            "--layout" => {
                args.layout = match value("--layout")?.as_str() {
                    "v1" => Layout::V1,
                    "v2" => Layout::V2,
                    other => return Err(format!("--layout: expected v1 or v2, got {other:?}")),
                }
            }
            "-h" | "--help" => {
                println!(
                    "shapenet_check --out PNG [--size PX (128)] [--layout v2|v1] CLASS=OBJ..."
                );
                std::process::exit(0);
            }
            spec => {
                let (class, path) = spec
                    .split_once('=')
                    .ok_or(format!("expected CLASS=PATH.obj, got {spec:?}"))?;
                let class = Class::ALL
                    .into_iter()
                    .find(|c| c.name() == class || c.synset() == class)
                    .ok_or(format!("unknown class {class:?} (a name or a synset id)"))?;
                args.models.push((class, PathBuf::from(path)));
            }
        }
    }
    if args.models.is_empty() || args.size < 16 {
        return Err("give at least one CLASS=PATH.obj, and --size >= 16".into());
    }
    Ok(args)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("shapenet_check: {e}");
        std::process::exit(1);
    }
}

fn scene(mesh: renderer::MeshId, rotation: glam::Mat3, class: Class) -> Scene {
    Scene {
        camera: Camera::paper_default(),
        light: PointLight {
            position: light_position(LIGHT_ANGLE),
            intensity: [LIGHT_INTENSITY; 3],
        },
        fill: FILL,
        background: Background {
            color: [0.85, 0.85, 0.82],
            texture: None,
            texture_mix: 0.0,
            texture_scale: 1.0,
            center: [-3.0, 0.0, -1.2],
        },
        objects: vec![ObjectInstance {
            mesh,
            transform: (Mat4::from_mat3(rotation) * Mat4::from_scale(Vec3::splat(OBJECT_SCALE)))
                .to_cols_array_2d(),
            material: Material {
                color: [0.35, 0.55, 0.8],
                texture: None,
                texture_mix: 0.0,
                texture_scale: 1.0,
                specular: SPECULAR,
            },
            class_id: class.index() as u8 + 1,
            instance_id: 1,
        }],
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let size = args.size;
    let mut config = RendererConfig::with_size(size, size);
    config.batch = 16;
    let mut r = Renderer::new(config)?;
    let mut scenes = Vec::new();
    for (class, path) in &args.models {
        let real = shapenet_loader::obj::load_obj_file(
            path,
            args.layout,
            shapenet_loader::DEFAULT_TRIANGLE_BUDGET,
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        let (lo, hi) = real
            .bounds()
            .ok_or(format!("{}: empty mesh", path.display()))?;
        println!(
            "{:<10} {}: {} triangles, size x (front) {:.3}, y {:.3}, z (up) {:.3}",
            class.name(),
            path.display(),
            real.triangle_count(),
            hi[0] - lo[0],
            hi[1] - lo[1],
            hi[2] - lo[2]
        );
        let real = r.upload_mesh(&real)?;
        let procedural = r.upload_mesh(&procedural_mesh(*class, 0))?;
        for mesh in [real, procedural] {
            scenes.push(scene(mesh, glam::Mat3::IDENTITY, *class));
            scenes.push(scene(mesh, object_rotation(*class, None), *class));
        }
    }
    let images = r.render(&scenes)?;
    let (cols, pad) = (4u32, 2u32);
    let mut sheet = image::RgbImage::from_pixel(
        cols * (size + pad) + pad,
        args.models.len() as u32 * (size + pad) + pad,
        image::Rgb([40, 40, 40]),
    );
    for (i, img) in images.iter().enumerate() {
        let (row, col) = (i as u32 / cols, i as u32 % cols);
        let (ox, oy) = (pad + col * (size + pad), pad + row * (size + pad));
        for (k, px) in img.rgb.chunks_exact(3).enumerate() {
            let (x, y) = (k as u32 % img.width, k as u32 / img.width);
            sheet.put_pixel(ox + x, oy + y, image::Rgb([px[0], px[1], px[2]]));
        }
    }
    sheet
        .save(&args.out)
        .map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!(
        "wrote {} (rows: {}; columns: real front, real canonical, procedural front, procedural canonical)",
        args.out.display(),
        args.models
            .iter()
            .map(|(c, _)| c.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
