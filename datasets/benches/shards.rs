//! Shard throughput (`cargo bench -p datasets --bench shards`): MB/s of raw (uncompressed)
//! sample bytes for encode+compress, write to disk, and read+verify+decompress+decode of 64x64
//! single-object samples, uncompressed and zstd at levels 1, 3 and 9.
//!
//! The samples are synthetic but shaped like renders (smooth background, one shaded object,
//! matching masks and depth, ~300 bytes of meta), so compression ratios are realistic-ish; the
//! ratio is printed once per level.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datasets::Sample;
use datasets::mds::{Compression, MdsReader, ShardWriter, Value, write_index};

const SIZE: u32 = 64;
const PER_SHARD: usize = 256;

fn sample(i: usize) -> Sample {
    let (h, w) = (SIZE as usize, SIZE as usize);
    let mut state = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 7) as i32 - 3
    };
    let (cx, cy, r) = (
        20.0 + (i % 24) as f32,
        22.0 + (i % 19) as f32,
        12.0 + (i % 9) as f32,
    );
    let class = (i % 10) as u8;
    let mut image = Vec::with_capacity(h * w * 3);
    let mut segmentation = Vec::with_capacity(h * w);
    let mut instance = Vec::with_capacity(h * w);
    let mut depth = Vec::with_capacity(h * w);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let d2 = dx * dx + dy * dy;
            if d2 < r * r {
                let shade = 1.0 - d2 / (r * r) * 0.6;
                for (c, base) in [180.0f32, 90.0, 60.0].into_iter().enumerate() {
                    let v = base * shade + (c as f32 * 10.0) + noise() as f32;
                    image.push(v.clamp(0.0, 255.0) as u8);
                }
                segmentation.push(class + 1);
                instance.push(1);
                depth.push((1000.0 + (r * r - d2).sqrt() * -8.0 + 80.0) as u16);
            } else {
                for c in 0..3 {
                    let v = 40 + (y as i32) + c * 20 + noise();
                    image.push(v.clamp(0, 255) as u8);
                }
                segmentation.push(0);
                instance.push(0);
                depth.push(3200);
            }
        }
    }
    Sample {
        height: SIZE,
        width: SIZE,
        image,
        class: class as i64,
        pose: (i % 5) as i64,
        segmentation,
        instance,
        depth,
        meta: serde_json::json!({
            "index": i, "seed": 1, "models": [format!("02691156/proc-{:06}", i % 1000)],
            "synsets": ["02691156"], "rotation": [0.1, -0.25, 0.3], "color_hsv": [0.12, 0.8, 0.7],
            "texture": "striped/000017", "light": [0.0, -1.3, 0.7], "camera": [1.0, 0.0, 0.4],
            "scale": 0.8, "stretch": [1.02, 0.97, 1.01],
        }),
    }
}

fn bench(c: &mut Criterion) {
    let columns = Sample::columns(SIZE, SIZE);
    let rows: Vec<Vec<Value>> = (0..PER_SHARD).map(|i| sample(i).to_row()).collect();
    let raw_bytes = ShardWriter::encode(0, &columns, &rows, None)
        .unwrap()
        .data
        .len() as u64;
    let levels = [None, Some(1), Some(3), Some(9)];
    let name = |l: Option<i32>| l.map_or("raw".to_string(), |l| format!("zstd{l}"));

    let mut g = c.benchmark_group("shards_64x64");
    g.throughput(Throughput::Bytes(raw_bytes));
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(3));
    let tmp = tempfile::tempdir().unwrap();
    for level in levels {
        let comp = level.map(|l| Compression::zstd(l).unwrap());
        let enc = ShardWriter::encode(0, &columns, &rows, comp).unwrap();
        println!(
            "{}: {PER_SHARD} samples, raw {} B, stored {} B (ratio {:.2})",
            name(level),
            raw_bytes,
            enc.data.len(),
            raw_bytes as f64 / enc.data.len() as f64
        );
        g.bench_function(format!("encode+compress/{}", name(level)), |b| {
            b.iter(|| black_box(ShardWriter::encode(0, &columns, black_box(&rows), comp).unwrap()))
        });
        let dir = tmp.path().join(name(level));
        std::fs::create_dir_all(&dir).unwrap();
        g.bench_function(format!("write(fsync)/{}", name(level)), |b| {
            b.iter(|| black_box(enc.write_to(&dir).unwrap()))
        });
        let info = enc.write_to(&dir).unwrap();
        write_index(&dir, &[info]).unwrap();
        let reader = MdsReader::open(Path::new(&dir)).unwrap();
        g.bench_function(format!("read+decode/{}", name(level)), |b| {
            b.iter(|| {
                let rows = reader.read_shard(0).unwrap();
                let samples: Vec<Sample> = rows
                    .into_iter()
                    .map(|r| Sample::from_row(reader.columns(), r).unwrap())
                    .collect();
                black_box(samples)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
