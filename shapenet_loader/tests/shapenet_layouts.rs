//! The ShapeNet path end to end: procedural models exported in both ShapeNetCore layouts,
//! re-opened, re-loaded and compared; directory errors; the mesh cache.

use std::path::Path;

use shapenet_loader::{
    Class, Layout, LoadOptions, ModelKey, ModelSource, ProceduralModels, ShapeNet, ShapeNetError,
    export_shapenet,
};

fn export(dir: &Path, per_class: usize, layout: Layout) -> ProceduralModels {
    let src = ProceduralModels::new(per_class);
    let summary = export_shapenet(&src, dir, per_class, layout).unwrap();
    assert_eq!(summary.files.len(), per_class * Class::COUNT);
    for f in &summary.files {
        assert!(f.ends_with(layout.model_file()), "{}", f.display());
        assert!(f.is_file());
    }
    src
}

fn round_trip(layout: Layout) {
    let dir = tempfile::tempdir().unwrap();
    let src = export(dir.path(), 3, layout);
    let sn = ShapeNet::open(dir.path(), LoadOptions::default()).unwrap();
    assert_eq!(sn.kind(), "shapenet");
    assert_eq!(sn.layout(), layout);
    assert_eq!(sn.len(), 30);
    assert!(sn.skipped().is_empty());
    for class in Class::ALL {
        let keys = sn.models(class);
        assert_eq!(keys, src.models(class), "{class}: same ids, same order");
        for key in keys {
            let a = src.load(&key).unwrap();
            let b = sn.load(&key).unwrap();
            assert_eq!(a.triangle_count(), b.triangle_count(), "{key}");
            let (alo, ahi) = a.bounds().unwrap();
            let (blo, bhi) = b.bounds().unwrap();
            for k in 0..3 {
                assert!((alo[k] - blo[k]).abs() < 1e-4, "{key}: {alo:?} vs {blo:?}");
                assert!((ahi[k] - bhi[k]).abs() < 1e-4, "{key}: {ahi:?} vs {bhi:?}");
            }
            // same frame: vertex by vertex (the OBJ keeps vertex order)
            for (p, q) in a.positions.iter().zip(&b.positions) {
                for k in 0..3 {
                    assert!((p[k] - q[k]).abs() < 1e-4, "{key}: {p:?} vs {q:?}");
                }
            }
            for (n, m) in a.normals.iter().zip(&b.normals) {
                let dot: f32 = (0..3).map(|k| n[k] * m[k]).sum();
                assert!(dot > 0.999, "{key}: normals {n:?} vs {m:?}");
            }
        }
    }
}

#[test]
fn v2_layout_round_trips() {
    round_trip(Layout::V2);
}

#[test]
fn v1_layout_round_trips() {
    round_trip(Layout::V1);
}

#[test]
fn shapenet_objs_are_y_up_with_front_minus_z() {
    let dir = tempfile::tempdir().unwrap();
    export(dir.path(), 1, Layout::V2);
    // a car in the exported file: longest along z (ShapeNet front axis), flat in y (up)
    let file = dir
        .path()
        .join(Class::Car.synset())
        .join("proc-000000/models/model_normalized.obj");
    let text = std::fs::read_to_string(file).unwrap();
    let mut lo = [f32::MAX; 3];
    let mut hi = [f32::MIN; 3];
    for line in text.lines().filter(|l| l.starts_with("v ")) {
        let v: Vec<f32> = line[2..]
            .split_whitespace()
            .map(|w| w.parse().unwrap())
            .collect();
        for k in 0..3 {
            lo[k] = lo[k].min(v[k]);
            hi[k] = hi[k].max(v[k]);
        }
    }
    let ext: Vec<f32> = (0..3).map(|k| hi[k] - lo[k]).collect();
    assert!(ext[2] > ext[0] && ext[2] > ext[1], "{ext:?}");
}

#[test]
fn directory_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let e = ShapeNet::open(&missing, LoadOptions::default()).unwrap_err();
    assert!(matches!(e, ShapeNetError::NotADirectory { .. }));
    assert!(e.to_string().contains("nope"), "{e}");

    export(dir.path(), 1, Layout::V2);
    let lamp = dir.path().join(Class::Lamp.synset());
    std::fs::remove_dir_all(&lamp).unwrap();
    let e = ShapeNet::open(dir.path(), LoadOptions::default()).unwrap_err();
    assert!(
        matches!(
            e,
            ShapeNetError::MissingClass {
                class: Class::Lamp,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains(&lamp.display().to_string()), "{e}");
    assert!(
        e.to_string()
            .contains("--classes airplane,bench,cabinet,car,chair,sofa"),
        "{e}"
    );

    std::fs::create_dir_all(lamp.join("empty_model")).unwrap();
    let e = ShapeNet::open(dir.path(), LoadOptions::default()).unwrap_err();
    assert!(
        matches!(
            e,
            ShapeNetError::EmptyClass {
                class: Class::Lamp,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains(&lamp.display().to_string()), "{e}");
}

#[test]
fn a_few_synsets_open_with_the_classes_that_are_there() {
    let dir = tempfile::tempdir().unwrap();
    export(dir.path(), 2, Layout::V2);
    let chosen = [Class::Airplane, Class::Car, Class::Chair];
    for class in Class::ALL.into_iter().filter(|c| !chosen.contains(c)) {
        std::fs::remove_dir_all(dir.path().join(class.synset())).unwrap();
    }

    // All ten: the error lists every missing class and the --classes that would work.
    let e = ShapeNet::open(dir.path(), LoadOptions::default()).unwrap_err();
    let ShapeNetError::MissingClass {
        class,
        missing,
        present,
        ..
    } = &e
    else {
        panic!("expected MissingClass, got {e}");
    };
    assert_eq!(*class, Class::Bench);
    assert_eq!(missing.len(), 7);
    assert_eq!(present, &chosen);
    let msg = e.to_string();
    assert!(
        msg.contains("7 of the requested classes are missing"),
        "{msg}"
    );
    assert!(msg.contains("--classes airplane,car,chair"), "{msg}");

    // The three present classes, in any order and with repeats: only they are listed.
    let sn = ShapeNet::open_classes(
        dir.path(),
        LoadOptions::default(),
        &[Class::Chair, Class::Airplane, Class::Car, Class::Chair],
    )
    .unwrap();
    assert_eq!(sn.len(), 6);
    for class in Class::ALL {
        let want = if chosen.contains(&class) { 2 } else { 0 };
        assert_eq!(sn.models(class).len(), want, "{class}");
    }
    let key = &sn.models(Class::Car)[0];
    assert!(sn.load(key).unwrap().triangle_count() > 0);

    // A requested class that is not there names itself.
    let e = ShapeNet::open_classes(
        dir.path(),
        LoadOptions::default(),
        &[Class::Car, Class::Lamp],
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            ShapeNetError::MissingClass {
                class: Class::Lamp,
                ..
            }
        ),
        "{e}"
    );

    // An empty root says it holds no class folder at all.
    let empty = tempfile::tempdir().unwrap();
    let e = ShapeNet::open(empty.path(), LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("no class folder at all"), "{e}");
}

#[test]
fn mixed_layouts_bad_models_and_stray_files() {
    let dir = tempfile::tempdir().unwrap();
    export(dir.path(), 2, Layout::V2);
    // a v1 model next to v2 ones, an empty model folder, a stray file, a broken OBJ
    let car = dir.path().join(Class::Car.synset());
    let v1 = car.join("v1model");
    std::fs::create_dir_all(&v1).unwrap();
    // the same model written in the v1 orientation (front +x instead of -z)
    let mesh = ProceduralModels::new(2)
        .load(&ModelKey::new(Class::Car, "proc-000000"))
        .unwrap();
    shapenet_loader::export::write_obj(&mesh, &v1.join("model.obj"), Layout::V1, "v1").unwrap();
    std::fs::create_dir_all(car.join("no_obj_here/models")).unwrap();
    std::fs::write(car.join("README.txt"), "not a model").unwrap();
    let broken = car.join("broken/models");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("model_normalized.obj"), "v 0 0 0\nf 1 2 3\n").unwrap();

    let sn = ShapeNet::open(dir.path(), LoadOptions::default()).unwrap();
    let keys = sn.models(Class::Car);
    let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["broken", "proc-000000", "proc-000001", "v1model"]);
    assert_eq!(sn.skipped().len(), 1);
    assert!(sn.skipped()[0].path.ends_with("no_obj_here"));
    let (a, b) = (
        sn.load(&ModelKey::new(Class::Car, "v1model")).unwrap(),
        sn.load(&ModelKey::new(Class::Car, "proc-000000")).unwrap(),
    );
    assert_eq!(a.triangle_count(), b.triangle_count());
    for (p, q) in a.positions.iter().zip(&b.positions) {
        assert!(
            (0..3).all(|k| (p[k] - q[k]).abs() < 1e-4),
            "v1 and v2 give one frame"
        );
    }
    let err = sn.load(&ModelKey::new(Class::Car, "broken")).unwrap_err();
    assert_eq!(err.reason(), "index_out_of_range");
    assert!(err.to_string().contains("model_normalized.obj"), "{err}");
    let err = sn.load(&ModelKey::new(Class::Car, "unknown")).unwrap_err();
    assert_eq!(err.reason(), "unknown_model");
}

#[test]
fn budget_simplifies_large_models() {
    let dir = tempfile::tempdir().unwrap();
    export(dir.path(), 1, Layout::V2);
    let opts = LoadOptions {
        triangle_budget: 150,
        cache_dir: None,
    };
    let sn = ShapeNet::open(dir.path(), opts).unwrap();
    for class in Class::ALL {
        let key = ModelKey::new(class, "proc-000000");
        let m = sn.load(&key).unwrap();
        assert!(m.triangle_count() <= 150, "{key}: {}", m.triangle_count());
        m.validate().unwrap();
        let (lo, hi) = m.bounds().unwrap();
        let ext = (0..3).map(|k| hi[k] - lo[k]).fold(0.0, f32::max);
        assert!(
            (ext - 0.7).abs() < 1e-4,
            "{key}: re-normalised after simplification? {ext}"
        );
    }
}

#[test]
fn cache_hits_return_the_identical_mesh_and_corrupt_entries_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    export(dir.path(), 1, Layout::V1);
    let opts = LoadOptions {
        triangle_budget: 400,
        cache_dir: Some(cache.path().to_path_buf()),
    };
    let sn = ShapeNet::open(dir.path(), opts.clone()).unwrap();
    let key = ModelKey::new(Class::Sofa, "proc-000000");
    let first = sn.load(&key).unwrap();
    let entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry.extension().unwrap(), "mesh");
    // a second source over the same files hits the entry: same bytes, entry not rewritten
    let before = std::fs::metadata(entry).unwrap().modified().unwrap();
    let second = ShapeNet::open(dir.path(), opts.clone())
        .unwrap()
        .load(&key)
        .unwrap();
    assert_eq!(first.to_bytes(), second.to_bytes());
    assert_eq!(
        std::fs::metadata(entry).unwrap().modified().unwrap(),
        before
    );

    // corrupt the entry: it is ignored and rewritten
    let mut bytes = std::fs::read(entry).unwrap();
    let n = bytes.len();
    bytes[n - 20] ^= 0xff;
    std::fs::write(entry, &bytes).unwrap();
    let third = sn.load(&key).unwrap();
    assert_eq!(first, third);
    assert_ne!(
        std::fs::read(entry).unwrap(),
        bytes,
        "corrupt entry rewritten"
    );

    // a different budget is a different entry
    let other = LoadOptions {
        triangle_budget: 100,
        ..opts
    };
    let m = ShapeNet::open(dir.path(), other)
        .unwrap()
        .load(&key)
        .unwrap();
    assert!(m.triangle_count() <= 100);
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 2);
}

#[test]
fn cache_serves_without_reparsing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    export(dir.path(), 1, Layout::V2);
    let opts = LoadOptions {
        triangle_budget: 5000,
        cache_dir: Some(cache.path().to_path_buf()),
    };
    let sn = ShapeNet::open(dir.path(), opts).unwrap();
    let key = ModelKey::new(Class::Table, "proc-000000");
    let first = sn.load(&key).unwrap();
    // replace the cache entry with a different valid mesh: a hit must return it, proving the
    // OBJ was not parsed again
    let entry = std::fs::read_dir(cache.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let other = shapenet_loader::procedural_mesh(Class::Lamp, 5);
    let stem = entry.file_stem().unwrap().to_str().unwrap().to_string();
    shapenet_loader::cache::write(cache.path(), &stem, &other).unwrap();
    let hit = sn.load(&key).unwrap();
    assert_eq!(hit, other);
    assert_ne!(hit, first);
}

#[test]
fn fingerprint_is_stable_and_content_sensitive() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    export(a.path(), 1, Layout::V2);
    export(b.path(), 1, Layout::V2);
    let fa = ShapeNet::open(a.path(), LoadOptions::default())
        .unwrap()
        .fingerprint();
    let fb = ShapeNet::open(b.path(), LoadOptions::default())
        .unwrap()
        .fingerprint();
    assert_eq!(fa, fb, "same content in another directory");
    let obj = b
        .path()
        .join(Class::Bench.synset())
        .join("proc-000000/models/model_normalized.obj");
    std::fs::write(&obj, std::fs::read_to_string(&obj).unwrap() + "# changed\n").unwrap();
    let fc = ShapeNet::open(b.path(), LoadOptions::default())
        .unwrap()
        .fingerprint();
    assert_ne!(fa, fc);
}

/// A dense, ShapeNet-like file (quads, several groups, a `../` mtllib, uvs with 3 components,
/// smoothing groups, no normals) inside an otherwise exported tree: simplified to the budget,
/// normalised, normals computed, and served from the cache the second time.
#[test]
fn dense_messy_model_is_simplified_and_cached() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    export(dir.path(), 1, Layout::V2);
    let model = dir.path().join(Class::Car.synset()).join("dense/models");
    std::fs::create_dir_all(&model).unwrap();
    let (nu, nv) = (160usize, 80usize);
    let mut text = String::from("# dense\nmtllib ../../../materials/car.mtl\n");
    for j in 0..=nv {
        let th = std::f32::consts::PI * j as f32 / nv as f32;
        for i in 0..nu {
            let ph = std::f32::consts::TAU * i as f32 / nu as f32;
            // a car-like ellipsoid: long along -z (v2 front), flat in y (up)
            text.push_str(&format!(
                "v {} {} {}\nvt 0.5 0.5 0\n",
                0.4 * th.sin() * ph.cos(),
                0.3 * th.cos(),
                2.0 * th.sin() * ph.sin()
            ));
        }
    }
    for j in 0..nv {
        if j % 20 == 0 {
            text.push_str(&format!("g part{j}\nusemtl paint{j}\ns 1\n"));
        }
        for i in 0..nu {
            let a = j * nu + i + 1;
            let b = j * nu + (i + 1) % nu + 1;
            text.push_str(&format!(
                "f {a}/{a} {b}/{b} {}/{} {}/{}\n",
                b + nu,
                b + nu,
                a + nu,
                a + nu
            ));
        }
    }
    std::fs::write(model.join("model_normalized.obj"), text).unwrap();
    let opts = LoadOptions {
        triangle_budget: 2000,
        cache_dir: Some(cache.path().to_path_buf()),
    };
    let sn = ShapeNet::open(dir.path(), opts).unwrap();
    let key = ModelKey::new(Class::Car, "dense");
    let m = sn.load(&key).unwrap();
    assert!(
        m.triangle_count() <= 2000 && m.triangle_count() > 500,
        "{}",
        m.triangle_count()
    );
    m.validate().unwrap();
    let (lo, hi) = m.bounds().unwrap();
    let ext: Vec<f32> = (0..3).map(|k| hi[k] - lo[k]).collect();
    // front (-z in the file) became +x: longest along x, then y (0.8 wide), then z (0.6 tall)
    assert!((ext[0] - 0.7).abs() < 1e-4 && ext[1] > ext[2], "{ext:?}");
    assert_eq!(sn.load(&key).unwrap(), m);
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
}
