//! Streaming loader: label budgets, a deterministic shuffled sample order, shard-reading worker
//! threads and background batch assembly.
//!
//! Input: a [`ShardSource`] (a dataset split's MDS shards through `datasets::SplitReader`, or
//! samples held in memory), the indices of the samples to use, and a [`LoaderConfig`]. Output: a
//! stream of [`HostBatch`]es (normalised Lab images in NCHW order + the task's targets) over a
//! bounded channel, so the training thread only waits when the loader is slower than the device.
//!
//! How the order is made (all of it a pure function of the seed, so a resumed run sees exactly
//! the batches an uninterrupted run would):
//! - **label budget**: `--labels N` keeps the first N samples of one fixed permutation of the
//!   train split, drawn with [`LABEL_ORDER_SEED`] (independent of `--seed`), so the 100-sample
//!   subset is inside the 1000-sample subset ([`select_labels`]);
//! - **epoch e**: the shards that hold selected samples are visited in a shuffled order (seeded by
//!   seed and e), their selected samples stream through a shuffle buffer of
//!   `shuffle_buffer` slots ([`epoch_order`]); epochs follow each other without a break, so
//!   sample position p of the stream is sample `p mod n` of epoch `p / n`;
//! - **augmentation** of the sample at stream position p uses an RNG seeded by (seed, p);
//! - **endless sources** (scenes rendered while training, [`render`]): a training loader streams
//!   sample p at position p, in order, with no epochs and no shuffle (the scenes are independent
//!   draws already); a rendered source capped to N scenes is an ordinary finite split.
//!
//! Worker threads read (and zstd-decompress) whole shards in the order the epoch needs them, a
//! few shards ahead; only shards that hold selected samples are read, and only their selected
//! samples are kept. When the selected samples fit in `cache_bytes` they stay in memory after
//! the first epoch. Batches are prepared (augmentation, Lab, target reduction) in parallel with
//! rayon on the assembler thread and handed over through a channel of `prefetch` batches.

use std::collections::HashMap;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use burn::prelude::*;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, unbounded};
use rand::Rng;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

pub mod render;

use crate::TrainError;
use crate::augment::{AugmentPolicy, Prepared, RawSample, Target, prepare, target_size};
use crate::backend::{B, Device};
use crate::tasks::{HostTargets, Task};

/// Seed of the one fixed permutation of the train split that label budgets take prefixes of.
pub const LABEL_ORDER_SEED: u64 = 0x005e_ed1a_be15;

/// How many labelled training samples to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelBudget {
    /// The whole train split.
    All,
    /// The first N samples of the fixed label order.
    Count(usize),
}

impl FromStr for LabelBudget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "all" {
            return Ok(LabelBudget::All);
        }
        match s.parse::<usize>() {
            Ok(0) => Err("--labels must be at least 1 (or `all`)".into()),
            Ok(n) => Ok(LabelBudget::Count(n)),
            Err(_) => Err(format!(
                "--labels `{s}`: expected a positive number of samples or `all`"
            )),
        }
    }
}

impl std::fmt::Display for LabelBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabelBudget::All => f.write_str("all"),
            LabelBudget::Count(n) => write!(f, "{n}"),
        }
    }
}

/// The fixed permutation of `0..len` that label budgets take prefixes of.
pub fn label_order(len: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(LABEL_ORDER_SEED));
    order
}

/// The (sorted) train indices a budget selects: the first N of [`label_order`].
///
/// # Errors
/// When the budget asks for more samples than the split has.
pub fn select_labels(len: usize, budget: LabelBudget) -> Result<Vec<usize>, TrainError> {
    let mut chosen = match budget {
        LabelBudget::All => (0..len).collect(),
        LabelBudget::Count(n) if n > len => {
            return Err(TrainError::Invalid(format!(
                "--labels {n}: the train split has only {len} samples"
            )));
        }
        LabelBudget::Count(n) => {
            let mut order = label_order(len);
            order.truncate(n);
            order
        }
    };
    chosen.sort_unstable();
    Ok(chosen)
}

/// One decoded sample with the columns training uses.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedSample {
    /// Height = width.
    pub res: usize,
    /// sRGB HWC bytes.
    pub image: Vec<u8>,
    /// Class 0..10.
    pub class: i64,
    /// Pose bin 0..5.
    pub pose: i64,
    /// Class map (0 background, class + 1).
    pub segmentation: Vec<u8>,
    /// Depth in millimetres (0 = invalid).
    pub depth: Vec<u16>,
}

impl OwnedSample {
    /// Borrowed view for [`prepare`].
    pub fn raw(&self) -> RawSample<'_> {
        RawSample {
            res: self.res,
            image: &self.image,
            class: self.class,
            pose: self.pose,
            segmentation: &self.segmentation,
            depth: &self.depth,
        }
    }

    /// Bytes held in memory.
    pub fn bytes(&self) -> usize {
        self.image.len() + self.segmentation.len() + 2 * self.depth.len() + 64
    }
}

/// Where the loader reads shards from.
pub trait ShardSource: Send + Sync {
    /// Samples in the split.
    fn len(&self) -> usize;
    /// Whether the split is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Number of shards.
    fn num_shards(&self) -> usize;
    /// Global sample indices in shard `k`.
    fn shard_range(&self, k: usize) -> Range<usize>;
    /// Decode shard `k` (all its samples, in index order).
    fn read_shard(&self, k: usize) -> Result<Vec<OwnedSample>, TrainError>;
    /// Whether the samples go on past [`ShardSource::len`] (scenes rendered on the fly): a
    /// training loader ([`LoaderConfig::cycle`]) then streams samples `start_position, +1, ...`
    /// in order instead of cycling over `selected`, reading shard `k` =
    /// `k * S..(k + 1) * S` with `S = shard_range(0).len()` for any `k`. `len` is the nominal
    /// size (label budgets, default steps, evaluation-style reads).
    fn endless(&self) -> bool {
        false
    }
}

/// Samples held in memory, cut into shards of `shard_size` (tests, small experiments).
#[derive(Debug, Clone)]
pub struct MemoryShards {
    /// The samples.
    pub samples: Vec<OwnedSample>,
    /// Samples per shard.
    pub shard_size: usize,
}

impl ShardSource for MemoryShards {
    fn len(&self) -> usize {
        self.samples.len()
    }
    fn num_shards(&self) -> usize {
        self.samples.len().div_ceil(self.shard_size.max(1))
    }
    fn shard_range(&self, k: usize) -> Range<usize> {
        let s = self.shard_size.max(1);
        k * s..((k + 1) * s).min(self.samples.len())
    }
    fn read_shard(&self, k: usize) -> Result<Vec<OwnedSample>, TrainError> {
        Ok(self.samples[self.shard_range(k)].to_vec())
    }
}

impl TryFrom<datasets::Sample> for OwnedSample {
    type Error = TrainError;
    fn try_from(s: datasets::Sample) -> Result<Self, TrainError> {
        let (h, w) = (s.height as usize, s.width as usize);
        if h != w || h == 0 {
            return Err(TrainError::Invalid(format!(
                "samples must be square images, got {w}x{h}"
            )));
        }
        let n = h * w;
        if s.image.len() != 3 * n || s.segmentation.len() != n || s.depth.len() != n {
            return Err(TrainError::Invalid(format!(
                "sample columns do not match its {w}x{h} size"
            )));
        }
        Ok(OwnedSample {
            res: h,
            image: s.image,
            class: s.class,
            pose: s.pose,
            segmentation: s.segmentation,
            depth: s.depth,
        })
    }
}

/// A dataset split read through `datasets::SplitReader`.
pub struct SplitSource {
    reader: datasets::SplitReader,
}

impl SplitSource {
    /// Wrap a split reader.
    pub fn new(reader: datasets::SplitReader) -> Self {
        Self { reader }
    }
}

impl ShardSource for SplitSource {
    fn len(&self) -> usize {
        self.reader.len()
    }
    fn num_shards(&self) -> usize {
        self.reader.num_shards()
    }
    fn shard_range(&self, k: usize) -> Range<usize> {
        self.reader.shard_range(k)
    }
    fn read_shard(&self, k: usize) -> Result<Vec<OwnedSample>, TrainError> {
        self.reader
            .read_shard(k)
            .map_err(|e| TrainError::Dataset(e.to_string()))?
            .into_iter()
            .map(OwnedSample::try_from)
            .collect()
    }
}

/// A batch on the host, ready to upload.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    /// Images in the batch.
    pub size: usize,
    /// Image side in pixels.
    pub res: usize,
    /// Side of dense target maps.
    pub target_size: usize,
    /// Normalised Lab, NCHW, `size * 3 * res * res`.
    pub images: Vec<f32>,
    /// Targets.
    pub targets: HostTargets,
    /// Stream position of the first sample (training) or index in the split (evaluation).
    pub first_position: u64,
    /// Further augmented views of the same images, each laid out like `images` (self-supervised
    /// methods; empty for one view).
    pub views: Vec<Vec<f32>>,
    /// Index in the split of each image (batches of the [`Loader`]; empty when unknown).
    pub indices: Vec<usize>,
    /// Object class of each image whatever the task (batches of the [`Loader`]; empty when
    /// unknown).
    pub classes: Vec<i64>,
}

impl HostBatch {
    /// Stack prepared samples.
    pub fn from_prepared(
        items: Vec<Prepared>,
        res: usize,
        task: Task,
        first_position: u64,
    ) -> Self {
        let size = items.len();
        let mut images = Vec::with_capacity(size * 3 * res * res);
        let mut labels = Vec::new();
        let mut map = Vec::new();
        let mut depth = Vec::new();
        for p in items {
            images.extend_from_slice(&p.image);
            match p.target {
                Target::Class(c) => labels.push(c),
                Target::Map(m) => map.extend(m),
                Target::Depth(d) => depth.extend(d),
            }
        }
        let targets = match task {
            Task::Classification | Task::Pose => HostTargets::Labels(labels),
            Task::Segmentation => HostTargets::Map(map),
            Task::Depth => HostTargets::Depth(depth),
        };
        Self {
            size,
            res,
            target_size: target_size(res),
            images,
            targets,
            first_position,
            views: Vec::new(),
            indices: Vec::new(),
            classes: Vec::new(),
        }
    }

    /// The images as a `[B, 3, res, res]` tensor on `device`.
    pub fn images_tensor(&self, device: &Device) -> Tensor<B, 4> {
        Tensor::from_data(
            TensorData::new(self.images.clone(), [self.size, 3, self.res, self.res]),
            device,
        )
    }
}

/// Anything that hands out training batches.
pub trait BatchSource {
    /// The next batch.
    ///
    /// # Errors
    /// When the data cannot be read.
    fn next_batch(&mut self) -> Result<HostBatch, TrainError>;
}

/// A source that returns the same batch forever (overfitting tests, benchmarks).
#[derive(Debug, Clone)]
pub struct FixedBatch(pub HostBatch);

impl BatchSource for FixedBatch {
    fn next_batch(&mut self) -> Result<HostBatch, TrainError> {
        Ok(self.0.clone())
    }
}

/// The sample order of one epoch: `(shard sequence, [(shard, sample index)])`.
///
/// `groups` lists, per shard, the selected sample indices in it. With `shuffle`, shards are
/// visited in an order drawn from (seed, epoch) and samples pass through a shuffle buffer of
/// `buffer` slots; without, everything stays in index order.
pub fn epoch_order(
    groups: &[(usize, Vec<usize>)],
    seed: u64,
    epoch: u64,
    buffer: usize,
    shuffle: bool,
) -> (Vec<usize>, Vec<(usize, usize)>) {
    let mut shard_seq: Vec<usize> = (0..groups.len()).collect();
    let total: usize = groups.iter().map(|g| g.1.len()).sum();
    let mut out = Vec::with_capacity(total);
    if !shuffle {
        for (k, idx) in groups {
            out.extend(idx.iter().map(|&i| (*k, i)));
        }
        return (groups.iter().map(|g| g.0).collect(), out);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, 0xe90c ^ epoch));
    shard_seq.shuffle(&mut rng);
    let buffer = buffer.max(1);
    let mut buf: Vec<(usize, usize)> = Vec::with_capacity(buffer.min(total));
    for &g in &shard_seq {
        let (k, idx) = &groups[g];
        for &i in idx {
            if buf.len() < buffer {
                buf.push((*k, i));
                continue;
            }
            let j = rng.random_range(0..buf.len());
            out.push(std::mem::replace(&mut buf[j], (*k, i)));
        }
    }
    buf.shuffle(&mut rng);
    out.extend(buf);
    (shard_seq.into_iter().map(|g| groups[g].0).collect(), out)
}

/// Mix two numbers into a seed (xxh3 of both).
pub fn mix(a: u64, b: u64) -> u64 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_le_bytes());
    bytes[8..].copy_from_slice(&b.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// Loader settings.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    /// Task (decides the targets and the augmentation exceptions).
    pub task: Task,
    /// Augmentation.
    pub policy: AugmentPolicy,
    /// Images per batch.
    pub batch_size: usize,
    /// Seed of the order and the augmentation.
    pub seed: u64,
    /// Shuffle shards and samples (training) or keep index order (evaluation).
    pub shuffle: bool,
    /// Shuffle-buffer slots.
    pub shuffle_buffer: usize,
    /// Repeat epochs forever (training) or stop after one pass (evaluation).
    pub cycle: bool,
    /// Stream position to start at (resume: step * batch_size).
    pub start_position: u64,
    /// Shard-reading threads.
    pub workers: usize,
    /// Batches prepared ahead.
    pub prefetch: usize,
    /// Keep all selected samples in memory after reading them when they fit in this many bytes.
    pub cache_bytes: usize,
    /// Augmented views per image (1; 2 for the two-view self-supervised methods). View v > 0 of
    /// the sample at position p is augmented with an RNG seeded by (seed, p, v).
    pub views: usize,
}

impl LoaderConfig {
    /// Training defaults for `task`.
    pub fn train(task: Task, batch_size: usize, seed: u64) -> Self {
        Self {
            task,
            policy: AugmentPolicy::for_task(task),
            batch_size,
            seed,
            shuffle: true,
            shuffle_buffer: 4096,
            cycle: true,
            start_position: 0,
            workers: 2,
            prefetch: 3,
            cache_bytes: 2 << 30,
            views: 1,
        }
    }

    /// Evaluation defaults (no augmentation, index order, one pass).
    pub fn eval(task: Task, batch_size: usize) -> Self {
        Self {
            task,
            policy: AugmentPolicy::none(),
            batch_size,
            seed: 0,
            shuffle: false,
            shuffle_buffer: 1,
            cycle: false,
            start_position: 0,
            workers: 2,
            prefetch: 2,
            cache_bytes: 0,
            views: 1,
        }
    }
}

/// The streaming loader: background threads fill a bounded channel with batches.
pub struct Loader {
    rx: Option<Receiver<Result<HostBatch, TrainError>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Loader {
    /// Start loading `selected` (global sample indices, any order) from `source`. A training
    /// configuration ([`LoaderConfig::cycle`]) on an [endless](ShardSource::endless) source
    /// streams its samples in index order from `start_position` instead (`selected` unused):
    /// stream position p is sample p, augmented as usual with (seed, p).
    ///
    /// # Errors
    /// When nothing is selected or an index is outside the split.
    pub fn start(
        source: Arc<dyn ShardSource>,
        selected: &[usize],
        config: LoaderConfig,
    ) -> Result<Self, TrainError> {
        let stream = config.cycle && source.endless();
        if selected.is_empty() && !stream {
            return Err(TrainError::Invalid(
                "no samples selected for loading".into(),
            ));
        }
        if config.batch_size == 0 {
            return Err(TrainError::Invalid(
                "--batch-size must be at least 1".into(),
            ));
        }
        let groups = if stream {
            Vec::new()
        } else {
            group_by_shard(source.as_ref(), selected)?
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (req_tx, req_rx) = unbounded::<usize>();
        let (shard_tx, shard_rx) = unbounded::<(usize, Result<ShardRead, TrainError>)>();
        let (batch_tx, batch_rx) = bounded(config.prefetch.max(1));
        let mut threads = Vec::new();
        // `None`: keep every sample of a shard (the endless stream uses them all).
        let wanted: Option<Arc<HashMap<usize, Vec<usize>>>> =
            (!stream).then(|| Arc::new(groups.iter().cloned().collect()));
        for w in 0..config.workers.max(1) {
            let (source, req_rx, shard_tx, stop, wanted) = (
                source.clone(),
                req_rx.clone(),
                shard_tx.clone(),
                stop.clone(),
                wanted.clone(),
            );
            let handle = std::thread::Builder::new()
                .name(format!("loader-read-{w}"))
                .spawn(move || read_worker(source, req_rx, shard_tx, stop, wanted))
                .map_err(|e| TrainError::Loader(format!("cannot start a reader thread: {e}")))?;
            threads.push(handle);
        }
        drop(shard_tx);
        let stop2 = stop.clone();
        let source_for_stream = source.clone();
        let handle = std::thread::Builder::new()
            .name("loader-batch".into())
            .spawn(move || {
                let mut asm = Assembler {
                    groups,
                    config,
                    req_tx,
                    shard_rx,
                    batch_tx: batch_tx.clone(),
                    stop: stop2,
                    shards: HashMap::new(),
                    requested: HashMap::new(),
                    keep_all: false,
                };
                let result = if stream {
                    asm.run_stream(source_for_stream.as_ref())
                } else {
                    asm.run()
                };
                if let Err(e) = result {
                    let _ = batch_tx.send(Err(e));
                }
            })
            .map_err(|e| TrainError::Loader(format!("cannot start the batch thread: {e}")))?;
        threads.push(handle);
        Ok(Self {
            rx: Some(batch_rx),
            stop,
            threads,
        })
    }
}

impl BatchSource for Loader {
    fn next_batch(&mut self) -> Result<HostBatch, TrainError> {
        match self.rx.as_ref().map(|rx| rx.recv()) {
            Some(Ok(batch)) => batch,
            _ => Err(TrainError::Loader("the data stream ended".into())),
        }
    }
}

impl Iterator for Loader {
    type Item = Result<HostBatch, TrainError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.rx.as_ref().and_then(|rx| rx.recv().ok())
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.rx = None; // unblocks the batch thread's send
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn group_by_shard(
    source: &dyn ShardSource,
    selected: &[usize],
) -> Result<Vec<(usize, Vec<usize>)>, TrainError> {
    let len = source.len();
    let mut sorted = selected.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if let Some(&bad) = sorted.last().filter(|&&i| i >= len) {
        return Err(TrainError::Invalid(format!(
            "sample {bad} is outside the split ({len} samples)"
        )));
    }
    let mut groups = Vec::new();
    let mut it = sorted.into_iter().peekable();
    for k in 0..source.num_shards() {
        let range = source.shard_range(k);
        let mut idx = Vec::new();
        while let Some(&i) = it.peek() {
            if i < range.end && i >= range.start {
                idx.push(i);
                it.next();
            } else if i < range.start {
                it.next(); // not covered by any shard (should not happen)
            } else {
                break;
            }
        }
        if !idx.is_empty() {
            groups.push((k, idx));
        }
    }
    Ok(groups)
}

/// Samples of one shard that the loader keeps, with their global indices, in index order.
type ShardRead = Vec<(usize, OwnedSample)>;

fn read_worker(
    source: Arc<dyn ShardSource>,
    req_rx: Receiver<usize>,
    shard_tx: Sender<(usize, Result<ShardRead, TrainError>)>,
    stop: Arc<AtomicBool>,
    wanted: Option<Arc<HashMap<usize, Vec<usize>>>>,
) {
    // Every request gets exactly one answer, even when stopping or when reading panics: the
    // assembler waits for the shard it asked for, and a request dropped here while another
    // reader sits idle (holding its `shard_tx`, so the channel never disconnects) would leave it
    // waiting forever.
    while let Ok(k) = req_rx.recv() {
        let result = if stop.load(Ordering::SeqCst) {
            Err(TrainError::Loader("the loader was stopped".into()))
        } else {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                read_selected(source.as_ref(), k, wanted.as_deref())
            }))
            .unwrap_or_else(|_| {
                Err(TrainError::Loader(format!(
                    "the reader thread panicked while reading shard {k}"
                )))
            })
        };
        if shard_tx.send((k, result)).is_err() {
            return;
        }
    }
}

/// Read shard `k` and keep its selected samples (all of them when `wanted` is `None`), in
/// index order.
fn read_selected(
    source: &dyn ShardSource,
    k: usize,
    wanted: Option<&HashMap<usize, Vec<usize>>>,
) -> Result<ShardRead, TrainError> {
    source.read_shard(k).map(|all| {
        let start = source.shard_range(k).start;
        let Some(wanted) = wanted else {
            return all
                .into_iter()
                .enumerate()
                .map(|(j, s)| (start + j, s))
                .collect();
        };
        let keep = wanted.get(&k).map(Vec::as_slice).unwrap_or(&[]);
        let mut all: Vec<Option<OwnedSample>> = all.into_iter().map(Some).collect();
        keep.iter()
            .filter_map(|&i| {
                all.get_mut(i - start)
                    .and_then(Option::take)
                    .map(|s| (i, s))
            })
            .collect()
    })
}

/// Selected samples of one shard, by global index.
type ShardSamples = HashMap<usize, Arc<OwnedSample>>;

struct Assembler {
    groups: Vec<(usize, Vec<usize>)>,
    config: LoaderConfig,
    req_tx: Sender<usize>,
    shard_rx: Receiver<(usize, Result<ShardRead, TrainError>)>,
    batch_tx: Sender<Result<HostBatch, TrainError>>,
    stop: Arc<AtomicBool>,
    shards: HashMap<usize, ShardSamples>,
    /// Shards requested and not yet received.
    requested: HashMap<usize, ()>,
    keep_all: bool,
}

impl Assembler {
    fn run(&mut self) -> Result<(), TrainError> {
        let n: usize = self.groups.iter().map(|g| g.1.len()).sum();
        let n64 = n as u64;
        let mut pos = self.config.start_position;
        let mut pending: Vec<(u64, usize, Arc<OwnedSample>)> =
            Vec::with_capacity(self.config.batch_size);
        let window = self.config.workers.max(1) * 2;
        loop {
            let epoch = pos / n64;
            if !self.config.cycle && epoch > 0 {
                break;
            }
            let offset = (pos % n64) as usize;
            let (shard_seq, order) = epoch_order(
                &self.groups,
                self.config.seed,
                epoch,
                self.config.shuffle_buffer,
                self.config.shuffle,
            );
            // Uses left per shard in the rest of this epoch.
            let mut uses: HashMap<usize, usize> = HashMap::new();
            for &(k, _) in &order[offset..] {
                *uses.entry(k).or_default() += 1;
            }
            let mut to_request: std::collections::VecDeque<usize> = shard_seq
                .into_iter()
                .filter(|k| uses.contains_key(k) && !self.shards.contains_key(k))
                .collect();
            for &(k, i) in &order[offset..] {
                if self.stop.load(Ordering::SeqCst) {
                    return Ok(());
                }
                // Keep `window` shards in flight, in the order the epoch visits them.
                while self.requested.len() < window {
                    match to_request.pop_front() {
                        Some(next) => self.request(next)?,
                        None => break,
                    }
                }
                while !self.shards.contains_key(&k) {
                    if !self.requested.contains_key(&k) {
                        // Needed earlier than the window reached (large shuffle buffer).
                        to_request.retain(|&x| x != k);
                        self.request(k)?;
                    }
                    self.receive()?;
                }
                let sample = self
                    .shards
                    .get(&k)
                    .and_then(|s| s.get(&i))
                    .cloned()
                    .ok_or_else(|| {
                        TrainError::Dataset(format!("shard {k} did not contain sample {i}"))
                    })?;
                pending.push((pos, i, sample));
                pos += 1;
                if let Some(u) = uses.get_mut(&k) {
                    *u -= 1;
                    if *u == 0 && !self.keep_all {
                        self.shards.remove(&k);
                    }
                }
                if pending.len() == self.config.batch_size && !self.emit(&mut pending) {
                    return Ok(());
                }
            }
            if !self.keep_all && self.config.cycle {
                // After one pass we know how big the selected samples are: cache them when small.
                self.keep_all = n.saturating_mul(self.sample_bytes()) <= self.config.cache_bytes;
            }
        }
        if !pending.is_empty() {
            self.emit(&mut pending);
        }
        Ok(())
    }

    fn sample_bytes(&self) -> usize {
        self.shards
            .values()
            .flat_map(|s| s.values())
            .next()
            .map(|s| s.bytes())
            .unwrap_or(usize::MAX / 2)
    }

    fn request(&mut self, k: usize) -> Result<(), TrainError> {
        self.requested.insert(k, ());
        self.req_tx
            .send(k)
            .map_err(|_| TrainError::Loader("reader threads stopped".into()))
    }

    fn receive(&mut self) -> Result<(), TrainError> {
        // Poll the stop flag while waiting so that dropping the loader never waits on a read
        // that will not come.
        let (k, result) = loop {
            match self
                .shard_rx
                .recv_timeout(std::time::Duration::from_millis(50))
            {
                Ok(msg) => break msg,
                Err(RecvTimeoutError::Timeout) if self.stop.load(Ordering::SeqCst) => {
                    return Err(TrainError::Loader("the loader was stopped".into()));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(TrainError::Loader("reader threads stopped".into()));
                }
            }
        };
        self.requested.remove(&k);
        let samples = result?;
        if let Some((_, idx)) = self.groups.iter().find(|g| g.0 == k)
            && idx.len() != samples.len()
        {
            return Err(TrainError::Dataset(format!(
                "shard {k}: expected {} selected samples, read {}",
                idx.len(),
                samples.len()
            )));
        }
        let map = samples.into_iter().map(|(i, s)| (i, Arc::new(s))).collect();
        self.shards.insert(k, map);
        Ok(())
    }

    /// The endless stream: sample p at position p, shards read in order, `window` ahead.
    fn run_stream(&mut self, source: &dyn ShardSource) -> Result<(), TrainError> {
        let per_shard = source.shard_range(0).len().max(1) as u64;
        let window = self.config.workers.max(1) * 2;
        let mut pos = self.config.start_position;
        let mut next_request = (pos / per_shard) as usize;
        let mut pending: Vec<(u64, usize, Arc<OwnedSample>)> =
            Vec::with_capacity(self.config.batch_size);
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let k = (pos / per_shard) as usize;
            while self.requested.len() < window {
                self.request(next_request)?;
                next_request += 1;
            }
            while !self.shards.contains_key(&k) {
                self.receive()?;
            }
            let i = pos as usize;
            let sample = self
                .shards
                .get(&k)
                .and_then(|s| s.get(&i))
                .cloned()
                .ok_or_else(|| {
                    TrainError::Dataset(format!("shard {k} did not contain sample {i}"))
                })?;
            pending.push((pos, i, sample));
            pos += 1;
            if pos.is_multiple_of(per_shard) {
                self.shards.remove(&k);
            }
            if pending.len() == self.config.batch_size && !self.emit(&mut pending) {
                return Ok(());
            }
        }
    }

    /// Prepare and send a batch; false when the receiver is gone.
    fn emit(&mut self, pending: &mut Vec<(u64, usize, Arc<OwnedSample>)>) -> bool {
        let items = std::mem::take(pending);
        let res = items[0].2.res;
        if let Some((_, _, bad)) = items.iter().find(|(_, _, s)| s.res != res) {
            let _ = self.batch_tx.send(Err(TrainError::Invalid(format!(
                "mixed image sizes in one split: {res} and {}",
                bad.res
            ))));
            return false;
        }
        let first = items[0].0;
        let (task, policy, seed) = (self.config.task, self.config.policy, self.config.seed);
        let views = self.config.views.max(1);
        let prepared: Vec<(Prepared, Vec<Vec<f32>>)> = items
            .par_iter()
            .map(|(p, _, s)| {
                let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, *p));
                let first = prepare(&s.raw(), task, &policy, &mut rng);
                let extra = (1..views)
                    .map(|v| {
                        let mut rng = ChaCha8Rng::seed_from_u64(mix(mix(seed, *p), v as u64));
                        prepare(&s.raw(), task, &policy, &mut rng).image
                    })
                    .collect();
                (first, extra)
            })
            .collect();
        let mut extra_views: Vec<Vec<f32>> = vec![Vec::new(); views - 1];
        let mut firsts = Vec::with_capacity(prepared.len());
        for (first, extra) in prepared {
            firsts.push(first);
            for (v, img) in extra.into_iter().enumerate() {
                extra_views[v].extend(img);
            }
        }
        let mut batch = HostBatch::from_prepared(firsts, res, task, first);
        batch.views = extra_views;
        batch.indices = items.iter().map(|(_, i, _)| *i).collect();
        batch.classes = items.iter().map(|(_, _, s)| s.class).collect();
        self.batch_tx.send(Ok(batch)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn toy_samples(n: usize, res: usize) -> Vec<OwnedSample> {
        (0..n)
            .map(|i| OwnedSample {
                res,
                image: vec![(i % 256) as u8; res * res * 3],
                class: (i % 10) as i64,
                pose: (i % 5) as i64,
                segmentation: vec![(i % 11) as u8; res * res],
                depth: vec![1000 + i as u16; res * res],
            })
            .collect()
    }

    #[test]
    fn label_budgets_are_nested() {
        let small = select_labels(1000, LabelBudget::Count(100)).unwrap();
        let big = select_labels(1000, LabelBudget::Count(250)).unwrap();
        assert_eq!(small.len(), 100);
        assert!(small.iter().all(|i| big.binary_search(i).is_ok()));
        assert_eq!(select_labels(1000, LabelBudget::All).unwrap().len(), 1000);
        assert!(select_labels(10, LabelBudget::Count(11)).is_err());
        // The order is a permutation and does not depend on anything but the length.
        let o = label_order(50);
        let mut s = o.clone();
        s.sort_unstable();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
        assert_eq!(o, label_order(50));
        assert_ne!(o, (0..50).collect::<Vec<_>>());
        assert_eq!("all".parse::<LabelBudget>().unwrap(), LabelBudget::All);
        assert!("0".parse::<LabelBudget>().is_err());
        assert!("ten".parse::<LabelBudget>().is_err());
    }

    #[test]
    fn epoch_order_is_a_seeded_permutation() {
        let groups = vec![(0, vec![0, 1, 2]), (2, vec![20, 21]), (3, vec![30])];
        let (seq, a) = epoch_order(&groups, 7, 0, 2, true);
        let (_, b) = epoch_order(&groups, 7, 0, 2, true);
        let (_, c) = epoch_order(&groups, 7, 1, 2, true);
        assert_eq!(a, b);
        assert_eq!(seq.len(), 3);
        let mut sorted: Vec<usize> = a.iter().map(|x| x.1).collect();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2, 20, 21, 30]);
        assert_ne!(a, c, "epochs differ");
        let (_, plain) = epoch_order(&groups, 7, 0, 2, false);
        assert_eq!(
            plain.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![0, 1, 2, 20, 21, 30]
        );
    }

    #[test]
    fn loader_streams_selected_samples_deterministically() {
        let source: Arc<dyn ShardSource> = Arc::new(MemoryShards {
            samples: toy_samples(40, 8),
            shard_size: 6,
        });
        let selected = vec![1, 3, 5, 7, 11, 13, 17, 19, 23, 29];
        let mut cfg = LoaderConfig::train(Task::Classification, 4, 3);
        cfg.shuffle_buffer = 3;
        let mut a = Loader::start(source.clone(), &selected, cfg.clone()).unwrap();
        let batches: Vec<HostBatch> = (0..6).map(|_| a.next_batch().unwrap()).collect();
        // 6 batches x 4 = 24 positions = 2.4 epochs; every epoch uses each selected sample once.
        let classes: Vec<i64> = batches
            .iter()
            .flat_map(|b| match &b.targets {
                HostTargets::Labels(l) => l.clone(),
                _ => panic!(),
            })
            .collect();
        let mut first_epoch: Vec<i64> = classes[..10].to_vec();
        first_epoch.sort_unstable();
        let mut want: Vec<i64> = selected.iter().map(|&i| (i % 10) as i64).collect();
        want.sort_unstable();
        assert_eq!(first_epoch, want);
        // Resuming at batch 3 gives batches 3.. exactly.
        cfg.start_position = 12;
        let mut b = Loader::start(source.clone(), &selected, cfg).unwrap();
        for want in &batches[3..] {
            assert_eq!(&b.next_batch().unwrap(), want);
        }
    }

    #[test]
    fn eval_loader_is_one_ordered_pass() {
        let source: Arc<dyn ShardSource> = Arc::new(MemoryShards {
            samples: toy_samples(23, 8),
            shard_size: 5,
        });
        let all: Vec<usize> = (0..23).collect();
        let loader = Loader::start(source, &all, LoaderConfig::eval(Task::Pose, 10)).unwrap();
        let batches: Vec<HostBatch> = loader.map(|b| b.unwrap()).collect();
        assert_eq!(
            batches.iter().map(|b| b.size).collect::<Vec<_>>(),
            vec![10, 10, 3]
        );
        let HostTargets::Labels(l) = &batches[2].targets else {
            panic!()
        };
        assert_eq!(l, &vec![0, 1, 2]); // samples 20, 21, 22 -> pose i % 5
    }

    #[test]
    fn read_errors_reach_the_consumer() {
        struct Broken;
        impl ShardSource for Broken {
            fn len(&self) -> usize {
                10
            }
            fn num_shards(&self) -> usize {
                1
            }
            fn shard_range(&self, _k: usize) -> Range<usize> {
                0..10
            }
            fn read_shard(&self, _k: usize) -> Result<Vec<OwnedSample>, TrainError> {
                Err(TrainError::Dataset(
                    "shard.00000.mds.zstd: truncated".into(),
                ))
            }
        }
        let mut l = Loader::start(
            Arc::new(Broken),
            &[1, 2],
            LoaderConfig::train(Task::Classification, 2, 0),
        )
        .unwrap();
        let e = l.next_batch().unwrap_err().to_string();
        assert!(e.contains("shard.00000.mds.zstd"), "{e}");
    }

    /// One sample per shard; `read_shard` waits until the gate opens and counts the readers
    /// inside it; shard `panic_at` panics, shard `fail_at` returns an error.
    struct Gated {
        samples: Vec<OwnedSample>,
        open: std::sync::Mutex<bool>,
        cv: std::sync::Condvar,
        inside: std::sync::atomic::AtomicUsize,
        panic_at: Option<usize>,
        fail_at: Option<usize>,
    }

    impl Gated {
        fn new(n: usize, open: bool) -> Self {
            Self {
                samples: toy_samples(n, 8),
                open: std::sync::Mutex::new(open),
                cv: std::sync::Condvar::new(),
                inside: std::sync::atomic::AtomicUsize::new(0),
                panic_at: None,
                fail_at: None,
            }
        }
        fn release(&self) {
            *self.open.lock().unwrap() = true;
            self.cv.notify_all();
        }
    }

    impl ShardSource for Gated {
        fn len(&self) -> usize {
            self.samples.len()
        }
        fn num_shards(&self) -> usize {
            self.samples.len()
        }
        fn shard_range(&self, k: usize) -> Range<usize> {
            k..k + 1
        }
        fn read_shard(&self, k: usize) -> Result<Vec<OwnedSample>, TrainError> {
            self.inside.fetch_add(1, Ordering::SeqCst);
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.cv.wait(open).unwrap();
            }
            drop(open);
            if self.panic_at == Some(k) {
                panic!("corrupt shard {k}");
            }
            if self.fail_at == Some(k) {
                return Err(TrainError::Dataset(format!("shard.{k:05}.mds: bad magic")));
            }
            Ok(vec![self.samples[k].clone()])
        }
    }

    /// Run `f` on a thread and fail (instead of hanging the suite) when it takes over 20 s.
    fn within_20s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .expect("the loader hung")
    }

    #[test]
    fn dropping_the_loader_while_a_request_is_queued_returns() {
        // 3 one-sample shards, 2 readers, all requested at once: both readers block inside
        // shards seq[0] and seq[1] while seq[2] waits in the queue. Pick a seed whose first
        // sample comes from seq[2], so the assembler waits for the queued shard. Dropping the
        // loader then makes one reader take seq[2] after the stop flag is set while the other
        // goes idle; the drop must still return.
        let groups: Vec<(usize, Vec<usize>)> = (0..3).map(|k| (k, vec![k])).collect();
        let seed = (0..1000u64)
            .find(|&s| {
                let (seq, order) = epoch_order(&groups, s, 0, 3, true);
                order[0].0 == seq[2]
            })
            .unwrap();
        let source = Arc::new(Gated::new(3, false));
        let mut cfg = LoaderConfig::train(Task::Classification, 1, seed);
        cfg.shuffle_buffer = 3;
        cfg.workers = 2;
        cfg.prefetch = 1;
        let loader = Loader::start(source.clone(), &[0, 1, 2], cfg).unwrap();
        let t0 = std::time::Instant::now();
        while source.inside.load(Ordering::SeqCst) < 2 {
            assert!(t0.elapsed().as_secs() < 20, "readers never started");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (dropped_tx, dropped_rx) = bounded(1);
        std::thread::spawn(move || {
            drop(loader);
            let _ = dropped_tx.send(());
        });
        std::thread::sleep(std::time::Duration::from_millis(200)); // the stop flag is set
        source.release();
        dropped_rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("dropping the loader hung");
    }

    #[test]
    fn dropping_the_loader_mid_epoch_returns() {
        let source: Arc<dyn ShardSource> = Arc::new(MemoryShards {
            samples: toy_samples(60, 8),
            shard_size: 4,
        });
        let all: Vec<usize> = (0..60).collect();
        within_20s(move || {
            for prefetch in [1, 3] {
                let mut cfg = LoaderConfig::train(Task::Classification, 4, 1);
                cfg.shuffle_buffer = 8;
                cfg.prefetch = prefetch;
                let mut l = Loader::start(source.clone(), &all, cfg).unwrap();
                l.next_batch().unwrap();
                drop(l); // with the batch channel full and shards in flight
            }
        });
    }

    #[test]
    fn a_corrupt_shard_in_the_middle_is_an_error_not_a_hang() {
        // An error and a panic (a decoder bug on corrupt bytes) in shard 3 of 6, 3 readers.
        for panics in [false, true] {
            let mut g = Gated::new(6, true);
            if panics {
                g.panic_at = Some(3);
            } else {
                g.fail_at = Some(3);
            }
            let mut cfg = LoaderConfig::eval(Task::Classification, 2);
            cfg.workers = 3;
            let mut l = Loader::start(Arc::new(g), &[0, 1, 2, 3, 4, 5], cfg).unwrap();
            let (batches, err) = within_20s(move || {
                let mut ok = 0;
                loop {
                    match l.next_batch() {
                        Ok(_) => ok += 1,
                        Err(e) => return (ok, e.to_string()),
                    }
                }
            });
            // Shards are read ahead, so the error may arrive before the batch of samples 0, 1
            // is out; it never comes after a batch that needs shard 3.
            assert!(batches <= 1, "{batches} batches before the error: {err}");
            let want = if panics {
                "panicked while reading shard 3"
            } else {
                "shard.00003.mds"
            };
            assert!(err.contains(want), "{err}");
        }
    }
}
