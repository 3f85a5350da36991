//! Batch normalisation of feature maps written for the element-wise fast paths of burn-flex.
//!
//! [`batch_norm`] computes what burn's `BatchNorm::forward` computes (batch statistics and a
//! running-average update while training, the running statistics otherwise; biased variance,
//! the same momentum and epsilon) on the same module, so parameters, buffers, records and the
//! PyTorch export are unchanged. Only the order of the element-wise operations differs, which
//! changes results by float rounding.
//!
//! Why: burn 0.21's `BatchNorm` broadcasts `[1, C, 1, 1]` statistics over `[B, C, H, W]` maps
//! and gathers each channel with `swap_dims(0, 1)`; burn-flex 0.21 has no vectorised kernel for
//! either layout and walks every element through its generic strided iterator (about half of a
//! ResNet9 training step at width 0.25 in the profile, docs/PERFORMANCE.md). Here the map is
//! viewed as `[B, C, S]` (no copy), statistics are reduced over the contiguous last axis and
//! then over the batch, and every per-channel operand is materialised as a contiguous
//! `[B, C, 1]` tensor (B·C values), which flex applies with its per-row scalar kernel forwards
//! and backwards.

use burn::nn::BatchNorm;
use burn::prelude::*;

/// Batch normalisation of `x` with the parameters and running statistics of `bn`.
///
/// Training (gradient tracking on `x`'s device): normalises with the batch mean and biased
/// variance over all dimensions but the channel and updates `bn`'s running statistics with its
/// momentum; otherwise normalises with the running statistics, like `BatchNorm::forward`.
///
/// # Shapes
/// `[B, C, ...]` (rank >= 2) -> same
pub fn batch_norm<Bk: Backend, const D: usize>(
    bn: &BatchNorm<Bk>,
    x: Tensor<Bk, D>,
) -> Tensor<Bk, D> {
    assert!(
        D >= 2,
        "batch_norm: rank >= 2 expected ([B, C, ...]), got {D}"
    );
    let dims = x.dims();
    let (b, c) = (dims[0], dims[1]);
    let s: usize = dims[2..].iter().product();
    let device = x.device();
    let x = x.reshape([b, c, s]);
    let (centered, scale) = if Bk::ad_enabled(&device) {
        let n = (b * s) as f64;
        // Per-sample channel sums (contiguous last axis), then over the batch: [1, C, 1].
        let mean = x.clone().sum_dim(2).sum_dim(0).div_scalar(n);
        let centered = x - per_sample(mean.clone(), b);
        let var = (centered.clone() * centered.clone())
            .sum_dim(2)
            .sum_dim(0)
            .div_scalar(n);
        let m = bn.momentum;
        let running_mean = bn.running_mean.value_sync().to_device(&device);
        let running_var = bn.running_var.value_sync().to_device(&device);
        bn.running_mean.update(
            running_mean
                .mul_scalar(1.0 - m)
                .add(mean.detach().mul_scalar(m).reshape([c]))
                .detach(),
        );
        bn.running_var.update(
            running_var
                .mul_scalar(1.0 - m)
                .add(var.clone().detach().mul_scalar(m).reshape([c]))
                .detach(),
        );
        (centered, inverse_std(bn, var))
    } else {
        let mean = bn
            .running_mean
            .value()
            .to_device(&device)
            .reshape([1, c, 1]);
        let var = bn.running_var.value().to_device(&device).reshape([1, c, 1]);
        (x - per_sample(mean, b), inverse_std(bn, var))
    };
    let beta = bn.beta.val().reshape([1, c, 1]);
    (centered * per_sample(scale, b) + per_sample(beta, b)).reshape(dims)
}

/// `gamma / sqrt(var + eps)`, `[1, C, 1]`.
fn inverse_std<Bk: Backend>(bn: &BatchNorm<Bk>, var: Tensor<Bk, 3>) -> Tensor<Bk, 3> {
    let [_, c, _] = var.dims();
    bn.gamma.val().reshape([1, c, 1]) / var.add_scalar(bn.epsilon).sqrt()
}

/// A per-channel `[1, C, 1]` tensor repeated over the batch as a contiguous `[B, C, 1]` tensor
/// (B·C values; its gradient sums over the batch).
fn per_sample<Bk: Backend>(t: Tensor<Bk, 3>, b: usize) -> Tensor<Bk, 3> {
    let [_, c, _] = t.dims();
    // `reshape` of the stride-0 expansion copies it into a contiguous buffer.
    t.reshape([1, c]).expand([b, c]).reshape([b, c, 1])
}

#[cfg(test)]
mod tests {
    use burn::module::{AutodiffModule, Param};
    use burn::nn::BatchNormConfig;

    use super::*;
    use crate::backend::{B, autodiff, flex};

    /// A batch norm over 3 channels with non-trivial gamma and beta.
    fn bn(device: &crate::backend::Device) -> BatchNorm<B> {
        let mut bn = BatchNormConfig::new(3).init(device);
        bn.gamma = Param::from_tensor(Tensor::from_floats([0.5, 1.5, -2.0], device));
        bn.beta = Param::from_tensor(Tensor::from_floats([0.1, -0.3, 2.0], device));
        bn
    }

    fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().to_vec::<f32>().expect("f32 data")
    }

    fn assert_close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                "{what}[{i}]: {x} vs burn's {y}"
            );
        }
    }

    /// Same outputs, input/gamma/beta gradients, running statistics and inference outputs as
    /// burn's `BatchNorm::forward`, for a map (rank 4) and a vector batch (rank 2).
    #[test]
    fn matches_burn_batch_norm() {
        let device = autodiff(&flex());
        let (n, c, h, w) = (4, 3, 5, 6);
        let data: Vec<f32> = (0..n * c * h * w)
            .map(|i| ((i * 37 % 101) as f32 / 17.0 - 2.5) + (i / (h * w) % c) as f32 * 3.0)
            .collect();
        let weights: Vec<f32> = (0..n * c * h * w)
            .map(|i| (i * 53 % 89) as f32 / 44.0 - 1.0)
            .collect();
        let ours = bn(&device);
        let burns = bn(&device);
        for step in 0..2 {
            let input = |_: ()| {
                Tensor::<B, 4>::from_data(TensorData::new(data.clone(), [n, c, h, w]), &device)
                    .add_scalar(step as f64)
                    .require_grad()
            };
            let weight =
                Tensor::<B, 4>::from_data(TensorData::new(weights.clone(), [n, c, h, w]), &device);
            let (x1, x2) = (input(()), input(()));
            let y1 = batch_norm(&ours, x1.clone());
            let y2 = burns.forward(x2.clone());
            let g1 = (y1.clone() * weight.clone()).sum().backward();
            let g2 = (y2.clone() * weight).sum().backward();
            assert_close(&values(y1), &values(y2), "output");
            let grad = |x: &Tensor<B, 4>, g| values(x.grad(g).expect("input gradient"));
            assert_close(&grad(&x1, &g1), &grad(&x2, &g2), "input gradient");
            let pgrad = |p: &Param<Tensor<B, 1>>, g| values(p.val().grad(g).expect("gradient"));
            assert_close(
                &pgrad(&ours.gamma, &g1),
                &pgrad(&burns.gamma, &g2),
                "gamma gradient",
            );
            assert_close(
                &pgrad(&ours.beta, &g1),
                &pgrad(&burns.beta, &g2),
                "beta gradient",
            );
        }
        let (ours, burns) = (ours.valid(), burns.valid());
        assert_close(
            &values(ours.running_mean.value()),
            &values(burns.running_mean.value()),
            "running mean",
        );
        assert_close(
            &values(ours.running_var.value()),
            &values(burns.running_var.value()),
            "running variance",
        );
        let x = Tensor::<B, 4>::from_data(TensorData::new(data.clone(), [n, c, h, w]), &flex());
        assert_close(
            &values(batch_norm(&ours, x.clone())),
            &values(burns.forward(x)),
            "inference output",
        );
        let x = Tensor::<B, 2>::from_data(TensorData::new(data[..n * c].to_vec(), [n, c]), &flex());
        assert_close(
            &values(batch_norm(&ours, x.clone())),
            &values(burns.forward(x)),
            "inference output, rank 2",
        );
    }
}
