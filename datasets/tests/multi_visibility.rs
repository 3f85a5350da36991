//! Multi-object visibility end to end (procedural assets, 48x48, lavapipe in CI): in the
//! overlap layout objects hide each other, `meta` records each object's visible pixels (equal
//! to its pixel count in the instance map) and visible fraction (over the pixels the renderer
//! counted for it unhidden), `present` follows `--min-visible`, and the manifest records the
//! layout, the limit and the shadow switch.

use datasets::generate::{self, RenderJob};
use datasets::scene_sampler::MultiLayout;
use datasets::{SceneKind, Split};
use dtd_textures::ProceduralTextures;
use shapenet_loader::ProceduralModels;

fn job(layout: MultiLayout, shadows: bool) -> RenderJob {
    let mut job = RenderJob::new("--V-".parse().unwrap(), SceneKind::Multi, 40);
    job.seed = 3;
    job.resolution = Some(48);
    job.shard_size = 20;
    job.models_per_class = 2;
    job.batch = Some(20);
    job.layout = layout;
    job.shadows = shadows;
    job.min_visible = 0.25;
    job
}

fn samples(job: &RenderJob) -> Vec<datasets::Sample> {
    let (models, textures) = (ProceduralModels::new(24), ProceduralTextures::new(8));
    generate::render_samples(job, &models, &textures, Split::Train, 0..20).unwrap()
}

#[test]
fn visible_fractions_match_pixel_counts_and_objects_hide_each_other() {
    let job = job(MultiLayout::Overlap, true);
    let mut hidden_some = 0;
    for s in samples(&job) {
        let meta = &s.meta;
        assert_eq!(meta["layout"], "overlap");
        let objects = meta["objects"].as_array().unwrap();
        let mut present_classes = Vec::new();
        for o in objects {
            let id = o["instance_id"].as_u64().unwrap() as u8;
            let visible = s.instance.iter().filter(|&&v| v == id).count() as u64;
            assert_eq!(o["visible_pixels"].as_u64(), Some(visible));
            let full = o["unoccluded_pixels"].as_u64().unwrap();
            assert!(visible <= full, "{visible} visible of {full}");
            let fraction = o["visible_fraction"].as_f64().unwrap();
            let expected = if full == 0 {
                0.0
            } else {
                (visible as f32 / full as f32) as f64
            };
            assert_eq!(fraction, expected);
            let present = o["present"].as_bool().unwrap();
            assert_eq!(present, visible > 0 && fraction >= 0.25);
            if present {
                present_classes.push(o["class"].as_u64().unwrap());
            }
            if fraction < 0.9 {
                hidden_some += 1;
            }
        }
        present_classes.sort();
        present_classes.dedup();
        let recorded: Vec<u64> = meta["present_classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(recorded, present_classes);
    }
    assert!(
        hidden_some >= 10,
        "only {hidden_some} objects of 80 are partly hidden"
    );
}

#[test]
fn manifest_records_layout_limit_and_shadows() {
    let (models, textures) = (ProceduralModels::new(24), ProceduralTextures::new(8));
    let j = job(MultiLayout::Spread, false);
    let m = j.manifest(&models, &textures).unwrap();
    assert_eq!(m.extra["layout"], "spread");
    assert_eq!(m.extra["min_visible"], 0.25);
    assert_eq!(m.extra["shadows"], false);
    let single = RenderJob::new("----".parse().unwrap(), SceneKind::Single, 10)
        .manifest(&models, &textures)
        .unwrap();
    assert_eq!(single.extra["shadows"], true);
    assert!(!single.extra.contains_key("layout"));
}

#[test]
fn spread_layout_keeps_the_smaller_objects() {
    let s = samples(&job(MultiLayout::Spread, true));
    for sample in &s {
        assert_eq!(sample.meta["layout"], "spread");
        for o in sample.meta["objects"].as_array().unwrap() {
            assert_eq!(o["scale"].as_f64(), Some(0.6f32 as f64));
        }
    }
}
