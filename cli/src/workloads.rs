//! The standard benchmark workloads (`docs/workloads.md`): their
//! setup, their timed body, and the fill patterns they are built from.
//!
//! `freeset bench`, the criterion benches and the iai-callgrind benches all
//! call this module, so every workload exists once. A workload is prepared
//! (untimed), then [`Workload::run`] is the timed body and [`Workload::rearm`]
//! brings the state back (untimed) for the next repetition.
//!
//! Everything here is seeded and repeatable. Fill patterns build the bitsets
//! directly (through [`FreeSet::from_acquired_words`], which derives the index
//! and counters), never through millions of acquires. Nothing here may be timed
//! that the workload's definition does not time.

use std::hint::black_box;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use rayon::prelude::*;

use freeset::{FreeSet, Parallelism};

mod extent;

pub use extent::{run_extents, EXTENT_LENGTHS};

/// Block counts of the two standard sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Size **S** (acquire, reserve, checkpoint workloads).
    pub small: u64,
    /// Size **L** (codec, count and highest workloads).
    pub large: u64,
}

impl Sizes {
    /// S = 2^24 blocks (2 MiB per bitset), L = 2^27 blocks (16 MiB per bitset).
    pub const STANDARD: Sizes = Sizes {
        small: 1 << 24,
        large: 1 << 27,
    };
    /// For a first look: S = 2^20, L = 2^23.
    pub const QUICK: Sizes = Sizes {
        small: 1 << 20,
        large: 1 << 23,
    };
    /// For instruction counting under callgrind, which is far slower than a
    /// native run (perf/notes.md).
    pub const CALLGRIND: Sizes = Sizes {
        small: 1 << 20,
        large: 1 << 20,
    };
}

/// The unit a workload reports in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds per operation (lower is better).
    NsPerOp,
    /// Gigabytes per second of one bitset (higher is better).
    GBps,
}

impl Unit {
    /// `ns/op` or `GB/s`.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::NsPerOp => "ns/op",
            Unit::GBps => "GB/s",
        }
    }
}

/// The names of `docs/workloads.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Name {
    /// Empty set of S: one `reserve(S)`, `acquire` until none, `forfeit`.
    AcquireFill,
    /// S, `random(0.5)`: `reserve(count_free)`, `acquire` until none, `forfeit`.
    AcquireFragmented,
    /// S, `random(0.9)`: 100 x (`reserve(100_000)`, `forfeit`).
    Reserve100k,
    /// S all acquired, S/10 random blocks released: one checkpoint.
    Checkpoint10pct,
    /// L, `runs`: `encode`.
    EncodeRuns,
    /// L, `random(0.5)`: `encode`.
    EncodeRandom,
    /// The bytes of `encode_runs`: `open` into a fresh set of L.
    OpenRuns,
    /// The bytes of `encode_random`: `open` into a fresh set of L.
    OpenRandom,
    /// L, `random(0.5)`: one `count_free`.
    CountFree,
    /// L, only the first 64,000 blocks `random(0.5)`: one `highest_acquired`.
    HighestAcquired,
    /// L, only the first 64,000 blocks `random(0.5)`, about half of them
    /// released while the checkpoint is durable: one `highest_released`.
    HighestReleased,
    /// Empty set of S, two reservations of S/2: each acquired to the end by
    /// its own task on the current pool, through `acquire_concurrently`.
    AcquireParallel,
    /// The same jobs on a `Mutex<FreeSet>`: every acquire takes the lock.
    AcquireParallelMutex,
    /// L, `random(0.5)`: one `stats()` (free extents, histograms, shards,
    /// score: one pass over the bitset).
    Stats,
    /// Two buffers of L/8 bytes: copy one into the other.
    Memcpy,
    /// Empty set of S, four reservations of S/4: one acquire from each in
    /// turn (round-robin) until all are exhausted, then four `forfeit`s.
    /// Several jobs acquiring in turn, as an engine's jobs do. (Declared
    /// last so that the other workloads keep their seeds.)
    AcquireInterleaved,
    /// `acquire_fragmented`'s fill: extents of 8, 64 and 512 blocks, each
    /// length in a session of `reserve_extent` and `acquire_extent` until
    /// none is found, then the session's `forfeit`s.
    AcquireExtent,
}

impl Name {
    /// Every workload, in the order of `docs/workloads.md`'s first table (memcpy last).
    pub const ALL: [Name; 17] = [
        Name::AcquireFill,
        Name::AcquireFragmented,
        Name::AcquireInterleaved,
        Name::AcquireExtent,
        Name::Reserve100k,
        Name::Checkpoint10pct,
        Name::EncodeRuns,
        Name::EncodeRandom,
        Name::OpenRuns,
        Name::OpenRandom,
        Name::CountFree,
        Name::HighestAcquired,
        Name::HighestReleased,
        Name::AcquireParallel,
        Name::AcquireParallelMutex,
        Name::Stats,
        Name::Memcpy,
    ];

    /// The name as in `docs/workloads.md`.
    pub fn as_str(self) -> &'static str {
        match self {
            Name::AcquireFill => "acquire_fill",
            Name::AcquireFragmented => "acquire_fragmented",
            Name::AcquireInterleaved => "acquire_interleaved",
            Name::AcquireExtent => "acquire_extent",
            Name::Reserve100k => "reserve_100k",
            Name::Checkpoint10pct => "checkpoint_10pct",
            Name::EncodeRuns => "encode_runs",
            Name::EncodeRandom => "encode_random",
            Name::OpenRuns => "open_runs",
            Name::OpenRandom => "open_random",
            Name::CountFree => "count_free",
            Name::HighestAcquired => "highest_acquired",
            Name::HighestReleased => "highest_released",
            Name::AcquireParallel => "acquire_parallel",
            Name::AcquireParallelMutex => "acquire_parallel_mutex",
            Name::Stats => "stats",
            Name::Memcpy => "memcpy",
        }
    }

    /// The unit of the report.
    pub fn unit(self) -> Unit {
        if self.is_codec() || self.is_pass() || self == Name::Memcpy {
            Unit::GBps
        } else {
            Unit::NsPerOp
        }
    }

    /// Workloads that run on a pool and are measured on one thread and on
    /// `--threads N`: the codec, `memcpy` and the parallel acquires.
    pub fn is_threaded(self) -> bool {
        self.is_codec()
            || matches!(
                self,
                Name::Memcpy | Name::AcquireParallel | Name::AcquireParallelMutex
            )
    }

    /// Encode and open workloads, reported also as a fraction of memcpy.
    pub fn is_codec(self) -> bool {
        matches!(
            self,
            Name::EncodeRuns | Name::EncodeRandom | Name::OpenRuns | Name::OpenRandom
        )
    }

    /// Single-threaded passes over a whole bitset (`stats`), reported in
    /// GB/s and, like the codec, as a fraction of memcpy.
    pub fn is_pass(self) -> bool {
        self == Name::Stats
    }

    /// The reference implementation's published figure (`docs/workloads.md`, the
    /// AVX-512 machine), in this workload's unit: measured in another run on
    /// another machine, so it orients and never makes a claim of speed-up
    /// (same-run ratios are `freeset bench --peers`). `None` for a workload
    /// the reference has no figure for.
    pub fn reference(self) -> Option<f64> {
        Some(match self {
            Name::AcquireFill => 215.0,
            Name::AcquireFragmented => 214.0,
            Name::Reserve100k => 388_000.0,
            Name::Checkpoint10pct => 67_000_000.0,
            Name::EncodeRuns => 1.5,
            Name::EncodeRandom => 3.3,
            Name::OpenRuns => 3.2,
            Name::OpenRandom => 4.8,
            Name::CountFree => 225_000.0,
            Name::HighestAcquired => 584_000.0,
            Name::HighestReleased
            | Name::AcquireInterleaved
            | Name::AcquireExtent
            | Name::AcquireParallel
            | Name::AcquireParallelMutex
            | Name::Stats => return None,
            Name::Memcpy => 19.5,
        })
    }

    /// Blocks of the set this workload runs on: S for the acquire, reserve
    /// and checkpoint workloads, L for the others.
    pub fn blocks(self, sizes: Sizes) -> u64 {
        match self {
            Name::AcquireFill
            | Name::AcquireFragmented
            | Name::AcquireInterleaved
            | Name::AcquireExtent
            | Name::Reserve100k
            | Name::Checkpoint10pct
            | Name::AcquireParallel
            | Name::AcquireParallelMutex => sizes.small,
            _ => sizes.large,
        }
    }
}

impl FromStr for Name {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Name::ALL
            .into_iter()
            .find(|n| n.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Name::ALL.iter().map(|n| n.as_str()).collect();
                format!(
                    "unknown workload {text:?}; the workloads are {}",
                    names.join(", ")
                )
            })
    }
}

/// A seeded generator (splitmix64): small, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A word whose bits are each set with probability `p`, independently.
    pub fn word_with_density(&mut self, p: f64) -> u64 {
        if p == 0.5 {
            return self.next_u64();
        }
        // Each bit compares a 16-bit draw with p; one 64-bit draw serves 4 bits.
        let threshold = (p * 65536.0).round() as u64;
        let mut word = 0u64;
        for group in 0..16 {
            let r = self.next_u64();
            for i in 0..4 {
                let bit = u64::from((r >> (16 * i)) & 0xffff < threshold);
                word |= bit << (group * 4 + i);
            }
        }
        word
    }
}

/// `random(p)`: each of the first `blocks` bits set with probability `p`.
pub fn fill_random(words: &mut [u64], blocks: u64, p: f64, rng: &mut Rng) {
    debug_assert!(blocks <= words.len() as u64 * 64);
    let full = (blocks / 64) as usize;
    for w in &mut words[..full] {
        *w = rng.word_with_density(p);
    }
    if !blocks.is_multiple_of(64) {
        words[full] = rng.word_with_density(p) & ((1 << (blocks % 64)) - 1);
    }
}

/// `runs`: until the words are full, a stretch of uniform words (all zeros or
/// all ones, equal chance) of length uniform in 0..=127, then a stretch of
/// random literal words (never 0, never all ones) of length uniform in 0..=15.
pub fn fill_runs(words: &mut [u64], rng: &mut Rng) {
    let mut pos = 0;
    while pos < words.len() {
        let uniform = if rng.next_u64() & 1 == 1 { !0 } else { 0 };
        let run = (rng.below(128) as usize).min(words.len() - pos);
        words[pos..pos + run].fill(uniform);
        pos += run;
        let literals = (rng.below(16) as usize).min(words.len() - pos);
        for w in &mut words[pos..pos + literals] {
            *w = loop {
                let candidate = rng.next_u64();
                if candidate != 0 && candidate != !0 {
                    break candidate;
                }
            };
        }
        pos += literals;
    }
}

/// A prepared workload: `run` is the timed body, `rearm` the untimed reset.
pub trait Workload: Send {
    /// Which workload this is.
    fn name(&self) -> Name;
    /// Runs the timed body once and returns the units of work it did: operations
    /// for `ns/op` workloads, bytes of one bitset for `GB/s` ones.
    fn run(&mut self) -> u64;
    /// Brings the state back to where `run` starts (untimed).
    fn rearm(&mut self);
    /// Whether `run` can run again without `rearm` doing the same work (then a
    /// measurement can loop over `run` to time sub-microsecond bodies).
    fn repeatable(&self) -> bool;
}

/// The seed every workload's fill is drawn from, unless one is given.
pub const SEED: u64 = 0x05ee_df4e_e5e7;

/// The bits a workload starts from: its `acquired` and `released` bitsets
/// (`released` all zero but for `highest_released`), `capacity / 64` words
/// each. Other implementations (the peers of `freeset bench --peers`) are
/// built from the same `Fill`, so that they start from the same bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// Blocks of the set (its limit).
    pub blocks: u64,
    /// Set bit = block acquired (released blocks included).
    pub acquired: Vec<u64>,
    /// Set bit = block released while the checkpoint was durable.
    pub released: Vec<u64>,
}

impl Fill {
    /// Blocks below the limit that are not acquired.
    pub fn count_free(&self) -> u64 {
        self.blocks
            - self
                .acquired
                .iter()
                .map(|w| u64::from(w.count_ones()))
                .sum::<u64>()
    }
}

/// The fill of a workload that starts from bitsets (not `checkpoint_10pct`,
/// built by releases, nor `memcpy`), drawn exactly as [`prepare`] draws it.
pub fn fill(name: Name, sizes: Sizes, seed: u64) -> Option<Fill> {
    // `acquire_extent` runs on `acquire_fragmented`'s bits.
    let drawn = match name {
        Name::AcquireExtent => Name::AcquireFragmented,
        other => other,
    };
    let mut rng = Rng::new(seed ^ drawn as u64);
    let blocks = name.blocks(sizes);
    let mut acquired = vec![0u64; words_of(blocks)];
    match name {
        Name::AcquireFill
        | Name::AcquireInterleaved
        | Name::AcquireParallel
        | Name::AcquireParallelMutex => {}
        Name::AcquireFragmented
        | Name::AcquireExtent
        | Name::EncodeRandom
        | Name::OpenRandom
        | Name::CountFree
        | Name::Stats => fill_random(&mut acquired, blocks, 0.5, &mut rng),
        Name::Reserve100k => fill_random(&mut acquired, blocks, 0.9, &mut rng),
        Name::EncodeRuns | Name::OpenRuns => {
            // `runs` covers whole words: L is a multiple of 64.
            fill_runs(&mut acquired[..(blocks / 64) as usize], &mut rng);
        }
        Name::HighestAcquired | Name::HighestReleased => {
            fill_random(&mut acquired, 64_000.min(blocks), 0.5, &mut rng);
        }
        Name::Checkpoint10pct | Name::Memcpy => return None,
    }
    // Zeroed by the allocator (fresh pages at L): cheap where nothing is released.
    let mut released = vec![0u64; acquired.len()];
    if name == Name::HighestReleased {
        // About half of the acquired blocks, drawn after the acquired ones.
        let used = 64_000.min(blocks).div_ceil(64) as usize;
        for (r, a) in released[..used].iter_mut().zip(&acquired[..used]) {
            *r = a & rng.next_u64();
        }
    }
    Some(Fill {
        blocks,
        acquired,
        released,
    })
}

/// A set holding `fill`: its acquired words, then its released blocks
/// released one by one while the checkpoint is durable.
pub fn set_of(fill: Fill) -> FreeSet {
    let Fill {
        blocks,
        acquired,
        released,
    } = fill;
    let mut set = FreeSet::from_acquired_words(blocks, acquired).expect("words match the capacity");
    for (i, &word) in released.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let address = i as u64 * 64 + u64::from(bits.trailing_zeros()) + 1;
            set.release(address).expect("released blocks are acquired");
            bits &= bits - 1;
        }
    }
    set
}

/// Prepares a workload at the given sizes (untimed; slow at L, where it
/// builds sets of 2^27 blocks).
pub fn prepare(name: Name, sizes: Sizes, seed: u64) -> Box<dyn Workload> {
    prepare_from(name, sizes, seed, fill(name, sizes, seed))
}

/// [`prepare`] from the workload's fill, drawn already (`fill(name, sizes,
/// seed)`, `None` for a workload not built from bitsets): a caller that
/// needs the fill too (for [`prepare_split`]) draws it once.
pub fn prepare_from(name: Name, sizes: Sizes, seed: u64, fill: Option<Fill>) -> Box<dyn Workload> {
    let set = || set_of(fill.expect("a workload built from bitsets"));
    match name {
        Name::AcquireFill | Name::AcquireFragmented => Box::new(AcquireAll::new(name, set())),
        Name::AcquireInterleaved => Box::new(AcquireInterleaved::new(set())),
        Name::AcquireExtent => Box::new(extent::AcquireExtent::new(set())),
        Name::AcquireParallel | Name::AcquireParallelMutex => {
            Box::new(AcquireParallel::new(name, set()))
        }
        Name::Reserve100k => Box::new(Reserve100k { set: set() }),
        Name::Checkpoint10pct => {
            let mut rng = Rng::new(seed ^ name as u64);
            Box::new(Checkpoint::new(sizes.small, &mut rng))
        }
        Name::EncodeRuns | Name::EncodeRandom => Box::new(Encode { name, set: set() }),
        Name::OpenRuns | Name::OpenRandom => Box::new(Open::new(name, set())),
        Name::CountFree | Name::HighestAcquired | Name::HighestReleased => {
            Box::new(Query { name, set: set() })
        }
        Name::Stats => Box::new(StatsPass { set: set() }),
        Name::Memcpy => {
            let bytes = (sizes.large / 8) as usize;
            let source: Vec<u8> = (0..bytes).map(|i| i as u8).collect();
            Box::new(Memcpy {
                source,
                target: vec![0; bytes],
            })
        }
    }
}

/// A codec workload cut into `parts` sets: the same bits, whole shards to
/// each part (the last takes the rest), each part encoded or opened with
/// the sequential codec by its own task on the current pool, all at once.
/// No coordination between the parts: what `parts` threads of this machine
/// give independent calls, the yardstick for a parallel call (`freeset
/// bench --threads N` shows it beside the parallel figure). With one part,
/// the sequential codec on this thread: the one-thread figure on any pool.
/// `whole` is the workload's fill (`fill(name, sizes, seed)`). `None` for a
/// workload that is not a codec workload, or no part.
pub fn prepare_split(name: Name, whole: &Fill, parts: usize) -> Option<Box<dyn Workload>> {
    if !name.is_codec() || parts == 0 {
        return None;
    }
    let sets = split_fill(whole, parts).into_iter().map(set_of);
    Some(match name {
        Name::EncodeRuns | Name::EncodeRandom => Box::new(Split {
            parts: sets.map(|set| Encode { name, set }).collect(),
        }),
        _ => Box::new(Split {
            parts: sets.map(|set| Open::new(name, set)).collect(),
        }),
    })
}

/// `whole` cut into `parts` fills (fewer if it has fewer shards): whole
/// shards to each but the last, which takes the rest; the same bits in the
/// same order.
fn split_fill(whole: &Fill, parts: usize) -> Vec<Fill> {
    let shard_words = (freeset::SHARD_BLOCKS / 64) as usize;
    let words = whole.acquired.len();
    let per = (words / parts / shard_words).max(1) * shard_words;
    let mut fills = Vec::new();
    let mut first = 0;
    while first < words {
        let last = fills.len() + 1 == parts || first + per >= words;
        let end = if last { words } else { first + per };
        let blocks = if last {
            whole.blocks - 64 * first as u64
        } else {
            64 * (end - first) as u64
        };
        fills.push(Fill {
            blocks,
            acquired: whole.acquired[first..end].to_vec(),
            released: whole.released[first..end].to_vec(),
        });
        first = end;
    }
    fills
}

/// Runs `f` on every part at once, as a parallel call does: one task per
/// part but the first, which this thread takes. Then it spins until the
/// others are done, for at most a millisecond (then rayon's scope waits as
/// it does): the parallel codec's threads do the same at the end of a call,
/// and a split that let this thread sleep would pay a wake-up the parallel
/// call does not.
fn each_at_once<T: Send>(parts: &mut [T], f: impl Fn(&mut T) + Sync) {
    let done = AtomicUsize::new(0);
    let (first, others) = parts.split_first_mut().expect("one part or more");
    let others_len = others.len();
    rayon::scope(|scope| {
        for part in others {
            let (done, f) = (&done, &f);
            scope.spawn(move |_| {
                f(part);
                done.fetch_add(1, Ordering::Release);
            });
        }
        f(first);
        let start = std::time::Instant::now();
        while done.load(Ordering::Acquire) < others_len
            && start.elapsed() < std::time::Duration::from_millis(1)
        {
            std::hint::spin_loop();
        }
    });
}

/// A codec workload that can run on the threads a [`Parallelism`] names:
/// the standard one runs on the default, each part of a split on one.
trait Part: Workload + Send {
    /// [`Workload::run`] on `parallelism`'s threads.
    fn run_with(&mut self, parallelism: Parallelism) -> u64;
}

/// [`prepare_split`]: parts of one codec workload, each run by the
/// sequential codec, all at once.
struct Split<P> {
    parts: Vec<P>,
}

impl<P: Part> Workload for Split<P> {
    fn name(&self) -> Name {
        self.parts[0].name()
    }

    fn run(&mut self) -> u64 {
        let units = AtomicU64::new(0);
        each_at_once(&mut self.parts, |part| {
            let done = part.run_with(Parallelism::SEQUENTIAL);
            units.fetch_add(done, Ordering::Relaxed);
        });
        units.into_inner()
    }

    fn rearm(&mut self) {
        self.parts.iter_mut().for_each(Workload::rearm);
    }

    fn repeatable(&self) -> bool {
        self.parts[0].repeatable()
    }
}

fn words_of(blocks: u64) -> usize {
    blocks.div_ceil(freeset::SHARD_BLOCKS) as usize * 64
}

/// A set of `blocks` blocks with `random(p)` acquired.
pub fn random_set(blocks: u64, p: f64, rng: &mut Rng) -> FreeSet {
    let mut words = vec![0u64; words_of(blocks)];
    fill_random(&mut words, blocks, p, rng);
    FreeSet::from_acquired_words(blocks, words).expect("words match the capacity")
}

/// A set of `blocks` blocks (a multiple of 64) with the `runs` pattern acquired.
pub fn runs_set(blocks: u64, rng: &mut Rng) -> FreeSet {
    let mut words = vec![0u64; words_of(blocks)];
    let used = (blocks / 64) as usize;
    fill_runs(&mut words[..used], rng);
    FreeSet::from_acquired_words(blocks, words).expect("words match the capacity")
}

/// `acquire_fill` and `acquire_fragmented`: reserve every free block, acquire
/// until none, forfeit.
/// Two jobs, each with a reservation of half the set, acquiring to the end
/// at once: through `acquire_concurrently` (one cursor per job), or on a
/// `Mutex<FreeSet>` (the lock taken for every acquire). The jobs are rayon
/// tasks on the current pool, so a pool of one thread runs them one after
/// the other and a pool of two runs them side by side.
struct AcquireParallel {
    name: Name,
    pristine: FreeSet,
    set: Option<FreeSet>,
}

impl AcquireParallel {
    fn new(name: Name, set: FreeSet) -> Self {
        AcquireParallel {
            name,
            pristine: set.clone(),
            set: Some(set),
        }
    }
}

impl Workload for AcquireParallel {
    fn name(&self) -> Name {
        self.name
    }

    fn run(&mut self) -> u64 {
        let mut set = self.set.take().expect("rearmed");
        let half = set.count_free() / 2;
        let jobs = [
            set.reserve(half).expect("opened").expect("half is free"),
            set.reserve(half).expect("opened").expect("half is free"),
        ];
        let acquired = if self.name == Name::AcquireParallel {
            let counts = set.acquire_concurrently(|acquirer| {
                let counts = [0u64; 2].map(std::sync::atomic::AtomicU64::new);
                rayon::scope(|scope| {
                    for (job, count) in jobs.iter().zip(&counts) {
                        scope.spawn(move |_| {
                            let mut cursor = acquirer.cursor(job).expect("a job's reservation");
                            let mut n = 0;
                            while let Some(address) = cursor.acquire() {
                                black_box(address);
                                n += 1;
                            }
                            count.store(n, std::sync::atomic::Ordering::Relaxed);
                        });
                    }
                });
                counts.map(|c| c.into_inner())
            });
            counts.iter().sum()
        } else {
            let shared = std::sync::Mutex::new(set);
            let counts = [0u64; 2].map(std::sync::atomic::AtomicU64::new);
            rayon::scope(|scope| {
                for (job, count) in jobs.iter().zip(&counts) {
                    let shared = &shared;
                    scope.spawn(move |_| {
                        let mut n = 0;
                        while let Some(address) = shared
                            .lock()
                            .expect("no job panics")
                            .acquire(job)
                            .expect("a job's reservation")
                        {
                            black_box(address);
                            n += 1;
                        }
                        count.store(n, std::sync::atomic::Ordering::Relaxed);
                    });
                }
            });
            set = shared.into_inner().expect("no job panicked");
            counts
                .iter()
                .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
                .sum()
        };
        debug_assert_eq!(acquired, 2 * half);
        for job in &jobs {
            set.forfeit(job).expect("a job's reservation");
        }
        self.set = Some(set);
        acquired
    }

    fn rearm(&mut self) {
        self.set = Some(self.pristine.clone());
    }

    fn repeatable(&self) -> bool {
        false
    }
}

struct AcquireAll {
    name: Name,
    pristine: FreeSet,
    set: FreeSet,
}

impl AcquireAll {
    fn new(name: Name, set: FreeSet) -> Self {
        AcquireAll {
            name,
            pristine: set.clone(),
            set,
        }
    }
}

impl Workload for AcquireAll {
    fn name(&self) -> Name {
        self.name
    }

    fn run(&mut self) -> u64 {
        let free = self.set.count_free();
        let reservation = self
            .set
            .reserve(free)
            .expect("opened, n > 0")
            .expect("n free blocks");
        let mut acquired = 0;
        while let Some(address) = self.set.acquire(&reservation).expect("active reservation") {
            black_box(address);
            acquired += 1;
        }
        self.set.forfeit(&reservation).expect("active reservation");
        debug_assert_eq!(acquired, free);
        acquired
    }

    fn rearm(&mut self) {
        self.set.clone_from(&self.pristine);
    }

    fn repeatable(&self) -> bool {
        false
    }
}

/// `acquire_interleaved`: four reservations of a quarter of the free blocks
/// each, one acquire from each in turn until every one is exhausted, then
/// four forfeits.
struct AcquireInterleaved {
    pristine: FreeSet,
    set: FreeSet,
}

/// Reservations `acquire_interleaved` takes turns between.
pub const INTERLEAVED_JOBS: usize = 4;

impl AcquireInterleaved {
    fn new(set: FreeSet) -> Self {
        AcquireInterleaved {
            pristine: set.clone(),
            set,
        }
    }
}

impl Workload for AcquireInterleaved {
    fn name(&self) -> Name {
        Name::AcquireInterleaved
    }

    fn run(&mut self) -> u64 {
        let quarter = self.set.count_free() / INTERLEAVED_JOBS as u64;
        let jobs: [_; INTERLEAVED_JOBS] = std::array::from_fn(|_| {
            self.set
                .reserve(quarter)
                .expect("opened, n > 0")
                .expect("a quarter is free")
        });
        let mut acquired = 0;
        let mut live = INTERLEAVED_JOBS;
        // Round-robin; the reservations are all the same size, so they run
        // out in the same round.
        while live == INTERLEAVED_JOBS {
            for job in &jobs {
                match self.set.acquire(job).expect("active reservation") {
                    Some(address) => {
                        black_box(address);
                        acquired += 1;
                    }
                    None => live -= 1,
                }
            }
        }
        for job in &jobs {
            self.set.forfeit(job).expect("active reservation");
        }
        debug_assert_eq!(acquired, quarter * INTERLEAVED_JOBS as u64);
        acquired
    }

    fn rearm(&mut self) {
        self.set.clone_from(&self.pristine);
    }

    fn repeatable(&self) -> bool {
        false
    }
}

struct Reserve100k {
    set: FreeSet,
}

impl Workload for Reserve100k {
    fn name(&self) -> Name {
        Name::Reserve100k
    }

    fn run(&mut self) -> u64 {
        for _ in 0..100 {
            let reservation = self.set.reserve(100_000).expect("opened, n > 0");
            let reservation = reservation.expect("S random(0.9) has 100,000 free blocks");
            black_box(reservation);
            self.set.forfeit(&reservation).expect("active reservation");
        }
        100
    }

    fn rearm(&mut self) {}

    fn repeatable(&self) -> bool {
        true
    }
}

/// `checkpoint_10pct`: S all acquired, S/10 random addresses released.
struct Checkpoint {
    pristine: FreeSet,
    set: FreeSet,
}

impl Checkpoint {
    fn new(blocks: u64, rng: &mut Rng) -> Self {
        let words = vec![!0u64; words_of(blocks)];
        let mut set =
            FreeSet::from_acquired_words(blocks, words).expect("words match the capacity");
        // Only blocks below the limit are acquired-and-releasable; S is whole shards.
        for _ in 0..blocks / 10 {
            let address = rng.below(blocks) + 1;
            // Repeats are skipped: releasing twice is misuse.
            if !set.is_released(address).expect("in range") {
                set.release(address).expect("acquired, not released");
            }
        }
        Checkpoint {
            pristine: set.clone(),
            set,
        }
    }
}

impl Workload for Checkpoint {
    fn name(&self) -> Name {
        Name::Checkpoint10pct
    }

    fn run(&mut self) -> u64 {
        self.set.checkpoint_not_durable().expect("durable before");
        self.set
            .checkpoint_durable()
            .expect("not durable, no reservation");
        1
    }

    fn rearm(&mut self) {
        self.set.clone_from(&self.pristine);
    }

    fn repeatable(&self) -> bool {
        false
    }
}

struct Encode {
    name: Name,
    set: FreeSet,
}

impl Workload for Encode {
    fn name(&self) -> Name {
        self.name
    }

    fn run(&mut self) -> u64 {
        self.run_with(Parallelism::default())
    }

    fn rearm(&mut self) {}

    fn repeatable(&self) -> bool {
        true
    }
}

impl Part for Encode {
    fn run_with(&mut self, parallelism: Parallelism) -> u64 {
        black_box(
            self.set
                .encode_with(parallelism)
                .expect("durable, no reservation"),
        );
        self.set.capacity() / 8
    }
}

/// `open_*`: the bytes of the matching encode workload, opened into a set of L.
struct Open {
    name: Name,
    acquired: Vec<u8>,
    released: Vec<u8>,
    set: FreeSet,
}

impl Open {
    fn new(name: Name, source: FreeSet) -> Self {
        let (acquired, released) = source.encode().expect("durable, no reservation");
        let set = FreeSet::unopened(source.limit()).expect("limit > 0");
        Open {
            name,
            acquired,
            released,
            set,
        }
    }
}

impl Workload for Open {
    fn name(&self) -> Name {
        self.name
    }

    fn run(&mut self) -> u64 {
        self.run_with(Parallelism::default())
    }

    fn rearm(&mut self) {
        self.set.reset();
    }

    fn repeatable(&self) -> bool {
        false
    }
}

impl Part for Open {
    fn run_with(&mut self, parallelism: Parallelism) -> u64 {
        self.set
            .open_with(&self.acquired, &self.released, &[], &[], parallelism)
            .expect("a valid encoding");
        black_box(self.set.count_free());
        self.set.capacity() / 8
    }
}

/// `count_free`, `highest_acquired` and `highest_released`: one query.
struct Query {
    name: Name,
    set: FreeSet,
}

impl Workload for Query {
    fn name(&self) -> Name {
        self.name
    }

    fn run(&mut self) -> u64 {
        let set = black_box(&self.set);
        match self.name {
            Name::CountFree => black_box(set.count_free()),
            Name::HighestReleased => black_box(set.highest_released().unwrap_or(0)),
            _ => black_box(set.highest_acquired().unwrap_or(0)),
        };
        1
    }

    fn rearm(&mut self) {}

    fn repeatable(&self) -> bool {
        true
    }
}

/// `stats`: one `FreeSet::stats`, in bytes of the bitset it reads.
struct StatsPass {
    set: FreeSet,
}

impl Workload for StatsPass {
    fn name(&self) -> Name {
        Name::Stats
    }

    fn run(&mut self) -> u64 {
        black_box(black_box(&self.set).stats());
        self.set.capacity() / 8
    }

    fn rearm(&mut self) {}

    fn repeatable(&self) -> bool {
        true
    }
}

struct Memcpy {
    source: Vec<u8>,
    target: Vec<u8>,
}

impl Workload for Memcpy {
    fn name(&self) -> Name {
        Name::Memcpy
    }

    fn run(&mut self) -> u64 {
        // On a pool of several threads, each copies its share: the ceiling
        // for a parallel pass over a bitset.
        let threads = rayon::current_num_threads();
        if threads > 1 {
            let share = self.source.len().div_ceil(threads);
            self.target
                .par_chunks_mut(share)
                .zip(black_box(&self.source).par_chunks(share))
                .for_each(|(target, source)| target.copy_from_slice(source));
        } else {
            self.target.copy_from_slice(black_box(&self.source));
        }
        black_box(&mut self.target);
        self.source.len() as u64
    }

    fn rearm(&mut self) {}

    fn repeatable(&self) -> bool {
        true
    }
}

/// A rayon pool of `threads` threads, each pinned to its own core (round
/// robin). Unpinned, a 2-vCPU VM's scheduler often wakes both workers on one
/// CPU after a single-threaded stretch (the rearm between runs of `open` or
/// `checkpoint`), and a figure then measures that placement, not the code
/// (the swing it gave is in perf/notes.md); a pinned pool gives the same
/// speed-up every run. `freeset bench` and the criterion benches share it.
pub fn pinned_pool(threads: usize) -> rayon::ThreadPool {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(move |i| {
            if !cores.is_empty() {
                core_affinity::set_for_current(cores[i % cores.len()]);
            }
        })
        .build()
        .expect("a thread pool of a few threads can be built")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in Name::ALL {
            assert_eq!(name.as_str().parse::<Name>(), Ok(name));
        }
        assert!("nope".parse::<Name>().is_err());
    }

    #[test]
    fn random_fill_has_the_density_asked_for() {
        let mut rng = Rng::new(1);
        for p in [0.1, 0.5, 0.9] {
            let mut words = vec![0u64; 4096];
            fill_random(&mut words, 4096 * 64, p, &mut rng);
            let density =
                words.iter().map(|w| w.count_ones() as u64).sum::<u64>() as f64 / (4096.0 * 64.0);
            assert!((density - p).abs() < 0.01, "p = {p}, density = {density}");
        }
    }

    #[test]
    fn runs_fill_follows_the_pattern() {
        let mut rng = Rng::new(2);
        let mut words = vec![0x1234u64; 100_000];
        fill_runs(&mut words, &mut rng);
        let uniform = words.iter().filter(|&&w| w == 0 || w == !0).count();
        // Expected share of uniform words: 63.5 / (63.5 + 7.5), about 0.89.
        let share = uniform as f64 / words.len() as f64;
        assert!((share - 0.89).abs() < 0.03, "uniform share {share}");
    }

    #[test]
    fn fills_are_the_bits_the_workloads_always_drew() {
        // `fill` took over the drawing from `prepare`: the same generator in
        // the same order, so figures (and instruction counts) stay comparable
        // with those measured before it.
        let sizes = Sizes {
            small: 1 << 17,
            large: 1 << 18,
        };
        let rng = |name: Name| Rng::new(SEED ^ name as u64);
        let random = |name, blocks, p| random_set(blocks, p, &mut rng(name));
        let runs = |name, blocks| runs_set(blocks, &mut rng(name));
        let old = [
            (
                Name::AcquireFragmented,
                random(Name::AcquireFragmented, 1 << 17, 0.5),
            ),
            (Name::Reserve100k, random(Name::Reserve100k, 1 << 17, 0.9)),
            (Name::EncodeRuns, runs(Name::EncodeRuns, 1 << 18)),
            (Name::OpenRandom, random(Name::OpenRandom, 1 << 18, 0.5)),
            (Name::CountFree, random(Name::CountFree, 1 << 18, 0.5)),
        ];
        for (name, set) in old {
            let fill = fill(name, sizes, SEED).unwrap();
            assert_eq!(fill.acquired, set.acquired_words(), "{}", name.as_str());
            assert!(fill.released.iter().all(|&w| w == 0));
        }
        let empty = fill(Name::AcquireFill, sizes, SEED).unwrap();
        assert_eq!(empty.count_free(), 1 << 17);
        assert_eq!(fill(Name::Checkpoint10pct, sizes, SEED), None);
    }

    #[test]
    fn highest_released_releases_about_half_of_the_first_64000_blocks() {
        let fill = fill(Name::HighestReleased, Sizes::QUICK, SEED).unwrap();
        let acquired = fill.blocks - fill.count_free();
        let released: u64 = fill
            .released
            .iter()
            .map(|w| u64::from(w.count_ones()))
            .sum();
        assert!(fill
            .released
            .iter()
            .zip(&fill.acquired)
            .all(|(r, a)| r & !a == 0));
        assert!((acquired as f64 - 32_000.0).abs() < 1_000.0, "{acquired}");
        assert!((released as f64 / acquired as f64 - 0.5).abs() < 0.02);
        let set = set_of(fill.clone());
        assert_eq!(set.count_released(), released);
        assert!(set.highest_released().unwrap() <= 64_000);
        assert!(set.is_checkpoint_durable());
    }

    #[test]
    fn a_split_holds_the_same_bits_in_whole_shards() {
        let sizes = Sizes {
            small: 1 << 17,
            large: (1 << 17) + 4096 * 3 + 64,
        };
        let whole = fill(Name::EncodeRuns, sizes, SEED).unwrap();
        for parts in 1..=5 {
            let fills = split_fill(&whole, parts);
            assert_eq!(fills.len(), parts);
            let acquired: Vec<u64> = fills.iter().flat_map(|f| f.acquired.clone()).collect();
            assert_eq!(acquired, whole.acquired, "{parts} parts");
            assert_eq!(fills.iter().map(|f| f.blocks).sum::<u64>(), whole.blocks);
            for part in &fills[..parts - 1] {
                assert_eq!(part.blocks % freeset::SHARD_BLOCKS, 0);
                assert_eq!(part.acquired.len() as u64 * 64, part.blocks);
            }
        }
        // More parts than shards: one shard each.
        let tiny = Fill {
            blocks: 3 * 4096,
            acquired: vec![5; 3 * 64],
            released: vec![0; 3 * 64],
        };
        assert_eq!(split_fill(&tiny, 8).len(), 3);
        for name in Name::ALL {
            let whole = fill(name, Sizes::CALLGRIND, SEED);
            assert!(whole.is_some() || !name.is_codec(), "{}", name.as_str());
            let split = whole.and_then(|whole| prepare_split(name, &whole, 2));
            assert_eq!(split.is_some(), name.is_codec(), "{}", name.as_str());
            if let Some(mut split) = split {
                // Every part's bytes: the whole bitset's, cut in two.
                assert_eq!(split.run(), Sizes::CALLGRIND.large / 8);
                split.rearm();
                assert_eq!(split.run(), Sizes::CALLGRIND.large / 8);
            }
        }
    }

    #[test]
    fn every_workload_runs_at_a_tiny_size() {
        let sizes = Sizes {
            small: 1 << 17,
            large: 1 << 17,
        };
        for name in Name::ALL {
            if name == Name::Reserve100k {
                continue; // needs 100,000 free blocks at 10% free: S >= 2^20
            }
            let mut workload = prepare(name, sizes, SEED);
            assert_eq!(workload.name(), name);
            let units = workload.run();
            assert!(units > 0);
            workload.rearm();
            assert_eq!(
                workload.run(),
                units,
                "{}: the same work after rearm",
                name.as_str()
            );
        }
        let mut reserve = prepare(Name::Reserve100k, Sizes::CALLGRIND, SEED);
        assert_eq!(reserve.run(), 100);
    }
}
