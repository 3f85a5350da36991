//! Barlow Twins (Zbontar et al., 2021) with solo-learn's CIFAR settings: two augmented views, a
//! projector `P -> 2048 -> BN -> ReLU -> 2048 -> BN -> ReLU -> 2048` on the pooled backbone
//! features, and the redundancy-reduction loss ([`barlow_twins_loss`], lambda 0.0051, scale 0.1).
//!
//! Input: a batch with two views. Output: the loss; no state (no negatives, no EMA target: the
//! loss itself keeps the embedding from collapsing).

use burn::prelude::*;

use super::{B, Device, Method, MethodConfig, MethodKind, StepOutput, view_tensor};
use crate::TrainError;
use crate::data::HostBatch;
use crate::model::{Backbone, global_average_pool};

/// Hidden and output width of the projector.
pub const WIDTH: usize = 2048;
/// Weight of the off-diagonal terms.
pub const LAMBDA: f64 = 0.0051;
/// Scale of the whole loss.
pub const SCALE: f64 = 0.1;
/// Added to the variance when standardising (as `BatchNorm1d`'s eps).
pub const EPS: f64 = 1e-5;

/// Each column standardised over the batch: `(z - mean) / sqrt(var + eps)`, biased variance
/// (a `BatchNorm1d` without affine parameters, in training mode).
///
/// # Shapes
/// `[N, D]` -> `[N, D]`
pub fn standardize(z: Tensor<B, 2>) -> Tensor<B, 2> {
    let centred = z.clone() - z.mean_dim(0);
    let var = centred.clone().square().mean_dim(0);
    centred / (var + EPS).sqrt()
}

/// The Barlow Twins loss of two views' projections:
/// `scale * (sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2)` with `C = z1n^T z2n / N` the
/// cross-correlation of the batch-standardised projections ([`standardize`]).
///
/// # Shapes
/// `z1`, `z2`: `[N, D]` -> `[1]`
pub fn barlow_twins_loss(
    z1: Tensor<B, 2>,
    z2: Tensor<B, 2>,
    lambda: f64,
    scale: f64,
) -> Tensor<B, 1> {
    let [n, d] = z1.dims();
    let device = z1.device();
    let c = standardize(z1).transpose().matmul(standardize(z2)) / n as f64;
    let eye = Tensor::<B, 2>::eye(d, &device);
    // 1 on the diagonal, lambda elsewhere.
    let weight = eye.clone() * (1.0 - lambda) + lambda;
    ((c - eye).square() * weight).sum() * scale
}

/// `Linear -> BN -> ReLU -> Linear -> BN -> ReLU -> Linear`.
#[derive(Module, Debug)]
pub struct Projector<B: Backend> {
    fc1: burn::nn::Linear<B>,
    bn1: burn::nn::BatchNorm<B>,
    fc2: burn::nn::Linear<B>,
    bn2: burn::nn::BatchNorm<B>,
    fc3: burn::nn::Linear<B>,
}

impl<B: Backend> Projector<B> {
    /// `input -> width -> width -> output`.
    pub fn new(input: usize, width: usize, output: usize, device: &B::Device) -> Self {
        let linear = |i, o, bias| {
            burn::nn::LinearConfig::new(i, o)
                .with_bias(bias)
                .init(device)
        };
        Self {
            fc1: linear(input, width, false),
            bn1: burn::nn::BatchNormConfig::new(width).init(device),
            fc2: linear(width, width, false),
            bn2: burn::nn::BatchNormConfig::new(width).init(device),
            fc3: linear(width, output, true),
        }
    }

    /// # Shapes
    /// `[N, input]` -> `[N, output]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        use burn::tensor::activation::relu;
        let h = relu(self.bn1.forward(self.fc1.forward(x)));
        let h = relu(self.bn2.forward(self.fc2.forward(h)));
        self.fc3.forward(h)
    }
}

/// Backbone + projector.
#[derive(Module, Debug)]
pub struct BarlowNet<B: Backend> {
    /// The backbone being pretrained.
    pub backbone: Backbone<B>,
    /// `P -> 2048 -> 2048 -> 2048`.
    pub projector: Projector<B>,
}

/// Barlow Twins (no state).
pub struct Barlow;

impl Method for Barlow {
    type Net = BarlowNet<B>;
    const KIND: MethodKind = MethodKind::Barlow;

    fn init(config: &MethodConfig, device: &Device) -> Result<(Self, Self::Net), TrainError> {
        let p = config.backbone.projection_channels();
        Ok((
            Barlow,
            super::init_net(
                BarlowNet {
                    backbone: config.backbone.init(device),
                    projector: Projector::new(p, WIDTH, WIDTH, device),
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
        if batch.size < 2 {
            return Err(TrainError::Invalid(format!(
                "barlow: a batch of {} image(s) has no batch statistics; use at least 2",
                batch.size
            )));
        }
        let h1 = global_average_pool(net.backbone.forward(view_tensor(batch, 0, device)?));
        let h2 = global_average_pool(net.backbone.forward(view_tensor(batch, 1, device)?));
        let loss = barlow_twins_loss(
            net.projector.forward(h1.clone()),
            net.projector.forward(h2),
            LAMBDA,
            SCALE,
        );
        Ok(StepOutput {
            loss,
            features: h1,
            rows: (0..batch.size).collect(),
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

    fn t2(v: &[f32], shape: [usize; 2]) -> Tensor<B, 2> {
        Tensor::from_data(TensorData::new(v.to_vec(), shape), &crate::backend::flex())
    }

    /// The loss written out with loops in f64.
    fn by_hand(z1: &[f32], z2: &[f32], n: usize, d: usize, lambda: f64, scale: f64) -> f64 {
        let std = |z: &[f32]| -> Vec<f64> {
            let mut out = vec![0.0; n * d];
            for j in 0..d {
                let col: Vec<f64> = (0..n).map(|i| z[i * d + j] as f64).collect();
                let mean = col.iter().sum::<f64>() / n as f64;
                let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
                for i in 0..n {
                    out[i * d + j] = (col[i] - mean) / (var + EPS).sqrt();
                }
            }
            out
        };
        let (a, b) = (std(z1), std(z2));
        let mut loss = 0.0;
        for i in 0..d {
            for j in 0..d {
                let c: f64 = (0..n).map(|k| a[k * d + i] * b[k * d + j]).sum::<f64>() / n as f64;
                loss += if i == j {
                    (1.0 - c).powi(2)
                } else {
                    lambda * c * c
                };
            }
        }
        scale * loss
    }

    #[test]
    fn barlow_twins_loss_by_hand() {
        // N = 2, D = 2: every column standardises to (-1, 1) or (1, -1) (up to eps), so
        // C = [[1, 1], [-1, -1]] and the loss is scale * ((1-1)^2 + (-1-1)^2 + lambda * 2).
        let z1 = [1.0f32, 2.0, 3.0, 0.0];
        let z2 = [0.0f32, 1.0, 2.0, 5.0];
        let got = to_host_f32(barlow_twins_loss(
            t2(&z1, [2, 2]),
            t2(&z2, [2, 2]),
            0.5,
            0.1,
        ))
        .unwrap()[0] as f64;
        assert!((got - 0.1 * (4.0 + 0.5 * 2.0)).abs() < 1e-3, "{got}");
        assert!(
            (got - by_hand(&z1, &z2, 2, 2, 0.5, 0.1)).abs() < 1e-5,
            "{got}"
        );

        // N = 4, D = 3, uneven values, the method's own constants.
        let z1 = [
            0.3f32, -1.2, 2.0, 1.1, 0.4, -0.5, -0.7, 0.9, 1.5, 2.2, -0.3, 0.1,
        ];
        let z2 = [
            -0.4f32, 0.8, 1.9, 1.3, -0.2, 0.6, 0.5, 1.7, -1.1, 2.4, 0.0, 0.3,
        ];
        let got = to_host_f32(barlow_twins_loss(
            t2(&z1, [4, 3]),
            t2(&z2, [4, 3]),
            LAMBDA,
            SCALE,
        ))
        .unwrap()[0] as f64;
        let want = by_hand(&z1, &z2, 4, 3, LAMBDA, SCALE);
        assert!((got - want).abs() < 1e-4 * want.max(1.0), "{got} vs {want}");
    }

    #[test]
    fn identical_decorrelated_views_cost_nothing() {
        // Two identical views whose standardised columns are orthogonal: C = I, loss ~ 0.
        let z = [1.0f32, 1.0, -1.0, 1.0, 1.0, -1.0, -1.0, -1.0];
        let got = to_host_f32(barlow_twins_loss(
            t2(&z, [4, 2]),
            t2(&z, [4, 2]),
            LAMBDA,
            SCALE,
        ))
        .unwrap()[0];
        assert!(got.abs() < 1e-4, "{got}");
    }
}
