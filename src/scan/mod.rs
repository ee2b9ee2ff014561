//! Word-level scan kernels over bitsets of `u64` words.
//!
//! The free set asks a handful of questions of its bitsets: where is the first
//! zero bit in a range, where is the n-th zero bit, how many bits are set, which
//! is the highest set bit. This module answers them a word (or several words) at
//! a time. The functions here are the one place the rest of the crate calls; the
//! tiers underneath implement the same contract: `scalar` (plain `u64`, the
//! oracle every other tier is tested against), `wide` (portable SIMD whose width
//! is fixed when the crate is compiled) and, on x86_64, `avx2` and `avx512`
//! (`std::arch`, chosen at run time).
//!
//! Bit `b` of a bitset is bit `b % 64` of word `b / 64`. Ranges are half-open
//! `[from, to)` in bits and must lie inside the slice. Kernels never allocate;
//! only the codec's copy kernels (`copy.rs`) write, and the counting kernels
//! into their counts, and only into the destination they are given.
//!
//! # Layout
//!
//! As in memchr: each algorithm is written once over a small vector trait
//! and each instruction set supplies the vector type in a file of its own.
//!
//! - `table.rs`: the tier names, the list of kernels and a tier's [`Table`]
//!   of them; `dispatch.rs`: the run-time choice of a tier and the functions
//!   the crate calls (the only file that knows every tier).
//! - `scalar.rs`: the oracle, plain `u64`, importing nothing; `generic.rs`
//!   (the [`Lanes`](generic::Lanes) trait and the searches, counts and run
//!   scans), `extents.rs` (the one-pass extents of `FreeSet::stats`, over
//!   [`Bits`](extents::Bits)), `runs.rs` (the first run of `n` zero bits,
//!   the search of the extent calls, over the same lanes).
//! - The tiers' vector types: `word.rs` (one `u64`, for the scalar tier's
//!   extents), `portable.rs` (`wide`), `x86/avx2.rs` and `x86/avx512.rs`
//!   (`std::arch`; `x86/mod.rs` has the CPU checks and the macro that makes
//!   a tier's `#[target_feature]` kernels).
//! - `copy.rs`: the codec's copies (scalar twins and the AVX2 ones);
//!   `streamed.rs`: the debug-build tracker of non-temporal stores.
//! - `tests.rs`: every tier against the scalar oracle, and the dispatch.
//!
//! The dispatch is described in `dispatch.rs`: a call is one relaxed load and
//! an indirect call, and a tier's pointers are stored only once the CPU was
//! checked to support it.
//!
//! Only [`Tier`], its errors, [`active`], [`available`], [`force`] and
//! [`cpu_features`] are public (as `freeset::kernels`).

mod copy;
mod dispatch;
mod extents;
mod generic;
pub(crate) mod lines;
mod portable;
mod runs;
mod scalar;
pub(crate) mod streamed;
mod table;
#[cfg(test)]
mod tests;
mod word;
#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
pub(crate) use dispatch::test_dispatch_lock;
pub use dispatch::{active, available, cpu_features, force};
pub(crate) use dispatch::{
    classify, copy_in, copy_literals, copy_out, count_ones, count_ones_by_64, extents, fill,
    first_zero, literal_run, nth_zero, uniform_run, zero_run,
};
pub use table::{Tier, TierUnavailable, UnknownTier};

pub(crate) use copy::{prefetch, shards_spanned, stream_fence};
pub(crate) use extents::HISTOGRAM_BUCKETS;
pub(crate) use runs::LONG as LONG_RUN;

/// Index of the highest set bit in `words`, or `None`. Scalar in every tier:
/// it only ever runs over a shard or a summary (a few hundred words at most).
pub(crate) use scalar::last_one;
