//! Renderer tests on the available adapter (lavapipe on CI, no skipping): goldens, analytic
//! depth, exact label counts, background-only and partly-outside scenes, 16 objects, batching
//! determinism, asset pools and error cases.

mod common;

use common::*;
use glam::{EulerRot, Mat4, Quat, Vec3};
use renderer::{
    Antialias, Camera, RenderError, RenderedImage, Renderer, RendererConfig, Scene, primitives,
};

/// A camera on +x looking at the origin with a 90 degree field of view: at distance 2 the
/// frame spans 4 m, so a 32-pixel image has 0.125 m pixels; image right is +y, image up is +z.
fn axis_camera() -> Camera {
    Camera {
        position: [2.0, 0.0, 0.0],
        target: [0.0, 0.0, 0.0],
        up: [0.0, 0.0, 1.0],
        fov_y_deg: 90.0,
        near: 0.1,
        far: 20.0,
    }
}

/// Transform of `primitives::quad(1.0)` (xy plane, facing +z) turned to face the camera on +x,
/// scaled to `size_y` x `size_z` metres and centred at `centre`.
fn facing_quad(centre: Vec3, size_y: f32, size_z: f32) -> Mat4 {
    // Quad x -> world y, quad y -> world z, quad normal z -> world x.
    Mat4::from_cols(
        glam::Vec4::new(0.0, size_y, 0.0, 0.0),
        glam::Vec4::new(0.0, 0.0, size_z, 0.0),
        glam::Vec4::new(1.0, 0.0, 0.0, 0.0),
        centre.extend(1.0),
    )
}

fn axis_scene(objects: Vec<renderer::ObjectInstance>) -> Scene {
    let mut s = scene(objects, background([0.5, 0.5, 0.5], None));
    s.camera = axis_camera();
    s.light.position = [1.5, 0.5, 1.0];
    s.background.center = [-3.0, 0.0, 0.0];
    s
}

fn pixel(img: &RenderedImage, x: u32, y: u32) -> usize {
    (y * img.width + x) as usize
}

#[test]
fn golden_scenes() {
    golden_scenes_with(true, "");
}

/// Shadows off renders exactly what the renderer drew before shadows existed: these goldens
/// were taken from that version and are never regenerated.
#[test]
fn golden_scenes_without_shadows_match_the_shadowless_renderer() {
    golden_scenes_with(false, "_no_shadows");
}

fn golden_scenes_with(shadows: bool, suffix: &str) {
    let mut config = RendererConfig::with_size(64, 64);
    config.shadows = shadows;
    let mut r = renderer(config);
    let cube = r.upload_mesh(&primitives::cube(0.5)).unwrap();
    let sphere = r.upload_mesh(&primitives::uv_sphere(0.3, 32, 32)).unwrap();
    let tex = r.upload_texture(&checker_texture(64, 8)).unwrap();
    let four = (0..4)
        .map(|j| {
            let offset = Vec3::new(0.0, -0.36 + 0.24 * j as f32, 0.1 * (j % 2) as f32 - 0.05);
            let mesh = if j % 2 == 0 { cube } else { sphere };
            let t = (j == 1).then_some(tex);
            let color = [0.2 + 0.2 * j as f32, 0.7 - 0.1 * j as f32, 0.4];
            object(
                mesh,
                tilted(0.4, offset),
                material(color, t),
                2 + j as u8,
                1 + j as u8,
            )
        })
        .collect();
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
        scene(four, background([0.6, 0.55, 0.5], Some(tex))),
    ];
    let images = r.render(&scenes).unwrap();
    check_golden(&format!("cube_flat{suffix}"), &images[0]);
    check_golden(&format!("sphere_textured{suffix}"), &images[1]);
    check_golden(&format!("four_objects{suffix}"), &images[2]);
}

#[test]
fn depth_of_facing_quad_and_background_is_exact() {
    let mut r = renderer(RendererConfig::with_size(32, 32));
    let quad = r.upload_mesh(&primitives::quad(1.0)).unwrap();
    // Facing quad 0.5 m in front of the origin: camera-space z = 1.5 everywhere on it.
    let obj = object(
        quad,
        facing_quad(Vec3::new(0.5, 0.0, 0.0), 1.0, 1.0),
        material([0.8, 0.2, 0.2], None),
        1,
        1,
    );
    let img = &r.render(&[axis_scene(vec![obj])]).unwrap()[0];
    let (mut on_quad, mut on_background) = (0, 0);
    for (i, (&d, &inst)) in img.depth.iter().zip(&img.instance).enumerate() {
        let expected = if inst == 1 { 1.5 } else { 5.0 };
        assert!(
            (d - expected).abs() < 1e-3,
            "pixel {i}: depth {d}, expected {expected} (instance {inst})"
        );
        if inst == 1 {
            on_quad += 1;
        } else {
            on_background += 1;
        }
    }
    // At 1.5 m a 1 m quad spans 1 / (2 * 1.5) of the frame: 32 / 3 = 10.67 px per side, so
    // 10.67^2 = 114 px of area; edge pixels half covered go to the nearer surface (the quad).
    assert!((100..=150).contains(&on_quad), "{on_quad} quad pixels");
    assert!(on_background > 0);
}

#[test]
fn depth_of_tilted_plane_matches_ray_intersection() {
    let mut r = renderer(RendererConfig::with_size(32, 32));
    let quad = r.upload_mesh(&primitives::quad(1.0)).unwrap();
    // A 3 m quad through the origin turned 40 degrees about z: its depth varies across the image.
    let rot = Mat4::from_rotation_z(40f32.to_radians());
    let transform = rot * facing_quad(Vec3::ZERO, 3.0, 3.0);
    let obj = object(quad, transform, material([0.5, 0.5, 0.9], None), 1, 1);
    let img = &r.render(&[axis_scene(vec![obj])]).unwrap()[0];
    let normal = (rot * glam::Vec4::X).truncate();
    let eye = Vec3::new(2.0, 0.0, 0.0);
    let (forward, right, up) = (-Vec3::X, Vec3::Y, Vec3::Z);
    let mut checked = 0;
    for y in 0..32 {
        for x in 0..32 {
            let i = pixel(img, x, y);
            // Only pixels whose 3x3 neighbourhood is all plane (no edge pixels).
            let interior = (x.max(1) - 1..=(x + 1).min(31)).all(|xx| {
                (y.max(1) - 1..=(y + 1).min(31)).all(|yy| img.instance[pixel(img, xx, yy)] == 1)
            });
            if !interior {
                continue;
            }
            let nx = 2.0 * (x as f32 + 0.5) / 32.0 - 1.0;
            let ny = 1.0 - 2.0 * (y as f32 + 0.5) / 32.0;
            let dir = forward + right * nx + up * ny; // tan(45 deg) = 1
            let t = -normal.dot(eye) / normal.dot(dir);
            let z = t * dir.dot(forward);
            assert!(
                (img.depth[i] - z).abs() < 1e-3,
                "pixel ({x}, {y}): depth {} expected {z}",
                img.depth[i]
            );
            checked += 1;
        }
    }
    assert!(checked > 200, "only {checked} interior pixels");
}

#[test]
fn label_pixel_counts_are_exact() {
    let mut r = renderer(RendererConfig::with_size(32, 32));
    let quad = r.upload_mesh(&primitives::quad(1.0)).unwrap();
    // At the origin plane pixels are 0.125 m and pixel edges fall on multiples of 0.125 m.
    let a = object(
        quad,
        facing_quad(Vec3::ZERO, 1.0, 1.0),
        material([0.9, 0.2, 0.2], None),
        3,
        1,
    );
    let b = object(
        quad,
        facing_quad(Vec3::new(0.0, 1.25, 1.0), 0.5, 0.25),
        material([0.2, 0.9, 0.2], None),
        7,
        2,
    );
    let img = &r.render(&[axis_scene(vec![a, b])]).unwrap()[0];
    assert_eq!(count(&img.instance, 1), 64); // 8 x 8 pixels
    assert_eq!(count(&img.segmentation, 3), 64);
    assert_eq!(count(&img.instance, 2), 8); // 4 x 2 pixels
    assert_eq!(count(&img.segmentation, 7), 8);
    assert_eq!(count(&img.instance, 0), 32 * 32 - 72);
    // Exact placement: quad a covers columns 12..20 and rows 12..20; b columns 24..28, rows 7..9.
    for y in 0..32 {
        for x in 0..32 {
            let expected = if (12..20).contains(&x) && (12..20).contains(&y) {
                1
            } else if (24..28).contains(&x) && (7..9).contains(&y) {
                2
            } else {
                0
            };
            assert_eq!(img.instance[pixel(img, x, y)], expected, "pixel ({x}, {y})");
        }
    }
    // Labels are never blended: only the ids that were drawn appear.
    assert!(img.segmentation.iter().all(|&c| [0, 3, 7].contains(&c)));
    // Anti-aliased colour: quad a's interior is red-dominant, background grey-ish.
    let c = &img.rgb[pixel(img, 16, 16) * 3..][..3];
    assert!(c[0] > c[1] + 40 && c[0] > c[2] + 40, "{c:?}");
}

#[test]
fn background_only_scene() {
    let mut r = renderer(RendererConfig::with_size(32, 32));
    let mut s = axis_scene(Vec::new());
    let img = &r.render(std::slice::from_ref(&s)).unwrap()[0];
    assert!(img.segmentation.iter().all(|&c| c == 0));
    assert!(img.instance.iter().all(|&c| c == 0));
    assert!(
        img.depth.iter().all(|d| (d - 5.0).abs() < 1e-3),
        "plane at 5 m"
    );
    assert!(
        img.rgb.iter().all(|&c| c > 20),
        "lit background is not black"
    );
    // A background beyond the far plane is not drawn: black, depth = +inf.
    s.background.center = [-30.0, 0.0, 0.0];
    let img = &r.render(&[s]).unwrap()[0];
    assert!(img.depth.iter().all(|d| *d == f32::INFINITY));
    assert!(img.rgb.iter().all(|&c| c == 0));
}

#[test]
fn object_partly_outside_frame_is_clipped_to_its_tile() {
    let mut config = RendererConfig::with_size(32, 32);
    config.batch = 4; // 2 x 2 atlas: the object's tile has neighbours on both sides.
    let mut r = renderer(config);
    let quad = r.upload_mesh(&primitives::quad(1.0)).unwrap();
    let sticking_out = |y: f32, z: f32| {
        object(
            quad,
            facing_quad(Vec3::new(0.0, y, z), 1.0, 1.0),
            material([0.2, 0.3, 0.9], None),
            4,
            1,
        )
    };
    let scenes = vec![
        axis_scene(Vec::new()),
        axis_scene(vec![sticking_out(2.0, -1.0)]), // right edge: 4 of 8 columns visible
        axis_scene(Vec::new()),
        axis_scene(vec![sticking_out(-1.0, -2.0)]), // bottom edge: 4 of 8 rows visible
    ];
    let images = r.render(&scenes).unwrap();
    assert_eq!(count(&images[1].instance, 1), 32);
    assert_eq!(count(&images[3].instance, 1), 32);
    for k in [0, 2] {
        assert_eq!(
            count(&images[k].instance, 0),
            32 * 32,
            "tile {k} got pixels of a neighbour"
        );
    }
    // The visible part is the 4 columns at the right edge, rows 20..28.
    for y in 20..28 {
        for x in 28..32 {
            assert_eq!(images[1].instance[pixel(&images[1], x, y)], 1);
        }
    }
}

#[test]
fn sixteen_objects_in_one_image() {
    let mut r = renderer(RendererConfig::with_size(64, 64));
    let cube = r.upload_mesh(&primitives::cube(0.12)).unwrap();
    let objects = (0..16)
        .map(|k| {
            let (i, j) = ((k % 4) as f32, (k / 4) as f32);
            let t = Mat4::from_rotation_translation(
                Quat::from_euler(EulerRot::XYZ, 0.3, 0.2 * k as f32, 0.5),
                Vec3::new(0.0, -0.39 + 0.26 * i, 0.3 - 0.2 * j),
            );
            object(
                cube,
                t,
                material([0.3, 0.5, 0.8], None),
                1 + (k % 10) as u8,
                1 + k as u8,
            )
        })
        .collect();
    let img = &r
        .render(&[scene(objects, background([0.5, 0.5, 0.5], None))])
        .unwrap()[0];
    for id in 1..=16u8 {
        let n = count(&img.instance, id);
        assert!(n > 15, "instance {id} has {n} pixels");
        let class = 1 + (id - 1) % 10;
        let i = img.instance.iter().position(|&v| v == id).unwrap_or(0);
        assert_eq!(img.segmentation[i], class, "class of instance {id}");
    }
    assert!(img.instance.iter().all(|&v| v <= 16));
}

fn determinism_scenes(r: &mut Renderer) -> Vec<Scene> {
    let cube = r.upload_mesh(&primitives::cube(0.4)).unwrap();
    let sphere = r.upload_mesh(&primitives::uv_sphere(0.25, 24, 16)).unwrap();
    let tex = r.upload_texture(&checker_texture(32, 4)).unwrap();
    (0..37)
        .map(|k| {
            let objects = (0..1 + k % 3)
                .map(|j| {
                    let mesh = if (k + j) % 2 == 0 { cube } else { sphere };
                    let t = Mat4::from_rotation_translation(
                        Quat::from_euler(EulerRot::XYZ, 0.1 * k as f32, 0.3 * j as f32, 0.7),
                        Vec3::new(0.0, -0.25 + 0.25 * j as f32, 0.05 * j as f32),
                    );
                    let texture = (k % 2 == 0).then_some(tex);
                    object(
                        mesh,
                        t,
                        material([0.7, 0.4, 0.2], texture),
                        1 + j as u8,
                        1 + j as u8,
                    )
                })
                .collect();
            scene(
                objects,
                background([0.4, 0.5, 0.6], (k % 3 == 0).then_some(tex)),
            )
        })
        .collect()
}

#[test]
fn same_scene_same_bytes_alone_or_in_any_batch() {
    let mut config = RendererConfig::with_size(24, 24);
    config.batch = 16; // 37 scenes = 3 submissions, the last one partial
    let mut r = renderer(config);
    let scenes = determinism_scenes(&mut r);
    let all = r.render(&scenes).unwrap();
    assert_eq!(all.len(), 37);
    for k in [0usize, 5, 17, 36] {
        let alone = r.render(&scenes[k..k + 1]).unwrap();
        assert!(
            alone[0] == all[k],
            "scene {k} differs alone vs in a batch of 37"
        );
    }
    // Reordered: the same scene at another position of another batch.
    let mut reversed = scenes.clone();
    reversed.reverse();
    let rev = r.render(&reversed).unwrap();
    for k in 0..37 {
        assert!(
            rev[36 - k] == all[k],
            "scene {k} differs when its batch position changes"
        );
    }
    // A fresh renderer with another batch size gives the same bytes.
    let mut config = RendererConfig::with_size(24, 24);
    config.batch = 37;
    let mut r2 = renderer(config);
    let scenes2 = determinism_scenes(&mut r2);
    assert_eq!(scenes2, scenes);
    assert!(
        r2.render(&scenes2).unwrap() == all,
        "batch 37 vs batch 16 differ"
    );
}

#[test]
fn render_stream_delivers_in_order_and_reports_sink_errors() {
    let mut config = RendererConfig::with_size(16, 16);
    config.batch = 8;
    config.frames_in_flight = 3;
    let mut r = renderer(config);
    let scenes = determinism_scenes(&mut r);
    let expected = r.render(&scenes).unwrap();
    let mut got = Vec::new();
    r.render_stream(scenes.iter().cloned(), |i, img| {
        got.push((i, img));
        Ok::<(), String>(())
    })
    .unwrap();
    assert_eq!(got.len(), 37);
    for (k, (i, img)) in got.iter().enumerate() {
        assert_eq!(*i, k);
        assert!(*img == expected[k]);
    }
    let err = r
        .render_stream(scenes.iter().cloned(), |i, _| {
            if i == 10 { Err("disk full") } else { Ok(()) }
        })
        .unwrap_err();
    assert!(
        matches!(err, renderer::StreamError::Sink { index: 10, .. }),
        "{err}"
    );
    // The renderer is still usable after an aborted stream.
    assert!(r.render(&scenes[..3]).unwrap() == expected[..3]);
    let stats = r.stats();
    assert!(stats.images >= 37 && stats.batches > 0);
}

#[test]
fn msaa_and_supersampling_agree_on_labels_and_depth() {
    let mut out = Vec::new();
    for antialias in [Antialias::Msaa, Antialias::Supersample] {
        let mut config = RendererConfig::with_size(32, 32);
        config.antialias = antialias;
        let mut r = renderer(config);
        let quad = r.upload_mesh(&primitives::quad(1.0)).unwrap();
        let obj = object(
            quad,
            facing_quad(Vec3::ZERO, 1.0, 1.0),
            material([0.9, 0.2, 0.2], None),
            3,
            1,
        );
        out.push(r.render(&[axis_scene(vec![obj])]).unwrap().remove(0));
    }
    assert_eq!(out[0].instance, out[1].instance);
    assert_eq!(out[0].segmentation, out[1].segmentation);
    for (a, b) in out[0].depth.iter().zip(&out[1].depth) {
        assert!((a - b).abs() < 1e-3);
    }
}

#[test]
fn pools_hold_thousands_of_meshes_and_hundreds_of_textures() {
    let mut config = RendererConfig::with_size(16, 16);
    config.texture_size = 32;
    let mut r = renderer(config);
    let small = primitives::uv_sphere(0.3, 12, 8); // 168 triangles
    let mut last_mesh = None;
    for _ in 0..2000 {
        last_mesh = Some(r.upload_mesh(&small).unwrap());
    }
    let mut last_tex = None;
    for k in 0..300 {
        last_tex = Some(r.upload_texture(&checker_texture(32, 2 + k % 5)).unwrap());
    }
    assert_eq!(r.mesh_count(), 2000);
    assert_eq!(r.texture_count(), 300);
    let (mesh, tex) = (last_mesh.unwrap(), last_tex.unwrap());
    assert_eq!((mesh.0, tex.0), (1999, 299));
    let s = scene(
        vec![object(
            mesh,
            Mat4::IDENTITY,
            material([0.5, 0.5, 0.5], Some(tex)),
            2,
            1,
        )],
        background([0.5, 0.5, 0.5], Some(tex)),
    );
    let img = &r.render(&[s]).unwrap()[0];
    assert!(count(&img.instance, 1) > 20);
}

#[test]
fn bad_config_values_are_named() {
    type Edit = Box<dyn Fn(&mut RendererConfig)>;
    let cases: [(&str, Edit); 5] = [
        ("width", Box::new(|c| c.width = 0)),
        ("height", Box::new(|c| c.height = 9000)),
        ("samples", Box::new(|c| c.samples = 3)),
        ("batch", Box::new(|c| c.batch = 0)),
        ("texture_size", Box::new(|c| c.texture_size = 100)),
    ];
    for (field, edit) in cases {
        let mut config = RendererConfig::default();
        edit(&mut config);
        let err = Renderer::new(config).err().expect("bad config accepted");
        assert!(
            matches!(&err, RenderError::InvalidConfig { field: f, .. } if *f == field),
            "{field}: {err}"
        );
        assert!(err.to_string().contains(field), "{err}");
    }
    let mut config = RendererConfig::with_size(16, 16);
    config.adapter = Some("no-such-adapter-xyz".into());
    let err = Renderer::new(config)
        .err()
        .expect("unknown adapter accepted");
    let text = err.to_string();
    assert!(matches!(err, RenderError::AdapterNotFound { .. }), "{text}");
    assert!(
        text.contains("no-such-adapter-xyz") && text.contains("available"),
        "{text}"
    );
}

#[test]
fn adapter_chosen_by_name_substring() {
    let adapters = renderer::list_adapters();
    assert!(
        !adapters.is_empty(),
        "no wgpu adapter (install mesa-vulkan-drivers)"
    );
    let name = adapters[0].name.clone();
    let mut config = RendererConfig::with_size(16, 16);
    config.adapter = Some(name.to_uppercase()[..name.len().min(6)].to_string());
    let r = renderer(config);
    assert!(
        r.adapter()
            .name
            .to_lowercase()
            .contains(&name.to_lowercase()[..name.len().min(6)])
    );
}

#[test]
fn bad_assets_and_handles_are_rejected_clearly() {
    let mut r = renderer(RendererConfig::with_size(16, 16));
    let mut mesh = primitives::cube(0.5);
    mesh.indices[5] = 99;
    let err = r.upload_mesh(&mesh).unwrap_err().to_string();
    assert!(
        err.contains("index 5 is 99") && err.contains("24 vertices"),
        "{err}"
    );
    let bad = dtd_textures::Texture {
        size: 8,
        rgba: vec![0; 10],
    };
    let err = r.upload_texture(&bad).unwrap_err().to_string();
    assert!(err.contains("size 8 needs 256 RGBA bytes, got 10"), "{err}");
    // A texture of another size is resized to the layer size.
    let id = r.upload_texture(&checker_texture(16, 2)).unwrap();
    assert_eq!(id.0, 0);
    assert_eq!(r.mesh_count(), 0);
    let cube = r.upload_mesh(&primitives::cube(0.5)).unwrap();
    let mut s = scene(
        vec![object(cube, Mat4::IDENTITY, material([0.5; 3], None), 1, 1)],
        background([0.5; 3], None),
    );
    s.objects[0].mesh = renderer::MeshId(7);
    let err = r.render(std::slice::from_ref(&s)).unwrap_err();
    assert!(
        matches!(
            err,
            RenderError::InvalidMeshHandle {
                mesh: 7,
                uploaded: 1,
                ..
            }
        ),
        "{err}"
    );
    s.objects[0].mesh = cube;
    s.background.texture = Some(renderer::TextureId(3));
    let err = r.render(std::slice::from_ref(&s)).unwrap_err().to_string();
    assert!(err.contains("background uses texture 3"), "{err}");
    s.background.texture = None;
    s.camera.target = s.camera.position;
    let err = r.render(std::slice::from_ref(&s)).unwrap_err().to_string();
    assert!(err.contains("scene 0") && err.contains("camera"), "{err}");
    // Still usable afterwards.
    s.camera = Camera::paper_default();
    assert_eq!(r.render(&[s]).unwrap().len(), 1);
}

#[test]
fn no_adapter_error_names_the_package() {
    let err = RenderError::NoAdapter {
        found: "none".into(),
    }
    .to_string();
    assert!(
        err.contains("mesa-vulkan-drivers") && err.contains("none"),
        "{err}"
    );
}

#[test]
fn culling_never_removes_visible_surfaces() {
    // Closed meshes are drawn with back-face culling chosen from their winding and the sign of
    // the transform; open ones two-sided. Every variant must cover the same pixels.
    let mut r = renderer(RendererConfig::with_size(32, 32));
    let cube = primitives::cube(0.5);
    let mut inward = cube.clone();
    for t in inward.indices.chunks_exact_mut(3) {
        t.swap(1, 2);
    }
    let mut open = cube.clone();
    open.indices.truncate(30); // 5 of 6 faces: an open box
    let ids = [cube, inward, open].map(|m| r.upload_mesh(&m).unwrap());
    let rot = Mat4::from_euler(EulerRot::XYZ, 0.4, 0.3, 0.8);
    let mirror = Mat4::from_scale(Vec3::new(-1.0, 1.0, 1.0));
    let variants = [
        (ids[0], rot),
        (ids[1], rot),
        (ids[0], rot * mirror), // the cube is symmetric: same shape, winding turned around
        (ids[1], rot * mirror),
    ];
    let scenes: Vec<Scene> = variants
        .iter()
        .map(|&(mesh, t)| {
            let obj = object(mesh, t, material([0.6, 0.4, 0.3], None), 2, 1);
            scene(vec![obj], background([0.5; 3], None))
        })
        .collect();
    let images = r.render(&scenes).unwrap();
    let reference = &images[0];
    assert!(count(&reference.instance, 1) > 200);
    for (k, img) in images.iter().enumerate().skip(1) {
        assert_eq!(
            img.instance, reference.instance,
            "variant {k}: labels differ"
        );
        for (a, b) in img.depth.iter().zip(&reference.depth) {
            assert!((a - b).abs() < 1e-4, "variant {k}: depth differs");
        }
    }
    // An open box seen through its missing face (-z, turned towards the camera) shows its
    // inside, so its silhouette is the closed box's: open meshes are never culled.
    let t = Mat4::from_rotation_y(-std::f32::consts::FRAC_PI_2) * Mat4::from_rotation_x(0.3);
    let img = &r
        .render(&[scene(
            vec![object(ids[2], t, material([0.6, 0.4, 0.3], None), 2, 1)],
            background([0.5; 3], None),
        )])
        .unwrap()[0];
    let closed = &r
        .render(&[scene(
            vec![object(ids[0], t, material([0.6, 0.4, 0.3], None), 2, 1)],
            background([0.5; 3], None),
        )])
        .unwrap()[0];
    assert_eq!(img.instance, closed.instance, "open box silhouette differs");
}

#[test]
fn multi_renderer_matches_single_renderer() {
    let mut config = RendererConfig::with_size(24, 24);
    config.batch = 8; // 37 scenes = 5 batches spread over the lanes
    let mut single = renderer(config.clone());
    let scenes = determinism_scenes(&mut single);
    let expected = single.render(&scenes).unwrap();
    let mut multi = renderer::MultiRenderer::new(config, 3).unwrap();
    assert_eq!(multi.lanes(), 3);
    let scenes_multi = {
        // Same uploads in the same order give the same handles on every lane.
        let cube = multi.upload_mesh(&primitives::cube(0.4)).unwrap();
        let sphere = multi
            .upload_mesh(&primitives::uv_sphere(0.25, 24, 16))
            .unwrap();
        let tex = multi.upload_texture(&checker_texture(32, 4)).unwrap();
        assert_eq!((cube.0, sphere.0, tex.0), (0, 1, 0));
        scenes.clone()
    };
    let got = multi.render(&scenes_multi).unwrap();
    assert!(
        got == expected,
        "multi-lane images differ from the single renderer's"
    );
    let mut order = Vec::new();
    multi
        .render_stream(scenes.iter().cloned(), |i, img| {
            order.push(i);
            assert!(img == expected[i]);
            Ok::<(), String>(())
        })
        .unwrap();
    assert_eq!(order, (0..37).collect::<Vec<_>>());
    // A bad scene in a later batch reports its absolute index.
    let mut bad = scenes.clone();
    bad[20].objects[0].mesh = renderer::MeshId(99);
    let err = multi.render(&bad).unwrap_err();
    assert!(
        matches!(err, RenderError::InvalidMeshHandle { scene: 20, .. }),
        "{err}"
    );
    let err = multi
        .render_stream(scenes.iter().cloned(), |i, _| {
            if i == 30 { Err("full") } else { Ok(()) }
        })
        .unwrap_err();
    assert!(
        matches!(err, renderer::StreamError::Sink { index: 30, .. }),
        "{err}"
    );
    assert!(multi.render(&scenes[..2]).unwrap() == expected[..2]);
    assert!(multi.stats().images >= 37);
}
