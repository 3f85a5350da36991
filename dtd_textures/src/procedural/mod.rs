//! The embedded procedural texture generator, modelled on DTD categories.
//!
//! Input: a [`Family`], a seed and a tile size. Output: a square RGBA8 [`Texture`] that is
//! seamless (periodic: integer frequencies, wrapped noise lattices) so the renderer can repeat
//! it, anti-aliased analytically, and identical byte for byte for the same inputs. All pattern
//! parameters (colours, scales, orientations, widths) are drawn from a ChaCha8 stream seeded by
//! `(family, seed)` before any pixel is computed, in tile units, so the same seed at another size
//! is the same picture at another resolution.
//!
//! [`ProceduralTextures`] turns this into a [`TextureSource`]: texture `i` is family
//! `Family::ALL[i % 14]` with seed `i`, named `"<family>/<i:06>"`.

mod noise;
mod patterns;

use std::str::FromStr;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh64::xxh64;

use crate::source::{check_index, check_size};
use crate::{Split, Texture, TextureError, TextureSource};

/// Version of the generator; bump it whenever the output of any family changes. It enters the
/// seed derivation and [`ProceduralTextures`]'s fingerprint.
pub const GENERATOR_VERSION: u32 = 1;

/// A procedural texture family, each modelled on a DTD category of the same name (`Cellular`
/// on DTD's *cracked*, `Noise` on *blotchy* / *stained*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Parallel stripes of 2-4 widths, straight or wavy, any of 8 orientations.
    Striped,
    /// A few broad soft-edged bands, optionally separated by thin lines.
    Banded,
    /// Checkerboard, square or diamond, optionally with grout lines.
    Chequered,
    /// Polka dots on a square or staggered lattice, filled or ringed.
    Dotted,
    /// Chevron stripes.
    Zigzagged,
    /// Grid lines, single, double or graph paper.
    Grid,
    /// Turbulence-warped sine veins over a mottled base.
    Marbled,
    /// Voronoi cells with wiggly dark cracks (dried mud, crackle glaze).
    Cellular,
    /// Interleaved over/under threads: plain weave, twill or basket weave.
    Woven,
    /// Fractal gradient noise: smooth stains, thresholded blotches or ridged veins.
    Noise,
    /// Hexagonal cells with borders.
    Honeycombed,
    /// Ink hatching in two or three directions.
    Crosshatched,
    /// Capsule-shaped sprinkles of several colours.
    Sprinkled,
    /// Overlapping rows of round scales.
    Scaly,
}

impl Family {
    /// Every family, in index order.
    pub const ALL: [Family; 14] = [
        Family::Striped,
        Family::Banded,
        Family::Chequered,
        Family::Dotted,
        Family::Zigzagged,
        Family::Grid,
        Family::Marbled,
        Family::Cellular,
        Family::Woven,
        Family::Noise,
        Family::Honeycombed,
        Family::Crosshatched,
        Family::Sprinkled,
        Family::Scaly,
    ];

    /// Lower-case name, as used in texture names and serde.
    pub fn name(self) -> &'static str {
        match self {
            Family::Striped => "striped",
            Family::Banded => "banded",
            Family::Chequered => "chequered",
            Family::Dotted => "dotted",
            Family::Zigzagged => "zigzagged",
            Family::Grid => "grid",
            Family::Marbled => "marbled",
            Family::Cellular => "cellular",
            Family::Woven => "woven",
            Family::Noise => "noise",
            Family::Honeycombed => "honeycombed",
            Family::Crosshatched => "crosshatched",
            Family::Sprinkled => "sprinkled",
            Family::Scaly => "scaly",
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Error of parsing a [`Family`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown texture family {0:?}: expected one of striped, banded, chequered, dotted, zigzagged, grid, marbled, cellular, woven, noise, honeycombed, crosshatched, sprinkled, scaly"
)]
pub struct UnknownFamily(pub String);

impl FromStr for Family {
    type Err = UnknownFamily;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Family::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFamily(s.to_string()))
    }
}

/// The RNG a texture's parameters are drawn from.
fn rng_for(family: Family, seed: u64) -> ChaCha8Rng {
    let mut key = seed.to_le_bytes().to_vec();
    key.extend_from_slice(family.name().as_bytes());
    ChaCha8Rng::seed_from_u64(xxh64(&key, GENERATOR_VERSION as u64))
}

/// One seamless tile of `family` for `seed`, `size x size` RGBA8 (sRGB, alpha 255).
/// `size == 0` gives an empty texture.
pub fn procedural_texture(family: Family, seed: u64, size: u32) -> Texture {
    let mut rng = rng_for(family, seed);
    patterns::generate(family, &mut rng, size)
}

/// The procedural generator as a [`TextureSource`] of `count` textures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProceduralTextures {
    count: usize,
}

impl Default for ProceduralTextures {
    /// 1000 textures.
    fn default() -> Self {
        ProceduralTextures::new(1000)
    }
}

impl ProceduralTextures {
    /// `count` textures: index `i` is family `Family::ALL[i % 14]`, seed `i`.
    pub fn new(count: usize) -> ProceduralTextures {
        ProceduralTextures { count }
    }

    /// Family of texture `index`.
    pub fn family(&self, index: usize) -> Family {
        Family::ALL[index % Family::ALL.len()]
    }

    /// Seed of texture `index`.
    pub fn seed(&self, index: usize) -> u64 {
        index as u64
    }
}

impl TextureSource for ProceduralTextures {
    fn kind(&self) -> &'static str {
        "procedural"
    }

    fn fingerprint(&self) -> String {
        let text = format!(
            "dtd_textures procedural generator v{GENERATOR_VERSION}, {} families, count {}",
            Family::ALL.len(),
            self.count
        );
        format!("{:016x}", xxh64(text.as_bytes(), 0))
    }

    fn len(&self) -> usize {
        self.count
    }

    fn name(&self, index: usize) -> String {
        format!("{}/{index:06}", self.family(index).name())
    }

    fn split(&self, index: usize) -> Split {
        Split::of_name(&self.name(index))
    }

    fn load(&self, index: usize, size: u32) -> Result<Texture, TextureError> {
        check_index(self.kind(), index, self.count)?;
        check_size(size)?;
        Ok(procedural_texture(
            self.family(index),
            self.seed(index),
            size,
        ))
    }
}
