//! `freeset simulate`: a seeded crash-and-restart simulator, in the spirit of
//! TigerBeetle's simulator but small. An engine allocates its grid through a
//! [`FreeSet`](freeset::FreeSet), writes checkpoints, crashes at random and restarts from its last
//! durable checkpoint, while an independent model checks the set after every
//! operation.
//!
//! What lives here, one file per concept, each importing only files below
//! it in this list (never one that imports it):
//! - `command.rs`: the command line (`run`: flags, progress bar, seeds);
//! - `engine.rs`: the simulated engine, the plain function [`simulate`](engine::simulate) (or
//!   [`simulate_recorded`](engine::simulate_recorded), which also keeps what `--save` and `--plot`
//!   need), which tests call directly;
//! - `save.rs`: what `--save` and `--plot` write (the last durable
//!   checkpoint for `freeset inspect`, the free space over time);
//! - `trailer.rs`: how the engine writes a checkpoint's encodings into its
//!   trailer and reads them back;
//! - `model.rs`: the model that checks the engine;
//! - `report.rs`: what a run reports (its summary, text or JSON, and its
//!   violations);
//! - `disk.rs`: the simulated disk;
//! - `config.rs`: what a run simulates, and its bounds;
//! - `bits.rs`, `rng.rs`: the model's bitset, the deterministic PRNG.
//!
//! What must never happen here: a simulation that depends on anything but its
//! [`Config`](config::Config) (no clock, no threads, no iteration over hashed collections), so
//! that a seed replays exactly; a model that asks the [`FreeSet`](freeset::FreeSet) what is true
//! (it keeps its own bitset and sets and only compares); a use of `freeset`
//! beyond its stable public API (this folder is to move as is into a crate of its
//! own); a panic on user input (bad flags are clap errors or a clear message,
//! exit code 2); a flag that sizes an allocation without a bound
//! ([`BLOCKS_MAX`](config::BLOCKS_MAX), [`CHUNK_BYTES_MAX`](config::CHUNK_BYTES_MAX), [`PLOT_POINTS_MAX`](config::PLOT_POINTS_MAX)).
//!
//! # The engine
//!
//! Jobs (up to [`JOBS_MAX`](config::JOBS_MAX) at a time) reserve 1 to [`JOB_BLOCKS_MAX`](config::JOB_BLOCKS_MAX) blocks,
//! acquire them one per operation and write each (the disk records which write
//! a block holds). A job whose blocks are all written forfeits its reservation
//! and its blocks become *live*. Live blocks are released at random, older ones
//! more often (the oldest of [`RELEASE_CANDIDATES`](config::RELEASE_CANDIDATES) random picks), at a rate that
//! steers the grid towards a target occupancy drawn anew now and then: the
//! grid fills high, then empties in scattered holes, and fragments.
//!
//! Every `--checkpoint-every` operations, before the operation, the engine
//! writes checkpoint `k` through the library's checkpoint API
//! (`FreeSet::checkpoint`, `src/set/checkpoint.rs`), which keeps the order
//! that is right:
//! 1. every job forfeits (a checkpoint needs no active reservation);
//! 2. `FreeSet::checkpoint` releases the trailer of checkpoint `k-1`,
//!    *before* encoding, so that the encoding of `k` carries it as released:
//!    it becomes free when `k` is durable, which is exactly when nobody can
//!    restart from `k-1` any more, and a restart from `k` frees it too (a
//!    release after encoding would be lost by such a restart and leak the
//!    blocks); the model makes the same releases;
//! 3. `next_chunk` encodes both bitsets into `--chunk-bytes` chunks and
//!    names the block each goes to (the *trailer*);
//! 4. `commit` acquires the trailer (after encoding, so it is not in the
//!    encoded bytes) and calls `checkpoint_not_durable()`; the engine writes
//!    the chunks into the trailer, and the trailer addresses and the length
//!    and checksum of each encoding go to the (simulated) superblock, with a
//!    journal of the live blocks added and released since checkpoint `k-1`
//!    (the engine's own index).
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
//! [`Variant::FreeBeforeDurable`](config::Variant::FreeBeforeDurable) is a broken engine that calls
//! `checkpoint_durable()` as soon as it has written a checkpoint; it hands out
//! blocks that the last durable checkpoint still references, which the checks
//! catch.

mod bits;
mod check;
mod command;
mod config;
mod coverage;
mod disk;
mod engine;
mod faults;
mod model;
mod recovery;
mod report;
mod rng;
mod save;
mod superblock;
#[cfg(test)]
mod tests;
mod trailer;

pub use command::{run, Args};
