//! The embedded default model library: a procedural generator of all ten classes, built from
//! parametric parts.
//!
//! Input: a class and a seed. Output: a [`Mesh`] in the common frame (z up, front +x, centred,
//! largest side 0.7), typically 500-3000 triangles. The same (class, seed) always gives the same
//! bytes; proportions and optional parts vary with the seed, so thousands of distinct models per
//! class exist. [`ProceduralModels`] serves these as a [`ModelSource`] with ids `proc-NNNNNN`.

mod classes;
pub mod parts;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use xxhash_rust::xxh64::xxh64;

use crate::geometry::simplify;
use crate::{Class, Mesh, ModelError, ModelKey, ModelSource};

/// Version of the generator; part of the fingerprint, bumped whenever meshes change.
pub const GENERATOR_VERSION: u32 = 2;

/// Default number of models per class of [`ProceduralModels`].
pub const DEFAULT_PER_CLASS: usize = 1000;

/// Generates the procedural model `seed` of `class`.
pub fn procedural_mesh(class: Class, seed: u64) -> Mesh {
    let mut rng = ChaCha8Rng::seed_from_u64(xxh64(&seed.to_le_bytes(), class.index() as u64 + 1));
    match class {
        Class::Airplane => classes::airplane(&mut rng),
        Class::Bench => classes::bench(&mut rng),
        Class::Cabinet => classes::cabinet(&mut rng),
        Class::Car => classes::car(&mut rng),
        Class::Chair => classes::chair(&mut rng),
        Class::Lamp => classes::lamp(&mut rng),
        Class::Sofa => classes::sofa(&mut rng),
        Class::Table => classes::table(&mut rng),
        Class::Watercraft => classes::watercraft(&mut rng),
        Class::Motorcycle => classes::motorcycle(&mut rng),
    }
}

/// The id of procedural model `seed`: `proc-000042`.
pub fn procedural_id(seed: u64) -> String {
    format!("proc-{seed:06}")
}

/// Parses a `proc-NNNNNN` id back to its seed.
pub fn parse_procedural_id(id: &str) -> Option<u64> {
    let digits = id.strip_prefix("proc-")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The procedural library as a [`ModelSource`]: `per_class` models per class, ids
/// `proc-000000`.., each generated on demand and simplified to the triangle budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProceduralModels {
    per_class: usize,
    triangle_budget: usize,
}

impl Default for ProceduralModels {
    fn default() -> Self {
        Self::new(DEFAULT_PER_CLASS)
    }
}

impl ProceduralModels {
    /// `per_class` models per class (seeds `0..per_class`).
    pub fn new(per_class: usize) -> Self {
        Self {
            per_class,
            triangle_budget: crate::source::DEFAULT_TRIANGLE_BUDGET,
        }
    }

    /// Simplifies generated meshes to at most about `n` triangles.
    pub fn with_triangle_budget(mut self, n: usize) -> Self {
        self.triangle_budget = n.max(1);
        self
    }

    /// Models per class.
    pub fn per_class(&self) -> usize {
        self.per_class
    }
}

impl ModelSource for ProceduralModels {
    fn kind(&self) -> &'static str {
        "procedural"
    }

    fn fingerprint(&self) -> String {
        let text = format!(
            "procedural v{GENERATOR_VERSION} per_class={} budget={}",
            self.per_class, self.triangle_budget
        );
        format!("{:016x}", xxh64(text.as_bytes(), 0))
    }

    fn models(&self, class: Class) -> Vec<ModelKey> {
        (0..self.per_class as u64)
            .map(|s| ModelKey::new(class, procedural_id(s)))
            .collect()
    }

    fn load(&self, key: &ModelKey) -> Result<Mesh, ModelError> {
        let unknown = || ModelError::UnknownModel {
            class: key.class,
            id: key.id.clone(),
        };
        let seed = parse_procedural_id(&key.id).ok_or_else(unknown)?;
        if seed >= self.per_class as u64 {
            return Err(unknown());
        }
        let mesh = procedural_mesh(key.class, seed);
        Ok(simplify(&mesh, self.triangle_budget))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        assert_eq!(procedural_id(42), "proc-000042");
        assert_eq!(parse_procedural_id("proc-000042"), Some(42));
        assert_eq!(parse_procedural_id("proc-1234567"), Some(1_234_567));
        assert_eq!(parse_procedural_id("proc-42"), None);
        assert_eq!(parse_procedural_id("proc-00004x"), None);
        assert_eq!(parse_procedural_id("1a2b"), None);
    }

    #[test]
    fn source_lists_and_loads() {
        let src = ProceduralModels::new(5);
        let keys = src.models(Class::Lamp);
        assert_eq!(keys.len(), 5);
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        let m = src.load(&keys[3]).unwrap();
        assert_eq!(m, procedural_mesh(Class::Lamp, 3));
        assert!(matches!(
            src.load(&ModelKey::new(Class::Lamp, "proc-000005")),
            Err(ModelError::UnknownModel { .. })
        ));
        assert!(src.load(&ModelKey::new(Class::Lamp, "x")).is_err());
    }

    #[test]
    fn budget_is_applied() {
        let src = ProceduralModels::new(2).with_triangle_budget(100);
        let m = src.load(&ModelKey::new(Class::Car, "proc-000001")).unwrap();
        assert!(m.triangle_count() <= 100, "{}", m.triangle_count());
        m.validate().unwrap();
        assert_ne!(src.fingerprint(), ProceduralModels::new(2).fingerprint());
    }
}
