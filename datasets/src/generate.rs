//! Rendering a dataset: the pipeline behind the `render` command.
//!
//! Input: a [`RenderJob`] (variant, scene kind, count, seed, image size, sharding, worker K of
//! N), a model library ([`ModelSource`]), a texture library ([`TextureSource`]) and an output
//! directory. Output: `manifest.json` and the shards of this worker under `train/`, `val/`,
//! `test/` (plus each split's `index.json` once all shards exist), and a [`RenderSummary`].
//!
//! Pipeline: a fixed, seed-determined pool of models per class and split and of textures per
//! split is loaded (in parallel; broken models are skipped and reported) and uploaded once.
//! Then, for every shard of this worker that is not already complete, scenes are sampled
//! ([`crate::scene_sampler`]), streamed through [`MultiRenderer::render_stream`] (whole
//! batches handed round-robin to `lanes` devices, several in flight, images back in input
//! order, byte-identical whatever the number of lanes), turned into [`Sample`] rows as images
//! come back, and each finished shard is encoded, zstd-compressed and written (temp name +
//! rename, then its sidecar entry) by compressor threads while the renderer keeps going. Rerunning the same job skips complete,
//! hash-verified shards, so an interrupted render resumes where it stopped.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use dtd_textures::TextureSource;
use rand::seq::SliceRandom;
use renderer::{MultiRenderer, RenderedImage, RendererConfig, StreamError, process_cpu_seconds};
use serde::{Deserialize, Serialize};
use shapenet_loader::{Class, Mesh, ModelKey, ModelSource};

use crate::color;
use crate::error::DatasetError;
use crate::layout::{ShardPlan, ShardSpec, Split};
use crate::manifest::{AssetRef, Assets, MANIFEST_FILE, Manifest};
use crate::mds::{Compression, Value};
use crate::pose;
use crate::sample::Sample;
use crate::scene_sampler::{
    AssetPool, AssetSplit, MultiLayout, PoolModel, PoolTexture, SampleMeta, SceneKind, SceneParams,
    keyed_rng, sample_scene,
};
use crate::variant::Variant;

/// Default number of models per class and asset split in the pool.
pub const DEFAULT_MODELS_PER_CLASS: usize = 100;
/// Default number of train textures in the pool (held-out textures: a quarter of it).
pub const DEFAULT_TEXTURES: usize = 256;
/// Default side of the texture tiles uploaded to the renderer.
pub const DEFAULT_TEXTURE_SIZE: u32 = 256;
/// Default samples per shard.
pub const DEFAULT_SHARD_SIZE: usize = 1000;
/// Depth value stored where a pixel saw nothing (cannot happen with the background plane in
/// view; 0 is never a real depth, the near plane is at 5 cm).
pub const DEPTH_MISS: u16 = 0;
/// Most renderer lanes a job may ask for (the renderer opens at most 16 devices).
pub const MAX_LANES: usize = 16;

/// Everything that defines a render job. Fields that change the data are recorded in the
/// manifest; `workers`, `worker`, `adapter` and `lanes` only change who renders what, where.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderJob {
    /// Factors of variation.
    pub variant: Variant,
    /// Single- or multi-object scenes.
    pub scene: SceneKind,
    /// Total samples over all splits (85 / 7.5 / 7.5).
    pub count: usize,
    /// Dataset seed.
    pub seed: u64,
    /// Square image side; `None`: 64 single, 128 multi.
    pub resolution: Option<u32>,
    /// Objects per multi-object image (ignored for single-object scenes); 0: the default (4).
    pub objects: usize,
    /// Samples per shard.
    pub shard_size: usize,
    /// Whole-shard compression (`None`: plain `.mds` files).
    pub compression: Option<Compression>,
    /// Number of workers the shards are split over.
    pub workers: usize,
    /// This worker (0-based).
    pub worker: usize,
    /// Case-insensitive substring of the wgpu adapter name.
    pub adapter: Option<String>,
    /// Models per class and asset split in the pool.
    pub models_per_class: usize,
    /// Train textures in the pool (held-out: a quarter, at least 1).
    pub textures: usize,
    /// Side of the uploaded texture tiles (power of two).
    pub texture_size: u32,
    /// Images per GPU submission; `None`: the renderer's default.
    pub batch: Option<usize>,
    /// Renderer devices fed in parallel ([`MultiRenderer`] lanes); 0: automatic (2 on a CPU
    /// adapter such as lavapipe, 1 on a GPU). The images do not depend on it.
    pub lanes: usize,
    /// The classes rendered (default: all ten; order and repeats do not matter). Labels keep
    /// the ten-class ids, the class balance is over these, the manifest records them.
    pub classes: Vec<Class>,
    /// Shadows of the point light and the hemisphere ambient (`false`: the shadowless look of
    /// earlier versions).
    pub shadows: bool,
    /// Layout of multi-object scenes.
    pub layout: MultiLayout,
    /// Multi-object scenes: smallest visible fraction at which an object counts as present
    /// (`meta.objects[k].present`, `meta.present_classes`), in `[0, 1]`.
    pub min_visible: f32,
}

/// Default of [`RenderJob::min_visible`]: an object must show at least a tenth of itself.
pub const DEFAULT_MIN_VISIBLE: f32 = 0.1;

impl RenderJob {
    /// A job with the defaults of the `render` command.
    pub fn new(variant: Variant, scene: SceneKind, count: usize) -> RenderJob {
        RenderJob {
            variant,
            scene,
            count,
            seed: 0,
            resolution: None,
            objects: 0,
            shard_size: DEFAULT_SHARD_SIZE,
            compression: Some(Compression::default()),
            workers: 1,
            worker: 0,
            adapter: None,
            models_per_class: DEFAULT_MODELS_PER_CLASS,
            textures: DEFAULT_TEXTURES,
            texture_size: DEFAULT_TEXTURE_SIZE,
            batch: None,
            lanes: 0,
            classes: Class::ALL.to_vec(),
            shadows: true,
            layout: MultiLayout::default(),
            min_visible: DEFAULT_MIN_VISIBLE,
        }
    }

    /// The rendered classes in label order, each once.
    pub fn classes(&self) -> Vec<Class> {
        let mut classes = self.classes.clone();
        classes.sort();
        classes.dedup();
        classes
    }

    /// Image side in pixels.
    pub fn resolution(&self) -> u32 {
        self.resolution
            .unwrap_or_else(|| self.scene.default_resolution())
    }

    /// Objects per image.
    pub fn objects_per_image(&self) -> usize {
        match self.scene {
            SceneKind::Single => 1,
            SceneKind::Multi if self.objects == 0 => self.scene.default_objects(),
            SceneKind::Multi => self.objects,
        }
    }

    /// Held-out textures in the pool.
    pub fn held_textures(&self) -> usize {
        (self.textures / 4).max(1)
    }

    /// The sampler parameters of this job.
    pub fn scene_params(&self) -> SceneParams {
        let mut p = SceneParams::new(self.variant, self.scene, self.seed);
        p.objects = self.objects_per_image();
        p.classes = self.classes();
        p.layout = self.layout;
        p.min_visible = self.min_visible;
        p
    }

    /// The shard plan of this job.
    pub fn plan(&self) -> Result<ShardPlan, DatasetError> {
        ShardPlan::new(self.count, self.shard_size, self.compression)
    }

    pub(crate) fn validate(&self) -> Result<(), DatasetError> {
        let bad = |flag: &str, value: String, expected: &str| {
            Err(DatasetError::Job(format!(
                "{flag} {value}: expected {expected}"
            )))
        };
        if self.count == 0 {
            return bad("--count", "0".into(), "at least 1");
        }
        if self.classes.is_empty() {
            return bad(
                "--classes",
                "(empty)".into(),
                &format!("at least one of {}", Class::names().join(", ")),
            );
        }
        let res = self.resolution();
        if !(8..=4096).contains(&res) {
            return bad("--resolution", res.to_string(), "8..=4096");
        }
        let objects = self.objects_per_image();
        if !(1..=renderer::MAX_OBJECTS_PER_SCENE).contains(&objects) {
            return bad("--objects", objects.to_string(), "1..=255");
        }
        if self.workers == 0 {
            return bad("--workers", "0".into(), "at least 1");
        }
        if self.worker >= self.workers {
            return bad(
                "--worker",
                self.worker.to_string(),
                &format!(
                    "0..{} (0-based) for --workers {}",
                    self.workers, self.workers
                ),
            );
        }
        if self.lanes > MAX_LANES {
            return bad(
                "--lanes",
                self.lanes.to_string(),
                &format!("0 (automatic) to {MAX_LANES}"),
            );
        }
        if !(0.0..=1.0).contains(&self.min_visible) {
            return bad(
                "--min-visible",
                self.min_visible.to_string(),
                "a fraction in [0, 1]",
            );
        }
        if self.models_per_class == 0 {
            return bad("--models-per-class", "0".into(), "at least 1");
        }
        if self.variant.texture && self.textures == 0 {
            return bad("--textures", "0".into(), "at least 1 for a T variant");
        }
        if !self.texture_size.is_power_of_two() || !(4..=4096).contains(&self.texture_size) {
            return bad(
                "--texture-size",
                self.texture_size.to_string(),
                "a power of two in 4..=4096",
            );
        }
        Ok(())
    }

    /// The manifest of this job (identical for every worker).
    pub fn manifest(
        &self,
        models: &dyn ModelSource,
        textures: &dyn TextureSource,
    ) -> Result<Manifest, DatasetError> {
        let plan = self.plan()?;
        let res = self.resolution();
        let columns = Sample::columns(res, res)
            .into_iter()
            .map(|c| (c.name.clone(), c.encoding.to_string()))
            .collect();
        let mut extra = BTreeMap::new();
        extra.insert(
            "models_per_class".to_string(),
            serde_json::json!(self.models_per_class),
        );
        extra.insert(
            "textures_per_split".to_string(),
            serde_json::json!({"train": self.textures, "held": self.held_textures()}),
        );
        extra.insert(
            "texture_size".to_string(),
            serde_json::json!(self.texture_size),
        );
        extra.insert(
            "depth_miss_value".to_string(),
            serde_json::json!(DEPTH_MISS),
        );
        extra.insert("shadows".to_string(), serde_json::json!(self.shadows));
        if self.scene == SceneKind::Multi {
            extra.insert(
                "layout".to_string(),
                serde_json::json!(self.layout.as_str()),
            );
            extra.insert(
                "min_visible".to_string(),
                // (as written on the command line, not the f32's binary expansion)
                serde_json::json!((f64::from(self.min_visible) * 1e6).round() / 1e6),
            );
        }
        Ok(Manifest {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            variant: self.variant.to_string(),
            scene: self.scene.to_string(),
            seed: self.seed,
            count: self.count,
            splits: plan.counts().into(),
            resolution: [res, res],
            objects_per_image: self.objects_per_image(),
            classes: self.classes(),
            shard_size: self.shard_size,
            compression: self.compression.map(|c| c.to_string()),
            assets: Assets {
                models: AssetRef {
                    kind: models.kind().to_string(),
                    fingerprint: models.fingerprint(),
                },
                textures: AssetRef {
                    kind: textures.kind().to_string(),
                    fingerprint: textures.fingerprint(),
                },
            },
            class_colors: color::class_reference_colors(self.seed)
                .iter()
                .map(|c| c.map(f64::from))
                .collect(),
            pose_threshold_rad: f64::from(pose::pose_threshold()),
            depth: "camera_z_mm".to_string(),
            columns,
            extra,
        })
    }
}

/// Progress of a running job, reported after every image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderProgress {
    /// Images rendered so far in this run.
    pub done: usize,
    /// Images this run renders in total (this worker's incomplete shards).
    pub total: usize,
    /// Shards written so far in this run.
    pub shards_written: usize,
    /// Shards this run writes.
    pub shards_total: usize,
}

/// A model or texture that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedAsset {
    /// `SYNSET/ID` of a model or the texture name.
    pub name: String,
    /// Short reason code (`parse`, `no-faces`, ...).
    pub reason: String,
    /// Full message.
    pub message: String,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RenderSummary {
    /// Images rendered in this run, per split `[train, val, test]`.
    pub rendered: [usize; 3],
    /// Shards written in this run.
    pub shards_written: usize,
    /// Shards of this worker that were already complete and left untouched.
    pub shards_already_complete: usize,
    /// Models that failed to load and were skipped.
    pub skipped_models: Vec<SkippedAsset>,
    /// Textures that failed to load and were skipped.
    pub skipped_textures: Vec<SkippedAsset>,
    /// Models uploaded.
    pub models_loaded: usize,
    /// Mean triangle count of the uploaded models.
    pub mean_triangles: f64,
    /// Textures uploaded.
    pub textures_loaded: usize,
    /// Adapter name (empty when nothing had to be rendered).
    pub adapter: String,
    /// Renderer lanes (devices) used (0 when nothing had to be rendered).
    #[serde(default)]
    pub lanes: usize,
    /// Seconds spent loading and uploading assets.
    pub asset_seconds: f64,
    /// Seconds spent rendering and writing shards.
    pub render_seconds: f64,
    /// CPU seconds (all threads of the process, driver included) of the render phase, where
    /// the OS reports them (Linux `/proc`). Less sensitive than wall time to other load.
    #[serde(default)]
    pub render_cpu_seconds: Option<f64>,
    /// Whether the splits' `index.json` files were written (the dataset is complete).
    pub merged: bool,
    /// Why an automatic merge was not done (other workers' shards missing), if so.
    pub merge_note: Option<String>,
}

impl RenderSummary {
    /// Images rendered in this run.
    pub fn total_rendered(&self) -> usize {
        self.rendered.iter().sum()
    }

    /// Images per second of the render phase.
    pub fn images_per_second(&self) -> f64 {
        if self.render_seconds > 0.0 {
            self.total_rendered() as f64 / self.render_seconds
        } else {
            0.0
        }
    }

    /// CPU milliseconds per rendered image in the render phase, where known.
    pub fn cpu_ms_per_image(&self) -> Option<f64> {
        let n = self.total_rendered();
        self.render_cpu_seconds
            .filter(|_| n > 0)
            .map(|s| 1000.0 * s / n as f64)
    }
}

/// The asset split that samples of a dataset split draw from.
pub fn asset_split(split: Split) -> AssetSplit {
    match split {
        Split::Train => AssetSplit::Train,
        Split::Val | Split::Test => AssetSplit::Held,
    }
}

/// Depth in metres (camera-space z, `INFINITY` = miss) to the stored millimetres: rounded,
/// clamped to `1..=65535`; misses (and non-finite values) become [`DEPTH_MISS`] (0).
pub fn depth_to_mm(depth: f32) -> u16 {
    if depth.is_finite() && depth > 0.0 {
        (depth * 1000.0).round().clamp(1.0, 65535.0) as u16
    } else {
        DEPTH_MISS
    }
}

/// Turns a rendered image and its labels into a dataset sample.
pub fn to_sample(
    image: RenderedImage,
    class: usize,
    pose: usize,
    meta: serde_json::Value,
) -> Sample {
    Sample {
        height: image.height,
        width: image.width,
        depth: image.depth.iter().map(|&d| depth_to_mm(d)).collect(),
        image: image.rgb,
        class: class as i64,
        pose: pose as i64,
        segmentation: image.segmentation,
        instance: image.instance,
        meta,
    }
}

/// Writes `manifest.json`, or checks that an existing one describes the same dataset.
fn ensure_manifest(out: &Path, manifest: &Manifest) -> Result<(), DatasetError> {
    let path = out.join(MANIFEST_FILE);
    if path.exists() {
        let existing = Manifest::read(out)?;
        if existing == *manifest {
            return Ok(());
        }
        return Err(DatasetError::ManifestMismatch {
            path,
            reason: manifest_difference(&existing, manifest),
        });
    }
    std::fs::create_dir_all(out).map_err(|e| DatasetError::Io {
        path: out.to_path_buf(),
        source: e,
    })?;
    match manifest.write(out) {
        Ok(()) => Ok(()),
        // Another worker may have written it at the same moment: fine if identical.
        Err(e) => match Manifest::read(out) {
            Ok(m) if m == *manifest => Ok(()),
            _ => Err(e),
        },
    }
}

fn manifest_difference(existing: &Manifest, wanted: &Manifest) -> String {
    let a = serde_json::to_value(existing).unwrap_or_default();
    let b = serde_json::to_value(wanted).unwrap_or_default();
    let mut diffs = Vec::new();
    if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
        for (k, vb) in b {
            match a.get(k) {
                Some(va) if va == vb => {}
                Some(va) => {
                    let (ta, tb) = (va.to_string(), vb.to_string());
                    if ta.len() + tb.len() > 80 {
                        diffs.push(format!("{k} differs"));
                    } else {
                        diffs.push(format!("{k}: directory has {ta}, this job wants {tb}"));
                    }
                }
                None => diffs.push(format!("{k}: missing, this job wants {vb}")),
            }
        }
        for k in a.keys().filter(|k| !b.contains_key(*k)) {
            diffs.push(format!(
                "{k}: in the directory, not written by this version"
            ));
        }
    }
    format!(
        "the directory holds a different dataset ({}); use another --out or the same flags",
        diffs.join("; ")
    )
}

/// Bounding-sphere radius of a mesh about its origin.
fn mesh_radius(mesh: &Mesh) -> f32 {
    mesh.positions
        .iter()
        .map(|p| (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt())
        .fold(0.0f32, f32::max)
}

/// Largest absolute coordinate of a mesh per axis (its bounding box's half sides about the
/// origin).
fn mesh_half_extents(mesh: &Mesh) -> [f32; 3] {
    mesh.positions.iter().fold([0.0f32; 3], |acc, p| {
        [
            acc[0].max(p[0].abs()),
            acc[1].max(p[1].abs()),
            acc[2].max(p[2].abs()),
        ]
    })
}

/// Runs `f` on every item with up to `threads` threads, results in input order.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1).min(items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items.len() {
                        break;
                    }
                    let r = f(&items[i]);
                    if let Ok(mut res) = results.lock() {
                        res[i] = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// The seed-determined order in which a class's models of one split are tried for the pool.
pub fn model_candidates(
    models: &dyn ModelSource,
    class: Class,
    split: AssetSplit,
    seed: u64,
) -> Vec<ModelKey> {
    let want = match split {
        AssetSplit::Train => shapenet_loader::Split::Train,
        AssetSplit::Held => shapenet_loader::Split::Held,
    };
    let mut keys: Vec<ModelKey> = models
        .models(class)
        .into_iter()
        .filter(|k| k.split() == want)
        .collect();
    let tag = format!("models/{}/{:?}", class.synset(), split);
    let mut rng = keyed_rng(tag.as_bytes(), seed);
    keys.shuffle(&mut rng);
    keys
}

/// The seed-determined order in which a split's textures are tried for the pool.
pub fn texture_candidates(
    textures: &dyn TextureSource,
    split: AssetSplit,
    seed: u64,
) -> Vec<usize> {
    let want = match split {
        AssetSplit::Train => dtd_textures::Split::Train,
        AssetSplit::Held => dtd_textures::Split::Held,
    };
    let mut idx: Vec<usize> = (0..textures.len())
        .filter(|&i| textures.split(i) == want)
        .collect();
    let tag = format!("textures/{split:?}");
    let mut rng = keyed_rng(tag.as_bytes(), seed);
    idx.shuffle(&mut rng);
    idx
}

/// Loaded items and failures, each with its position in the candidate list.
type Loaded<V, E> = (Vec<(usize, V)>, Vec<(usize, E)>);

/// Loads the first `want` loadable items of `candidates` (in candidate order, loading in
/// parallel chunks), collecting failures.
fn load_first<K: Sync, V: Send, E: Send>(
    candidates: &[K],
    want: usize,
    load: impl Fn(&K) -> Result<V, E> + Sync,
) -> Loaded<V, E> {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    let mut pos = 0;
    while ok.len() < want && pos < candidates.len() {
        let chunk = (want - ok.len()).min(candidates.len() - pos);
        let results = parallel_map(&candidates[pos..pos + chunk], threads(), &load);
        for (k, r) in results.into_iter().enumerate() {
            match r {
                Ok(v) => ok.push((pos + k, v)),
                Err(e) => failed.push((pos + k, e)),
            }
        }
        pos += chunk;
    }
    (ok, failed)
}

/// Loads and uploads the asset pool for the given asset splits.
fn build_pool(
    job: &RenderJob,
    splits: &[AssetSplit],
    models: &dyn ModelSource,
    textures: &dyn TextureSource,
    renderer: &mut MultiRenderer,
    summary: &mut RenderSummary,
) -> Result<AssetPool, DatasetError> {
    let mut pool = AssetPool::new();
    for &split in splits {
        for class in job.classes() {
            let candidates = model_candidates(models, class, split, job.seed);
            let (loaded, failed) =
                load_first(&candidates, job.models_per_class, |k| models.load(k));
            for (i, e) in failed {
                tracing::warn!("skipping model {}: {e}", candidates[i].path_id());
                summary.skipped_models.push(SkippedAsset {
                    name: candidates[i].path_id(),
                    reason: e.reason().to_string(),
                    message: e.to_string(),
                });
            }
            for (i, mesh) in loaded {
                let key = candidates[i].clone();
                let radius = mesh_radius(&mesh);
                let half_extents = mesh_half_extents(&mesh);
                let id = match renderer.upload_mesh(&mesh) {
                    Ok(id) => id,
                    Err(renderer::RenderError::InvalidMesh { reason }) => {
                        tracing::warn!("skipping model {}: {reason}", key.path_id());
                        summary.skipped_models.push(SkippedAsset {
                            name: key.path_id(),
                            reason: "invalid-mesh".into(),
                            message: reason,
                        });
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                summary.mean_triangles += (mesh.triangle_count() as f64 - summary.mean_triangles)
                    / (summary.models_loaded + 1) as f64;
                summary.models_loaded += 1;
                pool.push_model(
                    split,
                    PoolModel {
                        key,
                        mesh: id,
                        radius,
                        half_extents,
                    },
                );
            }
        }
        if job.variant.texture {
            let want = match split {
                AssetSplit::Train => job.textures,
                AssetSplit::Held => job.held_textures(),
            };
            let candidates = texture_candidates(textures, split, job.seed);
            let (loaded, failed) =
                load_first(&candidates, want, |&i| textures.load(i, job.texture_size));
            for (i, e) in failed {
                let name = textures.name(candidates[i]);
                tracing::warn!("skipping texture {name}: {e}");
                summary.skipped_textures.push(SkippedAsset {
                    name,
                    reason: e.reason().to_string(),
                    message: e.to_string(),
                });
            }
            for (i, tex) in loaded {
                let name = textures.name(candidates[i]);
                let id = match renderer.upload_texture(&tex) {
                    Ok(id) => id,
                    Err(renderer::RenderError::InvalidTexture { reason }) => {
                        summary.skipped_textures.push(SkippedAsset {
                            name,
                            reason: "invalid-texture".into(),
                            message: reason,
                        });
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                summary.textures_loaded += 1;
                pool.push_texture(split, PoolTexture { name, id });
            }
        }
    }
    Ok(pool)
}

/// Receives each finished shard's samples, in order.
type ShardSink<'a> = dyn FnMut(&ShardSpec, Vec<Sample>) -> Result<(), DatasetError> + 'a;

/// Labels of a scene waiting for its image: class, pose bin, metadata.
type Pending = (usize, usize, SampleMeta);

/// Renders this worker's share of a dataset into `out` (see the module docs). Complete shards
/// are kept; `manifest.json` must match the job if present. With one worker the splits'
/// `index.json` files are written at the end; with several, whichever worker finds every shard
/// complete writes them (or run [`merge`]).
pub fn render_dataset(
    job: &RenderJob,
    models: &dyn ModelSource,
    textures: &dyn TextureSource,
    out: &Path,
    progress: &dyn Fn(RenderProgress),
) -> Result<RenderSummary, DatasetError> {
    job.validate()?;
    let plan = job.plan()?;
    let manifest = job.manifest(models, textures)?;
    ensure_manifest(out, &manifest)?;
    plan.create_dirs(out)?;

    let mine = plan.for_worker(job.workers, job.worker)?;
    let (todo, done): (Vec<ShardSpec>, Vec<ShardSpec>) =
        mine.into_iter().partition(|s| !plan.is_complete(out, s));
    let mut summary = RenderSummary {
        shards_already_complete: done.len(),
        ..RenderSummary::default()
    };
    tracing::info!(
        "{} shard(s) to render, {} already complete",
        todo.len(),
        done.len()
    );

    if !todo.is_empty() {
        // The dataset is incomplete until the merge: drop index files of an earlier run so no
        // reader takes a directory with missing or damaged shards for a complete one.
        for split in Split::ALL {
            let index = out.join(split.name()).join(crate::mds::INDEX_FILE);
            match std::fs::remove_file(&index) {
                Ok(()) => tracing::info!("removed {} until the merge", index.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(DatasetError::Io {
                        path: index,
                        source: e,
                    });
                }
            }
        }
        let t_assets = Instant::now();
        let (mut renderer, pool) = prepare(job, &plan, models, textures, &mut summary)?;
        summary.asset_seconds = t_assets.elapsed().as_secs_f64();
        tracing::info!(
            "uploaded {} models and {} textures in {:.1} s on {}",
            summary.models_loaded,
            summary.textures_loaded,
            summary.asset_seconds,
            summary.adapter
        );
        let t_render = Instant::now();
        let cpu_start = process_cpu_seconds();
        write_shards(
            job,
            &plan,
            &todo,
            &mut renderer,
            &pool,
            out,
            progress,
            &mut summary,
        )?;
        summary.render_seconds = t_render.elapsed().as_secs_f64();
        summary.render_cpu_seconds = cpu_start
            .zip(process_cpu_seconds())
            .map(|(a, b)| (b - a).max(0.0));
    }

    let all_complete = job.workers == 1 || plan.shards().iter().all(|s| plan.is_complete(out, s));
    if all_complete {
        match plan.merge(out) {
            Ok(()) => summary.merged = true,
            Err(e) if job.workers > 1 => summary.merge_note = Some(e.to_string()),
            Err(e) => return Err(e),
        }
    } else {
        summary.merge_note = Some(format!(
            "other workers' shards are still missing; run `render merge {}` when all {} workers are done",
            out.display(),
            job.workers
        ));
    }
    Ok(summary)
}

/// Images per GPU submission for a job: the requested batch, or a divisor of the shard size
/// close to it (shards then start at batch boundaries; the renderer's images do not depend on
/// their position in a batch, so this only keeps batches aligned with shards).
fn batch_for(job: &RenderJob) -> usize {
    let want = job.batch.unwrap_or(RendererConfig::default().batch).max(1);
    let s = job.shard_size.max(1);
    if s <= want {
        return s;
    }
    (want.div_ceil(2)..=want)
        .rev()
        .find(|&d| s.is_multiple_of(d))
        .unwrap_or(want)
}

/// Creates the renderer (`job.lanes` devices) and uploads the asset pool (both asset splits,
/// always in the same order, so every worker holds identical handles), checking the splits the
/// plan uses.
pub(crate) fn prepare(
    job: &RenderJob,
    plan: &ShardPlan,
    models: &dyn ModelSource,
    textures: &dyn TextureSource,
    summary: &mut RenderSummary,
) -> Result<(MultiRenderer, AssetPool), DatasetError> {
    let res = job.resolution();
    let mut config = RendererConfig::with_size(res, res);
    config.adapter = job.adapter.clone();
    config.texture_size = job.texture_size;
    config.batch = batch_for(job);
    config.shadows = job.shadows;
    // Multi-object scenes record each object's visible fraction: the renderer counts the
    // pixels each object would cover unhidden.
    config.coverage = job.scene == SceneKind::Multi;
    let mut renderer = MultiRenderer::new(config, job.lanes)?;
    summary.adapter = renderer.adapter().name.clone();
    summary.lanes = renderer.lanes();
    let pool = build_pool(
        job,
        &[AssetSplit::Train, AssetSplit::Held],
        models,
        textures,
        &mut renderer,
        summary,
    )?;
    let counts = plan.counts();
    let needed: Vec<AssetSplit> = [
        (counts[0] > 0, AssetSplit::Train),
        (counts[1] + counts[2] > 0, AssetSplit::Held),
    ]
    .into_iter()
    .filter_map(|(used, split)| used.then_some(split))
    .collect();
    check_class_models(job, &needed, models, &pool)?;
    for split in needed {
        pool.check(split, job.variant.texture, &job.classes())?;
    }
    Ok((renderer, pool))
}

/// Checks that every rendered class has a usable model on each side of the model split the
/// plan uses, else says how many models the class has, how they fall on the 80/20 split, and
/// what each split needs.
fn check_class_models(
    job: &RenderJob,
    needed: &[AssetSplit],
    models: &dyn ModelSource,
    pool: &AssetPool,
) -> Result<(), DatasetError> {
    for class in job.classes() {
        let short: Vec<AssetSplit> = needed
            .iter()
            .copied()
            .filter(|&split| pool.models(class, split).is_empty())
            .collect();
        if short.is_empty() {
            continue;
        }
        let keys = models.models(class);
        let train = keys
            .iter()
            .filter(|k| k.split() == shapenet_loader::Split::Train)
            .count();
        let usable = |split| pool.models(class, split).len();
        return Err(DatasetError::TooFewModels {
            class,
            found: keys.len(),
            train,
            held: keys.len() - train,
            usable_train: usable(AssetSplit::Train),
            usable_held: usable(AssetSplit::Held),
            short: short[0],
        });
    }
    Ok(())
}

/// Samples, renders and labels the given shards, handing each finished shard's samples (in
/// order) to `on_shard`, and reporting `(images done, images total)` after every image.
///
/// The shards' scenes form one stream, so a batch may span two shards: the renderer's images
/// do not depend on their position in a batch, on their neighbours or on the lane (device)
/// that draws them, so the images do not depend on how the work is split.
pub(crate) fn stream_shards(
    renderer: &mut MultiRenderer,
    pool: &AssetPool,
    params: &SceneParams,
    specs: &[ShardSpec],
    on_shard: &mut ShardSink<'_>,
    on_image: &mut dyn FnMut(usize, usize),
) -> Result<(), DatasetError> {
    let total: usize = specs.iter().map(|s| s.len()).sum();
    // Scenes are sampled shard by shard (in parallel) as the renderer asks for them; their
    // labels wait in `pending` for the images, which come back in input order.
    let pending: RefCell<VecDeque<Pending>> = RefCell::new(VecDeque::new());
    let sample_error: RefCell<Option<DatasetError>> = RefCell::new(None);
    let scenes = specs.iter().flat_map(|spec| {
        if sample_error.borrow().is_some() {
            return Vec::new();
        }
        let range = spec.dataset_samples();
        let indices: Vec<u64> = (range.start as u64..range.end as u64).collect();
        let split = spec.split;
        let sampled = parallel_map(&indices, threads(), |&i| {
            sample_scene(params, pool, asset_split(split), split.name(), i)
        });
        let mut scenes = Vec::with_capacity(sampled.len());
        for s in sampled {
            match s {
                Ok(s) => {
                    pending.borrow_mut().push_back((s.class, s.pose, s.meta));
                    scenes.push(s.scene);
                }
                Err(e) => {
                    sample_error.borrow_mut().get_or_insert(e.into());
                    return Vec::new();
                }
            }
        }
        scenes
    });

    let mut shard_iter = specs.iter();
    let mut current = shard_iter.next();
    let mut samples: Vec<Sample> = Vec::new();
    let mut done = 0usize;
    let mut sink_error: Option<DatasetError> = None;
    let result = renderer.render_stream(scenes, |_, image| {
        let next = pending.borrow_mut().pop_front();
        let Some((class, pose, mut meta)) = next else {
            return Err(());
        };
        let Some(spec) = current else {
            return Err(());
        };
        if meta.scene == SceneKind::Multi {
            meta.set_visibility(&image.instance, &image.unoccluded, params.min_visible);
        }
        let meta = serde_json::to_value(&meta).unwrap_or_default();
        samples.push(to_sample(image, class, pose, meta));
        done += 1;
        if samples.len() == spec.len() {
            if let Err(e) = on_shard(spec, std::mem::take(&mut samples)) {
                sink_error = Some(e);
                return Err(());
            }
            current = shard_iter.next();
        }
        on_image(done, total);
        Ok(())
    });
    if let Some(e) = sample_error.into_inner() {
        return Err(e);
    }
    if let Some(e) = sink_error {
        return Err(e);
    }
    match result {
        Ok(()) if done == total => Ok(()),
        Ok(()) => Err(DatasetError::Job(format!(
            "internal error: rendered {done} of {total} images"
        ))),
        Err(StreamError::Render(e)) => Err(e.into()),
        Err(StreamError::Sink { index, .. }) => Err(DatasetError::Job(format!(
            "internal error: image {index} came back without labels"
        ))),
    }
}

/// Renders `todo` and writes each shard (encode + zstd + atomic write on compressor threads).
#[allow(clippy::too_many_arguments)]
fn write_shards(
    job: &RenderJob,
    plan: &ShardPlan,
    todo: &[ShardSpec],
    renderer: &mut MultiRenderer,
    pool: &AssetPool,
    out: &Path,
    progress: &dyn Fn(RenderProgress),
    summary: &mut RenderSummary,
) -> Result<(), DatasetError> {
    let res = job.resolution();
    let params = job.scene_params();
    let columns = Sample::columns(res, res);
    let columns = &columns;
    // Finished shards travel from the render thread to compressor threads; the bounded channel
    // keeps at most a few of them in memory.
    let (tx, rx) = crossbeam_channel::bounded::<(ShardSpec, Vec<Sample>)>(2);
    let written = AtomicUsize::new(0);
    let failure: Mutex<Option<DatasetError>> = Mutex::new(None);
    let fail = |e: DatasetError| {
        if let Ok(mut f) = failure.lock()
            && f.is_none()
        {
            *f = Some(e);
        }
    };
    let failed = || failure.lock().map(|f| f.is_some()).unwrap_or(true);
    let compressors = threads().clamp(1, 4);
    let shards_total = todo.len();

    std::thread::scope(|scope| {
        for _ in 0..compressors {
            let rx = rx.clone();
            let (written, fail, failed) = (&written, &fail, &failed);
            scope.spawn(move || {
                for (spec, samples) in rx.iter() {
                    if failed() {
                        continue;
                    }
                    let rows: Vec<Vec<Value>> = samples.iter().map(Sample::to_row).collect();
                    drop(samples);
                    let result = plan
                        .encode_shard(&spec, columns, &rows)
                        .and_then(|enc| plan.commit_shard(out, &spec, &enc));
                    match result {
                        Ok(_) => {
                            written.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => fail(e),
                    }
                }
            });
        }
        drop(rx);

        let mut on_shard = |spec: &ShardSpec, samples: Vec<Sample>| {
            if failed() {
                return Err(DatasetError::Job("a shard writer failed".into()));
            }
            summary.rendered[spec.split.index()] += samples.len();
            tx.send((spec.clone(), samples))
                .map_err(|_| DatasetError::Job("the shard writers stopped".into()))
        };
        let mut on_image = |done: usize, total: usize| {
            progress(RenderProgress {
                done,
                total,
                shards_written: written.load(Ordering::Relaxed),
                shards_total,
            })
        };
        let result = stream_shards(renderer, pool, &params, todo, &mut on_shard, &mut on_image);
        drop(tx);
        if let Err(e) = result {
            fail(e);
        }
    });
    // A writer's own error is the root cause; report it before the render side's.
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    summary.shards_written = written.load(Ordering::Relaxed);
    let total: usize = todo.iter().map(|s| s.len()).sum();
    progress(RenderProgress {
        done: total,
        total,
        shards_written: summary.shards_written,
        shards_total,
    });
    Ok(())
}

/// Renders samples `range` (indices within `split`) of a job straight into memory, without
/// writing anything: the same pool, scenes, labels and pixels as [`render_dataset`] stores for
/// them (whole shards are rendered; the requested samples are returned).
pub fn render_samples(
    job: &RenderJob,
    models: &dyn ModelSource,
    textures: &dyn TextureSource,
    split: Split,
    range: std::ops::Range<usize>,
) -> Result<Vec<Sample>, DatasetError> {
    job.validate()?;
    let plan = job.plan()?;
    let n = plan.counts()[split.index()];
    if range.end > n {
        return Err(DatasetError::OutOfRange {
            index: range.end.saturating_sub(1),
            len: n,
        });
    }
    let specs: Vec<ShardSpec> = plan
        .split_shards(split)
        .into_iter()
        .filter(|s| s.samples.start < range.end && range.start < s.samples.end)
        .collect();
    let mut summary = RenderSummary::default();
    let (mut renderer, pool) = prepare(job, &plan, models, textures, &mut summary)?;
    let params = job.scene_params();
    let mut out = Vec::with_capacity(range.len());
    let mut on_shard = |spec: &ShardSpec, samples: Vec<Sample>| {
        for (j, s) in samples.into_iter().enumerate() {
            if range.contains(&(spec.samples.start + j)) {
                out.push(s);
            }
        }
        Ok(())
    };
    stream_shards(
        &mut renderer,
        &pool,
        &params,
        &specs,
        &mut on_shard,
        &mut |_, _| {},
    )?;
    Ok(out)
}

/// Writes the splits' `index.json` files of a dataset rendered by several workers, after
/// checking every shard of the plan in `manifest.json` is complete.
pub fn merge(out: &Path) -> Result<(), DatasetError> {
    let manifest = Manifest::read(out)?;
    let compression = match &manifest.compression {
        Some(c) => Some(
            c.parse::<Compression>()
                .map_err(|e| DatasetError::Manifest {
                    path: out.join(MANIFEST_FILE),
                    reason: format!("compression {c:?}: {e}"),
                })?,
        ),
        None => None,
    };
    let plan =
        ShardPlan::from_counts(manifest.splits.as_array(), manifest.shard_size, compression)?;
    plan.merge(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_conversion() {
        assert_eq!(depth_to_mm(1.2345), 1235);
        assert_eq!(depth_to_mm(f32::INFINITY), DEPTH_MISS);
        assert_eq!(depth_to_mm(f32::NAN), DEPTH_MISS);
        assert_eq!(depth_to_mm(100.0), 65535);
        assert_eq!(depth_to_mm(0.0001), 1);
    }

    #[test]
    fn job_validation_names_the_flag() {
        let mut job = RenderJob::new(Variant::PLAIN, SceneKind::Single, 0);
        assert!(job.validate().unwrap_err().to_string().contains("--count"));
        job.count = 10;
        job.workers = 2;
        job.worker = 2;
        assert!(job.validate().unwrap_err().to_string().contains("--worker"));
        job.worker = 1;
        job.resolution = Some(3);
        assert!(
            job.validate()
                .unwrap_err()
                .to_string()
                .contains("--resolution")
        );
        job.resolution = None;
        assert!(job.validate().is_ok());
        assert_eq!(job.resolution(), 64);
        let multi = RenderJob::new(Variant::PLAIN, SceneKind::Multi, 10);
        assert_eq!((multi.resolution(), multi.objects_per_image()), (128, 4));
    }

    #[test]
    fn parallel_map_keeps_order() {
        let v: Vec<u32> = (0..100).collect();
        assert_eq!(
            parallel_map(&v, 3, |x| x * 2),
            v.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
    }
}
