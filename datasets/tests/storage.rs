//! Storage tests: MDS round trips, corrupt-shard detection, resume, merge determinism.

mod storage_common;

use std::fs;
use std::path::{Path, PathBuf};

use datasets::mds::{
    Column, Compression, Dtype, MdsError, MdsReader, NdArray, ShardWriter, Value, write_atomic,
    write_index,
};
use datasets::{Dataset, DatasetError, Sample, ShardPlan, Split};
use storage_common::{random_sample, render_worker, write_dataset};

const H: u32 = 16;
const W: u32 = 16;

fn samples(n: usize) -> Vec<Sample> {
    (0..n).map(|i| random_sample(3, i, H, W)).collect()
}

/// Write `samples` as MDS shards of `per_shard` into `dir` (with index.json).
fn write_mds(dir: &Path, samples: &[Sample], per_shard: usize, compression: Option<Compression>) {
    fs::create_dir_all(dir).unwrap();
    let columns = Sample::columns(H, W);
    let infos: Vec<_> = samples
        .chunks(per_shard)
        .enumerate()
        .map(|(k, chunk)| {
            let rows: Vec<_> = chunk.iter().map(Sample::to_row).collect();
            ShardWriter::write(dir, k, &columns, &rows, compression).unwrap()
        })
        .collect();
    write_index(dir, &infos).unwrap();
}

fn read_all(dir: &Path) -> Result<Vec<Sample>, DatasetError> {
    let reader = MdsReader::open(dir)?;
    let mut out = Vec::new();
    for k in 0..reader.num_shards() {
        for row in reader.read_shard(k)? {
            out.push(Sample::from_row(reader.columns(), row)?);
        }
    }
    Ok(out)
}

#[test]
fn round_trip_every_column_uncompressed_and_zstd() {
    let tmp = tempfile::tempdir().unwrap();
    let data = samples(23);
    for (name, comp) in [
        ("raw", None),
        ("zstd", Some(Compression::default())),
        ("zstd19", Some(Compression::zstd(19).unwrap())),
    ] {
        let dir = tmp.path().join(name);
        write_mds(&dir, &data, 10, comp);
        let reader = MdsReader::open(&dir).unwrap();
        assert_eq!(reader.len(), 23);
        assert_eq!(reader.num_shards(), 3);
        assert_eq!(reader.shard_range(2), 20..23);
        assert_eq!(reader.columns(), Sample::columns(H, W).as_slice());
        let back = read_all(&dir).unwrap();
        assert_eq!(back.len(), data.len());
        for (i, (b, d)) in back.iter().zip(&data).enumerate() {
            assert!(b == d, "{name}: sample {i} differs after the round trip");
        }
        let ext = if comp.is_some() { ".mds.zstd" } else { ".mds" };
        assert!(dir.join(format!("shard.00002{ext}")).is_file());
    }
    // Edge values survived.
    let back = read_all(&tmp.path().join("zstd")).unwrap();
    assert_eq!(back[0].depth[0], 65535);
    assert_eq!(back[0].meta, serde_json::json!({}));
}

#[test]
fn generic_columns_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let columns = vec![
        Column::new("z_int", "int").unwrap(),
        Column::new("a_str", "str").unwrap(),
        Column::new("b_bytes", "bytes").unwrap(),
        Column::new("c_u16", "uint16").unwrap(),
        Column::new("d_f32", "float32").unwrap(),
        Column::new("e_dyn", "ndarray").unwrap(),
        Column::new("f_png", "png").unwrap(),
        Column::new("g_strint", "str_int").unwrap(),
    ];
    let rows: Vec<Vec<Value>> = (0..5)
        .map(|i| {
            vec![
                Value::Int(if i == 0 { i64::MIN } else { i64::MAX - i }),
                Value::Str(format!("s{i}é")),
                Value::Bytes(vec![i as u8; i as usize]),
                Value::UInt(65535 - i as u64),
                Value::Float(0.5 * i as f64),
                Value::Ndarray(NdArray {
                    dtype: Dtype::I32,
                    shape: vec![2, i as usize + 1],
                    data: vec![1; 8 * (i as usize + 1)],
                }),
                Value::Bytes(vec![0x89, b'P', b'N', b'G']),
                Value::Int(-i),
            ]
        })
        .collect();
    let info =
        ShardWriter::write(tmp.path(), 0, &columns, &rows, Some(Compression::default())).unwrap();
    // stored sorted by name, like MDSWriter
    assert_eq!(
        info.column_names,
        [
            "a_str", "b_bytes", "c_u16", "d_f32", "e_dyn", "f_png", "g_strint", "z_int"
        ]
    );
    assert_eq!(
        info.column_sizes,
        [None, None, Some(2), Some(4), None, None, None, Some(8)]
    );
    write_index(tmp.path(), &[info]).unwrap();
    let reader = MdsReader::open(tmp.path()).unwrap();
    let back = reader.read_shard(0).unwrap();
    for (row, got) in rows.iter().zip(&back) {
        // reorder the written row into sorted column order
        let want = [
            &row[1], &row[2], &row[3], &row[4], &row[5], &row[6], &row[7], &row[0],
        ];
        for (w, g) in want.iter().zip(got) {
            assert_eq!(*w, g);
        }
    }
    // wrong arity / wrong type / wrong fixed size are errors naming row and column
    let err =
        ShardWriter::write(tmp.path(), 1, &columns, &[rows[0][..3].to_vec()], None).unwrap_err();
    assert!(matches!(err, MdsError::Value { row: 0, .. }), "{err}");
    let mut bad = rows[0].clone();
    bad[3] = Value::Str("x".into());
    let err = ShardWriter::write(tmp.path(), 1, &columns, &[bad], None).unwrap_err();
    assert!(err.to_string().contains("c_u16"), "{err}");
    assert!(!tmp.path().join("shard.00001.mds").exists());
}

#[test]
fn shard_bytes_follow_mds_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let columns = vec![
        Column::new("x", "int").unwrap(),
        Column::new("s", "str").unwrap(),
    ];
    let rows = vec![
        vec![Value::Int(1), Value::Str("ab".into())],
        vec![Value::Int(-1), Value::Str(String::new())],
    ];
    let info = ShardWriter::write(tmp.path(), 0, &columns, &rows, None).unwrap();
    let raw = fs::read(tmp.path().join("shard.00000.mds")).unwrap();
    let config = r#"{"column_encodings": ["str", "int"], "column_names": ["s", "x"], "column_sizes": [null, 8], "compression": null, "format": "mds", "hashes": ["sha1", "xxh64"], "size_limit": 67108864, "version": 2}"#;
    let u32_at = |i: usize| u32::from_le_bytes(raw[i..i + 4].try_into().unwrap()) as usize;
    assert_eq!(u32_at(0), 2);
    let base = 4 + 12 + config.len();
    // sample = [u32 size of `s`] [s bytes] [x int64]
    assert_eq!(
        [u32_at(4), u32_at(8), u32_at(12)],
        [base, base + 4 + 2 + 8, base + 14 + 4 + 8]
    );
    assert_eq!(&raw[16..base], config.as_bytes());
    assert_eq!(
        &raw[base..base + 14],
        &[2, 0, 0, 0, b'a', b'b', 1, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(raw.len(), base + 26);
    assert_eq!(info.raw_data.bytes, raw.len() as u64);
    write_index(tmp.path(), std::slice::from_ref(&info)).unwrap();
    let index = fs::read_to_string(tmp.path().join("index.json")).unwrap();
    let expected = format!(
        r#"{{"shards": [{{"column_encodings": ["str", "int"], "column_names": ["s", "x"], "column_sizes": [null, 8], "compression": null, "format": "mds", "hashes": ["sha1", "xxh64"], "raw_data": {{"basename": "shard.00000.mds", "bytes": {}, "hashes": {{"sha1": "{}", "xxh64": "{}"}}}}, "samples": 2, "size_limit": 67108864, "version": 2, "zip_data": null}}], "version": 2}}"#,
        raw.len(),
        info.raw_data.hashes["sha1"],
        info.raw_data.hashes["xxh64"]
    );
    assert_eq!(index, expected);
    assert_eq!(
        info.raw_data.hashes["xxh64"],
        format!("{:016x}", xxhash_rust::xxh64::xxh64(&raw, 0))
    );
    // Compressed: the whole raw shard is one zstd frame, named `.mds.zstd`.
    let info = ShardWriter::write(
        tmp.path(),
        1,
        &columns,
        &rows,
        Some("zstd:7".parse().unwrap()),
    )
    .unwrap();
    let zip = fs::read(tmp.path().join("shard.00001.mds.zstd")).unwrap();
    let unzipped = zstd::stream::decode_all(&zip[..]).unwrap();
    // same layout; the config now says "zstd:7" instead of null (4 bytes longer)
    assert_eq!(unzipped.len(), raw.len() + 4);
    assert_eq!(&unzipped[..4], &raw[..4]);
    assert_eq!(info.compression.as_deref(), Some("zstd:7"));
    assert_eq!(
        info.zip_data.as_ref().unwrap().basename,
        "shard.00001.mds.zstd"
    );
    assert_eq!(info.raw_data.basename, "shard.00001.mds");
    assert!(!tmp.path().join("shard.00001.mds").exists());
}

/// A 2-shard zstd directory and the path of shard 1.
fn corrupt_fixture(dir: &Path, comp: Option<Compression>) -> PathBuf {
    write_mds(dir, &samples(8), 4, comp);
    let name = if comp.is_some() {
        "shard.00001.mds.zstd"
    } else {
        "shard.00001.mds"
    };
    dir.join(name)
}

fn read_err(dir: &Path) -> String {
    let reader = MdsReader::open(dir).unwrap();
    assert!(reader.read_shard(0).is_ok());
    reader.read_shard(1).unwrap_err().to_string()
}

#[test]
fn flipped_byte_is_reported_by_file_name() {
    let tmp = tempfile::tempdir().unwrap();
    for comp in [None, Some(Compression::default())] {
        let dir = tmp.path().join(format!("{comp:?}"));
        let shard = corrupt_fixture(&dir, comp);
        let mut bytes = fs::read(&shard).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        fs::write(&shard, &bytes).unwrap();
        let err = read_err(&dir);
        assert!(
            err.contains(&shard.display().to_string()) && err.contains("hash mismatch"),
            "{err}"
        );
    }
}

#[test]
fn truncated_and_missing_shards_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let shard = corrupt_fixture(tmp.path(), Some(Compression::default()));
    let bytes = fs::read(&shard).unwrap();
    fs::write(&shard, &bytes[..bytes.len() - 10]).unwrap();
    let err = read_err(tmp.path());
    assert!(
        err.contains("shard.00001.mds.zstd") && err.contains("size mismatch"),
        "{err}"
    );
    fs::remove_file(&shard).unwrap();
    let err = read_err(tmp.path());
    assert!(
        err.contains("shard.00001.mds.zstd") && err.contains("missing"),
        "{err}"
    );
}

#[test]
fn wrong_hash_in_index_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    corrupt_fixture(tmp.path(), Some(Compression::default()));
    let index = tmp.path().join("index.json");
    let mut obj: serde_json::Value = serde_json::from_slice(&fs::read(&index).unwrap()).unwrap();
    obj["shards"][1]["zip_data"]["hashes"]["xxh64"] = "0123456789abcdef".into();
    fs::write(&index, obj.to_string()).unwrap();
    let err = read_err(tmp.path());
    assert!(
        err.contains("xxh64 hash mismatch") && err.contains("shard.00001.mds.zstd"),
        "{err}"
    );
}

#[test]
fn structural_corruption_without_hashes_is_caught() {
    // Others' MDS data may carry no hashes: the structure checks must still refuse garbage.
    let tmp = tempfile::tempdir().unwrap();
    let shard = corrupt_fixture(tmp.path(), None);
    let index = tmp.path().join("index.json");
    let mut obj: serde_json::Value = serde_json::from_slice(&fs::read(&index).unwrap()).unwrap();
    for s in obj["shards"].as_array_mut().unwrap() {
        s["hashes"] = serde_json::json!([]);
        s["raw_data"]["hashes"] = serde_json::json!({});
    }
    fs::write(&index, obj.to_string()).unwrap();
    let good = fs::read(&shard).unwrap();
    type Corrupt = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Corrupt)> = vec![
        ("sample count", Box::new(|b| b[0] = 9)),
        ("offsets", Box::new(|b| b[8] = 0xff)),
        (
            "config",
            Box::new(|b| {
                let at = 4 + 4 * 5 + 2;
                b[at] = b'#';
            }),
        ),
        (
            "meta json",
            Box::new(|b| {
                // the meta column of sample 0 starts after the sizes header, class and depth
                let off = u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize;
                let at = off + 4 + 8 + 2 * 256 + 3 * 256 + 256;
                b[at] = 0xff;
            }),
        ),
        (
            "meta size",
            Box::new(|b| {
                let off = u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize;
                b[off + 2] = 0x7f;
            }),
        ),
    ];
    for (what, corrupt) in cases {
        let mut bytes = good.clone();
        corrupt(&mut bytes);
        fs::write(&shard, &bytes).unwrap();
        let err = read_err(tmp.path());
        assert!(
            err.contains("shard.00001.mds") && err.contains("corrupt shard"),
            "{what}: {err}"
        );
    }
    fs::write(&shard, &good).unwrap();
    assert_eq!(
        MdsReader::open(tmp.path())
            .unwrap()
            .read_shard(1)
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn garbage_index_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    corrupt_fixture(tmp.path(), None);
    let index = tmp.path().join("index.json");
    for (text, want) in [
        ("{not json", "not valid JSON"),
        (r#"{"version": 1, "shards": []}"#, "version"),
        (r#"{"version": 2}"#, "shards"),
        (
            r#"{"version": 2, "shards": [{"format": "mds"}]}"#,
            "shard 0",
        ),
    ] {
        fs::write(&index, text).unwrap();
        let err = MdsReader::open(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("index.json") && err.contains(want), "{err}");
    }
    fs::remove_file(&index).unwrap();
    let err = MdsReader::open(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("index.json"), "{err}");
}

#[test]
fn merge_is_identical_for_1_and_3_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, three) = (tmp.path().join("one"), tmp.path().join("three"));
    let comp = Some(Compression::default());
    let plan = write_dataset(&one, 130, H, W, 16, comp);
    assert_eq!(plan.num_shards(), 9); // train 112 -> 7, val 9 -> 1, test 9 -> 1
    fs::create_dir_all(&three).unwrap();
    storage_common::manifest(130, H, W, 16, comp)
        .write(&three)
        .unwrap();
    let mut total = 0;
    for worker in [2, 0, 1] {
        // merge refuses while shards are missing, naming them
        if worker != 1 {
            let err = plan.merge(&three).unwrap_err().to_string();
            assert!(
                err.contains("missing") && err.contains("shard.0000"),
                "{err}"
            );
            assert!(!three.join("train/index.json").exists());
        }
        total += render_worker(&three, &plan, H, W, 3, worker);
    }
    assert_eq!(total, 9);
    plan.merge(&three).unwrap();
    let files = |d: &Path| {
        let mut v = Vec::new();
        for split in ["", "train", "val", "test"] {
            for e in fs::read_dir(d.join(split)).unwrap() {
                let e = e.unwrap();
                if e.path().is_file() {
                    v.push((
                        e.path().strip_prefix(d).unwrap().to_path_buf(),
                        fs::read(e.path()).unwrap(),
                    ));
                }
            }
        }
        v.sort();
        v
    };
    let (a, b) = (files(&one), files(&three));
    assert_eq!(a.len(), 1 + 9 * 2 + 3);
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (fa, fb) in a.iter().zip(&b) {
        assert!(
            fa.1 == fb.1,
            "{} differs between 1 and 3 workers",
            fa.0.display()
        );
    }
}

#[test]
fn resume_skips_complete_and_redoes_corrupt_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let plan = ShardPlan::new(60, 8, Some(Compression::default())).unwrap();
    // train 52 -> 7 shards, val 4, test 4 -> 9 shards
    assert_eq!(render_worker(dir, &plan, H, W, 1, 0), 9);
    assert_eq!(
        render_worker(dir, &plan, H, W, 1, 0),
        0,
        "complete shards are skipped"
    );
    let specs = plan.shards();
    // corrupt one shard, truncate another, drop a sidecar, leave a stale temp file
    let s2 = dir.join(plan.rel_path(&specs[2]));
    let mut b = fs::read(&s2).unwrap();
    b[20] ^= 1;
    fs::write(&s2, b).unwrap();
    let s5 = dir.join(plan.rel_path(&specs[5]));
    let b = fs::read(&s5).unwrap();
    fs::write(&s5, &b[..b.len() / 2]).unwrap();
    fs::remove_file(plan.sidecar_path(dir, &specs[8])).unwrap();
    fs::write(dir.join("train/shard.00003.mds.zstd.tmp"), b"partial").unwrap();
    assert!(!plan.is_complete(dir, &specs[2]));
    assert!(!plan.is_complete(dir, &specs[5]));
    assert!(!plan.is_complete(dir, &specs[8]));
    assert!(plan.is_complete(dir, &specs[0]));
    let err = plan.merge(dir).unwrap_err().to_string();
    for spec in [&specs[2], &specs[5], &specs[8]] {
        assert!(
            err.contains(&plan.rel_path(spec).display().to_string()),
            "{err}"
        );
    }
    assert_eq!(render_worker(dir, &plan, H, W, 1, 0), 3);
    plan.merge(dir).unwrap();
    assert!(!dir.join("train/shard.00003.mds.zstd.tmp").exists());
    // compare with a fresh uninterrupted run
    let fresh = tmp.path().join("fresh");
    render_worker(&fresh, &plan, H, W, 1, 0);
    plan.merge(&fresh).unwrap();
    for split in ["train", "val", "test"] {
        assert_eq!(
            fs::read(dir.join(split).join("index.json")).unwrap(),
            fs::read(fresh.join(split).join("index.json")).unwrap()
        );
    }
}

#[test]
fn dataset_reader_reads_splits_and_samples() {
    let tmp = tempfile::tempdir().unwrap();
    write_dataset(tmp.path(), 100, H, W, 20, Some(Compression::default()));
    let ds = Dataset::open(tmp.path()).unwrap();
    assert_eq!(ds.manifest().splits.as_array(), [86, 7, 7]);
    assert_eq!(
        ds.manifest(),
        &storage_common::manifest(100, H, W, 20, Some(Compression::default()))
    );
    let train = ds.split(Split::Train).unwrap();
    assert_eq!((train.len(), train.num_shards()), (86, 5));
    assert_eq!(train.shard_range(4), 80..86);
    assert_eq!(train.get(85).unwrap(), random_sample(1, 85, H, W));
    assert_eq!(train.get(3).unwrap(), random_sample(1, 3, H, W));
    let val = ds.split(Split::Val).unwrap();
    // val samples are dataset samples 86..93
    assert_eq!(val.read_shard(0).unwrap()[0], random_sample(1, 86, H, W));
    let test = ds.split(Split::Test).unwrap();
    assert_eq!(test.get(6).unwrap(), random_sample(1, 99, H, W));
    assert!(matches!(
        test.get(7),
        Err(DatasetError::OutOfRange { index: 7, len: 7 })
    ));
    // a manifest that disagrees with the shards' columns is refused
    let mut m = ds.manifest().clone();
    m.columns.insert("extra".into(), "int".into());
    m.write(tmp.path()).unwrap();
    let err = Dataset::open(tmp.path())
        .unwrap()
        .split(Split::Val)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("manifest.json") && err.contains("val/index.json"),
        "{err}"
    );
    let err = Dataset::open(&tmp.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("manifest.json"), "{err}");
}

#[test]
fn write_errors_name_the_file_and_leave_no_temp() {
    let tmp = tempfile::tempdir().unwrap();
    // Missing directory.
    let path = tmp.path().join("no/such/dir/shard.00000.mds");
    let err = write_atomic(&path, b"x").unwrap_err().to_string();
    assert!(err.contains("shard.00000.mds"), "{err}");
    // Disk full: point the temporary file at /dev/full.
    #[cfg(target_os = "linux")]
    {
        let target = tmp.path().join("shard.00000.mds");
        std::os::unix::fs::symlink("/dev/full", tmp.path().join("shard.00000.mds.tmp")).unwrap();
        let err = write_atomic(&target, &[0u8; 100_000]).unwrap_err();
        assert!(err.to_string().contains("shard.00000.mds"), "{err}");
        assert!(matches!(err, MdsError::Io { .. }));
        assert!(!target.exists());
        assert!(
            fs::symlink_metadata(tmp.path().join("shard.00000.mds.tmp")).is_err(),
            "temp left behind"
        );
    }
}

/// JSON view of a decoded value, in the form of `storage_fixtures/streaming_expected.json`.
fn value_json(v: &Value) -> serde_json::Value {
    use serde_json::json;
    match v {
        Value::Int(i) => json!(i),
        Value::UInt(u) => json!(u),
        Value::Float(f) => json!(f),
        Value::Bytes(b) => json!(b),
        Value::Str(s) => json!(s),
        Value::Json(j) => j.clone(),
        Value::Ndarray(a) => {
            let size = a.dtype.size();
            let values: Vec<serde_json::Value> = a
                .data
                .chunks_exact(size)
                .map(|c| match a.dtype {
                    Dtype::U16 => json!(u16::from_le_bytes([c[0], c[1]])),
                    Dtype::I32 => json!(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                    Dtype::F64 => json!(f64::from_le_bytes(c.try_into().unwrap())),
                    other => panic!("fixture has no {other} arrays"),
                })
                .collect();
            json!({"dtype": a.dtype.name(), "shape": a.shape, "values": values})
        }
    }
}

#[test]
fn reads_shards_written_by_streaming() {
    // Written by MosaicML Streaming 0.13.0's MDSWriter (tools/python/make_streaming_fixture.py):
    // several shards, hashes on/off, zstd on/off, static and dynamic ndarrays, scalars, str_int.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/storage_fixtures");
    let expected: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&fs::read(root.join("streaming_expected.json")).unwrap()).unwrap();
    for name in ["streaming_raw", "streaming_zstd"] {
        let reader = MdsReader::open(&root.join(name)).unwrap();
        assert_eq!(reader.len(), expected.len(), "{name}");
        assert!(reader.num_shards() > 1, "{name}");
        let mut i = 0;
        for k in 0..reader.num_shards() {
            for row in reader.read_shard(k).unwrap() {
                for (col, v) in reader.columns().iter().zip(&row) {
                    assert_eq!(
                        value_json(v),
                        expected[i][&col.name],
                        "{name} sample {i} column {}",
                        col.name
                    );
                }
                i += 1;
            }
        }
        assert_eq!(i, expected.len());
    }
}

/// The Rust twin of `our_sample` in tools/python/make_streaming_fixture.py.
fn fixture_sample(i: usize) -> Sample {
    let (h, w) = (4usize, 3usize);
    let n = h * w;
    let mut depth: Vec<u16> = (0..n)
        .map(|j| ((j * 5003 + i * 17) % 65536) as u16)
        .collect();
    if i == 0 {
        depth[0] = 65535;
    }
    Sample {
        height: h as u32,
        width: w as u32,
        image: (0..n * 3).map(|j| ((j * 7 + i * 13) % 256) as u8).collect(),
        class: (i % 10) as i64,
        pose: (i % 5) as i64,
        segmentation: (0..n).map(|j| ((j + i) % 11) as u8).collect(),
        instance: (0..n).map(|j| ((j * 3 + i) % 5) as u8).collect(),
        depth,
        meta: serde_json::json!({"index": i, "light": [0.1 * i as f64, -1.5], "model": format!("02691156/é{i}")}),
    }
}

#[test]
fn rust_writer_matches_streaming_bytes() {
    // storage_fixtures/streaming_samples was written by streaming's MDSWriter(columns=..,
    // compression="zstd:3", hashes=["sha1", "xxh64"]) from the same samples: our shard, its zstd
    // frame and index.json must be byte-identical.
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/storage_fixtures/streaming_samples");
    let tmp = tempfile::tempdir().unwrap();
    let rows: Vec<_> = (0..5).map(|i| fixture_sample(i).to_row()).collect();
    let info = ShardWriter::write(
        tmp.path(),
        0,
        &Sample::columns(4, 3),
        &rows,
        Some(Compression::default()),
    )
    .unwrap();
    write_index(tmp.path(), &[info]).unwrap();
    for file in ["index.json", "shard.00000.mds.zstd"] {
        let ours = fs::read(tmp.path().join(file)).unwrap();
        let theirs = fs::read(fixture.join(file)).unwrap();
        assert!(ours == theirs, "{file} differs from streaming's");
    }
    let back = read_all(&fixture).unwrap();
    assert_eq!(back, (0..5).map(fixture_sample).collect::<Vec<_>>());
}

#[test]
fn unmerged_split_is_an_error_naming_its_index() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = ShardPlan::new(30, 8, Some(Compression::default())).unwrap();
    storage_common::manifest(30, H, W, 8, Some(Compression::default()))
        .write(tmp.path())
        .unwrap();
    render_worker(tmp.path(), &plan, H, W, 1, 0);
    let ds = Dataset::open(tmp.path()).unwrap();
    let err = ds.split(Split::Train).unwrap_err().to_string();
    assert!(err.contains("train/index.json"), "{err}");
    plan.merge(tmp.path()).unwrap();
    assert_eq!(ds.split(Split::Train).unwrap().len(), 26);
}
