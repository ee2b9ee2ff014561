//! What a workload is: its name and unit, the sizes it runs at, and the
//! [`Workload`] trait every prepared workload implements. The bottom of
//! `workloads/`: it imports no other file of it.

use std::str::FromStr;

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
