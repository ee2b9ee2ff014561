//! # freeset
//!
//! The free set of a storage engine's grid: which blocks of the data file are
//! acquired, released (free once the next checkpoint is durable) or free, and an
//! EWAH encoding that persists it in a checkpoint. It follows the design of
//! TigerBeetle's grid free set (see `SPEC.md` of the project for the contract).
//!
//! - [`FreeSet`]: reserve, acquire, forfeit, release, checkpoints, queries,
//!   encode and open.
//! - [`Reservation`]: a range of blocks one job acquires from, so that
//!   concurrent jobs acquire deterministically.
//! - [`ewah`]: the checkpoint codec, one-shot and streaming, and its parallel
//!   twin on the rayon pool (byte-identical output), which `encode` and `open`
//!   use for large sets.
//! - [`Stats`]: what the free space looks like ([`FreeSet::stats`]): free
//!   blocks and extents, the largest extent, histograms of extent lengths,
//!   free blocks per shard and a fragmentation score, in one pass.
//! - [`scan`]: the word-level kernels the set is built on, with SIMD tiers
//!   chosen at run time and a scalar oracle.
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

mod error;
pub mod ewah;
mod parallelism;
mod reservation;
pub mod scan;
mod set;
mod stats;
mod summary;

pub use error::{DecodeError, EncodeError, Error, TrailerReason};
pub use parallelism::{Parallelism, PARALLEL_DECODE_MIN_WORDS, PARALLEL_ENCODE_MIN_WORDS};
pub use reservation::Reservation;
pub use set::{Acquirer, Bitset, Cursor, FreeSet, OpenStream, SHARD_BLOCKS};
pub use stats::{stats_of, Extent, Stats, HISTOGRAM_BUCKETS};

/// The README's example runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
