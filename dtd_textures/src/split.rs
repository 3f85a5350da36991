//! The train / held-out split of textures.
//!
//! Input: a texture name (`"striped/000017"`, `"banded/banded_0002.jpg"`). Output: [`Split`],
//! 80% [`Split::Train`] and 20% [`Split::Held`], decided by xxh64 of the name (seed 0), so the
//! split is the same on every machine, for every variant and regardless of directory order.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh64::xxh64;

/// Which part of the texture pool a texture belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Used for training images (80%).
    Train,
    /// Held out for validation and test images (20%).
    Held,
}

impl Split {
    /// The split of the texture called `name`: `xxh64(name, 0) % 100 < 80` is train.
    pub fn of_name(name: &str) -> Split {
        if xxh64(name.as_bytes(), 0) % 100 < 80 {
            Split::Train
        } else {
            Split::Held
        }
    }

    /// `"train"` or `"held"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Held => "held",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_a_pure_function_of_the_name() {
        assert_eq!(
            Split::of_name("striped/000017"),
            Split::of_name("striped/000017")
        );
        let held = (0..1000)
            .filter(|i| Split::of_name(&format!("dotted/{i:06}")) == Split::Held)
            .count();
        assert!((150..=250).contains(&held), "held {held} of 1000");
    }

    #[test]
    fn display_is_lowercase() {
        assert_eq!(Split::Train.to_string(), "train");
        assert_eq!(Split::Held.to_string(), "held");
    }
}

#[cfg(test)]
mod golden {
    use super::*;

    /// Pinned: changing the split function would silently move textures between train and
    /// held-out sets of existing datasets.
    #[test]
    fn golden_split_of_dtd_names() {
        let names = [
            "banded/banded_0002.jpg",
            "braided/braided_0050.jpg",
            "chequered/chequered_0121.jpg",
            "cracked/cracked_0004.jpg",
            "dotted/dotted_0111.jpg",
            "marbled/marbled_0063.jpg",
            "striped/striped_0015.jpg",
            "woven/woven_0001.jpg",
            "zigzagged/zigzagged_0100.jpg",
            "striped/000000",
            "noise/000009",
            "scaly/000013",
        ];
        let got: Vec<(&str, Split)> = names.iter().map(|&n| (n, Split::of_name(n))).collect();
        let want: Vec<(&str, Split)> = GOLDEN.to_vec();
        assert_eq!(got, want);
    }

    const GOLDEN: [(&str, Split); 12] = [
        ("banded/banded_0002.jpg", Split::Train),
        ("braided/braided_0050.jpg", Split::Held),
        ("chequered/chequered_0121.jpg", Split::Train),
        ("cracked/cracked_0004.jpg", Split::Train),
        ("dotted/dotted_0111.jpg", Split::Train),
        ("marbled/marbled_0063.jpg", Split::Held),
        ("striped/striped_0015.jpg", Split::Train),
        ("woven/woven_0001.jpg", Split::Train),
        ("zigzagged/zigzagged_0100.jpg", Split::Train),
        ("striped/000000", Split::Train),
        ("noise/000009", Split::Train),
        ("scaly/000013", Split::Train),
    ];
}
