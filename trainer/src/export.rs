//! `backbone.safetensors`: a backbone's weights with PyTorch parameter names, so pretrained
//! backbones can be used outside the toolkit (`tools/python/torch_backbones.py` rebuilds the
//! network in PyTorch and loads the file with `load_state_dict(strict=True)`).
//!
//! Input: a [`Backbone`] and its [`BackboneConfig`]. Output: a safetensors file (written
//! atomically) with one `F32` tensor per weight and BN statistic, an `I64` scalar
//! `num_batches_tracked` per BN layer, and metadata describing the architecture.
//!
//! Names (burn's module paths, with PyTorch's conventions):
//! - every name starts with `trunk.` or `projection.`; the trunk's enum variant is dropped;
//! - BN `gamma`/`beta` become `weight`/`bias`; `running_mean`/`running_var` keep their names and
//!   `num_batches_tracked` (0: burn does not count batches; PyTorch only reads it when its
//!   momentum is `None`) is added;
//! - conv weights are `[out, in, kh, kw]` in both frameworks and are stored as they are;
//! - ResNet9: `trunk.stem.{conv,bn}`, `trunk.block{1,2,3}.down.{conv,bn}`,
//!   `trunk.block{1,3}.residual.{conv1,bn1,conv2,bn2}`;
//! - ResNet50: torchvision's names: `trunk.conv1`, `trunk.bn1`,
//!   `trunk.layer{1-4}.{i}.{conv1,bn1,conv2,bn2,conv3,bn3}`, `trunk.layer{1-4}.{i}.downsample.{0,1}`
//!   (so `{k[6:]: v for k, v in sd.items() if k.startswith("trunk.")}` loads into
//!   `torchvision.models.resnet50()` at width 1 with `strict=False`, only the stem max-pool and
//!   layer4's dilation differ);
//! - projection: `projection.conv.weight`, `projection.bn.*`;
//! - a split (CMC) backbone: `trunk.*` and `projection.*` are the L half (one input channel),
//!   `ab.trunk.*` and `ab.projection.*` the ab half (two input channels); the output is the
//!   concatenation of both projections.
//!
//! Metadata (`__metadata__`, strings): `format` = `pt`, `backbone`, `width`, `dense`, `split`,
//! `projection_channels`, `stride`, `celu_alpha`, `bn_epsilon`, `input` (the normalisation), and
//! `producer`.

use std::collections::HashMap;
use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use safetensors::tensor::{Dtype, TensorView};

use crate::TrainError;
use crate::backend::B;
use crate::model::{Backbone, BackboneConfig, BackboneKind};

/// File name next to `backbone.bpk`.
pub const SAFETENSORS_FILE: &str = "backbone.safetensors";

/// Values of an exported tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// 32-bit floats (weights, BN parameters and statistics).
    F32(Vec<f32>),
    /// 64-bit integers (`num_batches_tracked`).
    I64(Vec<i64>),
}

/// One entry of the exported state dict.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// PyTorch parameter name.
    pub name: String,
    /// Shape (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Values,
}

/// burn module path -> PyTorch name, for a trunk of kind `kind`.
fn pytorch_name(path: &[String], kind: BackboneKind) -> String {
    let mut parts: Vec<String> = path.to_vec();
    if let Some(last) = parts.last_mut() {
        match last.as_str() {
            "gamma" => *last = "weight".into(),
            "beta" => *last = "bias".into(),
            _ => {}
        }
    }
    if kind == BackboneKind::Resnet50
        && let Some(t) = parts.iter().position(|p| p == "trunk")
    {
        match parts.get(t + 1).map(String::as_str) {
            Some("stem") => parts[t + 1] = "conv1".into(),
            Some("stem_bn") => parts[t + 1] = "bn1".into(),
            _ => {}
        }
        for i in 1..parts.len() {
            if parts[i - 1] == "downsample" {
                match parts[i].as_str() {
                    "conv" => parts[i] = "0".into(),
                    "bn" => parts[i] = "1".into(),
                    _ => {}
                }
            }
        }
    }
    parts.join(".")
}

/// The backbone's tensors under PyTorch names, in visiting order (BN `num_batches_tracked`
/// right after each `running_var`).
///
/// # Errors
/// When device data cannot be read back.
pub fn state_dict(
    backbone: &Backbone<B>,
    config: &BackboneConfig,
) -> Result<Vec<NamedTensor>, TrainError> {
    struct Collect {
        path: Vec<String>,
        /// Whether each entered module pushed a path component (enum variants do not).
        pushed: Vec<bool>,
        kind: BackboneKind,
        out: Vec<NamedTensor>,
        error: Option<String>,
    }
    impl ModuleVisitor<B> for Collect {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            let push = !container_type.starts_with("Enum:");
            if push {
                self.path.push(name.to_string());
            }
            self.pushed.push(push);
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            if self.pushed.pop() == Some(true) {
                self.path.pop();
            }
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let tensor = param.val();
            let shape = tensor.dims().to_vec();
            let name = pytorch_name(&self.path, self.kind);
            match crate::tasks::to_host_f32(tensor) {
                Ok(values) => {
                    let is_running_var = name.ends_with(".running_var");
                    self.out.push(NamedTensor {
                        name: name.clone(),
                        shape,
                        values: Values::F32(values),
                    });
                    if is_running_var {
                        let prefix = name.trim_end_matches("running_var");
                        self.out.push(NamedTensor {
                            name: format!("{prefix}num_batches_tracked"),
                            shape: Vec::new(),
                            values: Values::I64(vec![0]),
                        });
                    }
                }
                Err(e) => self.error = Some(format!("{name}: {e}")),
            }
        }
    }
    crate::model::sync_running_state(backbone);
    let mut c = Collect {
        path: Vec::new(),
        pushed: Vec::new(),
        kind: config.kind,
        out: Vec::new(),
        error: None,
    };
    backbone.visit(&mut c);
    match c.error {
        Some(e) => Err(TrainError::Backend(format!(
            "reading backbone weights back for export: {e}"
        ))),
        None => Ok(c.out),
    }
}

/// The architecture description stored in the file's metadata.
pub fn metadata(config: &BackboneConfig) -> HashMap<String, String> {
    let mut m = HashMap::new();
    m.insert("format".into(), "pt".into());
    m.insert("backbone".into(), config.kind.name().into());
    m.insert("width".into(), format!("{}", config.width));
    m.insert("dense".into(), config.dense.to_string());
    m.insert("split".into(), config.split.to_string());
    m.insert(
        "projection_channels".into(),
        config.projection_channels().to_string(),
    );
    m.insert("stride".into(), config.stride().to_string());
    m.insert(
        "celu_alpha".into(),
        format!("{}", crate::model::resnet9::CELU_ALPHA),
    );
    m.insert("bn_epsilon".into(), "1e-5".into());
    m.insert(
        "input".into(),
        format!(
            "NCHW CIE Lab (D65) normalised with mean {:?} and std {:?}",
            crate::color::LAB_MEAN,
            crate::color::LAB_STD
        ),
    );
    m.insert(
        "producer".into(),
        format!("ssl-utility trainer {}", env!("CARGO_PKG_VERSION")),
    );
    m
}

/// Write `backbone` as a safetensors file at `path` (atomically: temp name + rename).
///
/// # Errors
/// When weights cannot be read back, or the file cannot be written.
pub fn save_safetensors(
    backbone: &Backbone<B>,
    config: &BackboneConfig,
    path: &Path,
) -> Result<(), TrainError> {
    let tensors = state_dict(backbone, config)?;
    let bytes: Vec<(String, Vec<u8>, Dtype, Vec<usize>)> = tensors
        .into_iter()
        .map(|t| {
            let (dtype, raw) = match t.values {
                Values::F32(v) => (
                    Dtype::F32,
                    v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>(),
                ),
                Values::I64(v) => (
                    Dtype::I64,
                    v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>(),
                ),
            };
            (t.name, raw, dtype, t.shape)
        })
        .collect();
    let record_err = |reason: String| TrainError::Record {
        path: path.to_path_buf(),
        reason,
    };
    let views = bytes
        .iter()
        .map(|(name, raw, dtype, shape)| {
            TensorView::new(*dtype, shape.clone(), raw)
                .map(|v| (name.as_str(), v))
                .map_err(|e| record_err(format!("{name}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let file = safetensors::serialize(views, Some(metadata(config)))
        .map_err(|e| record_err(e.to_string()))?;
    let file = sorted_header(file).map_err(record_err)?;
    crate::write_atomic(path, &file)
}

/// The same safetensors file with its JSON header's keys in sorted order, so that the same
/// weights always give the same bytes (`safetensors::serialize` writes the metadata from a
/// `HashMap`, whose order changes from one process to the next). Sorting the keys changes
/// neither the header's length nor any tensor's offsets.
fn sorted_header(mut file: Vec<u8>) -> Result<Vec<u8>, String> {
    let len_bytes: [u8; 8] = file
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("safetensors file shorter than its 8-byte header length")?;
    let len = usize::try_from(u64::from_le_bytes(len_bytes))
        .map_err(|_| "safetensors header length does not fit in memory".to_string())?;
    let header = file
        .get(8..8 + len)
        .ok_or("safetensors header longer than the file")?;
    // serde_json's map is a BTreeMap (no `preserve_order`): keys come out sorted at every level.
    let value: serde_json::Value =
        serde_json::from_slice(header).map_err(|e| format!("safetensors header: {e}"))?;
    let mut sorted = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    if sorted.len() > len {
        return Err(format!(
            "sorted safetensors header is {} bytes, the original {len}",
            sorted.len()
        ));
    }
    sorted.resize(len, b' ');
    file[8..8 + len].copy_from_slice(&sorted);
    Ok(file)
}

/// Tensor names with their shapes (sorted by name) and the metadata of a safetensors file.
pub type FileDescription = (Vec<(String, Vec<usize>)>, HashMap<String, String>);

/// Names, shapes and metadata of a safetensors file (for tests and `--init` checks).
///
/// # Errors
/// When the file cannot be read or is not a safetensors file.
pub fn describe_safetensors(path: &Path) -> Result<FileDescription, TrainError> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| TrainError::Record {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut names: Vec<(String, Vec<usize>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec()))
        .collect();
    names.sort();
    let (_, meta) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| TrainError::Record {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    Ok((names, meta.metadata().clone().unwrap_or_default()))
}

/// Write a safetensors file of named `f32` tensors (test batches for the PyTorch mirror).
///
/// # Errors
/// When the file cannot be written.
pub fn save_f32_tensors(
    path: &Path,
    tensors: &[(&str, Vec<usize>, &[f32])],
) -> Result<(), TrainError> {
    let raw: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&raw)
        .map(|((name, shape, _), bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (*name, v))
                .map_err(|e| TrainError::Record {
                    path: path.to_path_buf(),
                    reason: format!("{name}: {e}"),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let file = safetensors::serialize(views, None).map_err(|e| TrainError::Record {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    crate::write_atomic(path, &file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn same_weights_give_the_same_bytes() {
        let config = BackboneConfig::new(BackboneKind::Resnet9);
        let raw: Vec<u8> = [1.0f32, -2.0, 3.5]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let write = || {
            let views = vec![
                ("b", TensorView::new(Dtype::F32, vec![3], &raw).unwrap()),
                ("a", TensorView::new(Dtype::F32, vec![1, 3], &raw).unwrap()),
            ];
            sorted_header(safetensors::serialize(views, Some(metadata(&config))).unwrap()).unwrap()
        };
        // Every serialisation builds a fresh HashMap with its own random order.
        let first = write();
        for _ in 0..8 {
            assert_eq!(write(), first);
        }
        let st = safetensors::SafeTensors::deserialize(&first).expect("still a valid file");
        assert_eq!(st.tensor("b").unwrap().data(), raw.as_slice());
        let (_, meta) = safetensors::SafeTensors::read_metadata(&first).unwrap();
        assert_eq!(meta.metadata().clone().unwrap(), metadata(&config));
        let len = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&first[8..8 + len]).unwrap();
        let keys: Vec<usize> = ["\"backbone\"", "\"format\"", "\"producer\""]
            .iter()
            .map(|k| header.find(k).expect("metadata key in the header"))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{header}");
        assert!(sorted_header(vec![1, 2]).is_err());
    }

    #[test]
    fn names_follow_pytorch() {
        let r9 = BackboneKind::Resnet9;
        let r50 = BackboneKind::Resnet50;
        assert_eq!(
            pytorch_name(&p("trunk.block1.down.bn.gamma"), r9),
            "trunk.block1.down.bn.weight"
        );
        assert_eq!(
            pytorch_name(&p("projection.bn.beta"), r9),
            "projection.bn.bias"
        );
        assert_eq!(
            pytorch_name(&p("trunk.stem.weight"), r50),
            "trunk.conv1.weight"
        );
        assert_eq!(
            pytorch_name(&p("trunk.stem_bn.running_var"), r50),
            "trunk.bn1.running_var"
        );
        assert_eq!(
            pytorch_name(&p("trunk.layer2.0.downsample.bn.gamma"), r50),
            "trunk.layer2.0.downsample.1.weight"
        );
        assert_eq!(
            pytorch_name(&p("trunk.layer2.0.downsample.conv.weight"), r50),
            "trunk.layer2.0.downsample.0.weight"
        );
        assert_eq!(
            pytorch_name(&p("ab.trunk.layer1.0.downsample.bn.beta"), r50),
            "ab.trunk.layer1.0.downsample.1.bias"
        );
        assert_eq!(
            pytorch_name(&p("ab.trunk.stem.weight"), r50),
            "ab.trunk.conv1.weight"
        );
        // ResNet9's stem keeps its name.
        assert_eq!(
            pytorch_name(&p("trunk.stem.conv.weight"), r9),
            "trunk.stem.conv.weight"
        );
    }
}
