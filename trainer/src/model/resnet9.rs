//! ResNet9 (the "DAWNBench" ResNet of Page, 2018) with the paper's reduced pooling.
//!
//! Input: a batch of normalised Lab images `[B, 3, H, W]`. Output: the feature map of the last
//! stage, `[B, 512·w, H/8, W/8]` (8x8 at 64x64 input, 16x16 at 128x128, 4x4 at 32x32).
//!
//! Layout (w = width multiplier):
//! - stem: 3x3 conv 64w + BN + ReLU (full resolution);
//! - block 1: ConvBlock(64w -> 128w: conv, max-pool 2, BN, CELU a=0.075) + residual BasicBlock(128w);
//! - block 2: ConvBlock(128w -> 256w);
//! - block 3: ConvBlock(256w -> 512w) + BasicBlock(512w).
//!
//! "Three main blocks" (for `--freeze K`) are blocks 1-3; freezing K >= 1 also freezes the stem.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

use super::frozen_if;
use super::norm::batch_norm;
use crate::backend::{B, Device};

/// CELU alpha used by the ConvBlocks.
pub const CELU_ALPHA: f64 = 0.075;

/// Channel count scaled by a width multiplier (at least 1).
pub(crate) fn scaled(channels: usize, width: f64) -> usize {
    ((channels as f64 * width).round() as usize).max(1)
}

/// ResNet9 hyper-parameters.
#[derive(Config, Debug)]
pub struct ResNet9Config {
    /// Width multiplier applied to every channel count (1.0 = the paper's network).
    #[config(default = 1.0)]
    pub width: f64,
    /// Input channels (3 for Lab; CMC's split halves see 1 (L) or 2 (ab)).
    #[config(default = 3)]
    pub in_channels: usize,
}

impl ResNet9Config {
    /// The paper's ResNet9 (64-128-256-512 channels).
    pub fn resnet9() -> Self {
        Self::new()
    }

    /// A narrow ResNet9 for tests (`width` multiplies every channel count).
    pub fn narrow(width: f64) -> Self {
        Self::new().with_width(width)
    }

    /// Channels of the last stage's feature map.
    pub fn out_channels(&self) -> usize {
        scaled(512, self.width)
    }

    /// Channels of the second-to-last stage's feature map (block 2).
    pub fn penultimate_channels(&self) -> usize {
        scaled(256, self.width)
    }

    /// Build the network on `device`.
    pub fn init(&self, device: &Device) -> ResNet9<B> {
        let c64 = scaled(64, self.width);
        let c128 = scaled(128, self.width);
        let c256 = scaled(256, self.width);
        let c512 = scaled(512, self.width);
        ResNet9 {
            stem: ConvBnRelu::new(self.in_channels, c64, device),
            block1: Stage {
                down: ConvBlock::new(c64, c128, device),
                residual: Some(BasicBlock::new(c128, device)),
            },
            block2: Stage {
                down: ConvBlock::new(c128, c256, device),
                residual: None,
            },
            block3: Stage {
                down: ConvBlock::new(c256, c512, device),
                residual: Some(BasicBlock::new(c512, device)),
            },
            frozen: 0,
        }
    }
}

fn conv3x3(cin: usize, cout: usize, device: &Device) -> Conv2d<B> {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// CELU, `max(0, x) + alpha * (exp(min(x, 0) / alpha) - 1)`.
///
/// Written with `min(x, 0)` inside the exponential: burn's `celu` evaluates `exp(x / alpha)` for
/// all x, which overflows to infinity for x > ~6.6 at alpha = 0.075 and turns the backward pass
/// into NaN (0 * inf).
#[derive(Module, Clone, Debug)]
pub struct Celu {
    alpha: f64,
}

impl Celu {
    /// CELU with the given alpha.
    pub fn new(alpha: f64) -> Self {
        Self { alpha }
    }

    /// # Shapes
    /// any -> same
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let negative = (x.clone().clamp_max(0.0) / self.alpha).exp() - 1.0;
        x.clamp_min(0.0) + negative * self.alpha
    }
}

/// 3x3 conv + BN + ReLU (the stem).
#[derive(Module, Debug)]
pub struct ConvBnRelu<B: Backend> {
    conv: Conv2d<B>,
    bn: BatchNorm<B>,
    relu: Relu,
}

impl ConvBnRelu<B> {
    fn new(cin: usize, cout: usize, device: &Device) -> Self {
        Self {
            conv: conv3x3(cin, cout, device),
            bn: BatchNormConfig::new(cout).init(device),
            relu: Relu::new(),
        }
    }

    /// # Shapes
    /// `[B, cin, H, W]` -> `[B, cout, H, W]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.relu
            .forward(batch_norm(&self.bn, self.conv.forward(x)))
    }
}

/// conv 3x3, max-pool 2, BN, CELU(0.075): halves the resolution.
#[derive(Module, Debug)]
pub struct ConvBlock<B: Backend> {
    conv: Conv2d<B>,
    pool: MaxPool2d,
    bn: BatchNorm<B>,
    act: Celu,
}

impl ConvBlock<B> {
    fn new(cin: usize, cout: usize, device: &Device) -> Self {
        Self {
            conv: conv3x3(cin, cout, device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            bn: BatchNormConfig::new(cout).init(device),
            act: Celu::new(CELU_ALPHA),
        }
    }

    /// # Shapes
    /// `[B, cin, H, W]` -> `[B, cout, H/2, W/2]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.act.forward(batch_norm(
            &self.bn,
            self.pool.forward(self.conv.forward(x)),
        ))
    }
}

/// Two 3x3 conv + BN + CELU layers with an identity shortcut.
#[derive(Module, Debug)]
pub struct BasicBlock<B: Backend> {
    conv1: Conv2d<B>,
    bn1: BatchNorm<B>,
    conv2: Conv2d<B>,
    bn2: BatchNorm<B>,
    act: Celu,
}

impl BasicBlock<B> {
    fn new(c: usize, device: &Device) -> Self {
        Self {
            conv1: conv3x3(c, c, device),
            bn1: BatchNormConfig::new(c).init(device),
            conv2: conv3x3(c, c, device),
            bn2: BatchNormConfig::new(c).init(device),
            act: Celu::new(CELU_ALPHA),
        }
    }

    /// # Shapes
    /// `[B, C, H, W]` -> `[B, C, H, W]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = self
            .act
            .forward(batch_norm(&self.bn1, self.conv1.forward(x.clone())));
        let y = self
            .act
            .forward(batch_norm(&self.bn2, self.conv2.forward(y)));
        x + y
    }
}

/// One of the three main blocks: a down-sampling ConvBlock and an optional residual block.
#[derive(Module, Debug)]
pub struct Stage<B: Backend> {
    down: ConvBlock<B>,
    residual: Option<BasicBlock<B>>,
}

impl Stage<B> {
    /// # Shapes
    /// `[B, cin, H, W]` -> `[B, cout, H/2, W/2]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = self.down.forward(x);
        match &self.residual {
            Some(block) => block.forward(x),
            None => x,
        }
    }
}

/// The ResNet9 trunk (without projection or head).
#[derive(Module, Debug)]
pub struct ResNet9<B: Backend> {
    stem: ConvBnRelu<B>,
    block1: Stage<B>,
    block2: Stage<B>,
    block3: Stage<B>,
    /// How many of the main blocks are frozen (see [`ResNet9::freeze_blocks`]).
    frozen: usize,
}

impl ResNet9<B> {
    /// Feature map of the last stage.
    ///
    /// # Shapes
    /// - input: `[B, 3, H, W]` (H, W divisible by 8)
    /// - output: `[B, 512·w, H/8, W/8]` (8x8 at 64x64, 16x16 at 128x128)
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward_stages(x).1
    }

    /// Feature maps of the last two stages (block 2, block 3).
    ///
    /// # Shapes
    /// `[B, 3, H, W]` -> (`[B, 256·w, H/4, W/4]`, `[B, 512·w, H/8, W/8]`)
    pub fn forward_stages(&self, x: Tensor<B, 4>) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let k = self.frozen;
        let x = frozen_if(k >= 1, &self.stem, x, ConvBnRelu::forward);
        let x = frozen_if(k >= 1, &self.block1, x, Stage::forward);
        let x2 = frozen_if(k >= 2, &self.block2, x, Stage::forward);
        let x3 = frozen_if(k >= 3, &self.block3, x2.clone(), Stage::forward);
        (x2, x3)
    }

    /// Freeze (no gradient, BN statistics fixed) the stem and the first `k` of the three main
    /// blocks; `k = 0` freezes nothing, `k >= 3` freezes the whole trunk.
    pub fn freeze_blocks(mut self, k: usize) -> Self {
        if k >= 1 {
            self.stem = self.stem.no_grad();
            self.block1 = self.block1.no_grad();
        }
        if k >= 2 {
            self.block2 = self.block2.no_grad();
        }
        if k >= 3 {
            self.block3 = self.block3.no_grad();
        }
        self.frozen = self.frozen.max(k.min(3));
        self
    }
}
