//! What one run simulates ([`Config`], [`Variant`]) and the simulator's
//! bounds and constants.
//!
//! What must never happen here: a configuration accepted that sizes an
//! allocation without a bound, or that leaves the engine no room to work.

/// Jobs reserving at the same time, at most.
pub(super) const JOBS_MAX: usize = 4;
/// Blocks one job reserves, at most.
pub(super) const JOB_BLOCKS_MAX: u64 = 16;
/// Blocks one compaction job reserves, at most (`--workload compaction`).
pub(super) const COMPACTION_BLOCKS_MAX: u64 = 64;
/// With `--workload compaction`, the odds that a new job is a compaction
/// whose output is scratch, and that an operation releases a block of
/// scratch output (before any other work).
pub(super) const COMPACTION_ODDS: f64 = 0.5;
pub(super) const SCRATCH_RELEASE_ODDS: f64 = 0.5;
/// A release picks this many live blocks at random and frees the oldest.
pub(super) const RELEASE_CANDIDATES: usize = 3;
/// The occupancy the engine steers towards is drawn from this range, at the
/// start and then at one checkpoint in [`LOAD_CHANGE_ODDS`]: a load that rises
/// and falls, so the grid fills high and then empties in scattered holes.
pub(super) const OCCUPANCY_TARGETS: (f64, f64) = (0.2, 0.95);
pub(super) const LOAD_CHANGE_ODDS: u64 = 32;
/// Operations between two calls of the progress callback.
pub(super) const PROGRESS_EVERY: u64 = 1 << 14;
/// Grids larger than this are refused: the model keeps a bitset of its own and
/// two snapshots of it next to the set's three bitsets.
pub(super) const BLOCKS_MAX: u64 = 1 << 32;
/// The largest `--chunk-bytes`: 64 MiB. A chunk is the encoding a grid block
/// holds, and the encoder's buffer is one chunk; no engine's block is
/// larger, and a larger one only sizes an allocation.
pub(super) const CHUNK_BYTES_MAX: usize = 64 << 20;
/// The most checkpoints `--plot` draws, and crashes it marks: 2^20 points
/// (32 MiB of samples), more than a picture 1200 pixels wide can show. A
/// run whose `--ops / --checkpoint-every` is larger is refused; crashes
/// past the first 2^20 are counted in the title but not marked.
pub(super) const PLOT_POINTS_MAX: u64 = 1 << 20;

/// What one run simulates.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Seed of the PRNG: everything random in the run comes from it.
    pub seed: u64,
    /// Blocks of the grid (the limit of the set).
    pub blocks: u64,
    /// Operations to run.
    pub ops: u64,
    /// Operations between two checkpoints (at least 2).
    pub checkpoint_every: u64,
    /// Probability of a crash at each operation, in [0, 1].
    pub crash_rate: f64,
    /// Chunk size of the checkpoint encoding: a positive multiple of 8.
    pub chunk_bytes: usize,
    /// Storage faults (`--faults`): all zero, none.
    pub faults: FaultRates,
    /// Make the set with immediate reuse (`--immediate-reuse`).
    pub immediate_reuse: bool,
    /// What the jobs do (`--workload`).
    pub workload: Workload,
}

/// What the engine's jobs do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Workload {
    /// Jobs write blocks that become live, released later at random.
    #[default]
    Default,
    /// Half the jobs are compactions: their blocks (up to
    /// [`COMPACTION_BLOCKS_MAX`]) are scratch output, released within the
    /// checkpoint interval they were written in (at random after the job,
    /// and all of them before the next checkpoint), like tables a
    /// compaction writes and merges away soon.
    Compaction,
}

impl Workload {
    /// Its name on the command line and in the report.
    pub(super) fn name(self) -> &'static str {
        match self {
            Workload::Default => "default",
            Workload::Compaction => "compaction",
        }
    }

    /// The most blocks one job reserves.
    pub(super) fn job_blocks_max(self) -> u64 {
        match self {
            Workload::Default => JOB_BLOCKS_MAX,
            Workload::Compaction => COMPACTION_BLOCKS_MAX,
        }
    }
}

impl Config {
    /// Checks what clap cannot: the grid must be addressable by the model and
    /// leave room for two checkpoint trailers and a job. An `Err` says why.
    pub fn validate(&self) -> Result<(), String> {
        if let Err(message) = check_chunk_bytes(self.chunk_bytes) {
            return Err(format!("chunk size: {message}"));
        }
        if !(0.0..=1.0).contains(&self.crash_rate) {
            return Err(format!("crash rate {} is not in [0, 1]", self.crash_rate));
        }
        self.faults.validate()?;
        if self.checkpoint_every < 2 {
            return Err(format!(
                "checkpoints every {} operation(s) leave jobs no time to acquire: \
                 checkpoint every 2 operations or more",
                self.checkpoint_every
            ));
        }
        if self.blocks == 0 || self.blocks > BLOCKS_MAX {
            return Err(format!(
                "{} blocks: the simulator takes 1 to {BLOCKS_MAX} blocks",
                self.blocks
            ));
        }
        let trailer = trailer_blocks_max(self.blocks, self.chunk_bytes);
        if self.blocks < 2 * trailer + self.workload.job_blocks_max() {
            return Err(format!(
                "{} blocks leave no room to work: two checkpoint trailers may need {} \
                 blocks; raise --blocks or --chunk-bytes",
                self.blocks,
                2 * trailer
            ));
        }
        Ok(())
    }
}

/// Which engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The engine tells the set a checkpoint is durable when it is.
    Correct,
    /// Broken on purpose: the engine calls `checkpoint_durable()` right after
    /// writing a checkpoint, before it is durable, so the set frees blocks that
    /// the last durable checkpoint still references.
    FreeBeforeDurable,
    /// Broken on purpose: the engine trusts what it reads back, checking no
    /// checksum (of a chunk, an encoding or a superblock copy), so a fault
    /// goes undetected.
    SkipChecksum,
    /// Broken on purpose: the engine reuses blocks at once by a rule of its
    /// own that is one checkpoint off. It drops its newest live block
    /// rather than an old one, and when that block was written since the
    /// last checkpoint was made *durable* (rather than since the last one
    /// was *written*) it overwrites it in place instead of releasing it,
    /// as if nothing referenced it. The checkpoint written and not yet
    /// durable may reference it.
    ReuseReferenced,
}

impl Variant {
    /// Its name for `--broken`, `None` for the correct engine.
    pub(super) fn broken_name(self) -> Option<&'static str> {
        match self {
            Variant::Correct => None,
            Variant::FreeBeforeDurable => Some("free-before-durable"),
            Variant::SkipChecksum => Some("skip-checksum"),
            Variant::ReuseReferenced => Some("reuse-referenced"),
        }
    }
}

/// The kinds of storage fault (see the module doc, "Storage faults").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// A write that reports success and writes nothing.
    Lost,
    /// A write whose bytes land at another address.
    Misdirected,
    /// A write that stores one bit flipped.
    Flip,
    /// A crash while a checkpoint's writes are in flight: only a prefix of
    /// them reached the disk, the last one half.
    Torn,
}

impl FaultKind {
    pub(super) const ALL: [FaultKind; 4] = [
        FaultKind::Lost,
        FaultKind::Misdirected,
        FaultKind::Flip,
        FaultKind::Torn,
    ];

    /// Its name in the report, the JSON and `--allow-empty`.
    pub(super) fn name(self) -> &'static str {
        match self {
            FaultKind::Lost => "lost",
            FaultKind::Misdirected => "misdirected",
            FaultKind::Flip => "flip",
            FaultKind::Torn => "torn",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// The most tries of a write the engine verifies: it writes again until the
/// block reads back as written. With at most [`WRITE_FAULTS_MAX`] of the
/// writes faulty, 64 failures in a row are a chance of 2^-64.
pub(super) const WRITE_TRIES_MAX: u32 = 64;
/// The most the rates of the faults of one write (lost, misdirected, flip)
/// may add up to: a write faulty more often than not could not be repaired
/// in a bounded number of tries.
pub(super) const WRITE_FAULTS_MAX: f64 = 0.5;

/// The storage faults of a run: per write of a checkpoint (a trailer chunk
/// or a superblock copy) the odds that it is lost, misdirected (chunks
/// only) or stores a flipped bit, and per crash while a checkpoint's writes
/// are in flight the odds that they were torn.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultRates {
    pub lost: f64,
    pub misdirected: f64,
    pub flip: f64,
    pub torn: f64,
}

impl FaultRates {
    /// The rates of `--faults` when no rate flag is given.
    pub const DEFAULT: FaultRates = FaultRates {
        lost: 0.01,
        misdirected: 0.01,
        flip: 0.01,
        torn: 0.25,
    };

    pub(super) fn rate(&self, kind: FaultKind) -> f64 {
        match kind {
            FaultKind::Lost => self.lost,
            FaultKind::Misdirected => self.misdirected,
            FaultKind::Flip => self.flip,
            FaultKind::Torn => self.torn,
        }
    }

    /// The odds that one write is faulty.
    pub(super) fn per_write(&self) -> f64 {
        self.lost + self.misdirected + self.flip
    }

    pub(super) fn any(&self) -> bool {
        FaultKind::ALL.iter().any(|&kind| self.rate(kind) > 0.0)
    }

    fn validate(&self) -> Result<(), String> {
        for kind in FaultKind::ALL {
            let rate = self.rate(kind);
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "{} fault rate {rate} is not in [0, 1]",
                    kind.name()
                ));
            }
        }
        if self.per_write() > WRITE_FAULTS_MAX {
            return Err(format!(
                "the lost, misdirected and flip rates add up to {}, more than \
                 {WRITE_FAULTS_MAX}: a write faulty more often than not could not be repaired",
                self.per_write()
            ));
        }
        Ok(())
    }
}

/// A chunk size is a multiple of 8 (encodings are words) from 8 to
/// [`CHUNK_BYTES_MAX`].
pub(super) fn check_chunk_bytes(bytes: usize) -> Result<(), String> {
    if bytes < 8 || !bytes.is_multiple_of(8) {
        return Err(format!("{bytes} bytes is not a positive multiple of 8"));
    }
    if bytes > CHUNK_BYTES_MAX {
        return Err(format!(
            "{bytes} bytes is more than {CHUNK_BYTES_MAX} (64 MiB), the largest chunk the simulator writes"
        ));
    }
    Ok(())
}

/// Most blocks one checkpoint's trailer can take: both encodings at the size
/// bound of `docs/format.md` (`8 * ceil(w / (2^32 - 1)) + 8 * w` bytes), where
/// `w` counts the words up to the last acquired block, below `blocks`.
/// Jobs leave twice this free: the trailer being written and the next one.
pub(super) fn trailer_blocks_max(blocks: u64, chunk_bytes: usize) -> u64 {
    let words = blocks.div_ceil(64);
    let bytes = 8 * words.div_ceil((1 << 32) - 1) + 8 * words;
    2 * bytes.div_ceil(chunk_bytes as u64)
}
