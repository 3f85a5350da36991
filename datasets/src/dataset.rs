//! Reading a dataset directory: `manifest.json` plus one MDS directory per split.
//!
//! Input: a dataset directory written by `render` (or any MDS directories with our columns).
//! Output: [`Sample`]s per split, shard by shard or by index, with every shard verified.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::DatasetError;
use crate::layout::Split;
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::mds::{Column, MdsReader};
use crate::sample::Sample;

/// An opened dataset directory.
#[derive(Debug, Clone)]
pub struct Dataset {
    dir: PathBuf,
    manifest: Manifest,
}

impl Dataset {
    /// Open `dir` (reads and parses `manifest.json`).
    pub fn open(dir: &Path) -> Result<Dataset, DatasetError> {
        let manifest = Manifest::read(dir)?;
        Ok(Dataset {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Open one split (`DIR/train` ...; reads its `index.json`). Its columns must be the ones
    /// the manifest lists.
    pub fn split(&self, split: Split) -> Result<SplitReader, DatasetError> {
        let reader = SplitReader::open(&self.dir.join(split.name()), split)?;
        let found: BTreeMap<String, String> = reader
            .columns()
            .iter()
            .map(|c| (c.name.clone(), c.encoding.to_string()))
            .collect();
        if reader.num_shards() > 0 && found != self.manifest.columns {
            return Err(DatasetError::Manifest {
                path: self.dir.join(MANIFEST_FILE),
                reason: format!(
                    "lists columns {:?} but {}/index.json has {:?}",
                    self.manifest.columns,
                    split.name(),
                    found
                ),
            });
        }
        Ok(reader)
    }
}

/// Samples of one split.
#[derive(Debug)]
pub struct SplitReader {
    split: Split,
    reader: MdsReader,
    cache: Mutex<Option<(usize, Arc<Vec<Sample>>)>>,
}

impl Clone for SplitReader {
    fn clone(&self) -> Self {
        SplitReader {
            split: self.split,
            reader: self.reader.clone(),
            cache: Mutex::new(None),
        }
    }
}

impl SplitReader {
    /// Open an MDS directory holding `split`'s samples.
    pub fn open(dir: &Path, split: Split) -> Result<SplitReader, DatasetError> {
        let reader = MdsReader::open(dir)?;
        Ok(SplitReader {
            split,
            reader,
            cache: Mutex::new(None),
        })
    }

    /// Which split.
    pub fn split(&self) -> Split {
        self.split
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.reader.len()
    }

    /// Whether the split is empty.
    pub fn is_empty(&self) -> bool {
        self.reader.is_empty()
    }

    /// Number of shards.
    pub fn num_shards(&self) -> usize {
        self.reader.num_shards()
    }

    /// Sample indices of shard `k` (panics if `k >= num_shards()`).
    pub fn shard_range(&self, k: usize) -> Range<usize> {
        self.reader.shard_range(k)
    }

    /// The MDS columns.
    pub fn columns(&self) -> &[Column] {
        self.reader.columns()
    }

    /// The underlying MDS reader.
    pub fn mds(&self) -> &MdsReader {
        &self.reader
    }

    /// Read, verify and decode shard `k`.
    pub fn read_shard(&self, k: usize) -> Result<Vec<Sample>, DatasetError> {
        let rows = self.reader.read_shard(k)?;
        let columns = self.reader.columns();
        rows.into_iter()
            .map(|row| Sample::from_row(columns, row))
            .collect()
    }

    /// Sample `i` (reads its shard; the last shard read is cached).
    pub fn get(&self, i: usize) -> Result<Sample, DatasetError> {
        let k = self.reader.shard_of(i).ok_or(DatasetError::OutOfRange {
            index: i,
            len: self.len(),
        })?;
        let start = self.reader.shard_range(k).start;
        if let Ok(guard) = self.cache.lock()
            && let Some((cached, samples)) = guard.as_ref()
            && *cached == k
        {
            return Ok(samples[i - start].clone());
        }
        let samples = Arc::new(self.read_shard(k)?);
        let sample = samples[i - start].clone();
        if let Ok(mut guard) = self.cache.lock() {
            *guard = Some((k, samples));
        }
        Ok(sample)
    }
}
