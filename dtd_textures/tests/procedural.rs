//! The procedural generator: determinism, pinned output, non-constant and seamless tiles,
//! colour variety, resolution independence, and the `ProceduralTextures` source.

use dtd_textures::{
    Family, ProceduralTextures, Split, Texture, TextureError, TextureSource, procedural_texture,
    tile,
};
use xxhash_rust::xxh64::xxh64;

/// xxh64 (seed 0) of `procedural_texture(family, 7, 32).rgba`, pinned so that an accidental change
/// of any generator is caught. A deliberate change bumps `GENERATOR_VERSION` and these values.
const GOLDEN: [(Family, u64); 14] = [
    (Family::Striped, 0x2ff9c851557e6ab9),
    (Family::Banded, 0xa69fda49c09b395f),
    (Family::Chequered, 0xc836b55653110222),
    (Family::Dotted, 0xd7350ea2594e7274),
    (Family::Zigzagged, 0xc23e589508f46852),
    (Family::Grid, 0xab3db07de9c53ddc),
    (Family::Marbled, 0xe684eb302fb61e1f),
    (Family::Cellular, 0xdc7d94461f931203),
    (Family::Woven, 0xfa88f94c3aa078e1),
    (Family::Noise, 0xcdd052bf6ee89196),
    (Family::Honeycombed, 0x96a0ce9be2db8f89),
    (Family::Crosshatched, 0xe1ee95e3b51b50ff),
    (Family::Sprinkled, 0xa387708accadff38),
    (Family::Scaly, 0xebbe5a6b755ed069),
];

#[test]
fn golden_hashes_of_one_tile_per_family() {
    let mut mismatches = Vec::new();
    for (family, want) in GOLDEN {
        let got = xxh64(&procedural_texture(family, 7, 32).rgba, 0);
        if got != want {
            mismatches.push(format!("(Family::{family:?}, 0x{got:016x}),"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "generator output changed:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    for family in Family::ALL {
        let a = procedural_texture(family, 42, 24);
        let b = procedural_texture(family, 42, 24);
        assert_eq!(a, b, "{family}");
        assert_eq!(a.size, 24);
        assert_eq!(a.rgba.len(), 24 * 24 * 4);
        assert!(
            a.rgba.chunks_exact(4).all(|p| p[3] == 255),
            "{family}: alpha not opaque"
        );
        for other in [43, 1042] {
            assert_ne!(
                a,
                procedural_texture(family, other, 24),
                "{family}: seeds 42 and {other}"
            );
        }
    }
}

fn luma(p: [u8; 4]) -> f64 {
    0.2126 * p[0] as f64 + 0.7152 * p[1] as f64 + 0.0722 * p[2] as f64
}

fn luma_std(t: &Texture) -> f64 {
    let n = (t.size * t.size) as f64;
    let vals: Vec<f64> = (0..t.size)
        .flat_map(|y| (0..t.size).map(move |x| (x, y)))
        .map(|(x, y)| luma(t.pixel(x, y)))
        .collect();
    let mean = vals.iter().sum::<f64>() / n;
    (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
}

#[test]
fn every_family_draws_a_pattern_not_a_flat_tile() {
    for family in Family::ALL {
        for seed in 0..6 {
            let t = procedural_texture(family, seed, 48);
            let std = luma_std(&t);
            assert!(
                std > 6.0,
                "{family} seed {seed}: luma std {std:.1} (flat tile)"
            );
        }
    }
}

/// Mean absolute difference (0-255 per channel) between column `a` and column `b`.
fn column_diff(t: &Texture, a: u32, b: u32) -> f64 {
    let mut sum = 0.0;
    for y in 0..t.size {
        let (p, q) = (t.pixel(a, y), t.pixel(b, y));
        sum += (0..3)
            .map(|c| (p[c] as f64 - q[c] as f64).abs())
            .sum::<f64>();
    }
    sum / (3 * t.size) as f64
}

fn transpose(t: &Texture) -> Texture {
    let mut rgba = Vec::with_capacity(t.rgba.len());
    for y in 0..t.size {
        for x in 0..t.size {
            rgba.extend_from_slice(&t.pixel(y, x));
        }
    }
    Texture { size: t.size, rgba }
}

/// Where the wrap-around seam ranks among all neighbouring column pairs by colour difference:
/// 0 = smoother than every interior pair, 1 = rougher than all of them. In a periodic tile the
/// seam is just another neighbour pair, so over many tiles its mean rank is about 0.5; a tile
/// that does not wrap puts a discontinuity there and ranks near 1.
fn seam_rank(t: &Texture) -> f64 {
    let s = t.size;
    let seam = column_diff(t, s - 1, 0);
    let interior: Vec<f64> = (0..s - 1).map(|x| column_diff(t, x, x + 1)).collect();
    let below = interior.iter().filter(|&&d| d < seam - 1e-9).count() as f64;
    let equal = interior
        .iter()
        .filter(|&&d| (d - seam).abs() <= 1e-9)
        .count() as f64;
    (below + 0.5 * equal) / interior.len() as f64
}

/// Mean seam rank over both orientations of `tiles`.
fn mean_seam_rank(tiles: &[Texture]) -> f64 {
    let ranks: Vec<f64> = tiles
        .iter()
        .flat_map(|t| [seam_rank(t), seam_rank(&transpose(t))])
        .collect();
    ranks.iter().sum::<f64>() / ranks.len() as f64
}

#[test]
fn every_family_tiles_seamlessly() {
    for family in Family::ALL {
        let tiles: Vec<Texture> = (0..24)
            .map(|seed| procedural_texture(family, seed, 48))
            .collect();
        let rank = mean_seam_rank(&tiles);
        assert!(
            rank < 0.65,
            "{family}: the seam ranks {rank:.2} among neighbour differences"
        );
    }
}

#[test]
fn the_seam_check_catches_non_periodic_tiles() {
    // Negative control: crops of larger tiles that are not a whole period do not wrap. Regular
    // patterns sometimes line up by chance; smooth ones (noise, marble) never do.
    let mut all = Vec::new();
    for family in Family::ALL {
        let tiles: Vec<Texture> = (0..16)
            .map(|seed| {
                let big = procedural_texture(family, seed, 70);
                let mut rgba = Vec::new();
                for y in 0..48 {
                    for x in 0..48 {
                        rgba.extend_from_slice(&big.pixel(x + 3, y + 3));
                    }
                }
                Texture { size: 48, rgba }
            })
            .collect();
        let rank = mean_seam_rank(&tiles);
        if matches!(family, Family::Noise | Family::Marbled | Family::Cellular) {
            assert!(
                rank > 0.9,
                "{family}: a non-periodic crop's seam ranks only {rank:.2}"
            );
        }
        all.push(rank);
    }
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    assert!(
        mean > 0.75,
        "non-periodic crops' seams rank only {mean:.2} on average"
    );
}

fn mean_colour(t: &Texture) -> [f64; 3] {
    let mut m = [0.0; 3];
    for p in t.rgba.chunks_exact(4) {
        for c in 0..3 {
            m[c] += p[c] as f64;
        }
    }
    m.map(|v| v / (t.size * t.size) as f64)
}

#[test]
fn colours_vary_across_seeds() {
    for family in Family::ALL {
        let means: Vec<[f64; 3]> = (0..10)
            .map(|s| mean_colour(&procedural_texture(family, s, 24)))
            .collect();
        let mut max_d: f64 = 0.0;
        for a in &means {
            for b in &means {
                let d =
                    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
                max_d = max_d.max(d);
            }
        }
        assert!(
            max_d > 60.0,
            "{family}: mean colours of 10 seeds span only {max_d:.1}"
        );
    }
}

fn mean_abs_diff(a: &Texture, b: &Texture) -> f64 {
    a.rgba
        .iter()
        .zip(&b.rgba)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.rgba.len() as f64
}

#[test]
fn same_seed_is_the_same_picture_at_another_size() {
    for family in Family::ALL {
        let small = procedural_texture(family, 3, 32);
        let down = tile(&procedural_texture(family, 3, 64), 32);
        let other = procedural_texture(family, 4, 32);
        let same = mean_abs_diff(&small, &down);
        let diff = mean_abs_diff(&small, &other);
        assert!(
            same < 0.6 * diff,
            "{family}: 64->32 differs by {same:.1}, another seed by {diff:.1}"
        );
    }
}

#[test]
fn procedural_source_names_families_and_errors() {
    let src = ProceduralTextures::new(30);
    assert_eq!(src.kind(), "procedural");
    assert_eq!(src.len(), 30);
    assert_eq!(src.name(0), "striped/000000");
    assert_eq!(src.name(17), "dotted/000017");
    assert_eq!(src.name(18), "zigzagged/000018");
    assert_eq!(src.name(27), "scaly/000027");
    assert_eq!(
        src.load(18, 16).unwrap(),
        procedural_texture(Family::Zigzagged, 18, 16)
    );
    assert!(matches!(
        src.load(30, 16),
        Err(TextureError::IndexOutOfRange {
            index: 30,
            len: 30,
            ..
        })
    ));
    assert!(matches!(
        src.load(0, 0),
        Err(TextureError::InvalidSize { size: 0, .. })
    ));
    let msg = src.load(99, 16).unwrap_err().to_string();
    assert!(msg.contains("99") && msg.contains("30"), "{msg}");
    assert_eq!(ProceduralTextures::default().len(), 1000);
}

#[test]
fn procedural_fingerprint_depends_on_count_only() {
    let a = ProceduralTextures::new(1000).fingerprint();
    assert_eq!(a, ProceduralTextures::new(1000).fingerprint());
    assert_ne!(a, ProceduralTextures::new(999).fingerprint());
    assert_eq!(a.len(), 16);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn family_names_round_trip() {
    for f in Family::ALL {
        assert_eq!(f.name().parse::<Family>().unwrap(), f);
    }
    let err = "paisley".parse::<Family>().unwrap_err().to_string();
    assert!(err.contains("paisley") && err.contains("striped"), "{err}");
}

#[test]
fn split_of_procedural_textures_is_about_80_20_and_pinned() {
    let src = ProceduralTextures::new(2000);
    let held = src.indices(Split::Held).len();
    let train = src.indices(Split::Train).len();
    assert_eq!(held + train, 2000);
    assert!((340..=460).contains(&held), "held {held} of 2000");
    // Every family gets both splits.
    for (k, family) in Family::ALL.iter().enumerate() {
        let held_f = (k..2000)
            .step_by(14)
            .filter(|&i| src.split(i) == Split::Held)
            .count();
        assert!(
            (10..=50).contains(&held_f),
            "{family}: {held_f} held of ~143"
        );
    }
    let golden: Vec<(usize, Split)> = (0..12).map(|i| (i, src.split(i))).collect();
    assert_eq!(golden, GOLDEN_SPLIT.to_vec());
}

const GOLDEN_SPLIT: [(usize, Split); 12] = [
    (0, Split::Train),
    (1, Split::Train),
    (2, Split::Train),
    (3, Split::Train),
    (4, Split::Held),
    (5, Split::Train),
    (6, Split::Train),
    (7, Split::Train),
    (8, Split::Train),
    (9, Split::Train),
    (10, Split::Train),
    (11, Split::Held),
];
