//! Errors of the MDS reader and writer; each names the file and what is wrong.

use std::path::PathBuf;

/// Everything that can go wrong reading or writing MDS shards.
#[derive(Debug, thiserror::Error)]
pub enum MdsError {
    /// An I/O error on a file (disk full, permission, missing directory...).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A shard file listed in `index.json` does not exist.
    #[error("{}: shard file is missing (listed in {index})", path.display())]
    MissingShard {
        /// The expected shard file.
        path: PathBuf,
        /// The index that lists it.
        index: String,
    },
    /// A shard's bytes are not a valid MDS shard (bad header, offsets, config, sample payload).
    #[error("{}: corrupt shard: {reason}", path.display())]
    Corrupt {
        /// The shard file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file size differs from the size recorded in `index.json` (truncated or appended).
    #[error("{}: size mismatch: index.json says {expected} bytes, found {found} (truncated or overwritten?)", path.display())]
    Size {
        /// The shard file.
        path: PathBuf,
        /// Bytes recorded in the index.
        expected: u64,
        /// Bytes found.
        found: u64,
    },
    /// A hash recorded in `index.json` does not match the file.
    #[error("{}: {algo} hash mismatch: index.json says {expected}, file hashes to {found}", path.display())]
    Hash {
        /// The shard file.
        path: PathBuf,
        /// Hash algorithm (`xxh64`, `sha1`).
        algo: String,
        /// Recorded hex digest.
        expected: String,
        /// Computed hex digest.
        found: String,
    },
    /// `index.json` (or a shard sidecar entry) is not valid.
    #[error("{}: invalid index: {reason}", path.display())]
    Index {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An encoding string is not one streaming defines.
    #[error("invalid MDS encoding `{encoding}`: {reason}")]
    Encoding {
        /// The encoding text.
        encoding: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A compression string is not `zstd` / `zstd:LEVEL`.
    #[error("invalid compression `{0}`: expected `zstd` or `zstd:LEVEL` with LEVEL in 1..=22")]
    Compression(String),
    /// A shard uses a compression this reader does not implement.
    #[error("{}: unsupported compression `{compression}` (only zstd is implemented)", path.display())]
    UnsupportedCompression {
        /// The index file.
        path: PathBuf,
        /// The compression string.
        compression: String,
    },
    /// Rows do not fit the columns (wrong arity, type, shape or size).
    #[error("row {row}, column `{column}`: {reason}")]
    Value {
        /// Row index within the shard.
        row: usize,
        /// Column name.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// Column definitions are invalid (duplicate names, empty).
    #[error("invalid columns: {0}")]
    Columns(String),
    /// A shard would exceed the 4 GiB offsets of the format.
    #[error("shard too large: {0} bytes (MDS offsets are u32)")]
    TooLarge(u64),
    /// A shard index out of range.
    #[error("shard {index} out of range (dataset has {len} shards)")]
    ShardOutOfRange {
        /// Requested shard.
        index: usize,
        /// Number of shards.
        len: usize,
    },
}

impl MdsError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> MdsError {
        MdsError::Io {
            path: path.into(),
            source,
        }
    }
}
