//! Renderer tests on the available adapter (lavapipe on CI): goldens, depth, label counts,
//! edge cases, determinism and batching.

mod common;

use common::*;
use glam::Vec3;
use renderer::{RendererConfig, primitives};

#[test]
fn golden_single_objects() {
    let Some(mut r) = renderer(RendererConfig::with_size(64, 64)) else {
        return;
    };
    let cube = r.upload_mesh(&primitives::cube(0.5)).unwrap();
    let sphere = r.upload_mesh(&primitives::uv_sphere(0.3, 32, 32)).unwrap();
    let tex = r.upload_texture(&checker_texture(64, 8)).unwrap();
    let scenes = vec![
        scene(
            vec![object(
                cube,
                tilted(1.0, Vec3::ZERO),
                material([0.3, 0.8, 0.5], None),
                3,
                1,
            )],
            background([0.55, 0.5, 0.45], None),
        ),
        scene(
            vec![object(
                sphere,
                tilted(1.0, Vec3::ZERO),
                material([0.8, 0.3, 0.3], Some(tex)),
                5,
                1,
            )],
            background([0.4, 0.45, 0.6], Some(tex)),
        ),
    ];
    let images = r.render(&scenes).unwrap();
    check_golden("cube_flat", &images[0]);
    check_golden("sphere_textured", &images[1]);
}
