//! ResNet50 in the torchvision layout, without the stem max-pool (output stride 16).
//!
//! Input: a batch of normalised Lab images `[B, 3, H, W]`. Output: the layer4 feature map,
//! `[B, 2048·w, H/16, W/16]` (4x4 at 64x64, 8x8 at 128x128); with `dilated` (dense tasks) layer4
//! keeps its input resolution with dilation 2 instead of stride 2: `[B, 2048·w, H/8, W/8]`
//! (16x16 at 128x128).
//!
//! Layout (w = width multiplier): stem 7x7/2 conv 64w + BN + ReLU (no max-pool); layer1 3
//! bottlenecks (64w, stride 1); layer2 4 (128w, stride 2); layer3 6 (256w, stride 2); layer4 3
//! (512w, stride 2 or dilation 2); bottleneck expansion 4.
//!
//! "Three main blocks" (for `--freeze K`): block 1 = stem + layer1, block 2 = layer2, block 3 =
//! layer3; layer4 is never frozen by `--freeze`.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

use super::frozen_if;
use super::norm::batch_norm;
use super::resnet9::scaled;
use crate::backend::{B, Device};

/// ResNet50 hyper-parameters.
#[derive(Config, Debug)]
pub struct ResNet50Config {
    /// Width multiplier applied to every channel count (1.0 = torchvision's ResNet50).
    #[config(default = 1.0)]
    pub width: f64,
    /// Dilate layer4 instead of striding it (dense tasks: 16x16 map at 128x128 input).
    #[config(default = false)]
    pub dilated: bool,
    /// Bottleneck blocks per layer.
    #[config(default = "[3, 4, 6, 3]")]
    pub layers: [usize; 4],
    /// Input channels (3 for Lab; CMC's split halves see 1 (L) or 2 (ab)).
    #[config(default = 3)]
    pub in_channels: usize,
}

impl ResNet50Config {
    /// torchvision's ResNet50 (minus the stem max-pool).
    pub fn resnet50() -> Self {
        Self::new()
    }

    /// Same layout with every channel count multiplied by `width` (tests use 1/16).
    pub fn narrow(width: f64) -> Self {
        Self::new().with_width(width)
    }

    /// Channels of the last stage's feature map (2048·w).
    pub fn out_channels(&self) -> usize {
        scaled(512, self.width) * EXPANSION
    }

    /// Channels of layer3's feature map (1024·w).
    pub fn penultimate_channels(&self) -> usize {
        scaled(256, self.width) * EXPANSION
    }

    /// Build the network on `device`.
    pub fn init(&self, device: &Device) -> ResNet50<B> {
        let c64 = scaled(64, self.width);
        let stem = Conv2dConfig::new([self.in_channels, c64], [7, 7])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
            .with_bias(false)
            .init(device);
        let mut cin = c64;
        let mut make = |planes: usize, blocks: usize, stride: usize, dilation: usize| {
            let planes = scaled(planes, self.width);
            let mut out = Vec::with_capacity(blocks);
            for i in 0..blocks {
                let s = if i == 0 { stride } else { 1 };
                out.push(Bottleneck::new(cin, planes, s, dilation, device));
                cin = planes * EXPANSION;
            }
            out
        };
        let layer1 = make(64, self.layers[0], 1, 1);
        let layer2 = make(128, self.layers[1], 2, 1);
        let layer3 = make(256, self.layers[2], 2, 1);
        let layer4 = if self.dilated {
            make(512, self.layers[3], 1, 2)
        } else {
            make(512, self.layers[3], 2, 1)
        };
        ResNet50 {
            stem,
            stem_bn: BatchNormConfig::new(c64).init(device),
            relu: Relu::new(),
            layer1,
            layer2,
            layer3,
            layer4,
            frozen: 0,
        }
    }
}

/// Bottleneck expansion factor.
pub const EXPANSION: usize = 4;

/// 1x1 reduce, 3x3 (strided or dilated), 1x1 expand, with a projected shortcut when the shape
/// changes.
#[derive(Module, Debug)]
pub struct Bottleneck<B: Backend> {
    conv1: Conv2d<B>,
    bn1: BatchNorm<B>,
    conv2: Conv2d<B>,
    bn2: BatchNorm<B>,
    conv3: Conv2d<B>,
    bn3: BatchNorm<B>,
    downsample: Option<Downsample<B>>,
    relu: Relu,
}

/// 1x1 strided conv + BN on the shortcut.
#[derive(Module, Debug)]
pub struct Downsample<B: Backend> {
    conv: Conv2d<B>,
    bn: BatchNorm<B>,
}

impl Bottleneck<B> {
    fn new(cin: usize, planes: usize, stride: usize, dilation: usize, device: &Device) -> Self {
        let cout = planes * EXPANSION;
        let downsample = (stride != 1 || cin != cout).then(|| Downsample {
            conv: Conv2dConfig::new([cin, cout], [1, 1])
                .with_stride([stride, stride])
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(cout).init(device),
        });
        Self {
            conv1: Conv2dConfig::new([cin, planes], [1, 1])
                .with_bias(false)
                .init(device),
            bn1: BatchNormConfig::new(planes).init(device),
            conv2: Conv2dConfig::new([planes, planes], [3, 3])
                .with_stride([stride, stride])
                .with_dilation([dilation, dilation])
                .with_padding(PaddingConfig2d::Explicit(
                    dilation, dilation, dilation, dilation,
                ))
                .with_bias(false)
                .init(device),
            bn2: BatchNormConfig::new(planes).init(device),
            conv3: Conv2dConfig::new([planes, cout], [1, 1])
                .with_bias(false)
                .init(device),
            bn3: BatchNormConfig::new(cout).init(device),
            downsample,
            relu: Relu::new(),
        }
    }

    /// # Shapes
    /// `[B, cin, H, W]` -> `[B, 4·planes, H/stride, W/stride]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let identity = match &self.downsample {
            Some(d) => batch_norm(&d.bn, d.conv.forward(x.clone())),
            None => x.clone(),
        };
        let y = self
            .relu
            .forward(batch_norm(&self.bn1, self.conv1.forward(x)));
        let y = self
            .relu
            .forward(batch_norm(&self.bn2, self.conv2.forward(y)));
        let y = batch_norm(&self.bn3, self.conv3.forward(y));
        self.relu.forward(y + identity)
    }
}

/// The ResNet50 trunk (without projection or head).
#[derive(Module, Debug)]
pub struct ResNet50<B: Backend> {
    stem: Conv2d<B>,
    stem_bn: BatchNorm<B>,
    relu: Relu,
    layer1: Vec<Bottleneck<B>>,
    layer2: Vec<Bottleneck<B>>,
    layer3: Vec<Bottleneck<B>>,
    layer4: Vec<Bottleneck<B>>,
    /// How many of the main blocks are frozen (see [`ResNet50::freeze_blocks`]).
    frozen: usize,
}

impl ResNet50<B> {
    /// Feature map of layer4.
    ///
    /// # Shapes
    /// - input: `[B, 3, H, W]` (H, W divisible by 16)
    /// - output: `[B, 2048·w, H/16, W/16]`, or `[B, 2048·w, H/8, W/8]` when dilated
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward_stages(x).1
    }

    /// Feature maps of layer3 and layer4.
    ///
    /// # Shapes
    /// `[B, 3, H, W]` -> (`[B, 1024·w, H/16, W/16]`, layer4 as [`ResNet50::forward`])
    pub fn forward_stages(&self, x: Tensor<B, 4>) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let k = self.frozen;
        let layer = |blocks: &Vec<Bottleneck<B>>, x| blocks.iter().fold(x, |x, b| b.forward(x));
        let x = frozen_if(k >= 1, &self.stem, x, |conv, x| conv.forward(x));
        let x = frozen_if(k >= 1, &self.stem_bn, x, batch_norm);
        let x = self.relu.forward(x);
        let x = frozen_if(k >= 1, &self.layer1, x, layer);
        let x = frozen_if(k >= 2, &self.layer2, x, layer);
        let x3 = frozen_if(k >= 3, &self.layer3, x, layer);
        let x4 = layer(&self.layer4, x3.clone());
        (x3, x4)
    }

    /// Freeze (no gradient, BN statistics fixed) the first `k` of the three main blocks
    /// (1: stem + layer1, 2: + layer2, 3: + layer3).
    pub fn freeze_blocks(mut self, k: usize) -> Self {
        if k >= 1 {
            self.stem = self.stem.no_grad();
            self.stem_bn = self.stem_bn.no_grad();
            self.layer1 = self.layer1.no_grad();
        }
        if k >= 2 {
            self.layer2 = self.layer2.no_grad();
        }
        if k >= 3 {
            self.layer3 = self.layer3.no_grad();
        }
        self.frozen = self.frozen.max(k.min(3));
        self
    }
}
