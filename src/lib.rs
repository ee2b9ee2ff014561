//! # freeset
//!
//! The free set of a storage engine's grid: which blocks of the data file are
//! acquired, released (free once the next checkpoint is durable) or free, and an
//! EWAH encoding that persists it in a checkpoint. It follows the design of
//! TigerBeetle's grid free set. The contract is in the repository's `docs/`:
//! [the behaviour](https://github.com/freeset-rs/freeset/blob/main/docs/behaviour.md)
//! and [the checkpoint format](https://github.com/freeset-rs/freeset/blob/main/docs/format.md).
//!
//! - [`FreeSet`]: reserve, acquire, forfeit, release, checkpoints, queries,
//!   encode (with the exact size first) and open (one-shot, chunk by chunk
//!   through [`OpenStream`], or from `std::io::Read`ers, [`OpenReadError`]).
//! - [`FreeSet::checkpoint`]: a checkpoint written in the one right order
//!   (release the previous trailer, encode, acquire the new trailer,
//!   `checkpoint_not_durable`) through a [`Checkpoint`] handle that hands
//!   out each [`Chunk`] with its trailer block and returns the [`Trailer`]
//!   an engine keeps in its superblock (`examples/engine.rs` runs the cycle
//!   on real files).
//! - [`Reservation`]: a range of blocks one job acquires from, so that
//!   concurrent jobs acquire deterministically; [`FreeSet::acquire_concurrently`]
//!   lets their threads acquire at once ([`Acquirer`], [`Cursor`]).
//! - [`Bitset`]: which of the two persisted bitsets.
//! - [`ewah`]: the checkpoint codec, one-shot, streaming and through `std::io`,
//!   with parallel twins on a rayon pool (byte-identical output);
//!   [`Parallelism`] says per call where it runs.
//! - [`kernels`]: which tier of the word-level scan kernels the set runs on
//!   (SIMD tiers chosen at run time from the CPU, a scalar oracle), and a way
//!   to force one.
//! - [`Stats`]: what the free space looks like ([`FreeSet::stats`]): free
//!   blocks and extents, the largest extent, histograms of extent lengths,
//!   free blocks per shard and a fragmentation score, in one pass.
//! - The errors: [`Error`] (misuse, bad input to `open`; misuse names the
//!   call to make instead), [`DecodeError`] (bad bytes, with their offset),
//!   [`EncodeError`].
//!
//! Nothing here reads the environment or prints. Sizes that cannot be
//! allocated and every bad input are error values, except where a call
//! returns a new collection the way std's do (`Clone for FreeSet`,
//! [`ewah::encode`], `Encoder::encode_to_end`): those abort on a failed
//! allocation like std, and each has a fallible twin
//! ([`FreeSet::try_clone`], [`ewah::try_encode_with`]).
//!
//! ```
//! use freeset::FreeSet;
//!
//! let mut set = FreeSet::new(8192).unwrap();
//! let r = set.reserve(3).unwrap().unwrap();
//! let first = set.acquire(&r).unwrap().unwrap();
//! set.forfeit(&r).unwrap();
//!
//! // Persist, then restart from the bytes.
//! let (acquired, released) = set.encode().unwrap();
//! let mut restarted = FreeSet::unopened(8192).unwrap();
//! restarted.open(&acquired, &released, &[], &[]).unwrap();
//! assert!(!restarted.is_free(first).unwrap());
//! ```

// Every `unsafe` block says why it is sound, right above it.
#![deny(clippy::undocumented_unsafe_blocks)]

mod bitset;
mod cache;
mod error;
pub mod ewah;
mod memory;
mod parallelism;
mod reservation;
mod scan;
mod set;
mod stats;
mod summary;
mod sync;
mod words;

pub mod kernels {
    //! The tiers of the word-level scan kernels the set is built on.
    //!
    //! Every query of a bitset (first or `n`-th free block of a range, counts,
    //! runs for the codec) goes through a handful of kernels written in several
    //! tiers: `scalar` (plain `u64`, the oracle every other tier is tested
    //! against), `wide` (portable SIMD, as wide as the crate is compiled for) and,
    //! on x86_64, `avx2` and `avx512` (`std::arch`). On first use the library picks
    //! the fastest tier this CPU supports, once; afterwards a kernel call is one
    //! atomic load and an indirect call. Every tier gives exactly the same
    //! answers, so the tier changes speed, never results.
    //!
    //! The library reads no environment variable: [`force`] is how tests,
    //! benchmarks and the command line (its `FREESET_KERNELS`) choose a tier.
    //!
    //! ```
    //! use freeset::kernels::{self, Tier};
    //!
    //! // The scalar oracle runs on every CPU.
    //! kernels::force(Tier::Scalar).unwrap();
    //! assert_eq!(kernels::active(), Tier::Scalar);
    //!
    //! // Back to the fastest tier this CPU can run.
    //! let best = kernels::available()[0];
    //! kernels::force(best).unwrap();
    //! assert_eq!(kernels::active(), best);
    //! println!("kernels: {best}");
    //! ```

    pub use crate::scan::{
        active, available, cpu_features, force, Tier, TierUnavailable, UnknownTier,
    };
}

pub use error::{DecodeError, EncodeError, Error, TrailerReason};
pub use parallelism::{Parallelism, PARALLEL_DECODE_MIN_WORDS, PARALLEL_ENCODE_MIN_WORDS};
pub use reservation::Reservation;
pub use set::{
    Acquirer, Bitset, Checkpoint, Chunk, Cursor, FreeSet, OpenReadError, OpenStream, Options,
    Trailer, SHARD_BLOCKS,
};
pub use stats::{stats_of, Extent, Stats, HISTOGRAM_BUCKETS};

/// The README's example runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
