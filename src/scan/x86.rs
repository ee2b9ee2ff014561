//! x86_64 tiers written with `std::arch`: AVX2 (4 lanes, popcount by nibble
//! table) and AVX-512 (8 lanes, `vpopcntq`). They exist because `wide` chooses
//! its width at compile time: a default build would leave these units idle.
//!
//! Every intrinsic here runs only inside a `#[target_feature]` function of its
//! tier, and those functions are reachable only through [`avx2`] and
//! [`avx512`], which check the CPU first. That check is what makes the
//! `unsafe` blocks below sound; nothing else may call into this module.

use std::arch::x86_64::*;

use super::generic::{self, Lanes};
use super::Kernels;

/// The AVX2 kernels, if this CPU has AVX2 and POPCNT.
pub(super) fn avx2() -> Option<Kernels> {
    if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("popcnt")) {
        return None;
    }
    Some(Kernels {
        name: "avx2",
        count_ones: avx2_kernels::count_ones,
        count_ones_by_64: avx2_kernels::count_ones_by_64,
        first_zero: avx2_kernels::first_zero,
        nth_zero: avx2_kernels::nth_zero,
        uniform_run: avx2_kernels::uniform_run,
        literal_run: avx2_kernels::literal_run,
    })
}

/// The AVX-512 kernels, if this CPU has AVX-512F and VPOPCNTDQ.
pub(super) fn avx512() -> Option<Kernels> {
    if !(is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512vpopcntdq")
        && is_x86_feature_detected!("popcnt"))
    {
        return None;
    }
    Some(Kernels {
        name: "avx512",
        count_ones: avx512_kernels::count_ones,
        count_ones_by_64: avx512_kernels::count_ones_by_64,
        first_zero: avx512_kernels::first_zero,
        nth_zero: avx512_kernels::nth_zero,
        uniform_run: avx512_kernels::uniform_run,
        literal_run: avx512_kernels::literal_run,
    })
}

/// Four lanes in a ymm register. Only built inside AVX2 functions.
#[derive(Clone, Copy)]
struct Avx2(__m256i);

impl Lanes for Avx2 {
    const WORDS: usize = 4;

    #[inline(always)]
    fn load(chunk: &[u64]) -> Self {
        assert_eq!(chunk.len(), 4);
        // SAFETY: `chunk` holds 32 readable bytes (asserted); the load is
        // unaligned; AVX is enabled in every caller (see the module doc).
        Avx2(unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) })
    }

    #[inline(always)]
    fn eq_bits(self, value: u64) -> u32 {
        // SAFETY: AVX2 is enabled in every caller (see the module doc).
        unsafe {
            let equal = _mm256_cmpeq_epi64(self.0, _mm256_set1_epi64x(value as i64));
            _mm256_movemask_pd(_mm256_castsi256_pd(equal)) as u32
        }
    }

    #[inline(always)]
    fn uniform_bits(self) -> u32 {
        // SAFETY: AVX2 is enabled in every caller (see the module doc).
        unsafe {
            let zero = _mm256_cmpeq_epi64(self.0, _mm256_setzero_si256());
            let ones = _mm256_cmpeq_epi64(self.0, _mm256_set1_epi64x(-1));
            _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_or_si256(zero, ones))) as u32
        }
    }

    #[inline(always)]
    fn count_ones(self) -> u64 {
        // Popcount of each nibble by table lookup, summed per lane by `vpsadbw`.
        // SAFETY: AVX2 is enabled in every caller (see the module doc).
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
}

/// Eight lanes in a zmm register. Only built inside AVX-512 functions.
#[derive(Clone, Copy)]
struct Avx512(__m512i);

impl Lanes for Avx512 {
    const WORDS: usize = 8;

    #[inline(always)]
    fn load(chunk: &[u64]) -> Self {
        assert_eq!(chunk.len(), 8);
        // SAFETY: `chunk` holds 64 readable bytes (asserted); the load is
        // unaligned; AVX-512F is enabled in every caller (see the module doc).
        Avx512(unsafe { _mm512_loadu_si512(chunk.as_ptr().cast()) })
    }

    #[inline(always)]
    fn eq_bits(self, value: u64) -> u32 {
        // SAFETY: AVX-512F is enabled in every caller (see the module doc).
        unsafe {
            u32::from(_mm512_cmpeq_epu64_mask(
                self.0,
                _mm512_set1_epi64(value as i64),
            ))
        }
    }

    #[inline(always)]
    fn uniform_bits(self) -> u32 {
        // SAFETY: AVX-512F is enabled in every caller (see the module doc).
        unsafe {
            let zero = _mm512_cmpeq_epu64_mask(self.0, _mm512_setzero_si512());
            let ones = _mm512_cmpeq_epu64_mask(self.0, _mm512_set1_epi64(-1));
            u32::from(zero | ones)
        }
    }

    #[inline(always)]
    fn count_ones(self) -> u64 {
        // SAFETY: AVX-512F and VPOPCNTDQ are enabled in every caller.
        unsafe { _mm512_reduce_add_epi64(_mm512_popcnt_epi64(self.0)) as u64 }
    }
}

/// Safe entry points of one tier: each calls its `#[target_feature]` twin.
macro_rules! tier {
    ($module:ident, $lanes:ty, $features:literal) => {
        mod $module {
            use super::*;

            #[target_feature(enable = $features)]
            fn count_ones_imp(words: &[u64]) -> u64 {
                generic::count_ones::<$lanes>(words)
            }

            #[target_feature(enable = $features)]
            fn count_ones_by_64_imp(words: &[u64], counts: &mut [u32]) {
                generic::count_ones_by_64::<$lanes>(words, counts)
            }

            #[target_feature(enable = $features)]
            fn first_zero_imp(words: &[u64], from: usize, to: usize) -> Option<usize> {
                generic::first_zero::<$lanes>(words, from, to)
            }

            #[target_feature(enable = $features)]
            fn nth_zero_imp(words: &[u64], from: usize, to: usize, n: u64) -> Result<usize, u64> {
                generic::nth_zero::<$lanes>(words, from, to, n)
            }

            #[target_feature(enable = $features)]
            fn uniform_run_imp(words: &[u64], value: u64, max: usize) -> usize {
                generic::uniform_run::<$lanes>(words, value, max)
            }

            #[target_feature(enable = $features)]
            fn literal_run_imp(words: &[u64], max: usize) -> usize {
                generic::literal_run::<$lanes>(words, max)
            }

            // SAFETY (all six): these are reachable only through the `Kernels`
            // value that `avx2()` / `avx512()` build after checking the CPU
            // has every feature in `$features`.
            pub(super) fn count_ones(words: &[u64]) -> u64 {
                // SAFETY: the CPU has this tier's features (see above).
                unsafe { count_ones_imp(words) }
            }

            pub(super) fn count_ones_by_64(words: &[u64], counts: &mut [u32]) {
                // SAFETY: the CPU has this tier's features (see above).
                unsafe { count_ones_by_64_imp(words, counts) }
            }

            pub(super) fn first_zero(words: &[u64], from: usize, to: usize) -> Option<usize> {
                // SAFETY: the CPU has this tier's features (see above).
                unsafe { first_zero_imp(words, from, to) }
            }

            pub(super) fn nth_zero(
                words: &[u64],
                from: usize,
                to: usize,
                n: u64,
            ) -> Result<usize, u64> {
                // SAFETY: the CPU has this tier's features (see above).
                unsafe { nth_zero_imp(words, from, to, n) }
            }

            pub(super) fn uniform_run(words: &[u64], value: u64, max: usize) -> usize {
                // SAFETY: the CPU has this tier's features (see above).
                unsafe { uniform_run_imp(words, value, max) }
            }

            pub(super) fn literal_run(words: &[u64], max: usize) -> usize {
                // SAFETY: the CPU has this tier's features (see above).
                unsafe { literal_run_imp(words, max) }
            }
        }
    };
}

tier!(avx2_kernels, Avx2, "avx2,popcnt");
tier!(avx512_kernels, Avx512, "avx512f,avx512vpopcntdq,popcnt");
