//! One `u64` as the lanes of the generic algorithms: how the scalar tier
//! runs the kernels whose algorithm is too long to write twice (the extents
//! pass of `FreeSet::stats`). `crate::stats` judges every tier's extents
//! against a bit-by-bit twin instead of against this one.
//!
//! Kept apart from `scalar.rs` (the oracle, which the generic algorithms call
//! for the ends of a range) so that the oracle imports nothing.

use super::extents::{self as extents_, Bits, Extents};
use super::generic::Lanes;

/// One word as lanes of the generic algorithms: plain `u64` operations.
#[derive(Clone, Copy)]
struct Word(u64);

impl Lanes for Word {
    const WORDS: usize = 1;

    /// # Safety
    ///
    /// None: plain `u64` code runs on every CPU.
    #[inline(always)]
    unsafe fn load(chunk: &[u64]) -> Self {
        assert_eq!(chunk.len(), 1);
        Word(chunk[0])
    }

    #[inline(always)]
    fn eq_bits(self, value: u64) -> u32 {
        u32::from(self.0 == value)
    }

    #[inline(always)]
    fn uniform_bits(self) -> u32 {
        u32::from(self.0 == 0 || self.0 == !0)
    }

    #[inline(always)]
    fn count_ones(self) -> u64 {
        u64::from(self.0.count_ones())
    }
}

impl Bits for Word {
    /// # Safety
    ///
    /// None, as for `load`.
    #[inline(always)]
    unsafe fn splat(value: u64) -> Self {
        Word(value)
    }

    #[inline(always)]
    fn or(self, other: Self) -> Self {
        Word(self.0 | other.0)
    }

    #[inline(always)]
    fn and_not(self, other: Self) -> Self {
        Word(!self.0 & other.0)
    }

    #[inline(always)]
    fn shl(self, n: u32) -> Self {
        debug_assert!((1..64).contains(&n));
        Word(self.0 << n)
    }

    #[inline(always)]
    fn shr(self, n: u32) -> Self {
        debug_assert!((1..64).contains(&n));
        Word(self.0 >> n)
    }

    #[inline(always)]
    fn add(self, other: Self) -> Self {
        Word(self.0.wrapping_add(other.0))
    }

    #[inline(always)]
    fn count(self, counts: Self) -> Self {
        Word(counts.0 + u64::from(self.0.count_ones()))
    }

    #[inline(always)]
    fn count_empty(self, counts: Self) -> Self {
        debug_assert!(self.0.to_le_bytes().iter().all(|b| b.count_ones() <= 1));
        Word(counts.0 + 8 - u64::from(self.0.count_ones()))
    }

    #[inline(always)]
    fn widen(self) -> Self {
        self
    }

    #[inline(always)]
    fn sum(self) -> u64 {
        self.0
    }

    #[inline(always)]
    fn is_ones(self) -> bool {
        self.0 == !0
    }

    #[inline(always)]
    fn within(self, mask: Self) -> bool {
        self.0 & !mask.0 == 0
    }

    #[inline(always)]
    fn store(self, out: &mut [u64]) {
        out[0] = self.0;
    }
}

/// The free extents of `words` then `tail`, and the zero bits of each
/// 64-word chunk into `chunks`.
pub fn extents(words: &[u64], tail: u64, chunks: &mut [u32]) -> Extents {
    // SAFETY: `Word` needs no run-time feature (see `Word::load`), nor does
    // the scalar `uniform_run`.
    unsafe { extents_::extents::<Word>(words, tail, chunks, super::scalar::uniform_run) }
}

/// The first run of `n` zero bits of `[from, to)`.
pub fn zero_run(words: &[u64], from: usize, to: usize, n: usize) -> Option<usize> {
    // SAFETY: `Word` needs no run-time feature (see `Word::load`).
    unsafe { super::runs::zero_run::<Word>(words, from, to, n) }
}
