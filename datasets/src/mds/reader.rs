//! Reading MDS directories (ours or streaming's) with validation.
//!
//! Input: a directory with `index.json` and shard files. Output: rows of [`Value`]s per shard.
//! Every shard is checked against `index.json` (file size, hash, decompressed size and hash when
//! needed) and structurally (sample count, monotonic offsets inside the file, embedded JSON
//! config equal to the index entry, per-sample sizes); anything wrong is an [`MdsError`] naming
//! the file, never garbage data.

use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::{Column, Compression, Encoding, INDEX_FILE, MdsError, ShardInfo, Value};

/// An opened MDS directory.
#[derive(Debug, Clone)]
pub struct MdsReader {
    dir: PathBuf,
    shards: Vec<ShardInfo>,
    starts: Vec<usize>,
    columns: Vec<Column>,
}

impl MdsReader {
    /// Open `dir/index.json` and validate every entry (version 2, format mds, known encodings,
    /// zstd or no compression, identical columns in all shards).
    pub fn open(dir: &Path) -> Result<MdsReader, MdsError> {
        let path = dir.join(INDEX_FILE);
        let text = fs::read(&path).map_err(|e| MdsError::io(&path, e))?;
        let bad = |reason: String| MdsError::Index {
            path: path.clone(),
            reason,
        };
        let obj: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        match obj.get("version").and_then(|v| v.as_u64()) {
            Some(2) => {}
            other => return Err(bad(format!("version is {other:?}, expected 2"))),
        }
        let Some(list) = obj.get("shards").and_then(|s| s.as_array()) else {
            return Err(bad("missing `shards` list".into()));
        };
        let mut shards = Vec::with_capacity(list.len());
        for (k, entry) in list.iter().enumerate() {
            let info = ShardInfo::from_value(&path, entry.clone()).map_err(|e| match e {
                MdsError::Index { reason, .. } => bad(format!("shard {k}: {reason}")),
                other => other,
            })?;
            if let Some(c) = &info.compression {
                if c.parse::<Compression>().is_err() {
                    return Err(MdsError::UnsupportedCompression {
                        path: path.clone(),
                        compression: c.clone(),
                    });
                }
                if info.zip_data.is_none() {
                    return Err(bad(format!("shard {k}: compression `{c}` but no zip_data")));
                }
            }
            shards.push(info);
        }
        let columns = match shards.first() {
            Some(first) => columns_of(first).map_err(|e| bad(format!("shard 0: {e}")))?,
            None => Vec::new(),
        };
        for (k, s) in shards.iter().enumerate().skip(1) {
            if s.column_names != shards[0].column_names
                || s.column_encodings != shards[0].column_encodings
            {
                return Err(bad(format!("shard {k} has different columns than shard 0")));
            }
        }
        let mut starts = Vec::with_capacity(shards.len() + 1);
        let mut total = 0usize;
        starts.push(0);
        for s in &shards {
            total += s.samples as usize;
            starts.push(total);
        }
        Ok(MdsReader {
            dir: dir.to_path_buf(),
            shards,
            starts,
            columns,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Total number of samples.
    pub fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of shards.
    pub fn num_shards(&self) -> usize {
        self.shards.len()
    }

    /// Sample indices held by shard `k` (panics if `k >= num_shards()`).
    pub fn shard_range(&self, k: usize) -> Range<usize> {
        self.starts[k]..self.starts[k + 1]
    }

    /// Shard containing sample `i`, if `i < len()`.
    pub fn shard_of(&self, i: usize) -> Option<usize> {
        (i < self.len()).then(|| self.starts.partition_point(|&s| s <= i) - 1)
    }

    /// Columns (sorted by name), empty for a dataset without shards.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The index entries.
    pub fn shards(&self) -> &[ShardInfo] {
        &self.shards
    }

    /// Read, verify and decode shard `k`.
    pub fn read_shard(&self, k: usize) -> Result<Vec<Vec<Value>>, MdsError> {
        let info = self.shards.get(k).ok_or(MdsError::ShardOutOfRange {
            index: k,
            len: self.shards.len(),
        })?;
        let (path, raw) = read_raw(&self.dir, info)?;
        decode_shard(&path, &raw, info)
    }
}

fn columns_of(info: &ShardInfo) -> Result<Vec<Column>, String> {
    let mut columns = Vec::new();
    for ((name, enc), size) in info
        .column_names
        .iter()
        .zip(&info.column_encodings)
        .zip(&info.column_sizes)
    {
        let encoding: Encoding = enc.parse().map_err(|e: MdsError| e.to_string())?;
        if encoding.fixed_size().map(|n| n as u64) != size.filter(|&n| n > 0) {
            return Err(format!(
                "column `{name}`: size {size:?} does not match encoding `{enc}`"
            ));
        }
        columns.push(Column {
            name: name.clone(),
            encoding,
        });
    }
    Ok(columns)
}

/// Read the shard of `info` from `dir` and return the verified uncompressed bytes (and the
/// path they came from). Uses the compressed file when present, else the raw one (streaming
/// leaves a decompressed `shard.NNNNN.mds` beside the `.zstd` once it has read it).
pub(crate) fn read_raw(dir: &Path, info: &ShardInfo) -> Result<(PathBuf, Vec<u8>), MdsError> {
    let raw_path = dir.join(&info.raw_data.basename);
    if let Some(zip) = &info.zip_data {
        let zip_path = dir.join(&zip.basename);
        if zip_path.exists() || !raw_path.exists() {
            let data = read_file(&zip_path, dir)?;
            let checked = zip.verify(&zip_path, &data)?;
            let capacity = info.raw_data.bytes as usize;
            let raw = zstd::bulk::decompress(&data, capacity).map_err(|e| MdsError::Corrupt {
                path: zip_path.clone(),
                reason: format!("zstd decompression failed: {e}"),
            })?;
            if raw.len() as u64 != info.raw_data.bytes {
                return Err(MdsError::Corrupt {
                    path: zip_path,
                    reason: format!(
                        "decompresses to {} bytes, index.json says {}",
                        raw.len(),
                        info.raw_data.bytes
                    ),
                });
            }
            if !checked {
                info.raw_data.verify(&zip_path, &raw)?;
            }
            return Ok((zip_path, raw));
        }
    }
    let data = read_file(&raw_path, dir)?;
    info.raw_data.verify(&raw_path, &data)?;
    Ok((raw_path, data))
}

fn read_file(path: &Path, dir: &Path) -> Result<Vec<u8>, MdsError> {
    fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            MdsError::MissingShard {
                path: path.to_path_buf(),
                index: dir.join(INDEX_FILE).display().to_string(),
            }
        } else {
            MdsError::io(path, e)
        }
    })
}

/// Validate and decode the uncompressed bytes of one shard against its index entry; `path`
/// names the file in errors.
pub fn decode_shard(
    path: &Path,
    raw: &[u8],
    info: &ShardInfo,
) -> Result<Vec<Vec<Value>>, MdsError> {
    let corrupt = |reason: String| MdsError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let columns = columns_of(info).map_err(corrupt)?;
    let u32_at = |at: usize| -> Option<u32> {
        raw.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let n =
        u32_at(0).ok_or_else(|| corrupt("shorter than its 4-byte sample count".into()))? as usize;
    if n as u64 != info.samples {
        return Err(corrupt(format!(
            "holds {n} samples, index.json says {}",
            info.samples
        )));
    }
    let offsets_end = 4 + 4 * (n + 1);
    if raw.len() < offsets_end {
        return Err(corrupt(format!(
            "{} bytes cannot hold {} offsets",
            raw.len(),
            n + 1
        )));
    }
    let offsets: Vec<usize> = (0..=n)
        .map(|i| u32_at(4 + 4 * i).unwrap_or(0) as usize)
        .collect();
    if offsets[0] < offsets_end || offsets[0] > raw.len() {
        return Err(corrupt(format!(
            "first sample offset {} outside the file",
            offsets[0]
        )));
    }
    if let Some(i) = offsets.windows(2).position(|w| w[1] < w[0]) {
        return Err(corrupt(format!("offsets decrease at sample {i}")));
    }
    if offsets[n] != raw.len() {
        return Err(corrupt(format!(
            "last offset {} but the shard has {} bytes",
            offsets[n],
            raw.len()
        )));
    }
    // The JSON config between the offsets and the first sample must describe the same columns.
    let config: serde_json::Value = serde_json::from_slice(&raw[offsets_end..offsets[0]])
        .map_err(|e| corrupt(format!("embedded config is not valid JSON: {e}")))?;
    let expect = info.to_value();
    for key in [
        "column_names",
        "column_encodings",
        "column_sizes",
        "format",
        "version",
        "compression",
    ] {
        if config.get(key) != expect.get(key) {
            return Err(corrupt(format!(
                "embedded config `{key}` is {} but index.json says {}",
                config
                    .get(key)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "missing".into()),
                expect.get(key).map(|v| v.to_string()).unwrap_or_default()
            )));
        }
    }
    let n_var = columns
        .iter()
        .filter(|c| c.encoding.fixed_size().is_none())
        .count();
    let mut rows = Vec::with_capacity(n);
    for s in 0..n {
        let sample = &raw[offsets[s]..offsets[s + 1]];
        if sample.len() < 4 * n_var {
            return Err(corrupt(format!(
                "sample {s} is shorter than its size header"
            )));
        }
        let mut head = 0;
        let mut at = 4 * n_var;
        let mut row = Vec::with_capacity(columns.len());
        for c in &columns {
            let size = match c.encoding.fixed_size() {
                Some(k) => k,
                None => {
                    let b = &sample[head..head + 4];
                    head += 4;
                    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
                }
            };
            let Some(bytes) = sample.get(at..at.saturating_add(size)) else {
                return Err(corrupt(format!(
                    "sample {s}, column `{}` runs past the sample end",
                    c.name
                )));
            };
            at += size;
            let value = c
                .encoding
                .decode(bytes)
                .map_err(|e| corrupt(format!("sample {s}, column `{}`: {e}", c.name)))?;
            row.push(value);
        }
        if at != sample.len() {
            return Err(corrupt(format!(
                "sample {s} has {} bytes, its columns account for {at}",
                sample.len()
            )));
        }
        rows.push(row);
    }
    Ok(rows)
}
