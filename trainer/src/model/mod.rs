//! Backbones (ResNet9, ResNet50) with the per-pixel projection, task heads, and the model that
//! joins them.
//!
//! Input: normalised Lab images `[B, 3, H, W]`. Output: the projected feature map
//! `[B, P, h, w]` of a [`Backbone`] (P = 256·w for image-level tasks, 512·w for dense tasks), and
//! a task's outputs from a [`Model`] = backbone + [`Head`].
//!
//! Seams for later methods: anything that needs features uses [`Backbone::forward`]; a
//! self-supervised method wraps a `Backbone` with its own head/loss, saves it with
//! [`Backbone::save`], and `train --init` loads it with [`Backbone::load`].

pub mod heads;
pub mod norm;
pub mod resnet50;
pub mod resnet9;

use std::path::Path;
use std::str::FromStr;

use burn::module::AutodiffModule;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Relu};
use burn::prelude::*;
use burn::store::{BurnpackStore, ModuleSnapshot};
use serde::{Deserialize, Serialize};

pub use heads::{Head, HeadKind, global_average_pool};
pub use norm::batch_norm;
pub use resnet9::{ResNet9, ResNet9Config};
pub use resnet50::{ResNet50, ResNet50Config};

use crate::TrainError;
use crate::backend::{B, Device};

/// Which trunk architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackboneKind {
    /// [`ResNet9`].
    Resnet9,
    /// [`ResNet50`].
    Resnet50,
}

impl BackboneKind {
    /// CLI / JSON name.
    pub fn name(self) -> &'static str {
        match self {
            BackboneKind::Resnet9 => "resnet9",
            BackboneKind::Resnet50 => "resnet50",
        }
    }
}

impl std::fmt::Display for BackboneKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackboneKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "resnet9" => Ok(BackboneKind::Resnet9),
            "resnet50" => Ok(BackboneKind::Resnet50),
            other => Err(format!(
                "unknown backbone `{other}`: expected `resnet9` or `resnet50`"
            )),
        }
    }
}

/// Backbone hyper-parameters (saved in `config.json`).
#[derive(Config, Debug)]
pub struct BackboneConfig {
    /// The trunk.
    pub kind: BackboneKind,
    /// Width multiplier (1.0 = the paper's networks; tests use 1/8 or 1/16).
    #[config(default = 1.0)]
    pub width: f64,
    /// Dense-task variant: dilated last stage (ResNet50) and a 512·w projection (256·w otherwise).
    #[config(default = false)]
    pub dense: bool,
    /// CMC's split backbone: two trunks of half the width, one on the L channel and one on the
    /// ab channels, each with half of the projection; the output is their concatenation.
    #[config(default = false)]
    pub split: bool,
}

impl BackboneConfig {
    /// Channels of the projected feature map: 256·w (image-level) or 512·w (dense).
    pub fn projection_channels(&self) -> usize {
        resnet9::scaled(if self.dense { 512 } else { 256 }, self.width)
    }

    /// Total down-sampling factor of the feature map (8 for ResNet9, 16 or 8 (dilated) for
    /// ResNet50).
    pub fn stride(&self) -> usize {
        match (self.kind, self.dense) {
            (BackboneKind::Resnet9, _) => 8,
            (BackboneKind::Resnet50, false) => 16,
            (BackboneKind::Resnet50, true) => 8,
        }
    }

    /// Channels of the second-to-last stage's map (ResNet9 block 2, ResNet50 layer3; the sum of
    /// both halves when split).
    pub fn penultimate_channels(&self) -> usize {
        let one = |width: f64| match self.kind {
            BackboneKind::Resnet9 => ResNet9Config::narrow(width).penultimate_channels(),
            BackboneKind::Resnet50 => ResNet50Config::narrow(width).penultimate_channels(),
        };
        if self.split {
            2 * one(self.width / 2.0)
        } else {
            one(self.width)
        }
    }

    /// A trunk of `width` on `in_channels` inputs followed by a projection to `p` channels.
    fn half(&self, width: f64, in_channels: usize, p: usize, device: &Device) -> Half<B> {
        let (trunk, channels) = match self.kind {
            BackboneKind::Resnet9 => {
                let c = ResNet9Config::narrow(width).with_in_channels(in_channels);
                (Trunk::ResNet9(c.init(device)), c.out_channels())
            }
            BackboneKind::Resnet50 => {
                let c = ResNet50Config::narrow(width)
                    .with_dilated(self.dense)
                    .with_in_channels(in_channels);
                (Trunk::ResNet50(c.init(device)), c.out_channels())
            }
        };
        Half {
            trunk,
            projection: Projection {
                conv: Conv2dConfig::new([channels, p], [1, 1])
                    .with_bias(false)
                    .init(device),
                bn: BatchNormConfig::new(p).init(device),
                relu: Relu::new(),
            },
        }
    }

    /// Build the backbone on `device`.
    pub fn init(&self, device: &Device) -> Backbone<B> {
        let p = self.projection_channels();
        if self.split {
            let l = self.half(self.width / 2.0, 1, p / 2, device);
            let ab = self.half(self.width / 2.0, 2, p - p / 2, device);
            Backbone {
                trunk: l.trunk,
                projection: l.projection,
                ab: Some(ab),
            }
        } else {
            let h = self.half(self.width, 3, p, device);
            Backbone {
                trunk: h.trunk,
                projection: h.projection,
                ab: None,
            }
        }
    }
}

/// The trunk architectures.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one per model; burn's Module derive has no Box support
pub enum Trunk<B: Backend> {
    /// ResNet9.
    ResNet9(ResNet9<B>),
    /// ResNet50.
    ResNet50(ResNet50<B>),
}

/// Per-pixel 1x1 conv + BN + ReLU applied to the trunk's feature map.
#[derive(Module, Debug)]
pub struct Projection<B: Backend> {
    conv: Conv2d<B>,
    bn: BatchNorm<B>,
    relu: Relu,
}

/// A trunk followed by the per-pixel projection: the part of a network that pretraining learns
/// and finetuning reuses.
#[derive(Module, Debug)]
pub struct Backbone<B: Backend> {
    trunk: Trunk<B>,
    projection: Projection<B>,
    /// The ab half of a split (CMC) backbone; `trunk` and `projection` then see the L channel.
    ab: Option<Half<B>>,
}

/// A trunk and its projection: one half of a split backbone.
#[derive(Module, Debug)]
pub struct Half<B: Backend> {
    trunk: Trunk<B>,
    projection: Projection<B>,
}

impl Trunk<B> {
    /// (second-to-last, last) stage maps.
    fn forward_stages(&self, x: Tensor<B, 4>) -> (Tensor<B, 4>, Tensor<B, 4>) {
        match self {
            Trunk::ResNet9(n) => n.forward_stages(x),
            Trunk::ResNet50(n) => n.forward_stages(x),
        }
    }

    fn freeze_blocks(self, k: usize) -> Self {
        match self {
            Trunk::ResNet9(n) => Trunk::ResNet9(n.freeze_blocks(k)),
            Trunk::ResNet50(n) => Trunk::ResNet50(n.freeze_blocks(k)),
        }
    }
}

impl<B: Backend> Projection<B> {
    fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.relu
            .forward(batch_norm(&self.bn, self.conv.forward(x)))
    }
}

impl Backbone<B> {
    /// Projected, pre-pool feature map.
    ///
    /// # Shapes
    /// - input: `[B, 3, H, W]`
    /// - output: `[B, P, H/s, W/s]` with P = [`BackboneConfig::projection_channels`] and
    ///   s = [`BackboneConfig::stride`] (ResNet9: 8x8 at 64x64, 16x16 at 128x128, 4x4 at 32x32)
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward_stages(x).1
    }

    /// The second-to-last stage's map (not projected) and the projected map of
    /// [`Backbone::forward`]; for a split backbone both are the halves' maps concatenated.
    ///
    /// # Shapes
    /// `[B, 3, H, W]` -> (`[B, C, H/s', W/s']` with C = [`BackboneConfig::penultimate_channels`],
    /// `[B, P, H/s, W/s]`)
    pub fn forward_stages(&self, x: Tensor<B, 4>) -> (Tensor<B, 4>, Tensor<B, 4>) {
        match &self.ab {
            None => {
                let (prev, last) = self.trunk.forward_stages(x);
                (prev, self.projection.apply(last))
            }
            Some(ab) => {
                let l = x.clone().narrow(1, 0, 1);
                let c = x.narrow(1, 1, 2);
                let (prev_l, last_l) = self.trunk.forward_stages(l);
                let (prev_ab, last_ab) = ab.trunk.forward_stages(c);
                (
                    Tensor::cat(vec![prev_l, prev_ab], 1),
                    Tensor::cat(
                        vec![self.projection.apply(last_l), ab.projection.apply(last_ab)],
                        1,
                    ),
                )
            }
        }
    }

    /// The projected maps of the L half and the ab half of a split backbone (`None` when the
    /// backbone is not split).
    ///
    /// # Shapes
    /// `[B, 3, H, W]` -> (`[B, P/2, h, w]`, `[B, P - P/2, h, w]`)
    pub fn forward_halves(&self, x: Tensor<B, 4>) -> Option<(Tensor<B, 4>, Tensor<B, 4>)> {
        let ab = self.ab.as_ref()?;
        let l = x.clone().narrow(1, 0, 1);
        let c = x.narrow(1, 1, 2);
        let (_, last_l) = self.trunk.forward_stages(l);
        let (_, last_ab) = ab.trunk.forward_stages(c);
        Some((self.projection.apply(last_l), ab.projection.apply(last_ab)))
    }

    /// The trunk (without the projection).
    pub fn trunk(&self) -> &Trunk<B> {
        &self.trunk
    }

    /// Freeze the first `k` of the three main blocks (see the trunk files); the projection is
    /// never frozen.
    pub fn freeze_blocks(mut self, k: usize) -> Self {
        self.trunk = self.trunk.freeze_blocks(k);
        self.ab = self.ab.map(|mut h| {
            h.trunk = h.trunk.freeze_blocks(k);
            h
        });
        self
    }

    /// Save the backbone weights (burnpack) to `path`, atomically (temp name + rename).
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        save_module(self, path)
    }

    /// Load backbone weights saved by [`Backbone::save`] into this (identically configured)
    /// backbone.
    pub fn load(self, path: &Path) -> Result<Self, TrainError> {
        load_module(self, path)
    }
}

/// Write a module's parameters and buffers (burnpack, `.bpk`) to `path` via a temporary file and
/// a rename.
pub(crate) fn save_module<M: AutodiffModule<B>>(module: &M, path: &Path) -> Result<(), TrainError> {
    sync_running_state(module);
    let tmp = crate::tmp_path(path);
    let mut store = BurnpackStore::from_file(&tmp)
        .auto_extension(false)
        .overwrite(true);
    module
        .save_into(&mut store)
        .map_err(|e| TrainError::Record {
            path: tmp.clone(),
            reason: e.to_string(),
        })?;
    std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}

/// Load a module's parameters and buffers from `path` (every tensor must be there, with the same
/// shape). The module keeps its parameter ids.
pub(crate) fn load_module<M: Module<B>>(mut module: M, path: &Path) -> Result<M, TrainError> {
    let mut store = BurnpackStore::from_file(path).auto_extension(false);
    module
        .load_from(&mut store)
        .map_err(|e| TrainError::Record {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    Ok(module)
}

/// Fold pending batch-norm running-statistics updates into their values.
///
/// burn's `RunningState` keeps the latest update pending until the next forward pass; a record
/// taken without this step would miss the last step's statistics (and a resumed run would
/// diverge). `valid()` performs the sync on the shared state as a side effect; a module on a
/// device without gradient tracking has no pending updates (its batch norms run in inference
/// mode).
pub fn sync_running_state<M: AutodiffModule<B>>(module: &M) {
    if module.devices().iter().any(B::ad_enabled) {
        let _ = module.valid();
    }
}

/// `module` for inference: without gradient tracking, batch norm on its running statistics
/// (burn's `valid()`; a module already without gradient tracking is returned as it is).
pub fn inference<M: AutodiffModule<B, InnerModule = M>>(module: &M) -> M {
    if module.devices().iter().any(B::ad_enabled) {
        module.valid()
    } else {
        module.clone()
    }
}

/// `f(module, x)`, or when `frozen`, the same in inference mode: no gradient tracking and batch
/// norm on its (unchanged) running statistics. Frozen blocks are always a prefix of a trunk, so
/// nothing before them needs a gradient either.
pub(crate) fn frozen_if<M: AutodiffModule<B, InnerModule = M>>(
    frozen: bool,
    module: &M,
    x: Tensor<B, 4>,
    f: impl Fn(&M, Tensor<B, 4>) -> Tensor<B, 4>,
) -> Tensor<B, 4> {
    if frozen && B::ad_enabled(&x.device()) {
        Tensor::from_inner(f(&module.valid(), x.inner()))
    } else {
        f(module, x)
    }
}

/// All float parameters and buffers of `module` (weights, BN statistics), flattened in visiting
/// order: for comparing weights by value (records also carry parameter ids).
///
/// # Errors
/// When device data cannot be read back.
pub fn parameter_values<M: AutodiffModule<B>>(module: &M) -> Result<Vec<f32>, TrainError> {
    struct Collect(Vec<f32>, Option<String>);
    impl burn::module::ModuleVisitor<B> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
            match crate::tasks::to_host_f32(param.val()) {
                Ok(v) => self.0.extend(v),
                Err(e) => self.1 = Some(e.to_string()),
            }
        }
    }
    sync_running_state(module);
    let mut c = Collect(Vec::new(), None);
    module.visit(&mut c);
    match c.1 {
        Some(e) => Err(TrainError::Backend(format!("reading parameters back: {e}"))),
        None => Ok(c.0),
    }
}

/// Re-initialise every `weight` parameter of `module` from `seed` (uniform in +-1/sqrt(fan_in),
/// burn's and PyTorch's default for conv and linear layers) and set every `bias` to zero; BN
/// parameters and statistics keep their constant initial values.
///
/// burn initialises lazily from a backend RNG whose seeding is not scoped to one model, so runs
/// initialise through this function instead: the same seed gives the same weights on every
/// backend, which resume and reproducibility rely on.
pub fn init_weights<M: Module<B>>(module: M, seed: u64) -> M {
    use rand::{Rng, SeedableRng};
    struct Init {
        rng: rand_chacha::ChaCha8Rng,
        path: Vec<String>,
    }
    impl burn::module::ModuleMapper<B> for Init {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<B, D>>,
        ) -> burn::module::Param<Tensor<B, D>> {
            let name = self.path.last().map(String::as_str).unwrap_or("");
            let shape = param.lazy_shape();
            let dims = shape.to_vec();
            let n: usize = dims.iter().product();
            let values: Option<Vec<f32>> = match (name, dims.len()) {
                // Conv weight [out, in, kh, kw]: fan_in = in * kh * kw.
                ("weight", 4) => Some(dims[1] * dims[2] * dims[3]),
                // Linear weight [in, out]: fan_in = in.
                ("weight", 2) => Some(dims[0]),
                _ => None,
            }
            .map(|fan_in| {
                let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
                (0..n)
                    .map(|_| self.rng.random_range(-bound..bound))
                    .collect()
            })
            .or_else(|| (name == "bias").then(|| vec![0.0; n]));
            match values {
                Some(v) => param.map(|t| {
                    let grad = t.is_require_grad();
                    Tensor::from_data(TensorData::new(v, dims.clone()), &t.device())
                        .set_require_grad(grad)
                }),
                None => param,
            }
        }
    }
    module.map(&mut Init {
        rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
        path: Vec::new(),
    })
}

/// Backbone + task head.
#[derive(Module, Debug)]
pub struct Model<B: Backend> {
    /// The feature extractor.
    pub backbone: Backbone<B>,
    /// The task head.
    pub head: Head<B>,
}

/// What a [`Model`] produces: image-level `[B, n]` or dense `[B, n, h, w]` outputs.
#[derive(Debug, Clone)]
pub enum Output {
    /// One vector per image.
    Image(Tensor<B, 2>),
    /// One vector per target-map pixel.
    Dense(Tensor<B, 4>),
}

impl Model<B> {
    /// Backbone + a fresh head with `outputs` values (per image or per pixel).
    pub fn new(backbone: &BackboneConfig, head: HeadKind, outputs: usize, device: &Device) -> Self {
        Self {
            backbone: backbone.init(device),
            head: Head::new(head, backbone.projection_channels(), outputs, device),
        }
    }

    /// Run the network.
    ///
    /// # Shapes
    /// - input: `[B, 3, H, W]`
    /// - output: `Output::Image([B, n])` for a pooled head, `Output::Dense([B, n, t, t])` for a
    ///   dense head where `t = target_size` (the feature map is resized when it is not t x t)
    pub fn forward(&self, x: Tensor<B, 4>, target_size: usize) -> Output {
        let f = self.backbone.forward(x);
        match &self.head {
            Head::Pooled(_) => Output::Image(self.head.forward_pooled(f)),
            Head::Dense(_) => Output::Dense(self.head.forward_dense(f, [target_size; 2])),
        }
    }
}
