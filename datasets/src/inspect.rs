//! Inspecting a rendered dataset: counts, label histograms, depth range and a contact sheet.
//!
//! Input: a dataset directory (`manifest.json`, `train/`, `val/`, `test/`). Output: an
//! [`InspectReport`] (printed by `render inspect`) and, on request, a contact-sheet PNG with
//! image | segmentation (palette) | depth (grey over the objects' depth range, near =
//! bright, background dark) side by side for a few samples.

use std::fmt;
use std::path::Path;

use image::{Rgb, RgbImage};
use shapenet_loader::Class;

use crate::dataset::Dataset;
use crate::error::DatasetError;
use crate::layout::Split;
use crate::manifest::Manifest;
use crate::pose::{POSE_BIN_NAMES, POSE_BINS};
use crate::sample::Sample;

/// Segmentation palette: background, then the ten classes.
pub const PALETTE: [[u8; 3]; 11] = [
    [40, 40, 40],
    [230, 25, 75],
    [60, 180, 75],
    [255, 225, 25],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
    [250, 190, 212],
];

/// Statistics of one split.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SplitStats {
    /// Samples in the split (from its index).
    pub len: usize,
    /// Samples examined for the histograms.
    pub examined: usize,
    /// Class histogram (labels of the `class` column).
    pub classes: [usize; Class::COUNT],
    /// Pose histogram.
    pub poses: [usize; POSE_BINS],
    /// Smallest and largest stored depth (mm, misses excluded) over all pixels.
    pub depth_mm: Option<(u16, u16)>,
    /// Smallest and largest depth (mm) over object pixels.
    pub object_depth_mm: Option<(u16, u16)>,
    /// Share of object pixels over all pixels.
    pub object_coverage: f64,
}

/// What `render inspect` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct InspectReport {
    /// The manifest.
    pub manifest: Manifest,
    /// Per split, in `train, val, test` order.
    pub splits: Vec<(Split, SplitStats)>,
}

fn widen(range: &mut Option<(u16, u16)>, v: u16) {
    *range = Some(match *range {
        Some((lo, hi)) => (lo.min(v), hi.max(v)),
        None => (v, v),
    });
}

/// Reads up to `limit` samples per split (whole shards, from the start) and collects the
/// statistics; every shard read is verified by the reader.
pub fn inspect(dir: &Path, limit: usize) -> Result<InspectReport, DatasetError> {
    let dataset = Dataset::open(dir)?;
    let mut splits = Vec::new();
    for split in Split::ALL {
        let reader = dataset.split(split)?;
        let mut st = SplitStats {
            len: reader.len(),
            ..SplitStats::default()
        };
        let mut object_pixels = 0usize;
        let mut pixels = 0usize;
        for k in 0..reader.num_shards() {
            if st.examined >= limit {
                break;
            }
            for s in reader.read_shard(k)? {
                if st.examined >= limit {
                    break;
                }
                st.examined += 1;
                if let Some(c) = st.classes.get_mut(s.class as usize) {
                    *c += 1;
                }
                if let Some(p) = st.poses.get_mut(s.pose as usize) {
                    *p += 1;
                }
                for (&d, &inst) in s.depth.iter().zip(&s.instance) {
                    pixels += 1;
                    if d == 0 {
                        continue;
                    }
                    widen(&mut st.depth_mm, d);
                    if inst != 0 {
                        object_pixels += 1;
                        widen(&mut st.object_depth_mm, d);
                    }
                }
            }
        }
        st.object_coverage = if pixels > 0 {
            object_pixels as f64 / pixels as f64
        } else {
            0.0
        };
        splits.push((split, st));
    }
    Ok(InspectReport {
        manifest: dataset.manifest().clone(),
        splits,
    })
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.manifest;
        writeln!(
            f,
            "variant {}  scene {}  seed {}  {}x{}  {} object(s)/image  shards of {} ({})",
            m.variant,
            m.scene,
            m.seed,
            m.resolution[0],
            m.resolution[1],
            m.objects_per_image,
            m.shard_size,
            m.compression.as_deref().unwrap_or("uncompressed")
        )?;
        writeln!(
            f,
            "assets: models {} {}, textures {} {}; pose threshold {:.4} rad",
            m.assets.models.kind,
            m.assets.models.fingerprint,
            m.assets.textures.kind,
            m.assets.textures.fingerprint,
            m.pose_threshold_rad
        )?;
        if m.classes.len() < Class::COUNT {
            let names: Vec<&str> = m.classes.iter().map(|c| c.name()).collect();
            writeln!(
                f,
                "classes: {} ({} of {}, labels keep the ten-class ids)",
                names.join(", "),
                m.classes.len(),
                Class::COUNT
            )?;
        }
        for (split, st) in &self.splits {
            writeln!(
                f,
                "\n{split}: {} samples ({} examined)",
                st.len, st.examined
            )?;
            let pct = |c: usize| {
                if st.examined > 0 {
                    100.0 * c as f64 / st.examined as f64
                } else {
                    0.0
                }
            };
            write!(f, "  class:")?;
            // The dataset's classes, plus any other label found (a damaged dataset).
            for (c, &n) in Class::ALL.iter().zip(&st.classes) {
                if m.classes.contains(c) || n > 0 {
                    write!(f, " {}={} ({:.1}%)", c.name(), n, pct(n))?;
                }
            }
            writeln!(f)?;
            write!(f, "  pose: ")?;
            for (name, &n) in POSE_BIN_NAMES.iter().zip(&st.poses) {
                write!(f, " {name}={n} ({:.1}%)", pct(n))?;
            }
            writeln!(f)?;
            let range = |r: Option<(u16, u16)>| match r {
                Some((lo, hi)) => format!("{lo}..{hi} mm"),
                None => "none".to_string(),
            };
            writeln!(
                f,
                "  depth: all pixels {}, objects {}; object coverage {:.1}%",
                range(st.depth_mm),
                range(st.object_depth_mm),
                100.0 * st.object_coverage
            )?;
        }
        Ok(())
    }
}

/// The three tiles of one sample (image, segmentation, depth), each `scale` times enlarged.
fn tiles(s: &Sample, scale: u32) -> [RgbImage; 3] {
    let (w, h) = (s.width, s.height);
    let px = |x: u32, y: u32| (y * w + x) as usize;
    // Normalise over the objects' depth range (the far background plane would flatten them);
    // background pixels are drawn dark. Without objects, over all pixels.
    let (mut near, mut far) = (u16::MAX, 0u16);
    let has_objects = s.instance.iter().any(|&i| i != 0);
    for (&d, &inst) in s.depth.iter().zip(&s.instance) {
        if d != 0 && (inst != 0 || !has_objects) {
            near = near.min(d);
            far = far.max(d);
        }
    }
    let grey = |d: u16, inst: u8| -> u8 {
        if d == 0 {
            return 0;
        }
        if has_objects && inst == 0 {
            return 24;
        }
        if far <= near {
            return 255;
        }
        // near = bright
        let t = (far.saturating_sub(d)) as f32 / (far - near) as f32;
        (60.0 + 195.0 * t.clamp(0.0, 1.0)) as u8
    };
    let mut out = [
        RgbImage::new(w * scale, h * scale),
        RgbImage::new(w * scale, h * scale),
        RgbImage::new(w * scale, h * scale),
    ];
    for y in 0..h * scale {
        for x in 0..w * scale {
            let i = px(x / scale, y / scale);
            let rgb = [s.image[3 * i], s.image[3 * i + 1], s.image[3 * i + 2]];
            out[0].put_pixel(x, y, Rgb(rgb));
            let seg = s.segmentation[i] as usize;
            out[1].put_pixel(x, y, Rgb(PALETTE[seg.min(PALETTE.len() - 1)]));
            let g = grey(s.depth[i], s.instance[i]);
            out[2].put_pixel(x, y, Rgb([g, g, g]));
        }
    }
    out
}

/// A contact sheet of the first `n` samples of `split`: per sample the image, the segmentation
/// (palette) and the depth (grey, near = bright) side by side, `per_row` samples per row, tiles
/// enlarged `scale` times, 2-pixel white gutters between samples.
pub fn contact_sheet(
    dir: &Path,
    split: Split,
    n: usize,
    per_row: usize,
    scale: u32,
) -> Result<RgbImage, DatasetError> {
    let dataset = Dataset::open(dir)?;
    let reader = dataset.split(split)?;
    let n = n.min(reader.len()).max(1);
    let mut samples = Vec::with_capacity(n);
    for k in 0..reader.num_shards() {
        if samples.len() >= n {
            break;
        }
        samples.extend(reader.read_shard(k)?.into_iter().take(n - samples.len()));
    }
    let Some(first) = samples.first() else {
        return Err(DatasetError::Job(format!(
            "{}: split {split} is empty, nothing to draw",
            dir.display()
        )));
    };
    let scale = scale.max(1);
    let (tw, th) = (first.width * scale, first.height * scale);
    let per_row = per_row.clamp(1, samples.len());
    let rows = samples.len().div_ceil(per_row);
    let gutter = 2u32;
    let group_w = 3 * tw + gutter;
    let mut sheet = RgbImage::from_pixel(
        per_row as u32 * group_w - gutter,
        rows as u32 * (th + gutter) - gutter,
        Rgb([255, 255, 255]),
    );
    for (k, s) in samples.iter().enumerate() {
        let (gx, gy) = (
            (k % per_row) as u32 * group_w,
            (k / per_row) as u32 * (th + gutter),
        );
        for (t, tile) in tiles(s, scale).iter().enumerate() {
            image::imageops::replace(&mut sheet, tile, (gx + t as u32 * tw) as i64, gy as i64);
        }
    }
    Ok(sheet)
}

/// Writes an image as PNG atomically (temp name + rename).
pub fn write_png(path: &Path, img: &RgbImage) -> Result<(), DatasetError> {
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| DatasetError::Job(format!("{}: cannot encode PNG: {e}", path.display())))?;
    Ok(crate::mds::write_atomic(path, &bytes)?)
}
