//! Self-supervised pretraining methods behind one trait.
//!
//! Input: a training batch of one or two augmented views per image ([`HostBatch`] with
//! `views`), the method's trainable network and its non-trainable state. Output: a scalar loss
//! (backpropagated by the pretraining loop), pooled features for the online probes, and after the
//! optimiser step an optional update of the state (CMC's memory bank, BYOL's EMA target).
//!
//! | method | views | what is learned | state | reference settings (ResNet9, 64 px) |
//! |---|---|---|---|---|
//! | [`vae`] | 1 | reconstruct the input through a Gaussian latent (size = pooled features) | – | wd 1e-5, lr 1e-3 -> 1e-5, batch 512, KL weight 1e-5 |
//! | [`rotation`] | 1 | which of 0/90/180/270 degrees the image was turned (a quarter of the batch each) | – | wd 1e-4, lr 5e-4 -> 1e-5, batch 512 |
//! | [`cmc`] | 1 | L and ab halves agree (128-d, NCE against a memory bank) | bank | wd 1e-5, lr 1e-3 -> 1e-6, batch 256, K 8192, T 0.1, m 0.2 |
//! | [`amdim`] | 2 | global vs local features of two views agree (1->5, 1->7, 5->5) | – | wd 1e-5, lr 1e-3 -> 1e-6, batch 384 |
//! | [`simclr`] | 2 | NT-Xent between two views (projector 2048 -> 256, T 0.2) | – | ours: wd 1e-5, lr 1e-3 -> 1e-6, batch 256 |
//! | [`byol`] | 2 | online predictor matches an EMA target (4096 -> 256, tau 0.99 -> 1) | target | ours: wd 1e-5, lr 1e-3 -> 1e-6, batch 256 |
//! | [`barlow`] | 2 | cross-correlation of the two views' projections close to the identity (2048-2048-2048, lambda 0.0051) | – | ours: wd 1e-5, lr 1e-3 -> 1e-6, batch 256 |
//!
//! A new method is one file: a struct implementing [`Method`] and a [`MethodKind`] entry.

pub mod amdim;
pub mod barlow;
pub mod byol;
pub mod cmc;
pub mod rotation;
pub mod simclr;
pub mod vae;

use std::path::Path;
use std::str::FromStr;

use burn::module::AutodiffModule;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::augment::AugmentPolicy;
use crate::data::HostBatch;
use crate::model::{Backbone, BackboneConfig, BackboneKind};

pub use crate::backend::{B, Device};

/// The self-supervised methods `train pretrain --method` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodKind {
    /// Variational autoencoder.
    Vae,
    /// Rotation prediction.
    Rotation,
    /// Contrastive multiview coding (L vs ab).
    Cmc,
    /// Augmented multiscale deep InfoMax.
    Amdim,
    /// SimCLR (NT-Xent).
    Simclr,
    /// BYOL (EMA target).
    Byol,
    /// Barlow Twins (redundancy reduction).
    Barlow,
}

/// Optimisation defaults of a method.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MethodDefaults {
    /// Images per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate.
    pub min_lr: f64,
    /// L2 weight decay.
    pub weight_decay: f32,
}

impl MethodKind {
    /// All methods, in the order of the docs.
    pub const ALL: [MethodKind; 7] = [
        MethodKind::Vae,
        MethodKind::Rotation,
        MethodKind::Cmc,
        MethodKind::Amdim,
        MethodKind::Simclr,
        MethodKind::Byol,
        MethodKind::Barlow,
    ];

    /// CLI / JSON name.
    pub fn name(self) -> &'static str {
        match self {
            MethodKind::Vae => "vae",
            MethodKind::Rotation => "rotation",
            MethodKind::Cmc => "cmc",
            MethodKind::Amdim => "amdim",
            MethodKind::Simclr => "simclr",
            MethodKind::Byol => "byol",
            MethodKind::Barlow => "barlow",
        }
    }

    /// The valid names, comma separated (for error messages).
    pub fn valid_names() -> String {
        Self::ALL.map(|m| m.name()).join(", ")
    }

    /// Augmented views per image.
    pub fn views(self) -> usize {
        match self {
            MethodKind::Amdim | MethodKind::Simclr | MethodKind::Byol | MethodKind::Barlow => 2,
            MethodKind::Vae | MethodKind::Rotation | MethodKind::Cmc => 1,
        }
    }

    /// Augmentation of each view: the design's list (jitter 0.8, grayscale 0.25, flip, crop
    /// after padding by res/8, Cutout res/4) with its exceptions: no Cutout for VAE (it would
    /// have to reconstruct the hole), no colour jitter and no grayscale for CMC (its views are
    /// L and ab: jitter changes ab, and grayscale makes ab a constant image, a = b = 0).
    pub fn policy(self) -> AugmentPolicy {
        let mut p = AugmentPolicy::for_task(crate::tasks::Task::Classification);
        match self {
            MethodKind::Vae => p.cutout = false,
            MethodKind::Cmc => {
                p.jitter = 0.0;
                p.grayscale = 0.0;
            }
            _ => {}
        }
        p
    }

    /// Reference optimisation settings: the original code's ResNet9 configs for the paper's
    /// four methods; for SimCLR, BYOL and Barlow Twins (solo-learn uses LARS) our Adam settings. ResNet50
    /// runs default to batch 64 (memory, as for dense supervised training).
    pub fn defaults(self, backbone: BackboneKind) -> MethodDefaults {
        let (batch_size, lr, min_lr, weight_decay) = match self {
            MethodKind::Vae => (512, 1e-3, 1e-5, 1e-5),
            MethodKind::Rotation => (512, 5e-4, 1e-5, 1e-4),
            MethodKind::Cmc => (256, 1e-3, 1e-6, 1e-5),
            MethodKind::Amdim => (384, 1e-3, 1e-6, 1e-5),
            MethodKind::Simclr | MethodKind::Byol | MethodKind::Barlow => (256, 1e-3, 1e-6, 1e-5),
        };
        MethodDefaults {
            batch_size: match backbone {
                BackboneKind::Resnet9 => batch_size,
                BackboneKind::Resnet50 => 64,
            },
            lr,
            min_lr,
            weight_decay,
        }
    }

    /// Whether the method trains a split backbone (CMC: an L half and an ab half of half the
    /// width each, see [`BackboneConfig::split`]); a run that loads its `backbone.bpk` must build
    /// the backbone the same way.
    pub fn backbone_config_split(self) -> bool {
        self == MethodKind::Cmc
    }

    /// The backbone a method trains for `base` (split for CMC).
    pub fn backbone_config(self, base: &BackboneConfig) -> BackboneConfig {
        let mut c = base.clone();
        c.split = self.backbone_config_split();
        c
    }
}

impl std::fmt::Display for MethodKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MethodKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        MethodKind::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown method `{s}`: expected one of {}",
                    MethodKind::valid_names()
                )
            })
    }
}

/// What a method is built from.
#[derive(Debug, Clone)]
pub struct MethodConfig {
    /// The backbone (already split for CMC, see [`MethodKind::backbone_config`]).
    pub backbone: BackboneConfig,
    /// Image side.
    pub res: usize,
    /// Training images (CMC's memory bank has one row per image).
    pub dataset_len: usize,
    /// Total optimisation steps (BYOL's EMA schedule).
    pub steps: u64,
    /// Seed of the method's own random choices (bank init, negatives, 5x5 anchors).
    pub seed: u64,
    /// CMC negatives per positive (capped by the dataset size).
    pub nce_k: usize,
}

/// What one forward pass produced.
pub struct StepOutput {
    /// Scalar loss to minimise.
    pub loss: Tensor<B, 1>,
    /// Pooled backbone features `[n, P]` of un-rotated first views (for the online probe).
    pub features: Tensor<B, 2>,
    /// Which samples of the batch the `features` rows belong to.
    pub rows: Vec<usize>,
}

/// One self-supervised method: augment views -> forward -> loss -> optional state update.
///
/// `Self` holds what is not trained by gradient (a memory bank, an EMA target, step-local
/// caches); [`Method::Net`] holds every trainable parameter, backbone included.
pub trait Method: Sized {
    /// The trainable network.
    type Net: AutodiffModule<B> + Module<B>;

    /// Which method this is.
    const KIND: MethodKind;

    /// Build the state and a fresh network, its weights drawn from `config.seed` through
    /// [`crate::model::init_weights`] (see [`init_net`]).
    ///
    /// # Errors
    /// When the configuration does not fit the method (image too small...).
    fn init(config: &MethodConfig, device: &Device) -> Result<(Self, Self::Net), TrainError>;

    /// Forward pass and loss on a batch (the views are in `batch.images` and `batch.views`).
    ///
    /// # Errors
    /// When the batch does not fit the method (missing views, indices).
    fn forward(
        &mut self,
        net: &Self::Net,
        batch: &HostBatch,
        step: u64,
        device: &Device,
    ) -> Result<StepOutput, TrainError>;

    /// After the optimiser step (EMA target, memory bank); `net` is the updated network.
    ///
    /// # Errors
    /// When device data cannot be read.
    fn after_step(&mut self, _net: &Self::Net, _step: u64) -> Result<(), TrainError> {
        Ok(())
    }

    /// The backbone inside the network.
    fn backbone(net: &Self::Net) -> &Backbone<B>;

    /// Save the non-trainable state into the checkpoint directory `dir`.
    ///
    /// # Errors
    /// I/O errors.
    fn save_state(&self, _dir: &Path) -> Result<(), TrainError> {
        Ok(())
    }

    /// Load the state written by [`Method::save_state`].
    ///
    /// # Errors
    /// Missing or mismatching files.
    fn load_state(&mut self, _dir: &Path, _device: &Device) -> Result<(), TrainError> {
        Ok(())
    }
}

/// View `v` of a batch (0 = `images`, 1.. = `views[v - 1]`) as `[B, 3, res, res]`.
///
/// # Errors
/// When the batch has fewer views.
pub fn view_tensor(
    batch: &HostBatch,
    v: usize,
    device: &Device,
) -> Result<Tensor<B, 4>, TrainError> {
    let data = if v == 0 {
        &batch.images
    } else {
        batch.views.get(v - 1).ok_or_else(|| {
            TrainError::Invalid(format!(
                "the batch has {} views, the method needs view {}",
                batch.views.len() + 1,
                v + 1
            ))
        })?
    };
    Ok(Tensor::from_data(
        TensorData::new(data.clone(), [batch.size, 3, batch.res, batch.res]),
        device,
    ))
}

/// Rows scaled to unit L2 norm (`eps` guards zero rows).
///
/// # Shapes
/// `[N, D]` -> `[N, D]`
pub fn l2_normalize(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// Mean cross-entropy of `logits` `[N, C]` against class indices.
pub fn cross_entropy_host(logits: Tensor<B, 2>, targets: &[i64], device: &Device) -> Tensor<B, 1> {
    let n = targets.len();
    let y = Tensor::<B, 1, Int>::from_data(TensorData::new(targets.to_vec(), [n]), device);
    crate::tasks::cross_entropy(logits, y)
}

/// A two-layer MLP head `Linear -> [BN] -> ReLU -> Linear` (SimCLR's and BYOL's projectors,
/// BYOL's predictor).
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    fc1: burn::nn::Linear<B>,
    bn: Option<burn::nn::BatchNorm<B>>,
    fc2: burn::nn::Linear<B>,
}

impl<B: Backend> Mlp<B> {
    /// `input -> hidden -> output`, with batch norm after the first layer when `bn`.
    pub fn new(input: usize, hidden: usize, output: usize, bn: bool, device: &B::Device) -> Self {
        Self {
            fc1: burn::nn::LinearConfig::new(input, hidden)
                .with_bias(!bn)
                .init(device),
            bn: bn.then(|| burn::nn::BatchNormConfig::new(hidden).init(device)),
            fc2: burn::nn::LinearConfig::new(hidden, output).init(device),
        }
    }

    /// # Shapes
    /// `[N, input]` -> `[N, output]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let h = self.fc1.forward(x);
        let h = match &self.bn {
            Some(bn) => bn.forward(h),
            None => h,
        };
        self.fc2.forward(burn::tensor::activation::relu(h))
    }
}

/// A method's fresh network with its weights drawn from `seed` (the same on every backend).
pub fn init_net<M: Module<B>>(net: M, seed: u64) -> M {
    crate::model::init_weights(net, crate::data::mix(seed, 0x1417))
}

/// `n` draws from N(0, 1) (Box-Muller).
pub fn standard_normal<R: rand::Rng + ?Sized>(rng: &mut R, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
        let u2: f64 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt();
        let a = 2.0 * std::f64::consts::PI * u2;
        out.push((r * a.cos()) as f32);
        out.push((r * a.sin()) as f32);
    }
    out.truncate(n);
    out
}

/// Deterministic per-step RNG of a method (`tag` separates uses).
pub fn step_rng(seed: u64, step: u64, tag: u64) -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    rand_chacha::ChaCha8Rng::seed_from_u64(crate::data::mix(crate::data::mix(seed, tag), step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmc_keeps_its_colour_view_intact() {
        let cmc = MethodKind::Cmc.policy();
        assert_eq!((cmc.jitter, cmc.grayscale), (0.0, 0.0));
        let simclr = MethodKind::Simclr.policy();
        assert!(simclr.jitter > 0.0 && simclr.grayscale > 0.0);
        assert!(!MethodKind::Vae.policy().cutout && MethodKind::Cmc.policy().cutout);
    }

    #[test]
    fn names_round_trip_and_unknown_lists_valid() {
        for m in MethodKind::ALL {
            assert_eq!(m.name().parse::<MethodKind>().unwrap(), m);
        }
        let e = "moco".parse::<MethodKind>().unwrap_err();
        for m in MethodKind::ALL {
            assert!(e.contains(m.name()), "{e}");
        }
    }

    #[test]
    fn policies_follow_the_design() {
        assert!(!MethodKind::Vae.policy().cutout);
        assert_eq!(MethodKind::Cmc.policy().jitter, 0.0);
        assert!(MethodKind::Amdim.policy().cutout && MethodKind::Amdim.policy().jitter == 0.8);
        assert_eq!(
            MethodKind::Rotation.defaults(BackboneKind::Resnet9).lr,
            5e-4
        );
        assert_eq!(
            MethodKind::Amdim.defaults(BackboneKind::Resnet9).batch_size,
            384
        );
    }

    #[test]
    fn normalize_by_hand() {
        let device = crate::backend::flex();
        let x = Tensor::<B, 2>::from_data(
            TensorData::new(vec![3.0f32, 4.0, 0.0, 2.0], [2, 2]),
            &device,
        );
        let y = crate::tasks::to_host_f32(l2_normalize(x)).unwrap();
        let want = [0.6, 0.8, 0.0, 1.0];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}
