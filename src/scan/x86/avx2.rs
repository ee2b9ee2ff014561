//! The AVX2 tier: four `u64` lanes in a ymm register, popcount by nibble
//! table (AVX2 has no vector popcount), and its kernels (the generic
//! algorithms instantiated on these lanes by `tier!`, in `x86/mod.rs`).

use std::arch::x86_64::*;

use crate::scan::extents::Bits;
use crate::scan::generic::Lanes;

/// The popcount of each nibble value, twice (one per 128-bit half), for
/// `vpshufb`: the one copy of the table every AVX2 popcount uses.
///
/// # Safety
///
/// The CPU supports AVX2.
#[inline(always)]
unsafe fn nibble_popcounts() -> __m256i {
    // SAFETY: the CPU has AVX2 (this function's contract).
    unsafe {
        _mm256_setr_epi8(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
            3, 3, 4,
        )
    }
}

/// The popcount of each of the 32 bytes of `v` (0 to 8 each), by nibble
/// table: the AVX2 popcount (it has no vector one), written once for every
/// kernel that counts on this tier. Sums of these stay bytes while they
/// fit (31 of them at most), and `vpsadbw` widens them to lanes.
///
/// # Safety
///
/// The CPU supports AVX2.
#[inline(always)]
pub(in crate::scan) unsafe fn byte_popcounts(v: __m256i) -> __m256i {
    // SAFETY: the CPU has AVX2 (this function's contract).
    unsafe {
        let table = nibble_popcounts();
        let low = _mm256_set1_epi8(0x0f);
        let lo = _mm256_and_si256(v, low);
        let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
        _mm256_add_epi8(
            _mm256_shuffle_epi8(table, lo),
            _mm256_shuffle_epi8(table, hi),
        )
    }
}

/// The sum of the four `u64` lanes of `lanes` (wrapping; the sums of
/// popcounts this adds up never come near it).
///
/// # Safety
///
/// The CPU supports AVX2, which implies the SSE4.1 of `_mm_extract_epi64`.
#[inline(always)]
pub(in crate::scan) unsafe fn lanes_sum(lanes: __m256i) -> u64 {
    // SAFETY: the CPU has AVX2 (this function's contract).
    unsafe {
        let sum = _mm_add_epi64(
            _mm256_castsi256_si128(lanes),
            _mm256_extracti128_si256(lanes, 1),
        );
        (_mm_cvtsi128_si64(sum) as u64).wrapping_add(_mm_extract_epi64(sum, 1) as u64)
    }
}

/// Four lanes in a ymm register. Made only by [`Lanes::load`], whose contract
/// is that the CPU has AVX2 and POPCNT: a value is the proof of it.
#[derive(Clone, Copy)]
struct Avx2(__m256i);

impl Lanes for Avx2 {
    const WORDS: usize = 4;

    /// # Safety
    ///
    /// The CPU supports AVX2 and POPCNT.
    #[inline(always)]
    unsafe fn load(chunk: &[u64]) -> Self {
        assert_eq!(chunk.len(), 4);
        // SAFETY: `chunk` holds 32 readable bytes (asserted); the load is
        // unaligned; the CPU has AVX2 (this function's contract).
        Avx2(unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) })
    }

    #[inline(always)]
    fn eq_bits(self, value: u64) -> u32 {
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`).
        unsafe {
            let equal = _mm256_cmpeq_epi64(self.0, _mm256_set1_epi64x(value as i64));
            _mm256_movemask_pd(_mm256_castsi256_pd(equal)) as u32
        }
    }

    #[inline(always)]
    fn uniform_bits(self) -> u32 {
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`).
        unsafe {
            let zero = _mm256_cmpeq_epi64(self.0, _mm256_setzero_si256());
            let ones = _mm256_cmpeq_epi64(self.0, _mm256_set1_epi64x(-1));
            _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_or_si256(zero, ones))) as u32
        }
    }

    #[inline(always)]
    fn count_ones(self) -> u64 {
        // Popcount of each byte, summed per lane by `vpsadbw`, then across.
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`).
        unsafe {
            lanes_sum(_mm256_sad_epu8(
                byte_popcounts(self.0),
                _mm256_setzero_si256(),
            ))
        }
    }

    /// Nibble-table popcounts added up as bytes over 8 vectors (at most 64
    /// per byte), widened by `vpsadbw` once per 8 vectors and summed across
    /// lanes once per shard.
    ///
    /// # Safety
    ///
    /// The CPU supports AVX2 and POPCNT.
    #[inline(always)]
    unsafe fn count_ones_64(chunk: &[u64]) -> u64 {
        assert_eq!(chunk.len(), 64);
        // SAFETY: every load reads 32 bytes inside `chunk` (64 words,
        // asserted, in steps of 4); the CPU has AVX2 (this function's
        // contract).
        unsafe {
            let mut total = _mm256_setzero_si256();
            for half in chunk.chunks_exact(32) {
                let mut bytes = _mm256_setzero_si256();
                for four in half.chunks_exact(4) {
                    let v = _mm256_loadu_si256(four.as_ptr().cast());
                    bytes = _mm256_add_epi8(bytes, byte_popcounts(v));
                }
                total = _mm256_add_epi64(total, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
            }
            lanes_sum(total)
        }
    }
}

impl Bits for Avx2 {
    /// A lane popcount is seven instructions here (nibble tables); the
    /// integer units count the used bits and the windows of 4 blocks.
    const SCALAR_COUNTS: usize = 2;

    /// `popcnt` with a memory operand for each word. In `asm!` because the
    /// compiler turns a sum of `count_ones` back into the nibble-table
    /// vector popcount this is here to avoid.
    ///
    /// # Safety
    ///
    /// The CPU supports AVX2 and POPCNT.
    #[inline(always)]
    unsafe fn ones_in(words: &[u64]) -> u64 {
        let mut sum = 0u64;
        for word in words {
            let ones: u64;
            // SAFETY: `popcnt` reads the 8 bytes of `word`, a live `u64`,
            // and writes a register and the flags; the CPU has POPCNT (this
            // function's contract).
            unsafe {
                std::arch::asm!(
                    "popcnt {ones}, qword ptr [{word}]",
                    word = in(reg) word,
                    ones = lateout(reg) ones,
                    options(pure, readonly, nostack),
                );
            }
            sum += ones;
        }
        sum
    }

    /// # Safety
    ///
    /// As for `load`: the CPU supports AVX2 and POPCNT.
    #[inline(always)]
    unsafe fn splat(value: u64) -> Self {
        // SAFETY: the CPU has AVX2 (this function's contract).
        Avx2(unsafe { _mm256_set1_epi64x(value as i64) })
    }

    #[inline(always)]
    fn or(self, other: Self) -> Self {
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`).
        Avx2(unsafe { _mm256_or_si256(self.0, other.0) })
    }

    #[inline(always)]
    fn and_not(self, other: Self) -> Self {
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`).
        Avx2(unsafe { _mm256_andnot_si256(self.0, other.0) })
    }

    #[inline(always)]
    fn shl(self, n: u32) -> Self {
        debug_assert!((1..64).contains(&n));
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`).
        Avx2(unsafe { _mm256_sll_epi64(self.0, _mm_cvtsi32_si128(n as i32)) })
    }

    #[inline(always)]
    fn shr(self, n: u32) -> Self {
        debug_assert!((1..64).contains(&n));
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`).
        Avx2(unsafe { _mm256_srl_epi64(self.0, _mm_cvtsi32_si128(n as i32)) })
    }

    #[inline(always)]
    fn add(self, other: Self) -> Self {
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`).
        Avx2(unsafe { _mm256_add_epi64(self.0, other.0) })
    }

    /// Counts as bytes: each call adds at most 8 to a byte (the popcount of
    /// the byte, by nibble table), so 64 words' worth (16 calls) stay below
    /// 256 and one `vpsadbw` per 64 words widens them.
    #[inline(always)]
    fn count(self, counts: Self) -> Self {
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`).
        unsafe { Avx2(_mm256_add_epi8(counts.0, byte_popcounts(self.0))) }
    }

    /// Bytes again: a compare gives -1 for each byte that is 0.
    #[inline(always)]
    fn count_empty(self, counts: Self) -> Self {
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`).
        unsafe {
            let empty = _mm256_cmpeq_epi8(self.0, _mm256_setzero_si256());
            Avx2(_mm256_sub_epi8(counts.0, empty))
        }
    }

    #[inline(always)]
    fn widen(self) -> Self {
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`).
        Avx2(unsafe { _mm256_sad_epu8(self.0, _mm256_setzero_si256()) })
    }

    #[inline(always)]
    fn sum(self) -> u64 {
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`).
        unsafe { lanes_sum(self.0) }
    }

    #[inline(always)]
    fn is_ones(self) -> bool {
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`).
        unsafe { _mm256_testc_si256(self.0, _mm256_set1_epi64x(-1)) == 1 }
    }

    #[inline(always)]
    fn within(self, mask: Self) -> bool {
        // `vptest` sets CF when `!mask & self` is 0.
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`).
        unsafe { _mm256_testc_si256(mask.0, self.0) == 1 }
    }

    #[inline(always)]
    fn store(self, out: &mut [u64]) {
        assert_eq!(out.len(), 4);
        // SAFETY: `out` holds 32 writable bytes (asserted); the store is
        // unaligned; `self` exists, so the CPU has AVX2 (see `load`).
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), self.0) }
    }
}

tier!(AVX2, kernels, Avx2, Avx2, "avx2,popcnt");
