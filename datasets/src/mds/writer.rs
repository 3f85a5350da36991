//! Writing one MDS shard, byte-identical to `MDSWriter.encode_joint_shard` + `_process_file`.
//!
//! Input: columns, rows of values, optional zstd compression. Output: the shard file
//! (`shard.NNNNN.mds` or `shard.NNNNN.mds.zstd`) written via a temporary name + fsync + rename,
//! and its `index.json` entry ([`ShardInfo`]).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Column, Compression, FileInfo, HASHES, MdsError, ShardInfo, Value, pyjson};

/// streaming's default `size_limit` (`1 << 26`).
const DEFAULT_SIZE_LIMIT: u64 = 1 << 26;

/// Writes one shard at a time (see [`ShardWriter::write`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ShardWriter;

/// A fully encoded (and possibly compressed) shard held in memory, ready to be written.
#[derive(Debug, Clone)]
pub struct EncodedShard {
    /// Bytes of the file to store (compressed when `info.zip_data` is set).
    pub data: Vec<u8>,
    /// The index entry.
    pub info: ShardInfo,
}

impl EncodedShard {
    /// Name of the file to store (`shard.00007.mds.zstd`).
    pub fn file_name(&self) -> &str {
        &self.info.stored().basename
    }

    /// Write the file into `dir` atomically; returns the index entry.
    pub fn write_to(&self, dir: &Path) -> Result<ShardInfo, MdsError> {
        write_atomic(&dir.join(self.file_name()), &self.data)?;
        Ok(self.info.clone())
    }
}

impl ShardWriter {
    /// Encode shard number `shard_no` (its file name is `shard.{shard_no:05}.mds[.zstd]`) from
    /// `rows` (each row has one value per column, in the order of `columns`) and write it into
    /// `dir` atomically. Columns are stored sorted by name, as `MDSWriter` does.
    pub fn write(
        dir: &Path,
        shard_no: usize,
        columns: &[Column],
        rows: &[Vec<Value>],
        compression: Option<Compression>,
    ) -> Result<ShardInfo, MdsError> {
        Self::encode(shard_no, columns, rows, compression)?.write_to(dir)
    }

    /// Encode (and compress) a shard in memory without touching the disk.
    pub fn encode(
        shard_no: usize,
        columns: &[Column],
        rows: &[Vec<Value>],
        compression: Option<Compression>,
    ) -> Result<EncodedShard, MdsError> {
        if columns.is_empty() {
            return Err(MdsError::Columns("no columns".into()));
        }
        // MDSWriter iterates `sorted(columns)`: store columns sorted by name.
        let mut order: Vec<usize> = (0..columns.len()).collect();
        order.sort_by(|&a, &b| columns[a].name.cmp(&columns[b].name));
        for w in order.windows(2) {
            if columns[w[0]].name == columns[w[1]].name {
                return Err(MdsError::Columns(format!(
                    "duplicate column `{}`",
                    columns[w[0]].name
                )));
            }
        }
        let sorted: Vec<&Column> = order.iter().map(|&i| &columns[i]).collect();
        let sizes: Vec<Option<usize>> = sorted.iter().map(|c| c.encoding.fixed_size()).collect();

        // Samples: [u32 size of each variable column] [payloads in column order].
        let mut body = Vec::new();
        let mut ends = Vec::with_capacity(rows.len());
        let mut payload = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            if row.len() != columns.len() {
                return Err(MdsError::Value {
                    row: r,
                    column: "*".into(),
                    reason: format!("row has {} values for {} columns", row.len(), columns.len()),
                });
            }
            payload.clear();
            let head_at = body.len();
            let n_var = sizes.iter().filter(|s| s.is_none()).count();
            body.resize(head_at + 4 * n_var, 0);
            let mut var = 0;
            for (k, &i) in order.iter().enumerate() {
                let col = &columns[i];
                let start = payload.len();
                col.encoding
                    .encode(&row[i], &mut payload)
                    .map_err(|reason| MdsError::Value {
                        row: r,
                        column: col.name.clone(),
                        reason,
                    })?;
                let len = payload.len() - start;
                match sizes[k] {
                    Some(n) if n != len => {
                        return Err(MdsError::Value {
                            row: r,
                            column: col.name.clone(),
                            reason: format!("encoded to {len} bytes, `{}` is {n}", col.encoding),
                        });
                    }
                    Some(_) => {}
                    None => {
                        let len = u32::try_from(len).map_err(|_| MdsError::TooLarge(len as u64))?;
                        body[head_at + 4 * var..head_at + 4 * var + 4]
                            .copy_from_slice(&len.to_le_bytes());
                        var += 1;
                    }
                }
            }
            body.extend_from_slice(&payload);
            ends.push(body.len());
        }

        let raw_basename = format!("shard.{shard_no:05}.mds");
        let zip_basename = compression.map(|c| format!("{raw_basename}.{}", c.extension()));
        let compression_name = compression.map(|c| c.to_string());
        let column_names: Vec<String> = sorted.iter().map(|c| c.name.clone()).collect();
        let column_encodings: Vec<String> = sorted.iter().map(|c| c.encoding.to_string()).collect();
        let column_sizes: Vec<Option<u64>> = sizes.iter().map(|s| s.map(|n| n as u64)).collect();
        let hashes: Vec<String> = HASHES.iter().map(|s| s.to_string()).collect();
        let n = rows.len();

        // size_limit: streaming never writes a shard larger than its size_limit, so record
        // streaming's default unless this shard is bigger, then a power of two above it.
        let config_for = |size_limit: u64| {
            pyjson::dumps(&serde_json::json!({
                "version": 2,
                "format": "mds",
                "compression": compression_name,
                "hashes": hashes,
                "size_limit": size_limit,
                "column_names": column_names,
                "column_encodings": column_encodings,
                "column_sizes": column_sizes,
            }))
        };
        let header_len = |config: &str| 4 + 4 * (n as u64 + 1) + config.len() as u64;
        let mut size_limit = DEFAULT_SIZE_LIMIT;
        let mut config = config_for(size_limit);
        let estimate = header_len(&config) + body.len() as u64;
        if estimate > size_limit {
            size_limit = (estimate + 4096).next_power_of_two();
            config = config_for(size_limit);
        }
        let total = header_len(&config) + body.len() as u64;
        if total >= 1 << 32 {
            return Err(MdsError::TooLarge(total));
        }
        let base = header_len(&config) as u32;
        let mut raw = Vec::with_capacity(total as usize);
        raw.extend_from_slice(&(n as u32).to_le_bytes());
        raw.extend_from_slice(&base.to_le_bytes());
        for &end in &ends {
            raw.extend_from_slice(&(base + end as u32).to_le_bytes());
        }
        raw.extend_from_slice(config.as_bytes());
        raw.extend_from_slice(&body);
        drop(body);

        let raw_data = FileInfo::of(&raw_basename, &raw);
        let (data, zip_data) = match (compression, zip_basename) {
            (Some(c), Some(zip_name)) => {
                let zipped = c
                    .compress(&raw)
                    .map_err(|e| MdsError::io(PathBuf::from(&zip_name), e))?;
                let info = FileInfo::of(&zip_name, &zipped);
                (zipped, Some(info))
            }
            _ => (raw, None),
        };
        let info = ShardInfo {
            column_encodings,
            column_names,
            column_sizes,
            compression: compression_name,
            format: "mds".into(),
            hashes,
            raw_data,
            samples: n as u64,
            size_limit: Some(size_limit),
            version: 2,
            zip_data,
        };
        Ok(EncodedShard { data, info })
    }
}

/// Write `data` to `path` so that `path` is either absent/old or complete: write
/// `path.tmp`, fsync, rename over `path`. On error (disk full...) the temporary file is removed
/// and the error names `path`.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), MdsError> {
    let mut tmp_name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(MdsError::io(path, e));
    }
    // Persist the rename itself; not all platforms allow opening a directory, so best effort.
    if let Some(parent) = path.parent()
        && let Ok(d) = File::open(if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        })
    {
        let _ = d.sync_all();
    }
    Ok(())
}
