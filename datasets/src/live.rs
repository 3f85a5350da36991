//! Rendering while training: the `render:VARIANT[,key=value...]` dataset spec and a renderer
//! that hands back any samples of a job's sequence in memory, without writing shards.
//!
//! Input: a spec string such as `render:TCVL,scene=multi,res=64,seed=3` ([`RenderSpec::parse`]).
//! Output: a [`RenderJob`] plus the stream settings, and a [`LiveRenderer`] whose samples are
//! byte-identical to what `render` writes for the same job (same asset pool, scene sampler,
//! renderer settings; sample *i* is a pure function of the job and *i*).
//!
//! Which dataset indices a stream uses ([`RenderSpec::train_index`], [`RenderSpec::val_index`],
//! [`RenderSpec::test_index`]): the spec describes the dataset `render --count COUNT` would write
//! (`count=`, default [`DEFAULT_LIVE_COUNT`]). Training position `p` is train sample `p` of that
//! dataset while `p` is inside its train split; past it the stream continues with dataset
//! indices `COUNT, COUNT + 1, ...` (train-side models), skipping the validation and test indices,
//! so a streamed image never shares its sample seed with a held-out one. Every streamed image
//! is therefore a train sample of a `render` of the same spec with a large enough `--count`.
//! Validation and test are the first `val=` / `test=` samples of that dataset's `val/` and
//! `test/` splits (held-out models).

use std::fmt;
use std::path::PathBuf;

use dtd_textures::TextureSource;
use renderer::{AdapterSummary, MultiRenderer};
use shapenet_loader::{Class, ModelSource};

use crate::error::DatasetError;
use crate::generate::{RenderJob, RenderSummary, prepare, stream_shards};
use crate::layout::{ShardSpec, Split, split_counts};
use crate::manifest::Manifest;
use crate::sample::Sample;
use crate::scene_sampler::{MultiLayout, SceneKind, SceneParams};
use crate::variant::Variant;

/// What a dataset argument starts with when it is a render spec instead of a directory.
pub const SPEC_PREFIX: &str = "render:";
/// `count=` default: the paper's 240,000 images per variant.
pub const DEFAULT_LIVE_COUNT: usize = 240_000;
/// `val=` / `test=` default (at most the split's size).
pub const DEFAULT_EVAL_SAMPLES: usize = 1000;
/// `lanes=` default: one renderer device, so rendering takes about one core of the CPU that
/// also trains (lavapipe) or a sliver of the GPU.
pub const DEFAULT_LIVE_LANES: usize = 1;
/// Default size of the embedded procedural libraries (as `render`).
pub const DEFAULT_PROCEDURAL: usize = 1000;

/// The fields a spec accepts, in the order the docs list them.
pub const SPEC_FIELDS: [&str; 23] = [
    "scene",
    "res",
    "objects",
    "seed",
    "count",
    "val",
    "test",
    "unique",
    "shard",
    "classes",
    "shadows",
    "layout",
    "min-visible",
    "models-per-class",
    "textures",
    "texture-size",
    "procedural-models",
    "procedural-textures",
    "shapenet",
    "mesh-cache",
    "dtd",
    "adapter",
    "lanes",
];

/// A model library and a texture library.
pub type Assets = (Box<dyn ModelSource>, Box<dyn TextureSource>);

/// A render spec that does not parse: names the field, the value and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("render spec {spec:?}: field `{field}`: {problem}")]
pub struct SpecError {
    /// The whole spec as given.
    pub spec: String,
    /// The field at fault (`variant` for the first item).
    pub field: String,
    /// What is wrong and what is expected.
    pub problem: String,
}

/// A parsed `render:VARIANT[,key=value...]` spec: the render job it describes and the stream
/// settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderSpec {
    /// The job (`count` = the dataset the spec describes; `lanes`, `adapter`, `batch` only
    /// decide where it renders).
    pub job: RenderJob,
    /// Validation samples (the first of the dataset's `val/` split).
    pub val: usize,
    /// Test samples (the first of the dataset's `test/` split).
    pub test: usize,
    /// Distinct training scenes (`None`: endless).
    pub unique: Option<usize>,
    /// ShapeNetCore directory (`None`: embedded procedural models).
    pub shapenet: Option<PathBuf>,
    /// Mesh cache of parsed ShapeNet models.
    pub mesh_cache: Option<PathBuf>,
    /// DTD directory (`None`: embedded procedural textures).
    pub dtd: Option<PathBuf>,
    /// Size of the embedded procedural model library (per class).
    pub procedural_models: usize,
    /// Size of the embedded procedural texture library.
    pub procedural_textures: usize,
    /// The text it was parsed from (trimmed).
    pub text: String,
}

/// Whether a dataset argument is a render spec (`render:...`) rather than a directory.
pub fn is_spec(dataset: &str) -> bool {
    dataset.starts_with(SPEC_PREFIX)
}

impl RenderSpec {
    /// Parses `render:VARIANT[,key=value...]` (see [`SPEC_FIELDS`]; keys may use `_` for `-`,
    /// `resolution` for `res`).
    ///
    /// # Errors
    /// A [`SpecError`] naming the first bad field.
    pub fn parse(text: &str) -> Result<RenderSpec, SpecError> {
        let text = text.trim();
        let err = |field: &str, problem: String| SpecError {
            spec: text.to_string(),
            field: field.to_string(),
            problem,
        };
        let body = text.strip_prefix(SPEC_PREFIX).ok_or_else(|| {
            err(
                "render",
                format!("expected `{SPEC_PREFIX}VARIANT[,key=value...]`"),
            )
        })?;
        let mut items = body.split(',');
        let variant_text = items.next().unwrap_or("").trim();
        let variant: Variant = variant_text.parse().map_err(|e: crate::ParseVariantError| {
            err(
                "variant",
                if variant_text.is_empty() {
                    "missing: the spec starts with the variant (`render:----`, `render:TCVL,...`)"
                        .to_string()
                } else {
                    e.to_string()
                },
            )
        })?;
        let mut fields: Vec<(String, String)> = Vec::new();
        for item in items {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let Some((key, value)) = item.split_once('=') else {
                return Err(err(
                    item,
                    format!(
                        "expected key=value (known keys: {})",
                        SPEC_FIELDS.join(", ")
                    ),
                ));
            };
            let key = match key.trim().to_ascii_lowercase().replace('_', "-").as_str() {
                "resolution" => "res".to_string(),
                k => k.to_string(),
            };
            if !SPEC_FIELDS.contains(&key.as_str()) {
                return Err(err(
                    &key,
                    format!("unknown field (known: {})", SPEC_FIELDS.join(", ")),
                ));
            }
            if fields.iter().any(|(k, _)| *k == key) {
                return Err(err(&key, "given twice".to_string()));
            }
            fields.push((key, value.trim().to_string()));
        }
        let get = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let number =
            |key: &str, min: usize, max: usize, what: &str| -> Result<Option<usize>, SpecError> {
                let Some(v) = get(key) else { return Ok(None) };
                match v.replace('_', "").parse::<usize>() {
                    Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                    _ => Err(err(key, format!("`{v}`: expected {what}"))),
                }
            };

        let scene = match get("scene") {
            None => SceneKind::Single,
            Some(v) => v
                .parse()
                .map_err(|_| err("scene", format!("`{v}`: expected `single` or `multi`")))?,
        };
        let count = number("count", 1, usize::MAX, "a positive number of samples")?
            .unwrap_or(DEFAULT_LIVE_COUNT);
        let mut job = RenderJob::new(variant, scene, count);
        job.lanes = DEFAULT_LIVE_LANES;
        if let Some(v) = get("seed") {
            job.seed = v
                .parse()
                .map_err(|_| err("seed", format!("`{v}`: expected a non-negative integer")))?;
        }
        job.resolution = number("res", 8, 4096, "an image side in 8..=4096")?
            .map(|r| r as u32)
            .or(job.resolution);
        if let Some(n) = number(
            "objects",
            1,
            renderer::MAX_OBJECTS_PER_SCENE,
            "objects per multi-object image in 1..=255",
        )? {
            if scene == SceneKind::Single && n != 1 {
                return Err(err(
                    "objects",
                    format!("`{n}`: single-object scenes have one object (give scene=multi)"),
                ));
            }
            job.objects = n;
        }
        job.shard_size = number(
            "shard",
            1,
            usize::MAX,
            "a positive number of samples per shard",
        )?
        .unwrap_or(job.shard_size);
        if let Some(v) = get("classes") {
            // `,` separates spec fields: classes are joined with `+` (`classes=car+chair`).
            let mut classes = Vec::new();
            for name in v.split(['+', ' ']).filter(|s| !s.is_empty()) {
                classes.push(name.parse::<Class>().map_err(|_| {
                    err(
                        "classes",
                        format!(
                            "`{name}`: expected class names or synset ids joined with `+` ({})",
                            Class::names().join(", ")
                        ),
                    )
                })?);
            }
            if classes.is_empty() {
                return Err(err("classes", "empty: name at least one class".to_string()));
            }
            job.classes = classes;
        }
        if let Some(v) = get("shadows") {
            job.shadows = match v.to_ascii_lowercase().as_str() {
                "on" | "true" | "yes" | "1" => true,
                "off" | "false" | "no" | "0" => false,
                _ => return Err(err("shadows", format!("`{v}`: expected on or off"))),
            };
        }
        if let Some(v) = get("layout") {
            job.layout = v
                .parse::<MultiLayout>()
                .map_err(|e| err("layout", e.to_string()))?;
        }
        if let Some(v) = get("min-visible") {
            job.min_visible = match v.parse::<f32>() {
                Ok(x) if (0.0..=1.0).contains(&x) => x,
                _ => {
                    return Err(err(
                        "min-visible",
                        format!("`{v}`: expected a fraction in [0, 1]"),
                    ));
                }
            };
        }
        job.models_per_class = number("models-per-class", 1, usize::MAX, "at least 1")?
            .unwrap_or(job.models_per_class);
        job.textures = number("textures", 1, usize::MAX, "at least 1")?.unwrap_or(job.textures);
        if let Some(v) = get("texture-size") {
            job.texture_size = match v.parse::<u32>() {
                Ok(s) if s.is_power_of_two() && (4..=4096).contains(&s) => s,
                _ => {
                    return Err(err(
                        "texture-size",
                        format!("`{v}`: expected a power of two in 4..=4096"),
                    ));
                }
            };
        }
        job.lanes = number(
            "lanes",
            1,
            crate::generate::MAX_LANES,
            "renderer devices in 1..=16",
        )?
        .unwrap_or(job.lanes);
        job.adapter = get("adapter").filter(|s| !s.is_empty()).map(String::from);

        let [_, held, _] = split_counts(count);
        let eval = |key: &str| -> Result<usize, SpecError> {
            match get(key) {
                Some("all") => Ok(held),
                Some(v) => match v.replace('_', "").parse::<usize>() {
                    Ok(n) if n >= 1 && n <= held => Ok(n),
                    _ => Err(err(
                        key,
                        format!(
                            "`{v}`: expected 1..={held} (the {key} split of count={count}) or `all`"
                        ),
                    )),
                },
                None if held == 0 => Err(err(
                    "count",
                    format!("`{count}` leaves no {key} samples: give count=14 or more"),
                )),
                None => Ok(DEFAULT_EVAL_SAMPLES.min(held)),
            }
        };
        let val = eval("val")?;
        let test = eval("test")?;
        let unique = number(
            "unique",
            1,
            usize::MAX,
            "a positive number of distinct scenes",
        )?;
        let path = |key: &str| get(key).filter(|s| !s.is_empty()).map(PathBuf::from);
        let spec = RenderSpec {
            job,
            val,
            test,
            unique,
            shapenet: path("shapenet"),
            mesh_cache: path("mesh-cache"),
            dtd: path("dtd"),
            procedural_models: number("procedural-models", 1, usize::MAX, "at least 1")?
                .unwrap_or(DEFAULT_PROCEDURAL),
            procedural_textures: number("procedural-textures", 1, usize::MAX, "at least 1")?
                .unwrap_or(DEFAULT_PROCEDURAL),
            text: text.to_string(),
        };
        if spec.mesh_cache.is_some() && spec.shapenet.is_none() {
            return Err(err("mesh-cache", "only used with shapenet=DIR".to_string()));
        }
        Ok(spec)
    }

    /// The spec with `unique` set (the `--unique-images` flag), as text.
    ///
    /// # Errors
    /// When the spec already names another `unique`.
    pub fn with_unique(text: &str, unique: usize) -> Result<String, SpecError> {
        let spec = RenderSpec::parse(text)?;
        match spec.unique {
            Some(u) if u != unique => Err(SpecError {
                spec: spec.text,
                field: "unique".into(),
                problem: format!("`{u}` differs from --unique-images {unique}"),
            }),
            Some(_) => Ok(spec.text),
            None => Ok(format!("{},unique={unique}", spec.text)),
        }
    }

    /// Samples in the train split of the dataset the spec describes.
    pub fn train_count(&self) -> usize {
        split_counts(self.job.count)[0]
    }

    /// Image side in pixels.
    pub fn resolution(&self) -> u32 {
        self.job.resolution()
    }

    /// Dataset index of training stream position `p` (see the module docs).
    pub fn train_index(&self, p: u64) -> u64 {
        let n = self.train_count() as u64;
        if p < n {
            p
        } else {
            p - n + self.job.count as u64
        }
    }

    /// Dataset index of validation sample `j`.
    pub fn val_index(&self, j: u64) -> u64 {
        self.train_count() as u64 + j
    }

    /// Dataset index of test sample `j`.
    pub fn test_index(&self, j: u64) -> u64 {
        let [n, held, _] = split_counts(self.job.count);
        (n + held) as u64 + j
    }

    /// The model and texture libraries the spec names (embedded procedural ones by default).
    ///
    /// # Errors
    /// When `shapenet=` or `dtd=` cannot be opened (the message names the field and path).
    pub fn open_assets(&self) -> Result<Assets, DatasetError> {
        let models: Box<dyn ModelSource> = match &self.shapenet {
            Some(dir) => {
                let opts = shapenet_loader::LoadOptions {
                    cache_dir: self.mesh_cache.clone(),
                    ..Default::default()
                };
                let s = shapenet_loader::ShapeNet::open_classes(dir, opts, &self.job.classes())
                    .map_err(|e| {
                        DatasetError::Job(format!("render spec: shapenet={}: {e}", dir.display()))
                    })?;
                Box::new(s)
            }
            None => Box::new(shapenet_loader::ProceduralModels::new(
                self.procedural_models,
            )),
        };
        let textures: Box<dyn TextureSource> = match &self.dtd {
            Some(dir) => Box::new(dtd_textures::Dtd::open(dir).map_err(|e| {
                DatasetError::Job(format!("render spec: dtd={}: {e}", dir.display()))
            })?),
            None => Box::new(dtd_textures::ProceduralTextures::new(
                self.procedural_textures,
            )),
        };
        Ok((models, textures))
    }

    /// The manifest `render` would write for the spec's dataset (asset fingerprints included).
    ///
    /// # Errors
    /// Invalid job settings.
    pub fn manifest(
        &self,
        models: &dyn ModelSource,
        textures: &dyn TextureSource,
    ) -> Result<Manifest, DatasetError> {
        self.job.validate()?;
        self.job.manifest(models, textures)
    }

    /// The resolved settings as JSON (for run directories): everything that defines the images
    /// plus the stream settings.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "spec": self.text,
            "variant": self.job.variant.to_string(),
            "scene": self.job.scene.to_string(),
            "resolution": self.resolution(),
            "objects": self.job.objects_per_image(),
            "seed": self.job.seed,
            "count": self.job.count,
            "train_count": self.train_count(),
            "val": self.val,
            "test": self.test,
            "unique": self.unique,
            "shard": self.job.shard_size,
            "classes": self.job.classes(),
            "shadows": self.job.shadows,
            "layout": self.job.layout.as_str(),
            "min_visible": self.job.min_visible,
            "models_per_class": self.job.models_per_class,
            "textures": self.job.textures,
            "texture_size": self.job.texture_size,
            "procedural_models": self.procedural_models,
            "procedural_textures": self.procedural_textures,
            "shapenet": self.shapenet.as_ref().map(|p| p.display().to_string()),
            "mesh_cache": self.mesh_cache.as_ref().map(|p| p.display().to_string()),
            "dtd": self.dtd.as_ref().map(|p| p.display().to_string()),
            "lanes": self.job.lanes,
            "adapter": self.job.adapter,
        })
    }
}

impl fmt::Display for RenderSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A renderer with a job's asset pool uploaded, rendering any samples of the job on request.
pub struct LiveRenderer {
    renderer: MultiRenderer,
    pool: crate::scene_sampler::AssetPool,
    params: SceneParams,
    summary: RenderSummary,
}

impl LiveRenderer {
    /// Opens the renderer (`job.lanes` devices on `job.adapter`) and uploads the same asset pool
    /// as `render` does for `job`.
    ///
    /// # Errors
    /// Invalid job, no adapter (the same message as `render`), classes without usable models.
    pub fn new(
        job: &RenderJob,
        models: &dyn ModelSource,
        textures: &dyn TextureSource,
    ) -> Result<LiveRenderer, DatasetError> {
        job.validate()?;
        let plan = job.plan()?;
        let mut summary = RenderSummary::default();
        let (renderer, pool) = prepare(job, &plan, models, textures, &mut summary)?;
        Ok(LiveRenderer {
            renderer,
            pool,
            params: job.scene_params(),
            summary,
        })
    }

    /// The adapter in use (name, driver, backend).
    pub fn adapter(&self) -> &AdapterSummary {
        self.renderer.adapter()
    }

    /// Models and textures loaded, skipped assets, lanes.
    pub fn summary(&self) -> &RenderSummary {
        &self.summary
    }

    /// Renders the samples with these dataset indices (as `render` stores them in `split`), in
    /// the order given.
    ///
    /// # Errors
    /// Rendering or scene-sampling failures.
    pub fn render(&mut self, split: Split, indices: &[u64]) -> Result<Vec<Sample>, DatasetError> {
        // Runs of consecutive indices become one pseudo-shard each (dataset indices directly).
        let mut specs: Vec<ShardSpec> = Vec::new();
        for &i in indices {
            let i = i as usize;
            match specs.last_mut() {
                Some(s) if s.samples.end == i => s.samples.end += 1,
                _ => specs.push(ShardSpec {
                    split,
                    index: specs.len(),
                    global: specs.len(),
                    samples: i..i + 1,
                    split_offset: 0,
                }),
            }
        }
        let mut out = Vec::with_capacity(indices.len());
        let mut on_shard = |_: &ShardSpec, samples: Vec<Sample>| {
            out.extend(samples);
            Ok(())
        };
        stream_shards(
            &mut self.renderer,
            &self.pool,
            &self.params,
            &specs,
            &mut on_shard,
            &mut |_, _| {},
        )?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(text: &str) -> String {
        RenderSpec::parse(text).unwrap_err().field
    }

    #[test]
    fn defaults_and_fields() {
        let s = RenderSpec::parse("render:----").unwrap();
        assert_eq!(s.job.variant, Variant::PLAIN);
        assert_eq!(s.job.scene, SceneKind::Single);
        assert_eq!(s.resolution(), 64);
        assert_eq!(s.job.count, DEFAULT_LIVE_COUNT);
        assert_eq!((s.val, s.test, s.unique), (1000, 1000, None));
        assert_eq!(s.job.lanes, 1);
        let s = RenderSpec::parse(
            "render:TCVL, scene=multi,res=32,seed=7,count=1000,val=all,test=10,unique=500,\
             shard=100,classes=car+chair,shadows=off,layout=spread,texture_size=64,lanes=2",
        )
        .unwrap();
        assert_eq!(s.job.variant, Variant::ALL_FACTORS);
        assert_eq!(
            (s.job.scene, s.resolution(), s.job.seed),
            (SceneKind::Multi, 32, 7)
        );
        assert_eq!((s.val, s.test, s.unique), (75, 10, Some(500)));
        assert_eq!(s.job.shard_size, 100);
        assert_eq!(s.job.classes(), vec![Class::Car, Class::Chair]);
        assert!(!s.job.shadows);
        assert_eq!(s.job.layout, MultiLayout::Spread);
        assert_eq!((s.job.texture_size, s.job.lanes), (64, 2));
        assert_eq!(s.describe()["unique"], 500);
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field_of("----"), "render");
        assert_eq!(field_of("render:"), "variant");
        assert_eq!(field_of("render:-X--"), "variant");
        assert_eq!(field_of("render:----,res=abc"), "res");
        assert_eq!(field_of("render:----,res=4"), "res");
        assert_eq!(field_of("render:----,scene=many"), "scene");
        assert_eq!(field_of("render:----,seed=-1"), "seed");
        assert_eq!(field_of("render:----,colour=red"), "colour");
        assert_eq!(field_of("render:----,res"), "res");
        assert_eq!(field_of("render:----,res=32,res=64"), "res");
        assert_eq!(field_of("render:----,count=100,val=9"), "val");
        assert_eq!(field_of("render:----,test=0"), "test");
        assert_eq!(field_of("render:----,unique=0"), "unique");
        assert_eq!(field_of("render:----,count=10"), "count");
        assert_eq!(field_of("render:----,classes=car+boat"), "classes");
        assert_eq!(field_of("render:----,objects=3"), "objects");
        assert_eq!(field_of("render:----,texture-size=100"), "texture-size");
        assert_eq!(field_of("render:----,lanes=17"), "lanes");
        assert_eq!(field_of("render:----,shadows=maybe"), "shadows");
        assert_eq!(field_of("render:----,mesh-cache=/tmp"), "mesh-cache");
        let e = RenderSpec::parse("render:----,res=abc")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`res`") && e.contains("8..=4096"), "{e}");
        let e = RenderSpec::parse("render:----,colour=red")
            .unwrap_err()
            .to_string();
        assert!(e.contains("known: scene, res"), "{e}");
    }

    #[test]
    fn unique_flag_merges_into_the_spec() {
        assert_eq!(
            RenderSpec::with_unique("render:----,res=32", 100).unwrap(),
            "render:----,res=32,unique=100"
        );
        assert_eq!(
            RenderSpec::with_unique("render:----,unique=100", 100).unwrap(),
            "render:----,unique=100"
        );
        assert_eq!(
            RenderSpec::with_unique("render:----,unique=5", 100)
                .unwrap_err()
                .field,
            "unique"
        );
    }

    #[test]
    fn stream_indices_skip_the_held_out_range() {
        let s = RenderSpec::parse("render:----,count=1000").unwrap();
        assert_eq!(s.train_count(), 850);
        assert_eq!(s.train_index(0), 0);
        assert_eq!(s.train_index(849), 849);
        assert_eq!(s.train_index(850), 1000);
        assert_eq!(s.val_index(0), 850);
        assert_eq!(s.test_index(0), 925);
    }

    /// Live samples are byte-identical to the shards `render` writes (lavapipe in CI).
    #[test]
    fn live_samples_equal_rendered_shards() {
        let spec = RenderSpec::parse(
            "render:T-V-,res=16,count=60,shard=10,textures=4,texture-size=16,\
             procedural-models=12,procedural-textures=20,models-per-class=3",
        )
        .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let (models, textures) = spec.open_assets().unwrap();
        crate::generate::render_dataset(
            &spec.job,
            models.as_ref(),
            textures.as_ref(),
            tmp.path(),
            &|_| {},
        )
        .unwrap();
        let ds = crate::Dataset::open(tmp.path()).unwrap();
        let mut live = LiveRenderer::new(&spec.job, models.as_ref(), textures.as_ref()).unwrap();
        // Out of order and across shard boundaries.
        let train = ds.split(Split::Train).unwrap();
        let want: Vec<Sample> = [8usize, 9, 10, 11, 3, 50]
            .iter()
            .map(|&i| train.get(i).unwrap())
            .collect();
        let got = live.render(Split::Train, &[8, 9, 10, 11, 3, 50]).unwrap();
        assert_eq!(got, want);
        let val = ds.split(Split::Val).unwrap();
        let idx: Vec<u64> = (0..val.len() as u64).map(|j| spec.val_index(j)).collect();
        let got = live.render(Split::Val, &idx).unwrap();
        for (j, s) in got.into_iter().enumerate() {
            assert_eq!(s, val.get(j).unwrap(), "val {j}");
        }
        let test = ds.split(Split::Test).unwrap();
        let got = live.render(Split::Test, &[spec.test_index(2)]).unwrap();
        assert_eq!(got[0], test.get(2).unwrap());
    }
}
