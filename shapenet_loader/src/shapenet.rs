//! A ShapeNetCore directory as a [`ModelSource`].
//!
//! Input: the ShapeNetCore root, holding one folder per synset (`02691156/` ...), each with one
//! folder per model containing `models/model_normalized.obj` (v2) or `model.obj` (v1); the layout
//! is detected per model. Output: the sorted model keys of the ten classes (or of the classes
//! chosen with [`ShapeNet::open_classes`], for a download of a few synsets) and their meshes
//! (see [`crate::obj`] for parsing, frame and normalisation), optionally cached on disk.
//! Model folders without an OBJ file are listed in [`ShapeNet::skipped`]; models that fail to
//! parse surface as [`ModelError`]s from [`ModelSource::load`] so a render can skip and report
//! them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh64::Xxh64;

use crate::export::Layout;
use crate::{Class, LoadOptions, Mesh, ModelError, ModelKey, ModelSource, ShapeNetError, cache};

/// A model folder that was left out when the directory was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The model folder.
    pub path: PathBuf,
    /// Why (human-readable).
    pub reason: String,
}

/// An opened ShapeNetCore directory.
#[derive(Debug)]
pub struct ShapeNet {
    root: PathBuf,
    options: LoadOptions,
    models: BTreeMap<ModelKey, (PathBuf, Layout, u64)>,
    skipped: Vec<Skipped>,
}

/// The OBJ file of a model folder and its layout, if any.
pub fn model_file(model_dir: &Path) -> Option<(PathBuf, Layout)> {
    let v2 = model_dir.join("models").join("model_normalized.obj");
    if v2.is_file() {
        return Some((v2, Layout::V2));
    }
    let v1 = model_dir.join("model.obj");
    v1.is_file().then_some((v1, Layout::V1))
}

impl ShapeNet {
    /// Opens `dir` and lists the models of all ten classes.
    ///
    /// Errors when `dir` is not a directory, a class folder is missing, or a class folder holds
    /// no model with an OBJ file.
    pub fn open(dir: &Path, options: LoadOptions) -> Result<ShapeNet, ShapeNetError> {
        ShapeNet::open_classes(dir, options, &Class::ALL)
    }

    /// Opens `dir` and lists the models of `classes` only; other class folders may be missing
    /// and are not read. [`ModelSource::models`] of any other class is empty.
    ///
    /// Errors when `dir` is not a directory, the folder of a requested class is missing (the
    /// error lists every missing one and the classes that are present), or a requested class
    /// folder holds no model with an OBJ file.
    pub fn open_classes(
        dir: &Path,
        options: LoadOptions,
        classes: &[Class],
    ) -> Result<ShapeNet, ShapeNetError> {
        if !dir.is_dir() {
            return Err(ShapeNetError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        let mut classes = classes.to_vec();
        classes.sort();
        classes.dedup();
        let has_folder = |c: &Class| dir.join(c.synset()).is_dir();
        let missing: Vec<Class> = classes.iter().copied().filter(|c| !has_folder(c)).collect();
        if let Some(&class) = missing.first() {
            return Err(ShapeNetError::MissingClass {
                class,
                path: dir.join(class.synset()),
                missing,
                present: Class::ALL.into_iter().filter(has_folder).collect(),
            });
        }
        let mut models = BTreeMap::new();
        let mut skipped = Vec::new();
        for class in classes {
            let class_dir = dir.join(class.synset());
            let entries = std::fs::read_dir(&class_dir).map_err(|source| ShapeNetError::Io {
                path: class_dir.clone(),
                source,
            })?;
            let mut found = 0usize;
            let mut names = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|source| ShapeNetError::Io {
                    path: class_dir.clone(),
                    source,
                })?;
                names.push(entry.path());
            }
            names.sort();
            for model_dir in names {
                if !model_dir.is_dir() {
                    continue;
                }
                let Some(id) = model_dir.file_name().and_then(|n| n.to_str()) else {
                    skipped.push(Skipped {
                        path: model_dir.clone(),
                        reason: "folder name is not valid UTF-8".into(),
                    });
                    continue;
                };
                if id.starts_with('.') {
                    continue;
                }
                match model_file(&model_dir) {
                    Some((file, layout)) => {
                        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                        models.insert(ModelKey::new(class, id), (file, layout, size));
                        found += 1;
                    }
                    None => skipped.push(Skipped {
                        path: model_dir.clone(),
                        reason: "no models/model_normalized.obj (v2) or model.obj (v1)".into(),
                    }),
                }
            }
            if found == 0 {
                return Err(ShapeNetError::EmptyClass {
                    class,
                    path: class_dir,
                });
            }
        }
        for s in &skipped {
            tracing::warn!(path = %s.path.display(), reason = %s.reason, "skipping ShapeNet model");
        }
        Ok(ShapeNet {
            root: dir.to_path_buf(),
            options,
            models,
            skipped,
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Model folders left out when opening (no OBJ file, bad name).
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// The layout most models use.
    pub fn layout(&self) -> Layout {
        let v2 = self
            .models
            .values()
            .filter(|(_, l, _)| *l == Layout::V2)
            .count();
        if 2 * v2 >= self.models.len() {
            Layout::V2
        } else {
            Layout::V1
        }
    }

    /// The OBJ file of a model.
    pub fn model_path(&self, key: &ModelKey) -> Option<&Path> {
        self.models.get(key).map(|(p, _, _)| p.as_path())
    }

    /// Number of models over all classes.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether no model was found (never true for a successfully opened directory).
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

impl ModelSource for ShapeNet {
    fn kind(&self) -> &'static str {
        "shapenet"
    }

    fn fingerprint(&self) -> String {
        let mut h = Xxh64::new(0);
        h.update(
            format!(
                "shapenet loader={} budget={}\n",
                crate::obj::LOADER_VERSION,
                self.options.triangle_budget
            )
            .as_bytes(),
        );
        for (key, (_, _, size)) in &self.models {
            h.update(format!("{}:{size}\n", key.path_id()).as_bytes());
        }
        format!("{:016x}", h.digest())
    }

    fn models(&self, class: Class) -> Vec<ModelKey> {
        self.models
            .keys()
            .filter(|k| k.class == class)
            .cloned()
            .collect()
    }

    fn load(&self, key: &ModelKey) -> Result<Mesh, ModelError> {
        let Some((path, layout, _)) = self.models.get(key) else {
            return Err(ModelError::UnknownModel {
                class: key.class,
                id: key.id.clone(),
            });
        };
        let budget = self.options.triangle_budget;
        let cached = self
            .options
            .cache_dir
            .as_deref()
            .and_then(|dir| Some((dir, cache::cache_key(path, budget)?)));
        if let Some((dir, ck)) = &cached
            && let Some(mesh) = cache::read(dir, ck)
        {
            return Ok(mesh);
        }
        let mesh = crate::obj::load_obj_file(path, *layout, budget)?;
        if let Some((dir, ck)) = &cached
            && let Err(e) = cache::write(dir, ck, &mesh)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot write mesh cache entry");
        }
        Ok(mesh)
    }
}
