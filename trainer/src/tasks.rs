//! The four downstream tasks: their heads, losses and metrics.
//!
//! Input: a [`Model`](crate::model::Model)'s [`Output`] and the batch's [`Targets`]. Output: a
//! scalar loss tensor for training and host-side predictions for the metric accumulators.
//!
//! | task | head | loss | metric |
//! |---|---|---|---|
//! | classification | pooled, 10 | cross-entropy | accuracy |
//! | pose | pooled, 5 | cross-entropy | accuracy |
//! | segmentation | dense, 11 (0 = background) | per-pixel cross-entropy at 16x16 | pixel accuracy |
//! | depth | dense, 1 (metres) | L1 over valid pixels at 16x16 | share with max(d/d*, d*/d) < 1.25 (+ < 1.1, RMSE, MAE) |

use std::str::FromStr;

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::backend::{B, Device};
use crate::metrics::{DepthSums, MetricAccumulator};
use crate::model::{HeadKind, Output};

/// A downstream task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// 10-way object class.
    Classification,
    /// 5-way pose bin.
    Pose,
    /// 11-way per-pixel class (background + 10).
    Segmentation,
    /// Per-pixel depth (metres).
    Depth,
}

impl Task {
    /// All tasks.
    pub const ALL: [Task; 4] = [
        Task::Classification,
        Task::Pose,
        Task::Segmentation,
        Task::Depth,
    ];

    /// CLI / JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Pose => "pose",
            Task::Segmentation => "segmentation",
            Task::Depth => "depth",
        }
    }

    /// Outputs per image (pooled) or per pixel (dense).
    pub fn outputs(self) -> usize {
        match self {
            Task::Classification => 10,
            Task::Pose => 5,
            Task::Segmentation => 11,
            Task::Depth => 1,
        }
    }

    /// Whether the task is predicted per pixel.
    pub fn is_dense(self) -> bool {
        matches!(self, Task::Segmentation | Task::Depth)
    }

    /// The head the task needs.
    pub fn head(self) -> HeadKind {
        if self.is_dense() {
            HeadKind::Dense
        } else {
            HeadKind::Pooled
        }
    }

    /// Accuracy of always predicting the most likely answer without looking at the image, for a
    /// uniform label distribution: 1/10, 1/5; for segmentation and depth there is no fixed
    /// number (it depends on how much of the image is background), so `None`.
    pub fn uniform_chance(self) -> Option<f64> {
        match self {
            Task::Classification => Some(0.1),
            Task::Pose => Some(0.2),
            _ => None,
        }
    }

    /// Name of the headline metric in `metrics.json`.
    pub fn metric_name(self) -> &'static str {
        match self {
            Task::Classification | Task::Pose => "accuracy",
            Task::Segmentation => "pixel_accuracy",
            Task::Depth => "delta_1_25",
        }
    }

    /// A fresh accumulator for this task's metric.
    pub fn accumulator(self) -> MetricAccumulator {
        match self {
            Task::Depth => MetricAccumulator::Depth(DepthSums::default()),
            _ => MetricAccumulator::Accuracy {
                correct: 0,
                total: 0,
            },
        }
    }

    /// The training loss.
    ///
    /// # Shapes
    /// - classification/pose: output `[B, n]`, targets `Labels([B])`
    /// - segmentation: output `[B, 11, t, t]`, targets `Map([B, t, t])`
    /// - depth: output `[B, 1, t, t]`, targets `Depth { depth: [B, t, t], valid: [B, t, t] }`
    ///
    /// # Errors
    /// When the output or targets do not fit the task (a caller bug).
    pub fn loss(self, output: &Output, targets: &Targets) -> Result<Tensor<B, 1>, TrainError> {
        match (self, output, targets) {
            (Task::Classification | Task::Pose, Output::Image(logits), Targets::Labels(y)) => {
                Ok(cross_entropy(logits.clone(), y.clone()))
            }
            (Task::Segmentation, Output::Dense(logits), Targets::Map(y)) => {
                let [b, n, h, w] = logits.dims();
                let flat = logits.clone().permute([0, 2, 3, 1]).reshape([b * h * w, n]);
                Ok(cross_entropy(flat, y.clone().reshape([b * h * w])))
            }
            (Task::Depth, Output::Dense(pred), Targets::Depth { depth, valid }) => {
                let [b, _, h, w] = pred.dims();
                let pred = pred.clone().reshape([b, h, w]);
                let err = (pred - depth.clone()).abs() * valid.clone();
                Ok(err.sum() / valid.clone().sum().clamp_min(1.0))
            }
            _ => Err(TrainError::Invalid(format!(
                "task {} got an output or targets of the wrong kind",
                self.name()
            ))),
        }
    }

    /// Add a batch's predictions to `acc`.
    ///
    /// # Errors
    /// When device data cannot be read back, or the kinds do not fit the task.
    pub fn accumulate(
        self,
        output: &Output,
        targets: &HostTargets,
        acc: &mut MetricAccumulator,
    ) -> Result<(), TrainError> {
        match (output, targets) {
            (Output::Image(logits), HostTargets::Labels(y)) => {
                let pred = to_host_i64(logits.clone().argmax(1))?;
                acc.add_classes(&pred, y);
            }
            (Output::Dense(logits), HostTargets::Map(y)) if self == Task::Segmentation => {
                let pred = to_host_i64(logits.clone().argmax(1))?;
                acc.add_classes(&pred, y);
            }
            (Output::Dense(pred), HostTargets::Depth(y)) if self == Task::Depth => {
                let pred = to_host_f32(pred.clone())?;
                acc.add_depth(&pred, y);
            }
            _ => {
                return Err(TrainError::Invalid(format!(
                    "task {} got an output or targets of the wrong kind",
                    self.name()
                )));
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Task::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                format!("unknown task `{s}`: expected classification, pose, segmentation or depth")
            })
    }
}

/// Mean cross-entropy of `logits` `[N, C]` against class indices `[N]`.
pub fn cross_entropy(logits: Tensor<B, 2>, targets: Tensor<B, 1, Int>) -> Tensor<B, 1> {
    let [n, _] = logits.dims();
    let logp = log_softmax(logits, 1);
    logp.gather(1, targets.reshape([n, 1])).mean().neg()
}

/// Targets of a batch on the device.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // short-lived, one per step
pub enum Targets {
    /// `[B]` class indices.
    Labels(Tensor<B, 1, Int>),
    /// `[B, t, t]` class indices.
    Map(Tensor<B, 3, Int>),
    /// `[B, t, t]` depth in metres and a `[B, t, t]` 0/1 validity mask.
    Depth {
        /// Depth (metres; 0 where invalid).
        depth: Tensor<B, 3>,
        /// 1 where the depth is valid.
        valid: Tensor<B, 3>,
    },
}

/// Targets of a batch on the host (for metrics).
#[derive(Debug, Clone, PartialEq)]
pub enum HostTargets {
    /// Class indices, one per image.
    Labels(Vec<i64>),
    /// Class indices, `t * t` per image.
    Map(Vec<i64>),
    /// Depth in metres (0 = invalid), `t * t` per image.
    Depth(Vec<f32>),
}

impl HostTargets {
    /// Upload to `device`; `b` images with `t x t` maps.
    pub fn to_device(&self, b: usize, t: usize, device: &Device) -> Targets {
        match self {
            HostTargets::Labels(y) => {
                Targets::Labels(Tensor::from_data(TensorData::new(y.clone(), [b]), device))
            }
            HostTargets::Map(y) => Targets::Map(Tensor::from_data(
                TensorData::new(y.clone(), [b, t, t]),
                device,
            )),
            HostTargets::Depth(y) => {
                let valid: Vec<f32> = y.iter().map(|&d| if d > 0.0 { 1.0 } else { 0.0 }).collect();
                Targets::Depth {
                    depth: Tensor::from_data(TensorData::new(y.clone(), [b, t, t]), device),
                    valid: Tensor::from_data(TensorData::new(valid, [b, t, t]), device),
                }
            }
        }
    }
}

/// Read a float tensor back to the host.
pub fn to_host_f32<const D: usize>(t: Tensor<B, D>) -> Result<Vec<f32>, TrainError> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| TrainError::Backend(format!("reading a tensor back from the device: {e:?}")))
}

/// Read an int tensor back to the host.
pub fn to_host_i64<const D: usize>(t: Tensor<B, D, Int>) -> Result<Vec<i64>, TrainError> {
    t.into_data()
        .convert::<i64>()
        .into_vec::<i64>()
        .map_err(|e| TrainError::Backend(format!("reading a tensor back from the device: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_by_hand() {
        let device = crate::backend::flex();
        // logits [0, 0] -> -log(1/2) = ln 2; logits [ln 3, 0] target 0 -> -log(3/4)
        let logits = Tensor::<B, 2>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 3f32.ln(), 0.0], [2, 2]),
            &device,
        );
        let y = Tensor::<B, 1, Int>::from_data(TensorData::new(vec![1i64, 0], [2]), &device);
        let l = to_host_f32(cross_entropy(logits, y)).unwrap()[0];
        let want = (2f32.ln() + (4f32 / 3.0).ln()) / 2.0;
        assert!((l - want).abs() < 1e-5, "{l} vs {want}");
    }

    #[test]
    fn depth_loss_ignores_invalid_pixels() {
        let device = crate::backend::flex();
        let pred = Tensor::<B, 4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 9.0], [1, 1, 2, 2]),
            &device,
        );
        let targets = HostTargets::Depth(vec![1.5, 2.0, 2.0, 0.0]).to_device(1, 2, &device);
        let l = Task::Depth.loss(&Output::Dense(pred), &targets).unwrap();
        // |1-1.5| + 0 + |3-2| over 3 valid pixels = 0.5
        assert!((to_host_f32(l).unwrap()[0] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn segmentation_loss_and_metric() {
        let device = crate::backend::flex();
        // 1 image, 2 classes... use 11 outputs with a big logit on the right class everywhere
        let t = 2;
        let mut logits = vec![0.0f32; 11 * t * t];
        let targets = vec![0i64, 3, 10, 3];
        for (p, &c) in targets.iter().enumerate() {
            logits[c as usize * t * t + p] = 20.0;
        }
        let out = Output::Dense(Tensor::from_data(
            TensorData::new(logits, [1, 11, t, t]),
            &device,
        ));
        let host = HostTargets::Map(targets);
        let l = Task::Segmentation
            .loss(&out, &host.to_device(1, t, &device))
            .unwrap();
        assert!(to_host_f32(l).unwrap()[0] < 1e-6);
        let mut acc = Task::Segmentation.accumulator();
        Task::Segmentation
            .accumulate(&out, &host, &mut acc)
            .unwrap();
        assert_eq!(acc.primary(), 1.0);
    }

    #[test]
    fn names_round_trip() {
        for t in Task::ALL {
            assert_eq!(t.name().parse::<Task>().unwrap(), t);
        }
        assert!("detection".parse::<Task>().is_err());
    }
}
