//! x86_64 tiers written with `std::arch`: AVX2 (4 lanes, popcount by nibble
//! table) and AVX-512 (8 lanes, `vpopcntq`). They exist because `wide` chooses
//! its width at compile time: a default build would leave these units idle.
//!
//! Soundness rests on types. The kernels are `#[target_feature] unsafe fn`s
//! whose contract is that the CPU supports their tier; the lanes types
//! [`Avx2`] and [`Avx512`] are built only by the `unsafe` [`Lanes::load`] under
//! the same contract, so a value of one is the proof that its instructions
//! run, and its methods are safe. Only [`has_avx2`] and [`has_avx512`] look at
//! the CPU; the dispatch (`super`) checks them before it stores a kernel.

use std::arch::x86_64::*;

use super::extents::{self, Bits, Extents};
use super::generic::{self, Lanes};
use super::{Table, Tier};

/// Whether this CPU can run the AVX2 tier: AVX2 and POPCNT.
pub(super) fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("popcnt")
}

/// Whether this CPU can run the AVX-512 tier: AVX-512F, VPOPCNTDQ and POPCNT,
/// and AVX2 for the copy kernels it shares with the AVX2 tier.
pub(super) fn has_avx512() -> bool {
    has_avx2()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512vpopcntdq")
        && is_x86_feature_detected!("popcnt")
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
        // Popcount of each nibble by table lookup, summed per lane by `vpsadbw`.
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`), which
        // implies the SSE4.1 of `_mm_extract_epi64`.
        unsafe {
            let table = _mm256_setr_epi8(
                0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3,
                2, 3, 3, 4,
            );
            let low = _mm256_set1_epi8(0x0f);
            let lo = _mm256_and_si256(self.0, low);
            let hi = _mm256_and_si256(_mm256_srli_epi16(self.0, 4), low);
            let bytes = _mm256_add_epi8(
                _mm256_shuffle_epi8(table, lo),
                _mm256_shuffle_epi8(table, hi),
            );
            let lanes = _mm256_sad_epu8(bytes, _mm256_setzero_si256());
            let sum = _mm_add_epi64(
                _mm256_castsi256_si128(lanes),
                _mm256_extracti128_si256(lanes, 1),
            );
            (_mm_cvtsi128_si64(sum) + _mm_extract_epi64(sum, 1)) as u64
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
        // contract), which implies the SSE4.1 of `_mm_extract_epi64`.
        unsafe {
            let table = _mm256_setr_epi8(
                0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3,
                2, 3, 3, 4,
            );
            let low = _mm256_set1_epi8(0x0f);
            let mut total = _mm256_setzero_si256();
            for half in chunk.chunks_exact(32) {
                let mut bytes = _mm256_setzero_si256();
                for four in half.chunks_exact(4) {
                    let v = _mm256_loadu_si256(four.as_ptr().cast());
                    let lo = _mm256_and_si256(v, low);
                    let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
                    bytes = _mm256_add_epi8(bytes, _mm256_shuffle_epi8(table, lo));
                    bytes = _mm256_add_epi8(bytes, _mm256_shuffle_epi8(table, hi));
                }
                total = _mm256_add_epi64(total, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
            }
            let sum = _mm_add_epi64(
                _mm256_castsi256_si128(total),
                _mm256_extracti128_si256(total, 1),
            );
            (_mm_cvtsi128_si64(sum) + _mm_extract_epi64(sum, 1)) as u64
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
        unsafe {
            let table = _mm256_setr_epi8(
                0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3,
                2, 3, 3, 4,
            );
            let low = _mm256_set1_epi8(0x0f);
            let lo = _mm256_and_si256(self.0, low);
            let hi = _mm256_and_si256(_mm256_srli_epi16(self.0, 4), low);
            let counts = _mm256_add_epi8(counts.0, _mm256_shuffle_epi8(table, lo));
            Avx2(_mm256_add_epi8(counts, _mm256_shuffle_epi8(table, hi)))
        }
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
        // SAFETY: `self` exists, so the CPU has AVX2 (see `load`), which
        // implies the SSE4.1 of `_mm_extract_epi64`.
        unsafe {
            let sum = _mm_add_epi64(
                _mm256_castsi256_si128(self.0),
                _mm256_extracti128_si256(self.0, 1),
            );
            (_mm_cvtsi128_si64(sum) as u64).wrapping_add(_mm_extract_epi64(sum, 1) as u64)
        }
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

/// Eight lanes in a zmm register. Made only by [`Lanes::load`], whose contract
/// is that the CPU has AVX-512F, VPOPCNTDQ and POPCNT: a value is the proof.
#[derive(Clone, Copy)]
struct Avx512(__m512i);

impl Lanes for Avx512 {
    const WORDS: usize = 8;

    /// # Safety
    ///
    /// The CPU supports AVX-512F, AVX-512 VPOPCNTDQ and POPCNT.
    #[inline(always)]
    unsafe fn load(chunk: &[u64]) -> Self {
        assert_eq!(chunk.len(), 8);
        // SAFETY: `chunk` holds 64 readable bytes (asserted); the load is
        // unaligned; the CPU has AVX-512F (this function's contract).
        Avx512(unsafe { _mm512_loadu_si512(chunk.as_ptr().cast()) })
    }

    #[inline(always)]
    fn eq_bits(self, value: u64) -> u32 {
        // SAFETY: `self` exists, so the CPU has AVX-512F (see `load`).
        unsafe {
            u32::from(_mm512_cmpeq_epu64_mask(
                self.0,
                _mm512_set1_epi64(value as i64),
            ))
        }
    }

    #[inline(always)]
    fn uniform_bits(self) -> u32 {
        // SAFETY: `self` exists, so the CPU has AVX-512F (see `load`).
        unsafe {
            let zero = _mm512_cmpeq_epu64_mask(self.0, _mm512_setzero_si512());
            let ones = _mm512_cmpeq_epu64_mask(self.0, _mm512_set1_epi64(-1));
            u32::from(zero | ones)
        }
    }

    #[inline(always)]
    fn count_ones(self) -> u64 {
        // SAFETY: `self` exists, so the CPU has AVX-512F and VPOPCNTDQ (see
        // `load`).
        unsafe { _mm512_reduce_add_epi64(_mm512_popcnt_epi64(self.0)) as u64 }
    }

    /// `vpopcntq` per vector, lanes added up over the shard, one reduction.
    ///
    /// # Safety
    ///
    /// The CPU supports AVX-512F, VPOPCNTDQ and POPCNT.
    #[inline(always)]
    unsafe fn count_ones_64(chunk: &[u64]) -> u64 {
        assert_eq!(chunk.len(), 64);
        // SAFETY: every load reads 64 bytes inside `chunk` (64 words,
        // asserted, in steps of 8); the CPU has AVX-512F and VPOPCNTDQ (this
        // function's contract).
        unsafe {
            let mut total = _mm512_setzero_si512();
            for eight in chunk.chunks_exact(8) {
                let v = _mm512_loadu_si512(eight.as_ptr().cast());
                total = _mm512_add_epi64(total, _mm512_popcnt_epi64(v));
            }
            _mm512_reduce_add_epi64(total) as u64
        }
    }
}

impl Bits for Avx512 {
    /// # Safety
    ///
    /// As for `load`: the CPU supports AVX-512F, VPOPCNTDQ and POPCNT.
    #[inline(always)]
    unsafe fn splat(value: u64) -> Self {
        // SAFETY: the CPU has AVX-512F (this function's contract).
        Avx512(unsafe { _mm512_set1_epi64(value as i64) })
    }

    #[inline(always)]
    fn or(self, other: Self) -> Self {
        // SAFETY: `self` exists, so the CPU has AVX-512F (see `load`).
        Avx512(unsafe { _mm512_or_si512(self.0, other.0) })
    }

    #[inline(always)]
    fn and_not(self, other: Self) -> Self {
        // SAFETY: `self` exists, so the CPU has AVX-512F (see `load`).
        Avx512(unsafe { _mm512_andnot_si512(self.0, other.0) })
    }

    #[inline(always)]
    fn shl(self, n: u32) -> Self {
        debug_assert!((1..64).contains(&n));
        // SAFETY: `self` exists, so the CPU has AVX-512F (see `load`), which
        // implies the SSE2 of `_mm_cvtsi32_si128`.
        Avx512(unsafe { _mm512_sll_epi64(self.0, _mm_cvtsi32_si128(n as i32)) })
    }

    #[inline(always)]
    fn shr(self, n: u32) -> Self {
        debug_assert!((1..64).contains(&n));
        // SAFETY: as for `shl`.
        Avx512(unsafe { _mm512_srl_epi64(self.0, _mm_cvtsi32_si128(n as i32)) })
    }

    #[inline(always)]
    fn add(self, other: Self) -> Self {
        // SAFETY: `self` exists, so the CPU has AVX-512F (see `load`).
        Avx512(unsafe { _mm512_add_epi64(self.0, other.0) })
    }

    #[inline(always)]
    fn count(self, counts: Self) -> Self {
        // SAFETY: `self` exists, so the CPU has AVX-512F and VPOPCNTDQ (see
        // `load`).
        Avx512(unsafe { _mm512_add_epi64(counts.0, _mm512_popcnt_epi64(self.0)) })
    }

    /// `8 - popcount` for each lane (AVX-512F alone compares no bytes).
    #[inline(always)]
    fn count_empty(self, counts: Self) -> Self {
        // SAFETY: `self` exists, so the CPU has AVX-512F and VPOPCNTDQ (see
        // `load`).
        unsafe {
            let empty = _mm512_sub_epi64(_mm512_set1_epi64(8), _mm512_popcnt_epi64(self.0));
            Avx512(_mm512_add_epi64(counts.0, empty))
        }
    }

    #[inline(always)]
    fn widen(self) -> Self {
        self
    }

    #[inline(always)]
    fn sum(self) -> u64 {
        // SAFETY: `self` exists, so the CPU has AVX-512F (see `load`).
        unsafe { _mm512_reduce_add_epi64(self.0) as u64 }
    }

    #[inline(always)]
    fn is_ones(self) -> bool {
        // SAFETY: `self` exists, so the CPU has AVX-512F (see `load`).
        unsafe { _mm512_cmpneq_epu64_mask(self.0, _mm512_set1_epi64(-1)) == 0 }
    }

    #[inline(always)]
    fn within(self, mask: Self) -> bool {
        // SAFETY: `self` exists, so the CPU has AVX-512F (see `load`).
        unsafe { _mm512_test_epi64_mask(_mm512_andnot_si512(mask.0, self.0), self.0) == 0 }
    }

    #[inline(always)]
    fn store(self, out: &mut [u64]) {
        assert_eq!(out.len(), 8);
        // SAFETY: `out` holds 64 writable bytes (asserted); the store is
        // unaligned; `self` exists, so the CPU has AVX-512F (see `load`).
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), self.0) }
    }
}

/// One tier: its kernels, `#[target_feature]` functions that instantiate
/// the generic algorithms with the tier's lanes, and its [`Table`].
macro_rules! tier {
    ($table:ident, $module:ident, $tier:ident, $lanes:ty, $features:literal) => {
        /// This tier's kernels.
        ///
        #[doc = concat!("Calling one is sound only on a CPU with `", $features, "`.")]
        pub(super) const $table: Table = Table {
            tier: Tier::$tier,
            count_ones: $module::count_ones,
            count_ones_by_64: $module::count_ones_by_64,
            first_zero: $module::first_zero,
            nth_zero: $module::nth_zero,
            uniform_run: $module::uniform_run,
            literal_run: $module::literal_run,
            classify: $module::classify,
            // Copies are bound by memory, not by vector width: both tiers
            // take the AVX2 ones (the AVX-512 tier checks for AVX2 too).
            copy_in: super::copy::avx2::copy_in,
            copy_out: super::copy::avx2::copy_out,
            fill: super::copy::avx2::fill,
            copy_literals: super::copy::avx2::copy_literals,
            extents: $module::extents,
            zero_run: $module::zero_run,
        };

        // Every kernel below has the same contract, and instantiates the generic
        // algorithm with lanes whose `load` has that very contract.
        mod $module {
            use super::*;

            /// Number of set bits in `words`.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn count_ones(words: &[u64]) -> u64 {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { generic::count_ones::<$lanes>(words) }
            }

            /// Set bits of each 64-word chunk of `words` into `counts`.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn count_ones_by_64(words: &[u64], counts: &mut [u32]) {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { generic::count_ones_by_64::<$lanes>(words, counts) }
            }

            /// Index of the first zero bit in `[from, to)`, or `None`.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn first_zero(
                words: &[u64],
                from: usize,
                to: usize,
            ) -> Option<usize> {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { generic::first_zero::<$lanes>(words, from, to) }
            }

            /// Index of the `n`-th zero bit in `[from, to)`, or how many there are.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn nth_zero(
                words: &[u64],
                from: usize,
                to: usize,
                n: u64,
            ) -> Result<usize, u64> {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { generic::nth_zero::<$lanes>(words, from, to, n) }
            }

            /// Number of leading words equal to `value`, at most `max`.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn uniform_run(words: &[u64], value: u64, max: usize) -> usize {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { generic::uniform_run::<$lanes>(words, value, max) }
            }

            /// Which words are 0 and which are all ones, as masks of 64 words each.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn classify(words: &[u64], zeros: &mut [u64], ones: &mut [u64]) {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { generic::classify::<$lanes>(words, zeros, ones) }
            }

            /// Number of leading words that are neither 0 nor all ones, at most `max`.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn literal_run(words: &[u64], max: usize) -> usize {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { generic::literal_run::<$lanes>(words, max) }
            }

            /// The free extents of `words` then `tail`, and the zero bits of
            /// each 64-word chunk into `chunks`.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn extents(words: &[u64], tail: u64, chunks: &mut [u32]) -> Extents {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { extents::extents::<$lanes>(words, tail, chunks) }
            }

            /// The first run of `n` zero bits of `[from, to)`.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn zero_run(
                words: &[u64],
                from: usize,
                to: usize,
                n: usize,
            ) -> Option<usize> {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { super::super::runs::zero_run::<$lanes>(words, from, to, n) }
            }
        }
    };
}

tier!(AVX2, avx2, Avx2, Avx2, "avx2,popcnt");
tier!(
    AVX512,
    avx512,
    Avx512,
    Avx512,
    "avx512f,avx512vpopcntdq,popcnt"
);
