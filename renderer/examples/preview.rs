//! Renders a montage of paper-like scenes (colour, labels, depth) to a PNG for eyeballing.
//!
//! Usage: `cargo run -p renderer --example preview --release -- OUT.png [SIZE]`
//! Input: nothing (procedural cube/sphere meshes and checker textures). Output: a PNG with one
//! row per scene (colour | segmentation | instance | depth), upscaled 3x.

use dtd_textures::Texture;
use glam::{EulerRot, Mat4, Quat, Vec3};
use renderer::{
    Background, Camera, Material, ObjectInstance, PointLight, Renderer, RendererConfig, Scene,
    primitives,
};

fn texture(size: u32, seed: u32) -> Texture {
    let mut rgba = Vec::with_capacity((size * size * 4) as usize);
    let cell = size / (4 + 2 * seed);
    for y in 0..size {
        for x in 0..size {
            let check = ((x / cell) + (y / cell)) % 2;
            let noise = ((x * 7919 + y * 104_729 + seed * 31) % 61) as u8;
            let px = if check == 0 {
                [200 + noise / 2, 170 + noise, 90, 255]
            } else {
                [60 + noise, 45, 110 + noise, 255]
            };
            rgba.extend_from_slice(&px);
        }
    }
    Texture { size, rgba }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).cloned().unwrap_or_else(|| "preview.png".into());
    let size: u32 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(64);
    let mut r = Renderer::new(RendererConfig::with_size(size, size))?;
    eprintln!("adapter: {}", r.adapter());
    let cube = r.upload_mesh(&primitives::cube(0.45))?;
    let sphere = r.upload_mesh(&primitives::uv_sphere(0.3, 32, 32))?;
    let t1 = r.upload_texture(&texture(256, 1))?;
    let t2 = r.upload_texture(&texture(256, 3))?;
    let a = -0.5f32;
    let light = PointLight {
        position: [0.3, 1.5 * a.cos(), 1.5 * (-a).sin()],
        intensity: [1.0; 3],
    };
    let mut scenes = Vec::new();
    let colors = [
        [0.4, 0.85, 0.5],
        [0.8, 0.75, 0.3],
        [0.3, 0.6, 0.9],
        [0.85, 0.3, 0.4],
    ];
    for k in 0..8usize {
        let textured = k >= 4;
        let n_obj = if size >= 128 { 4 } else { 1 };
        let objects = (0..n_obj)
            .map(|j| {
                let offset = if n_obj == 1 {
                    Vec3::ZERO
                } else {
                    Vec3::new(
                        0.0,
                        -0.45 + 0.3 * j as f32,
                        if j % 2 == 0 { 0.12 } else { -0.12 },
                    )
                };
                let rot = Quat::from_euler(
                    EulerRot::XYZ,
                    0.4 * k as f32,
                    0.7 * j as f32,
                    0.5 + 0.3 * k as f32,
                );
                let s = if n_obj == 1 { 1.0 } else { 0.45 };
                ObjectInstance {
                    mesh: if (k + j) % 2 == 0 { cube } else { sphere },
                    transform: Mat4::from_scale_rotation_translation(Vec3::splat(s), rot, offset)
                        .to_cols_array_2d(),
                    material: Material {
                        color: colors[(k + j) % 4],
                        texture: textured.then_some(if j % 2 == 0 { t1 } else { t2 }),
                        texture_mix: if textured { 0.4 } else { 0.0 },
                        texture_scale: 3.0,
                        specular: 0.4,
                    },
                    class_id: (1 + (k + j) % 10) as u8,
                    instance_id: (j + 1) as u8,
                }
            })
            .collect();
        scenes.push(Scene {
            camera: Camera::paper_default(),
            light,
            fill: 0.25,
            background: Background {
                color: colors[(k + 2) % 4].map(|c| c * 0.7),
                texture: textured.then_some(t2),
                texture_mix: if textured { 1.0 } else { 0.0 },
                texture_scale: 1.0,
                center: [-3.0, 0.0, -1.2],
            },
            objects,
        });
    }
    let images = r.render(&scenes)?;
    let scale = 3;
    let (w, h) = (size * scale, size * scale);
    let mut canvas = image::RgbImage::new(w * 4, h * scenes.len() as u32);
    let palette = |v: u8| -> [u8; 3] {
        if v == 0 {
            [0, 0, 0]
        } else {
            [
                (v as u32 * 97 % 256) as u8,
                (v as u32 * 57 % 256) as u8,
                (v as u32 * 151 % 256) as u8,
            ]
        }
    };
    for (row, img) in images.iter().enumerate() {
        for y in 0..h {
            for x in 0..w {
                let i = ((y / scale) * size + x / scale) as usize;
                let oy = row as u32 * h + y;
                let c = [img.rgb[3 * i], img.rgb[3 * i + 1], img.rgb[3 * i + 2]];
                canvas.put_pixel(x, oy, image::Rgb(c));
                canvas.put_pixel(w + x, oy, image::Rgb(palette(img.segmentation[i])));
                canvas.put_pixel(2 * w + x, oy, image::Rgb(palette(img.instance[i] * 40)));
                let d = img.depth[i];
                let g = if d.is_finite() {
                    (255.0 * (1.0 - (d - 0.5) / 4.5)).clamp(0.0, 255.0) as u8
                } else {
                    0
                };
                canvas.put_pixel(3 * w + x, oy, image::Rgb([g, g, g]));
            }
        }
    }
    canvas.save(&out)?;
    eprintln!("wrote {out}");
    Ok(())
}
