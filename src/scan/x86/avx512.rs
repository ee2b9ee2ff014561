//! The AVX-512 tier: eight `u64` lanes in a zmm register with `vpopcntq`,
//! and its kernels (the generic algorithms instantiated on these lanes by
//! `tier!`, in `x86/mod.rs`). Its copy kernels are the AVX2 ones (copies are
//! bound by memory, not by vector width).

use std::arch::x86_64::*;

use crate::scan::extents::Bits;
use crate::scan::generic::Lanes;

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

tier!(
    AVX512,
    kernels,
    Avx512,
    Avx512,
    "avx512f,avx512vpopcntdq,popcnt"
);
