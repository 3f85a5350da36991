//! One annotated image as stored in a shard row.

/// One dataset sample: the image and all its labels, as written to (and read from) MDS columns.
///
/// Columns: `image` ndarray:uint8:H,W,3 · `class` int · `pose` int · `segmentation`
/// ndarray:uint8:H,W · `instance` ndarray:uint8:H,W · `depth` ndarray:uint16:H,W (millimetres) ·
/// `meta` json.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Image height in pixels.
    pub height: u32,
    /// Image width in pixels.
    pub width: u32,
    /// sRGB colour, HWC, `height * width * 3` bytes.
    pub image: Vec<u8>,
    /// Class index (0..10) of the (first) object; multi-object samples store the first object's.
    pub class: i64,
    /// Pose bin (0..5) of the (first) object.
    pub pose: i64,
    /// Class map: 0 background, class index + 1 elsewhere.
    pub segmentation: Vec<u8>,
    /// Instance map: 0 background, object k + 1 elsewhere.
    pub instance: Vec<u8>,
    /// Camera-space depth in millimetres.
    pub depth: Vec<u16>,
    /// Per-sample metadata (seed, index, model ids, synsets, rotation, colours, textures, light,
    /// camera, scale, stretch).
    pub meta: serde_json::Value,
}
