//! `manifest.json`: what a dataset directory holds and how it was made.
//!
//! Input/output: the [`Manifest`] struct <-> pretty JSON with a trailing newline, written
//! atomically. No timestamps, host names or worker ids: every worker of a split render writes
//! the identical file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use shapenet_loader::Class;

use crate::error::DatasetError;
use crate::mds::write_atomic;

fn all_classes() -> Vec<Class> {
    Class::ALL.to_vec()
}

/// File name of the manifest in a dataset directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Sample counts per split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSizes {
    /// Training samples.
    pub train: usize,
    /// Validation samples.
    pub val: usize,
    /// Test samples.
    pub test: usize,
}

impl SplitSizes {
    /// `[train, val, test]`.
    pub fn as_array(&self) -> [usize; 3] {
        [self.train, self.val, self.test]
    }
}

impl From<[usize; 3]> for SplitSizes {
    fn from(c: [usize; 3]) -> Self {
        SplitSizes {
            train: c[0],
            val: c[1],
            test: c[2],
        }
    }
}

/// Identity of an asset library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetRef {
    /// `procedural`, `shapenet`, `dtd`.
    pub kind: String,
    /// Stable hex fingerprint of the content/parameters.
    pub fingerprint: String,
}

/// Asset libraries used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assets {
    /// Meshes.
    pub models: AssetRef,
    /// Textures.
    pub textures: AssetRef,
}

/// Contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version of the tool that rendered the data (`CARGO_PKG_VERSION`).
    pub tool_version: String,
    /// Variant name (`TCVL`, `----`, ...).
    pub variant: String,
    /// `single` or `multi`.
    pub scene: String,
    /// Dataset seed.
    pub seed: u64,
    /// Total samples over all splits.
    pub count: usize,
    /// Samples per split.
    pub splits: SplitSizes,
    /// Image size `[width, height]`.
    pub resolution: [u32; 2],
    /// Objects per image.
    pub objects_per_image: usize,
    /// The classes present (label order; labels keep the ten-class ids). Manifests written
    /// before `--classes` existed have all ten.
    #[serde(default = "all_classes")]
    pub classes: Vec<Class>,
    /// Samples per shard.
    pub shard_size: usize,
    /// `zstd:LEVEL`, or `None` for uncompressed shards.
    pub compression: Option<String>,
    /// Asset libraries.
    pub assets: Assets,
    /// Per-class reference colours, 10 x `[h, s, v]` in `[0, 1]`.
    pub class_colors: Vec<[f64; 3]>,
    /// Pose-bin tilt threshold in radians.
    pub pose_threshold_rad: f64,
    /// Depth convention: `camera_z_mm`.
    pub depth: String,
    /// Column name -> MDS encoding.
    pub columns: BTreeMap<String, String>,
    /// Further fields (kept sorted, so output stays deterministic).
    #[serde(flatten, default)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Manifest {
    /// Read `dir/manifest.json`.
    pub fn read(dir: &Path) -> Result<Manifest, DatasetError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read(&path).map_err(|e| DatasetError::io(&path, e))?;
        serde_json::from_slice(&text).map_err(|e| DatasetError::Manifest {
            path,
            reason: e.to_string(),
        })
    }

    /// The manifest as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        // Only strings, numbers, arrays and maps with string keys: cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Write `dir/manifest.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), DatasetError> {
        Ok(write_atomic(
            &dir.join(MANIFEST_FILE),
            self.to_json().as_bytes(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            tool_version: "0.1.0".into(),
            variant: "TCVL".into(),
            scene: "multi".into(),
            seed: 42,
            count: 1000,
            splits: SplitSizes::from([850, 75, 75]),
            resolution: [128, 128],
            objects_per_image: 4,
            classes: vec![Class::Car],
            shard_size: 512,
            compression: Some("zstd:3".into()),
            assets: Assets {
                models: AssetRef {
                    kind: "procedural".into(),
                    fingerprint: "ab12".into(),
                },
                textures: AssetRef {
                    kind: "dtd".into(),
                    fingerprint: "cd34".into(),
                },
            },
            class_colors: vec![[0.1, 0.2, 0.3]; 10],
            pose_threshold_rad: 0.52,
            depth: "camera_z_mm".into(),
            columns: [("class".to_string(), "int".to_string())]
                .into_iter()
                .collect(),
            extra: [(
                "render_note".to_string(),
                serde_json::json!({"b": 1, "a": [2]}),
            )]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn write_read_round_trip_keeps_extra_fields() {
        let tmp = tempfile::tempdir().unwrap();
        let m = manifest();
        m.write(tmp.path()).unwrap();
        let text = std::fs::read_to_string(tmp.path().join(MANIFEST_FILE)).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(text.contains("\"render_note\""), "{text}");
        assert_eq!(Manifest::read(tmp.path()).unwrap(), m);
        // deterministic: the same manifest gives the same bytes
        assert_eq!(m.to_json(), manifest().to_json());
        assert!(!tmp.path().join("manifest.json.tmp").exists());
    }

    #[test]
    fn manifests_without_classes_read_as_all_ten() {
        let tmp = tempfile::tempdir().unwrap();
        let mut m = manifest();
        m.classes = Class::ALL.to_vec();
        let mut json = serde_json::to_value(&m).unwrap();
        json.as_object_mut().unwrap().remove("classes");
        std::fs::write(tmp.path().join(MANIFEST_FILE), json.to_string()).unwrap();
        assert_eq!(Manifest::read(tmp.path()).unwrap(), m);
        assert!(
            manifest()
                .to_json()
                .contains("\"classes\": [\n    \"car\"\n  ]")
        );
    }

    #[test]
    fn bad_manifest_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let err = Manifest::read(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("manifest.json"), "{err}");
        std::fs::write(tmp.path().join(MANIFEST_FILE), "{\"variant\": 3}").unwrap();
        let err = Manifest::read(tmp.path()).unwrap_err().to_string();
        assert!(
            err.contains("manifest.json") && err.contains("invalid manifest"),
            "{err}"
        );
    }
}
