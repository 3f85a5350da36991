//! Contrastive Multiview Coding (Tian et al., 2019), L vs ab.
//!
//! The backbone is split ([`crate::model::BackboneConfig::split`]): one half-width network sees
//! the L channel, the other the ab channels, each with its own half of the projection. Each half's
//! pooled features go through a linear layer to a 128-d L2-normalised embedding.
//!
//! A memory bank holds one 128-d embedding per training image and view (L and ab), initialised
//! uniformly in +-1/sqrt(128/3) as in the original code. For each image i of a batch, K indices
//! are drawn uniformly from the bank (K = 8192, capped at the number of training images minus
//! one) and the L embedding is scored against the bank's ab row of i (the positive) and the K
//! drawn ab rows (negatives); the same for ab against the L bank. Scores are dot products / T
//! (T = 0.1), the loss is the softmax cross-entropy with the positive as the class, summed over
//! the two directions ([`nce_softmax_loss`]). After the step the bank rows of the batch become
//! `normalise(m * row + (1 - m) * embedding)` with m = 0.2 ([`momentum_update`]). The bank is a
//! constant to autodiff: it never receives a gradient.

use std::path::Path;

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;
use rand::Rng;

use super::{
    B, Device, Method, MethodConfig, MethodKind, StepOutput, l2_normalize, step_rng, view_tensor,
};
use crate::TrainError;
use crate::data::HostBatch;
use crate::model::{Backbone, global_average_pool};
use crate::tasks::to_host_f32;

/// Embedding width.
pub const EMBED: usize = 128;
/// Softmax temperature.
pub const TEMPERATURE: f64 = 0.1;
/// Bank momentum.
pub const MOMENTUM: f64 = 0.2;
/// Default negatives per positive.
pub const NCE_K: usize = 8192;

/// Softmax NCE of embeddings `emb` `[N, D]` against bank rows `rows` `[N, K + 1, D]` whose
/// first row per image is the positive: `mean_i -log softmax(rows_i . emb_i / t)[0]`.
pub fn nce_softmax_loss(emb: Tensor<B, 2>, rows: Tensor<B, 3>, temperature: f64) -> Tensor<B, 1> {
    let [n, k1, d] = rows.dims();
    let device = emb.device();
    let scores = rows.matmul(emb.reshape([n, d, 1])).reshape([n, k1]) / temperature;
    super::cross_entropy_host(scores, &vec![0i64; n], &device)
}

/// `normalise(m * old + (1 - m) * new)` row by row.
///
/// # Shapes
/// `[N, D]`, `[N, D]` -> `[N, D]`
pub fn momentum_update(old: Tensor<B, 2>, new: Tensor<B, 2>, m: f64) -> Tensor<B, 2> {
    l2_normalize(old * m + new * (1.0 - m))
}

/// Split backbone + one embedding layer per half.
#[derive(Module, Debug)]
pub struct CmcNet<B: Backend> {
    /// The split backbone being pretrained.
    pub backbone: Backbone<B>,
    /// L half -> 128.
    pub embed_l: Linear<B>,
    /// ab half -> 128.
    pub embed_ab: Linear<B>,
}

/// CMC's memory banks and the embeddings waiting to be written into them.
pub struct Cmc {
    /// `[N, 128]` L embeddings.
    pub bank_l: Tensor<B, 2>,
    /// `[N, 128]` ab embeddings.
    pub bank_ab: Tensor<B, 2>,
    k: usize,
    seed: u64,
    pending: Option<(Vec<usize>, Tensor<B, 2>, Tensor<B, 2>)>,
}

impl Cmc {
    /// Negatives per positive.
    pub fn negatives(&self) -> usize {
        self.k
    }
}

/// Checkpoint file of the banks: `u64 rows`, `u64 dim` (little-endian), then the L bank and
/// the ab bank as little-endian f32, row-major.
const BANK_FILE: &str = "cmc_bank.bin";

impl Method for Cmc {
    type Net = CmcNet<B>;
    const KIND: MethodKind = MethodKind::Cmc;

    fn init(config: &MethodConfig, device: &Device) -> Result<(Self, Self::Net), TrainError> {
        if !config.backbone.split {
            return Err(TrainError::Invalid(
                "--method cmc needs a split backbone (BackboneConfig::split)".into(),
            ));
        }
        let n = config.dataset_len;
        if n < 2 {
            return Err(TrainError::Invalid(format!(
                "--method cmc needs at least 2 training images for negatives, the split has {n}"
            )));
        }
        let half = config.backbone.projection_channels() / 2;
        let net = CmcNet {
            backbone: config.backbone.init(device),
            embed_l: LinearConfig::new(half, EMBED).init(device),
            embed_ab: LinearConfig::new(config.backbone.projection_channels() - half, EMBED)
                .init(device),
        };
        let stdv = 1.0 / (EMBED as f32 / 3.0).sqrt();
        let mut rng = step_rng(config.seed, 0, 0xba4c);
        let mut bank = || {
            let v: Vec<f32> = (0..n * EMBED)
                .map(|_| rng.random_range(-stdv..stdv))
                .collect();
            Tensor::<B, 2>::from_data(TensorData::new(v, [n, EMBED]), device)
        };
        let (bank_l, bank_ab) = (bank(), bank());
        Ok((
            Cmc {
                bank_l,
                bank_ab,
                k: config.nce_k.min(n - 1).max(1),
                seed: config.seed,
                pending: None,
            },
            super::init_net(net, config.seed),
        ))
    }

    fn forward(
        &mut self,
        net: &Self::Net,
        batch: &HostBatch,
        step: u64,
        device: &Device,
    ) -> Result<StepOutput, TrainError> {
        let n = batch.size;
        if batch.indices.len() != n {
            return Err(TrainError::Invalid(
                "--method cmc needs the sample index of every image (HostBatch::indices)".into(),
            ));
        }
        let x = view_tensor(batch, 0, device)?;
        let (fl, fab) = net
            .backbone
            .forward_halves(x)
            .ok_or_else(|| TrainError::Invalid("--method cmc needs a split backbone".into()))?;
        let (hl, hab) = (global_average_pool(fl), global_average_pool(fab));
        let features = Tensor::cat(vec![hl.clone(), hab.clone()], 1);
        let l = l2_normalize(net.embed_l.forward(hl));
        let ab = l2_normalize(net.embed_ab.forward(hab));
        // Indices: the positive first, then K uniform draws.
        let rows = self.bank_l.dims()[0];
        let mut rng = step_rng(self.seed, step, 0xc3c);
        let mut idx = Vec::with_capacity(n * (self.k + 1));
        for &i in &batch.indices {
            if i >= rows {
                return Err(TrainError::Invalid(format!(
                    "sample index {i} is outside CMC's memory bank ({rows} rows)"
                )));
            }
            idx.push(i as i64);
            idx.extend((0..self.k).map(|_| rng.random_range(0..rows) as i64));
        }
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [n * (self.k + 1)]), device);
        let rows_ab = self
            .bank_ab
            .clone()
            .select(0, idx.clone())
            .reshape([n, self.k + 1, EMBED]);
        let rows_l = self
            .bank_l
            .clone()
            .select(0, idx)
            .reshape([n, self.k + 1, EMBED]);
        let loss = nce_softmax_loss(l.clone(), rows_ab, TEMPERATURE)
            + nce_softmax_loss(ab.clone(), rows_l, TEMPERATURE);
        self.pending = Some((batch.indices.clone(), l.detach(), ab.detach()));
        Ok(StepOutput {
            loss,
            features,
            rows: (0..n).collect(),
        })
    }

    fn after_step(&mut self, _net: &Self::Net, _step: u64) -> Result<(), TrainError> {
        let Some((indices, l, ab)) = self.pending.take() else {
            return Ok(());
        };
        let device = l.device();
        let n = indices.len();
        let idx = Tensor::<B, 1, Int>::from_data(
            TensorData::new(indices.iter().map(|&i| i as i64).collect::<Vec<_>>(), [n]),
            &device,
        );
        // A batch holds each sample once (one epoch position each), so the rows are distinct
        // unless the batch is larger than the dataset; then the last write wins.
        for (bank, new) in [(&mut self.bank_l, l), (&mut self.bank_ab, ab)] {
            let old = bank.clone().select(0, idx.clone());
            let updated = momentum_update(old.clone(), new, MOMENTUM);
            *bank = bank
                .clone()
                .select_assign(0, idx.clone(), updated - old, IndexingUpdateOp::Add)
                .detach();
        }
        Ok(())
    }

    fn backbone(net: &Self::Net) -> &Backbone<B> {
        &net.backbone
    }

    fn save_state(&self, dir: &Path) -> Result<(), TrainError> {
        let rows = self.bank_l.dims()[0];
        let mut bytes = Vec::with_capacity(16 + 8 * rows * EMBED);
        bytes.extend((rows as u64).to_le_bytes());
        bytes.extend((EMBED as u64).to_le_bytes());
        for bank in [&self.bank_l, &self.bank_ab] {
            for v in to_host_f32(bank.clone())? {
                bytes.extend(v.to_le_bytes());
            }
        }
        crate::write_atomic(&dir.join(BANK_FILE), &bytes)
    }

    fn load_state(&mut self, dir: &Path, device: &Device) -> Result<(), TrainError> {
        let path = dir.join(BANK_FILE);
        let bytes = std::fs::read(&path).map_err(|e| TrainError::io(&path, e))?;
        let rows = self.bank_l.dims()[0];
        let header = |k: usize| {
            bytes
                .get(8 * k..8 * k + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
        };
        if header(0) != Some(rows as u64)
            || header(1) != Some(EMBED as u64)
            || bytes.len() != 16 + 8 * rows * EMBED
        {
            return Err(TrainError::Invalid(format!(
                "{}: not a memory bank of {rows} x {EMBED} (written by a run on other data?)",
                path.display()
            )));
        }
        let floats: Vec<f32> = bytes[16..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let (l, ab) = floats.split_at(rows * EMBED);
        self.bank_l = Tensor::from_data(TensorData::new(l.to_vec(), [rows, EMBED]), device);
        self.bank_ab = Tensor::from_data(TensorData::new(ab.to_vec(), [rows, EMBED]), device);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nce_with_a_small_bank_by_hand() {
        let d = crate::backend::flex();
        // Two images, D = 2, K = 2: rows[0] = [pos, neg, neg].
        let emb =
            Tensor::<B, 2>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [2, 2]), &d);
        let rows = Tensor::<B, 3>::from_data(
            TensorData::new(
                vec![
                    0.8f32, 0.6, 0.0, 1.0, -1.0, 0.0, // image 0
                    0.0, 1.0, 0.6, 0.8, 1.0, 0.0, // image 1
                ],
                [2, 3, 2],
            ),
            &d,
        );
        let t = 0.1f64;
        let lse = |s: [f64; 3]| -> f64 {
            let e: f64 = s.iter().map(|v| (v / t).exp()).sum();
            -(s[0] / t - e.ln())
        };
        let want = (lse([0.8, 0.0, -1.0]) + lse([1.0, 0.8, 0.0])) / 2.0;
        let got = to_host_f32(nce_softmax_loss(emb, rows, t)).unwrap()[0] as f64;
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }

    #[test]
    fn momentum_update_by_hand() {
        let d = crate::backend::flex();
        let old = Tensor::<B, 2>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2]), &d);
        let new = Tensor::<B, 2>::from_data(TensorData::new(vec![0.0f32, 1.0], [1, 2]), &d);
        let u = to_host_f32(momentum_update(old, new, 0.2)).unwrap();
        let n = (0.2f32 * 0.2 + 0.8 * 0.8).sqrt();
        assert!((u[0] - 0.2 / n).abs() < 1e-6 && (u[1] - 0.8 / n).abs() < 1e-6);
    }
}
