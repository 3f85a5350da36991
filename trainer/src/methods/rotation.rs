//! Rotation prediction (Gidaris et al., 2018): each image of the batch is turned by 0, 90, 180
//! or 270 degrees, a quarter of the batch each (image i of B gets `(4 i / B)` quarter turns, the
//! batch order being shuffled already), and a linear head on the pooled features predicts which.
//!
//! Input: one view. Output: the 4-way cross-entropy; no state.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::{B, Device, Method, MethodConfig, MethodKind, StepOutput, cross_entropy_host};
use crate::TrainError;
use crate::data::HostBatch;
use crate::model::{Backbone, global_average_pool};

/// Quarter turns of image `i` of a batch of `n`: 0 for the first quarter, 1 for the second...
pub fn quarter_turns(i: usize, n: usize) -> usize {
    (4 * i / n.max(1)).min(3)
}

/// Rotate a CHW image by `k` quarter turns counter-clockwise (as `numpy.rot90`).
pub fn rotate_chw(img: &[f32], res: usize, k: usize) -> Vec<f32> {
    let k = k % 4;
    if k == 0 {
        return img.to_vec();
    }
    let plane = res * res;
    let mut out = vec![0.0; img.len()];
    for c in 0..img.len() / plane {
        let src = &img[c * plane..(c + 1) * plane];
        let dst = &mut out[c * plane..(c + 1) * plane];
        for y in 0..res {
            for x in 0..res {
                // Output (y, x) reads input (sy, sx).
                let (sy, sx) = match k {
                    1 => (x, res - 1 - y),
                    2 => (res - 1 - y, res - 1 - x),
                    _ => (res - 1 - x, y),
                };
                dst[y * res + x] = src[sy * res + sx];
            }
        }
    }
    out
}

/// Backbone + 4-way linear head.
#[derive(Module, Debug)]
pub struct RotationNet<B: Backend> {
    /// The backbone being pretrained.
    pub backbone: Backbone<B>,
    /// Pooled features -> 4 logits.
    pub head: Linear<B>,
}

/// Rotation prediction (no state).
pub struct Rotation;

impl Method for Rotation {
    type Net = RotationNet<B>;
    const KIND: MethodKind = MethodKind::Rotation;

    fn init(config: &MethodConfig, device: &Device) -> Result<(Self, Self::Net), TrainError> {
        let p = config.backbone.projection_channels();
        Ok((
            Rotation,
            super::init_net(
                RotationNet {
                    backbone: config.backbone.init(device),
                    head: LinearConfig::new(p, 4).init(device),
                },
                config.seed,
            ),
        ))
    }

    fn forward(
        &mut self,
        net: &Self::Net,
        batch: &HostBatch,
        _step: u64,
        device: &Device,
    ) -> Result<StepOutput, TrainError> {
        let (n, res) = (batch.size, batch.res);
        let per = 3 * res * res;
        let mut rotated = Vec::with_capacity(batch.images.len());
        let mut targets = Vec::with_capacity(n);
        for i in 0..n {
            let k = quarter_turns(i, n);
            rotated.extend(rotate_chw(&batch.images[i * per..(i + 1) * per], res, k));
            targets.push(k as i64);
        }
        let x = Tensor::<B, 4>::from_data(TensorData::new(rotated, [n, 3, res, res]), device);
        let h = global_average_pool(net.backbone.forward(x));
        let loss = cross_entropy_host(net.head.forward(h.clone()), &targets, device);
        // Un-rotated images are the first quarter.
        let upright: Vec<usize> = (0..n).filter(|&i| quarter_turns(i, n) == 0).collect();
        let features = h.narrow(0, 0, upright.len());
        Ok(StepOutput {
            loss,
            features,
            rows: upright,
        })
    }

    fn backbone(net: &Self::Net) -> &Backbone<B> {
        &net.backbone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_and_rotations() {
        let turns: Vec<usize> = (0..8).map(|i| quarter_turns(i, 8)).collect();
        assert_eq!(turns, vec![0, 0, 1, 1, 2, 2, 3, 3]);
        // 2x2 one channel: [[a, b], [c, d]] turned 90 deg counter-clockwise = [[b, d], [a, c]].
        let img = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(rotate_chw(&img, 2, 1), vec![2.0, 4.0, 1.0, 3.0]);
        assert_eq!(rotate_chw(&img, 2, 2), vec![4.0, 3.0, 2.0, 1.0]);
        assert_eq!(rotate_chw(&img, 2, 3), vec![3.0, 1.0, 4.0, 2.0]);
        let r4 = rotate_chw(&rotate_chw(&img, 2, 3), 2, 1);
        assert_eq!(r4, img.to_vec());
    }
}
