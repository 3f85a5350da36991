//! Throughput of the mesh sources: procedural generation per class, OBJ parsing (ShapeNet path)
//! with and without the disk cache, and meshopt simplification of a dense mesh.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use shapenet_loader::{
    Class, Layout, LoadOptions, ModelKey, ModelSource, ProceduralModels, ShapeNet, export_shapenet,
    geometry, procedural_mesh,
};

fn procedural(c: &mut Criterion) {
    let mut g = c.benchmark_group("procedural_mesh");
    for class in Class::ALL {
        let mut seed = 0u64;
        g.bench_function(class.name(), |b| {
            b.iter(|| {
                seed += 1;
                black_box(procedural_mesh(class, seed % 1000))
            })
        });
    }
    g.finish();
}

fn shapenet(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    export_shapenet(&ProceduralModels::new(4), dir.path(), 4, Layout::V2).expect("export");
    let plain = ShapeNet::open(dir.path(), LoadOptions::default()).expect("open");
    let cached = ShapeNet::open(
        dir.path(),
        LoadOptions {
            cache_dir: Some(cache.path().to_path_buf()),
            ..LoadOptions::default()
        },
    )
    .expect("open");
    let keys: Vec<ModelKey> = Class::ALL.iter().flat_map(|&c| plain.models(c)).collect();
    for k in &keys {
        cached.load(k).expect("warm cache");
    }
    let mut g = c.benchmark_group("shapenet_load");
    let mut i = 0;
    g.bench_function("parse_obj", |b| {
        b.iter(|| {
            i += 1;
            black_box(plain.load(&keys[i % keys.len()]).expect("load"))
        })
    });
    g.bench_function("cache_hit", |b| {
        b.iter(|| {
            i += 1;
            black_box(cached.load(&keys[i % keys.len()]).expect("load"))
        })
    });
    g.finish();
}

fn simplify(c: &mut Criterion) {
    // a dense UV sphere of ~100k triangles, like a large ShapeNet car
    let (nu, nv) = (320u32, 160u32);
    let mut pos = Vec::new();
    for j in 0..=nv {
        let th = std::f32::consts::PI * j as f32 / nv as f32;
        for i in 0..nu {
            let ph = std::f32::consts::TAU * i as f32 / nu as f32;
            pos.push([th.sin() * ph.cos(), th.sin() * ph.sin(), th.cos()]);
        }
    }
    let mut idx = Vec::new();
    for j in 0..nv {
        for i in 0..nu {
            let a = j * nu + i;
            let b = j * nu + (i + 1) % nu;
            idx.extend_from_slice(&[a, a + nu, b, b, a + nu, b + nu]);
        }
    }
    let mesh = geometry::with_computed_normals(&pos, &idx);
    let mut g = c.benchmark_group("simplify");
    g.sample_size(10);
    g.bench_function("100k_to_5000", |b| {
        b.iter(|| black_box(geometry::simplify(&mesh, 5000)))
    });
    g.finish();
}

criterion_group!(benches, procedural, shapenet, simplify);
criterion_main!(benches);
