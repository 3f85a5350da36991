//! The ten class generators. Frame: z up, front +x; sizes in rough metres before normalisation.

use glam::Vec3;
use rand::Rng;

use super::parts::*;
use crate::Mesh;

fn v(x: f32, y: f32, z: f32) -> Vec3 {
    Vec3::new(x, y, z)
}

fn simple<R: Rng>(rng: &mut R, size: Vec3) -> Mesh {
    let mut b = Builder::new();
    b.add(cuboid(Vec3::ZERO, size * rng.random_range(0.9..1.1)));
    b.finish()
}

pub fn airplane<R: Rng>(rng: &mut R) -> Mesh {
    simple(rng, v(1.0, 1.0, 0.3))
}
pub fn bench<R: Rng>(rng: &mut R) -> Mesh {
    simple(rng, v(0.5, 1.4, 0.5))
}
pub fn cabinet<R: Rng>(rng: &mut R) -> Mesh {
    simple(rng, v(0.5, 0.8, 1.2))
}
pub fn car<R: Rng>(rng: &mut R) -> Mesh {
    simple(rng, v(1.0, 0.45, 0.35))
}
pub fn chair<R: Rng>(rng: &mut R) -> Mesh {
    simple(rng, v(0.5, 0.5, 0.9))
}
pub fn lamp<R: Rng>(rng: &mut R) -> Mesh {
    simple(rng, v(0.3, 0.3, 0.9))
}
pub fn sofa<R: Rng>(rng: &mut R) -> Mesh {
    simple(rng, v(0.9, 2.0, 0.8))
}
pub fn table<R: Rng>(rng: &mut R) -> Mesh {
    simple(rng, v(0.8, 1.4, 0.75))
}
pub fn watercraft<R: Rng>(rng: &mut R) -> Mesh {
    simple(rng, v(1.0, 0.3, 0.4))
}
pub fn motorcycle<R: Rng>(rng: &mut R) -> Mesh {
    simple(rng, v(1.0, 0.3, 0.6))
}
