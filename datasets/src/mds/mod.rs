//! MosaicML Streaming "MDS" shards, version 2, byte-compatible with `streaming.MDSWriter`.
//!
//! Input: column definitions ([`Column`]) and rows of [`Value`]s. Output: shard files
//! `shard.NNNNN.mds` (or `shard.NNNNN.mds.zstd`, one zstd frame of the whole shard) plus the
//! `index.json` that `streaming.StreamingDataset(local=DIR)` reads; and the reverse, reading any
//! MDS directory (ours or one written by Python) with size and hash verification.
//!
//! See `docs/shard-format.md` for the byte layout and the references into streaming's source.

mod encoding;
mod error;
mod index;
pub mod pyjson;
mod reader;
mod writer;

pub use encoding::{Column, Dtype, Encoding, NdArray, Value};
pub use error::MdsError;
pub use index::{Compression, FileInfo, HASHES, INDEX_FILE, ShardInfo, hash_hex, write_index};
pub use reader::{MdsReader, decode_shard};
pub use writer::{EncodedShard, ShardWriter, write_atomic};
