//! Probes that watch a pretraining run: a kNN classifier and online linear heads on frozen
//! backbone features, for object class and pose.
//!
//! Input: a backbone, labelled samples (a reference set from the train split and queries from
//! the validation split), and during training the pooled features of each batch. Output:
//! accuracies ([`ProbeResults`]).
//!
//! - **kNN** ([`knn_accuracy`]): features are the pooled backbone output (inference mode),
//!   L2-normalised; each query takes its k = 20 most cosine-similar reference samples, which vote
//!   for their label with weight `exp(similarity / 0.07)`; the label with the largest total wins
//!   (the weighted kNN of Wu et al. 2018 used by solo-learn and lightly).
//! - **Online linear heads** ([`OnlineProbe`]): one linear layer for class (10-way) and one for
//!   pose (5-way), trained at every pretraining step on the batch's detached features with their
//!   labels (Adam, lr 1e-3, no weight decay; the labels are never seen by the backbone), and
//!   evaluated on the queries.
//! - **Linear probe** ([`linear_probe_accuracy`]): a multinomial logistic regression fitted from
//!   scratch on frozen reference features and scored on the queries (used by tests and the
//!   pretraining benchmark to compare a pretrained backbone with a random one).

use std::collections::BTreeMap;
use std::sync::Arc;

use burn::module::AutodiffModule;
use burn::nn::{Linear, LinearConfig};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::augment::{AugmentPolicy, prepare};
use crate::backend::{B, Device, without_autodiff};
use crate::data::{OwnedSample, ShardSource};
use crate::model::{Backbone, global_average_pool};
use crate::tasks::{Task, cross_entropy, to_host_f32, to_host_i64};

/// Neighbours that vote.
pub const KNN_K: usize = 20;
/// Temperature of the vote weights.
pub const KNN_T: f64 = 0.07;
/// Object classes.
pub const CLASSES: usize = 10;
/// Pose bins.
pub const POSES: usize = 5;
/// Gradient-descent iterations of the linear probe in [`evaluate_probes`].
pub const LINEAR_ITERATIONS: usize = 100;

/// Labelled images prepared without augmentation.
#[derive(Debug, Clone, Default)]
pub struct ProbeSet {
    /// Image side.
    pub res: usize,
    /// Normalised Lab, NCHW.
    pub images: Vec<f32>,
    /// Class per image.
    pub classes: Vec<i64>,
    /// Pose bin per image.
    pub poses: Vec<i64>,
}

impl ProbeSet {
    /// Images in the set.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Prepare `samples` (no augmentation).
    pub fn from_samples(samples: &[OwnedSample]) -> Self {
        let mut set = ProbeSet {
            res: samples.first().map(|s| s.res).unwrap_or(0),
            ..Default::default()
        };
        let prepared: Vec<Vec<f32>> = samples
            .par_iter()
            .map(|s| {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
                prepare(
                    &s.raw(),
                    Task::Classification,
                    &AugmentPolicy::none(),
                    &mut rng,
                )
                .image
            })
            .collect();
        for (s, img) in samples.iter().zip(prepared) {
            set.images.extend(img);
            set.classes.push(s.class);
            set.poses.push(s.pose);
        }
        set
    }

    /// The samples at `indices` (in that order) of a split.
    ///
    /// # Errors
    /// When shards cannot be read.
    pub fn read(source: &Arc<dyn ShardSource>, indices: &[usize]) -> Result<Self, TrainError> {
        let mut wanted: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
        for (pos, &i) in indices.iter().enumerate() {
            let k = (0..source.num_shards())
                .find(|&k| source.shard_range(k).contains(&i))
                .ok_or_else(|| {
                    TrainError::Invalid(format!(
                        "sample {i} is outside the split ({} samples)",
                        source.len()
                    ))
                })?;
            wanted.entry(k).or_default().push((pos, i));
        }
        let mut out: Vec<Option<OwnedSample>> = vec![None; indices.len()];
        for (k, items) in wanted {
            let start = source.shard_range(k).start;
            let shard = source.read_shard(k)?;
            for (pos, i) in items {
                out[pos] = shard.get(i - start).cloned();
            }
        }
        let samples: Vec<OwnedSample> = out.into_iter().flatten().collect();
        if samples.len() != indices.len() {
            return Err(TrainError::Dataset(
                "a shard held fewer samples than its index says".into(),
            ));
        }
        if samples.iter().any(|s| s.res != samples[0].res) {
            return Err(TrainError::Invalid("mixed image sizes in one split".into()));
        }
        Ok(Self::from_samples(&samples))
    }
}

/// Pooled features of `set` `[n, P]` (row-major), computed in inference mode in batches.
///
/// # Errors
/// When device data cannot be read back.
pub fn extract_features(
    backbone: &Backbone<B>,
    set: &ProbeSet,
    batch_size: usize,
) -> Result<Vec<f32>, TrainError> {
    let model = backbone.valid();
    let device = model
        .devices()
        .first()
        .map(without_autodiff)
        .ok_or_else(|| TrainError::Backend("the backbone has no device".into()))?;
    let per = 3 * set.res * set.res;
    let mut out = Vec::new();
    let n = set.len();
    let mut start = 0;
    while start < n {
        let b = batch_size.max(1).min(n - start);
        let x = Tensor::<B, 4>::from_data(
            TensorData::new(
                set.images[start * per..(start + b) * per].to_vec(),
                [b, 3, set.res, set.res],
            ),
            &device,
        );
        out.extend(to_host_f32(global_average_pool(model.forward(x)))?);
        start += b;
    }
    Ok(out)
}

fn normalized_rows(x: &[f32], d: usize) -> Vec<f32> {
    let mut out = x.to_vec();
    for row in out.chunks_mut(d) {
        let n = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= n);
    }
    out
}

/// Weighted kNN accuracy (cosine similarity, top `k`, votes `exp(sim / t)`).
///
/// `reference` is `[n_ref, d]`, `queries` `[n_q, d]` (row-major); labels are in `0..classes`.
#[allow(clippy::too_many_arguments)]
pub fn knn_accuracy(
    reference: &[f32],
    ref_labels: &[i64],
    queries: &[f32],
    query_labels: &[i64],
    d: usize,
    classes: usize,
    k: usize,
    t: f64,
) -> f64 {
    if query_labels.is_empty() || ref_labels.is_empty() || d == 0 {
        return 0.0;
    }
    let r = normalized_rows(reference, d);
    let q = normalized_rows(queries, d);
    let correct: usize = q
        .par_chunks(d)
        .zip(query_labels.par_iter())
        .map(|(qi, &label)| {
            let mut sims: Vec<(f32, i64)> = r
                .chunks(d)
                .zip(ref_labels)
                .map(|(ri, &l)| (ri.iter().zip(qi).map(|(a, b)| a * b).sum::<f32>(), l))
                .collect();
            let kk = k.min(sims.len());
            sims.select_nth_unstable_by(kk - 1, |a, b| b.0.total_cmp(&a.0));
            let mut votes = vec![0.0f64; classes];
            for &(s, l) in &sims[..kk] {
                if let Some(v) = votes.get_mut(l as usize) {
                    *v += (s as f64 / t).exp();
                }
            }
            let pred = votes
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i as i64)
                .unwrap_or(0);
            usize::from(pred == label)
        })
        .sum();
    correct as f64 / query_labels.len() as f64
}

/// Multinomial logistic regression on standardised frozen features, fitted by full-batch
/// gradient descent (`iterations` steps, lr 0.5, L2 1e-4), scored on the test features.
pub fn linear_probe_accuracy(
    train: &[f32],
    train_labels: &[i64],
    test: &[f32],
    test_labels: &[i64],
    d: usize,
    classes: usize,
    iterations: usize,
) -> f64 {
    let n = train_labels.len();
    if n == 0 || test_labels.is_empty() || d == 0 {
        return 0.0;
    }
    let mut mean = vec![0.0f64; d];
    let mut var = vec![0.0f64; d];
    for row in train.chunks(d) {
        for (j, &v) in row.iter().enumerate() {
            mean[j] += v as f64 / n as f64;
        }
    }
    for row in train.chunks(d) {
        for (j, &v) in row.iter().enumerate() {
            var[j] += (v as f64 - mean[j]).powi(2) / n as f64;
        }
    }
    let std: Vec<f64> = var.iter().map(|v| v.sqrt().max(1e-6)).collect();
    let standardise = |x: &[f32]| -> Vec<f64> {
        x.chunks(d)
            .flat_map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(j, &v)| (v as f64 - mean[j]) / std[j])
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let xtr = standardise(train);
    let xte = standardise(test);
    let (lr, l2) = (0.5, 1e-4);
    let mut w = vec![0.0f64; (d + 1) * classes]; // [d + 1, classes], last row = bias
    let logits = |x: &[f64], w: &[f64]| -> Vec<f64> {
        let mut z = vec![0.0; classes];
        for (c, zc) in z.iter_mut().enumerate() {
            *zc = w[d * classes + c] + (0..d).map(|j| x[j] * w[j * classes + c]).sum::<f64>();
        }
        z
    };
    for _ in 0..iterations {
        let grads: Vec<f64> = xtr
            .par_chunks(d)
            .zip(train_labels.par_iter())
            .fold(
                || vec![0.0f64; (d + 1) * classes],
                |mut g, (x, &y)| {
                    let z = logits(x, &w);
                    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
                    let s: f64 = e.iter().sum();
                    for c in 0..classes {
                        let p = e[c] / s - if c as i64 == y { 1.0 } else { 0.0 };
                        for j in 0..d {
                            g[j * classes + c] += p * x[j];
                        }
                        g[d * classes + c] += p;
                    }
                    g
                },
            )
            .reduce(
                || vec![0.0f64; (d + 1) * classes],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    a
                },
            );
        for (i, wi) in w.iter_mut().enumerate() {
            *wi -= lr * (grads[i] / n as f64 + l2 * *wi);
        }
    }
    let correct = xte
        .chunks(d)
        .zip(test_labels)
        .filter(|(x, y)| {
            let z = logits(x, &w);
            let pred = z
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i as i64);
            pred == Some(**y)
        })
        .count();
    correct as f64 / test_labels.len() as f64
}

/// The two online heads.
#[derive(Module, Debug)]
pub struct OnlineHeads<B: Backend> {
    class: Linear<B>,
    pose: Linear<B>,
}

/// Linear class and pose heads trained on detached features during pretraining.
pub struct OnlineProbe {
    heads: OnlineHeads<B>,
    optim: OptimizerAdaptor<Adam, OnlineHeads<B>, B>,
}

/// Learning rate of the online heads.
pub const ONLINE_LR: f64 = 1e-3;

impl OnlineProbe {
    /// Fresh heads on `features`-wide inputs (on the autodiff device), weights from `seed`.
    pub fn new(features: usize, seed: u64, device: &Device) -> Self {
        let heads = crate::model::init_weights(
            OnlineHeads {
                class: LinearConfig::new(features, CLASSES).init(device),
                pose: LinearConfig::new(features, POSES).init(device),
            },
            crate::data::mix(seed, 0x9b0e),
        );
        Self {
            heads,
            optim: AdamConfig::new().init(),
        }
    }

    /// Save the heads (`path`) and their Adam state (`path` with extension `mpk`).
    ///
    /// # Errors
    /// I/O errors.
    pub fn save(&self, path: &std::path::Path) -> Result<(), TrainError> {
        crate::model::save_module(&self.heads, path)?;
        crate::training::save_optimizer(&self.optim, &self.heads, &path.with_extension("mpk"))
    }

    /// Load what [`OnlineProbe::save`] wrote.
    ///
    /// # Errors
    /// Missing or mismatching files.
    pub fn load(self, path: &std::path::Path) -> Result<Self, TrainError> {
        let heads = crate::model::load_module(self.heads, path)?;
        let device = heads
            .devices()
            .first()
            .cloned()
            .ok_or_else(|| TrainError::Backend("the probe has no device".into()))?;
        let optim = crate::training::load_optimizer(
            self.optim,
            &heads,
            &path.with_extension("mpk"),
            &device,
        )?;
        Ok(Self { heads, optim })
    }

    /// One step on `features` `[n, P]` (detached here) with their labels; returns the loss.
    ///
    /// # Errors
    /// When device data cannot be read.
    pub fn train_step(
        &mut self,
        features: Tensor<B, 2>,
        classes: &[i64],
        poses: &[i64],
    ) -> Result<f64, TrainError> {
        let n = classes.len();
        if n == 0 {
            return Ok(f64::NAN);
        }
        let device = features.device();
        let h = features.detach();
        let yc = Tensor::<B, 1, Int>::from_data(TensorData::new(classes.to_vec(), [n]), &device);
        let yp = Tensor::<B, 1, Int>::from_data(TensorData::new(poses.to_vec(), [n]), &device);
        let loss = cross_entropy(self.heads.class.forward(h.clone()), yc)
            + cross_entropy(self.heads.pose.forward(h), yp);
        let value = to_host_f32(loss.clone())?
            .first()
            .copied()
            .unwrap_or(f32::NAN) as f64;
        let grads = GradientsParams::from_grads(loss.backward(), &self.heads);
        self.heads = self.optim.step(ONLINE_LR, self.heads.clone(), grads);
        Ok(value)
    }

    /// Class and pose accuracy of the heads on features `[n, P]` (host, row-major).
    ///
    /// # Errors
    /// When device data cannot be read.
    pub fn accuracy(
        &self,
        features: &[f32],
        classes: &[i64],
        poses: &[i64],
    ) -> Result<(f64, f64), TrainError> {
        let n = classes.len();
        if n == 0 {
            return Ok((0.0, 0.0));
        }
        let heads = self.heads.valid();
        let device = heads
            .devices()
            .first()
            .map(without_autodiff)
            .ok_or_else(|| TrainError::Backend("the probe has no device".into()))?;
        let d = features.len() / n;
        let x = Tensor::<B, 2>::from_data(TensorData::new(features.to_vec(), [n, d]), &device);
        let pc = to_host_i64(heads.class.forward(x.clone()).argmax(1))?;
        let pp = to_host_i64(heads.pose.forward(x).argmax(1))?;
        Ok((
            crate::metrics::accuracy(&pc, classes),
            crate::metrics::accuracy(&pp, poses),
        ))
    }
}

/// What the probes measured at one point of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeResults {
    /// kNN class accuracy on the queries.
    pub knn_class: f64,
    /// kNN pose accuracy on the queries.
    pub knn_pose: f64,
    /// Online linear head, class accuracy.
    pub online_class: f64,
    /// Online linear head, pose accuracy.
    pub online_pose: f64,
    /// Linear probe (logistic regression fitted on the reference features), class accuracy.
    pub linear_class: f64,
    /// Linear probe, pose accuracy.
    pub linear_pose: f64,
}

impl ProbeResults {
    /// As a name -> value map.
    pub fn to_map(&self) -> BTreeMap<String, f64> {
        BTreeMap::from([
            ("knn_class".to_string(), self.knn_class),
            ("knn_pose".to_string(), self.knn_pose),
            ("online_class".to_string(), self.online_class),
            ("online_pose".to_string(), self.online_pose),
            ("linear_class".to_string(), self.linear_class),
            ("linear_pose".to_string(), self.linear_pose),
        ])
    }
}

/// Run the kNN probe, score the online heads and fit the linear probe.
///
/// # Errors
/// When device data cannot be read.
pub fn evaluate_probes(
    backbone: &Backbone<B>,
    online: &OnlineProbe,
    reference: &ProbeSet,
    queries: &ProbeSet,
    batch_size: usize,
) -> Result<ProbeResults, TrainError> {
    let fr = extract_features(backbone, reference, batch_size)?;
    let fq = extract_features(backbone, queries, batch_size)?;
    let d = if queries.is_empty() {
        0
    } else {
        fq.len() / queries.len()
    };
    let (online_class, online_pose) = online.accuracy(&fq, &queries.classes, &queries.poses)?;
    Ok(ProbeResults {
        knn_class: knn_accuracy(
            &fr,
            &reference.classes,
            &fq,
            &queries.classes,
            d,
            CLASSES,
            KNN_K,
            KNN_T,
        ),
        knn_pose: knn_accuracy(
            &fr,
            &reference.poses,
            &fq,
            &queries.poses,
            d,
            POSES,
            KNN_K,
            KNN_T,
        ),
        online_class,
        online_pose,
        linear_class: linear_probe_accuracy(
            &fr,
            &reference.classes,
            &fq,
            &queries.classes,
            d,
            CLASSES,
            LINEAR_ITERATIONS,
        ),
        linear_pose: linear_probe_accuracy(
            &fr,
            &reference.poses,
            &fq,
            &queries.poses,
            d,
            POSES,
            LINEAR_ITERATIONS,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knn_by_hand() {
        // Reference: class 0 near (1, 0), class 1 near (0, 1).
        let reference = [1.0, 0.1, 0.9, 0.0, 0.0, 1.0, 0.1, 0.8];
        let labels = [0, 0, 1, 1];
        let queries = [2.0, 0.3, 0.1, 3.0];
        let acc = knn_accuracy(&reference, &labels, &queries, &[0, 1], 2, 2, 3, 0.07);
        assert_eq!(acc, 1.0);
        // k = 4 with a close class-1 neighbour outvoting: weights decide, not counts.
        let acc = knn_accuracy(&reference, &labels, &[1.0, 0.05], &[0], 2, 2, 4, 0.07);
        assert_eq!(acc, 1.0);
    }

    #[test]
    fn linear_probe_separates_separable_data() {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..60 {
            let c = i % 3;
            x.extend([c as f32 + 0.01 * i as f32, -(c as f32), 1.0]);
            y.push(c as i64);
        }
        let acc = linear_probe_accuracy(&x, &y, &x, &y, 3, 3, 200);
        assert!(acc > 0.95, "{acc}");
    }
}
