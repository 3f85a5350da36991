//! Model identity and the stable 80/20 train/held-out model split.
//!
//! Input: a [`ModelKey`] (class + model id). Output: its [`Split`], decided by the xxh64 hash
//! (seed 0) of `"SYNSET/ID"`, so the split is the same for every dataset variant, every
//! machine and every ordering of the model directory.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh64::xxh64;

use crate::Class;

/// Which side of the model split a model is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// 80% of the models of each class: used to render training images.
    Train,
    /// 20% of the models of each class: used only for validation and test images.
    Held,
}

/// Share of models (in percent of the hash space) that go to [`Split::Train`].
pub const TRAIN_PERCENT: u64 = 80;

/// A model of one class: a ShapeNet model directory name, or `"proc-000042"` for a procedural
/// model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ModelKey {
    /// Object class.
    pub class: Class,
    /// Model id: the ShapeNet model directory name or `proc-NNNNNN`.
    pub id: String,
}

impl ModelKey {
    /// Creates a key.
    pub fn new(class: Class, id: impl Into<String>) -> Self {
        Self {
            class,
            id: id.into(),
        }
    }

    /// `"SYNSET/ID"`, e.g. `"02691156/1a04e3eab45ca15dd86060f189eb133"`.
    pub fn path_id(&self) -> String {
        format!("{}/{}", self.class.synset(), self.id)
    }

    /// 80% [`Split::Train`] / 20% [`Split::Held`] by xxh64 (seed 0) of [`ModelKey::path_id`].
    pub fn split(&self) -> Split {
        split_of(&self.path_id())
    }
}

/// The split of a `"SYNSET/ID"` string (see [`ModelKey::split`]).
pub fn split_of(path_id: &str) -> Split {
    let h = xxh64(path_id.as_bytes(), 0);
    if h % 100 < TRAIN_PERCENT {
        Split::Train
    } else {
        Split::Held
    }
}

impl std::fmt::Display for ModelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.class, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_id_uses_synset() {
        let k = ModelKey::new(Class::Car, "abc");
        assert_eq!(k.path_id(), "02958343/abc");
        assert_eq!(k.to_string(), "car/abc");
    }

    #[test]
    fn split_serde_is_lowercase() {
        assert_eq!(serde_json::to_string(&Split::Held).unwrap(), "\"held\"");
        assert_eq!(
            serde_json::from_str::<Split>("\"train\"").unwrap(),
            Split::Train
        );
    }

    #[test]
    fn split_proportions_are_about_80_20() {
        for class in Class::ALL {
            let n = 2000;
            let train = (0..n)
                .filter(|i| ModelKey::new(class, format!("proc-{i:06}")).split() == Split::Train)
                .count();
            let share = train as f64 / n as f64;
            assert!((0.77..0.83).contains(&share), "{class}: {share}");
        }
    }
}
