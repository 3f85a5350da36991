//! The procedural generator: determinism, validity, normalisation, outward normals, triangle
//! counts and class-plausible proportions.

use glam::Vec3;
use shapenet_loader::{Class, Mesh, ModelKey, ModelSource, ProceduralModels, procedural_mesh};

const SEEDS: u64 = 40;

fn extents(m: &Mesh) -> Vec3 {
    let (lo, hi) = m.bounds().unwrap();
    Vec3::from(hi) - Vec3::from(lo)
}

#[test]
fn same_seed_same_bytes_different_seeds_differ() {
    for class in Class::ALL {
        let a = procedural_mesh(class, 17).to_bytes();
        let b = procedural_mesh(class, 17).to_bytes();
        assert_eq!(a, b, "{class}");
        let distinct: std::collections::HashSet<Vec<u8>> = (0..20)
            .map(|s| procedural_mesh(class, s).to_bytes())
            .collect();
        assert_eq!(
            distinct.len(),
            20,
            "{class}: seeds must give distinct models"
        );
    }
    // classes do not share generators
    assert_ne!(
        procedural_mesh(Class::Chair, 3).to_bytes(),
        procedural_mesh(Class::Sofa, 3).to_bytes()
    );
}

#[test]
fn meshes_are_valid_normalised_and_within_triangle_range() {
    for class in Class::ALL {
        let mut min_t = usize::MAX;
        let mut max_t = 0;
        for seed in 0..SEEDS {
            let m = procedural_mesh(class, seed);
            m.validate()
                .unwrap_or_else(|e| panic!("{class} {seed}: {e}"));
            let (lo, hi) = m.bounds().unwrap();
            let e = extents(&m);
            assert!((e.max_element() - 0.7).abs() < 1e-5, "{class} {seed}: {e}");
            for k in 0..3 {
                assert!((lo[k] + hi[k]).abs() < 1e-5, "{class} {seed}: not centred");
            }
            for n in &m.normals {
                assert!((Vec3::from(*n).length() - 1.0).abs() < 1e-4);
            }
            min_t = min_t.min(m.triangle_count());
            max_t = max_t.max(m.triangle_count());
        }
        assert!(min_t >= 30, "{class}: only {min_t} triangles");
        assert!(max_t <= 3500, "{class}: {max_t} triangles");
    }
}

/// Every part is closed and wound outwards: the enclosed volume is positive and each vertex
/// normal agrees with the winding of the triangles that use it.
#[test]
fn normals_point_outwards() {
    for class in Class::ALL {
        for seed in 0..10 {
            let m = procedural_mesh(class, seed);
            let p = |i: u32| Vec3::from(m.positions[i as usize]);
            let mut volume = 0.0f64;
            let mut disagree = 0usize;
            for t in m.indices.chunks_exact(3) {
                let (a, b, c) = (p(t[0]), p(t[1]), p(t[2]));
                volume += a.dot(b.cross(c)) as f64 / 6.0;
                let face = (b - a).cross(c - a).normalize_or_zero();
                for &i in t {
                    if Vec3::from(m.normals[i as usize]).dot(face) <= 0.0 {
                        disagree += 1;
                    }
                }
            }
            assert!(volume > 0.0, "{class} {seed}: volume {volume}");
            assert_eq!(disagree, 0, "{class} {seed}: normals against winding");
        }
    }
}

#[test]
fn proportions_are_plausible_for_each_class() {
    for seed in 0..SEEDS {
        let e = |c| extents(&procedural_mesh(c, seed));
        let air = e(Class::Airplane);
        assert!(
            air.y > air.z && air.x > 2.0 * air.z,
            "airplane {seed}: {air}"
        );
        let bench = e(Class::Bench);
        assert!(bench.y > bench.x, "bench {seed}: {bench}");
        let cab = e(Class::Cabinet);
        assert!(cab.x < cab.y.max(cab.z), "cabinet {seed}: {cab}");
        let car = e(Class::Car);
        assert!(
            car.x == car.max_element() && car.z < 0.6 * car.x,
            "car {seed}: {car}"
        );
        let chair = e(Class::Chair);
        assert!(chair.z == chair.max_element(), "chair {seed}: {chair}");
        let lamp = e(Class::Lamp);
        assert!(lamp.z > 0.35, "lamp {seed}: {lamp}");
        let sofa = e(Class::Sofa);
        assert!(sofa.y == sofa.max_element(), "sofa {seed}: {sofa}");
        let boat = e(Class::Watercraft);
        assert!(boat.x > 2.0 * boat.y, "watercraft {seed}: {boat}");
        let moto = e(Class::Motorcycle);
        assert!(
            moto.x == moto.max_element() && moto.y < 0.5 * moto.x,
            "motorcycle {seed}: {moto}"
        );
    }
}

/// A table's top is its widest horizontal slice: vertices in the top 5% of the height span
/// (nearly) the full footprint.
#[test]
fn tables_have_a_top() {
    for seed in 0..SEEDS {
        let m = procedural_mesh(Class::Table, seed);
        let (lo, hi) = m.bounds().unwrap();
        let z_cut = hi[2] - 0.05 * (hi[2] - lo[2]);
        let top: Vec<_> = m.positions.iter().filter(|p| p[2] >= z_cut).collect();
        for k in 0..2 {
            let span = top.iter().map(|p| p[k]).fold(f32::MIN, f32::max)
                - top.iter().map(|p| p[k]).fold(f32::MAX, f32::min);
            assert!(
                span > 0.9 * (hi[k] - lo[k]),
                "table {seed}: top spans {span} on axis {k}"
            );
        }
    }
}

/// The front faces +x: the highest points of a chair and a sofa (the backrest) and of an
/// airplane (the tail fin) lie at -x.
#[test]
fn fronts_face_plus_x() {
    for seed in 0..SEEDS {
        let upper_mean_x = |m: &Mesh, frac: f32| {
            let (lo, hi) = m.bounds().unwrap();
            let z_cut = hi[2] - frac * (hi[2] - lo[2]);
            let pts: Vec<_> = m.positions.iter().filter(|p| p[2] >= z_cut).collect();
            pts.iter().map(|p| p[0]).sum::<f32>() / pts.len() as f32
        };
        let chair = procedural_mesh(Class::Chair, seed);
        assert!(
            upper_mean_x(&chair, 0.03) < -0.05,
            "chair {seed}: backrest not at -x"
        );
        let sofa = procedural_mesh(Class::Sofa, seed);
        assert!(
            upper_mean_x(&sofa, 0.03) < 0.0,
            "sofa {seed}: backrest not at -x"
        );
        let plane = procedural_mesh(Class::Airplane, seed);
        assert!(
            upper_mean_x(&plane, 0.03) < -0.1,
            "airplane {seed}: fin not at the tail"
        );
    }
}

#[test]
fn library_serves_the_generator_with_budget() {
    let lib = ProceduralModels::new(1000);
    assert_eq!(lib.kind(), "procedural");
    assert_eq!(lib.fingerprint(), ProceduralModels::new(1000).fingerprint());
    assert_ne!(lib.fingerprint(), ProceduralModels::new(999).fingerprint());
    for class in Class::ALL {
        let keys = lib.models(class);
        assert_eq!(keys.len(), 1000);
        assert_eq!(keys[42], ModelKey::new(class, "proc-000042"));
        assert_eq!(lib.load(&keys[42]).unwrap(), procedural_mesh(class, 42));
    }
    let small = ProceduralModels::new(10).with_triangle_budget(200);
    for class in Class::ALL {
        let m = small.load(&ModelKey::new(class, "proc-000001")).unwrap();
        assert!(m.triangle_count() <= 200, "{class}: {}", m.triangle_count());
        m.validate().unwrap();
    }
}
