//! Shadow and coverage tests with analytic answers: a box over a plane lit from straight above
//! casts a shadow of the size and position the geometry predicts (within a pixel); shadows off
//! reproduces the shadowless shading; an object in front hides the one behind in the instance
//! map, and the unoccluded counts match the pixel counts of each object rendered alone.

mod common;

use common::*;
use glam::{Mat4, Vec3};
use renderer::{Camera, RenderedImage, RendererConfig, Scene, primitives};

const SIZE: u32 = 128;
/// Camera, light and box geometry (metres, the plane at z = 0).
const CAMERA_HEIGHT: f32 = 4.0;
const FOV_DEG: f32 = 30.0;
const LIGHT_HEIGHT: f32 = 1.5;
const BOX_HALF: f32 = 0.2;
const BOX_CENTRE_HEIGHT: f32 = 0.7;

/// Camera straight above the origin looking down: image right is +x, image up is +y.
fn top_camera() -> Camera {
    Camera {
        position: [0.0, 0.0, CAMERA_HEIGHT],
        target: [0.0, 0.0, 0.0],
        up: [0.0, 1.0, 0.0],
        fov_y_deg: FOV_DEG,
        near: 0.1,
        far: 20.0,
    }
}

/// A grey box of side `2 * BOX_HALF` hovering over the plane z = 0 (the background, facing the
/// camera), the point light straight above both.
fn box_scene(r: &mut renderer::Renderer) -> Scene {
    let cube = r.upload_mesh(&primitives::cube(1.0)).unwrap();
    let mut mat = material([0.6, 0.6, 0.6], None);
    mat.specular = 0.0;
    let transform = Mat4::from_translation(Vec3::new(0.0, 0.0, BOX_CENTRE_HEIGHT))
        * Mat4::from_scale(Vec3::splat(2.0 * BOX_HALF));
    let mut s = scene(
        vec![object(cube, transform, mat, 1, 1)],
        background([0.7, 0.7, 0.7], None),
    );
    s.camera = top_camera();
    s.background.center = [0.0, 0.0, 0.0];
    s.light.position = [0.0, 0.0, LIGHT_HEIGHT];
    s.fill = 0.1;
    s
}

fn luma(img: &RenderedImage, x: u32, y: u32) -> f32 {
    let p = ((y * img.width + x) * 3) as usize;
    img.rgb[p..p + 3].iter().map(|&v| v as f32).sum::<f32>() / 3.0
}

/// Where the plane's brightness crosses the midpoint between the shadowed and lit levels,
/// walking outwards from the centre of the image along one half-row (`dir` = +1 or -1 in x),
/// in continuous pixel coordinates (pixel i spans [i, i + 1]).
fn shadow_edge(img: &RenderedImage, dir: i32) -> f32 {
    let y = SIZE / 2;
    let centre = SIZE as i32 / 2;
    let xs: Vec<u32> = (0..SIZE as i32 / 2)
        .map(|k| if dir > 0 { centre + k } else { centre - 1 - k } as u32)
        .filter(|&x| img.instance[(y * SIZE + x) as usize] == 0)
        .collect();
    let values: Vec<f32> = xs.iter().map(|&x| luma(img, x, y)).collect();
    let dark = values[..4].iter().cloned().fold(f32::INFINITY, f32::min);
    let lit = values.iter().cloned().fold(0.0f32, f32::max);
    assert!(
        lit - dark > 30.0,
        "no visible shadow: dark {dark}, lit {lit}"
    );
    let mid = 0.5 * (dark + lit);
    let k = values
        .iter()
        .position(|&v| v >= mid)
        .expect("the plane gets lit again");
    assert!(k > 0, "the first plane pixel is already lit");
    // Linear interpolation between pixel centres k-1 and k.
    let t = (mid - values[k - 1]) / (values[k] - values[k - 1]);
    let centre_of = |x: u32| x as f32 + 0.5;
    let (a, b) = (centre_of(xs[k - 1]), centre_of(xs[k]));
    a + t * (b - a)
}

#[test]
fn box_over_plane_casts_the_predicted_shadow() {
    let mut r = renderer(RendererConfig::with_size(SIZE, SIZE));
    let s = box_scene(&mut r);
    let img = r.render(&[s]).unwrap().remove(0);
    let _ = rgb_image(&img).save(std::env::temp_dir().join("renderer_box_shadow.png"));

    // The box's top face (nearest the light) spans the shadow: its edge at half-width
    // BOX_HALF, height h_t, projects from the light at height h_L to BOX_HALF * h_L / (h_L - h_t)
    // on the plane; the camera at height h_c sees that at NDC x = s / (h_c tan(fov / 2)).
    let top = BOX_CENTRE_HEIGHT + BOX_HALF;
    let half_shadow = BOX_HALF * LIGHT_HEIGHT / (LIGHT_HEIGHT - top);
    let ndc = half_shadow / (CAMERA_HEIGHT * (FOV_DEG.to_radians() / 2.0).tan());
    let right = (1.0 + ndc) / 2.0 * SIZE as f32;
    let left = (1.0 - ndc) / 2.0 * SIZE as f32;
    let measured_right = shadow_edge(&img, 1);
    let measured_left = shadow_edge(&img, -1);
    assert!(
        (measured_right - right).abs() <= 1.0,
        "right shadow edge at x = {measured_right:.2} px, expected {right:.2}"
    );
    assert!(
        (measured_left - left).abs() <= 1.0,
        "left shadow edge at x = {measured_left:.2} px, expected {left:.2}"
    );
    // The shadow is centred under the box: the same width on both sides of the centre.
    assert!(((measured_right - 64.0) - (64.0 - measured_left)).abs() <= 1.0);
    // Labels do not see the shadow: the box's own silhouette, nothing else.
    let box_pixels = count(&img.instance, 1);
    let box_ndc = BOX_HALF / ((CAMERA_HEIGHT - top) * (FOV_DEG.to_radians() / 2.0).tan());
    let expected = (box_ndc * SIZE as f32).powi(2);
    assert!(
        (box_pixels as f32 - expected).abs() < 4.0 * box_ndc * SIZE as f32,
        "box covers {box_pixels} pixels, expected about {expected:.0}"
    );
}

#[test]
fn shadows_change_colour_only() {
    let mut config = RendererConfig::with_size(SIZE, SIZE);
    let mut with = renderer(config.clone());
    config.shadows = false;
    let mut without = renderer(config);
    let a = {
        let s = box_scene(&mut with);
        with.render(&[s]).unwrap().remove(0)
    };
    let b = {
        let s = box_scene(&mut without);
        without.render(&[s]).unwrap().remove(0)
    };
    assert_eq!(a.segmentation, b.segmentation);
    assert_eq!(a.instance, b.instance);
    assert_eq!(a.depth, b.depth);
    assert!(a.rgb != b.rgb, "shadows changed nothing");
    // Without shadows the plane around the box is lit right up to the box.
    let y = SIZE / 2;
    let x = (0..SIZE)
        .rev()
        .find(|&x| b.instance[(y * SIZE + x) as usize] == 1)
        .unwrap()
        + 2;
    assert!(luma(&b, x, y) > luma(&a, x, y) + 30.0);
}

/// Two cubes on the camera axis, the front one smaller, hiding the middle of the back one.
fn occlusion_scene(r: &mut renderer::Renderer, front: bool, back: bool) -> Scene {
    let cube = r.upload_mesh(&primitives::cube(1.0)).unwrap();
    let mut objects = Vec::new();
    if back {
        objects.push(object(
            cube,
            Mat4::from_translation(Vec3::new(0.0, 0.0, 0.5)) * Mat4::from_scale(Vec3::splat(0.6)),
            material([0.8, 0.3, 0.3], None),
            2,
            1,
        ));
    }
    if front {
        objects.push(object(
            cube,
            Mat4::from_translation(Vec3::new(0.05, 0.1, 1.6)) * Mat4::from_scale(Vec3::splat(0.3)),
            material([0.3, 0.3, 0.8], None),
            3,
            2,
        ));
    }
    let mut s = scene(objects, background([0.5, 0.5, 0.5], None));
    s.camera = top_camera();
    s.background.center = [0.0, 0.0, 0.0];
    s.light.position = [0.5, 0.3, 3.0];
    s
}

#[test]
fn front_object_hides_the_back_one_and_coverage_counts_it() {
    for samples in [1, 4] {
        let mut config = RendererConfig::with_size(64, 64);
        config.coverage = true;
        config.samples = samples;
        let mut r = renderer(config);
        let both = occlusion_scene(&mut r, true, true);
        let back_alone = occlusion_scene(&mut r, false, true);
        let front_alone = occlusion_scene(&mut r, true, false);
        let images = r.render(&[both, back_alone, front_alone]).unwrap();
        let (both, back, front) = (&images[0], &images[1], &images[2]);

        // The front cube wins every pixel it covers alone; the back cube keeps the rest of its
        // own silhouette.
        let front_px = count(&front.instance, 2);
        let back_px = count(&back.instance, 1);
        assert!(front_px > 100 && back_px > front_px, "{front_px} {back_px}");
        for (i, &id) in front.instance.iter().enumerate() {
            if id == 2 {
                assert_eq!(both.instance[i], 2, "pixel {i}: the front cube is hidden");
            }
        }
        let visible_back = count(&both.instance, 1);
        assert!(visible_back < back_px, "the back cube is partly hidden");
        assert_eq!(count(&both.instance, 2), front_px);

        // Unoccluded counts: what each object covers when rendered alone.
        assert_eq!(
            both.unoccluded,
            vec![back_px as u32, front_px as u32],
            "samples {samples}"
        );
        assert_eq!(back.unoccluded, vec![back_px as u32]);
        assert_eq!(front.unoccluded, vec![front_px as u32]);
        let fraction = visible_back as f64 / both.unoccluded[0] as f64;
        assert!(fraction > 0.3 && fraction < 0.95, "{fraction}");
    }
}

#[test]
fn coverage_is_empty_unless_asked_for() {
    let mut r = renderer(RendererConfig::with_size(32, 32));
    let s = occlusion_scene(&mut r, true, true);
    let img = r.render(&[s]).unwrap().remove(0);
    assert!(img.unoccluded.is_empty());
}
