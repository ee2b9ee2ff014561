//! `freeset simulate`: a seeded crash-and-restart simulator, in the spirit of
//! TigerBeetle's simulator but small. An engine allocates its grid through a
//! [`FreeSet`], writes checkpoints, crashes at random and restarts from its last
//! durable checkpoint, while an independent model checks the set after every
//! operation.
//!
//! What lives here: the simulated engine and disk, the model that checks them,
//! the deterministic PRNG, and the command line
//! (`run`: flags, progress bar, text or JSON output, `--save` of the last
//! durable checkpoint for `freeset inspect`, `--plot` of the free space over
//! time). The engine itself is the plain function [`simulate`] (or
//! [`simulate_recorded`], which also keeps what `--save` and `--plot` need),
//! which tests call directly.
//!
//! What must never happen here: a simulation that depends on anything but its
//! [`Config`] (no clock, no threads, no iteration over hashed collections), so
//! that a seed replays exactly; a model that asks the [`FreeSet`] what is true
//! (it keeps its own bitset and sets and only compares); a use of `freeset`
//! beyond its stable public API (this file is to move as is into a crate of its
//! own); a panic on user input (bad flags are clap errors or a clear message,
//! exit code 2); a flag that sizes an allocation without a bound
//! ([`BLOCKS_MAX`], [`CHUNK_BYTES_MAX`], [`PLOT_POINTS_MAX`]).
//!
//! # The engine
//!
//! Jobs (up to [`JOBS_MAX`] at a time) reserve 1 to [`JOB_BLOCKS_MAX`] blocks,
//! acquire them one per operation and write each (the disk records which write
//! a block holds). A job whose blocks are all written forfeits its reservation
//! and its blocks become *live*. Live blocks are released at random, older ones
//! more often (the oldest of [`RELEASE_CANDIDATES`] random picks), at a rate that
//! steers the grid towards a target occupancy drawn anew now and then: the
//! grid fills high, then empties in scattered holes, and fragments.
//!
//! Every `--checkpoint-every` operations, before the operation, the engine
//! writes checkpoint `k`:
//! 1. every job forfeits (`encode` needs no active reservation);
//! 2. the trailer of checkpoint `k-1` is released, *before* encoding, so that
//!    the encoding of `k` carries it as released: it becomes free when `k` is
//!    durable, which is exactly when nobody can restart from `k-1` any more, and
//!    a restart from `k` frees it too (a release after encoding would be lost
//!    by such a restart and leak the blocks);
//! 3. both bitsets are encoded into `--chunk-bytes` chunks;
//! 4. one block per chunk is reserved and acquired (the *trailer*; acquired after
//!    encoding, so it is not in the encoded bytes) and the chunks are written
//!    into it; the trailer addresses and the length and checksum of each
//!    encoding go to the (simulated) superblock, with a journal of the live
//!    blocks added and released since checkpoint `k-1` (the engine's own index);
//! 5. `checkpoint_not_durable()`.
//!
//! Checkpoint `k` becomes durable after a random delay (the engine waits for it
//! before writing `k+1`); every job forfeits and the engine calls
//! `checkpoint_durable()`, which frees what was released before `k` was written.
//!
//! A crash (probability `--crash-rate` per operation) loses everything but the
//! disk and the last durable checkpoint. The engine restarts with the live
//! blocks of that checkpoint's index, and a set made by `FreeSet::unopened` and
//! `open` from the encodings read back chunk by chunk from its trailer. `open`
//! makes the trailer acquired and pending release (so the engine must not
//! release it again), and leaves the checkpoint not durable: the restarted
//! engine learns again after a random delay that its checkpoint is durable,
//! like a replica that must see its cluster commit past it, which also
//! exercises releases into `pending` right after an open.
//!
//! # The checks
//!
//! The model keeps its own bitset of acquired blocks and sets of released and
//! pending ones. After every operation the counts and the highest addresses of
//! the set must match it, and every block must be accounted for (live, held by
//! a job, released or pending, or in the current trailer). Every acquire must
//! return a block that the model holds free and that neither the last durable
//! checkpoint nor the one written since references (its live blocks and its
//! trailer; blocks it carries as released were referenced only by the checkpoint
//! before it). After a restart the opened set must equal the durable state
//! block for block, the trailer must read back intact and every live block of
//! the checkpoint must still hold its write.
//!
//! [`Variant::FreeBeforeDurable`] is a broken engine that calls
//! `checkpoint_durable()` as soon as it has written a checkpoint; it hands out
//! blocks that the last durable checkpoint still references, which the checks
//! catch.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use freeset::{Bitset, FreeSet, Reservation};
use freeset_cli::size;
use indicatif::{ProgressBar, ProgressStyle};

use crate::exit::{self, Failure};

/// Jobs reserving at the same time, at most.
const JOBS_MAX: usize = 4;
/// Blocks one job reserves, at most.
const JOB_BLOCKS_MAX: u64 = 16;
/// A release picks this many live blocks at random and frees the oldest.
const RELEASE_CANDIDATES: usize = 3;
/// The occupancy the engine steers towards is drawn from this range, at the
/// start and then at one checkpoint in [`LOAD_CHANGE_ODDS`]: a load that rises
/// and falls, so the grid fills high and then empties in scattered holes.
const OCCUPANCY_TARGETS: (f64, f64) = (0.2, 0.95);
const LOAD_CHANGE_ODDS: u64 = 32;
/// Operations between two calls of the progress callback.
const PROGRESS_EVERY: u64 = 1 << 14;
/// Grids larger than this are refused: the model keeps a bitset of its own and
/// two snapshots of it next to the set's three bitsets.
const BLOCKS_MAX: u64 = 1 << 32;
/// The largest `--chunk-bytes`: 64 MiB. A chunk is the encoding a grid block
/// holds, and the encoder's buffer is one chunk; no engine's block is
/// larger, and a larger one only sizes an allocation.
const CHUNK_BYTES_MAX: usize = 64 << 20;
/// The most checkpoints `--plot` draws, and crashes it marks: 2^20 points
/// (32 MiB of samples), more than a picture 1200 pixels wide can show. A
/// run whose `--ops / --checkpoint-every` is larger is refused; crashes
/// past the first 2^20 are counted in the title but not marked.
const PLOT_POINTS_MAX: u64 = 1 << 20;

const DEFAULT_BLOCKS: &str = "256MiB/4KiB";
const DEFAULT_OPS: u64 = 5_000_000;

/// Options of `freeset simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seed of the run; the same seed and flags replay the same run exactly.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run this many seeds: seed, seed+1, ... (for CI).
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Blocks of the grid (at most 2^32): a count such as 65536 or 64K, or
    /// TOTAL/BLOCK sizes such as 16TiB/512KiB (units K, M, G, T, all binary,
    /// any case: 4KB is 4KiB; a size without a unit is bytes).
    #[arg(long, default_value = DEFAULT_BLOCKS, value_parser = size::parse_blocks)]
    blocks: u64,
    /// Operations per seed.
    #[arg(long, default_value_t = DEFAULT_OPS)]
    ops: u64,
    /// Operations between two checkpoints (at least 2: checkpoints forfeit
    /// every reservation, and a job needs one operation to reserve and one to
    /// acquire).
    #[arg(long, default_value_t = 256, value_name = "K",
          value_parser = clap::value_parser!(u64).range(2..))]
    checkpoint_every: u64,
    /// Probability that the engine crashes at an operation, in [0, 1].
    #[arg(long, default_value_t = 0.0002, value_name = "P", value_parser = parse_rate)]
    crash_rate: f64,
    /// Bytes of a grid block that hold encoding: the chunk size of the
    /// checkpoint trailer, a multiple of 8 from 8 to 64MiB (4096, 4K, 4KiB).
    #[arg(long, default_value = "4KiB", value_name = "BYTES", value_parser = parse_chunk_bytes)]
    chunk_bytes: usize,
    /// One JSON object per seed instead of the text summary.
    #[arg(long)]
    json: bool,
    /// Simulate the broken engine (`Variant::FreeBeforeDurable`), to see a
    /// violation reported.
    #[arg(long, hide = true)]
    broken: bool,
    /// Write the last durable checkpoint into DIR at the end (acquired.ewah,
    /// released.ewah and checkpoint.json), for `freeset inspect DIR`. One
    /// seed only.
    #[arg(long, value_name = "DIR")]
    save: Option<PathBuf>,
    /// Draw free blocks, the largest free extent and the fragmentation score
    /// at every checkpoint into FILE (.svg or .png). One seed only, and at
    /// most 2^20 checkpoints (--ops / --checkpoint-every).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
}

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
        if self.blocks < 2 * trailer + JOB_BLOCKS_MAX {
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
}

/// What a run did; equal for equal configs and variants (no timing in it).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub seed: u64,
    /// Blocks of the grid.
    pub blocks: u64,
    /// Operations run (crashes included).
    pub ops: u64,
    /// Blocks handed out by `acquire`, trailer blocks included.
    pub acquires: u64,
    /// Blocks released by the engine (trailers included; not those `open` marks).
    pub releases: u64,
    /// Checkpoints written; those a crash caught before they were durable
    /// are lost, so fewer are made durable.
    pub checkpoints_written: u64,
    pub checkpoints_durable: u64,
    /// Crashes, each followed by a restart that passed every check.
    pub crashes: u64,
    /// Highest fragmentation score of the set (`freeset::Stats`, the score
    /// `inspect` and the plot show), sampled at checkpoints.
    pub peak_fragmentation: f64,
    /// Highest `1 - largest free extent / free blocks`: the share of the free
    /// blocks outside the largest free extent, sampled at checkpoints.
    pub peak_free_outside_largest: f64,
    /// Highest fraction of the blocks acquired, sampled at checkpoints.
    pub peak_occupancy: f64,
    /// FNV-1a of every address handed out, in order: equal runs, equal digest.
    pub digest: u64,
}

/// A check that failed: what, at which operation (0-based) of which seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub seed: u64,
    /// The operation, from 0: `--ops step+1` replays up to it.
    pub step: u64,
    /// What the check found, naming the block and checkpoint involved.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "violation at step {} (seed {}): {}",
            self.step, self.seed, self.message
        )
    }
}

/// What a run keeps besides its [`Summary`], when asked: for `--plot` and
/// `--save`. Asking changes nothing in the run.
#[derive(Debug, Default)]
pub struct Record {
    /// Keep `FreeSet::stats` at every checkpoint written in `samples`, and
    /// the crashes in `crashes`, the first [`PLOT_POINTS_MAX`] of each.
    pub sample: bool,
    pub samples: Vec<crate::draw::Sample>,
    /// The operations at which the engine crashed.
    pub crashes: Vec<u64>,
    /// Keep the last durable checkpoint at the end of the run in `durable`.
    pub keep_durable: bool,
    pub durable: Option<Durable>,
}

/// A durable checkpoint as a restart reads it: both encodings, read back
/// from the trailer, and the trailer's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durable {
    /// 0 for the empty grid the run starts from, then 1, 2, ... as written.
    pub id: u64,
    pub acquired: Vec<u8>,
    pub released: Vec<u8>,
    pub trailer_acquired: Vec<u64>,
    pub trailer_released: Vec<u64>,
}

/// Runs `config.ops` operations of the engine `variant` and checks each.
/// `on_progress` gets the number of operations done now and then (it cannot
/// influence the run). `config` must pass [`Config::validate`].
// The command runs `simulate_recorded`; the tests run this.
#[cfg_attr(not(test), allow(dead_code))]
pub fn simulate(
    config: &Config,
    variant: Variant,
    on_progress: impl FnMut(u64),
) -> Result<Summary, Violation> {
    simulate_recorded(config, variant, on_progress, &mut Record::default())
}

/// [`simulate`], keeping what `record` asks for.
pub fn simulate_recorded(
    config: &Config,
    variant: Variant,
    mut on_progress: impl FnMut(u64),
    record: &mut Record,
) -> Result<Summary, Violation> {
    debug_assert!(config.validate().is_ok(), "{:?}", config.validate());
    let violation = |step, message| Violation {
        seed: config.seed,
        step,
        message,
    };
    let mut sim = Sim::new(config, variant).map_err(|m| violation(0, m))?;
    sim.sample = record.sample;
    for step in 0..config.ops {
        sim.step(step)
            .and_then(|()| sim.check())
            .map_err(|m| violation(step, m))?;
        if step % PROGRESS_EVERY == 0 {
            on_progress(step);
        }
    }
    on_progress(config.ops);
    if record.keep_durable {
        let checkpoint = &sim.durable;
        let read = |trailer| read_back(&sim.disk, trailer, checkpoint.id);
        record.durable = Some(Durable {
            id: checkpoint.id,
            acquired: read(&checkpoint.trailer_acquired).map_err(|m| violation(config.ops, m))?,
            released: read(&checkpoint.trailer_released).map_err(|m| violation(config.ops, m))?,
            trailer_acquired: checkpoint.trailer_acquired.clone(),
            trailer_released: checkpoint.trailer_released.clone(),
        });
    }
    record.samples = std::mem::take(&mut sim.samples);
    record.crashes = std::mem::take(&mut sim.crash_steps);
    Ok(sim.summary)
}

/// The flags' combinations that clap cannot check: a usage error, before
/// anything runs.
fn check_args(args: &Args, config: &Config) -> Result<u64, String> {
    let last_seed = args.seed.checked_add(args.seeds - 1).ok_or_else(|| {
        format!(
            "--seed {} --seeds {} runs past the last seed",
            args.seed, args.seeds
        )
    })?;
    config.validate()?;
    if args.seeds > 1 && (args.save.is_some() || args.plot.is_some()) {
        return Err(format!(
            "--save and --plot take one seed, not --seeds {}",
            args.seeds
        ));
    }
    if let Some(path) = &args.plot {
        crate::draw::check_path(path)?;
        if args.ops / args.checkpoint_every > PLOT_POINTS_MAX {
            return Err(format!(
                "--plot draws at most {PLOT_POINTS_MAX} checkpoints, and --ops {} \
                 --checkpoint-every {} writes up to {}: raise --checkpoint-every",
                args.ops,
                args.checkpoint_every,
                args.ops / args.checkpoint_every
            ));
        }
    }
    if let Some(dir) = args
        .save
        .as_ref()
        .filter(|dir| dir.exists() && !dir.is_dir())
    {
        return Err(format!("--save {}: not a directory", dir.display()));
    }
    Ok(last_seed)
}

/// Runs `freeset simulate`: exit code 0 when every seed passes, 1 on a
/// violation, 2 on a bad configuration or a file that cannot be written.
pub fn run(args: &Args) -> ExitCode {
    let variant = if args.broken {
        Variant::FreeBeforeDurable
    } else {
        Variant::Correct
    };
    let mut config = Config {
        seed: args.seed,
        blocks: args.blocks,
        ops: args.ops,
        checkpoint_every: args.checkpoint_every,
        crash_rate: args.crash_rate,
        chunk_bytes: args.chunk_bytes,
    };
    let last_seed = match check_args(args, &config) {
        Ok(last_seed) => last_seed,
        Err(message) => return Failure::Usage(message).report(),
    };

    let progress = if args.json || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.ops.saturating_mul(args.seeds))
    };
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {percent}% {msg}")
            .expect("a valid template"),
    );
    let mut failed = 0u64;
    let mut unwritten = false;
    for (index, seed) in (args.seed..=last_seed).enumerate() {
        config.seed = seed;
        progress.set_message(format!("seed {seed}"));
        let base = (index as u64).saturating_mul(args.ops);
        let started = Instant::now();
        let mut record = Record {
            sample: args.plot.is_some(),
            keep_durable: args.save.is_some(),
            ..Record::default()
        };
        let result = simulate_recorded(
            &config,
            variant,
            |done| progress.set_position(base.saturating_add(done)),
            &mut record,
        );
        let seconds = started.elapsed().as_secs_f64();
        progress.suspend(|| match &result {
            Ok(summary) if args.json => println!("{}", summary_json(summary, seconds)),
            Ok(summary) => print_summary(summary, seconds),
            Err(violation) => {
                if args.json {
                    println!("{}", violation_json(violation));
                }
                eprintln!("{violation}");
                eprintln!(
                    "replay with: {}",
                    replay_command(&config, variant, violation.step)
                );
            }
        });
        failed += u64::from(result.is_err());
        if let Ok(summary) = &result {
            if let Err(message) =
                progress.suspend(|| save_and_plot(args, &config, summary, &record))
            {
                progress.suspend(|| Failure::Usage(message).report());
                unwritten = true;
            }
        }
    }
    progress.finish_and_clear();
    if args.seeds > 1 && !args.json {
        println!(
            "{} of {} seeds passed ({}..={last_seed})",
            args.seeds - failed,
            args.seeds,
            args.seed
        );
    }
    exit::worst(unwritten, failed > 0)
}

/// Writes what `--save` and `--plot` ask for, from a run that passed, and
/// names each file written on stderr.
fn save_and_plot(
    args: &Args,
    config: &Config,
    summary: &Summary,
    record: &Record,
) -> Result<(), String> {
    if let (Some(dir), Some(durable)) = (&args.save, &record.durable) {
        crate::inspect::save(
            dir,
            config.blocks,
            &durable.acquired,
            &durable.released,
            &durable.trailer_acquired,
            &durable.trailer_released,
            format!(
                "freeset simulate: checkpoint #{} of seed {}, the last durable after {} \
                 operations",
                durable.id, config.seed, config.ops
            ),
        )?;
    }
    if let Some(path) = &args.plot {
        let timeline = crate::draw::Timeline {
            title: format!(
                "freeset simulate: seed {}, {} blocks, {} checkpoints, {} crashes",
                config.seed,
                crate::draw::count(config.blocks),
                crate::draw::count(summary.checkpoints_written),
                summary.crashes
            ),
            blocks: config.blocks,
            samples: record.samples.clone(),
            crashes: record.crashes.clone(),
        };
        crate::draw::timeline(path, &timeline)?;
        exit::wrote(path);
    }
    Ok(())
}

// ---- the simulation ------------------------------------------------------

/// A block the engine wrote and references: its address and the number of the
/// write it holds (writes are numbered in order, so it is also its age).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Live {
    address: u64,
    write: u64,
}

/// The simulated disk: what each block holds. It survives crashes.
///
/// The write numbers are a vector indexed by address and grown to the highest
/// block written (jobs fill the grid from the bottom, so a grid of 2^25 blocks
/// costs only what a run touches): restarts read every live block back, and a
/// hash map made those reads most of the run time. The few chunks live in an
/// ordered map (nothing hashed, so nothing varies between runs).
#[derive(Debug, Default)]
struct Disk {
    /// Write number held by each address; 0 when it holds no job's write.
    writes: Vec<u64>,
    /// Chunks of checkpoint encodings, by address; an address is in at most
    /// one of the two.
    chunks: BTreeMap<u64, Vec<u8>>,
}

impl Disk {
    fn write_data(&mut self, address: u64, write: u64) {
        debug_assert!(write > 0);
        let index = address as usize;
        if index >= self.writes.len() {
            self.writes.resize(index + 1, 0);
        }
        self.writes[index] = write;
        self.chunks.remove(&address);
    }

    fn write_chunk(&mut self, address: u64, chunk: Vec<u8>) {
        if let Some(write) = self.writes.get_mut(address as usize) {
            *write = 0;
        }
        self.chunks.insert(address, chunk);
    }

    fn read(&self, address: u64) -> Content<'_> {
        match self.writes.get(address as usize) {
            Some(&write) if write > 0 => Content::Data(write),
            _ => self
                .chunks
                .get(&address)
                .map_or(Content::Nothing, |chunk| Content::Chunk(chunk)),
        }
    }
}

/// What a block of the disk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content<'d> {
    Nothing,
    /// Written by a job: the number of the write.
    Data(u64),
    /// A chunk of a checkpoint's encoding.
    Chunk(&'d [u8]),
}

impl fmt::Display for Content<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Nothing => write!(f, "nothing"),
            Content::Data(write) => write!(f, "write #{write}"),
            Content::Chunk(chunk) => write!(f, "a checkpoint chunk of {} bytes", chunk.len()),
        }
    }
}

/// A change to the engine's live blocks, journaled between checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// A job finished (or forfeited) and its block became live.
    Added(Live),
    /// The live block at this address was released.
    Released(u64),
}

/// A job: its reservation, the blocks still to acquire, the blocks written.
struct Job {
    reservation: Reservation,
    remaining: u64,
    held: Vec<Live>,
}

/// Length and checksum of an encoding, as a superblock records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seal {
    len: usize,
    checksum: u64,
}

impl Seal {
    fn of(bytes: &[u8]) -> Self {
        Seal {
            len: bytes.len(),
            checksum: bytes.iter().fold(FNV_OFFSET, |h, &b| fnv(h, u64::from(b))),
        }
    }
}

/// A checkpoint: what the engine persists, and what the model recorded when it
/// was written (to roll back to, and to know what it references).
#[derive(Debug, Clone)]
struct Checkpoint {
    /// 0 for the empty grid the run starts from, then 1, 2, ... as written.
    id: u64,
    // Persisted by the engine: the superblock, and what changed in its index
    // of live blocks since the checkpoint before (a journal, so that writing a
    // checkpoint costs what changed, not all the live blocks).
    trailer_acquired: Vec<u64>,
    trailer_released: Vec<u64>,
    acquired_seal: Seal,
    released_seal: Seal,
    /// Id of the checkpoint `changes` apply to: the last durable one when
    /// this one was written.
    base: u64,
    changes: Vec<Change>,
    // Recorded by the model at encoding time (before the trailer existed).
    acquired: Bits,
    released: BTreeSet<u64>,
}

impl Checkpoint {
    /// The state `FreeSet::new` starts from: durable, nothing acquired.
    fn empty(blocks: u64) -> Self {
        Checkpoint {
            id: 0,
            trailer_acquired: Vec::new(),
            trailer_released: Vec::new(),
            acquired_seal: Seal::of(&[]),
            released_seal: Seal::of(&[]),
            base: 0,
            changes: Vec::new(),
            acquired: Bits::new(blocks),
            released: BTreeSet::new(),
        }
    }

    /// Whether a restart from this checkpoint needs the block: one of its live
    /// blocks (acquired and not released when it was encoded) or its trailer.
    fn references(&self, address: u64) -> bool {
        self.trailer_acquired.binary_search(&address).is_ok()
            || self.trailer_released.binary_search(&address).is_ok()
            || (self.acquired.get(address) && !self.released.contains(&address))
    }
}

/// The simulator's own account of the set, built from the operations the
/// engine performed and nothing the set says: acquired blocks as a bitset
/// (cheap to snapshot), released and pending ones as ordered sets.
#[derive(Debug, Clone)]
struct Model {
    acquired: Bits,
    /// Released while the checkpoint was durable: free at the next durable one.
    released: BTreeSet<u64>,
    /// Released while it was not: released when it becomes durable.
    pending: BTreeSet<u64>,
    durable: bool,
}

impl Model {
    fn new(blocks: u64) -> Self {
        Model {
            acquired: Bits::new(blocks),
            released: BTreeSet::new(),
            pending: BTreeSet::new(),
            durable: true,
        }
    }

    fn release(&mut self, address: u64) {
        debug_assert!(
            self.acquired.get(address),
            "release of free block {address}"
        );
        let fresh = if self.durable {
            !self.pending.contains(&address) && self.released.insert(address)
        } else {
            !self.released.contains(&address) && self.pending.insert(address)
        };
        debug_assert!(fresh, "block {address} released twice");
    }

    fn checkpoint_not_durable(&mut self) {
        debug_assert!(self.durable);
        self.durable = false;
    }

    fn checkpoint_durable(&mut self) {
        debug_assert!(!self.durable);
        for &address in &self.released {
            self.acquired.clear(address);
        }
        self.released = std::mem::take(&mut self.pending);
        self.durable = true;
    }

    /// The state `open` must produce from `checkpoint`: its acquired and
    /// released blocks, plus its trailer acquired and pending.
    fn restore(&mut self, checkpoint: &Checkpoint) {
        self.acquired = checkpoint.acquired.clone();
        self.released = checkpoint.released.clone();
        self.pending.clear();
        for &address in checkpoint
            .trailer_acquired
            .iter()
            .chain(&checkpoint.trailer_released)
        {
            self.acquired.set(address);
            self.pending.insert(address);
        }
        self.durable = false;
    }

    fn count_released(&self) -> u64 {
        (self.released.len() + self.pending.len()) as u64
    }

    fn highest_released(&self) -> Option<u64> {
        self.released.last().max(self.pending.last()).copied()
    }
}

/// The engine, its disk, the model and the figures of one run.
struct Sim<'c> {
    config: &'c Config,
    variant: Variant,
    rng: Rng,
    set: FreeSet,
    model: Model,
    disk: Disk,
    jobs: Vec<Job>,
    /// A job forfeited while others are active: the set refuses new
    /// reservations until every job of the session has forfeited.
    forfeiting: bool,
    /// The blocks the engine references, in no order (releases pick at random).
    live: Vec<Live>,
    /// Changes to `live` since the last checkpoint written or restart.
    changes: Vec<Change>,
    /// The live blocks of the last durable checkpoint, address -> write: the
    /// engine's index on disk, which a restart reads.
    durable_live: BTreeMap<u64, u64>,
    /// Trailer of the last checkpoint written, not released yet (empty after a
    /// restart: `open` marks the trailer pending release itself).
    trailer_unreleased: Vec<u64>,
    /// The checkpoint a crash restarts from.
    durable: Checkpoint,
    /// Written since, not durable yet; lost by a crash.
    written: Option<Checkpoint>,
    /// Operation at which the current checkpoint becomes durable, if it is not.
    durable_at: Option<u64>,
    since_checkpoint: u64,
    writes: u64,
    /// Most blocks two checkpoint trailers can need; jobs leave them free.
    trailer_max: u64,
    target_occupancy: f64,
    summary: Summary,
    /// Whether to sample `set.stats()` at each checkpoint (`--plot`).
    sample: bool,
    samples: Vec<crate::draw::Sample>,
    crash_steps: Vec<u64>,
}

impl<'c> Sim<'c> {
    fn new(config: &'c Config, variant: Variant) -> Result<Self, String> {
        let mut rng = Rng::new(config.seed);
        let target_occupancy = occupancy_target(&mut rng);
        let set = FreeSet::new(config.blocks)
            .map_err(|e| format!("FreeSet::new({}) failed: {e}", config.blocks))?;
        Ok(Sim {
            config,
            variant,
            rng,
            set,
            model: Model::new(config.blocks),
            disk: Disk::default(),
            jobs: Vec::new(),
            forfeiting: false,
            live: Vec::new(),
            changes: Vec::new(),
            durable_live: BTreeMap::new(),
            trailer_unreleased: Vec::new(),
            durable: Checkpoint::empty(config.blocks),
            written: None,
            durable_at: None,
            since_checkpoint: 0,
            writes: 0,
            trailer_max: trailer_blocks_max(config.blocks, config.chunk_bytes),
            target_occupancy,
            summary: Summary {
                seed: config.seed,
                blocks: config.blocks,
                ops: config.ops,
                acquires: 0,
                releases: 0,
                checkpoints_written: 0,
                checkpoints_durable: 0,
                crashes: 0,
                peak_fragmentation: 0.0,
                peak_free_outside_largest: 0.0,
                peak_occupancy: 0.0,
                digest: FNV_OFFSET,
            },
            sample: false,
            samples: Vec::new(),
            crash_steps: Vec::new(),
        })
    }

    /// One operation: a crash and restart, or a job's work (a release, an
    /// acquire or a new job), after whatever is due first: the current
    /// checkpoint becoming durable, then a checkpoint.
    fn step(&mut self, step: u64) -> Result<(), String> {
        if self.rng.chance(self.config.crash_rate) {
            return self.crash_and_restart(step);
        }
        let checkpoint_due = self.since_checkpoint >= self.config.checkpoint_every;
        if let Some(at) = self.durable_at {
            // The next checkpoint needs this one durable: the engine waits.
            if step >= at || checkpoint_due {
                self.make_durable()?;
            }
        }
        if checkpoint_due {
            self.checkpoint(step)?;
        }
        self.since_checkpoint += 1;
        self.work()
    }

    /// A release, an acquire or a new job, chosen so that the occupancy
    /// hovers around the target.
    fn work(&mut self) -> Result<(), String> {
        let occupancy = self.model.acquired.count() as f64 / self.config.blocks as f64;
        // About as many releases as acquires at the target (a job of 8.5
        // blocks on average takes 9.5 operations), fewer below, more above.
        let p_release = (0.47 * (occupancy / self.target_occupancy).powi(3)).min(0.95);
        if !self.live.is_empty() && self.rng.chance(p_release) {
            return self.release_one();
        }
        let can_reserve = self.jobs.len() < JOBS_MAX && !self.forfeiting;
        if !self.jobs.is_empty() && (!can_reserve || self.rng.chance(0.85)) {
            return self.acquire_one();
        }
        if can_reserve && self.reserve_job()? {
            return Ok(());
        }
        if !self.live.is_empty() {
            return self.release_one();
        }
        Ok(()) // Nothing to do: the grid waits for a durable checkpoint.
    }

    /// Starts a job if the grid has room for it and for two checkpoint
    /// trailers (see `trailer_blocks_max`); returns whether it did.
    fn reserve_job(&mut self) -> Result<bool, String> {
        debug_assert!(self.jobs.len() < JOBS_MAX && !self.forfeiting);
        let n = 1 + self.rng.below(JOB_BLOCKS_MAX);
        let outstanding = self.outstanding();
        let room = self.set.count_free().saturating_sub(outstanding);
        if room < n + 2 * self.trailer_max {
            return Ok(false);
        }
        // Every active reservation starts where the previous one ended, from
        // block 0, so the free blocks past them are the free blocks minus the
        // ones reserved and not acquired yet.
        let model_room = self.model_free() - outstanding;
        let reservation = self
            .set
            .reserve(n)
            .map_err(|e| format!("reserve({n}) failed: {e}"))?
            .ok_or_else(|| {
                format!("reserve({n}) found no room, but {model_room} free blocks are unreserved")
            })?;
        self.jobs.push(Job {
            reservation,
            remaining: n,
            held: Vec::new(),
        });
        Ok(true)
    }

    /// A job acquires and writes one block; a job done forfeits.
    fn acquire_one(&mut self) -> Result<(), String> {
        let index = self.rng.below(self.jobs.len() as u64) as usize;
        let job = &self.jobs[index];
        debug_assert!(job.remaining > 0);
        let address = self
            .set
            .acquire(&job.reservation)
            .map_err(|e| format!("acquire failed: {e}"))?
            .ok_or_else(|| {
                format!(
                    "acquire found no free block in a reservation with {} block(s) left",
                    job.remaining
                )
            })?;
        self.hand_out(address)?;
        self.writes += 1;
        self.disk.write_data(address, self.writes);
        let job = &mut self.jobs[index];
        job.held.push(Live {
            address,
            write: self.writes,
        });
        job.remaining -= 1;
        if job.remaining == 0 {
            let job = self.jobs.swap_remove(index);
            self.finish(job)?;
            self.forfeiting = !self.jobs.is_empty();
        }
        Ok(())
    }

    /// Forfeits a job's reservation; its blocks become live.
    fn finish(&mut self, job: Job) -> Result<(), String> {
        self.set
            .forfeit(&job.reservation)
            .map_err(|e| format!("forfeit failed: {e}"))?;
        self.changes
            .extend(job.held.iter().map(|&b| Change::Added(b)));
        self.live.extend(job.held);
        Ok(())
    }

    /// Every job forfeits (checkpoints and durability need no reservation).
    fn forfeit_all(&mut self) -> Result<(), String> {
        for job in std::mem::take(&mut self.jobs) {
            self.finish(job)?;
        }
        self.forfeiting = false;
        Ok(())
    }

    /// Releases a live block, the oldest of a few picked at random.
    fn release_one(&mut self) -> Result<(), String> {
        debug_assert!(!self.live.is_empty());
        let len = self.live.len() as u64;
        let mut oldest = self.rng.below(len) as usize;
        for _ in 1..RELEASE_CANDIDATES {
            let other = self.rng.below(len) as usize;
            if self.live[other].write < self.live[oldest].write {
                oldest = other;
            }
        }
        let block = self.live.swap_remove(oldest);
        self.changes.push(Change::Released(block.address));
        self.release(block.address)
    }

    fn release(&mut self, address: u64) -> Result<(), String> {
        self.set
            .release(address)
            .map_err(|e| format!("release({address}) failed: {e}"))?;
        self.model.release(address);
        self.summary.releases += 1;
        Ok(())
    }

    /// Checks a block `acquire` returned and records it in the model.
    fn hand_out(&mut self, address: u64) -> Result<(), String> {
        if address == 0 || address > self.config.blocks {
            return Err(format!(
                "acquire returned address {address}, outside 1..={}",
                self.config.blocks
            ));
        }
        if self.model.acquired.get(address) {
            return Err(format!(
                "block {address} handed out twice: it is still acquired"
            ));
        }
        if self.durable.references(address) {
            return Err(format!(
                "block {address} handed out while the last durable checkpoint (#{}) \
                 still references it",
                self.durable.id
            ));
        }
        if let Some(written) = self.written.as_ref().filter(|c| c.references(address)) {
            return Err(format!(
                "block {address} handed out while checkpoint #{}, written and about \
                 to be durable, references it",
                written.id
            ));
        }
        self.model.acquired.set(address);
        self.summary.acquires += 1;
        self.summary.digest = fnv(self.summary.digest, address);
        Ok(())
    }

    /// Writes a checkpoint (see the module doc for the order and why).
    fn checkpoint(&mut self, step: u64) -> Result<(), String> {
        self.forfeit_all()?;
        debug_assert!(self.model.durable && self.durable_at.is_none());
        for address in std::mem::take(&mut self.trailer_unreleased) {
            self.release(address)?;
        }
        let chunk = self.config.chunk_bytes;
        let acquired = encode_chunks(&self.set, Bitset::Acquired, chunk)?;
        let released = encode_chunks(&self.set, Bitset::Released, chunk)?;
        let n = (acquired.len() + released.len()) as u64;
        if n > self.trailer_max {
            return Err(format!(
                "the encoding takes {n} chunks, more than the {} the size bound of \
                 docs/format.md gives",
                self.trailer_max
            ));
        }
        debug_assert!(self.model.pending.is_empty());
        let mut checkpoint = Checkpoint {
            id: self.summary.checkpoints_written + 1,
            trailer_acquired: Vec::with_capacity(acquired.len()),
            trailer_released: Vec::with_capacity(released.len()),
            acquired_seal: Seal::of(&acquired.concat()),
            released_seal: Seal::of(&released.concat()),
            base: self.durable.id,
            changes: std::mem::take(&mut self.changes),
            acquired: self.model.acquired.clone(),
            released: self.model.released.clone(),
        };
        if n > 0 {
            // The trailer is acquired after encoding, so it is not in the bytes.
            let reservation = self
                .set
                .reserve(n)
                .map_err(|e| format!("reserve({n}) for the trailer failed: {e}"))?
                .ok_or_else(|| {
                    format!(
                        "no room for a trailer of {n} blocks with {} free",
                        self.model_free()
                    )
                })?;
            let chunks = acquired.len();
            for (i, bytes) in acquired.into_iter().chain(released).enumerate() {
                let address = self
                    .set
                    .acquire(&reservation)
                    .map_err(|e| format!("acquire for the trailer failed: {e}"))?
                    .ok_or("the trailer reservation ran out of free blocks")?;
                self.hand_out(address)?;
                self.disk.write_chunk(address, bytes);
                if i < chunks {
                    checkpoint.trailer_acquired.push(address);
                } else {
                    checkpoint.trailer_released.push(address);
                }
            }
            self.set
                .forfeit(&reservation)
                .map_err(|e| format!("forfeit of the trailer failed: {e}"))?;
        }
        self.trailer_unreleased = checkpoint
            .trailer_acquired
            .iter()
            .chain(&checkpoint.trailer_released)
            .copied()
            .collect();
        self.set
            .checkpoint_not_durable()
            .map_err(|e| format!("checkpoint_not_durable failed: {e}"))?;
        self.model.checkpoint_not_durable();
        self.written = Some(checkpoint);
        self.summary.checkpoints_written += 1;
        self.since_checkpoint = 0;
        self.durable_at = Some(step + 1 + self.rng.below(self.config.checkpoint_every));
        if self.variant == Variant::FreeBeforeDurable {
            // The bug: the set is told before the checkpoint is durable.
            self.set_durable()?;
        }
        self.sample_shape(step)?;
        if self.rng.below(LOAD_CHANGE_ODDS) == 0 {
            self.target_occupancy = occupancy_target(&mut self.rng);
        }
        Ok(())
    }

    /// The current checkpoint is durable now.
    fn make_durable(&mut self) -> Result<(), String> {
        self.forfeit_all()?;
        if !self.model.durable {
            self.set_durable()?;
        }
        if let Some(mut checkpoint) = self.written.take() {
            // Checkpoints are written only once the one before is durable.
            debug_assert_eq!(checkpoint.base, self.durable.id);
            for change in std::mem::take(&mut checkpoint.changes) {
                match change {
                    Change::Added(block) => {
                        let old = self.durable_live.insert(block.address, block.write);
                        debug_assert!(old.is_none(), "block {} live twice", block.address);
                    }
                    Change::Released(address) => {
                        let old = self.durable_live.remove(&address);
                        debug_assert!(old.is_some(), "block {address} was not live");
                    }
                }
            }
            self.durable = checkpoint;
            self.summary.checkpoints_durable += 1;
        }
        self.durable_at = None;
        Ok(())
    }

    fn set_durable(&mut self) -> Result<(), String> {
        self.set
            .checkpoint_durable()
            .map_err(|e| format!("checkpoint_durable failed: {e}"))?;
        self.model.checkpoint_durable();
        Ok(())
    }

    /// Loses everything but the disk and the last durable checkpoint, then
    /// opens the set from that checkpoint's trailer and checks the result.
    fn crash_and_restart(&mut self, step: u64) -> Result<(), String> {
        self.summary.crashes += 1;
        if self.sample && (self.crash_steps.len() as u64) < PLOT_POINTS_MAX {
            self.crash_steps.push(step);
        }
        self.jobs.clear();
        self.forfeiting = false;
        self.live.clear();
        self.changes.clear();
        self.trailer_unreleased.clear();
        self.written = None;

        let checkpoint = &self.durable;
        let id = checkpoint.id;
        let acquired = read_back(&self.disk, &checkpoint.trailer_acquired, id)?;
        let released = read_back(&self.disk, &checkpoint.trailer_released, id)?;
        for (bytes, seal, name) in [
            (&acquired, checkpoint.acquired_seal, "acquired"),
            (&released, checkpoint.released_seal, "released"),
        ] {
            if Seal::of(bytes) != seal {
                return Err(format!(
                    "the {name} encoding of checkpoint #{id} reads back corrupted: \
                     {:?}, the superblock says {seal:?}",
                    Seal::of(bytes)
                ));
            }
        }
        let mut set = FreeSet::unopened(self.config.blocks)
            .map_err(|e| format!("FreeSet::unopened failed: {e}"))?;
        // Every other restart opens as an engine reads its trailer: block by
        // block through one reused buffer; the others open from the bytes at
        // once. Both must give the durable state.
        let opened = if self.summary.crashes.is_multiple_of(2) {
            set.open(
                &acquired,
                &released,
                &checkpoint.trailer_acquired,
                &checkpoint.trailer_released,
            )
        } else {
            open_block_by_block(&mut set, &self.disk, checkpoint)
        };
        opened.map_err(|e| format!("open from checkpoint #{id} failed: {e}"))?;
        // The engine reads its index back; every block in it must still hold
        // the write it recorded.
        let mut live = Vec::with_capacity(self.durable_live.len());
        for (&address, &write) in &self.durable_live {
            let content = self.disk.read(address);
            if content != Content::Data(write) {
                return Err(format!(
                    "block {address} of checkpoint #{id} was overwritten: it should hold \
                     write #{write}, it holds {content}"
                ));
            }
            live.push(Live { address, write });
        }
        self.set = set;
        self.model.restore(checkpoint);
        self.live = live;
        self.compare_all(id)?;
        self.since_checkpoint = 0;
        self.durable_at = Some(step + 1 + self.rng.below(self.config.checkpoint_every));
        Ok(())
    }

    /// The opened set equals the model block for block. With equal counts it
    /// is enough that every block the model holds acquired (released) is so in
    /// the set: the sets then have the same members.
    fn compare_all(&self, id: u64) -> Result<(), String> {
        self.check()?;
        let query = |e: freeset::Error| format!("query after open failed: {e}");
        for address in self.model.acquired.ones() {
            if self.set.is_free(address).map_err(query)? {
                return Err(format!(
                    "block {address} is free after open, checkpoint #{id} has it acquired"
                ));
            }
        }
        for &address in self.model.released.iter().chain(&self.model.pending) {
            if !self.set.is_released(address).map_err(query)? {
                return Err(format!(
                    "block {address} is not released after open, checkpoint #{id} \
                     has it released"
                ));
            }
        }
        Ok(())
    }

    /// The checks after every operation: counts, highest addresses and the
    /// engine's accounting of every acquired block. O(1) but for the sum over
    /// at most `JOBS_MAX` jobs.
    fn check(&self) -> Result<(), String> {
        let (set, model) = (&self.set, &self.model);
        let pairs = [
            (
                "count_acquired",
                set.count_acquired(),
                model.acquired.count(),
            ),
            ("count_free", set.count_free(), self.model_free()),
            (
                "count_released",
                set.count_released(),
                model.count_released(),
            ),
            (
                "count_reservations",
                set.count_reservations(),
                self.jobs.len() as u64,
            ),
        ];
        for (name, got, expected) in pairs {
            if got != expected {
                return Err(format!("{name}() = {got}, the model has {expected}"));
            }
        }
        for (name, got, expected) in [
            (
                "highest_acquired",
                set.highest_acquired(),
                model.acquired.highest(),
            ),
            (
                "highest_released",
                set.highest_released(),
                model.highest_released(),
            ),
        ] {
            if got != expected {
                return Err(format!("{name}() = {got:?}, the model has {expected:?}"));
            }
        }
        let held: usize = self.jobs.iter().map(|j| j.held.len()).sum();
        let accounted = (self.live.len() + held + self.trailer_unreleased.len()) as u64
            + model.count_released();
        if accounted != model.acquired.count() {
            return Err(format!(
                "{} blocks acquired but {accounted} accounted for (live, held by jobs, \
                 released, trailer): blocks leaked or counted twice",
                model.acquired.count()
            ));
        }
        Ok(())
    }

    fn model_free(&self) -> u64 {
        self.config.blocks - self.model.acquired.count()
    }

    /// Blocks reserved by active jobs and not acquired yet.
    fn outstanding(&self) -> u64 {
        self.jobs.iter().map(|j| j.remaining).sum()
    }

    /// Updates the peak fragmentation and occupancy, and keeps a sample
    /// for `--plot` if asked (O(blocks / 64)). The fragmentation is the
    /// set's own score (`FreeSet::stats`), the one `inspect` and the plot
    /// show; the largest free extent it reports must be the model's.
    fn sample_shape(&mut self, step: u64) -> Result<(), String> {
        let stats = self.set.stats();
        let acquired = &self.model.acquired;
        let free = self.config.blocks - acquired.count();
        let largest = stats.largest_free_extent.map_or(0, |e| e.blocks);
        let model_largest = if free > 0 {
            acquired.largest_free_run()
        } else {
            0
        };
        if largest != model_largest {
            return Err(format!(
                "stats() finds a largest free extent of {largest} blocks, the model \
                 {model_largest}"
            ));
        }
        if free > 0 {
            debug_assert!(largest >= 1 && largest <= free);
            let outside = 1.0 - largest as f64 / free as f64;
            self.summary.peak_free_outside_largest =
                self.summary.peak_free_outside_largest.max(outside);
        }
        self.summary.peak_fragmentation = self.summary.peak_fragmentation.max(stats.fragmentation);
        let occupancy = acquired.count() as f64 / self.config.blocks as f64;
        self.summary.peak_occupancy = self.summary.peak_occupancy.max(occupancy);
        if self.sample && (self.samples.len() as u64) < PLOT_POINTS_MAX {
            self.samples.push(crate::draw::Sample {
                step,
                free: stats.free_blocks,
                largest,
                fragmentation: stats.fragmentation,
            });
        }
        Ok(())
    }
}

fn occupancy_target(rng: &mut Rng) -> f64 {
    let (low, high) = OCCUPANCY_TARGETS;
    low + (high - low) * rng.unit()
}

/// Streams one bitset of `set` into chunks of `chunk_size` bytes (the last one
/// shorter), as an engine writes it into grid blocks. The one place that calls
/// `encode_chunk`.
fn encode_chunks(set: &FreeSet, bitset: Bitset, chunk_size: usize) -> Result<Vec<Vec<u8>>, String> {
    debug_assert!(chunk_size >= 8 && chunk_size.is_multiple_of(8));
    let mut encoder = set
        .encoder(bitset)
        .map_err(|e| format!("encoder({bitset:?}) failed: {e}"))?;
    let mut buffer = vec![0; chunk_size];
    let mut chunks = Vec::new();
    while !encoder.is_done() {
        let n = encoder
            .encode_chunk(&mut buffer)
            .map_err(|e| format!("the {bitset:?} encoder refused a chunk: {e}"))?;
        if n == 0 {
            return Err(format!(
                "the {bitset:?} encoder wrote nothing and is not done"
            ));
        }
        chunks.push(buffer[..n].to_vec());
    }
    Ok(chunks)
}

/// Opens `set` from the trailer of `checkpoint`, pushing one block at a time
/// through one buffer (the trailer was read back and checked already).
fn open_block_by_block(
    set: &mut FreeSet,
    disk: &Disk,
    checkpoint: &Checkpoint,
) -> Result<(), freeset::Error> {
    let mut stream = set.open_stream()?;
    let mut block = Vec::new();
    for (addresses, acquired) in [
        (&checkpoint.trailer_acquired, true),
        (&checkpoint.trailer_released, false),
    ] {
        for &address in addresses {
            block.clear();
            if let Content::Chunk(chunk) = disk.read(address) {
                block.extend_from_slice(chunk);
            }
            if acquired {
                stream.push_acquired(&block)?;
            } else {
                stream.push_released(&block)?;
            }
        }
    }
    stream.finish(&checkpoint.trailer_acquired, &checkpoint.trailer_released)
}

/// Concatenates the chunks stored at `trailer`, which must all be chunks.
fn read_back(disk: &Disk, trailer: &[u64], id: u64) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    for &address in trailer {
        match disk.read(address) {
            Content::Chunk(chunk) => bytes.extend_from_slice(chunk),
            other => {
                return Err(format!(
                    "trailer block {address} of checkpoint #{id} holds {other}, not its chunk"
                ))
            }
        }
    }
    Ok(bytes)
}

/// Most blocks one checkpoint's trailer can take: both encodings at the size
/// bound of `docs/format.md` (`8 * ceil(w / (2^32 - 1)) + 8 * w` bytes), where
/// `w` counts the words up to the last acquired block, below `blocks`.
/// Jobs leave twice this free: the trailer being written and the next one.
fn trailer_blocks_max(blocks: u64, chunk_bytes: usize) -> u64 {
    let words = blocks.div_ceil(64);
    let bytes = 8 * words.div_ceil((1 << 32) - 1) + 8 * words;
    2 * bytes.div_ceil(chunk_bytes as u64)
}

// ---- the model's bitset ----------------------------------------------------

/// A bitset over the addresses `1..=limit`, stored only up to the word of its
/// highest set bit (the words past the vector are zero): snapshots, scans and
/// `highest` cost what the grid uses, not its size.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bits {
    /// Word `i` holds addresses `64 * i ..`; the last word is never zero.
    words: Vec<u64>,
    limit: u64,
    count: u64,
}

impl Bits {
    fn new(limit: u64) -> Self {
        Bits {
            words: Vec::new(),
            limit,
            count: 0,
        }
    }

    fn get(&self, address: u64) -> bool {
        debug_assert!((1..=self.limit).contains(&address));
        self.words
            .get((address / 64) as usize)
            .is_some_and(|word| word >> (address % 64) & 1 == 1)
    }

    fn set(&mut self, address: u64) {
        debug_assert!(!self.get(address));
        let index = (address / 64) as usize;
        if index >= self.words.len() {
            self.words.resize(index + 1, 0);
        }
        self.words[index] |= 1 << (address % 64);
        self.count += 1;
    }

    fn clear(&mut self, address: u64) {
        debug_assert!(self.get(address));
        self.words[(address / 64) as usize] &= !(1 << (address % 64));
        self.count -= 1;
        // Keeps the last word non-zero. Each word popped was pushed once, so
        // this is O(1) amortized.
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
    }

    fn count(&self) -> u64 {
        self.count
    }

    fn highest(&self) -> Option<u64> {
        let (&last, below) = self.words.split_last()?;
        debug_assert_ne!(last, 0);
        Some(below.len() as u64 * 64 + 63 - u64::from(last.leading_zeros()))
    }

    /// The set addresses, in order.
    fn ones(&self) -> impl Iterator<Item = u64> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let bit = bits.trailing_zeros();
                    bits &= bits - 1;
                    i as u64 * 64 + u64::from(bit)
                })
            })
        })
    }

    /// Length of the longest run of free addresses in `1..=limit`.
    fn largest_free_run(&self) -> u64 {
        let (mut run, mut best) = (0u64, 0u64);
        for (i, &word) in self.words.iter().enumerate() {
            // Address 0 and addresses past the limit count as acquired.
            let first = i as u64 * 64;
            let mut valid = !0u64;
            if i == 0 {
                valid &= !1;
            }
            if first + 64 > self.limit + 1 {
                valid &= (1 << (self.limit + 1 - first)) - 1;
            }
            let free = !word & valid;
            if free == !0 {
                run += 64;
                continue;
            }
            // The low free bits end the run coming from below, the high ones
            // start the next; runs inside the word stand alone.
            best = best.max(run + u64::from(free.trailing_ones()));
            best = best.max(longest_ones(free));
            run = u64::from(free.leading_ones());
        }
        // Past the stored words everything up to the limit is free.
        let stored_end = (self.words.len() as u64 * 64).max(1);
        best.max(run + (self.limit + 1).saturating_sub(stored_end))
    }
}

/// Length of the longest run of one bits in `word`.
fn longest_ones(mut word: u64) -> u64 {
    let mut length = 0;
    while word != 0 {
        word &= word << 1;
        length += 1;
    }
    length
}

// ---- PRNG and hashing ----------------------------------------------------

/// splitmix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by the high half of a 128-bit product.
    fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(hash: u64, value: u64) -> u64 {
    (hash ^ value).wrapping_mul(0x0000_0100_0000_01b3)
}

// ---- flags -------------------------------------------------------------------

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("{rate} is not a probability in [0, 1]"));
    }
    Ok(rate)
}

/// `--chunk-bytes`: a size (`crate::size`) that [`check_chunk_bytes`] takes.
fn parse_chunk_bytes(text: &str) -> Result<usize, String> {
    let bytes = size::parse_size(text).map_err(|e| e.to_string())?;
    let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    check_chunk_bytes(bytes)?;
    Ok(bytes)
}

/// A chunk size is a multiple of 8 (encodings are words) from 8 to
/// [`CHUNK_BYTES_MAX`].
fn check_chunk_bytes(bytes: usize) -> Result<(), String> {
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

// ---- output ----------------------------------------------------------------

fn print_summary(s: &Summary, seconds: f64) {
    println!(
        "seed {}: passed, {} operations in {seconds:.2} s ({:.0} ops/s)",
        s.seed,
        s.ops,
        ops_per_second(s, seconds)
    );
    println!("  grid                {} blocks", s.blocks);
    println!(
        "  checkpoints         {} written, {} made durable",
        s.checkpoints_written, s.checkpoints_durable
    );
    println!(
        "  crashes survived    {} (each restart opened the durable state exactly)",
        s.crashes
    );
    println!(
        "  blocks              {} acquired, {} released",
        s.acquires, s.releases
    );
    println!(
        "  peak fragmentation  {:.3} (the score of inspect and --plot: 0 one free extent, \
         1 every free block alone; at checkpoints)",
        s.peak_fragmentation
    );
    println!(
        "  outside largest     {:.3} at peak: the share of the free blocks outside the \
         largest free extent, at checkpoints",
        s.peak_free_outside_largest
    );
    println!(
        "  peak occupancy      {:.3} of the blocks acquired",
        s.peak_occupancy
    );
    println!("  digest              {:016x}", s.digest);
}

fn summary_json(s: &Summary, seconds: f64) -> String {
    format!(
        "{{\"seed\":{},\"ok\":true,\"blocks\":{},\"ops\":{},\"acquires\":{},\"releases\":{},\
         \"checkpoints\":{},\"checkpoints_durable\":{},\"crashes\":{},\
         \"peak_fragmentation\":{:.6},\"peak_free_outside_largest\":{:.6},\
         \"peak_occupancy\":{:.6},\"seconds\":{seconds:.3},\
         \"ops_per_second\":{:.0},\"digest\":\"{:016x}\"}}",
        s.seed,
        s.blocks,
        s.ops,
        s.acquires,
        s.releases,
        s.checkpoints_written,
        s.checkpoints_durable,
        s.crashes,
        s.peak_fragmentation,
        s.peak_free_outside_largest,
        s.peak_occupancy,
        ops_per_second(s, seconds),
        s.digest
    )
}

fn violation_json(v: &Violation) -> String {
    format!(
        "{{\"seed\":{},\"ok\":false,\"step\":{},\"message\":\"{}\"}}",
        v.seed,
        v.step,
        json_escape(&v.message)
    )
}

fn ops_per_second(s: &Summary, seconds: f64) -> f64 {
    s.ops as f64 / seconds.max(1e-9)
}

fn json_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// The command that replays a violation: the same flags, one seed, and just
/// enough operations to reach the step that failed.
fn replay_command(config: &Config, variant: Variant, step: u64) -> String {
    format!(
        "freeset simulate --seed {} --blocks {} --ops {} --checkpoint-every {} \
         --crash-rate {} --chunk-bytes {}{}",
        config.seed,
        config.blocks,
        step + 1,
        config.checkpoint_every,
        config.crash_rate,
        config.chunk_bytes,
        if variant == Variant::FreeBeforeDurable {
            " --broken"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::Parser;

    /// Small enough for debug builds of the set (which check O(capacity)
    /// invariants at each checkpoint), with multi-chunk trailers and crashes.
    fn small(seed: u64) -> Config {
        Config {
            seed,
            blocks: 10_000,
            ops: 30_000,
            checkpoint_every: 64,
            crash_rate: 0.002,
            chunk_bytes: 256,
        }
    }

    #[test]
    fn simulate_correct_variant_survives_crashes() {
        let mut crashes = 0;
        for seed in 1..=8 {
            let config = small(seed);
            let summary = simulate(&config, Variant::Correct, |_| {}).unwrap_or_else(|v| {
                panic!(
                    "{v}\nreplay: {}",
                    replay_command(&config, Variant::Correct, v.step)
                )
            });
            assert_eq!(summary.ops, config.ops);
            assert!(summary.checkpoints_durable > 0, "{summary:?}");
            assert!(summary.releases > 0 && summary.acquires > summary.releases / 2);
            crashes += summary.crashes;
        }
        assert!(crashes >= 8, "only {crashes} crashes over 8 seeds");
    }

    #[test]
    fn simulate_correct_variant_with_one_block_chunks_and_no_crashes() {
        // The smallest chunk: every word of the encoding takes a trailer block.
        let config = Config {
            chunk_bytes: 8,
            crash_rate: 0.0,
            ..small(42)
        };
        let summary = simulate(&config, Variant::Correct, |_| {}).unwrap();
        assert_eq!(summary.crashes, 0);
    }

    #[test]
    fn simulate_broken_variant_is_caught() {
        let caught: Vec<Violation> = (1..=4)
            .filter_map(|seed| simulate(&small(seed), Variant::FreeBeforeDurable, |_| {}).err())
            .collect();
        assert!(!caught.is_empty(), "the broken engine passed every seed");
        for v in &caught {
            assert!(v.step < small(v.seed).ops);
            assert!(v.message.contains("references it"), "{v}");
        }
        // Seed 1 in particular, at a step that replays exactly.
        let first = simulate(&small(1), Variant::FreeBeforeDurable, |_| {}).unwrap_err();
        let replay = Config {
            ops: first.step + 1,
            ..small(1)
        };
        assert_eq!(
            simulate(&replay, Variant::FreeBeforeDurable, |_| {}).unwrap_err(),
            first
        );
    }

    #[test]
    fn simulate_same_seed_same_summary() {
        let config = small(7);
        let a = simulate(&config, Variant::Correct, |_| {}).unwrap();
        let b = simulate(&config, Variant::Correct, |_| {}).unwrap();
        assert_eq!(a, b);
        let other = simulate(&small(8), Variant::Correct, |_| {}).unwrap();
        assert_ne!(a.digest, other.digest);
    }

    /// The summary's fragmentation is the score the plot draws and
    /// `inspect` prints (`FreeSet::stats`), its peak over the checkpoints;
    /// the share outside the largest extent has a name of its own.
    #[test]
    fn simulate_fragmentation_is_the_stats_score() {
        let mut record = Record {
            sample: true,
            ..Record::default()
        };
        let summary = simulate_recorded(&small(2), Variant::Correct, |_| {}, &mut record).unwrap();
        assert_eq!(record.samples.len() as u64, summary.checkpoints_written);
        let peak =
            |f: fn(&crate::draw::Sample) -> f64| record.samples.iter().map(f).fold(0.0, f64::max);
        assert_eq!(summary.peak_fragmentation, peak(|s| s.fragmentation));
        assert_eq!(
            summary.peak_free_outside_largest,
            peak(|s| 1.0 - s.largest as f64 / s.free as f64)
        );
        assert!(summary.peak_fragmentation > 0.0);
        assert_ne!(
            summary.peak_fragmentation,
            summary.peak_free_outside_largest
        );
        assert_eq!(record.crashes.len() as u64, summary.crashes);
        // Without --plot nothing is kept.
        let mut record = Record::default();
        simulate_recorded(&small(2), Variant::Correct, |_| {}, &mut record).unwrap();
        assert!(record.samples.is_empty() && record.crashes.is_empty());
    }

    #[test]
    fn simulate_plot_is_bounded() {
        let args = |ops: &str, every: &str| {
            Cli::try_parse_from([
                "x",
                "--ops",
                ops,
                "--checkpoint-every",
                every,
                "--plot",
                "p.svg",
            ])
            .unwrap()
            .args
        };
        let config = |args: &Args| Config {
            seed: 1,
            blocks: args.blocks,
            ops: args.ops,
            checkpoint_every: args.checkpoint_every,
            crash_rate: args.crash_rate,
            chunk_bytes: args.chunk_bytes,
        };
        let fits = args(&(2 * PLOT_POINTS_MAX).to_string(), "2");
        assert!(check_args(&fits, &config(&fits)).is_ok());
        let past = args(&(2 * PLOT_POINTS_MAX + 2).to_string(), "2");
        let err = check_args(&past, &config(&past)).unwrap_err();
        assert!(err.contains("--plot draws at most"), "{err}");
        let picture = Cli::try_parse_from(["x", "--plot", "p.gif"]).unwrap().args;
        assert!(check_args(&picture, &config(&picture)).is_err());
    }

    #[test]
    fn simulate_progress_is_reported() {
        let config = Config {
            ops: 2 * PROGRESS_EVERY + 1,
            ..small(3)
        };
        let mut seen = Vec::new();
        simulate(&config, Variant::Correct, |done| seen.push(done)).unwrap();
        assert_eq!(seen.last(), Some(&config.ops));
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    }

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn simulate_bad_flags_are_usage_errors() {
        for bad in [
            &["x", "--blocks", "12XB/1"][..],
            &["x", "--crash-rate", "1.5"],
            &["x", "--crash-rate", "nan"],
            &["x", "--chunk-bytes", "12"],
            &["x", "--chunk-bytes", "0"],
            &["x", "--chunk-bytes", "4"],
            &["x", "--chunk-bytes", "18446744073709551608"],
            &["x", "--chunk-bytes", "1099511627776"],
            &["x", "--chunk-bytes", "1TiB"],
            &["x", "--chunk-bytes", "64MiB+8"],
            &["x", "--chunk-bytes", "67108872"],
            &["x", "--chunk-bytes", "4kx"],
            &["x", "--blocks", "4KB"],
            &["x", "--blocks", "0"],
            &["x", "--checkpoint-every", "0"],
            &["x", "--checkpoint-every", "1"],
            &["x", "--seeds", "0"],
        ] {
            let err = Cli::try_parse_from(bad).err().expect("rejected");
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
        let cli = Cli::try_parse_from(["x", "--blocks", "16TiB/512KiB"]).unwrap();
        assert_eq!(cli.args.blocks, 1 << 25);
        assert!(!cli.args.broken);
        assert_eq!(cli.args.chunk_bytes, 4096); // the default, "4KiB"
        for (text, bytes) in [("4k", 4096), ("4KB", 4096), ("64MiB", 64 << 20), ("8", 8)] {
            let cli = Cli::try_parse_from(["x", "--chunk-bytes", text]).unwrap();
            assert_eq!(cli.args.chunk_bytes, bytes, "{text}");
        }
        let cli = Cli::try_parse_from(["x", "--blocks", "4k"]).unwrap();
        assert_eq!(cli.args.blocks, 4096);
    }

    #[test]
    fn simulate_config_validation() {
        assert!(small(1).validate().is_ok());
        for bad in [
            Config {
                blocks: 1,
                ..small(1)
            },
            Config {
                blocks: BLOCKS_MAX + 1,
                ..small(1)
            },
            Config {
                chunk_bytes: 12,
                ..small(1)
            },
            Config {
                chunk_bytes: CHUNK_BYTES_MAX + 8,
                ..small(1)
            },
            Config {
                crash_rate: -0.1,
                ..small(1)
            },
            Config {
                checkpoint_every: 1,
                ..small(1)
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn simulate_model_bits() {
        let mut bits = Bits::new(200);
        assert_eq!(bits.largest_free_run(), 200);
        for a in [1, 2, 70, 130, 200] {
            bits.set(a);
        }
        assert_eq!(bits.highest(), Some(200));
        assert_eq!(bits.ones().collect::<Vec<_>>(), [1, 2, 70, 130, 200]);
        assert_eq!(bits.largest_free_run(), 69); // 3..=69 is 67, 71..=129 is 59, 131..=199 is 69
        bits.clear(200);
        assert_eq!(bits.highest(), Some(130));
        assert_eq!(bits.largest_free_run(), 70); // 131..=200
        bits.clear(130);
        bits.clear(70);
        assert_eq!(bits.highest(), Some(2));
        bits.clear(2);
        bits.clear(1);
        assert_eq!((bits.highest(), bits.count()), (None, 0));
        assert_eq!(longest_ones(0b0111_0110), 3);
        assert_eq!(longest_ones(!0), 64);
    }

    #[test]
    fn simulate_json_escapes() {
        assert_eq!(json_escape("a\"b\\c\nd\u{1}"), "a\\\"b\\\\c\\nd\\u0001");
    }
}
