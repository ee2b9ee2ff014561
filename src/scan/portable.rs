//! The portable SIMD tier, on `wide::u64x4`: SSE2 in a default x86_64 build,
//! NEON on aarch64, AVX2 when the user compiles with it. `wide` picks its
//! instructions at compile time only, so this tier is the floor the runtime
//! dispatch falls back to, not the fastest path on a wide CPU.

use wide::u64x4;

use super::extents::{self as extents_, Bits, Extents};
use super::generic::{self, Lanes};

#[derive(Clone, Copy)]
struct Wide(u64x4);

impl Lanes for Wide {
    const WORDS: usize = 4;

    /// # Safety
    ///
    /// None beyond the crate's: `wide` uses only the instructions the crate
    /// is compiled for, so every CPU that runs the crate supports it.
    #[inline(always)]
    unsafe fn load(chunk: &[u64]) -> Self {
        let array: [u64; 4] = chunk.try_into().expect("a chunk of 4 words");
        Wide(u64x4::new(array))
    }

    #[inline(always)]
    fn eq_bits(self, value: u64) -> u32 {
        self.0.simd_eq(u64x4::splat(value)).to_bitmask()
    }

    #[inline(always)]
    fn uniform_bits(self) -> u32 {
        (self.0.simd_eq(u64x4::splat(0)) | self.0.simd_eq(u64x4::splat(!0))).to_bitmask()
    }

    #[inline(always)]
    fn count_ones(self) -> u64 {
        // `wide` has no lane popcount; the scalar one per lane is what it would do.
        self.0
            .to_array()
            .iter()
            .map(|w| u64::from(w.count_ones()))
            .sum()
    }
}

impl Bits for Wide {
    /// # Safety
    ///
    /// None, as for `load`.
    #[inline(always)]
    unsafe fn splat(value: u64) -> Self {
        Wide(u64x4::splat(value))
    }

    #[inline(always)]
    fn or(self, other: Self) -> Self {
        Wide(self.0 | other.0)
    }

    #[inline(always)]
    fn and_not(self, other: Self) -> Self {
        Wide(!self.0 & other.0)
    }

    #[inline(always)]
    fn shl(self, n: u32) -> Self {
        debug_assert!((1..64).contains(&n));
        Wide(self.0 << n)
    }

    #[inline(always)]
    fn shr(self, n: u32) -> Self {
        debug_assert!((1..64).contains(&n));
        Wide(self.0 >> n)
    }

    #[inline(always)]
    fn add(self, other: Self) -> Self {
        Wide(self.0 + other.0)
    }

    #[inline(always)]
    fn count(self, counts: Self) -> Self {
        // `wide` has no lane popcount; the scalar one per lane is what it would do.
        let ones = u64x4::new(self.0.to_array().map(|w| u64::from(w.count_ones())));
        Wide(counts.0 + ones)
    }

    #[inline(always)]
    fn count_empty(self, counts: Self) -> Self {
        let empty = u64x4::new(self.0.to_array().map(|w| 8 - u64::from(w.count_ones())));
        Wide(counts.0 + empty)
    }

    #[inline(always)]
    fn widen(self) -> Self {
        self
    }

    #[inline(always)]
    fn sum(self) -> u64 {
        self.0.to_array().iter().fold(0, |a, &b| a.wrapping_add(b))
    }

    #[inline(always)]
    fn is_ones(self) -> bool {
        self.0 == u64x4::splat(!0)
    }

    #[inline(always)]
    fn within(self, mask: Self) -> bool {
        self.0 & !mask.0 == u64x4::ZERO
    }

    #[inline(always)]
    fn store(self, out: &mut [u64]) {
        out.copy_from_slice(&self.0.to_array());
    }
}

// SAFETY (all seven): `Wide` needs no feature beyond those the crate is
// compiled for (see `Wide::load`), so the contract of the generic kernels holds
// on every CPU that runs this code.

/// Number of set bits in `words`.
pub(super) fn count_ones(words: &[u64]) -> u64 {
    // SAFETY: `Wide` needs no run-time feature (see above).
    unsafe { generic::count_ones::<Wide>(words) }
}

/// Set bits of each 64-word chunk of `words` into `counts`.
pub(super) fn count_ones_by_64(words: &[u64], counts: &mut [u32]) {
    // SAFETY: `Wide` needs no run-time feature (see above).
    unsafe { generic::count_ones_by_64::<Wide>(words, counts) }
}

/// Index of the first zero bit in `[from, to)`, or `None`.
pub(super) fn first_zero(words: &[u64], from: usize, to: usize) -> Option<usize> {
    // SAFETY: `Wide` needs no run-time feature (see above).
    unsafe { generic::first_zero::<Wide>(words, from, to) }
}

/// Index of the `n`-th zero bit in `[from, to)`, or how many there are.
pub(super) fn nth_zero(words: &[u64], from: usize, to: usize, n: u64) -> Result<usize, u64> {
    // SAFETY: `Wide` needs no run-time feature (see above).
    unsafe { generic::nth_zero::<Wide>(words, from, to, n) }
}

/// Number of leading words equal to `value`, at most `max`.
pub(super) fn uniform_run(words: &[u64], value: u64, max: usize) -> usize {
    // SAFETY: `Wide` needs no run-time feature (see above).
    unsafe { generic::uniform_run::<Wide>(words, value, max) }
}

/// Which words are 0 and which are all ones, as masks of 64 words each.
pub(super) fn classify(words: &[u64], zeros: &mut [u64], ones: &mut [u64]) {
    // SAFETY: `Wide` needs no run-time feature (see above).
    unsafe { generic::classify::<Wide>(words, zeros, ones) }
}

/// Number of leading words that are neither 0 nor all ones, at most `max`.
pub(super) fn literal_run(words: &[u64], max: usize) -> usize {
    // SAFETY: `Wide` needs no run-time feature (see above).
    unsafe { generic::literal_run::<Wide>(words, max) }
}

/// The free extents of `words` then `tail`, and the zero bits of each
/// 64-word chunk into `chunks`.
pub(super) fn extents(words: &[u64], tail: u64, chunks: &mut [u32]) -> Extents {
    // SAFETY: `Wide` needs no run-time feature (see above), nor does this
    // tier's `uniform_run`.
    unsafe { extents_::extents::<Wide>(words, tail, chunks, uniform_run) }
}

/// The first run of `n` zero bits of `[from, to)`.
pub(super) fn zero_run(words: &[u64], from: usize, to: usize, n: usize) -> Option<usize> {
    // SAFETY: `Wide` needs no run-time feature (see above).
    unsafe { super::runs::zero_run::<Wide>(words, from, to, n) }
}
