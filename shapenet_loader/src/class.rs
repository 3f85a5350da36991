//! The ten object classes of the paper and their ShapeNetCore synset ids.

use serde::{Deserialize, Serialize};

/// One of the ten ShapeNetCore classes used by the paper.
///
/// The discriminant is the class index used everywhere in labels (`class` column = index,
/// segmentation value = index + 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Airplane = 0,
    Bench = 1,
    Cabinet = 2,
    Car = 3,
    Chair = 4,
    Lamp = 5,
    Sofa = 6,
    Table = 7,
    Watercraft = 8,
    Motorcycle = 9,
}

impl Class {
    /// All classes in label order.
    pub const ALL: [Class; 10] = [
        Class::Airplane,
        Class::Bench,
        Class::Cabinet,
        Class::Car,
        Class::Chair,
        Class::Lamp,
        Class::Sofa,
        Class::Table,
        Class::Watercraft,
        Class::Motorcycle,
    ];

    /// Number of classes.
    pub const COUNT: usize = 10;

    /// Label index (0..10).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Class from a label index.
    pub fn from_index(index: usize) -> Option<Class> {
        Class::ALL.get(index).copied()
    }

    /// ShapeNetCore synset id, e.g. `"02691156"` for airplane.
    pub fn synset(self) -> &'static str {
        match self {
            Class::Airplane => "02691156",
            Class::Bench => "02828884",
            Class::Cabinet => "02933112",
            Class::Car => "02958343",
            Class::Chair => "03001627",
            Class::Lamp => "03636649",
            Class::Sofa => "04256520",
            Class::Table => "04379243",
            Class::Watercraft => "04530566",
            Class::Motorcycle => "03790512",
        }
    }

    /// Class from a synset id.
    pub fn from_synset(synset: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.synset() == synset)
    }

    /// Lower-case English name, e.g. `"airplane"`.
    pub fn name(self) -> &'static str {
        match self {
            Class::Airplane => "airplane",
            Class::Bench => "bench",
            Class::Cabinet => "cabinet",
            Class::Car => "car",
            Class::Chair => "chair",
            Class::Lamp => "lamp",
            Class::Sofa => "sofa",
            Class::Table => "table",
            Class::Watercraft => "watercraft",
            Class::Motorcycle => "motorcycle",
        }
    }
}

/// A class name that is none of the ten (see [`Class::from_str`](std::str::FromStr)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown class {given:?}: expected one of {} (or its ShapeNet synset id, e.g. 02691156)", Class::names().join(", "))]
pub struct UnknownClass {
    /// What was given.
    pub given: String,
}

impl Class {
    /// The ten names in label order.
    pub fn names() -> [&'static str; Class::COUNT] {
        Class::ALL.map(Class::name)
    }

    /// The classes named in a comma-separated list (`airplane,car,chair`; names or synset ids,
    /// case and surrounding spaces ignored), in label order, each once.
    pub fn parse_list(list: &str) -> Result<Vec<Class>, UnknownClass> {
        let mut classes = list
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<Class>, _>>()?;
        classes.sort();
        classes.dedup();
        Ok(classes)
    }
}

impl std::str::FromStr for Class {
    type Err = UnknownClass;

    /// A class from its name (`chair`, any case) or synset id (`03001627`).
    fn from_str(s: &str) -> Result<Class, UnknownClass> {
        let t = s.trim();
        Class::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(t) || c.synset() == t)
            .ok_or_else(|| UnknownClass {
                given: t.to_string(),
            })
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synsets_round_trip_and_are_unique() {
        for (i, c) in Class::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(Class::from_index(i), Some(c));
            assert_eq!(Class::from_synset(c.synset()), Some(c));
        }
        let mut s: Vec<_> = Class::ALL.iter().map(|c| c.synset()).collect();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), 10);
        assert_eq!(Class::from_synset("00000000"), None);
    }

    #[test]
    fn names_and_lists_parse() {
        for c in Class::ALL {
            assert_eq!(c.name().parse::<Class>(), Ok(c));
            assert_eq!(c.synset().parse::<Class>(), Ok(c));
            assert_eq!(c.name().to_uppercase().parse::<Class>(), Ok(c));
        }
        assert_eq!(
            Class::parse_list("chair, airplane,car,chair"),
            Ok(vec![Class::Airplane, Class::Car, Class::Chair])
        );
        let e = Class::parse_list("airplane,plane").unwrap_err();
        assert_eq!(e.given, "plane");
        let msg = e.to_string();
        assert!(
            msg.contains("\"plane\"") && msg.contains("motorcycle"),
            "{msg}"
        );
        assert!(Class::parse_list("").is_err());
    }
}
