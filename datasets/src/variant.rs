//! Dataset variants: which of the four factors of variation (T, C, V, L) use the harder setting.
//!
//! Input: a four-character name in the order T, C, V, L with a letter where the harder setting
//! is used and `-` otherwise (`----`, `T---`, `-C-L`, `TCVL`, ...). Output: a [`Variant`].
//! See `docs/variants.md` for what each letter changes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Which factors of variation use their harder setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Variant {
    /// T: textured objects and background (DTD-like textures) instead of flat colours.
    pub texture: bool,
    /// C: uniformly random object colours instead of class-tied colours.
    pub color: bool,
    /// V: random rotation around the canonical viewpoint instead of the fixed one.
    pub viewpoint: bool,
    /// L: randomly placed light instead of the fixed light.
    pub lighting: bool,
}

/// A variant name that is not four characters from `T/-`, `C/-`, `V/-`, `L/-`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "invalid variant {input:?}: expected 4 characters from T/-, C/-, V/-, L/- in this order, \
     such as ----, T---, -C-L, TCVL"
)]
pub struct ParseVariantError {
    /// The rejected input.
    pub input: String,
}

impl Variant {
    /// The easiest variant, `----`.
    pub const PLAIN: Variant = Variant {
        texture: false,
        color: false,
        viewpoint: false,
        lighting: false,
    };

    /// The hardest variant, `TCVL`.
    pub const ALL_FACTORS: Variant = Variant {
        texture: true,
        color: true,
        viewpoint: true,
        lighting: true,
    };

    /// All 16 variants, `----` first, `TCVL` last (bit 3 = T, bit 0 = L).
    pub fn all() -> [Variant; 16] {
        std::array::from_fn(|i| Variant {
            texture: i & 8 != 0,
            color: i & 4 != 0,
            viewpoint: i & 2 != 0,
            lighting: i & 1 != 0,
        })
    }

    /// The name as a file-name-friendly word: `plain` for `----`, otherwise the lower-case
    /// letters with `_` for dashes (`t_v_`, `tcvl`).
    pub fn slug(&self) -> String {
        if *self == Variant::PLAIN {
            return "plain".to_string();
        }
        self.to_string().to_lowercase().replace('-', "_")
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |on: bool, letter: char| if on { letter } else { '-' };
        write!(
            f,
            "{}{}{}{}",
            c(self.texture, 'T'),
            c(self.color, 'C'),
            c(self.viewpoint, 'V'),
            c(self.lighting, 'L')
        )
    }
}

impl FromStr for Variant {
    type Err = ParseVariantError;

    /// Parses `T C V L` names; letters are accepted in either case.
    fn from_str(s: &str) -> Result<Variant, ParseVariantError> {
        let err = || ParseVariantError {
            input: s.to_string(),
        };
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 4 {
            return Err(err());
        }
        let mut flags = [false; 4];
        for (k, (&ch, letter)) in chars.iter().zip(['T', 'C', 'V', 'L']).enumerate() {
            flags[k] = match ch {
                '-' => false,
                c if c.to_ascii_uppercase() == letter => true,
                _ => return Err(err()),
            };
        }
        Ok(Variant {
            texture: flags[0],
            color: flags[1],
            viewpoint: flags[2],
            lighting: flags[3],
        })
    }
}

impl Serialize for Variant {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Variant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Variant, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_sixteen_round_trip() {
        let all = Variant::all();
        let mut names: Vec<String> = all.iter().map(|v| v.to_string()).collect();
        assert_eq!(names[0], "----");
        assert_eq!(names[15], "TCVL");
        for (v, name) in all.iter().zip(&names) {
            assert_eq!(name.parse::<Variant>().unwrap(), *v);
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 16);
        assert_eq!("t-v-".parse::<Variant>().unwrap().to_string(), "T-V-");
    }

    #[test]
    fn rejects_bad_names_with_the_valid_form() {
        for bad in [
            "", "TCV", "TCVLX", "CTVL", "T_V-", "xxxx", "TCV-L", "----\n",
        ] {
            let e = bad.parse::<Variant>().unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("T/-, C/-, V/-, L/-"), "{msg}");
            assert!(msg.contains("TCVL"), "{msg}");
        }
    }

    #[test]
    fn slugs_are_file_name_friendly() {
        assert_eq!(Variant::PLAIN.slug(), "plain");
        assert_eq!(Variant::ALL_FACTORS.slug(), "tcvl");
        assert_eq!("T-V-".parse::<Variant>().unwrap().slug(), "t_v_");
    }

    #[test]
    fn serde_uses_the_name() {
        let v: Variant = "-C-L".parse().unwrap();
        let j = serde_json::to_string(&v).unwrap();
        assert_eq!(j, "\"-C-L\"");
        assert_eq!(serde_json::from_str::<Variant>(&j).unwrap(), v);
        assert!(serde_json::from_str::<Variant>("\"ABCD\"").is_err());
    }
}
