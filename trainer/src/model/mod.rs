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
pub mod resnet50;
pub mod resnet9;

use std::path::Path;
use std::str::FromStr;

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Relu};
use burn::prelude::*;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};

pub use heads::{Head, HeadKind, global_average_pool};
pub use resnet9::{ResNet9, ResNet9Config};
pub use resnet50::{ResNet50, ResNet50Config};

use crate::TrainError;

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

    /// Build the backbone on `device`.
    pub fn init(&self, device: &Device) -> Backbone {
        let (trunk, channels) = match self.kind {
            BackboneKind::Resnet9 => {
                let c = ResNet9Config::narrow(self.width);
                (Trunk::ResNet9(c.init(device)), c.out_channels())
            }
            BackboneKind::Resnet50 => {
                let c = ResNet50Config::narrow(self.width).with_dilated(self.dense);
                (Trunk::ResNet50(c.init(device)), c.out_channels())
            }
        };
        let p = self.projection_channels();
        Backbone {
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
}

/// The trunk architectures.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one per model; burn's Module derive has no Box support
pub enum Trunk {
    /// ResNet9.
    ResNet9(ResNet9),
    /// ResNet50.
    ResNet50(ResNet50),
}

/// Per-pixel 1x1 conv + BN + ReLU applied to the trunk's feature map.
#[derive(Module, Debug)]
pub struct Projection {
    conv: Conv2d,
    bn: BatchNorm,
    relu: Relu,
}

/// A trunk followed by the per-pixel projection: the part of a network that pretraining learns
/// and finetuning reuses.
#[derive(Module, Debug)]
pub struct Backbone {
    trunk: Trunk,
    projection: Projection,
}

impl Backbone {
    /// Projected, pre-pool feature map.
    ///
    /// # Shapes
    /// - input: `[B, 3, H, W]`
    /// - output: `[B, P, H/s, W/s]` with P = [`BackboneConfig::projection_channels`] and
    ///   s = [`BackboneConfig::stride`] (ResNet9: 8x8 at 64x64, 16x16 at 128x128, 4x4 at 32x32)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let f = match &self.trunk {
            Trunk::ResNet9(n) => n.forward(x),
            Trunk::ResNet50(n) => n.forward(x),
        };
        let p = &self.projection;
        p.relu.forward(p.bn.forward(p.conv.forward(f)))
    }

    /// The trunk (without the projection).
    pub fn trunk(&self) -> &Trunk {
        &self.trunk
    }

    /// Freeze the first `k` of the three main blocks (see the trunk files); the projection is
    /// never frozen.
    pub fn freeze_blocks(mut self, k: usize) -> Self {
        self.trunk = match self.trunk {
            Trunk::ResNet9(n) => Trunk::ResNet9(n.freeze_blocks(k)),
            Trunk::ResNet50(n) => Trunk::ResNet50(n.freeze_blocks(k)),
        };
        self
    }

    /// Save the backbone weights (burnpack) to `path`, atomically (temp name + rename).
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        save_module(self.clone(), path)
    }

    /// Load backbone weights saved by [`Backbone::save`] into this (identically configured)
    /// backbone.
    pub fn load(self, path: &Path) -> Result<Self, TrainError> {
        load_module(self, path)
    }
}

/// Write a module's parameters to `path` via a temporary file and a rename.
pub(crate) fn save_module<M: Module>(module: M, path: &Path) -> Result<(), TrainError> {
    sync_running_state(&module);
    let tmp = crate::tmp_path(path);
    module
        .into_record()
        .save(&tmp)
        .map_err(|e| TrainError::Record {
            path: tmp.clone(),
            reason: e.to_string(),
        })?;
    std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}

/// Load a module's parameters from `path` (shapes must match).
pub(crate) fn load_module<M: Module>(module: M, path: &Path) -> Result<M, TrainError> {
    let record = ModuleRecord::load(path).map_err(|e| TrainError::Record {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    module
        .try_load_record(record)
        .map_err(|e| TrainError::Record {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Fold pending batch-norm running-statistics updates into their values.
///
/// burn's `RunningState` keeps the latest update pending until the next forward pass; a record
/// taken without this step would miss the last step's statistics (and a resumed run would
/// diverge). `valid()` performs the sync on the shared state as a side effect.
pub fn sync_running_state<M: Module>(module: &M) {
    let _ = module.valid();
}

/// All float parameters and buffers of `module` (weights, BN statistics), flattened in visiting
/// order: for comparing weights by value (records also carry parameter ids).
///
/// # Errors
/// When device data cannot be read back.
pub fn parameter_values<M: Module>(module: &M) -> Result<Vec<f32>, TrainError> {
    struct Collect(Vec<f32>, Option<String>);
    impl burn::module::ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            match param.val().into_data().try_into_vec_as::<f32>() {
                Ok(v) => self.0.extend(v),
                Err(e) => self.1 = Some(format!("{e:?}")),
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
pub fn init_weights<M: Module>(module: M, seed: u64) -> M {
    use rand::{Rng, SeedableRng};
    struct Init {
        rng: rand_chacha::ChaCha8Rng,
        path: Vec<String>,
    }
    impl burn::module::ModuleMapper for Init {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
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
pub struct Model {
    /// The feature extractor.
    pub backbone: Backbone,
    /// The task head.
    pub head: Head,
}

/// What a [`Model`] produces: image-level `[B, n]` or dense `[B, n, h, w]` outputs.
#[derive(Debug, Clone)]
pub enum Output {
    /// One vector per image.
    Image(Tensor<2>),
    /// One vector per target-map pixel.
    Dense(Tensor<4>),
}

impl Model {
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
    pub fn forward(&self, x: Tensor<4>, target_size: usize) -> Output {
        let f = self.backbone.forward(x);
        match &self.head {
            Head::Pooled(_) => Output::Image(self.head.forward_pooled(f)),
            Head::Dense(_) => Output::Dense(self.head.forward_dense(f, [target_size; 2])),
        }
    }
}
