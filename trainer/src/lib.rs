//! Training and evaluation of backbones on the synthetic datasets (burn).
//!
//! Input: a dataset directory of `datasets` (MDS shards) and a label budget. Output: a run
//! directory with `config.json`, checkpoints and `metrics.json`.
