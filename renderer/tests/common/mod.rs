//! Shared helpers of the renderer tests: adapter handling, scene builders, test textures,
//! golden-image comparison.
#![allow(dead_code)]

use std::path::PathBuf;

use dtd_textures::Texture;
use glam::{Mat4, Quat, Vec3};
use renderer::{
    Background, Camera, Material, MeshId, ObjectInstance, PointLight, RenderedImage, Renderer,
    RendererConfig, Scene, TextureId,
};

/// Creates a renderer on the default adapter. There is no skip: CI installs lavapipe
/// (`mesa-vulkan-drivers`), so a missing adapter fails the test with the adapter error.
pub fn renderer(config: RendererConfig) -> Renderer {
    match Renderer::new(config) {
        Ok(r) => r,
        Err(e) => panic!("renderer creation failed: {e}"),
    }
}

pub fn light() -> PointLight {
    PointLight {
        position: [0.7, 1.1, 1.0],
        intensity: [1.0, 1.0, 1.0],
    }
}

pub fn background(color: [f32; 3], texture: Option<TextureId>) -> Background {
    Background {
        color,
        texture,
        texture_mix: if texture.is_some() { 0.8 } else { 0.0 },
        texture_scale: 1.5,
        center: [-3.0, 0.0, -1.2],
    }
}

pub fn material(color: [f32; 3], texture: Option<TextureId>) -> Material {
    Material {
        color,
        texture,
        texture_mix: if texture.is_some() { 0.4 } else { 0.0 },
        texture_scale: 4.0,
        specular: 0.35,
    }
}

pub fn object(
    mesh: MeshId,
    transform: Mat4,
    material: Material,
    class_id: u8,
    instance_id: u8,
) -> ObjectInstance {
    ObjectInstance {
        mesh,
        transform: transform.to_cols_array_2d(),
        material,
        class_id,
        instance_id,
    }
}

pub fn scene(objects: Vec<ObjectInstance>, background: Background) -> Scene {
    Scene {
        camera: Camera::paper_default(),
        light: light(),
        fill: 0.25,
        background,
        objects,
    }
}

pub fn tilted(scale: f32, translation: Vec3) -> Mat4 {
    Mat4::from_scale_rotation_translation(
        Vec3::splat(scale),
        Quat::from_euler(glam::EulerRot::XYZ, 0.3, -0.2, 0.6),
        translation,
    )
}

/// Deterministic test texture: coloured checkerboard with a diagonal gradient.
pub fn checker_texture(size: u32, cells: u32) -> Texture {
    let mut rgba = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let cell = ((x * cells / size) + (y * cells / size)) % 2;
            let g = ((x + y) * 255 / (2 * size)) as u8;
            let px = if cell == 0 {
                [230, 200, g, 255]
            } else {
                [40, g, 120, 255]
            };
            rgba.extend_from_slice(&px);
        }
    }
    Texture { size, rgba }
}

pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
}

/// Colour image as an RGB PNG-able buffer.
pub fn rgb_image(img: &RenderedImage) -> image::RgbImage {
    image::RgbImage::from_raw(img.width, img.height, img.rgb.clone()).expect("rgb size")
}

/// Labels as a grayscale image: value = class * 16 + instance (exact for the test scenes).
pub fn label_image(img: &RenderedImage) -> image::GrayImage {
    let data = img
        .segmentation
        .iter()
        .zip(&img.instance)
        .map(|(c, i)| c.wrapping_mul(16).wrapping_add(*i))
        .collect();
    image::GrayImage::from_raw(img.width, img.height, data).expect("label size")
}

/// Compares against `golden/NAME.png` (colour, mean abs diff < 2 and max < 40 per channel)
/// and `golden/NAME_labels.png` (exact). `UPDATE_GOLDENS=1` rewrites the goldens instead.
pub fn check_golden(name: &str, img: &RenderedImage) {
    let dir = golden_dir();
    let color_path = dir.join(format!("{name}.png"));
    let label_path = dir.join(format!("{name}_labels.png"));
    if std::env::var_os("UPDATE_GOLDENS").is_some() {
        std::fs::create_dir_all(&dir).expect("golden dir");
        rgb_image(img).save(&color_path).expect("write golden");
        label_image(img).save(&label_path).expect("write golden");
        eprintln!("updated {}", color_path.display());
        return;
    }
    let golden = image::open(&color_path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDENS=1)", color_path.display()))
        .to_rgb8();
    assert_eq!(golden.dimensions(), (img.width, img.height), "{name}: size");
    let diffs: Vec<u32> = golden
        .as_raw()
        .iter()
        .zip(&img.rgb)
        .map(|(a, b)| (*a as i32 - *b as i32).unsigned_abs())
        .collect();
    let mean = diffs.iter().sum::<u32>() as f64 / diffs.len() as f64;
    let max = diffs.iter().copied().max().unwrap_or(0);
    if mean >= 2.0 || max >= 40 {
        let out = std::env::temp_dir().join(format!("renderer_{name}_actual.png"));
        let _ = rgb_image(img).save(&out);
        panic!(
            "{name}: colour differs from golden: mean abs diff {mean:.3} (limit 2), max {max} \
             (limit 40); actual image written to {}",
            out.display()
        );
    }
    let golden_labels = image::open(&label_path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDENS=1)", label_path.display()))
        .to_luma8();
    assert!(
        golden_labels.as_raw() == label_image(img).as_raw(),
        "{name}: label map differs from golden"
    );
}

pub fn count(values: &[u8], v: u8) -> usize {
    values.iter().filter(|x| **x == v).count()
}
