//! Resizing a [`Texture`] to another tile size with wrap-around (periodic) filtering.
//!
//! Input: any square RGBA8 texture. Output: the same picture at `size x size`, resampled with a
//! separable Lanczos-3 filter whose taps wrap around the edges, so a seamless tile stays seamless.

use crate::Texture;

fn sinc(x: f32) -> f32 {
    if x.abs() < 1e-6 {
        1.0
    } else {
        let px = std::f32::consts::PI * x;
        px.sin() / px
    }
}

fn lanczos3(x: f32) -> f32 {
    if x.abs() >= 3.0 {
        0.0
    } else {
        sinc(x) * sinc(x / 3.0)
    }
}

/// Normalised filter taps `(source index, weight)` for every output coordinate.
fn taps(src: u32, dst: u32) -> Vec<Vec<(usize, f32)>> {
    let scale = src as f32 / dst as f32;
    let stretch = scale.max(1.0);
    let support = 3.0 * stretch;
    (0..dst)
        .map(|x| {
            let centre = (x as f32 + 0.5) * scale - 0.5;
            let lo = (centre - support).floor() as i64 + 1;
            let hi = (centre + support).floor() as i64;
            let mut t: Vec<(usize, f32)> = (lo..=hi)
                .map(|j| {
                    let w = lanczos3((j as f32 - centre) / stretch);
                    (j.rem_euclid(src as i64) as usize, w)
                })
                .filter(|&(_, w)| w != 0.0)
                .collect();
            let sum: f32 = t.iter().map(|&(_, w)| w).sum();
            if sum.abs() > 1e-6 {
                for tap in &mut t {
                    tap.1 /= sum;
                }
            }
            t
        })
        .collect()
}

/// `texture` resized to `size x size` with a wrap-around Lanczos-3 filter.
///
/// Same size returns a copy. An empty (size 0) source gives an opaque black tile.
pub fn tile(texture: &Texture, size: u32) -> Texture {
    let src = texture.size;
    if size == src {
        return texture.clone();
    }
    if src == 0 || texture.rgba.len() != (src * src * 4) as usize {
        let mut rgba = vec![0u8; (size * size * 4) as usize];
        rgba.chunks_exact_mut(4).for_each(|p| p[3] = 255);
        return Texture { size, rgba };
    }
    let (s, d) = (src as usize, size as usize);
    let taps = taps(src, size);
    // Horizontal pass: s rows x d columns.
    let mut tmp = vec![0f32; s * d * 4];
    for y in 0..s {
        let row = &texture.rgba[y * s * 4..(y + 1) * s * 4];
        for (x, t) in taps.iter().enumerate() {
            let mut acc = [0f32; 4];
            for &(j, w) in t {
                for c in 0..4 {
                    acc[c] += w * row[j * 4 + c] as f32;
                }
            }
            tmp[(y * d + x) * 4..(y * d + x) * 4 + 4].copy_from_slice(&acc);
        }
    }
    // Vertical pass: d rows x d columns.
    let mut rgba = vec![0u8; d * d * 4];
    for (y, t) in taps.iter().enumerate() {
        for x in 0..d {
            let mut acc = [0f32; 4];
            for &(j, w) in t {
                for c in 0..4 {
                    acc[c] += w * tmp[(j * d + x) * 4 + c];
                }
            }
            for c in 0..4 {
                rgba[(y * d + x) * 4 + c] = (acc[c] + 0.5).clamp(0.0, 255.0) as u8;
            }
        }
    }
    Texture { size, rgba }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(size: u32, cell: u32) -> Texture {
        let mut rgba = Vec::new();
        for y in 0..size {
            for x in 0..size {
                let v = if (x / cell + y / cell).is_multiple_of(2) {
                    230
                } else {
                    20
                };
                rgba.extend_from_slice(&[v, v / 2, 255 - v, 255]);
            }
        }
        Texture { size, rgba }
    }

    #[test]
    fn same_size_is_identity_and_constant_stays_constant() {
        let t = checker(16, 4);
        assert_eq!(tile(&t, 16), t);
        let flat = Texture {
            size: 8,
            rgba: [10u8, 200, 30, 255].repeat(64),
        };
        for size in [3, 8, 13, 32] {
            let r = tile(&flat, size);
            assert_eq!(r.size, size);
            assert!(
                r.rgba.chunks_exact(4).all(|p| p == [10, 200, 30, 255]),
                "size {size}"
            );
        }
    }

    #[test]
    fn halving_a_checker_keeps_its_structure() {
        let t = checker(32, 8);
        let r = tile(&t, 16);
        assert_eq!(r.rgba.len(), 16 * 16 * 4);
        // Cell (0,0) is bright, cell (1,0) dark, at the new scale (4 px cells).
        assert!(r.pixel(1, 1)[0] > 200, "{:?}", r.pixel(1, 1));
        assert!(r.pixel(5, 1)[0] < 50, "{:?}", r.pixel(5, 1));
    }

    #[test]
    fn wraps_around_edges() {
        // A single bright column at x = 0: after upsampling, its energy spreads to both the
        // first and the last columns (wrap-around), not only to the right.
        let mut rgba = vec![0u8; 8 * 8 * 4];
        for y in 0..8 {
            rgba[y * 8 * 4] = 255;
            for x in 0..8 {
                rgba[(y * 8 + x) * 4 + 3] = 255;
            }
        }
        let r = tile(&Texture { size: 8, rgba }, 16);
        assert!(r.pixel(15, 3)[0] > 20, "{:?}", r.pixel(15, 3));
        assert!(r.pixel(0, 3)[0] > 100);
    }
}
