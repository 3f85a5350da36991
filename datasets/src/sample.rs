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

use crate::error::DatasetError;
use crate::mds::{Column, Dtype, Encoding, NdArray, Value};

fn ndarray(dtype: Dtype, shape: Vec<usize>) -> Encoding {
    Encoding::Ndarray {
        dtype: Some(dtype),
        shape: Some(shape),
    }
}

impl Sample {
    /// The MDS columns of an `h` x `w` dataset, sorted by name (the order of [`Sample::to_row`]):
    /// `class` int, `depth` ndarray:uint16:H,W, `image` ndarray:uint8:H,W,3, `instance`
    /// ndarray:uint8:H,W, `meta` json, `pose` int, `segmentation` ndarray:uint8:H,W.
    pub fn columns(height: u32, width: u32) -> Vec<Column> {
        let (h, w) = (height as usize, width as usize);
        let col = |name: &str, encoding| Column {
            name: name.to_string(),
            encoding,
        };
        vec![
            col("class", Encoding::Int),
            col("depth", ndarray(Dtype::U16, vec![h, w])),
            col("image", ndarray(Dtype::U8, vec![h, w, 3])),
            col("instance", ndarray(Dtype::U8, vec![h, w])),
            col("meta", Encoding::Json),
            col("pose", Encoding::Int),
            col("segmentation", ndarray(Dtype::U8, vec![h, w])),
        ]
    }

    /// Values in the order of [`Sample::columns`].
    pub fn to_row(&self) -> Vec<Value> {
        let (h, w) = (self.height as usize, self.width as usize);
        vec![
            Value::Int(self.class),
            Value::Ndarray(NdArray::from_u16(vec![h, w], &self.depth)),
            Value::Ndarray(NdArray::from_u8(vec![h, w, 3], self.image.clone())),
            Value::Ndarray(NdArray::from_u8(vec![h, w], self.instance.clone())),
            Value::Json(self.meta.clone()),
            Value::Int(self.pose),
            Value::Ndarray(NdArray::from_u8(vec![h, w], self.segmentation.clone())),
        ]
    }

    /// Build a sample from a decoded row (`row[i]` belongs to `columns[i]`, any order; extra
    /// columns are ignored). Every column of [`Sample::columns`] must be present with the right
    /// dtype and shape.
    pub fn from_row(columns: &[Column], row: Vec<Value>) -> Result<Sample, DatasetError> {
        if columns.len() != row.len() {
            return Err(DatasetError::Column {
                column: "*".into(),
                reason: format!("{} values for {} columns", row.len(), columns.len()),
            });
        }
        let mut class = None;
        let mut pose = None;
        let mut meta = None;
        let mut arrays: [Option<NdArray>; 4] = [None, None, None, None];
        const ARRAYS: [(&str, Dtype, usize); 4] = [
            ("image", Dtype::U8, 3),
            ("segmentation", Dtype::U8, 2),
            ("instance", Dtype::U8, 2),
            ("depth", Dtype::U16, 2),
        ];
        for (col, value) in columns.iter().zip(row) {
            let err = |reason: String| DatasetError::Column {
                column: col.name.clone(),
                reason,
            };
            match col.name.as_str() {
                "class" | "pose" => {
                    let v = value.as_i64().ok_or_else(|| {
                        err(format!("expected an integer, found {}", value.kind()))
                    })?;
                    if col.name == "class" {
                        class = Some(v);
                    } else {
                        pose = Some(v);
                    }
                }
                "meta" => match value {
                    Value::Json(j) => meta = Some(j),
                    other => return Err(err(format!("expected json, found {}", other.kind()))),
                },
                name => {
                    if let Some(k) = ARRAYS.iter().position(|(n, _, _)| *n == name) {
                        let (_, dtype, ndim) = ARRAYS[k];
                        match value {
                            Value::Ndarray(a) if a.dtype == dtype && a.shape.len() == ndim => {
                                arrays[k] = Some(a)
                            }
                            Value::Ndarray(a) => {
                                return Err(err(format!(
                                    "expected {dtype} with {ndim} dimensions, found {} of shape {:?}",
                                    a.dtype, a.shape
                                )));
                            }
                            other => {
                                return Err(err(format!(
                                    "expected ndarray, found {}",
                                    other.kind()
                                )));
                            }
                        }
                    }
                }
            }
        }
        let missing = |name: &str| DatasetError::Column {
            column: name.to_string(),
            reason: "missing".into(),
        };
        let [image, segmentation, instance, depth] = arrays;
        let image = image.ok_or_else(|| missing("image"))?;
        let (h, w) = (image.shape[0], image.shape[1]);
        if image.shape[2] != 3 {
            return Err(DatasetError::Column {
                column: "image".into(),
                reason: format!("expected 3 channels, shape is {:?}", image.shape),
            });
        }
        let mut maps = Vec::new();
        for (name, a) in [
            ("segmentation", segmentation),
            ("instance", instance),
            ("depth", depth),
        ] {
            let a = a.ok_or_else(|| missing(name))?;
            if a.shape != [h, w] {
                return Err(DatasetError::Column {
                    column: name.into(),
                    reason: format!("shape {:?} does not match the image's {h}x{w}", a.shape),
                });
            }
            maps.push(a);
        }
        let depth = maps
            .pop()
            .and_then(|d| d.to_u16())
            .ok_or_else(|| missing("depth"))?;
        let instance = maps.pop().ok_or_else(|| missing("instance"))?.data;
        let segmentation = maps.pop().ok_or_else(|| missing("segmentation"))?.data;
        let dim = |n: usize, name: &str| {
            u32::try_from(n).map_err(|_| DatasetError::Column {
                column: name.into(),
                reason: format!("dimension {n} too large"),
            })
        };
        Ok(Sample {
            height: dim(h, "image")?,
            width: dim(w, "image")?,
            image: image.data,
            class: class.ok_or_else(|| missing("class"))?,
            pose: pose.ok_or_else(|| missing("pose"))?,
            segmentation,
            instance,
            depth,
            meta: meta.ok_or_else(|| missing("meta"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(h: u32, w: u32) -> Sample {
        let n = (h * w) as usize;
        Sample {
            height: h,
            width: w,
            image: (0..n * 3).map(|i| (i * 7) as u8).collect(),
            class: 9,
            pose: 4,
            segmentation: (0..n).map(|i| (i % 11) as u8).collect(),
            instance: (0..n).map(|i| (i % 5) as u8).collect(),
            depth: (0..n)
                .map(|i| if i == 0 { 65535 } else { (i * 13) as u16 })
                .collect(),
            meta: serde_json::json!({"models": ["02691156/x"], "light": [0.5, -1.0]}),
        }
    }

    #[test]
    fn columns_sorted_and_row_round_trip() {
        let cols = Sample::columns(4, 6);
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(cols[2].encoding.to_string(), "ndarray:uint8:4,6,3");
        assert_eq!(cols[1].encoding.to_string(), "ndarray:uint16:4,6");
        let s = sample(4, 6);
        assert_eq!(Sample::from_row(&cols, s.to_row()).unwrap(), s);
    }

    #[test]
    fn from_row_rejects_wrong_shapes() {
        let cols = Sample::columns(4, 6);
        let mut row = sample(4, 6).to_row();
        row[3] = Value::Ndarray(NdArray::from_u8(vec![6, 4], vec![0; 24]));
        let err = Sample::from_row(&cols, row).unwrap_err().to_string();
        assert!(err.contains("instance"), "{err}");
        let mut row = sample(4, 6).to_row();
        row[0] = Value::Str("x".into());
        assert!(Sample::from_row(&cols, row).is_err());
        let row = sample(4, 6).to_row();
        assert!(Sample::from_row(&cols[..6], row[..6].to_vec()).is_err());
    }
}
