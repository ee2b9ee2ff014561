//! `freeset simulate`: a seeded crash-and-restart simulator, in the spirit of
//! TigerBeetle's simulator but small. An engine allocates its grid through a
//! [`FreeSet`](freeset::FreeSet), writes checkpoints, suffers storage
//! faults, crashes at random and restarts from its newest checkpoint that
//! verifies, while an independent model checks the set after every
//! operation and every read against what the faults did.
//!
//! What lives here, one file per concept, each importing only files below
//! it in this list (never one that imports it):
//! - `command.rs`: the command line (`run`: flags, progress bar, seeds, the
//!   run's totals);
//! - `coverage.rs`: which counts a run's settings require to be non-zero;
//! - `engine/`: the simulated engine, the plain function
//!   [`simulate`](engine::simulate) (or
//!   [`simulate_recorded`](engine::simulate_recorded), which also keeps what
//!   `--save` and `--plot` need), which tests call directly; its jobs and
//!   steps in `mod.rs`, writing checkpoints and making them durable in
//!   `checkpoint.rs`, crashes and restarts in `restart.rs`;
//! - `save.rs`: what `--save` and `--plot` write (the last durable
//!   checkpoint for `freeset inspect`, the free space over time);
//! - `check.rs`: the checks of the set against the model;
//! - `recovery.rs`: reading checkpoints back (before they are made durable,
//!   and at a restart);
//! - `trailer.rs`: a checkpoint's encodings into its trailer blocks through
//!   the library's checkpoint API, and back;
//! - `faults.rs`: the storage faults and the truth of what they damaged;
//! - `superblock.rs`: the superblock's copies and the checksums;
//! - `model.rs`: the model's account of the set and its checkpoints;
//! - `report.rs`: what a run reports (counts and summary, text or JSON, and
//!   its violations);
//! - `disk.rs`: the simulated disk;
//! - `config.rs`: what a run simulates, and its bounds;
//! - `bits.rs`, `rng.rs`: the model's bitset, the deterministic PRNG.
//!
//! What must never happen here: a simulation that depends on anything but
//! its [`Config`](config::Config) (no clock, no threads, no iteration over
//! hashed collections), so that a seed replays exactly; a model that asks
//! the [`FreeSet`](freeset::FreeSet) what is true (it keeps its own bitset
//! and sets and only compares); an engine that reads what the fault
//! injector knows; a use of `freeset` beyond its stable public API (this
//! folder is to move as is into a crate of its own); a panic on user input
//! (bad flags are clap errors or a clear message, exit code 2); a flag that
//! sizes an allocation without a bound ([`BLOCKS_MAX`](config::BLOCKS_MAX),
//! [`CHUNK_BYTES_MAX`](config::CHUNK_BYTES_MAX),
//! [`PLOT_POINTS_MAX`](config::PLOT_POINTS_MAX)).
//!
//! # The engine
//!
//! Jobs (up to [`JOBS_MAX`](config::JOBS_MAX) at a time) reserve 1 to
//! [`JOB_BLOCKS_MAX`](config::JOB_BLOCKS_MAX) blocks, acquire them one per
//! operation and write each (the disk records which write a block holds). A
//! job whose blocks are all written forfeits its reservation and its blocks
//! become *live*. Live blocks are released at random, older ones more often
//! (the oldest of [`RELEASE_CANDIDATES`](config::RELEASE_CANDIDATES) random
//! picks), at a rate that steers the blocks the engine references towards a
//! target occupancy drawn anew now and then: the grid fills high, then
//! empties in scattered holes, and fragments. The engine steers by what it
//! references, not by what the set holds, so that a seed does the same work
//! whether the set reuses blocks at once or not.
//!
//! With `--workload compaction` half the jobs are compactions
//! ([`Workload::Compaction`](config::Workload::Compaction)): up to
//! [`COMPACTION_BLOCKS_MAX`](config::COMPACTION_BLOCKS_MAX) blocks of
//! *scratch* output that the engine's index never references, released
//! within the checkpoint interval they were written in (one at random at
//! half the operations, and the rest before the next checkpoint is
//! written), like tables a compaction writes and merges away soon.
//!
//! With `--immediate-reuse` the set is made with
//! `Options::immediate_reuse` (`FreeSet::with_options`, and
//! `unopened_with_options` at a restart): a block acquired since the last
//! checkpoint was written and released before the next is free at once.
//!
//! Every `--checkpoint-every` operations (counted across crashes, so that
//! crashes never put checkpoints off), before the operation, the engine
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
//!    encoded bytes) and calls `checkpoint_not_durable()`;
//! 5. the engine writes each chunk into its block, behind a header (the
//!    checkpoint and the block's address, as TigerBeetle's block headers
//!    carry them), then the superblock into one *pair* of its four copies:
//!    the pair the checkpoint before `k` does not hold. A copy holds the
//!    sequence number `k`, the trailer lists, a checksum per block (over
//!    header and chunk), the length and checksum of each encoding
//!    (docs/format.md, "What an engine stores beside it"), a journal of the
//!    live blocks added and released since `k-1` (the engine's own index),
//!    and a checksum of itself.
//!
//! These writes are *in flight* until checkpoint `k` is made durable, after
//! a random delay (or when `k+1` is due: the engine waits for `k` before
//! writing `k+1`): every job forfeits, the engine reads every write back and
//! verifies it, rewrites each that fails from what it kept until all verify,
//! and only then calls `checkpoint_durable()`, which frees what was released
//! before `k` was written, among it what `k-1` references. So no fault of
//! `k`'s writes outlives that call, and falling back to `k-1` is possible
//! exactly as long as it may be needed.
//!
//! A crash (probability `--crash-rate` per operation) loses everything but
//! the disk. The engine restarts from the newest checkpoint that verifies:
//! it reads the four superblock copies (a copy whose checksum fails is bad;
//! so is a copy older than its pair's other one, the pair having been
//! written together), then, newest sequence number first, reads back the
//! trailer each names and checks every block's checksum and each
//! encoding's, until one verifies (a *fallback* when it is not the newest).
//! It opens a set made by `FreeSet::unopened` from the bytes (every other
//! restart block by block through `open_stream`), takes its live blocks from
//! its index and the checkpoint's journal, and rewrites every superblock copy
//! that does not hold this checkpoint (verifying them). `open` makes the
//! trailer acquired and pending release (so the engine must not release it
//! again) and leaves the checkpoint not durable: the restarted engine learns
//! again after a random delay that its checkpoint is durable, like a replica
//! that must see its cluster commit past it, which also exercises releases
//! into `pending` right after an open. The disk starts formatted: all four
//! copies hold checkpoint #0, the empty grid.
//!
//! # Storage faults
//!
//! With `--faults`, the checkpoint's writes (trailer blocks and superblock
//! copies, first writes and rewrites alike) go through an injector:
//! - a **lost** write reports success and writes nothing (the block keeps
//!   what it held: an older chunk, a job's write, another checkpoint's copy);
//! - a **misdirected** write (trailer blocks) lands on another block, one
//!   the model holds free and that neither the durable checkpoint nor the
//!   one in flight references; the block it was meant for keeps what it
//!   held. Why only there: an engine on one node has no second copy of a
//!   block it references, so a write clobbering one is data lost for good
//!   (TigerBeetle repairs such a block from the other replicas); what a
//!   single node can do, and this engine does, is never trust a block whose
//!   header and checksum do not match;
//! - a **flip** stores one bit of the chunk or of the copy flipped;
//! - a **torn** write: a crash while a checkpoint's writes are in flight
//!   persisted only a prefix of them, in write order (blocks, then the two
//!   copies), the last one half written (its first half new, the rest as
//!   it was). The superblock is written last, so a torn trailer is never
//!   named by a copy of its checkpoint: it is left unread, harmlessly.
//!
//! Faults hit writes only, not data at rest, and never a job's write (the
//! engine's own data is its business: it checksums and repairs it the same
//! way). The injector keeps the truth of what it did: which places hold
//! something other than what was last written to them, and what each copy
//! holds. Each fault is *detected* when the engine's checksum rejects the
//! place as it reads it, or *abandoned* when nothing reads it before it is
//! written again or left: a trailer no copy names, a copy whose pair's
//! other copy is bad too (it then reads like a copy never written). The
//! checksums are FNV-1a over every byte, which always changes with one
//! byte changed; the header in the checksum makes a stale or misdirected
//! block fail whatever its bytes.
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
//! before it): no acquired block of a durable checkpoint is handed out again.
//! Every write of a job's data is checked the same way: a block written
//! while a checkpoint a restart could use references it is data a restart
//! loses.
//!
//! With immediate reuse the model gains the set's rule: a snapshot of its
//! acquired blocks, taken when a checkpoint's trailer is acquired and at a
//! restart, and a released block outside it is free at once. Each such
//! release is checked against the checkpoints themselves (neither the
//! durable one nor the one written since may reference the block), so the
//! rule is judged by what the checkpoints hold, not by itself.
//!
//! The run measures *space amplification*: the most blocks the set held at
//! once (`count_acquired()`: acquired, and released but not free yet) over
//! the most blocks the engine referenced at once (live, held by jobs,
//! scratch output, and its last trailer), after any operation.
//! `--compare-reuse` runs each seed without and with immediate reuse.
//!
//! Every read the engine makes of its checkpoint writes is judged against
//! the injector's truth: a place the engine takes for good that a fault
//! damaged (an injected fault undetected), or one it rejects that holds what
//! was written, is a violation. A restart must find exactly the bad places a
//! correct engine finds, and open exactly the newest checkpoint whose copy
//! and trailer are intact (nothing durable lost); the opened set must equal
//! that checkpoint's state block for block, and every live block of it must
//! still hold its write.
//!
//! A run counts checkpoints written and made durable, restarts of each kind
//! (from the latest checkpoint, after a fallback, from the initial state),
//! blocks acquired and released, and faults injected, detected and
//! abandoned per kind; a run whose settings could make a count non-zero and
//! left it at zero fails (`coverage.rs`).
//!
//! Three broken engines show the checks at work:
//! [`Variant::FreeBeforeDurable`](config::Variant::FreeBeforeDurable) calls
//! `checkpoint_durable()` as soon as it has written a checkpoint, and hands
//! out blocks that the last durable checkpoint still references;
//! [`Variant::SkipChecksum`](config::Variant::SkipChecksum) trusts what it
//! reads back, and takes a faulty block for good;
//! [`Variant::ReuseReferenced`](config::Variant::ReuseReferenced) reuses
//! blocks at once by a rule one checkpoint off (written since the last
//! *durable* checkpoint rather than since the last one written), and
//! overwrites blocks the checkpoint in flight references.

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
