//! BYOL (Grill et al., 2020) with solo-learn's CIFAR settings: an online network (backbone,
//! projector `P -> 4096 -> BN -> ReLU -> 256`, predictor `256 -> 4096 -> BN -> ReLU -> 256`)
//! predicts the projection of the other view made by a target network (backbone + projector)
//! whose weights are an exponential moving average of the online ones. The EMA rate follows a
//! cosine schedule from tau 0.99 at step 0 to 1.0 at the last step ([`tau_at`]).
//!
//! Loss: the normalised MSE `2 - 2 cos(p, z')` ([`normalized_mse`]) of each view's prediction
//! against the other view's target projection, summed over the two directions. The target gets
//! no gradient: its parameters do not require one, its outputs are detached, and it changes only
//! through [`ema_update`] after each optimiser step.

use std::path::Path;

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

use super::{
    B, Device, Method, MethodConfig, MethodKind, Mlp, StepOutput, l2_normalize, view_tensor,
};
use crate::TrainError;
use crate::data::HostBatch;
use crate::model::{Backbone, global_average_pool, load_module, save_module};

/// Projector/predictor hidden width.
pub const HIDDEN: usize = 4096;
/// Projection width.
pub const OUT: usize = 256;
/// EMA rate at step 0.
pub const TAU_BASE: f64 = 0.99;

/// The EMA rate at `step` of `steps`: `1 - (1 - base) * (cos(pi * step / steps) + 1) / 2`.
pub fn tau_at(step: u64, steps: u64, base: f64) -> f64 {
    let t = step as f64 / steps.max(1) as f64;
    1.0 - (1.0 - base) * ((std::f64::consts::PI * t).cos() + 1.0) / 2.0
}

/// `mean_i || p_i/|p_i| - z_i/|z_i| ||^2 = mean_i (2 - 2 cos(p_i, z_i))`.
///
/// # Shapes
/// `[N, D]`, `[N, D]` -> `[1]`
pub fn normalized_mse(p: Tensor<B, 2>, z: Tensor<B, 2>) -> Tensor<B, 1> {
    let cos = (l2_normalize(p) * l2_normalize(z)).sum_dim(1);
    (cos.neg() * 2.0 + 2.0).mean()
}

/// Backbone + projector (the part the target copies).
#[derive(Module, Debug)]
pub struct Encoder<B: Backend> {
    /// The backbone being pretrained.
    pub backbone: Backbone<B>,
    /// `P -> 4096 -> 256` with BN.
    pub projector: Mlp<B>,
}

impl Encoder<B> {
    /// Pooled features and projection.
    pub fn forward(&self, x: Tensor<B, 4>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let h = global_average_pool(self.backbone.forward(x));
        let z = self.projector.forward(h.clone());
        (h, z)
    }
}

/// The online network.
#[derive(Module, Debug)]
pub struct ByolNet<B: Backend> {
    /// Backbone + projector.
    pub online: Encoder<B>,
    /// `256 -> 4096 -> 256` with BN.
    pub predictor: Mlp<B>,
}

/// BYOL's state: the EMA target and the schedule.
pub struct Byol {
    /// Target encoder (no gradient).
    pub target: Encoder<B>,
    steps: u64,
}

/// `target <- tau * target + (1 - tau) * online`, parameter by parameter (and the batch-norm
/// statistics); the result requires no gradient.
pub fn ema_update<M: Module<B>>(target: M, online: &M, tau: f64) -> M {
    struct Collect(Vec<Tensor<B, 1>>);
    impl ModuleVisitor<B> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let t = param.val().detach();
            let n = t.shape().num_elements();
            self.0.push(t.reshape([n]));
        }
    }
    struct Blend {
        online: std::vec::IntoIter<Tensor<B, 1>>,
        tau: f64,
    }
    impl ModuleMapper<B> for Blend {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let Some(o) = self.online.next() else {
                return param;
            };
            let tau = self.tau;
            param.map(|t| {
                let shape = t.shape();
                let blended = t.detach() * tau + o.reshape(shape) * (1.0 - tau);
                blended.set_require_grad(false)
            })
        }
    }
    let mut c = Collect(Vec::new());
    online.visit(&mut c);
    target.map(&mut Blend {
        online: c.0.into_iter(),
        tau,
    })
}

const TARGET_FILE: &str = "byol_target.bpk";

impl Method for Byol {
    type Net = ByolNet<B>;
    const KIND: MethodKind = MethodKind::Byol;

    fn init(config: &MethodConfig, device: &Device) -> Result<(Self, Self::Net), TrainError> {
        let p = config.backbone.projection_channels();
        let net = super::init_net(
            ByolNet {
                online: Encoder {
                    backbone: config.backbone.init(device),
                    projector: Mlp::new(p, HIDDEN, OUT, true, device),
                },
                predictor: Mlp::new(OUT, HIDDEN, OUT, true, device),
            },
            config.seed,
        );
        // The target starts equal to the online encoder. It is a separate module (a clone would
        // share the batch-norm running statistics with the online network).
        let fresh = Encoder {
            backbone: config.backbone.init(device),
            projector: Mlp::new(p, HIDDEN, OUT, true, device),
        };
        Ok((
            Byol {
                target: ema_update(fresh, &net.online, 0.0),
                steps: config.steps,
            },
            net,
        ))
    }

    fn forward(
        &mut self,
        net: &Self::Net,
        batch: &HostBatch,
        _step: u64,
        device: &Device,
    ) -> Result<StepOutput, TrainError> {
        let x1 = view_tensor(batch, 0, device)?;
        let x2 = view_tensor(batch, 1, device)?;
        let (h1, z1) = net.online.forward(x1.clone());
        let (_, z2) = net.online.forward(x2.clone());
        let p1 = net.predictor.forward(z1);
        let p2 = net.predictor.forward(z2);
        let (_, t1) = self.target.forward(x1);
        let (_, t2) = self.target.forward(x2);
        let loss = normalized_mse(p1, t2.detach()) + normalized_mse(p2, t1.detach());
        Ok(StepOutput {
            loss,
            features: h1,
            rows: (0..batch.size).collect(),
        })
    }

    fn after_step(&mut self, net: &Self::Net, step: u64) -> Result<(), TrainError> {
        // `step` is the step just taken; the next forward uses the target after it.
        let tau = tau_at(step + 1, self.steps, TAU_BASE);
        self.target = ema_update(self.target.clone(), &net.online, tau);
        Ok(())
    }

    fn backbone(net: &Self::Net) -> &Backbone<B> {
        &net.online.backbone
    }

    fn save_state(&self, dir: &Path) -> Result<(), TrainError> {
        save_module(&self.target, &dir.join(TARGET_FILE))
    }

    fn load_state(&mut self, dir: &Path, _device: &Device) -> Result<(), TrainError> {
        let t = load_module(self.target.clone(), &dir.join(TARGET_FILE))?;
        self.target = ema_update(t.clone(), &t, 1.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::to_host_f32;

    #[test]
    fn normalized_mse_by_hand() {
        let d = crate::backend::flex();
        let p = Tensor::<B, 2>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0, 2.0], [2, 2]), &d);
        let z =
            Tensor::<B, 2>::from_data(TensorData::new(vec![1.0f32, 1.0, 0.0, -5.0], [2, 2]), &d);
        // cos = 1/sqrt2 and -1: (2 - sqrt2 + 4) / 2
        let want = (2.0 - 2.0 * std::f32::consts::FRAC_1_SQRT_2 + 4.0) / 2.0;
        let l = to_host_f32(normalized_mse(p, z)).unwrap()[0];
        assert!((l - want).abs() < 1e-5, "{l} vs {want}");
    }

    #[test]
    fn tau_schedule() {
        assert!((tau_at(0, 100, 0.99) - 0.99).abs() < 1e-12);
        assert!((tau_at(100, 100, 0.99) - 1.0).abs() < 1e-12);
        assert!((tau_at(50, 100, 0.99) - 0.995).abs() < 1e-12);
    }
}
