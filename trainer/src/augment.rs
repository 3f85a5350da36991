//! Per-sample preparation: augmentation, Lab conversion, normalisation and dense-target
//! reduction.
//!
//! Input: a [`RawSample`] (8-bit sRGB HWC image plus its labels) and a seeded RNG. Output: a
//! [`Prepared`] sample: the normalised Lab image in CHW order and the task's target (a class, a
//! 16x16 class map, or a 16x16 depth map in metres with 0 = no valid depth).
//!
//! Augmentation (the design's list; every choice drawn from the sample's own RNG, so the result
//! depends only on the seed and the sample's position in the stream):
//! 1. horizontal flip (p = 0.5) of the image and of its label maps; a flipped pose label swaps
//!    the "tilted left" (3) and "tilted right" (4) bins;
//! 2. crop after zero-padding by `res/8` (not for depth); the label map is cropped the same way
//!    and padded with background;
//! 3. colour jitter (p = 0.8): brightness, contrast, saturation (factors in [0.6, 1.4]) and hue
//!    (shift in [-h, h] turns, h = [`AugmentPolicy::hue`], 0.1 by default; 0.5 draws the hue
//!    uniformly), in that order, on sRGB values;
//! 4. grayscale (p = 0.25);
//! 5. sRGB -> Lab, normalised with [`crate::color::LAB_MEAN`] / [`crate::color::LAB_STD`];
//! 6. Cutout (not for segmentation and depth): a `res/4` square at a uniformly drawn centre
//!    (clipped at the border) set to 0, i.e. the mean colour.
//!
//! Dense targets are reduced to `min(16, res)` square maps: class maps by nearest neighbour (the
//! source pixel at each cell's centre), depth by the mean of the valid (non-zero) source pixels in
//! each cell, converted from millimetres to metres; a cell without valid pixels is 0 (ignored by
//! loss and metrics).

use datasets::color::hsv_to_rgb;
use rand::Rng;

use crate::color::hwc_srgb_to_normalised_chw_lab;
use crate::tasks::Task;

/// Side of the dense target maps for images of at least this size.
pub const DENSE_TARGET_SIZE: usize = 16;

/// Side of the dense target map for `res`-pixel images.
pub fn target_size(res: usize) -> usize {
    DENSE_TARGET_SIZE.min(res)
}

/// A sample's image and labels, borrowed from wherever it was decoded.
#[derive(Debug, Clone, Copy)]
pub struct RawSample<'a> {
    /// Height = width in pixels.
    pub res: usize,
    /// sRGB HWC bytes (`res * res * 3`).
    pub image: &'a [u8],
    /// Class index 0..10.
    pub class: i64,
    /// Pose bin 0..5.
    pub pose: i64,
    /// Class map (0 background, class + 1), `res * res`.
    pub segmentation: &'a [u8],
    /// Depth in millimetres (0 = invalid), `res * res`.
    pub depth: &'a [u16],
}

/// The colour jitter's largest hue shift by default, in turns.
pub const DEFAULT_HUE: f64 = 0.1;
/// The largest hue shifts `--jitter-hue` accepts, in turns (0.5 = any hue).
pub const HUE_RANGE: std::ops::RangeInclusive<f64> = 0.0..=0.5;

/// What augmentation a sample gets.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AugmentPolicy {
    /// Probability of colour jitter.
    pub jitter: f64,
    /// The colour jitter's largest hue shift in turns (0..=0.5; 0.5 = any hue).
    pub hue: f64,
    /// Probability of grayscale.
    pub grayscale: f64,
    /// Horizontal flip with probability 0.5.
    pub flip: bool,
    /// Pad by res/8 and crop back.
    pub crop: bool,
    /// Cutout of a res/4 square.
    pub cutout: bool,
}

impl AugmentPolicy {
    /// The design's policy for supervised training on `task`: no Cutout for segmentation and
    /// depth, no crop for depth.
    pub fn for_task(task: Task) -> Self {
        Self {
            jitter: 0.8,
            hue: DEFAULT_HUE,
            grayscale: 0.25,
            flip: true,
            crop: task != Task::Depth,
            cutout: !matches!(task, Task::Segmentation | Task::Depth),
        }
    }

    /// No augmentation (evaluation).
    pub fn none() -> Self {
        Self {
            jitter: 0.0,
            hue: 0.0,
            grayscale: 0.0,
            flip: false,
            crop: false,
            cutout: false,
        }
    }
}

/// A sample's training target.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Image-level class (classification: class, pose: bin).
    Class(i64),
    /// Per-pixel classes, `t * t`, row-major.
    Map(Vec<i64>),
    /// Per-pixel depth in metres (0 = invalid), `t * t`, row-major.
    Depth(Vec<f32>),
}

/// A sample ready for batching.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Normalised Lab, CHW, `3 * res * res`.
    pub image: Vec<f32>,
    /// The task's target.
    pub target: Target,
}

/// Pose bin of a horizontally mirrored image: "tilted to the image's left" (3) and "right" (4)
/// swap; upright (0), towards (1) and away (2) stay.
pub fn flip_pose_bin(bin: i64) -> i64 {
    match bin {
        3 => 4,
        4 => 3,
        b => b,
    }
}

/// Flip an HWC (or HW with `channels = 1`) buffer horizontally in place.
pub fn flip_horizontal<T>(data: &mut [T], res: usize, channels: usize) {
    for row in data.chunks_mut(res * channels) {
        for x in 0..res / 2 {
            let x2 = res - 1 - x;
            for c in 0..channels {
                row.swap(x * channels + c, x2 * channels + c);
            }
        }
    }
}

/// Shift an HWC buffer by (dy, dx) after padding with `fill` (the pad-and-crop augmentation:
/// output pixel (y, x) = input (y + dy, x + dx), `fill` outside).
pub fn shift<T: Copy>(
    data: &[T],
    res: usize,
    channels: usize,
    dy: isize,
    dx: isize,
    fill: T,
) -> Vec<T> {
    let mut out = vec![fill; data.len()];
    for y in 0..res {
        let sy = y as isize + dy;
        if sy < 0 || sy >= res as isize {
            continue;
        }
        for x in 0..res {
            let sx = x as isize + dx;
            if sx < 0 || sx >= res as isize {
                continue;
            }
            let s = (sy as usize * res + sx as usize) * channels;
            let d = (y * res + x) * channels;
            out[d..d + channels].copy_from_slice(&data[s..s + channels]);
        }
    }
    out
}

fn luma(p: &[f32]) -> f32 {
    0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]
}

fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let d = max - min;
    let h = if d <= 0.0 {
        0.0
    } else if max == r {
        ((g - b) / d).rem_euclid(6.0) / 6.0
    } else if max == g {
        ((b - r) / d + 2.0) / 6.0
    } else {
        ((r - g) / d + 4.0) / 6.0
    };
    let s = if max <= 0.0 { 0.0 } else { d / max };
    (h, s, max)
}

/// Colour jitter on an HWC sRGB float image: brightness, contrast, saturation, and a hue shift
/// of at most `max_hue` turns.
pub fn color_jitter<R: Rng + ?Sized>(img: &mut [f32], max_hue: f64, rng: &mut R) {
    let brightness: f32 = rng.random_range(0.6..1.4);
    let contrast: f32 = rng.random_range(0.6..1.4);
    let saturation: f32 = rng.random_range(0.6..1.4);
    let max_hue = max_hue.clamp(*HUE_RANGE.start(), *HUE_RANGE.end()) as f32;
    let hue: f32 = if max_hue > 0.0 {
        rng.random_range(-max_hue..max_hue)
    } else {
        0.0
    };
    for v in img.iter_mut() {
        *v = (*v * brightness).clamp(0.0, 1.0);
    }
    let n = (img.len() / 3).max(1) as f32;
    let mean = img.chunks(3).map(luma).sum::<f32>() / n;
    for v in img.iter_mut() {
        *v = ((*v - mean) * contrast + mean).clamp(0.0, 1.0);
    }
    for p in img.chunks_mut(3) {
        let g = luma(p);
        for c in p.iter_mut() {
            *c = ((*c - g) * saturation + g).clamp(0.0, 1.0);
        }
        let (h, s, v) = rgb_to_hsv(p[0], p[1], p[2]);
        let rgb = hsv_to_rgb([h + hue, s, v]);
        p.copy_from_slice(&rgb);
    }
}

/// Replace each pixel by its luma.
pub fn grayscale(img: &mut [f32]) {
    for p in img.chunks_mut(3) {
        let g = luma(p);
        p.fill(g);
    }
}

/// Nearest-neighbour reduction of a `res x res` class map to `t x t` (centre pixel of each cell).
pub fn reduce_nearest(map: &[u8], res: usize, t: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(t * t);
    for i in 0..t {
        let sy = ((2 * i + 1) * res) / (2 * t);
        for j in 0..t {
            let sx = ((2 * j + 1) * res) / (2 * t);
            out.push(map[sy * res + sx] as i64);
        }
    }
    out
}

/// Reduce a `res x res` depth map in millimetres (0 = invalid) to `t x t` metres: mean of the
/// valid pixels of each cell, 0 when a cell has none.
pub fn reduce_depth_mean(depth_mm: &[u16], res: usize, t: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(t * t);
    for i in 0..t {
        let (y0, y1) = (i * res / t, ((i + 1) * res / t).max(i * res / t + 1));
        for j in 0..t {
            let (x0, x1) = (j * res / t, ((j + 1) * res / t).max(j * res / t + 1));
            let (mut sum, mut n) = (0.0f64, 0u32);
            for y in y0..y1 {
                for x in x0..x1 {
                    let d = depth_mm[y * res + x];
                    if d > 0 {
                        sum += d as f64;
                        n += 1;
                    }
                }
            }
            out.push(if n == 0 {
                0.0
            } else {
                (sum / n as f64 / 1000.0) as f32
            });
        }
    }
    out
}

/// Augment (per `policy`) and convert one sample for `task`.
pub fn prepare<R: Rng + ?Sized>(
    sample: &RawSample<'_>,
    task: Task,
    policy: &AugmentPolicy,
    rng: &mut R,
) -> Prepared {
    let res = sample.res;
    let mut img: Vec<f32> = sample.image.iter().map(|&b| b as f32 / 255.0).collect();
    let mut seg: Option<Vec<u8>> =
        (task == Task::Segmentation).then(|| sample.segmentation.to_vec());
    let mut depth: Option<Vec<u16>> = (task == Task::Depth).then(|| sample.depth.to_vec());

    // Every draw happens whether or not it is used, so the stream of draws is the same for all
    // tasks and policies.
    let do_flip = rng.random_bool(0.5);
    let pad = (res / 8) as i64;
    let dy = rng.random_range(-pad..=pad) as isize;
    let dx = rng.random_range(-pad..=pad) as isize;
    let do_jitter = rng.random_bool(policy.jitter.clamp(0.0, 1.0));
    let do_gray = rng.random_bool(policy.grayscale.clamp(0.0, 1.0));
    let cut_y = rng.random_range(0..res.max(1));
    let cut_x = rng.random_range(0..res.max(1));

    if policy.flip && do_flip {
        flip_horizontal(&mut img, res, 3);
        if let Some(s) = seg.as_mut() {
            flip_horizontal(s, res, 1);
        }
        if let Some(d) = depth.as_mut() {
            flip_horizontal(d, res, 1);
        }
    }
    if policy.crop && (dy != 0 || dx != 0) {
        img = shift(&img, res, 3, dy, dx, 0.0);
        if let Some(s) = seg.as_mut() {
            *s = shift(s, res, 1, dy, dx, 0);
        }
        if let Some(d) = depth.as_mut() {
            *d = shift(d, res, 1, dy, dx, 0);
        }
    }
    if do_jitter {
        color_jitter(&mut img, policy.hue, rng);
    }
    if do_gray {
        grayscale(&mut img);
    }
    let mut chw = Vec::with_capacity(3 * res * res);
    hwc_srgb_to_normalised_chw_lab(&img, res, res, &mut chw);
    if policy.cutout {
        let half = res / 8; // side res/4
        let (y0, y1) = (cut_y.saturating_sub(half), (cut_y + half).min(res));
        let (x0, x1) = (cut_x.saturating_sub(half), (cut_x + half).min(res));
        for c in 0..3 {
            for y in y0..y1 {
                let row = c * res * res + y * res;
                chw[row + x0..row + x1].fill(0.0);
            }
        }
    }
    let t = target_size(res);
    let flipped = policy.flip && do_flip;
    let target = match task {
        Task::Classification => Target::Class(sample.class),
        Task::Pose => Target::Class(if flipped {
            flip_pose_bin(sample.pose)
        } else {
            sample.pose
        }),
        Task::Segmentation => Target::Map(reduce_nearest(seg.as_deref().unwrap_or(&[]), res, t)),
        Task::Depth => Target::Depth(reduce_depth_mean(depth.as_deref().unwrap_or(&[]), res, t)),
    };
    Prepared { image: chw, target }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A 16x16 sample whose left half is class 3 (red) and right half background, with depth
    /// increasing to the right.
    fn sample_data(res: usize) -> (Vec<u8>, Vec<u8>, Vec<u16>) {
        let mut img = vec![0u8; res * res * 3];
        let mut seg = vec![0u8; res * res];
        let mut depth = vec![0u16; res * res];
        for y in 0..res {
            for x in 0..res {
                let p = y * res + x;
                if x < res / 2 {
                    img[3 * p] = 255;
                    seg[p] = 4;
                }
                depth[p] = 1000 + 100 * x as u16;
            }
        }
        (img, seg, depth)
    }

    #[test]
    fn flip_moves_labels_with_the_image() {
        let res = 16;
        let (img, seg, depth) = sample_data(res);
        let raw = RawSample {
            res,
            image: &img,
            class: 3,
            pose: 0,
            segmentation: &seg,
            depth: &depth,
        };
        let policy = AugmentPolicy {
            jitter: 0.0,
            hue: 0.0,
            grayscale: 0.0,
            flip: true,
            crop: false,
            cutout: false,
        };
        let mut flipped = 0;
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let p = prepare(&raw, Task::Segmentation, &policy, &mut rng);
            let Target::Map(map) = &p.target else {
                panic!("segmentation gives a map")
            };
            // Red pixels (high a*) must be exactly where the map says class 4.
            let plane = res * res;
            for y in 0..res {
                for x in 0..res {
                    let a = p.image[plane + y * res + x];
                    let red = a > 2.0;
                    assert_eq!(red, map[y * res + x] == 4, "seed {seed} ({y},{x})");
                }
            }
            if map[0] == 0 {
                flipped += 1;
            }
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let d = prepare(&raw, Task::Depth, &policy, &mut rng);
            let Target::Depth(dm) = &d.target else {
                panic!("depth gives a depth map")
            };
            // Flipped iff depth decreases to the right; same draw as the segmentation run.
            assert_eq!(dm[0] > dm[res - 1], map[0] == 0);
        }
        assert!(flipped > 0 && flipped < 20, "flip is random: {flipped}/20");
    }

    #[test]
    fn crop_shifts_labels_with_the_image() {
        let res = 16;
        let (img, seg, depth) = sample_data(res);
        let raw = RawSample {
            res,
            image: &img,
            class: 3,
            pose: 0,
            segmentation: &seg,
            depth: &depth,
        };
        let mut policy = AugmentPolicy::for_task(Task::Segmentation);
        policy.jitter = 0.0;
        policy.grayscale = 0.0;
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let p = prepare(&raw, Task::Segmentation, &policy, &mut rng);
            let Target::Map(map) = &p.target else {
                panic!()
            };
            let plane = res * res;
            for (q, &class) in map.iter().enumerate() {
                assert_eq!(p.image[plane + q] > 2.0, class == 4, "seed {seed}");
            }
        }
    }

    #[test]
    fn same_seed_same_output() {
        let res = 16;
        let (img, seg, depth) = sample_data(res);
        let raw = RawSample {
            res,
            image: &img,
            class: 3,
            pose: 1,
            segmentation: &seg,
            depth: &depth,
        };
        let policy = AugmentPolicy::for_task(Task::Classification);
        let a = prepare(
            &raw,
            Task::Classification,
            &policy,
            &mut ChaCha8Rng::seed_from_u64(5),
        );
        let b = prepare(
            &raw,
            Task::Classification,
            &policy,
            &mut ChaCha8Rng::seed_from_u64(5),
        );
        assert_eq!(a, b);
        assert_eq!(a.target, Target::Class(3));
        let p = prepare(
            &raw,
            Task::Pose,
            &AugmentPolicy::none(),
            &mut ChaCha8Rng::seed_from_u64(5),
        );
        assert_eq!(p.target, Target::Class(1));
    }

    #[test]
    fn hue_shift_stays_within_its_bound() {
        // A saturated red image: red stays the strongest channel under shifts below 1/6 turn
        // (the default 0.1), while a bound of 0.5 (any hue) turns some draws green or blue.
        let dominant = |max_hue: f64, seed: u64| -> usize {
            let mut img = [0.8f32, 0.1, 0.1].repeat(4);
            color_jitter(&mut img, max_hue, &mut ChaCha8Rng::seed_from_u64(seed));
            (0..3)
                .max_by(|&a, &b| img[a].total_cmp(&img[b]))
                .expect("three channels")
        };
        assert!((0..200).all(|seed| dominant(DEFAULT_HUE, seed) == 0));
        assert!((0..200).all(|seed| dominant(0.0, seed) == 0));
        let other = (0..200).filter(|&seed| dominant(0.5, seed) != 0).count();
        assert!(other > 50, "only {other} of 200 draws left red");
    }

    #[test]
    fn flipping_swaps_left_and_right_pose_bins() {
        let res = 8;
        let img = vec![0u8; res * res * 3];
        let zeros = vec![0u8; res * res];
        let depth = vec![1000u16; res * res];
        let policy = AugmentPolicy {
            jitter: 0.0,
            hue: 0.0,
            grayscale: 0.0,
            flip: true,
            crop: false,
            cutout: false,
        };
        for bin in 0..5 {
            let raw = RawSample {
                res,
                image: &img,
                class: 0,
                pose: bin,
                segmentation: &zeros,
                depth: &depth,
            };
            let mut seen = std::collections::BTreeSet::new();
            for seed in 0..16 {
                let p = prepare(
                    &raw,
                    Task::Pose,
                    &policy,
                    &mut ChaCha8Rng::seed_from_u64(seed),
                );
                let Target::Class(c) = p.target else { panic!() };
                seen.insert(c);
            }
            let want: std::collections::BTreeSet<i64> = match bin {
                3 | 4 => [3, 4].into(),
                b => [b].into(),
            };
            assert_eq!(seen, want, "bin {bin}");
        }
    }

    #[test]
    fn reductions_by_hand() {
        // 4x4 map reduced to 2x2: centre pixels are (1,1),(1,3),(3,1),(3,3).
        let map: Vec<u8> = (0..16).collect();
        assert_eq!(reduce_nearest(&map, 4, 2), vec![5, 7, 13, 15]);
        // Depth: top-left cell {1000, 2000, 0, 3000} -> mean of valid = 2000 mm = 2 m.
        let depth = [1000, 2000, 0, 0, 0, 3000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4000];
        assert_eq!(reduce_depth_mean(&depth, 4, 2), vec![2.0, 0.0, 0.0, 4.0]);
        assert_eq!(target_size(32), 16);
        assert_eq!(target_size(8), 8);
    }

    #[test]
    fn policies_follow_the_design() {
        let seg = AugmentPolicy::for_task(Task::Segmentation);
        assert!(seg.crop && !seg.cutout);
        let depth = AugmentPolicy::for_task(Task::Depth);
        assert!(!depth.crop && !depth.cutout && depth.flip);
        let cls = AugmentPolicy::for_task(Task::Classification);
        assert!(cls.crop && cls.cutout && cls.jitter == 0.8 && cls.grayscale == 0.25);
    }
}
