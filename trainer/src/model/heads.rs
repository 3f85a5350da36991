//! Task heads on top of a backbone's projected feature map.
//!
//! Input: the backbone output `[B, P, h, w]` (after the per-pixel projection). Output: logits or
//! regressions: `[B, n]` for image-level tasks (global average pooling, then a linear layer) or
//! `[B, n, h', w']` for dense tasks (a per-pixel 1x1 conv on the pre-pool features, resized to
//! the target map `h' x w'` when the feature map has another size).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::interpolate::{Interpolate2dConfig, InterpolateMode};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use crate::backend::{B, Device};

/// Which kind of head a task needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadKind {
    /// Global average pooling + linear: one output vector per image.
    Pooled,
    /// 1x1 conv per pixel: one output vector per feature-map pixel.
    Dense,
}

/// A task head: pooled linear classifier or per-pixel 1x1 conv.
#[derive(Module, Debug)]
pub enum Head<B: Backend> {
    /// Global average pooling then a linear layer.
    Pooled(Linear<B>),
    /// A per-pixel 1x1 conv.
    Dense(Conv2d<B>),
}

impl Head<B> {
    /// A head mapping `channels` features to `outputs` values.
    pub fn new(kind: HeadKind, channels: usize, outputs: usize, device: &Device) -> Self {
        match kind {
            HeadKind::Pooled => Head::Pooled(LinearConfig::new(channels, outputs).init(device)),
            HeadKind::Dense => {
                Head::Dense(Conv2dConfig::new([channels, outputs], [1, 1]).init(device))
            }
        }
    }

    /// Image-level output.
    ///
    /// # Shapes
    /// `[B, P, h, w]` -> `[B, n]`
    ///
    /// # Panics
    /// On a dense head (a programming error: the task decides the head).
    pub fn forward_pooled(&self, features: Tensor<B, 4>) -> Tensor<B, 2> {
        match self {
            Head::Pooled(linear) => linear.forward(global_average_pool(features)),
            Head::Dense(_) => panic!("forward_pooled called on a dense head"),
        }
    }

    /// Per-pixel output resized (bilinear) to `size` when the feature map differs.
    ///
    /// # Shapes
    /// `[B, P, h, w]` -> `[B, n, size[0], size[1]]`
    ///
    /// # Panics
    /// On a pooled head (a programming error: the task decides the head).
    pub fn forward_dense(&self, features: Tensor<B, 4>, size: [usize; 2]) -> Tensor<B, 4> {
        match self {
            Head::Dense(conv) => {
                let out = conv.forward(features);
                let [_, _, h, w] = out.dims();
                if [h, w] == size {
                    out
                } else {
                    Interpolate2dConfig::new()
                        .with_output_size(Some(size))
                        .with_mode(InterpolateMode::Linear)
                        .with_align_corners(false)
                        .init()
                        .forward(out)
                }
            }
            Head::Pooled(_) => panic!("forward_dense called on a pooled head"),
        }
    }
}

/// Mean over the spatial dimensions.
///
/// # Shapes
/// `[B, C, h, w]` -> `[B, C]`
pub fn global_average_pool(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h * w]).mean_dim(2).reshape([b, c])
}
