//! Scene sampling: sample *i* of a dataset as a pure function of (variant, scene kind, seed,
//! asset pool, i).
//!
//! Input: [`SceneParams`] (variant, kind, seed, objects per image, per-class reference colours,
//! pose threshold), an [`AssetPool`] (uploaded meshes per class and model split, uploaded
//! textures per split) and a sample index. Output: a [`SceneSample`]: the renderer's plain-data
//! [`Scene`], the class and pose labels and the per-sample metadata stored in the `meta` column.
//!
//! Every sample draws from its own counter-based RNG stream ([`sample_rng`]: ChaCha8 keyed by
//! the seed, stream = sample index), so any subset of samples can be produced in any order, by
//! any number of workers, with identical results. All random numbers are drawn whether or not
//! the variant uses them, so two variants of the same seed show the same models, classes and
//! stretches and differ only in their factors. Reference numbers: `docs/variants.md`.

use std::fmt;
use std::str::FromStr;

use glam::{Mat3, Mat4, Vec3};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_distr::{Distribution, Normal};
use renderer::{
    Background, Camera, Material, MeshId, ObjectInstance, PointLight, Scene, TextureId,
};
use serde::{Deserialize, Serialize};
use shapenet_loader::{Class, ModelKey};
use thiserror::Error;

use crate::color;
use crate::pose;
use crate::variant::Variant;

/// Uniform scale applied to the normalised meshes (largest side 0.7 -> 0.56).
pub const OBJECT_SCALE: f32 = 0.8;
/// Uniform scale of the objects of multi-object scenes in the [`MultiLayout::Spread`] layout
/// (largest side 0.7 -> 0.42), so that four of them fit the frame side by side.
pub const MULTI_OBJECT_SCALE: f32 = 0.6;
/// [`MultiLayout::Overlap`]: range of the objects' distance from the camera along its view
/// axis, relative to the distance of the origin (1.08 m): from just in front of the origin to
/// 1.3 m behind it.
pub const OVERLAP_DEPTH: (f32, f32) = (-0.1, 1.3);
/// [`MultiLayout::Overlap`]: range of an object centre's position in the image, as a fraction
/// of the half-width and half-height of the frame.
pub const OVERLAP_SPREAD: (f32, f32) = (0.6, 0.5);
/// [`MultiLayout::Overlap`]: at least this fraction of an object's projected bounding square
/// lies inside the frame ("mostly inside").
pub const OVERLAP_MIN_INSIDE: f32 = 0.7;
/// [`MultiLayout::Overlap`]: smallest gap (metres) between two objects' oriented bounding boxes.
pub const OVERLAP_GAP: f32 = 0.01;
/// Radius of the light's circle in the y-z plane.
pub const LIGHT_RADIUS: f32 = 1.5;
/// Angle (radians, from +z towards +y) of the fixed light on its circle.
pub const LIGHT_ANGLE: f32 = -0.5;
/// Standard deviation (radians) of the light angle with L.
pub const LIGHT_ANGLE_SIGMA: f32 = 2.0;
/// Intensity of the point light (linear, relative to unit strength at the objects).
pub const LIGHT_INTENSITY: f32 = 2.2;
/// Strength of the ambient fill light.
pub const FILL: f32 = 0.3;
/// Weight of the texture against the colour on textured objects.
pub const OBJECT_TEXTURE_MIX: f32 = 0.4;
/// Texture repetitions per object-space metre.
pub const OBJECT_TEXTURE_SCALE: f32 = 2.5;
/// Weight of the texture against the colour on the textured background.
pub const BACKGROUND_TEXTURE_MIX: f32 = 0.6;
/// Texture repetitions per metre on the background plane.
pub const BACKGROUND_TEXTURE_SCALE: f32 = 0.3;
/// Specular strength of object materials.
pub const SPECULAR: f32 = 0.25;
/// The background plane's centre is at this multiple of the camera position.
pub const BACKGROUND_DISTANCE: f32 = -3.0;
/// Placement attempts per object in multi-object scenes.
pub const PLACEMENT_ATTEMPTS: usize = 64;

/// Canonical yaw (degrees, about +z) per class: meshes face +x (towards the camera); the yaw
/// turns each class into a three-quarter view that shows it clearly (never head-on; the
/// camera's 22-degree elevation keeps it from being top-down).
pub const CANONICAL_YAW_DEG: [f32; Class::COUNT] = [
    55.0, // airplane: mostly side-on, wings and tail visible
    35.0, // bench
    35.0, // cabinet
    45.0, // car
    35.0, // chair
    30.0, // lamp
    35.0, // sofa
    30.0, // table
    55.0, // watercraft: hull length visible
    65.0, // motorcycle: side-on with wheels
];

/// Single-object (64x64, one centred object) or multi-object (128x128, several objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SceneKind {
    /// One object at the origin.
    #[default]
    Single,
    /// Several objects spread over the frame.
    Multi,
}

impl SceneKind {
    /// 64 for single-object, 128 for multi-object images.
    pub fn default_resolution(self) -> u32 {
        match self {
            SceneKind::Single => 64,
            SceneKind::Multi => 128,
        }
    }

    /// 1 for single-object, 4 for multi-object images.
    pub fn default_objects(self) -> usize {
        match self {
            SceneKind::Single => 1,
            SceneKind::Multi => 4,
        }
    }

    /// `"single"` or `"multi"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SceneKind::Single => "single",
            SceneKind::Multi => "multi",
        }
    }
}

impl fmt::Display for SceneKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scene kind that is neither `single` nor `multi`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid scene kind {0:?}: expected `single` or `multi`")]
pub struct ParseSceneKindError(pub String);

impl FromStr for SceneKind {
    type Err = ParseSceneKindError;
    fn from_str(s: &str) -> Result<SceneKind, ParseSceneKindError> {
        match s.to_ascii_lowercase().as_str() {
            "single" => Ok(SceneKind::Single),
            "multi" => Ok(SceneKind::Multi),
            _ => Err(ParseSceneKindError(s.to_string())),
        }
    }
}

/// How the objects of a multi-object scene are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MultiLayout {
    /// Like the paper's renders: every object at the single-object scale ([`OBJECT_SCALE`]),
    /// at random depths ([`OVERLAP_DEPTH`]) and image positions ([`OVERLAP_SPREAD`]), so that
    /// objects overlap in the image and hide each other; oriented bounding boxes at least
    /// [`OVERLAP_GAP`] apart (no interpenetration); each mostly inside the frame
    /// ([`OVERLAP_MIN_INSIDE`]).
    #[default]
    Overlap,
    /// The earlier layout: objects at [`MULTI_OBJECT_SCALE`], one per cell of a jittered grid
    /// over the image, bounding spheres apart, so they rarely touch or hide each other.
    Spread,
}

impl MultiLayout {
    /// `"overlap"` or `"spread"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MultiLayout::Overlap => "overlap",
            MultiLayout::Spread => "spread",
        }
    }
}

impl fmt::Display for MultiLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A layout that is neither `overlap` nor `spread`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid layout {0:?}: expected `overlap` or `spread`")]
pub struct ParseLayoutError(pub String);

impl FromStr for MultiLayout {
    type Err = ParseLayoutError;
    fn from_str(s: &str) -> Result<MultiLayout, ParseLayoutError> {
        match s.to_ascii_lowercase().as_str() {
            "overlap" => Ok(MultiLayout::Overlap),
            "spread" => Ok(MultiLayout::Spread),
            _ => Err(ParseLayoutError(s.to_string())),
        }
    }
}

/// Which half of the asset splits a sample draws from: train samples use train models and
/// textures, validation and test samples only held-out ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetSplit {
    /// `shapenet_loader::Split::Train` / `dtd_textures::Split::Train`.
    Train,
    /// `shapenet_loader::Split::Held` / `dtd_textures::Split::Held`.
    Held,
}

impl AssetSplit {
    fn slot(self) -> usize {
        match self {
            AssetSplit::Train => 0,
            AssetSplit::Held => 1,
        }
    }
}

/// An uploaded model of the pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolModel {
    /// Which model.
    pub key: ModelKey,
    /// Its handle in the renderer.
    pub mesh: MeshId,
    /// Radius of its bounding sphere about the object origin (before scale and stretch).
    pub radius: f32,
    /// Half sides of its axis-aligned bounding box about the object origin (before scale and
    /// stretch; the meshes are centred on their bounding box).
    pub half_extents: [f32; 3],
}

/// An uploaded texture of the pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolTexture {
    /// Texture name (`"striped/000017"`).
    pub name: String,
    /// Its handle in the renderer.
    pub id: TextureId,
}

/// The fixed set of uploaded assets samples draw from.
#[derive(Debug, Clone, Default)]
pub struct AssetPool {
    /// `models[class][split]`: models per class (label order) and asset split (train, held).
    pub models: Vec<[Vec<PoolModel>; 2]>,
    /// `textures[split]`: textures per asset split (train, held).
    pub textures: [Vec<PoolTexture>; 2],
}

impl AssetPool {
    /// An empty pool with slots for the ten classes.
    pub fn new() -> AssetPool {
        AssetPool {
            models: (0..Class::COUNT)
                .map(|_| [Vec::new(), Vec::new()])
                .collect(),
            textures: [Vec::new(), Vec::new()],
        }
    }

    /// Adds a model to its class and split slot.
    pub fn push_model(&mut self, split: AssetSplit, model: PoolModel) {
        if self.models.len() < Class::COUNT {
            self.models
                .resize_with(Class::COUNT, || [Vec::new(), Vec::new()]);
        }
        self.models[model.key.class.index()][split.slot()].push(model);
    }

    /// Adds a texture to its split slot.
    pub fn push_texture(&mut self, split: AssetSplit, texture: PoolTexture) {
        self.textures[split.slot()].push(texture);
    }

    /// The models of a class and split.
    pub fn models(&self, class: Class, split: AssetSplit) -> &[PoolModel] {
        self.models
            .get(class.index())
            .map(|m| m[split.slot()].as_slice())
            .unwrap_or(&[])
    }

    /// The textures of a split.
    pub fn textures(&self, split: AssetSplit) -> &[PoolTexture] {
        &self.textures[split.slot()]
    }

    /// Checks that every class of `classes` has models in `split` and, when `textures` is set,
    /// that the split has textures.
    pub fn check(
        &self,
        split: AssetSplit,
        textures: bool,
        classes: &[Class],
    ) -> Result<(), SamplerError> {
        if classes.is_empty() {
            return Err(SamplerError::NoClasses);
        }
        for &class in classes {
            if self.models(class, split).is_empty() {
                return Err(SamplerError::NoModels { class, split });
            }
        }
        if textures && self.textures(split).is_empty() {
            return Err(SamplerError::NoTextures { split });
        }
        Ok(())
    }
}

/// Why a scene cannot be sampled.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SamplerError {
    /// The pool has no model of a class in a split.
    #[error(
        "no usable {split:?} model of class {class} (every model of that class and split was skipped or the source has none)"
    )]
    NoModels {
        /// The class.
        class: Class,
        /// The asset split.
        split: AssetSplit,
    },
    /// The pool has no texture in a split while the variant needs textures.
    #[error("no usable {split:?} texture, but the variant uses textures (T)")]
    NoTextures {
        /// The asset split.
        split: AssetSplit,
    },
    /// More objects per image than labels can tell apart.
    #[error("{0} objects per image: expected 1..=255")]
    Objects(usize),
    /// The list of classes to draw from is empty.
    #[error("no classes to draw objects from: expected at least one")]
    NoClasses,
}

/// Everything a sample depends on apart from its index and the asset pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneParams {
    /// Factors of variation.
    pub variant: Variant,
    /// Single or multi object.
    pub kind: SceneKind,
    /// Dataset seed.
    pub seed: u64,
    /// Objects per image (1 for single-object scenes).
    pub objects: usize,
    /// Layout of multi-object scenes.
    pub layout: MultiLayout,
    /// Multi-object scenes: smallest visible fraction of a present object.
    pub min_visible: f32,
    /// Image width / height, for the placement of multi-object scenes.
    pub aspect: f32,
    /// Per-class reference HSV colours ([`color::class_reference_colors`] of the seed).
    pub class_colors: [[f32; 3]; Class::COUNT],
    /// Pose threshold in radians ([`pose::pose_threshold`]).
    pub pose_threshold: f32,
    /// The classes objects are drawn from, in label order (default: all ten). Labels keep the
    /// ten-class ids; the class balance is over these.
    #[serde(default = "all_classes")]
    pub classes: Vec<Class>,
}

fn all_classes() -> Vec<Class> {
    Class::ALL.to_vec()
}

impl SceneParams {
    /// The parameters of a dataset: reference colours from the seed, the calibrated pose
    /// threshold, the kind's default number of objects.
    pub fn new(variant: Variant, kind: SceneKind, seed: u64) -> SceneParams {
        SceneParams {
            variant,
            kind,
            seed,
            objects: kind.default_objects(),
            layout: MultiLayout::default(),
            min_visible: 0.1,
            aspect: 1.0,
            class_colors: color::class_reference_colors(seed),
            pose_threshold: pose::pose_threshold(),
            classes: all_classes(),
        }
    }
}

/// Metadata of one object (part of the `meta` column).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Class index.
    pub class: usize,
    /// Class name.
    pub class_name: String,
    /// ShapeNet synset id of the class.
    pub synset: String,
    /// Model id within the class.
    pub model_id: String,
    /// Segmentation value (class + 1).
    pub class_id: u8,
    /// Instance value (k + 1).
    pub instance_id: u8,
    /// Canonical yaw about +z, radians.
    pub canonical_yaw: f32,
    /// The V rotation as a rotation vector (axis * angle, radians, world frame, applied after
    /// the canonical yaw); zeros without V.
    pub viewpoint_rotvec: [f32; 3],
    /// Euler angles `[yaw, pitch, roll]` of the full rotation: `Rz(yaw) * Ry(pitch) * Rx(roll)`.
    pub euler_zyx: [f32; 3],
    /// Full object rotation, row-major 3x3 (object to world).
    pub rotation: [[f32; 3]; 3],
    /// Object centre in world space.
    pub position: [f32; 3],
    /// Uniform scale.
    pub scale: f32,
    /// Per-axis stretch (object frame).
    pub stretch: [f32; 3],
    /// Colour, HSV in `[0, 1]`.
    pub color_hsv: [f32; 3],
    /// Colour, sRGB in `[0, 1]`.
    pub color_rgb: [f32; 3],
    /// Texture name, if textured.
    pub texture: Option<String>,
    /// Pose bin (0..5).
    pub pose: usize,
    /// Angle between the object's up axis and world up, radians.
    pub tilt: f32,
    /// Multi-object scenes: pixels of this object in the instance map (its visible surface).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_pixels: Option<u32>,
    /// Multi-object scenes, first four objects: pixels it would get if no other object hid it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unoccluded_pixels: Option<u32>,
    /// `visible_pixels / unoccluded_pixels` (0 when the object covers no pixel at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_fraction: Option<f32>,
    /// Multi-object scenes: whether the object counts as present (visible fraction at least
    /// the dataset's `min_visible`; objects after the fourth: at least one visible pixel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<bool>,
}

/// Per-sample metadata stored in the `meta` column (kubric-like plain data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleMeta {
    /// Dataset seed.
    pub seed: u64,
    /// Global sample index.
    pub index: u64,
    /// `"train"`, `"val"` or `"test"`.
    pub split: String,
    /// Variant name.
    pub variant: Variant,
    /// Scene kind.
    pub scene: SceneKind,
    /// Camera.
    pub camera: Camera,
    /// Light position and its angle on the circle.
    pub light: LightMeta,
    /// Background colour and texture.
    pub background: BackgroundMeta,
    /// Objects in instance order.
    pub objects: Vec<ObjectMeta>,
    /// Multi-object scenes: the layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<MultiLayout>,
    /// Multi-object scenes: classes (indices, ascending, each once) of the present objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present_classes: Option<Vec<usize>>,
}

impl SampleMeta {
    /// Fills the visibility fields of a multi-object sample from its rendered instance map and
    /// the renderer's unoccluded counts (`unoccluded[k]` for object k, first four objects):
    /// an object is present when its visible fraction is at least `min_visible` (objects
    /// without a count: when any pixel of it is visible).
    pub fn set_visibility(&mut self, instance: &[u8], unoccluded: &[u32], min_visible: f32) {
        let mut counts = [0u32; 256];
        for &id in instance {
            counts[id as usize] += 1;
        }
        let mut classes = Vec::new();
        for (k, o) in self.objects.iter_mut().enumerate() {
            let visible = counts[o.instance_id as usize];
            o.visible_pixels = Some(visible);
            o.unoccluded_pixels = unoccluded.get(k).copied();
            o.visible_fraction = o.unoccluded_pixels.map(|full| {
                if full == 0 {
                    0.0
                } else {
                    visible as f32 / full as f32
                }
            });
            let present = match o.visible_fraction {
                Some(f) => visible > 0 && f >= min_visible,
                None => visible > 0,
            };
            o.present = Some(present);
            if present {
                classes.push(o.class);
            }
        }
        classes.sort_unstable();
        classes.dedup();
        self.present_classes = Some(classes);
    }
}

/// Light part of [`SampleMeta`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LightMeta {
    /// World position.
    pub position: [f32; 3],
    /// Angle on the y-z circle, radians from +z towards +y.
    pub angle: f32,
    /// Intensity.
    pub intensity: f32,
    /// Fill strength.
    pub fill: f32,
}

/// Background part of [`SampleMeta`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackgroundMeta {
    /// Colour, sRGB in `[0, 1]`.
    pub color_rgb: [f32; 3],
    /// Texture name, if textured.
    pub texture: Option<String>,
    /// Plane centre.
    pub center: [f32; 3],
}

/// One sampled scene with its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneSample {
    /// What to render.
    pub scene: Scene,
    /// Class of the first object.
    pub class: usize,
    /// Pose bin of the first object.
    pub pose: usize,
    /// Metadata.
    pub meta: SampleMeta,
}

/// The dataset's one way to derive an RNG from the seed: ChaCha8 seeded with the xxh3 hash of
/// `tag` keyed by `seed`, so every use (samples, class blocks, colours, asset order) gets an
/// independent stream.
pub(crate) fn keyed_rng(tag: &[u8], seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(xxhash_rust::xxh3::xxh3_64_with_seed(tag, seed))
}

/// The RNG stream of sample `index`: ChaCha8 keyed by the seed, stream number = index.
pub fn sample_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = keyed_rng(b"sample", seed);
    rng.set_stream(index);
    rng
}

/// Class of sample `index`: position `index % 10` of a random permutation of the ten classes
/// drawn for the block `index / 10`, so every block of ten consecutive samples holds each class
/// once.
pub fn sample_class(seed: u64, index: u64) -> Class {
    sample_class_among(seed, index, &Class::ALL).unwrap_or(Class::Airplane)
}

/// Class of sample `index` among `classes` (label order; `None` when empty): position
/// `index % n` of a random permutation of the `n` classes drawn for the block `index / n`, so
/// every block of `n` consecutive samples holds each class once. With all ten classes it is
/// [`sample_class`].
pub fn sample_class_among(seed: u64, index: u64, classes: &[Class]) -> Option<Class> {
    let n = classes.len() as u64;
    if n == 0 {
        return None;
    }
    let mut rng = keyed_rng(b"class-block", seed);
    rng.set_stream(index / n);
    let mut perm: Vec<usize> = (0..classes.len()).collect();
    perm.shuffle(&mut rng);
    Some(classes[perm[(index % n) as usize]])
}

/// Object rotation (object to world): the V rotation (a rotation vector) after the canonical
/// yaw.
pub fn object_rotation(class: Class, rotation_vector: Option<[f32; 3]>) -> Mat3 {
    let yaw = Mat3::from_rotation_z(CANONICAL_YAW_DEG[class.index()].to_radians());
    match rotation_vector {
        Some(e) => pose::viewpoint_rotation(e) * yaw,
        None => yaw,
    }
}

/// Position of the light at `angle` (radians from +z towards +y) on the y-z circle.
pub fn light_position(angle: f32) -> [f32; 3] {
    [0.0, LIGHT_RADIUS * angle.sin(), LIGHT_RADIUS * angle.cos()]
}

struct Placed {
    center: Vec3,
    radius: f32,
    obb: Obb,
}

/// An oriented box: centre, unit axes, half sides along them.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Obb {
    center: Vec3,
    axes: [Vec3; 3],
    half: Vec3,
}

impl Obb {
    /// Whether the two boxes, each grown by `gap / 2`, intersect (separating-axis test over
    /// the 3 + 3 face normals and the 9 edge cross products).
    fn intersects(&self, other: &Obb, gap: f32) -> bool {
        let d = other.center - self.center;
        let g = gap * 0.5;
        let radius = |b: &Obb, axis: Vec3| {
            (0..3)
                .map(|i| (b.half[i] + g) * b.axes[i].dot(axis).abs())
                .sum::<f32>()
        };
        let separated = |axis: Vec3| {
            let len = axis.length();
            if len < 1e-6 {
                return false; // parallel edges: covered by the face axes
            }
            let axis = axis / len;
            d.dot(axis).abs() > radius(self, axis) + radius(other, axis)
        };
        let mut axes = Vec::with_capacity(15);
        axes.extend(self.axes);
        axes.extend(other.axes);
        for a in self.axes {
            for b in other.axes {
                axes.push(a.cross(b));
            }
        }
        !axes.into_iter().any(separated)
    }
}

/// Samples scene `index` of split `split_name` (`"train"`, `"val"`, `"test"`), drawing models
/// and textures from `asset_split` of the pool.
pub fn sample_scene(
    params: &SceneParams,
    pool: &AssetPool,
    asset_split: AssetSplit,
    split_name: &str,
    index: u64,
) -> Result<SceneSample, SamplerError> {
    let objects = match params.kind {
        SceneKind::Single => 1,
        SceneKind::Multi => params.objects,
    };
    if objects == 0 || objects > renderer::MAX_OBJECTS_PER_SCENE {
        return Err(SamplerError::Objects(objects));
    }
    let classes = params.classes.as_slice();
    pool.check(asset_split, params.variant.texture, classes)?;
    let variant = params.variant;
    let mut rng = sample_rng(params.seed, index);
    let camera = Camera::paper_default();
    let cam_pos = Vec3::from(camera.position);

    // Scene-level draws, always in this order.
    let light_noise = Normal::new(0.0f32, LIGHT_ANGLE_SIGMA)
        .expect("constant sigma is valid")
        .sample(&mut rng);
    let (_, bg_rgb) = color::background_color(&mut rng);
    let bg_tex_pick: u64 = rng.random();

    let textures = pool.textures(asset_split);
    let pick_texture = |pick: u64| -> Option<&PoolTexture> {
        if variant.texture && !textures.is_empty() {
            Some(&textures[(pick % textures.len() as u64) as usize])
        } else {
            None
        }
    };

    let light_angle = LIGHT_ANGLE + if variant.lighting { light_noise } else { 0.0 };
    let light_pos = light_position(light_angle);
    let bg_texture = pick_texture(bg_tex_pick);
    let bg_center = (cam_pos * BACKGROUND_DISTANCE).to_array();

    let mut instances = Vec::with_capacity(objects);
    let mut metas = Vec::with_capacity(objects);
    let mut placed: Vec<Placed> = Vec::with_capacity(objects);
    let grid = (objects as f32).sqrt().ceil() as usize;
    // The order of the grid cells is shuffled so the first object is not always top-left.
    let mut cells: Vec<usize> = (0..grid * grid).collect();
    if params.kind == SceneKind::Multi {
        cells.shuffle(&mut rng);
    }
    for k in 0..objects {
        let class = if k == 0 {
            sample_class_among(params.seed, index, classes).ok_or(SamplerError::NoClasses)?
        } else {
            classes[rng.random_range(0..classes.len())]
        };
        let models = pool.models(class, asset_split);
        let model = &models[rng.random_range(0..models.len())];
        let stretch = shapenet_loader::stretch(&mut rng);
        let rotvec_draw = pose::sample_viewpoint(&mut rng);
        let (hsv, rgb) =
            color::object_color(params.class_colors[class.index()], variant.color, &mut rng);
        let tex_pick: u64 = rng.random();

        let rotvec = variant.viewpoint.then_some(rotvec_draw);
        let rotation = object_rotation(class, rotvec);
        let max_stretch = stretch.iter().cloned().fold(0.0f32, f32::max);
        let scale = match (params.kind, params.layout) {
            (SceneKind::Multi, MultiLayout::Spread) => MULTI_OBJECT_SCALE,
            _ => OBJECT_SCALE,
        };
        let radius = model.radius * scale * max_stretch;
        let obb = Obb {
            center: Vec3::ZERO,
            axes: [rotation.x_axis, rotation.y_axis, rotation.z_axis],
            half: Vec3::from(model.half_extents) * Vec3::from(stretch) * scale,
        };
        let center = match (params.kind, params.layout) {
            (SceneKind::Single, _) => Vec3::ZERO,
            (SceneKind::Multi, MultiLayout::Spread) => place(
                &mut rng,
                &camera,
                params.aspect,
                grid,
                cells[k % cells.len()],
                radius,
                &placed,
            ),
            (SceneKind::Multi, MultiLayout::Overlap) => {
                place_overlapping(&mut rng, &camera, params.aspect, obb, &placed)
            }
        };
        placed.push(Placed {
            center,
            radius,
            obb: Obb { center, ..obb },
        });

        let up = rotation * Vec3::Z;
        let tilt = pose::tilt_angle(up);
        let bin = pose::pose_bin(up, cam_pos - center, params.pose_threshold);
        let texture = pick_texture(tex_pick);
        let transform = Mat4::from_translation(center)
            * Mat4::from_mat3(rotation)
            * Mat4::from_scale(Vec3::from(stretch) * scale);
        let instance_id = (k + 1) as u8;
        let class_id = (class.index() + 1) as u8;
        instances.push(ObjectInstance {
            mesh: model.mesh,
            transform: transform.to_cols_array_2d(),
            material: Material {
                color: rgb,
                texture: texture.map(|t| t.id),
                texture_mix: if texture.is_some() {
                    OBJECT_TEXTURE_MIX
                } else {
                    0.0
                },
                texture_scale: OBJECT_TEXTURE_SCALE,
                specular: SPECULAR,
            },
            class_id,
            instance_id,
        });
        let r = rotation.transpose().to_cols_array_2d(); // rows of `rotation`
        metas.push(ObjectMeta {
            class: class.index(),
            class_name: class.name().to_string(),
            synset: class.synset().to_string(),
            model_id: model.key.id.clone(),
            class_id,
            instance_id,
            canonical_yaw: CANONICAL_YAW_DEG[class.index()].to_radians(),
            viewpoint_rotvec: rotvec.unwrap_or([0.0; 3]),
            euler_zyx: {
                let (yaw, pitch, roll) =
                    glam::Quat::from_mat3(&rotation).to_euler(glam::EulerRot::ZYX);
                [yaw, pitch, roll]
            },
            rotation: r,
            position: center.to_array(),
            scale,
            stretch,
            color_hsv: hsv,
            color_rgb: rgb,
            texture: texture.map(|t| t.name.clone()),
            pose: bin,
            tilt,
            visible_pixels: None,
            unoccluded_pixels: None,
            visible_fraction: None,
            present: None,
        });
    }

    let scene = Scene {
        camera,
        light: PointLight {
            position: light_pos,
            intensity: [LIGHT_INTENSITY; 3],
        },
        fill: FILL,
        background: Background {
            color: bg_rgb,
            texture: bg_texture.map(|t| t.id),
            texture_mix: if bg_texture.is_some() {
                BACKGROUND_TEXTURE_MIX
            } else {
                0.0
            },
            texture_scale: BACKGROUND_TEXTURE_SCALE,
            center: bg_center,
        },
        objects: instances,
    };
    let meta = SampleMeta {
        seed: params.seed,
        index,
        split: split_name.to_string(),
        variant,
        scene: params.kind,
        camera,
        light: LightMeta {
            position: light_pos,
            angle: light_angle,
            intensity: LIGHT_INTENSITY,
            fill: FILL,
        },
        background: BackgroundMeta {
            color_rgb: bg_rgb,
            texture: bg_texture.map(|t| t.name.clone()),
            center: bg_center,
        },
        objects: metas,
        layout: (params.kind == SceneKind::Multi).then_some(params.layout),
        present_classes: None,
    };
    Ok(SceneSample {
        scene,
        class: meta.objects[0].class,
        pose: meta.objects[0].pose,
        meta,
    })
}

/// Places one object of a [`MultiLayout::Overlap`] scene (its box `obb`, centred at the
/// origin): a random image position within [`OVERLAP_SPREAD`] at a random depth in
/// [`OVERLAP_DEPTH`], kept when at least [`OVERLAP_MIN_INSIDE`] of its projected bounding
/// square is inside the frame and its box is [`OVERLAP_GAP`] clear of every box placed so far.
/// After [`PLACEMENT_ATTEMPTS`] failures, the last candidate (inside the frame) is moved away
/// from the camera along its line of sight until its box is clear: objects never interpenetrate.
fn place_overlapping(
    rng: &mut ChaCha8Rng,
    camera: &Camera,
    aspect: f32,
    obb: Obb,
    placed: &[Placed],
) -> Vec3 {
    let eye = Vec3::from(camera.position);
    let forward = (Vec3::from(camera.target) - eye).normalize();
    let right = forward.cross(Vec3::from(camera.up)).normalize();
    let up = right.cross(forward);
    let tan_y = (camera.fov_y_deg.to_radians() * 0.5).tan();
    let tan_x = tan_y * aspect;
    let base = (Vec3::from(camera.target) - eye).length();
    let radius = obb.half.length();
    let clear = |center: Vec3| {
        let candidate = Obb { center, ..obb };
        placed
            .iter()
            .all(|p| !p.obb.intersects(&candidate, OVERLAP_GAP))
    };
    // Share of the projected bounding square of the bounding sphere inside the frame.
    let inside = |nx: f32, ny: f32, depth: f32| {
        let (rx, ry) = (radius / (depth * tan_x), radius / (depth * tan_y));
        let span = |c: f32, r: f32| ((c + r).min(1.0) - (c - r).max(-1.0)).max(0.0) / (2.0 * r);
        span(nx, rx) * span(ny, ry)
    };
    let mut fallback = eye + forward * (base + OVERLAP_DEPTH.1);
    for _ in 0..PLACEMENT_ATTEMPTS {
        let nx = rng.random_range(-OVERLAP_SPREAD.0..OVERLAP_SPREAD.0);
        let ny = rng.random_range(-OVERLAP_SPREAD.1..OVERLAP_SPREAD.1);
        let depth = base + rng.random_range(OVERLAP_DEPTH.0..OVERLAP_DEPTH.1);
        if depth - radius < camera.near || inside(nx, ny, depth) < OVERLAP_MIN_INSIDE {
            continue;
        }
        let center = eye + (forward + right * (nx * tan_x) + up * (ny * tan_y)) * depth;
        if clear(center) {
            return center;
        }
        fallback = center;
    }
    // Further along the same line of sight the object only gets smaller in the image, so it
    // stays inside the frame; the boxes placed so far are finite, so this ends.
    let step = (fallback - eye).normalize() * 0.05;
    let mut center = fallback;
    for _ in 0..10_000 {
        if clear(center) {
            break;
        }
        center += step;
    }
    center
}

/// Places one object of a multi-object scene: a jittered position in grid cell `cell` of the
/// image (so objects spread evenly and stay mostly inside the frame), at a random depth, such
/// that its bounding sphere does not intersect those already placed. Tries
/// [`PLACEMENT_ATTEMPTS`] positions (widening the depth range) and keeps the first free one, or
/// the one with the most clearance if none is free.
fn place(
    rng: &mut ChaCha8Rng,
    camera: &Camera,
    aspect: f32,
    grid: usize,
    cell: usize,
    radius: f32,
    placed: &[Placed],
) -> Vec3 {
    let eye = Vec3::from(camera.position);
    let forward = (Vec3::from(camera.target) - eye).normalize();
    let right = forward.cross(Vec3::from(camera.up)).normalize();
    let up = right.cross(forward);
    let tan_y = (camera.fov_y_deg.to_radians() * 0.5).tan();
    let tan_x = tan_y * aspect;
    let base = (Vec3::from(camera.target) - eye).length();
    let g = grid as f32;
    let (col, row) = ((cell % grid) as f32, (cell / grid) as f32);
    let mut best = (f32::NEG_INFINITY, Vec3::ZERO);
    for attempt in 0..PLACEMENT_ATTEMPTS {
        let widen = attempt as f32 / PLACEMENT_ATTEMPTS as f32;
        // NDC in [-1, 1]: cell centre + jitter within the cell, pulled in to keep objects inside.
        let jx: f32 = rng.random_range(-0.35..0.35);
        let jy: f32 = rng.random_range(-0.35..0.35);
        let nx = 0.8 * (-1.0 + (2.0 * (col + 0.5 + jx)) / g);
        let ny = 0.8 * (1.0 - (2.0 * (row + 0.5 + jy)) / g);
        let depth: f32 = rng.random_range((base - 0.15)..(base + 0.6 + 0.6 * widen));
        let dir = forward + right * (nx * tan_x) + up * (ny * tan_y);
        let center = eye + dir * depth;
        let clearance = placed
            .iter()
            .map(|p| (p.center - center).length() - p.radius - radius)
            .fold(f32::INFINITY, f32::min)
            .min(depth - camera.near - radius);
        if clearance >= 0.0 {
            return center;
        }
        if clearance > best.0 {
            best = (clearance, center);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool of fake handles: 3 models per class and split, 4 textures per split.
    pub(crate) fn fake_pool() -> AssetPool {
        let mut pool = AssetPool::new();
        let mut next = 0u32;
        for class in Class::ALL {
            for (s, split) in [AssetSplit::Train, AssetSplit::Held]
                .into_iter()
                .enumerate()
            {
                for j in 0..3 {
                    pool.push_model(
                        split,
                        PoolModel {
                            key: ModelKey::new(class, format!("m{s}-{j}")),
                            mesh: MeshId(next),
                            radius: 0.42,
                            half_extents: [0.35, 0.2, 0.15],
                        },
                    );
                    next += 1;
                }
            }
        }
        for (s, split) in [AssetSplit::Train, AssetSplit::Held]
            .into_iter()
            .enumerate()
        {
            for j in 0..4 {
                pool.push_texture(
                    split,
                    PoolTexture {
                        name: format!("t{s}/{j}"),
                        id: TextureId(s as u32 * 4 + j),
                    },
                );
            }
        }
        pool
    }

    #[test]
    fn samples_are_pure_functions_of_the_index() {
        let pool = fake_pool();
        let p = SceneParams::new("TCVL".parse().unwrap(), SceneKind::Multi, 5);
        let a = sample_scene(&p, &pool, AssetSplit::Train, "train", 17).unwrap();
        let _ = sample_scene(&p, &pool, AssetSplit::Train, "train", 3).unwrap();
        let b = sample_scene(&p, &pool, AssetSplit::Train, "train", 17).unwrap();
        assert_eq!(a, b);
        let c = sample_scene(&p, &pool, AssetSplit::Train, "train", 18).unwrap();
        assert_ne!(a.scene, c.scene);
    }

    #[test]
    fn variants_change_only_their_factor() {
        let pool = fake_pool();
        let plain = SceneParams::new(Variant::PLAIN, SceneKind::Single, 9);
        let v = SceneParams::new("--V-".parse().unwrap(), SceneKind::Single, 9);
        for i in 0..50 {
            let a = sample_scene(&plain, &pool, AssetSplit::Train, "train", i).unwrap();
            let b = sample_scene(&v, &pool, AssetSplit::Train, "train", i).unwrap();
            assert_eq!(a.class, b.class);
            assert_eq!(a.meta.objects[0].model_id, b.meta.objects[0].model_id);
            assert_eq!(a.meta.objects[0].color_rgb, b.meta.objects[0].color_rgb);
            assert_eq!(a.scene.light, b.scene.light);
            assert_eq!(a.pose, 0, "without V every sample is upright");
            assert!(a.scene.background.texture.is_none());
            assert!(a.scene.objects[0].material.texture.is_none());
            assert_eq!(a.scene.light.position, light_position(LIGHT_ANGLE));
        }
    }

    #[test]
    fn textures_and_models_come_from_the_asset_split() {
        let pool = fake_pool();
        let p = SceneParams::new("T---".parse().unwrap(), SceneKind::Multi, 1);
        for i in 0..100 {
            let s = sample_scene(&p, &pool, AssetSplit::Held, "val", i).unwrap();
            for o in &s.meta.objects {
                assert!(o.model_id.starts_with("m1-"), "{}", o.model_id);
                assert!(o.texture.as_deref().unwrap().starts_with("t1/"));
            }
            assert!(
                s.meta
                    .background
                    .texture
                    .as_deref()
                    .unwrap()
                    .starts_with("t1/")
            );
        }
    }

    #[test]
    fn chosen_classes_are_balanced_keep_their_ids_and_all_ten_match_sample_class() {
        // The ten-class draw is unchanged: the former fixed-array implementation.
        let old = |seed: u64, index: u64| {
            let mut rng = keyed_rng(b"class-block", seed);
            rng.set_stream(index / 10);
            let mut perm: [usize; 10] = std::array::from_fn(|i| i);
            perm.shuffle(&mut rng);
            Class::ALL[perm[(index % 10) as usize]]
        };
        for i in 0..500 {
            assert_eq!(sample_class_among(7, i, &Class::ALL), Some(old(7, i)));
        }
        let chosen = [Class::Airplane, Class::Car, Class::Chair];
        let mut counts = [0usize; 10];
        for block in 0..300u64 {
            let mut seen: Vec<Class> = (0..3)
                .map(|k| sample_class_among(5, 3 * block + k, &chosen).unwrap())
                .collect();
            seen.sort();
            assert_eq!(seen, chosen, "block {block}");
            for c in seen {
                counts[c.index()] += 1;
            }
        }
        assert_eq!(counts, [300, 0, 0, 300, 300, 0, 0, 0, 0, 0]);
        assert_eq!(sample_class_among(5, 0, &[]), None);

        // Scenes: every object of a multi-object scene is of a chosen class, labels are the
        // ten-class ids.
        let pool = fake_pool();
        let mut p = SceneParams::new(Variant::PLAIN, SceneKind::Multi, 2);
        p.classes = chosen.to_vec();
        for i in 0..60 {
            let s = sample_scene(&p, &pool, AssetSplit::Train, "train", i).unwrap();
            assert!(chosen.iter().any(|c| c.index() == s.class), "{}", s.class);
            for o in &s.meta.objects {
                let c = Class::from_index(o.class).unwrap();
                assert!(chosen.contains(&c), "{c}");
                assert_eq!(o.class_id as usize, o.class + 1);
            }
        }
        // A pool without models of a chosen class fails the check naming it; other classes do
        // not matter.
        let mut partial = AssetPool::new();
        for m in pool.models(Class::Car, AssetSplit::Train) {
            partial.push_model(AssetSplit::Train, m.clone());
        }
        assert!(
            partial
                .check(AssetSplit::Train, false, &[Class::Car])
                .is_ok()
        );
        let e = partial
            .check(AssetSplit::Train, false, &[Class::Car, Class::Chair])
            .unwrap_err();
        assert_eq!(
            e,
            SamplerError::NoModels {
                class: Class::Chair,
                split: AssetSplit::Train
            }
        );
        p.classes.clear();
        assert_eq!(
            sample_scene(&p, &pool, AssetSplit::Train, "train", 0).unwrap_err(),
            SamplerError::NoClasses
        );
    }

    #[test]
    fn classes_are_balanced_in_any_window() {
        let n = 10_000u64;
        let mut counts = [0usize; 10];
        for i in 0..n {
            counts[sample_class(3, i).index()] += 1;
        }
        assert!(counts.iter().all(|&c| c == 1000), "{counts:?}");
        // an unaligned window of 1,234 samples
        let mut counts = [0usize; 10];
        for i in 517..517 + 1234 {
            counts[sample_class(3, i).index()] += 1;
        }
        for c in counts {
            assert!((c as f64 / 1234.0 - 0.1).abs() < 0.01, "{counts:?}");
        }
    }

    #[test]
    fn class_colors_are_tied_to_the_class_without_c() {
        let pool = fake_pool();
        let p = SceneParams::new(Variant::PLAIN, SceneKind::Single, 4);
        for i in 0..200 {
            let s = sample_scene(&p, &pool, AssetSplit::Train, "train", i).unwrap();
            let o = &s.meta.objects[0];
            let r = p.class_colors[o.class][0];
            let d = (o.color_hsv[0] - r + 0.5).rem_euclid(1.0) - 0.5;
            assert!(d.abs() < 0.3, "hue {} vs reference {r}", o.color_hsv[0]);
        }
    }

    #[test]
    fn multi_object_scenes_spread_without_interpenetration() {
        let pool = fake_pool();
        let mut p = SceneParams::new("--V-".parse().unwrap(), SceneKind::Multi, 2);
        p.layout = MultiLayout::Spread;
        let cam = Camera::paper_default();
        let eye = Vec3::from(cam.position);
        let f = (Vec3::from(cam.target) - eye).normalize();
        let r = f.cross(Vec3::Z).normalize();
        let u = r.cross(f);
        let tan = (cam.fov_y_deg.to_radians() / 2.0).tan();
        let mut inside = 0;
        let mut total = 0;
        let mut overlaps = 0;
        for i in 0..300 {
            let s = sample_scene(&p, &pool, AssetSplit::Train, "train", i).unwrap();
            assert_eq!(s.scene.objects.len(), 4);
            let ids: Vec<u8> = s.scene.objects.iter().map(|o| o.instance_id).collect();
            assert_eq!(ids, vec![1, 2, 3, 4]);
            for (a, oa) in s.meta.objects.iter().enumerate() {
                let ca = Vec3::from(oa.position);
                let v = ca - eye;
                let (x, y) = (v.dot(r) / (v.dot(f) * tan), v.dot(u) / (v.dot(f) * tan));
                total += 1;
                if x.abs() < 1.0 && y.abs() < 1.0 {
                    inside += 1;
                }
                for ob in &s.meta.objects[a + 1..] {
                    let ra = 0.42 * oa.scale * oa.stretch.iter().cloned().fold(0.0, f32::max);
                    let rb = 0.42 * ob.scale * ob.stretch.iter().cloned().fold(0.0, f32::max);
                    if (ca - Vec3::from(ob.position)).length() < ra + rb - 1e-4 {
                        overlaps += 1;
                    }
                }
            }
        }
        assert_eq!(inside, total, "object centres inside the frame");
        assert!(overlaps <= 3, "{overlaps} overlapping pairs in 300 scenes");
    }

    /// The world-space box of an object of the fake pool, from its meta.
    fn meta_obb(o: &ObjectMeta) -> Obb {
        let r = Mat3::from_cols_array_2d(&o.rotation).transpose(); // rows -> columns
        Obb {
            center: Vec3::from(o.position),
            axes: [r.x_axis, r.y_axis, r.z_axis],
            half: Vec3::new(0.35, 0.2, 0.15) * Vec3::from(o.stretch) * o.scale,
        }
    }

    #[test]
    fn overlap_layout_overlaps_in_the_image_without_interpenetration() {
        let pool = fake_pool();
        let p = SceneParams::new("--V-".parse().unwrap(), SceneKind::Multi, 2);
        assert_eq!(p.layout, MultiLayout::Overlap);
        let cam = Camera::paper_default();
        let eye = Vec3::from(cam.position);
        let f = (Vec3::from(cam.target) - eye).normalize();
        let r = f.cross(Vec3::Z).normalize();
        let u = r.cross(f);
        let tan = (cam.fov_y_deg.to_radians() / 2.0).tan();
        let radius = Vec3::new(0.35, 0.2, 0.15).length();
        let (mut scenes_with_overlap, mut depth_spread) = (0, 0.0f32);
        let n = 300;
        for i in 0..n {
            let s = sample_scene(&p, &pool, AssetSplit::Train, "train", i).unwrap();
            assert_eq!(s.meta.layout, Some(MultiLayout::Overlap));
            let mut projected = Vec::new();
            let mut depths = Vec::new();
            for (a, oa) in s.meta.objects.iter().enumerate() {
                assert_eq!(oa.scale, OBJECT_SCALE, "full single-object scale");
                let box_a = meta_obb(oa);
                for ob in &s.meta.objects[a + 1..] {
                    assert!(
                        !box_a.intersects(&meta_obb(ob), 0.0),
                        "scene {i}: objects interpenetrate"
                    );
                }
                let v = Vec3::from(oa.position) - eye;
                let depth = v.dot(f);
                let (x, y) = (v.dot(r) / (depth * tan), v.dot(u) / (depth * tan));
                assert!(
                    x.abs() < 1.0 && y.abs() < 1.0,
                    "scene {i}: centre off frame"
                );
                let rad = radius * oa.stretch.iter().cloned().fold(0.0, f32::max) * oa.scale
                    / (depth * tan);
                projected.push((x, y, rad));
                depths.push(depth);
            }
            // Some pair of projected bounding circles overlaps substantially.
            let overlapping = projected.iter().enumerate().any(|(a, pa)| {
                projected[a + 1..].iter().any(|pb| {
                    ((pa.0 - pb.0).powi(2) + (pa.1 - pb.1).powi(2)).sqrt() < 0.7 * (pa.2 + pb.2)
                })
            });
            scenes_with_overlap += usize::from(overlapping);
            let (lo, hi) = depths
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &d| (l.min(d), h.max(d)));
            depth_spread += (hi - lo) / n as f32;
        }
        assert!(
            scenes_with_overlap > n as usize * 8 / 10,
            "only {scenes_with_overlap} of {n} scenes overlap in the image"
        );
        assert!(
            depth_spread > 0.5,
            "objects at similar depths: {depth_spread}"
        );
    }

    #[test]
    fn visibility_counts_pixels_and_marks_presence() {
        let pool = fake_pool();
        let p = SceneParams::new(Variant::PLAIN, SceneKind::Multi, 2);
        let mut s = sample_scene(&p, &pool, AssetSplit::Train, "train", 0).unwrap();
        // instance ids 1..=4: 30, 5, 0 and 12 pixels visible
        let mut instance = vec![0u8; 100];
        instance[..30].fill(1);
        instance[30..35].fill(2);
        instance[40..52].fill(4);
        s.meta.set_visibility(&instance, &[40, 100, 0, 12], 0.1);
        let o = &s.meta.objects;
        assert_eq!(o[0].visible_pixels, Some(30));
        assert_eq!(o[0].visible_fraction, Some(0.75));
        assert_eq!(o[1].visible_fraction, Some(0.05));
        assert_eq!(o[2].visible_fraction, Some(0.0));
        assert_eq!(o[3].visible_fraction, Some(1.0));
        let present: Vec<bool> = o.iter().map(|o| o.present.unwrap()).collect();
        assert_eq!(present, [true, false, false, true]);
        let mut classes = vec![o[0].class, o[3].class];
        classes.sort();
        classes.dedup();
        assert_eq!(s.meta.present_classes, Some(classes));
    }

    #[test]
    fn pose_bins_balanced_with_v() {
        let pool = fake_pool();
        let p = SceneParams::new("--V-".parse().unwrap(), SceneKind::Single, 11);
        let n = 10_000;
        let mut counts = [0usize; 5];
        for i in 0..n {
            counts[sample_scene(&p, &pool, AssetSplit::Train, "train", i)
                .unwrap()
                .pose] += 1;
        }
        for c in counts {
            assert!((c as f64 / n as f64 - 0.2).abs() <= 0.02, "{counts:?}");
        }
    }

    #[test]
    fn missing_assets_are_reported() {
        let mut pool = fake_pool();
        pool.textures[1].clear();
        let p = SceneParams::new("T---".parse().unwrap(), SceneKind::Single, 1);
        let e = sample_scene(&p, &pool, AssetSplit::Held, "test", 0).unwrap_err();
        assert_eq!(
            e,
            SamplerError::NoTextures {
                split: AssetSplit::Held
            }
        );
        let p = SceneParams::new(Variant::PLAIN, SceneKind::Single, 1);
        assert!(sample_scene(&p, &pool, AssetSplit::Held, "test", 0).is_ok());
        pool.models[3][0].clear();
        let e = sample_scene(&p, &pool, AssetSplit::Train, "train", 0).unwrap_err();
        assert!(e.to_string().contains("car"), "{e}");
    }
}
