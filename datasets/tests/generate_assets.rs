//! `render` on ShapeNet-layout models: a broken OBJ is skipped and reported, never fatal.

use datasets::generate::{self, RenderJob};
use datasets::{Dataset, SceneKind, Split};
use dtd_textures::ProceduralTextures;
use shapenet_loader::{Class, Layout, LoadOptions, ModelSource, ProceduralModels, ShapeNet};

#[test]
fn broken_shapenet_model_is_skipped_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shapenet");
    shapenet_loader::export_shapenet(&ProceduralModels::new(30), &root, 30, Layout::V2).unwrap();
    let shapenet = ShapeNet::open(&root, LoadOptions::default()).unwrap();
    // Break one train model of the chair class.
    let victim = shapenet
        .models(Class::Chair)
        .into_iter()
        .find(|k| k.split() == shapenet_loader::Split::Train)
        .unwrap();
    let obj = root
        .join(victim.path_id())
        .join("models")
        .join("model_normalized.obj");
    assert!(obj.is_file(), "{}", obj.display());
    std::fs::write(&obj, "v 0 0 0\nv 1 0 0\nf 1 2 9\n").unwrap();

    let mut job = RenderJob::new("-C--".parse().unwrap(), SceneKind::Single, 40);
    job.resolution = Some(32);
    job.shard_size = 16;
    job.models_per_class = 30; // try every model, the broken one included
    job.texture_size = 32;
    let out = tmp.path().join("out");
    let summary =
        generate::render_dataset(&job, &shapenet, &ProceduralTextures::new(8), &out, &|_| {})
            .unwrap();
    assert!(summary.merged);
    assert_eq!(
        summary.skipped_models.len(),
        1,
        "{:?}",
        summary.skipped_models
    );
    let skipped = &summary.skipped_models[0];
    assert_eq!(skipped.name, victim.path_id());
    assert!(!skipped.reason.is_empty());
    assert!(
        skipped.message.contains("model_normalized.obj"),
        "{}",
        skipped.message
    );
    let ds = Dataset::open(&out).unwrap();
    assert_eq!(ds.manifest().assets.models.kind, "shapenet");
    let train = ds.split(Split::Train).unwrap();
    assert_eq!(train.len(), 34);
    for k in 0..train.num_shards() {
        for s in train.read_shard(k).unwrap() {
            let o = &s.meta["objects"][0];
            assert!(
                !(o["synset"] == Class::Chair.synset() && o["model_id"] == victim.id.as_str()),
                "the broken model was rendered"
            );
        }
    }
}
