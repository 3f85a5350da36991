//! `index.json` entries, compression settings and file hashes, as streaming writes them.
//!
//! Input: shard metadata ([`ShardInfo`]). Output: the `index.json` text of
//! `streaming/base/format/base/writer.py::_write_index` (`json.dump(obj, sort_keys=True)`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::{MdsError, pyjson, writer::write_atomic};

/// File name of the index of an MDS directory.
pub const INDEX_FILE: &str = "index.json";

/// Hash algorithms we record for every shard file, sorted as streaming requires: `sha1` (Python's
/// `hashlib`, so a numpy-only reader can verify) and `xxh64` (fast; streaming's `xxhash`).
pub const HASHES: [&str; 2] = ["sha1", "xxh64"];

/// Whole-shard zstd compression at a level (streaming's `zstd:LEVEL`, levels 1..=22).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Compression {
    level: i32,
}

impl Compression {
    /// zstd at `level` (1..=22).
    pub fn zstd(level: i32) -> Result<Compression, MdsError> {
        if (1..=22).contains(&level) {
            Ok(Compression { level })
        } else {
            Err(MdsError::Compression(format!("zstd:{level}")))
        }
    }

    /// The zstd level.
    pub fn level(&self) -> i32 {
        self.level
    }

    /// File-name extension streaming appends (`get_compression_extension`): `zstd`.
    pub fn extension(&self) -> &'static str {
        "zstd"
    }

    /// Compress a whole raw shard into one zstd frame (with the content size in its header).
    pub fn compress(&self, raw: &[u8]) -> std::io::Result<Vec<u8>> {
        zstd::bulk::compress(raw, self.level)
    }
}

impl Default for Compression {
    /// `zstd:3`, streaming's default zstd level.
    fn default() -> Self {
        Compression { level: 3 }
    }
}

impl FromStr for Compression {
    type Err = MdsError;

    /// Parse `zstd` (level 3) or `zstd:LEVEL`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || MdsError::Compression(s.to_string());
        match s.split_once(':') {
            None if s == "zstd" => Ok(Compression::default()),
            Some(("zstd", level)) => {
                Compression::zstd(level.parse().map_err(|_| bad())?).map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    }
}

impl Serialize for Compression {
    /// As its string, `"zstd:3"`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Compression {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zstd:{}", self.level)
    }
}

/// `raw_data` / `zip_data` of an index entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// File name within the MDS directory.
    pub basename: String,
    /// File size in bytes.
    pub bytes: u64,
    /// Algorithm -> hex digest.
    #[serde(default)]
    pub hashes: BTreeMap<String, String>,
}

impl FileInfo {
    /// Describe `data` stored as `basename`, with our [`HASHES`].
    pub fn of(basename: &str, data: &[u8]) -> FileInfo {
        let hashes = HASHES
            .iter()
            .filter_map(|algo| hash_hex(algo, data).map(|h| (algo.to_string(), h)))
            .collect();
        FileInfo {
            basename: basename.to_string(),
            bytes: data.len() as u64,
            hashes,
        }
    }

    /// Check `data` (the content of `path`) against the recorded size and the first hash we can
    /// compute (`xxh64`, `xxh3_64`, then `sha1`). Returns whether a hash was checked.
    pub fn verify(&self, path: &Path, data: &[u8]) -> Result<bool, MdsError> {
        if data.len() as u64 != self.bytes {
            return Err(MdsError::Size {
                path: path.to_path_buf(),
                expected: self.bytes,
                found: data.len() as u64,
            });
        }
        for algo in ["xxh64", "xxh3_64", "sha1"] {
            if let Some(expected) = self.hashes.get(algo) {
                let found = hash_hex(algo, data).unwrap_or_default();
                if !found.eq_ignore_ascii_case(expected) {
                    return Err(MdsError::Hash {
                        path: path.to_path_buf(),
                        algo: algo.to_string(),
                        expected: expected.clone(),
                        found,
                    });
                }
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Hex digest of `data` as Python's `hashlib`/`xxhash` `hexdigest()` writes it, for the
/// algorithms implemented here (`sha1`, `xxh64`, `xxh3_64`); `None` for others.
pub fn hash_hex(algo: &str, data: &[u8]) -> Option<String> {
    match algo {
        "sha1" => Some(format!("{:x}", Sha1::digest(data))),
        "xxh64" => Some(format!("{:016x}", xxhash_rust::xxh64::xxh64(data, 0))),
        "xxh3_64" => Some(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(data))),
        _ => None,
    }
}

/// One shard's entry in `index.json` (the `obj` of `JointWriter.flush_shard` merged with
/// `MDSWriter.get_config`). Exactly these keys: streaming's `MDSReader.from_json` passes them
/// as keyword arguments, so an extra key would break Python readers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// Encoding of each column, in column (name-sorted) order.
    pub column_encodings: Vec<String>,
    /// Column names, sorted.
    pub column_names: Vec<String>,
    /// Fixed size of each column, `null` for variable-size columns.
    pub column_sizes: Vec<Option<u64>>,
    /// `"zstd:3"` etc., or `null`.
    pub compression: Option<String>,
    /// Always `"mds"`.
    pub format: String,
    /// Hash algorithms applied to the files.
    pub hashes: Vec<String>,
    /// The uncompressed shard.
    pub raw_data: FileInfo,
    /// Number of samples.
    pub samples: u64,
    /// The writer's shard size limit in bytes (`null`: unlimited).
    pub size_limit: Option<u64>,
    /// Always 2.
    pub version: u64,
    /// The compressed shard, or `null` when uncompressed.
    pub zip_data: Option<FileInfo>,
}

impl ShardInfo {
    /// The file actually stored: `zip_data` when compressed, else `raw_data`.
    pub fn stored(&self) -> &FileInfo {
        self.zip_data.as_ref().unwrap_or(&self.raw_data)
    }

    /// This entry as Python's `json.dumps(entry, sort_keys=True)` writes it.
    pub fn to_json(&self) -> String {
        pyjson::dumps(&self.to_value())
    }

    /// This entry as a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        // ShardInfo holds only strings, integers, lists and maps: serialisation cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Parse one entry (as found in `index.json` or a sidecar); `path` is for errors.
    pub fn from_value(path: &Path, value: serde_json::Value) -> Result<ShardInfo, MdsError> {
        let info: ShardInfo = serde_json::from_value(value).map_err(|e| MdsError::Index {
            path: path.to_path_buf(),
            reason: format!("bad shard entry: {e}"),
        })?;
        if info.version != 2 {
            return Err(MdsError::Index {
                path: path.to_path_buf(),
                reason: format!("unsupported version {} (expected 2)", info.version),
            });
        }
        if info.format != "mds" {
            return Err(MdsError::Index {
                path: path.to_path_buf(),
                reason: format!("format `{}` is not `mds`", info.format),
            });
        }
        let n = info.column_names.len();
        if info.column_encodings.len() != n || info.column_sizes.len() != n {
            return Err(MdsError::Index {
                path: path.to_path_buf(),
                reason: "column_names, column_encodings and column_sizes differ in length".into(),
            });
        }
        if info.raw_data.bytes >= 1 << 32 {
            return Err(MdsError::Index {
                path: path.to_path_buf(),
                reason: format!(
                    "raw shard size {} exceeds the 4 GiB the format's u32 offsets allow",
                    info.raw_data.bytes
                ),
            });
        }
        for name in [&info.raw_data.basename]
            .into_iter()
            .chain(info.zip_data.as_ref().map(|z| &z.basename))
        {
            if name.is_empty() || name.contains('/') || name.contains('\\') || name.starts_with('.')
            {
                return Err(MdsError::Index {
                    path: path.to_path_buf(),
                    reason: format!("shard basename `{name}` is not a plain file name"),
                });
            }
        }
        Ok(info)
    }
}

/// The full `index.json` text for `shards`: `{"shards": [...], "version": 2}`, no trailing
/// newline, exactly like `json.dump(obj, out, sort_keys=True)`.
pub fn index_json(shards: &[ShardInfo]) -> String {
    let obj = serde_json::json!({
        "version": 2,
        "shards": shards.iter().map(ShardInfo::to_value).collect::<Vec<_>>(),
    });
    pyjson::dumps(&obj)
}

/// Write `dir/index.json` for `shards` atomically (temp name, fsync, rename).
pub fn write_index(dir: &Path, shards: &[ShardInfo]) -> Result<(), MdsError> {
    write_atomic(&dir.join(INDEX_FILE), index_json(shards).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_parse() {
        assert_eq!("zstd:3".parse::<Compression>().unwrap().level(), 3);
        assert_eq!("zstd".parse::<Compression>().unwrap().to_string(), "zstd:3");
        assert_eq!(
            "zstd:22".parse::<Compression>().unwrap().to_string(),
            "zstd:22"
        );
        for bad in ["zstd:0", "zstd:23", "gz:3", "zstd:x", "", "zstd:"] {
            assert!(bad.parse::<Compression>().is_err(), "{bad}");
        }
    }

    #[test]
    fn hashes_match_python() {
        // python3 -c 'import hashlib; print(hashlib.sha1(b"abc").hexdigest())'
        assert_eq!(
            hash_hex("sha1", b"abc").unwrap(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        // xxhash.xxh64(b"").hexdigest()
        assert_eq!(hash_hex("xxh64", b"").unwrap(), "ef46db3751d8e999");
        assert_eq!(hash_hex("md5", b""), None);
    }
}
