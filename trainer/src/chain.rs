//! `train --method M --task T ...`: pretrain with method M (or reuse a finished pretraining from
//! the cache), then finetune (or linearly evaluate) on task T.
//!
//! Input: [`ChainOptions`]: the finetuning run ([`RunOptions`]), the pretraining run
//! ([`PretrainOptions`], its `out` chosen here), the cache directory and the evaluation mode.
//! Output: the finetuning run directory as `train` writes it, with `method` = M and `pretrain`
//! = the cache entry in its metrics.json; the cache entry is a complete `train pretrain` run
//! directory.
//!
//! Cache: `CACHE/<method>-<backbone>-<key>/` where key is the xxh3-64 of the canonical JSON
//! (sorted keys, no whitespace) of the [`PretrainOptions`] without the fields that do not change
//! the pretrained weights or that name places (`out`, `resume`, `progress`, `workers`,
//! `checkpoint_every`, `dataset`), plus the xxh64 of the pretraining dataset's `manifest.json`
//! (so another dataset, even at the same path, is never reused), the augmentation policy of the
//! views (`augmentation`, with `jitter_hue` applied: a change of a method's views is a new
//! pretraining) and the trainer version. The
//! JSON is kept as `cache-key.json` in the entry. An entry is finished when its `metrics.json`
//! exists: `run_pretrain` writes it last, atomically. Runs of the same key take an exclusive
//! lock on `CACHE/<dir>.lock` while they check and pretrain, so a sweep that starts many
//! finetunings at once pretrains once; a killed pretraining is resumed by the next run.
//! The default cache is `pretrain-cache/` next to the run directory (`runs/x` ->
//! `runs/pretrain-cache`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::linear_eval::{LinearEvalOptions, run_linear_eval};
use crate::pretrain::{PretrainOptions, run_pretrain};
use crate::run::{PretrainRef, RunMetrics, RunOptions, run, write_json};

/// Fields of [`PretrainOptions`] left out of the cache key.
pub const KEY_EXCLUDED: [&str; 6] = [
    "out",
    "resume",
    "progress",
    "workers",
    "checkpoint_every",
    "dataset",
];

/// How the chained run evaluates the pretrained backbone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum EvalMode {
    /// Finetune backbone + head (the default).
    Finetune,
    /// Freeze the backbone and fit a linear model ([`crate::linear_eval`]).
    Linear {
        /// L2 penalty.
        l2: f64,
        /// Most L-BFGS iterations.
        max_iters: usize,
        /// Most training pixels (dense tasks).
        max_pixels: usize,
    },
}

/// A chained run.
#[derive(Debug, Clone)]
pub struct ChainOptions {
    /// The finetuning run (its `init` is set to the pretrained backbone).
    pub finetune: RunOptions,
    /// The pretraining run (its `out` and `resume` are set here).
    pub pretrain: PretrainOptions,
    /// Cache directory.
    pub cache: PathBuf,
    /// Finetune or linear evaluation.
    pub eval: EvalMode,
}

/// `pretrain-cache/` next to the run directory `out`.
pub fn default_cache_dir(out: &Path) -> PathBuf {
    match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join("pretrain-cache"),
        _ => PathBuf::from("pretrain-cache"),
    }
}

/// xxh64 (hex) of a dataset's `manifest.json`, the dataset's identity in cache keys and
/// metrics.json.
///
/// # Errors
/// When the manifest cannot be read.
pub fn manifest_fingerprint(dataset: &Path) -> Result<String, TrainError> {
    let text = dataset.to_string_lossy();
    if datasets::live::is_spec(&text) {
        // A render spec: its manifest plus the stream settings (`crate::data::render`).
        return crate::data::render::fingerprint(&text);
    }
    let path = dataset.join(datasets::MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|e| TrainError::io(&path, e))?;
    Ok(format!("{:016x}", xxhash_rust::xxh64::xxh64(&bytes, 0)))
}

/// The cache entry name of a pretraining and the canonical JSON it was hashed from.
///
/// # Errors
/// When the dataset manifest cannot be read.
pub fn cache_key(opts: &PretrainOptions) -> Result<(String, String), TrainError> {
    let json_err = |e: serde_json::Error| TrainError::Json {
        path: PathBuf::from("cache-key.json"),
        reason: e.to_string(),
    };
    let mut value = serde_json::to_value(opts).map_err(json_err)?;
    if let Some(map) = value.as_object_mut() {
        for k in KEY_EXCLUDED {
            map.remove(k);
        }
        map.insert(
            "dataset_manifest_xxh64".into(),
            manifest_fingerprint(&opts.dataset)?.into(),
        );
        map.insert(
            "augmentation".into(),
            serde_json::to_value(opts.policy()).map_err(json_err)?,
        );
        map.insert("trainer_version".into(), env!("CARGO_PKG_VERSION").into());
    }
    // serde_json's map keeps keys sorted: this is the canonical form.
    let canonical = serde_json::to_string(&value).map_err(json_err)?;
    let hash = xxhash_rust::xxh3::xxh3_64(canonical.as_bytes());
    Ok((
        format!("{}-{}-{hash:016x}", opts.method, opts.backbone),
        canonical,
    ))
}

/// Make sure the pretraining of `opts` exists in `cache` (pretraining it when not) and describe
/// it.
///
/// # Errors
/// Pretraining errors, I/O errors in the cache.
pub fn ensure_pretrained(opts: &PretrainOptions, cache: &Path) -> Result<PretrainRef, TrainError> {
    let (key, canonical) = cache_key(opts)?;
    std::fs::create_dir_all(cache).map_err(|e| TrainError::io(cache, e))?;
    let dir = cache.join(&key);
    let lock_path = cache.join(format!("{key}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| TrainError::io(&lock_path, e))?;
    lock.lock().map_err(|e| TrainError::io(&lock_path, e))?;
    let reused = dir.join("metrics.json").is_file();
    if reused {
        tracing::info!("reusing the finished pretraining {}", dir.display());
    } else {
        tracing::info!(
            method = %opts.method,
            "pretraining into the cache entry {}",
            dir.display()
        );
        std::fs::create_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
        let pretty: serde_json::Value =
            serde_json::from_str(&canonical).map_err(|e| TrainError::Json {
                path: dir.join("cache-key.json"),
                reason: e.to_string(),
            })?;
        write_json(&dir.join("cache-key.json"), &pretty)?;
        let mut p = opts.clone();
        p.out = dir.clone();
        p.resume = true;
        run_pretrain(&p)?;
    }
    drop(lock);
    Ok(PretrainRef {
        dir: dir.display().to_string(),
        key: Some(key),
        method: opts.method.name().to_string(),
        dataset: Some(opts.dataset.display().to_string()),
        reused: Some(reused),
    })
}

/// The pretraining a chained run needs: `pre` with the backbone of the run that will use it
/// (same trunk and width, the dense variant exactly for segmentation and depth: dilated
/// ResNet50, 512·w projection). The `study` executor gives its pretraining nodes these settings
/// too.
pub fn pretrain_for(pre: &PretrainOptions, ft: &RunOptions) -> PretrainOptions {
    let mut pre = pre.clone();
    pre.backbone = ft.backbone;
    pre.width = ft.width;
    pre.dense = Some(ft.task.is_dense());
    pre
}

/// The finetuning run `ft` started from a finished pretraining: `init` = its `backbone.bpk`
/// (the `backbone.json` next to it carries the split (CMC) and dense flags), and `method` /
/// `pretrain` for metrics.json.
pub fn finetune_from(ft: &RunOptions, pretrained: &PretrainRef) -> RunOptions {
    let mut ft = ft.clone();
    ft.init = Some(Path::new(&pretrained.dir).join("backbone.bpk"));
    ft.method = pretrained.method.clone();
    ft.pretrain = Some(pretrained.clone());
    ft
}

/// The linear evaluation of a finished pretraining on the data, task, backbone, label budget
/// and evaluation settings of `ft` (`eval` must be [`EvalMode::Linear`]; [`EvalMode::Finetune`]
/// gives the `train` defaults of `--linear-*`).
pub fn linear_from(ft: &RunOptions, pretrained: &PretrainRef, eval: EvalMode) -> LinearEvalOptions {
    let backbone = Path::new(&pretrained.dir).join("backbone.bpk");
    let mut le = LinearEvalOptions::new(ft.dataset.clone(), ft.out.clone(), ft.task, backbone);
    le.backbone = ft.backbone;
    le.width = ft.width;
    le.labels = ft.labels;
    le.backend = ft.backend;
    le.seed = ft.seed;
    le.batch_size = ft.batch_size;
    if let EvalMode::Linear {
        l2,
        max_iters,
        max_pixels,
    } = eval
    {
        le.l2 = l2;
        le.max_iters = max_iters;
        le.max_pixels = max_pixels;
    }
    le.workers = ft.workers;
    le.eval_limit = ft.eval_limit;
    le.provenance = Some((pretrained.method.clone(), Some(pretrained.clone())));
    le
}

/// Pretrain (or reuse), then finetune or linearly evaluate.
///
/// # Errors
/// Pretraining or finetuning errors.
pub fn run_chain(opts: &ChainOptions) -> Result<RunMetrics, TrainError> {
    if !opts.finetune.backend.compiled_in() {
        opts.finetune.backend.device()?;
    }
    let pre = pretrain_for(&opts.pretrain, &opts.finetune);
    let pretrained = ensure_pretrained(&pre, &opts.cache)?;
    match opts.eval {
        EvalMode::Finetune => run(&finetune_from(&opts.finetune, &pretrained)),
        EvalMode::Linear { .. } => {
            run_linear_eval(&linear_from(&opts.finetune, &pretrained, opts.eval))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cache_is_next_to_the_run() {
        assert_eq!(
            default_cache_dir(Path::new("runs/amdim-depth")),
            PathBuf::from("runs/pretrain-cache")
        );
        assert_eq!(
            default_cache_dir(Path::new("run")),
            PathBuf::from("pretrain-cache")
        );
    }
}
