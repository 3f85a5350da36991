//! Augmented Multiscale Deep InfoMax (Bachman et al., 2019) on the ResNet backbones.
//!
//! Two augmented views of each image. Per view three kinds of features, all of width d = the
//! projection size (256·w single-object, 512·w dense; the original "RKHS" dimension):
//! - global "1x1": the pooled projected features through a linear layer;
//! - local "5x5": the projected last-stage map through a 1x1 conv, average-pooled to
//!   `min(5, side)` x `min(5, side)`;
//! - local "7x7": the second-to-last stage's map through a 1x1 conv, average-pooled to
//!   `min(7, side)` x `min(7, side)`.
//!
//! Adaptation to our backbones (AMDIM's own encoder has 7x7 and 5x5 maps at 128 px): the maps are
//! pooled to the paper's grids where they are larger, and kept where they are smaller. ResNet9
//! (last two stages at res/4 and res/8): 32 px -> 7x7 from 8x8 and 4x4 kept; 64 px -> 7x7 from
//! 16x16 and 5x5 from 8x8; 128 px -> 7x7 from 32x32 and 5x5 from 16x16. ResNet50 (layer3 at
//! res/16, layer4 at res/16 or res/8 dilated): 128 px -> 7x7 from 8x8 and 5x5 from 8x8 (16x16
//! dilated). (Pooling and a 1x1 conv commute, so the conv runs on the pooled map.)
//!
//! Losses, each in both directions (view 1 -> view 2 and back, averaged): global -> 5x5,
//! global -> 7x7, and 5x5 -> 5x5 where the anchor is one location of the source 5x5 map drawn
//! per image from the step's RNG. Each is [`nce_scores_loss`]: in-batch negatives, scores /
//! sqrt(d), soft clipping `30 tanh(s / 30)`, and a penalty of 5e-2 x mean squared (unclipped)
//! score added to the loss.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::module::adaptive_avg_pool2d;
use rand::Rng;

use super::{B, Device, Method, MethodConfig, MethodKind, StepOutput, step_rng, view_tensor};
use crate::TrainError;
use crate::data::HostBatch;
use crate::model::{Backbone, global_average_pool};

/// Soft clipping bound of the scores.
pub const TCLIP: f64 = 30.0;
/// Weight of the squared-score penalty.
pub const SCORE_PENALTY: f64 = 5e-2;

/// AMDIM's NCE with in-batch negatives: anchors `[N, d]` (one per image) against target maps
/// `[N, d, L]` (L locations per image); returns `(nce, penalty)`.
///
/// `s[i, j, l] = anchor_i . target_{j, l} / sqrt(d)`; penalty = `5e-2 * mean(s^2)`; clipped
/// `c = 30 tanh(s / 30)`; for each image i and location l the positive is `c[i, i, l]` and the
/// negatives are `c[i, j, m]` for every other image j and every location m:
/// `nce = mean_{i, l} -log(exp(c_iil) / (exp(c_iil) + sum_{j != i, m} exp(c_ijm)))`.
pub fn nce_scores_loss(anchor: Tensor<B, 2>, target: Tensor<B, 3>) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let [n, d, l] = target.dims();
    let device = anchor.device();
    // [N, d] x [d, N * L] -> [N, N, L]
    let flat = target.swap_dims(0, 1).reshape([d, n * l]);
    let raw = anchor.matmul(flat).reshape([n, n, l]) / (d as f64).sqrt();
    let penalty = raw.clone().square().mean() * SCORE_PENALTY;
    let clipped = (raw / TCLIP).tanh() * TCLIP;
    let eye = Tensor::<B, 2>::eye(n, &device).reshape([n, n, 1]);
    // Positives [N, L].
    let pos = (clipped.clone() * eye.clone()).sum_dim(1).reshape([n, l]);
    // Scores are at most TCLIP, so exp(s - TCLIP) is safe without a running max.
    let neg_mask = eye.neg() + 1.0;
    let neg_sum = ((clipped - TCLIP).exp() * neg_mask)
        .reshape([n, n * l])
        .sum_dim(1); // [N, 1]
    let pos_shift = pos - TCLIP;
    let all = (pos_shift.clone().exp() + neg_sum).log();
    let nce = (pos_shift - all).mean().neg();
    (nce, penalty)
}

/// Backbone + the three feature heads.
#[derive(Module, Debug)]
pub struct AmdimNet<B: Backend> {
    /// The backbone being pretrained.
    pub backbone: Backbone<B>,
    /// Pooled features -> d.
    pub global: Linear<B>,
    /// Projected last-stage map -> d per location.
    pub local5: Conv2d<B>,
    /// Second-to-last stage map -> d per location.
    pub local7: Conv2d<B>,
}

/// The three feature sets of one view.
struct Features {
    pooled: Tensor<B, 2>,
    global: Tensor<B, 2>,
    /// `[N, d, L5]`
    local5: Tensor<B, 3>,
    /// `[N, d, L7]`
    local7: Tensor<B, 3>,
}

fn flatten_map(x: Tensor<B, 4>) -> Tensor<B, 3> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w])
}

fn pool_to(x: Tensor<B, 4>, side: usize) -> Tensor<B, 4> {
    let [_, _, h, w] = x.dims();
    if h <= side && w <= side {
        x
    } else {
        adaptive_avg_pool2d(x, [side.min(h), side.min(w)])
    }
}

impl AmdimNet<B> {
    fn features(&self, x: Tensor<B, 4>) -> Features {
        let (prev, projected) = self.backbone.forward_stages(x);
        let pooled = global_average_pool(projected.clone());
        Features {
            global: self.global.forward(pooled.clone()),
            local5: flatten_map(self.local5.forward(pool_to(projected, 5))),
            local7: flatten_map(self.local7.forward(pool_to(prev, 7))),
            pooled,
        }
    }
}

/// AMDIM (no state besides the seed of the 5x5 anchors).
pub struct Amdim {
    seed: u64,
}

/// One location per image of a `[N, d, L]` map, chosen by `pick[i]`: `[N, d]`.
fn pick_locations(map: Tensor<B, 3>, pick: &[usize]) -> Tensor<B, 2> {
    let [n, d, l] = map.dims();
    let device = map.device();
    let idx: Vec<i64> = pick
        .iter()
        .map(|&p| p.min(l - 1) as i64)
        .flat_map(|p| std::iter::repeat_n(p, d))
        .collect();
    let idx = Tensor::<B, 3, Int>::from_data(TensorData::new(idx, [n, d, 1]), &device);
    map.gather(2, idx).reshape([n, d])
}

impl Method for Amdim {
    type Net = AmdimNet<B>;
    const KIND: MethodKind = MethodKind::Amdim;

    fn init(config: &MethodConfig, device: &Device) -> Result<(Self, Self::Net), TrainError> {
        let p = config.backbone.projection_channels();
        let prev = config.backbone.penultimate_channels();
        let net = AmdimNet {
            backbone: config.backbone.init(device),
            global: LinearConfig::new(p, p).init(device),
            local5: Conv2dConfig::new([p, p], [1, 1]).init(device),
            local7: Conv2dConfig::new([prev, p], [1, 1]).init(device),
        };
        Ok((
            Amdim { seed: config.seed },
            super::init_net(net, config.seed),
        ))
    }

    fn forward(
        &mut self,
        net: &Self::Net,
        batch: &HostBatch,
        step: u64,
        device: &Device,
    ) -> Result<StepOutput, TrainError> {
        let n = batch.size;
        let f1 = net.features(view_tensor(batch, 0, device)?);
        let f2 = net.features(view_tensor(batch, 1, device)?);
        let l5 = f1.local5.dims()[2];
        let mut rng = step_rng(self.seed, step, 0xa3d1);
        let pick1: Vec<usize> = (0..n).map(|_| rng.random_range(0..l5)).collect();
        let pick2: Vec<usize> = (0..n).map(|_| rng.random_range(0..l5)).collect();
        let a5_1 = pick_locations(f1.local5.clone(), &pick1);
        let a5_2 = pick_locations(f2.local5.clone(), &pick2);
        let pairs = [
            (f1.global.clone(), f2.local5.clone()),
            (f2.global.clone(), f1.local5.clone()),
            (f1.global, f2.local7.clone()),
            (f2.global, f1.local7.clone()),
            (a5_1, f2.local5),
            (a5_2, f1.local5),
        ];
        let mut total: Option<Tensor<B, 1>> = None;
        for (anchor, target) in pairs {
            let (nce, penalty) = nce_scores_loss(anchor, target);
            // Each of 1->5, 1->7, 5->5 is the mean of its two directions.
            let term = (nce + penalty) * 0.5;
            total = Some(match total {
                Some(t) => t + term,
                None => term,
            });
        }
        let loss = total.ok_or_else(|| TrainError::Invalid("no AMDIM loss terms".into()))?;
        Ok(StepOutput {
            loss,
            features: f1.pooled,
            rows: (0..n).collect(),
        })
    }

    fn backbone(net: &Self::Net) -> &Backbone<B> {
        &net.backbone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::to_host_f32;

    /// Reference implementation on host values.
    fn by_hand(a: &[[f64; 2]], t: &[Vec<[f64; 2]>]) -> (f64, f64) {
        let n = a.len();
        let l = t[0].len();
        let d = 2.0f64;
        let mut s = vec![vec![vec![0.0; l]; n]; n];
        let mut sq = 0.0;
        for i in 0..n {
            for j in 0..n {
                for m in 0..l {
                    let v = (a[i][0] * t[j][m][0] + a[i][1] * t[j][m][1]) / d.sqrt();
                    sq += v * v;
                    s[i][j][m] = TCLIP * (v / TCLIP).tanh();
                }
            }
        }
        let penalty = SCORE_PENALTY * sq / (n * n * l) as f64;
        let mut nce = 0.0;
        for (i, si) in s.iter().enumerate() {
            let neg: f64 = si
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .flat_map(|(_, sij)| sij.iter())
                .map(|v| v.exp())
                .sum();
            for &pos in &si[i] {
                nce += -(pos.exp() / (pos.exp() + neg)).ln();
            }
        }
        (nce / (n * l) as f64, penalty)
    }

    #[test]
    fn scores_clipping_and_penalty_by_hand() {
        let d = crate::backend::flex();
        // The large anchor pushes some scores past the clip (100 / sqrt 2 ~ 70 -> ~29.3).
        let a = [[1.0, 2.0], [100.0, -1.0], [0.5, 0.5]];
        let t = vec![
            vec![[1.0, 0.0], [0.0, 1.0]],
            vec![[1.0, 1.0], [-1.0, 0.5]],
            vec![[0.2, 0.3], [0.0, -2.0]],
        ];
        let anchor = Tensor::<B, 2>::from_data(
            TensorData::new(
                a.iter().flatten().map(|&v| v as f32).collect::<Vec<_>>(),
                [3, 2],
            ),
            &d,
        );
        // target [N, d, L]: element (j, c, m) = t[j][m][c]
        let mut tv = Vec::new();
        for tj in &t {
            for c in 0..2 {
                for tm in tj {
                    tv.push(tm[c] as f32);
                }
            }
        }
        let target = Tensor::<B, 3>::from_data(TensorData::new(tv, [3, 2, 2]), &d);
        let (nce, pen) = nce_scores_loss(anchor, target);
        let (want_nce, want_pen) = by_hand(&a, &t);
        let nce = to_host_f32(nce).unwrap()[0] as f64;
        let pen = to_host_f32(pen).unwrap()[0] as f64;
        assert!(
            (nce - want_nce).abs() < 1e-3 * want_nce.abs().max(1.0),
            "{nce} vs {want_nce}"
        );
        assert!(
            (pen - want_pen).abs() < 1e-3 * want_pen,
            "{pen} vs {want_pen}"
        );
    }

    #[test]
    fn picking_one_location_per_image() {
        let d = crate::backend::flex();
        // map [2, 2, 3]: image 0 = [[0,1,2],[3,4,5]], image 1 = [[6,7,8],[9,10,11]]
        let map = Tensor::<B, 3>::from_data(
            TensorData::new((0..12).map(|v| v as f32).collect::<Vec<_>>(), [2, 2, 3]),
            &d,
        );
        let got = to_host_f32(pick_locations(map, &[2, 0])).unwrap();
        assert_eq!(got, vec![2.0, 5.0, 6.0, 9.0]);
    }
}
