//! Variational autoencoder (Kingma & Welling, 2014) on the backbone.
//!
//! Encoder: the backbone's pooled features (P = 256·w, 512·w dense) -> two linear layers give
//! the mean and log-variance of a P-dimensional Gaussian latent (latent = pooled feature size).
//! Decoder: `z -> Linear -> [C, 4, 4]` (C = 256·w), then stride-2 transposed convolutions
//! (kernel 4, padding 1) that double the side and halve the channels (at least 16·w) until the
//! input size, each followed by BN + ReLU, and a final 3x3 conv to the 3 Lab channels.
//!
//! Loss ([`vae_loss`]): mean squared error of the reconstruction against the (normalised Lab)
//! input, averaged over pixels and channels, plus 1e-5 x the KL divergence to N(0, I) summed
//! over the latent dimensions and averaged over the batch. Training samples `z = mu + sigma * e`
//! with `e` drawn from the step's seeded RNG.

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::{
    B, Device, Method, MethodConfig, MethodKind, StepOutput, standard_normal, step_rng, view_tensor,
};
use crate::TrainError;
use crate::data::HostBatch;
use crate::model::{Backbone, batch_norm, global_average_pool};

/// Weight of the KL term.
pub const KL_WEIGHT: f64 = 1e-5;
/// Side of the decoder's first feature map.
pub const SEED_SIDE: usize = 4;

/// KL divergence of N(mu, exp(logvar)) to N(0, I), summed over dimensions, mean over the batch:
/// `mean_i -0.5 * sum_j (1 + logvar_ij - mu_ij^2 - exp(logvar_ij))`.
///
/// # Shapes
/// `[N, D]`, `[N, D]` -> `[1]`
pub fn kl_divergence(mu: Tensor<B, 2>, logvar: Tensor<B, 2>) -> Tensor<B, 1> {
    let term = logvar.clone() + 1.0 - mu.square() - logvar.exp();
    (term.sum_dim(1) * -0.5).mean()
}

/// `mse(recon, x) + kl_weight * kl(mu, logvar)`; returns (total, mse, kl).
pub fn vae_loss(
    recon: Tensor<B, 4>,
    x: Tensor<B, 4>,
    mu: Tensor<B, 2>,
    logvar: Tensor<B, 2>,
    kl_weight: f64,
) -> (Tensor<B, 1>, Tensor<B, 1>, Tensor<B, 1>) {
    let mse = (recon - x).square().mean();
    let kl = kl_divergence(mu, logvar);
    (mse.clone() + kl.clone() * kl_weight, mse, kl)
}

/// One up-sampling step: transposed conv (stride 2) + BN + ReLU.
#[derive(Module, Debug)]
pub struct Up<B: Backend> {
    deconv: ConvTranspose2d<B>,
    bn: BatchNorm<B>,
}

/// The decoder: latent -> image.
#[derive(Module, Debug)]
pub struct Decoder<B: Backend> {
    fc: Linear<B>,
    ups: Vec<Up<B>>,
    out: Conv2d<B>,
    channels: usize,
}

impl<B: Backend> Decoder<B> {
    /// A decoder from `latent` values to `res x res` images (`res` = 4 * 2^k).
    pub fn new(latent: usize, res: usize, width: f64, device: &B::Device) -> Self {
        let mut c = crate::model::resnet9::scaled(256, width);
        let min_c = crate::model::resnet9::scaled(16, width);
        let mut side = SEED_SIDE;
        let mut ups = Vec::new();
        let first = c;
        while side < res {
            let next = (c / 2).max(min_c);
            ups.push(Up {
                deconv: ConvTranspose2dConfig::new([c, next], [4, 4])
                    .with_stride([2, 2])
                    .with_padding([1, 1])
                    .with_bias(false)
                    .init(device),
                bn: BatchNormConfig::new(next).init(device),
            });
            c = next;
            side *= 2;
        }
        Self {
            fc: LinearConfig::new(latent, first * SEED_SIDE * SEED_SIDE).init(device),
            ups,
            out: Conv2dConfig::new([c, 3], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            channels: first,
        }
    }

    /// # Shapes
    /// `[N, latent]` -> `[N, 3, res, res]`
    pub fn forward(&self, z: Tensor<B, 2>) -> Tensor<B, 4> {
        let [n, _] = z.dims();
        let mut x = relu(self.fc.forward(z)).reshape([n, self.channels, SEED_SIDE, SEED_SIDE]);
        for up in &self.ups {
            x = relu(batch_norm(&up.bn, up.deconv.forward(x)));
        }
        self.out.forward(x)
    }
}

/// Backbone encoder, latent heads and decoder.
#[derive(Module, Debug)]
pub struct VaeNet<B: Backend> {
    /// The backbone being pretrained.
    pub backbone: Backbone<B>,
    /// Pooled features -> latent mean.
    pub mu: Linear<B>,
    /// Pooled features -> latent log-variance.
    pub logvar: Linear<B>,
    /// Latent -> image.
    pub decoder: Decoder<B>,
}

/// The VAE (no state besides the seed).
pub struct Vae {
    seed: u64,
}

impl Method for Vae {
    type Net = VaeNet<B>;
    const KIND: MethodKind = MethodKind::Vae;

    fn init(config: &MethodConfig, device: &Device) -> Result<(Self, Self::Net), TrainError> {
        let res = config.res;
        if res < SEED_SIDE || !(res / SEED_SIDE).is_power_of_two() || !res.is_multiple_of(SEED_SIDE)
        {
            return Err(TrainError::Invalid(format!(
                "--method vae: the decoder doubles a {SEED_SIDE}x{SEED_SIDE} map up to the image \
                 size, so the image side must be 4 times a power of two (got {res})"
            )));
        }
        let p = config.backbone.projection_channels();
        let net = VaeNet {
            backbone: config.backbone.init(device),
            mu: LinearConfig::new(p, p).init(device),
            logvar: LinearConfig::new(p, p).init(device),
            decoder: Decoder::new(p, res, config.backbone.width, device),
        };
        Ok((Vae { seed: config.seed }, super::init_net(net, config.seed)))
    }

    fn forward(
        &mut self,
        net: &Self::Net,
        batch: &HostBatch,
        step: u64,
        device: &Device,
    ) -> Result<StepOutput, TrainError> {
        let x = view_tensor(batch, 0, device)?;
        let h = global_average_pool(net.backbone.forward(x.clone()));
        let mu = net.mu.forward(h.clone());
        let logvar = net.logvar.forward(h.clone());
        let [n, d] = mu.dims();
        let mut rng = step_rng(self.seed, step, 0x7ae);
        let eps = standard_normal(&mut rng, n * d);
        let eps = Tensor::<B, 2>::from_data(TensorData::new(eps, [n, d]), device);
        let z = mu.clone() + (logvar.clone() * 0.5).exp() * eps;
        let recon = net.decoder.forward(z);
        let (loss, _, _) = vae_loss(recon, x, mu, logvar, KL_WEIGHT);
        Ok(StepOutput {
            loss,
            features: h,
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

    #[test]
    fn kl_by_hand() {
        let d = crate::backend::flex();
        // mu = [1, 0], logvar = [0, ln 2]: 0.5 * ((1 + 1 - 0 - 1) + (2 - ln 2 - 1... )).
        let mu = Tensor::<B, 2>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2]), &d);
        let lv = Tensor::<B, 2>::from_data(TensorData::new(vec![0.0f32, 2f32.ln()], [1, 2]), &d);
        // per dim: 0.5 * (mu^2 + var - 1 - logvar) = 0.5 * (1 + 1 - 1 - 0) + 0.5 * (0 + 2 - 1 - ln2)
        let want = 0.5 + 0.5 * (1.0 - 2f32.ln());
        let kl = to_host_f32(kl_divergence(mu.clone(), lv.clone())).unwrap()[0];
        assert!((kl - want).abs() < 1e-5, "{kl} vs {want}");
        let x = Tensor::<B, 4>::zeros([1, 3, 2, 2], &d);
        let r = Tensor::<B, 4>::ones([1, 3, 2, 2], &d) * 2.0;
        let (total, mse, _) = vae_loss(r, x, mu, lv, 0.5);
        assert!((to_host_f32(mse).unwrap()[0] - 4.0).abs() < 1e-6);
        assert!((to_host_f32(total).unwrap()[0] - (4.0 + 0.5 * want)).abs() < 1e-5);
    }

    #[test]
    fn decoder_reaches_the_input_size() {
        let d = crate::backend::flex();
        for res in [16, 32] {
            let dec = Decoder::<B>::new(8, res, 0.125, &d);
            let out = dec.forward(Tensor::zeros([2, 8], &d));
            assert_eq!(out.dims(), [2, 3, res, res]);
        }
    }
}
