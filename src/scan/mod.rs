//! Word-level scan kernels over bitsets of `u64` words.
//!
//! The free set asks a handful of questions of its bitsets: where is the first
//! zero bit in a range, where is the n-th zero bit, how many bits are set, which
//! is the highest set bit. This module answers them a word (or several words) at
//! a time. The functions here are the one place the rest of the crate calls; the
//! tiers underneath (`scalar` today, SIMD tiers beside it later) implement the
//! same contract, and the scalar tier is the oracle every other tier is tested
//! against.
//!
//! Bit `b` of a bitset is bit `b % 64` of word `b / 64`. Ranges are half-open
//! `[from, to)` in bits and must lie inside the slice. Kernels never allocate and
//! never write.

pub mod scalar;

pub use scalar::{count_ones, first_zero, last_one, nth_zero};
