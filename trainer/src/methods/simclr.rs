//! SimCLR (Chen et al., 2020) with solo-learn's CIFAR settings: two augmented views, a projector
//! `Linear(P, 2048) -> ReLU -> Linear(2048, 256)` on the pooled backbone features, and the
//! NT-Xent loss at temperature 0.2 ([`nt_xent`]).
//!
//! Input: a batch with two views. Output: the loss; no state.

use burn::prelude::*;

use super::{
    B, Device, Method, MethodConfig, MethodKind, Mlp, StepOutput, l2_normalize, view_tensor,
};
use crate::TrainError;
use crate::data::HostBatch;
use crate::model::{Backbone, global_average_pool};

/// Hidden width of the projector.
pub const HIDDEN: usize = 2048;
/// Output width of the projector.
pub const OUT: usize = 256;
/// NT-Xent temperature.
pub const TEMPERATURE: f64 = 0.2;

/// NT-Xent (normalised temperature-scaled cross-entropy) of two views' embeddings.
///
/// The 2N embeddings are L2-normalised; each one's positive is the other view of the same image
/// and its negatives are the other 2N - 2 embeddings:
/// `loss = mean_i -log(exp(s(i, p(i)) / t) / sum_{k != i} exp(s(i, k) / t))`.
///
/// # Shapes
/// `z1`, `z2`: `[N, D]` -> `[1]`
pub fn nt_xent(z1: Tensor<B, 2>, z2: Tensor<B, 2>, temperature: f64) -> Tensor<B, 1> {
    let [n, _] = z1.dims();
    let device = z1.device();
    let z = l2_normalize(Tensor::cat(vec![z1, z2], 0));
    let sim = z.clone().matmul(z.transpose()) / temperature;
    // Remove self-similarity: a large negative on the diagonal.
    let eye = Tensor::<B, 2>::eye(2 * n, &device);
    let logits = sim - eye * 1e9;
    let targets: Vec<i64> = (0..2 * n).map(|i| ((i + n) % (2 * n)) as i64).collect();
    super::cross_entropy_host(logits, &targets, &device)
}

/// Projector on top of the backbone.
#[derive(Module, Debug)]
pub struct SimclrNet<B: Backend> {
    /// The backbone being pretrained.
    pub backbone: Backbone<B>,
    /// `P -> 2048 -> 256`.
    pub projector: Mlp<B>,
}

/// SimCLR (no state).
pub struct Simclr;

impl Method for Simclr {
    type Net = SimclrNet<B>;
    const KIND: MethodKind = MethodKind::Simclr;

    fn init(config: &MethodConfig, device: &Device) -> Result<(Self, Self::Net), TrainError> {
        let p = config.backbone.projection_channels();
        Ok((
            Simclr,
            super::init_net(
                SimclrNet {
                    backbone: config.backbone.init(device),
                    projector: Mlp::new(p, HIDDEN, OUT, false, device),
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
        let h1 = global_average_pool(net.backbone.forward(view_tensor(batch, 0, device)?));
        let h2 = global_average_pool(net.backbone.forward(view_tensor(batch, 1, device)?));
        let loss = nt_xent(
            net.projector.forward(h1.clone()),
            net.projector.forward(h2),
            TEMPERATURE,
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

    fn t2(v: Vec<f32>, shape: [usize; 2]) -> Tensor<B, 2> {
        Tensor::from_data(TensorData::new(v, shape), &crate::backend::flex())
    }

    #[test]
    fn nt_xent_by_hand() {
        // N = 2, D = 2. z1 = [(1,0), (0,1)], z2 = [(1,0), (1,1)/sqrt2] after normalising.
        let z1 = t2(vec![2.0, 0.0, 0.0, 3.0], [2, 2]);
        let z2 = t2(vec![1.0, 0.0, 1.0, 1.0], [2, 2]);
        let t = 0.5f64;
        let l = to_host_f32(nt_xent(z1, z2, t)).unwrap()[0] as f64;
        let r = std::f64::consts::FRAC_1_SQRT_2;
        let z = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [r, r]];
        let dot = |a: [f64; 2], b: [f64; 2]| a[0] * b[0] + a[1] * b[1];
        let mut want = 0.0;
        for i in 0..4 {
            let pos = (i + 2) % 4;
            let denom: f64 = (0..4)
                .filter(|&k| k != i)
                .map(|k| (dot(z[i], z[k]) / t).exp())
                .sum();
            want += -((dot(z[i], z[pos]) / t).exp() / denom).ln();
        }
        want /= 4.0;
        assert!((l - want).abs() < 1e-4, "{l} vs {want}");
    }
}
