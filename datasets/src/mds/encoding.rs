//! MDS column encodings and values, byte-for-byte as `streaming/base/format/mds/encodings.py`.
//!
//! Input: an encoding name such as `int`, `json` or `ndarray:uint8:64,64,3` and a [`Value`].
//! Output: the encoded column bytes (and back). Encodings that carry an opaque payload we do not
//! interpret (`png`, `jpeg`, `pil`, `pkl`, `list[..]`, `jpeg_array`) round-trip as
//! [`Value::Bytes`], exactly as streaming's `mds_encode` passes `bytes` objects through.

use std::fmt;
use std::str::FromStr;

use super::{MdsError, pyjson};

/// Element type of a scalar or ndarray column (numpy dtype name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// `uint8`
    U8,
    /// `int8`
    I8,
    /// `uint16`
    U16,
    /// `int16`
    I16,
    /// `float16`
    F16,
    /// `uint32`
    U32,
    /// `int32`
    I32,
    /// `float32`
    F32,
    /// `uint64`
    U64,
    /// `int64`
    I64,
    /// `float64`
    F64,
}

impl Dtype {
    /// All dtypes streaming's `NDArray` accepts.
    pub const ALL: [Dtype; 11] = [
        Dtype::U8,
        Dtype::I8,
        Dtype::U16,
        Dtype::I16,
        Dtype::F16,
        Dtype::U32,
        Dtype::I32,
        Dtype::F32,
        Dtype::U64,
        Dtype::I64,
        Dtype::F64,
    ];

    /// numpy name (`uint8`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::U8 => "uint8",
            Dtype::I8 => "int8",
            Dtype::U16 => "uint16",
            Dtype::I16 => "int16",
            Dtype::F16 => "float16",
            Dtype::U32 => "uint32",
            Dtype::I32 => "int32",
            Dtype::F32 => "float32",
            Dtype::U64 => "uint64",
            Dtype::I64 => "int64",
            Dtype::F64 => "float64",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 | Dtype::I8 => 1,
            Dtype::U16 | Dtype::I16 | Dtype::F16 => 2,
            Dtype::U32 | Dtype::I32 | Dtype::F32 => 4,
            Dtype::U64 | Dtype::I64 | Dtype::F64 => 8,
        }
    }

    /// Code of the dtype byte in dynamic-dtype ndarray payloads (`NDArray._value_dtype2int`).
    pub fn code(self) -> u8 {
        match self {
            Dtype::U8 => 8,
            Dtype::I8 => 9,
            Dtype::U16 => 16,
            Dtype::I16 => 17,
            Dtype::F16 => 18,
            Dtype::U32 => 32,
            Dtype::I32 => 33,
            Dtype::F32 => 34,
            Dtype::U64 => 64,
            Dtype::I64 => 65,
            Dtype::F64 => 66,
        }
    }

    /// Inverse of [`Dtype::code`].
    pub fn from_code(code: u8) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.code() == code)
    }

    /// Inverse of [`Dtype::name`].
    pub fn from_name(name: &str) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.name() == name)
    }

    fn is_float(self) -> bool {
        matches!(self, Dtype::F16 | Dtype::F32 | Dtype::F64)
    }

    fn is_signed(self) -> bool {
        matches!(self, Dtype::I8 | Dtype::I16 | Dtype::I32 | Dtype::I64)
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An MDS column encoding (the strings of `column_encodings` in `index.json`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `bytes`: raw bytes.
    Bytes,
    /// `str`: UTF-8 text.
    Str,
    /// `int`: int64 little-endian, 8 bytes.
    Int,
    /// `uint8` ... `float64`: one numpy scalar, little-endian.
    Scalar(Dtype),
    /// `str_int`: an integer as decimal digits.
    StrInt,
    /// `str_float`: a float as Python `str(float)` text.
    StrFloat,
    /// `str_decimal`: a decimal as text.
    StrDecimal,
    /// `json`: UTF-8 JSON text.
    Json,
    /// `ndarray[:DTYPE[:D1,D2,..]]`: raw little-endian values, with a dtype byte and/or shape
    /// header when the dtype/shape is not given in the encoding.
    Ndarray {
        /// Static dtype, if given.
        dtype: Option<Dtype>,
        /// Static shape, if given (all dimensions >= 1).
        shape: Option<Vec<usize>>,
    },
    /// Encodings whose payload we keep as opaque bytes (streaming's `pil`, `jpeg`, `png`, `pkl`,
    /// `jpeg_array`, `jpegarray`, `list[pil]`, `list[jpeg]`, `list[png]`).
    Opaque(String),
}

const OPAQUE: [&str; 9] = [
    "pil",
    "jpeg",
    "png",
    "pkl",
    "jpeg_array",
    "jpegarray",
    "list[pil]",
    "list[jpeg]",
    "list[png]",
];

impl Encoding {
    /// Fixed encoded size in bytes (`get_mds_encoded_size`), `None` for variable-size columns.
    pub fn fixed_size(&self) -> Option<usize> {
        match self {
            Encoding::Int => Some(8),
            Encoding::Scalar(d) => Some(d.size()),
            Encoding::Ndarray {
                dtype: Some(d),
                shape: Some(s),
            } => Some(s.iter().product::<usize>() * d.size()),
            _ => None,
        }
    }

    /// Encode one value of this column.
    pub fn encode(&self, value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
        match (self, value) {
            // streaming's mds_encode passes `bytes` through for every encoding.
            (_, Value::Bytes(b)) => {
                if let Some(n) = self.fixed_size()
                    && n != b.len()
                {
                    return Err(format!("expected {n} bytes, got {}", b.len()));
                }
                out.extend_from_slice(b);
            }
            (Encoding::Str | Encoding::StrDecimal, Value::Str(s)) => {
                out.extend_from_slice(s.as_bytes())
            }
            (Encoding::Int, Value::Int(i)) => out.extend_from_slice(&i.to_le_bytes()),
            (Encoding::Int, Value::UInt(u)) => {
                let i = i64::try_from(*u).map_err(|_| format!("{u} does not fit int64"))?;
                out.extend_from_slice(&i.to_le_bytes());
            }
            (Encoding::Scalar(d), v) => encode_scalar(*d, v, out)?,
            (Encoding::StrInt, Value::Int(i)) => out.extend_from_slice(i.to_string().as_bytes()),
            (Encoding::StrInt, Value::UInt(u)) => out.extend_from_slice(u.to_string().as_bytes()),
            (Encoding::StrFloat, Value::Float(f)) => {
                out.extend_from_slice(python_float_str(*f).as_bytes())
            }
            (Encoding::Json, Value::Json(j)) => {
                out.extend_from_slice(pyjson::dumps_unsorted(j).as_bytes());
            }
            (Encoding::Ndarray { dtype, shape }, Value::Ndarray(a)) => {
                a.check()?;
                match dtype {
                    Some(d) if *d != a.dtype => {
                        return Err(format!("wrong dtype: expected {d}, got {}", a.dtype));
                    }
                    Some(_) => {}
                    None => out.push(a.dtype.code()),
                }
                if a.shape.is_empty() || a.shape.contains(&0) {
                    return Err(format!("ndarray shape {:?} has no elements", a.shape));
                }
                match shape {
                    Some(s) if *s != a.shape => {
                        return Err(format!("wrong shape: expected {s:?}, got {:?}", a.shape));
                    }
                    Some(_) => {}
                    None => {
                        let max = a.shape.iter().copied().max().unwrap_or(1) as u64;
                        let (code, width) = if max < 1 << 8 {
                            (0u8, 1)
                        } else if max < 1 << 16 {
                            (1, 2)
                        } else if max < 1 << 32 {
                            (2, 4)
                        } else {
                            (3, 8)
                        };
                        if a.shape.len() >= 64 {
                            return Err(format!("too many axes: {}", a.shape.len()));
                        }
                        out.push(((a.shape.len() as u8) << 2) | code);
                        for &dim in &a.shape {
                            out.extend_from_slice(&(dim as u64).to_le_bytes()[..width]);
                        }
                    }
                }
                out.extend_from_slice(&a.data);
            }
            (enc, v) => {
                return Err(format!("cannot encode a {} value as `{enc}`", v.kind()));
            }
        }
        Ok(())
    }

    /// Decode one column payload.
    pub fn decode(&self, data: &[u8]) -> Result<Value, String> {
        if let Some(n) = self.fixed_size()
            && n != data.len()
        {
            return Err(format!("expected {n} bytes, found {}", data.len()));
        }
        Ok(match self {
            Encoding::Bytes | Encoding::Opaque(_) => Value::Bytes(data.to_vec()),
            Encoding::Str => Value::Str(utf8(data)?),
            Encoding::StrDecimal => Value::Str(utf8(data)?),
            Encoding::Int => Value::Int(i64::from_le_bytes(arr8(data))),
            Encoding::Scalar(d) => decode_scalar(*d, data),
            Encoding::StrInt => {
                let s = utf8(data)?;
                let t = s.trim();
                if let Ok(i) = t.parse::<i64>() {
                    Value::Int(i)
                } else {
                    Value::UInt(
                        t.parse::<u64>()
                            .map_err(|_| format!("`{s}` is not an integer"))?,
                    )
                }
            }
            Encoding::StrFloat => {
                let s = utf8(data)?;
                let t = s.trim();
                let f = match t {
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    "nan" => f64::NAN,
                    _ => t
                        .parse::<f64>()
                        .map_err(|_| format!("`{s}` is not a float"))?,
                };
                Value::Float(f)
            }
            Encoding::Json => {
                Value::Json(serde_json::from_slice(data).map_err(|e| format!("invalid JSON: {e}"))?)
            }
            Encoding::Ndarray { dtype, shape } => {
                let mut i = 0usize;
                let dtype = match dtype {
                    Some(d) => *d,
                    None => {
                        let code = *data.first().ok_or("empty ndarray payload")?;
                        i += 1;
                        Dtype::from_code(code)
                            .ok_or_else(|| format!("unknown ndarray dtype code {code}"))?
                    }
                };
                let shape = match shape {
                    Some(s) => s.clone(),
                    None => {
                        let byte = *data.get(i).ok_or("ndarray payload ends before its shape")?;
                        i += 1;
                        let ndim = (byte >> 2) as usize;
                        let width = 1usize << (byte & 3);
                        let end = i + ndim * width;
                        let dims = data
                            .get(i..end)
                            .ok_or("ndarray payload ends inside its shape")?;
                        i = end;
                        dims.chunks_exact(width)
                            .map(|c| {
                                let mut b = [0u8; 8];
                                b[..width].copy_from_slice(c);
                                u64::from_le_bytes(b) as usize
                            })
                            .collect()
                    }
                };
                let values = &data[i..];
                let a = NdArray {
                    dtype,
                    shape,
                    data: values.to_vec(),
                };
                a.check()?;
                Value::Ndarray(a)
            }
        })
    }
}

fn utf8(data: &[u8]) -> Result<String, String> {
    String::from_utf8(data.to_vec()).map_err(|e| format!("invalid UTF-8: {e}"))
}

fn arr8(data: &[u8]) -> [u8; 8] {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[..8]);
    b
}

fn encode_scalar(d: Dtype, v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    let range_err = |x: &dyn fmt::Display| format!("{x} does not fit {d}");
    match v {
        Value::Int(_) | Value::UInt(_) if d.is_float() => {
            let f = match v {
                Value::Int(i) => *i as f64,
                Value::UInt(u) => *u as f64,
                _ => unreachable!(),
            };
            encode_scalar(d, &Value::Float(f), out)?;
        }
        Value::Int(_) | Value::UInt(_) => {
            let wide: i128 = match v {
                Value::Int(i) => *i as i128,
                Value::UInt(u) => *u as i128,
                _ => unreachable!(),
            };
            let bits = d.size() * 8;
            let (lo, hi) = if d.is_signed() {
                (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
            } else {
                (0, (1i128 << bits) - 1)
            };
            if wide < lo || wide > hi {
                return Err(range_err(&wide));
            }
            out.extend_from_slice(&wide.to_le_bytes()[..d.size()]);
        }
        Value::Float(f) => match d {
            Dtype::F32 => out.extend_from_slice(&(*f as f32).to_le_bytes()),
            Dtype::F64 => out.extend_from_slice(&f.to_le_bytes()),
            Dtype::F16 => out.extend_from_slice(&f32_to_f16(*f as f32).to_le_bytes()),
            _ => return Err(format!("cannot store float {f} in {d}")),
        },
        other => return Err(format!("cannot encode a {} value as `{d}`", other.kind())),
    }
    Ok(())
}

fn decode_scalar(d: Dtype, b: &[u8]) -> Value {
    match d {
        Dtype::U8 => Value::UInt(b[0] as u64),
        Dtype::I8 => Value::Int(b[0] as i8 as i64),
        Dtype::U16 => Value::UInt(u16::from_le_bytes([b[0], b[1]]) as u64),
        Dtype::I16 => Value::Int(i16::from_le_bytes([b[0], b[1]]) as i64),
        Dtype::F16 => Value::Float(f16_to_f32(u16::from_le_bytes([b[0], b[1]])) as f64),
        Dtype::U32 => Value::UInt(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64),
        Dtype::I32 => Value::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64),
        Dtype::F32 => Value::Float(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
        Dtype::U64 => Value::UInt(u64::from_le_bytes(arr8(b))),
        Dtype::I64 => Value::Int(i64::from_le_bytes(arr8(b))),
        Dtype::F64 => Value::Float(f64::from_le_bytes(arr8(b))),
    }
}

/// IEEE half -> single.
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // subnormal: value = m * 2^-24
            let v = m as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, m) => sign | 0x7fc0_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// IEEE single -> half, round to nearest even.
fn f32_to_f16(f: f32) -> u16 {
    let x = f.to_bits();
    let sign = ((x >> 16) & 0x8000) as u16;
    let exp = ((x >> 23) & 0xff) as i32;
    let man = x & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let mut r = m >> shift;
        let rem = m & ((1 << shift) - 1);
        if rem > half || (rem == half && (r & 1) == 1) {
            r += 1;
        }
        return sign | r as u16;
    }
    let mut r = ((e as u32) << 10) | (man >> 13);
    let rem = man & 0x1fff;
    if rem > 0x1000 || (rem == 0x1000 && (r & 1) == 1) {
        r += 1;
    }
    sign | r as u16
}

/// Python `str(float)` for `str_float` columns.
fn python_float_str(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    pyjson::python_float_repr(f)
}

impl FromStr for Encoding {
    type Err = MdsError;

    /// Parse an encoding string as streaming's `_get_coder` does.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| MdsError::Encoding {
            encoding: text.to_string(),
            reason: why.to_string(),
        };
        let Some((name, config)) = text.split_once(':') else {
            return Ok(match text {
                "bytes" => Encoding::Bytes,
                "str" => Encoding::Str,
                "int" => Encoding::Int,
                "str_int" => Encoding::StrInt,
                "str_float" => Encoding::StrFloat,
                "str_decimal" => Encoding::StrDecimal,
                "json" => Encoding::Json,
                "ndarray" => Encoding::Ndarray {
                    dtype: None,
                    shape: None,
                },
                t if OPAQUE.contains(&t) => Encoding::Opaque(t.to_string()),
                t => match Dtype::from_name(t) {
                    Some(d) => Encoding::Scalar(d),
                    None => return Err(bad("unknown encoding")),
                },
            });
        };
        if name != "ndarray" {
            return Err(bad(
                "only `ndarray` takes parameters (`ndarray:DTYPE:D1,D2,..`)",
            ));
        }
        let mut parts = config.split(':');
        let dtype = match parts.next() {
            Some(d) => Some(Dtype::from_name(d).ok_or_else(|| bad("unknown ndarray dtype"))?),
            None => None,
        };
        let shape = match parts.next() {
            Some(s) => {
                let dims = s
                    .split(',')
                    .map(|d| d.trim().parse::<usize>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| bad("shape must be comma-separated integers"))?;
                if dims.is_empty() || dims.contains(&0) {
                    return Err(bad("every shape dimension must be >= 1"));
                }
                Some(dims)
            }
            None => None,
        };
        if parts.next().is_some() {
            return Err(bad("expected `ndarray:DTYPE:D1,D2,..`"));
        }
        Ok(Encoding::Ndarray { dtype, shape })
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Encoding::Bytes => f.write_str("bytes"),
            Encoding::Str => f.write_str("str"),
            Encoding::Int => f.write_str("int"),
            Encoding::Scalar(d) => f.write_str(d.name()),
            Encoding::StrInt => f.write_str("str_int"),
            Encoding::StrFloat => f.write_str("str_float"),
            Encoding::StrDecimal => f.write_str("str_decimal"),
            Encoding::Json => f.write_str("json"),
            Encoding::Opaque(name) => f.write_str(name),
            Encoding::Ndarray { dtype, shape } => {
                f.write_str("ndarray")?;
                if let Some(d) = dtype {
                    write!(f, ":{d}")?;
                    if let Some(s) = shape {
                        let dims: Vec<String> = s.iter().map(|d| d.to_string()).collect();
                        write!(f, ":{}", dims.join(","))?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// One named, encoded column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Column {
    /// Column name (a key of the sample dict in Python).
    pub name: String,
    /// Its encoding.
    pub encoding: Encoding,
}

impl Column {
    /// A column from a name and an encoding string such as `ndarray:uint8:64,64,3`.
    pub fn new(name: impl Into<String>, encoding: &str) -> Result<Column, MdsError> {
        Ok(Column {
            name: name.into(),
            encoding: encoding.parse()?,
        })
    }
}

/// An n-dimensional array: dtype, shape and raw little-endian (C order) element bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    /// Element type.
    pub dtype: Dtype,
    /// Shape, C order.
    pub shape: Vec<usize>,
    /// `prod(shape) * dtype.size()` bytes.
    pub data: Vec<u8>,
}

impl NdArray {
    /// uint8 array.
    pub fn from_u8(shape: Vec<usize>, data: Vec<u8>) -> NdArray {
        NdArray {
            dtype: Dtype::U8,
            shape,
            data,
        }
    }

    /// uint16 array (stored little-endian).
    pub fn from_u16(shape: Vec<usize>, values: &[u16]) -> NdArray {
        let mut data = Vec::with_capacity(values.len() * 2);
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        NdArray {
            dtype: Dtype::U16,
            shape,
            data,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values of a uint16 array.
    pub fn to_u16(&self) -> Option<Vec<u16>> {
        (self.dtype == Dtype::U16).then(|| {
            self.data
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect()
        })
    }

    fn check(&self) -> Result<(), String> {
        let want = self
            .shape
            .iter()
            .try_fold(self.dtype.size(), |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| format!("ndarray shape {:?} overflows", self.shape))?;
        if want != self.data.len() {
            return Err(format!(
                "{} array of shape {:?} needs {want} bytes, has {}",
                self.dtype,
                self.shape,
                self.data.len()
            ));
        }
        Ok(())
    }
}

/// One decoded column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `int`, signed scalars, `str_int`.
    Int(i64),
    /// Unsigned scalars (`uint8`..`uint64`), large `str_int`.
    UInt(u64),
    /// `float16/32/64`, `str_float`.
    Float(f64),
    /// `bytes` and opaque encodings (`png`, `jpeg`, `pkl`, ...).
    Bytes(Vec<u8>),
    /// `str`, `str_decimal`.
    Str(String),
    /// `json`.
    Json(serde_json::Value),
    /// `ndarray...`.
    Ndarray(NdArray),
}

impl Value {
    /// Short name of the value kind, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::UInt(_) => "uint",
            Value::Float(_) => "float",
            Value::Bytes(_) => "bytes",
            Value::Str(_) => "str",
            Value::Json(_) => "json",
            Value::Ndarray(_) => "ndarray",
        }
    }

    /// The integer, if this is an in-range `Int` or `UInt`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::UInt(u) => i64::try_from(*u).ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for s in [
            "int",
            "bytes",
            "str",
            "json",
            "uint16",
            "float64",
            "str_int",
            "png",
            "list[png]",
            "ndarray",
            "ndarray:uint8",
            "ndarray:uint8:64,64,3",
            "ndarray:uint16:32,32",
        ] {
            let e: Encoding = s.parse().unwrap();
            assert_eq!(e.to_string(), s);
        }
        assert!("ndarray:uint7:3".parse::<Encoding>().is_err());
        assert!("ndarray:uint8:0,3".parse::<Encoding>().is_err());
        assert!("foo".parse::<Encoding>().is_err());
        assert!("int:3".parse::<Encoding>().is_err());
    }

    #[test]
    fn fixed_sizes_match_streaming() {
        let size = |s: &str| s.parse::<Encoding>().unwrap().fixed_size();
        assert_eq!(size("int"), Some(8));
        assert_eq!(size("uint16"), Some(2));
        assert_eq!(size("ndarray:uint8:64,64,3"), Some(12288));
        assert_eq!(size("ndarray:uint16:64,64"), Some(8192));
        assert_eq!(size("ndarray:uint16"), None);
        assert_eq!(size("json"), None);
        assert_eq!(size("str"), None);
    }

    #[test]
    fn int_is_int64_le() {
        let mut out = Vec::new();
        Encoding::Int.encode(&Value::Int(-2), &mut out).unwrap();
        assert_eq!(out, (-2i64).to_le_bytes());
        assert_eq!(Encoding::Int.decode(&out).unwrap(), Value::Int(-2));
    }

    #[test]
    fn dynamic_ndarray_header_matches_streaming() {
        // np.arange(6, dtype=np.uint16).reshape(2, 300 // 100) with dynamic dtype and shape:
        // [dtype 16] [(ndim 2 << 2) | uint8 shape] [2, 3] [values]
        let a = NdArray::from_u16(vec![2, 3], &[0, 1, 2, 3, 4, 5]);
        let e: Encoding = "ndarray".parse().unwrap();
        let mut out = Vec::new();
        e.encode(&Value::Ndarray(a.clone()), &mut out).unwrap();
        assert_eq!(&out[..4], &[16, 8, 2, 3]);
        assert_eq!(out.len(), 4 + 12);
        assert_eq!(e.decode(&out).unwrap(), Value::Ndarray(a.clone()));
        // a dimension >= 256 switches the shape dtype to uint16.
        let b = NdArray::from_u8(vec![1, 300], vec![7; 300]);
        let mut out = Vec::new();
        "ndarray:uint8"
            .parse::<Encoding>()
            .unwrap()
            .encode(&Value::Ndarray(b), &mut out)
            .unwrap();
        assert_eq!(&out[..5], &[(2 << 2) | 1, 1, 0, 44, 1]);
    }

    #[test]
    fn hostile_ndarray_headers_are_errors() {
        let e: Encoding = "ndarray".parse().unwrap();
        // dtype code 99 does not exist
        assert!(e.decode(&[99, 4, 1, 0]).is_err());
        // shape header claims 2 uint64 dims of 2^62 each: overflow, not a panic
        let mut data = vec![8u8, (2 << 2) | 3];
        data.extend_from_slice(&(1u64 << 62).to_le_bytes());
        data.extend_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(e.decode(&data).is_err());
        // shape says 3 values, 2 present
        assert!(e.decode(&[8, (1 << 2), 3, 1, 2]).is_err());
        // truncated shape
        assert!(e.decode(&[8, (3 << 2) | 1, 3]).is_err());
    }

    #[test]
    fn scalars_and_strings() {
        let mut out = Vec::new();
        Encoding::Scalar(Dtype::U8)
            .encode(&Value::Int(255), &mut out)
            .unwrap();
        assert_eq!(out, [255]);
        assert!(
            Encoding::Scalar(Dtype::U8)
                .encode(&Value::Int(256), &mut Vec::new())
                .is_err()
        );
        assert_eq!(python_float_str(1.0), "1.0");
        assert_eq!(python_float_str(1e-7), "1e-07");
        assert_eq!(python_float_str(1.5e16), "1.5e+16");
        for h in [0.0f32, 1.0, -2.5, 65504.0, 0.000061035156] {
            assert_eq!(f16_to_f32(f32_to_f16(h)), h);
        }
    }
}
