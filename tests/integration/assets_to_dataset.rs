//! ShapeNet-layout models + a DTD-layout texture folder -> `render_dataset` -> `Dataset`.
//!
//! Checks what only the whole chain can: the manifest names the libraries actually opened (kind
//! and fingerprint), every stored sample's labels agree with each other and with its metadata,
//! the models and textures a sample uses come from the asset split its dataset split must use
//! (train images: train assets; val/test images: held-out assets), and broken texture files are
//! reported (at open time by `Dtd`, at load time in the render summary), never rendered.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use datasets::generate::{RenderJob, render_dataset};
use datasets::{Dataset, SceneKind, Split, split_counts};
use dtd_textures::{Dtd, Family, TextureSource, procedural_texture};
use shapenet_loader::{
    Class, Layout, LoadOptions, ModelKey, ModelSource, ProceduralModels, ShapeNet,
};

use crate::read_split;

/// Procedural models exported per class (enough for every class to have a held-out model).
const MODELS_PER_CLASS: usize = 16;

/// Writes `DIR/images/CATEGORY/NAME.jpg` files made from procedural texture tiles, plus a file
/// that is not a JPEG at all (`cracked/not_an_image.jpg`) and a PNG cut off halfway
/// (`woven/truncated.png`). Returns the names of the good images.
fn write_fake_dtd(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let families = [
        Family::Banded,
        Family::Dotted,
        Family::Striped,
        Family::Woven,
    ];
    for family in families {
        let cat = dir.join("images").join(family.name());
        fs::create_dir_all(&cat).expect("create a DTD category");
        for k in 0..3u64 {
            let tex = procedural_texture(family, 100 + k, 48);
            let rgb: Vec<u8> = tex
                .rgba
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect();
            let img = image::RgbImage::from_raw(tex.size, tex.size, rgb).expect("tile size");
            let file = format!("{}_{k:04}.jpg", family.name());
            img.save(cat.join(&file)).expect("write a JPEG");
            names.push(format!("{}/{file}", family.name()));
        }
    }
    // A PNG cut off halfway through its pixel data: passes the header check at open time and
    // fails when decoded. (A JPEG cut off the same way decodes without an error: the decoder
    // fills the missing blocks, so it cannot stand in for a load-time failure.)
    let tex = procedural_texture(Family::Woven, 7, 48);
    let img = image::RgbaImage::from_raw(tex.size, tex.size, tex.rgba).expect("tile size");
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .expect("encode a PNG");
    let png = png.into_inner();
    fs::write(
        dir.join("images/woven/truncated.png"),
        &png[..png.len() / 2],
    )
    .expect("write");
    // Not an image at all: skipped when the folder is opened.
    let cracked = dir.join("images/cracked");
    fs::create_dir_all(&cracked).expect("create a DTD category");
    fs::write(cracked.join("not_an_image.jpg"), b"this is not a JPEG file").expect("write");
    names.sort();
    names
}

#[test]
fn shapenet_and_dtd_folders_render_into_a_consistent_dataset() {
    let tmp = tempfile::tempdir().expect("tempdir");

    // Models: procedural meshes exported as ShapeNetCore v2, read back by the ShapeNet loader.
    let shapenet_dir = tmp.path().join("ShapeNetCore.v2");
    let exported = shapenet_loader::export_shapenet(
        &ProceduralModels::new(MODELS_PER_CLASS),
        &shapenet_dir,
        MODELS_PER_CLASS,
        Layout::V2,
    )
    .expect("export ShapeNet v2");
    assert_eq!(exported.files.len(), 10 * MODELS_PER_CLASS);
    let shapenet = ShapeNet::open(&shapenet_dir, LoadOptions::default()).expect("open ShapeNet");
    assert_eq!(shapenet.kind(), "shapenet");
    assert!(shapenet.skipped().is_empty(), "{:?}", shapenet.skipped());
    for class in Class::ALL {
        let keys = shapenet.models(class);
        assert_eq!(keys.len(), MODELS_PER_CLASS, "{class}");
        for split in [shapenet_loader::Split::Train, shapenet_loader::Split::Held] {
            assert!(
                keys.iter().any(|k| k.split() == split),
                "{class} has no {split:?} model among the exported ones"
            );
        }
    }

    // Textures: JPEG files in the DTD layout.
    let dtd_dir = tmp.path().join("dtd");
    let good = write_fake_dtd(&dtd_dir);
    let dtd = Dtd::open(&dtd_dir).expect("open DTD");
    assert_eq!(dtd.kind(), "dtd");
    let skipped: Vec<&str> = dtd.skipped().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(skipped, ["cracked/not_an_image.jpg"]);
    assert!(
        dtd.skipped()[0].message.contains("not_an_image.jpg"),
        "{}",
        dtd.skipped()[0].message
    );
    let listed: Vec<String> = (0..dtd.len()).map(|i| dtd.name(i)).collect();
    let truncated = "woven/truncated.png".to_string();
    assert_eq!(listed.len(), good.len() + 1);
    assert!(listed.contains(&truncated), "{listed:?}");
    let held_textures = (0..dtd.len())
        .filter(|&i| dtd.split(i) == dtd_textures::Split::Held)
        .count();
    assert!(held_textures >= 1, "no held-out texture among {listed:?}");

    // Render: every texture of both splits is tried (the pool asks for more than there are).
    let mut job = RenderJob::new("TCVL".parse().expect("variant"), SceneKind::Single, 60);
    job.resolution = Some(32);
    job.shard_size = 16;
    job.models_per_class = 2;
    job.textures = 16;
    job.texture_size = 32;
    assert!(job.held_textures() >= held_textures);
    let out = tmp.path().join("data");
    let summary = render_dataset(&job, &shapenet, &dtd, &out, &|_| {}).expect("render");
    assert!(summary.merged, "{:?}", summary.merge_note);
    assert_eq!(summary.rendered, split_counts(60));
    assert!(
        summary.skipped_models.is_empty(),
        "{:?}",
        summary.skipped_models
    );
    let skipped: Vec<&str> = summary
        .skipped_textures
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(skipped, [truncated.as_str()]);
    assert!(
        summary.skipped_textures[0]
            .message
            .contains("truncated.png"),
        "{}",
        summary.skipped_textures[0].message
    );
    assert_eq!(summary.textures_loaded, good.len());
    // Up to `models_per_class` models per class and asset split, all of them loadable.
    let pool_models: usize = Class::ALL
        .iter()
        .flat_map(|&c| {
            let keys = shapenet.models(c);
            [shapenet_loader::Split::Train, shapenet_loader::Split::Held]
                .map(|split| keys.iter().filter(|k| k.split() == split).count().min(2))
        })
        .sum();
    assert_eq!(summary.models_loaded, pool_models);

    // The manifest records the libraries that were opened.
    let ds = Dataset::open(&out).expect("open the dataset");
    let m = ds.manifest();
    assert_eq!(m.variant, "TCVL");
    assert_eq!(m.resolution, [32, 32]);
    assert_eq!(m.objects_per_image, 1);
    assert_eq!(m.assets.models.kind, "shapenet");
    assert_eq!(m.assets.models.fingerprint, shapenet.fingerprint());
    assert_eq!(m.assets.textures.kind, "dtd");
    assert_eq!(m.assets.textures.fingerprint, dtd.fingerprint());
    assert_eq!(
        [m.splits.train, m.splits.val, m.splits.test],
        split_counts(60)
    );

    let mut indices = BTreeSet::new();
    let mut classes = BTreeSet::new();
    for split in Split::ALL {
        let samples = read_split(&out, split);
        assert_eq!(samples.len(), split_counts(60)[split as usize], "{split:?}");
        let (model_split, texture_split) = match split {
            Split::Train => (shapenet_loader::Split::Train, dtd_textures::Split::Train),
            Split::Val | Split::Test => (shapenet_loader::Split::Held, dtd_textures::Split::Held),
        };
        for s in &samples {
            let at = format!("{split:?} sample {}", s.meta["index"]);
            assert_eq!((s.width, s.height), (32, 32), "{at}");
            assert_eq!(s.meta["split"], split.name(), "{at}");
            assert!(indices.insert(s.meta["index"].as_u64().expect("index")));
            let class = Class::from_index(s.class as usize).expect("class index in 0..10");
            classes.insert(class);
            assert!((0..5).contains(&s.pose), "{at}: pose {}", s.pose);

            // Labels agree with each other: one object, its class id wherever it is visible.
            let object_value = s.class as u8 + 1;
            assert!(
                s.segmentation.iter().all(|&v| v == 0 || v == object_value),
                "{at}: segmentation values other than 0 and {object_value}"
            );
            assert!(
                s.segmentation.contains(&object_value),
                "{at}: object not visible"
            );
            for (p, (&seg, &inst)) in s.segmentation.iter().zip(&s.instance).enumerate() {
                assert_eq!(inst, u8::from(seg != 0), "{at}: pixel {p}");
            }

            // Metadata names an asset of the right library and asset split.
            let objects = s.meta["objects"].as_array().expect("objects");
            assert_eq!(objects.len(), 1, "{at}");
            let o = &objects[0];
            assert_eq!(o["class"], s.class, "{at}");
            assert_eq!(o["pose"], s.pose, "{at}");
            assert_eq!(o["class_id"], object_value, "{at}");
            assert_eq!(o["synset"], class.synset(), "{at}");
            let key = ModelKey {
                class,
                id: o["model_id"].as_str().expect("model_id").to_string(),
            };
            assert!(shapenet.models(class).contains(&key), "{at}: {key:?}");
            assert_eq!(key.split(), model_split, "{at}: {key:?}");
            for tex in [&o["texture"], &s.meta["background"]["texture"]] {
                let name = tex
                    .as_str()
                    .unwrap_or_else(|| panic!("{at}: untextured under T"));
                assert!(good.iter().any(|g| g == name), "{at}: texture {name}");
                assert_eq!(
                    dtd_textures::Split::of_name(name),
                    texture_split,
                    "{at}: {name}"
                );
            }
        }
    }
    assert_eq!(indices, (0..60).collect::<BTreeSet<u64>>());
    assert!(classes.len() >= 8, "only {classes:?} in 60 samples");
}
