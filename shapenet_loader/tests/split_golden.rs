//! The model split is pinned: these keys must keep their side forever, on every machine, or
//! datasets rendered before and after a change would mix train and held-out models.
//! The expected sides were cross-checked with Python's `xxhash.xxh64(key, seed=0) % 100 < 80`.

use Split::{Held, Train};
use shapenet_loader::split::split_of;
use shapenet_loader::{Class, ModelKey, ModelSource, ProceduralModels, Split};

const GOLDEN: [(&str, Split); 40] = [
    ("02691156/proc-000000", Train),
    ("02691156/proc-000007", Train),
    ("02691156/proc-000014", Train),
    ("02828884/proc-000001", Held),
    ("02828884/proc-000008", Train),
    ("02828884/proc-000015", Train),
    ("02933112/proc-000002", Train),
    ("02933112/proc-000009", Train),
    ("02933112/proc-000016", Train),
    ("02958343/proc-000003", Held),
    ("02958343/proc-000010", Train),
    ("02958343/proc-000017", Train),
    ("03001627/proc-000004", Train),
    ("03001627/proc-000011", Train),
    ("03001627/proc-000018", Train),
    ("03636649/proc-000005", Train),
    ("03636649/proc-000012", Train),
    ("03636649/proc-000019", Held),
    ("04256520/proc-000006", Held),
    ("04256520/proc-000013", Train),
    ("04256520/proc-000020", Held),
    ("04379243/proc-000007", Train),
    ("04379243/proc-000014", Train),
    ("04379243/proc-000021", Held),
    ("04530566/proc-000008", Train),
    ("04530566/proc-000015", Held),
    ("04530566/proc-000022", Train),
    ("03790512/proc-000009", Train),
    ("03790512/proc-000016", Train),
    ("03790512/proc-000023", Held),
    ("02691156/1a04e3eab45ca15dd86060f189eb133", Train),
    ("02691156/10155655850468db78d106ce0a280f87", Train),
    ("02828884/1b0463c11f3cc1b3601104cd2d998272", Train),
    ("02933112/1a1b62a38b2584874c62bee40dcdc539", Train),
    ("02958343/1a0bc9ab92c915167ae33d942430658c", Held),
    ("02958343/100715345ee54d7ae38b52b4ee9d36a3", Train),
    ("03001627/1006be65e7bc937e9141f9b58470d646", Train),
    ("03636649/1a5ebc8575a4e5edcc901650bbbbb0b5", Held),
    ("04256520/1037fd31d12178d396f164a988ef37cc", Train),
    ("04379243/1011e1c9812b84d2a9ed7bb5b55809f8", Train),
];

#[test]
fn golden_keys_keep_their_split() {
    for (path_id, expected) in GOLDEN {
        let (synset, id) = path_id.split_once('/').unwrap();
        let class = Class::from_synset(synset).unwrap();
        let key = ModelKey::new(class, id);
        assert_eq!(key.path_id(), path_id);
        assert_eq!(key.split(), expected, "{path_id}");
        assert_eq!(split_of(path_id), expected);
    }
    let held = GOLDEN.iter().filter(|(_, s)| *s == Held).count();
    assert!((5..=12).contains(&held), "{held} of 40 held out");
}

#[test]
fn procedural_library_splits_about_80_20_per_class() {
    let src = ProceduralModels::new(1000);
    for class in Class::ALL {
        let keys = src.models(class);
        let train = keys.iter().filter(|k| k.split() == Train).count();
        assert!(
            (760..=840).contains(&train),
            "{class}: {train} of 1000 train"
        );
    }
}

#[test]
fn split_does_not_depend_on_listing_order() {
    let src = ProceduralModels::new(50);
    let mut keys = src.models(Class::Chair);
    let before: Vec<_> = keys.iter().map(|k| (k.clone(), k.split())).collect();
    keys.reverse();
    for k in &keys {
        let (_, s) = before.iter().find(|(b, _)| b == k).unwrap();
        assert_eq!(k.split(), *s);
    }
}
