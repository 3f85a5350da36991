//! sRGB -> CIE Lab (D65) conversion and the network's input normalisation.
//!
//! Input: 8-bit sRGB (or sRGB-encoded floats in [0, 1]). Output: Lab with L in [0, 100] and a, b
//! roughly in [-110, 110], then normalised per channel with [`LAB_MEAN`] / [`LAB_STD`].
//!
//! Pipeline: sRGB -> linear (IEC 61966-2-1 transfer curve) -> XYZ (D65 matrix) -> Lab
//! (CIE 1976, D65 white point X=0.95047, Y=1, Z=1.08883).

/// Per-channel mean of Lab inputs (L, a, b), as in the paper's code.
pub const LAB_MEAN: [f32; 3] = [38.44, 3.03, 4.77];
/// Per-channel standard deviation of Lab inputs (L, a, b).
pub const LAB_STD: [f32; 3] = [17.42, 9.41, 11.37];

const WHITE: [f32; 3] = [0.950_47, 1.0, 1.088_83];

/// sRGB-encoded value in [0, 1] to linear light.
pub fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.040_45 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn lab_f(t: f32) -> f32 {
    const DELTA: f32 = 6.0 / 29.0;
    if t > DELTA * DELTA * DELTA {
        t.cbrt()
    } else {
        t / (3.0 * DELTA * DELTA) + 4.0 / 29.0
    }
}

/// Linear RGB (sRGB primaries) to CIE Lab under D65.
pub fn linear_rgb_to_lab(rgb: [f32; 3]) -> [f32; 3] {
    let [r, g, b] = rgb;
    let x = 0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = 0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b;
    let fx = lab_f(x / WHITE[0]);
    let fy = lab_f(y / WHITE[1]);
    let fz = lab_f(z / WHITE[2]);
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// sRGB-encoded floats in [0, 1] to Lab.
pub fn srgb_to_lab(rgb: [f32; 3]) -> [f32; 3] {
    linear_rgb_to_lab(rgb.map(srgb_to_linear))
}

/// 8-bit sRGB to Lab.
pub fn srgb8_to_lab(rgb: [u8; 3]) -> [f32; 3] {
    srgb_to_lab(rgb.map(|c| c as f32 / 255.0))
}

/// Convert an HWC sRGB float image (values in [0, 1]) into a normalised CHW Lab image, appending
/// `3 * h * w` values to `out`.
pub fn hwc_srgb_to_normalised_chw_lab(hwc: &[f32], h: usize, w: usize, out: &mut Vec<f32>) {
    let plane = h * w;
    let start = out.len();
    out.resize(start + 3 * plane, 0.0);
    let dst = &mut out[start..];
    for p in 0..plane {
        let lab = srgb_to_lab([hwc[3 * p], hwc[3 * p + 1], hwc[3 * p + 2]]);
        for c in 0..3 {
            dst[c * plane + p] = (lab[c] - LAB_MEAN[c]) / LAB_STD[c];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f32; 3], b: [f32; 3], tol: f32) {
        for i in 0..3 {
            assert!((a[i] - b[i]).abs() < tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn known_lab_values() {
        // Reference values (D65, 2 degree observer), e.g. from Bruce Lindbloom's calculator.
        close(srgb8_to_lab([255, 255, 255]), [100.0, 0.0, 0.0], 0.02);
        close(srgb8_to_lab([0, 0, 0]), [0.0, 0.0, 0.0], 1e-4);
        close(srgb8_to_lab([255, 0, 0]), [53.24, 80.09, 67.20], 0.05);
        close(srgb8_to_lab([0, 255, 0]), [87.73, -86.18, 83.18], 0.05);
        close(srgb8_to_lab([0, 0, 255]), [32.30, 79.19, -107.86], 0.05);
        close(srgb8_to_lab([128, 128, 128]), [53.59, 0.0, 0.0], 0.05);
    }

    #[test]
    fn transfer_curve_is_continuous() {
        let a = srgb_to_linear(0.040_45);
        let b = srgb_to_linear(0.040_46);
        assert!((a - b).abs() < 1e-5);
        assert!((srgb_to_linear(1.0) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn normalised_layout_is_chw() {
        // 1x2 image: a white and a black pixel.
        let hwc = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let mut out = Vec::new();
        hwc_srgb_to_normalised_chw_lab(&hwc, 1, 2, &mut out);
        assert_eq!(out.len(), 6);
        assert!((out[0] - (100.0 - LAB_MEAN[0]) / LAB_STD[0]).abs() < 1e-3);
        assert!((out[1] - (0.0 - LAB_MEAN[0]) / LAB_STD[0]).abs() < 1e-3);
        assert!((out[3] - (0.0 - LAB_MEAN[1]) / LAB_STD[1]).abs() < 1e-2);
    }
}
