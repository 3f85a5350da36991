//! Scenes rendered while training: the `render:VARIANT[,key=value...]` dataset source.
//!
//! Input: a [`datasets::live::RenderSpec`] (the dataset `render` would write for it, plus the
//! stream settings `unique=`, `val=`, `test=`). Output: a [`RenderSource`] for the train split
//! (a [`ShardSource`] whose shards are rendered on request), and the validation and test
//! splits rendered once at start and kept in memory ([`MemoryShards`]).
//!
//! The renderer lives on its own thread (`render-live`): it opens the adapter, uploads the
//! asset pool, renders validation and test, then serves shard requests from the loader's reader
//! threads one at a time. The loader asks only a few shards ahead of the sample it needs and
//! hands batches over a bounded channel, so rendering never runs further ahead than that
//! (back-pressure) and the renderer idles while training catches up.
//!
//! Training position p is the dataset sample [`RenderSpec::train_index`]`(p)`, byte-identical
//! to what `render` writes for it. Without `unique=` the source is
//! [endless](ShardSource::endless): the loader streams positions 0, 1, 2, ... in order (the
//! scenes are independent draws, every ten consecutive ones hold each class once), never
//! repeating a scene. With `unique=N` it is a finite split of N samples cut into shards of
//! `shard=` samples exactly as `render --shard-size` cuts its train split, so training on it
//! gives the very batches (order, augmentation) that training on a rendered dataset whose
//! train split holds those N samples gives.

use std::ops::Range;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};
use datasets::live::{LiveRenderer, RenderSpec};
use serde::{Deserialize, Serialize};

use super::{MemoryShards, OwnedSample, ShardSource};
use crate::TrainError;

/// What the run directory records about a rendered source (`render-source.json`,
/// `metrics.json` → `dataset.render`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderSourceInfo {
    /// The resolved spec ([`RenderSpec::describe`]).
    pub spec: serde_json::Value,
    /// Distinct training scenes (`null`: endless).
    pub unique_images: Option<usize>,
    /// The manifest `render` would write for the spec's dataset (asset fingerprints, class
    /// colours, pose threshold, ...).
    pub manifest: serde_json::Value,
    /// The renderer's adapter (name, backend, device type, driver, driver info).
    pub adapter: renderer::AdapterSummary,
    /// Renderer devices.
    pub lanes: usize,
    /// Models and textures uploaded.
    pub models_loaded: usize,
    /// Textures uploaded.
    pub textures_loaded: usize,
    /// Models skipped (name: reason).
    pub skipped_models: Vec<String>,
    /// Seconds to open the renderer, upload the assets and render validation and test.
    pub setup_seconds: f64,
}

/// A request to the renderer thread: dataset indices of one split, and where to answer.
struct Request {
    split: datasets::Split,
    indices: Vec<u64>,
    reply: Sender<Result<Vec<datasets::Sample>, String>>,
}

/// The train split of a render spec, rendered shard by shard on the renderer thread.
pub struct RenderSource {
    spec: Arc<RenderSpec>,
    len: usize,
    endless: bool,
    shard: usize,
    tx: Option<Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

/// A rendered dataset: the train source, validation and test in memory, what to record.
pub struct RenderedSplits {
    /// The train split.
    pub train: Arc<RenderSource>,
    /// The validation samples (shards of the spec's shard size).
    pub val: MemoryShards,
    /// The test samples.
    pub test: MemoryShards,
    /// Spec, manifest, adapter.
    pub info: RenderSourceInfo,
    /// xxh64 (hex) of the manifest `render` would write plus the stream settings: the
    /// dataset's identity in run configs and cache keys.
    pub fingerprint: String,
}

/// The xxh64 identity of a spec: the manifest `render` would write (data-defining settings and
/// asset fingerprints) followed by `unique=`, so an endless stream, a capped one and the
/// rendered dataset never share a key.
fn fingerprint_of(manifest_json: &str, unique: Option<usize>) -> String {
    let text = format!(
        "{manifest_json}render-stream unique={}",
        unique.map_or("endless".to_string(), |u| u.to_string())
    );
    format!("{:016x}", xxhash_rust::xxh64::xxh64(text.as_bytes(), 0))
}

/// Parse a dataset argument that is a render spec.
///
/// # Errors
/// The spec's parse error (it names the field).
pub fn parse_spec(text: &str) -> Result<RenderSpec, TrainError> {
    RenderSpec::parse(text).map_err(|e| TrainError::Invalid(e.to_string()))
}

/// The identity of a render spec without rendering anything (for cache keys).
///
/// # Errors
/// Bad spec, assets that cannot be opened.
pub fn fingerprint(text: &str) -> Result<String, TrainError> {
    let spec = parse_spec(text)?;
    let (models, textures) = spec.open_assets().map_err(dataset_err(&spec))?;
    let manifest = spec
        .manifest(models.as_ref(), textures.as_ref())
        .map_err(dataset_err(&spec))?;
    Ok(fingerprint_of(&manifest.to_json(), spec.unique))
}

fn dataset_err(spec: &RenderSpec) -> impl Fn(datasets::DatasetError) -> TrainError + '_ {
    move |e| TrainError::Dataset(format!("{}: {e}", spec.text))
}

fn to_owned(samples: Vec<datasets::Sample>) -> Result<Vec<OwnedSample>, TrainError> {
    samples.into_iter().map(OwnedSample::try_from).collect()
}

impl RenderSource {
    /// Start the renderer thread for `spec`, render validation and test, and return the
    /// splits. `cap` (label budgets) limits the training scenes when the spec has no `unique=`.
    ///
    /// # Errors
    /// Bad spec, assets that cannot be opened, no adapter (the message is `render`'s), classes
    /// without models.
    pub fn open(spec: RenderSpec, cap: Option<usize>) -> Result<RenderedSplits, TrainError> {
        let started = std::time::Instant::now();
        let mut spec = spec;
        if spec.unique.is_none() {
            spec.unique = cap;
        }
        let spec = Arc::new(spec);
        let (tx, rx) = bounded::<Request>(4);
        let (ready_tx, ready_rx) = bounded(1);
        let thread_spec = spec.clone();
        let thread = std::thread::Builder::new()
            .name("render-live".into())
            .spawn(move || renderer_thread(&thread_spec, &ready_tx, &rx))
            .map_err(|e| TrainError::Loader(format!("cannot start the renderer thread: {e}")))?;
        let ready = ready_rx
            .recv()
            .map_err(|_| TrainError::Loader(format!("{}: the renderer thread stopped", spec.text)));
        let (mut info, val, test, manifest_json) = match ready {
            Ok(Ok(r)) => r,
            Ok(Err(e)) | Err(e) => {
                let _ = thread.join();
                return Err(e);
            }
        };
        info.setup_seconds = started.elapsed().as_secs_f64();
        let shard = spec.job.shard_size.max(1);
        let (len, endless) = match spec.unique {
            Some(n) => (n, false),
            None => (spec.train_count(), true),
        };
        let fingerprint = fingerprint_of(&manifest_json, spec.unique);
        tracing::info!(
            adapter = %info.adapter,
            lanes = info.lanes,
            unique = ?spec.unique,
            seconds = info.setup_seconds,
            "rendering {} while training",
            spec.text
        );
        Ok(RenderedSplits {
            train: Arc::new(RenderSource {
                spec,
                len,
                endless,
                shard,
                tx: Some(tx),
                thread: Some(thread),
            }),
            val: MemoryShards {
                samples: val,
                shard_size: shard,
            },
            test: MemoryShards {
                samples: test,
                shard_size: shard,
            },
            info,
            fingerprint,
        })
    }

    /// The spec.
    pub fn spec(&self) -> &RenderSpec {
        &self.spec
    }
}

type Ready = Result<(RenderSourceInfo, Vec<OwnedSample>, Vec<OwnedSample>, String), TrainError>;

/// The renderer thread: set up, answer `ready`, then serve requests until the source is
/// dropped.
fn renderer_thread(spec: &RenderSpec, ready: &Sender<Ready>, rx: &Receiver<Request>) {
    let setup = || -> Result<(LiveRenderer, Ready), TrainError> {
        let err = dataset_err(spec);
        let (models, textures) = spec.open_assets().map_err(&err)?;
        let manifest = spec
            .manifest(models.as_ref(), textures.as_ref())
            .map_err(&err)?;
        let mut live =
            LiveRenderer::new(&spec.job, models.as_ref(), textures.as_ref()).map_err(&err)?;
        let val_idx: Vec<u64> = (0..spec.val as u64).map(|j| spec.val_index(j)).collect();
        let test_idx: Vec<u64> = (0..spec.test as u64).map(|j| spec.test_index(j)).collect();
        let val = to_owned(live.render(datasets::Split::Val, &val_idx).map_err(&err)?)?;
        let test = to_owned(
            live.render(datasets::Split::Test, &test_idx)
                .map_err(&err)?,
        )?;
        let summary = live.summary();
        let manifest_json = manifest.to_json();
        let info = RenderSourceInfo {
            spec: spec.describe(),
            unique_images: spec.unique,
            manifest: serde_json::to_value(&manifest).unwrap_or_default(),
            adapter: live.adapter().clone(),
            lanes: summary.lanes,
            models_loaded: summary.models_loaded,
            textures_loaded: summary.textures_loaded,
            skipped_models: summary
                .skipped_models
                .iter()
                .map(|s| format!("{}: {}", s.name, s.reason))
                .collect(),
            setup_seconds: 0.0,
        };
        Ok((live, Ok((info, val, test, manifest_json))))
    };
    let mut live = match setup() {
        Ok((live, r)) => {
            if ready.send(r).is_err() {
                return;
            }
            live
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    for req in rx.iter() {
        let result = live
            .render(req.split, &req.indices)
            .map_err(|e| format!("{}: {e}", spec.text));
        // The asker may have gone (loader dropped): nothing to do then.
        let _ = req.reply.send(result);
    }
}

impl ShardSource for RenderSource {
    fn len(&self) -> usize {
        self.len
    }

    fn num_shards(&self) -> usize {
        self.len.div_ceil(self.shard)
    }

    fn shard_range(&self, k: usize) -> Range<usize> {
        let start = k * self.shard;
        let end = (k + 1) * self.shard;
        if self.endless {
            start..end
        } else {
            start..end.min(self.len)
        }
    }

    fn read_shard(&self, k: usize) -> Result<Vec<OwnedSample>, TrainError> {
        let range = self.shard_range(k);
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let indices: Vec<u64> = range.map(|p| self.spec.train_index(p as u64)).collect();
        let (reply, answer) = bounded(1);
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| TrainError::Loader("the renderer thread stopped".into()))?;
        tx.send(Request {
            split: datasets::Split::Train,
            indices,
            reply,
        })
        .map_err(|_| TrainError::Loader("the renderer thread stopped".into()))?;
        match answer.recv() {
            Ok(Ok(samples)) => to_owned(samples),
            Ok(Err(e)) => Err(TrainError::Dataset(e)),
            Err(_) => Err(TrainError::Loader(
                "the renderer thread stopped (it panicked?)".into(),
            )),
        }
    }

    fn endless(&self) -> bool {
        self.endless
    }
}

impl Drop for RenderSource {
    fn drop(&mut self) {
        self.tx = None; // ends the renderer thread's loop after its current shard
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `dataset` with `--unique-images N` merged into its render spec (`unique=N`); unchanged
/// without the flag.
///
/// # Errors
/// The flag on a dataset directory, or on a spec that names another `unique=`.
pub fn with_unique_images(
    dataset: &std::path::Path,
    unique: Option<usize>,
) -> Result<std::path::PathBuf, TrainError> {
    let Some(n) = unique else {
        return Ok(dataset.to_path_buf());
    };
    let text = dataset.to_string_lossy();
    if !datasets::live::is_spec(&text) {
        return Err(TrainError::Invalid(format!(
            "--unique-images {n}: only for scenes rendered while training (--dataset \
             render:VARIANT[,...]); {} is a dataset directory, whose train split is already \
             finite",
            dataset.display()
        )));
    }
    RenderSpec::with_unique(&text, n)
        .map(std::path::PathBuf::from)
        .map_err(|e| TrainError::Invalid(e.to_string()))
}
