//! Dataset directory layout and the shard plan: which samples go into which shard file, which
//! worker writes which shard, resume checks and the final merge.
//!
//! Input: sample count per split, shard size, compression. Output: per split, fixed ranges of
//! `shard_size` samples written as `SPLIT/shard.NNNNN.mds.zstd` (temp name + rename) with a
//! sidecar `SPLIT/shard.NNNNN.json` holding its `index.json` entry (written after the shard);
//! [`ShardPlan::merge`] turns the sidecars into each split's `index.json`. The global shard list is
//! train shards, then val, then test; worker K of N takes shards whose global index % N == K.
//! Files contain no timestamps or worker ids, so any split of the work gives identical bytes.

use std::fmt;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::DatasetError;
use crate::mds::{
    Column, Compression, EncodedShard, MdsError, ShardInfo, ShardWriter, Value, write_atomic,
    write_index,
};

/// A dataset split; directory names `train`, `val`, `test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// 85% of the samples, train models only.
    Train,
    /// 7.5%, held-out models.
    Val,
    /// 7.5%, held-out models.
    Test,
}

impl Split {
    /// All splits in storage order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// Directory name.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }

    /// 0, 1, 2.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Split {
    type Err = DatasetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "train" => Ok(Split::Train),
            "val" => Ok(Split::Val),
            "test" => Ok(Split::Test),
            other => Err(DatasetError::Plan(format!(
                "unknown split `{other}` (expected train, val or test)"
            ))),
        }
    }
}

/// Samples per split for `count` samples: 7.5% (rounded down) each for val and test, the rest
/// (85% plus the rounding remainder) for train.
pub fn split_counts(count: usize) -> [usize; 3] {
    let held = (count as u128 * 75 / 1000) as usize;
    [count - 2 * held, held, held]
}

/// One shard of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShardSpec {
    /// Its split.
    pub split: Split,
    /// Shard number within the split (the `NNNNN` of its file name).
    pub index: usize,
    /// Position in the global shard list (train, then val, then test).
    pub global: usize,
    /// Sample indices within the split.
    pub samples: Range<usize>,
    /// Index of the split's first sample in the whole dataset (train 0, val n_train, ...).
    pub split_offset: usize,
}

impl ShardSpec {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the shard holds no samples (never true for planned shards).
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Sample indices in the whole dataset (`split_offset + samples`).
    pub fn dataset_samples(&self) -> Range<usize> {
        self.split_offset + self.samples.start..self.split_offset + self.samples.end
    }
}

/// Fixed assignment of samples to shard files and of shards to workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardPlan {
    counts: [usize; 3],
    shard_size: usize,
    compression: Option<Compression>,
}

impl ShardPlan {
    /// Plan for `count` samples split with [`split_counts`].
    pub fn new(
        count: usize,
        shard_size: usize,
        compression: Option<Compression>,
    ) -> Result<ShardPlan, DatasetError> {
        Self::from_counts(split_counts(count), shard_size, compression)
    }

    /// Plan for explicit per-split counts `[train, val, test]`.
    pub fn from_counts(
        counts: [usize; 3],
        shard_size: usize,
        compression: Option<Compression>,
    ) -> Result<ShardPlan, DatasetError> {
        if shard_size == 0 {
            return Err(DatasetError::Plan("--shard-size must be at least 1".into()));
        }
        Ok(ShardPlan {
            counts,
            shard_size,
            compression,
        })
    }

    /// Samples per split.
    pub fn counts(&self) -> [usize; 3] {
        self.counts
    }

    /// Samples per shard (the last shard of a split may hold fewer).
    pub fn shard_size(&self) -> usize {
        self.shard_size
    }

    /// Compression of the shard files.
    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// Shards of one split, in order.
    pub fn split_shards(&self, split: Split) -> Vec<ShardSpec> {
        let s = split.index();
        let global0: usize = self.counts[..s]
            .iter()
            .map(|&c| c.div_ceil(self.shard_size))
            .sum();
        let split_offset: usize = self.counts[..s].iter().sum();
        let n = self.counts[s];
        (0..n.div_ceil(self.shard_size))
            .map(|k| ShardSpec {
                split,
                index: k,
                global: global0 + k,
                samples: k * self.shard_size..((k + 1) * self.shard_size).min(n),
                split_offset,
            })
            .collect()
    }

    /// The global shard list: train shards, then val, then test.
    pub fn shards(&self) -> Vec<ShardSpec> {
        Split::ALL
            .into_iter()
            .flat_map(|s| self.split_shards(s))
            .collect()
    }

    /// Total number of shards.
    pub fn num_shards(&self) -> usize {
        self.counts
            .iter()
            .map(|&c| c.div_ceil(self.shard_size))
            .sum()
    }

    /// The shards worker `worker` (0-based) of `workers` writes: global index % workers == worker.
    pub fn for_worker(
        &self,
        workers: usize,
        worker: usize,
    ) -> Result<Vec<ShardSpec>, DatasetError> {
        if workers == 0 {
            return Err(DatasetError::Plan("--workers must be at least 1".into()));
        }
        if worker >= workers {
            return Err(DatasetError::Plan(format!(
                "--worker {worker} out of range: expected 0..{workers} (0-based) for --workers {workers}"
            )));
        }
        Ok(self
            .shards()
            .into_iter()
            .filter(|s| s.global % workers == worker)
            .collect())
    }

    /// File name of a shard (`shard.00003.mds.zstd`, or `shard.00003.mds` uncompressed).
    pub fn file_name(&self, spec: &ShardSpec) -> String {
        match self.compression {
            Some(c) => format!("shard.{:05}.mds.{}", spec.index, c.extension()),
            None => format!("shard.{:05}.mds", spec.index),
        }
    }

    /// Path of a shard relative to the dataset directory (`train/shard.00003.mds.zstd`).
    pub fn rel_path(&self, spec: &ShardSpec) -> PathBuf {
        Path::new(spec.split.name()).join(self.file_name(spec))
    }

    /// Path of a shard's sidecar entry (`DIR/train/shard.00003.json`).
    pub fn sidecar_path(&self, dir: &Path, spec: &ShardSpec) -> PathBuf {
        dir.join(spec.split.name())
            .join(format!("shard.{:05}.json", spec.index))
    }

    /// Create `DIR/train`, `DIR/val`, `DIR/test`.
    pub fn create_dirs(&self, dir: &Path) -> Result<(), DatasetError> {
        for s in Split::ALL {
            let d = dir.join(s.name());
            fs::create_dir_all(&d).map_err(|e| DatasetError::io(&d, e))?;
        }
        Ok(())
    }

    /// Whether a shard is complete: its sidecar entry exists and parses, names this shard's file
    /// with the planned sample count, and the file exists with the recorded size and hash.
    pub fn is_complete(&self, dir: &Path, spec: &ShardSpec) -> bool {
        self.check_shard(dir, spec).is_ok()
    }

    /// Like [`ShardPlan::is_complete`], returning the entry or why the shard is not complete.
    pub fn check_shard(&self, dir: &Path, spec: &ShardSpec) -> Result<ShardInfo, DatasetError> {
        let sidecar = self.sidecar_path(dir, spec);
        let text = fs::read(&sidecar).map_err(|e| DatasetError::io(&sidecar, e))?;
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| MdsError::Index {
                path: sidecar.clone(),
                reason: format!("not valid JSON: {e}"),
            })?;
        let info = ShardInfo::from_value(&sidecar, value)?;
        let name = self.file_name(spec);
        if info.stored().basename != name || info.samples != spec.len() as u64 {
            return Err(MdsError::Index {
                path: sidecar,
                reason: format!(
                    "describes {} with {} samples, plan expects {name} with {}",
                    info.stored().basename,
                    info.samples,
                    spec.len()
                ),
            }
            .into());
        }
        let path = dir.join(self.rel_path(spec));
        let data = fs::read(&path).map_err(|e| DatasetError::io(&path, e))?;
        info.stored().verify(&path, &data)?;
        Ok(info)
    }

    /// Encode (and compress) a shard's rows in memory, e.g. on a worker thread.
    pub fn encode_shard(
        &self,
        spec: &ShardSpec,
        columns: &[Column],
        rows: &[Vec<Value>],
    ) -> Result<EncodedShard, DatasetError> {
        if rows.len() != spec.len() {
            return Err(DatasetError::Plan(format!(
                "{}: got {} rows, the plan has {} samples in this shard",
                self.rel_path(spec).display(),
                rows.len(),
                spec.len()
            )));
        }
        Ok(ShardWriter::encode(
            spec.index,
            columns,
            rows,
            self.compression,
        )?)
    }

    /// Store an encoded shard: the shard file first (temp name + rename), then its sidecar entry.
    pub fn commit_shard(
        &self,
        dir: &Path,
        spec: &ShardSpec,
        shard: &EncodedShard,
    ) -> Result<ShardInfo, DatasetError> {
        let split_dir = dir.join(spec.split.name());
        fs::create_dir_all(&split_dir).map_err(|e| DatasetError::io(&split_dir, e))?;
        if shard.file_name() != self.file_name(spec) || shard.info.samples != spec.len() as u64 {
            return Err(DatasetError::Plan(format!(
                "encoded shard {} ({} samples) does not match planned {} ({} samples)",
                shard.file_name(),
                shard.info.samples,
                self.rel_path(spec).display(),
                spec.len()
            )));
        }
        let info = shard.write_to(&split_dir)?;
        let mut text = info.to_json();
        text.push('\n');
        write_atomic(&self.sidecar_path(dir, spec), text.as_bytes())?;
        Ok(info)
    }

    /// Encode and store one shard (see [`ShardPlan::encode_shard`], [`ShardPlan::commit_shard`]).
    pub fn write_shard(
        &self,
        dir: &Path,
        spec: &ShardSpec,
        columns: &[Column],
        rows: &[Vec<Value>],
    ) -> Result<ShardInfo, DatasetError> {
        let shard = self.encode_shard(spec, columns, rows)?;
        self.commit_shard(dir, spec, &shard)
    }

    /// Write every split's `index.json` (atomically) from the sidecar entries, after checking
    /// every shard of the plan is complete; otherwise fail naming all missing/incomplete shards
    /// and write nothing. Leftover `*.tmp` files of interrupted writes are removed.
    pub fn merge(&self, dir: &Path) -> Result<(), DatasetError> {
        let mut entries: Vec<Vec<ShardInfo>> = vec![Vec::new(); 3];
        let mut missing = Vec::new();
        for spec in self.shards() {
            match self.check_shard(dir, &spec) {
                Ok(info) => entries[spec.split.index()].push(info),
                Err(e) => {
                    tracing::debug!("incomplete shard {}: {e}", self.rel_path(&spec).display());
                    missing.push(self.rel_path(&spec).display().to_string());
                }
            }
        }
        if !missing.is_empty() {
            return Err(DatasetError::MissingShards {
                dir: dir.to_path_buf(),
                missing,
            });
        }
        self.create_dirs(dir)?;
        for split in Split::ALL {
            let split_dir = dir.join(split.name());
            if let Ok(rd) = fs::read_dir(&split_dir) {
                for entry in rd.flatten() {
                    if entry.file_name().to_string_lossy().ends_with(".tmp") {
                        let _ = fs::remove_file(entry.path());
                    }
                }
            }
            write_index(&split_dir, &entries[split.index()])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_counts_sum_and_ratio() {
        assert_eq!(split_counts(240_000), [204_000, 18_000, 18_000]);
        assert_eq!(split_counts(1000), [850, 75, 75]);
        assert_eq!(split_counts(101), [87, 7, 7]);
        assert_eq!(split_counts(0), [0, 0, 0]);
        for n in [1, 7, 13, 999, 12345] {
            assert_eq!(split_counts(n).iter().sum::<usize>(), n);
        }
    }

    #[test]
    fn plan_ranges_and_workers() {
        let plan = ShardPlan::new(1000, 100, None).unwrap();
        let shards = plan.shards();
        // train 850 -> 9 shards (last 50), val 75 -> 1, test 75 -> 1
        assert_eq!(shards.len(), 11);
        assert_eq!(plan.num_shards(), 11);
        assert_eq!(shards[8].samples, 800..850);
        assert_eq!(shards[9].split, Split::Val);
        assert_eq!(shards[9].index, 0);
        assert_eq!(shards[9].dataset_samples(), 850..925);
        assert_eq!(shards[10].dataset_samples(), 925..1000);
        let mut all: Vec<usize> = (0..3)
            .flat_map(|k| plan.for_worker(3, k).unwrap())
            .map(|s| s.global)
            .collect();
        all.sort();
        assert_eq!(all, (0..11).collect::<Vec<_>>());
        assert!(plan.for_worker(3, 3).is_err());
        assert!(plan.for_worker(0, 0).is_err());
        assert!(ShardPlan::new(10, 0, None).is_err());
        assert_eq!(plan.rel_path(&shards[9]), Path::new("val/shard.00000.mds"));
        let zplan = ShardPlan::new(1000, 100, Some(Compression::default())).unwrap();
        assert_eq!(zplan.file_name(&shards[3]), "shard.00003.mds.zstd");
    }
}
