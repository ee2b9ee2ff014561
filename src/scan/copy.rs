//! The codec's copy kernels: literal words between a stream of little-endian
//! bytes and a bitset, optionally with stores that bypass the caches, and
//! (decoding) the set bits of each shard counted on the way.
//!
//! Why they exist: a large decode or encode writes a destination that is not
//! in any cache. Ordinary stores first read every line they write ("read
//! for ownership"), so `memcpy` moves three bytes over the memory bus for each
//! byte copied; non-temporal stores write whole lines without reading them,
//! two bytes for one. And `open` needs the bits of every shard, which a copy
//! followed by a count would read back from memory once the stores have
//! bypassed the cache: counting the words while they are in registers costs
//! no extra pass.
//!
//! The scalar functions here are the twins every tier is tested against; the
//! AVX2 ones are the fast path (the AVX-512 tier uses them too: copying is
//! bound by memory, not by vector width). These are the only kernels of the
//! module that write, and they write only into the destination they are given.
//! What must never happen here: a write outside `dst`, or a streamed store a
//! caller could miss. The rule for callers: every line written with
//! streaming stores is fenced ([`stream_fence`], by the thread that streamed
//! it) before any load of it, by this thread or another; a caller notes what
//! it streams (`streamed::stored`) and debug builds check the rule at every
//! read back (`streamed.rs`).

use std::mem::MaybeUninit;

/// Makes the streamed stores of this thread visible before any later store
/// (a lock release, a flag another thread reads): non-temporal stores are not
/// ordered by the usual release/acquire pairs on x86. A no-op elsewhere.
#[inline]
pub(crate) fn stream_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `sfence` is SSE, part of the x86_64 baseline: every x86_64 CPU
    // runs it.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    }
    super::streamed::fenced();
}

/// Asks for the line holding `word` to be brought into L1 ahead of a write:
/// a decoder writing short runs into a large target that is not in cache
/// issues it some way ahead, so that the line's read (which an ordinary
/// store needs first) overlaps the work before it. A hint only; a no-op
/// off x86_64.
#[inline(always)]
pub(crate) fn prefetch<T>(word: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` is SSE, part of the x86_64 baseline; a prefetch
    // never faults and reads nothing into the program.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(word).cast());
    }
}

/// The shards (64-word chunks) that words `[first, first + len)` of a bitset
/// fall in: how many entries `counts` needs in [`copy_in`](super::copy_in).
#[inline]
pub(crate) fn shards_spanned(first: usize, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (first + len - 1) / 64 - first / 64 + 1
    }
}

/// Checks the shape `copy_in` promises its callers it will not go past.
#[inline]
fn check_copy_in(dst: &[u64], src: &[u8], first: usize, counts: &[u32]) {
    assert_eq!(src.len(), dst.len() * 8, "8 bytes per word");
    assert!(
        counts.len() >= shards_spanned(first, dst.len()),
        "a count for every shard spanned"
    );
}

/// Scalar `copy_in`: one word at a time (the twin of the fast tiers; `stream`
/// changes nothing here, only where the bytes go through on the way).
pub(super) fn copy_in(
    dst: &mut [u64],
    src: &[u8],
    first: usize,
    counts: &mut [u32],
    _stream: bool,
) {
    check_copy_in(dst, src, first, counts);
    for (i, (word, bytes)) in dst.iter_mut().zip(src.chunks_exact(8)).enumerate() {
        *word = u64::from_le_bytes(bytes.try_into().expect("chunks_exact(8)"));
        counts[(first + i) / 64 - first / 64] += word.count_ones();
    }
}

/// Scalar `copy_literals`: the leading words of `src` that are neither 0
/// nor all ones, copied as little-endian bytes until the first uniform one.
pub(super) fn copy_literals(dst: &mut [MaybeUninit<u8>], src: &[u64], _stream: bool) -> usize {
    assert_eq!(dst.len(), src.len() * 8, "8 bytes per word");
    for (i, (bytes, &word)) in dst.chunks_exact_mut(8).zip(src).enumerate() {
        if word == 0 || word == !0 {
            return i;
        }
        bytes.write_copy_of_slice(&word.to_le_bytes());
    }
    src.len()
}

/// Scalar `fill`.
pub(super) fn fill(dst: &mut [u64], value: u64, _stream: bool) {
    dst.fill(value);
}

/// Scalar `copy_out`: each word's little-endian bytes.
pub(super) fn copy_out(dst: &mut [MaybeUninit<u8>], src: &[u64], _stream: bool) {
    assert_eq!(dst.len(), src.len() * 8, "8 bytes per word");
    for (bytes, word) in dst.chunks_exact_mut(8).zip(src) {
        bytes.write_copy_of_slice(&word.to_le_bytes());
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    //! AVX2: 32-byte loads; whole 64-byte lines of the destination stored as
    //! two aligned vectors (non-temporal when streaming), the words at either
    //! end of a run one at a time; set bits counted by nibble table.

    use super::{check_copy_in, MaybeUninit};
    use crate::scan::x86::{byte_popcounts, lanes_sum};
    use std::arch::x86_64::*;

    /// Stores 32 bytes at `dst`, bypassing the caches when `STREAM`.
    ///
    /// # Safety
    ///
    /// `dst` is valid for a 32-byte write and 32-byte aligned; the CPU has
    /// AVX2.
    #[inline(always)]
    unsafe fn store_vector<const STREAM: bool>(dst: *mut u64, v: __m256i) {
        debug_assert_eq!(dst as usize % 32, 0);
        // SAFETY: valid and aligned, AVX2 (this function's contract).
        unsafe {
            if STREAM {
                _mm256_stream_si256(dst.cast(), v);
            } else {
                _mm256_store_si256(dst.cast(), v);
            }
        }
    }

    /// Copies `n` words from `src` (bytes) to `dst` and returns their set
    /// bits when `COUNT`. The words up to a 64-byte boundary of `dst`, and
    /// those after the last whole line, are stored one at a time with
    /// ordinary stores; whole lines go as two vectors, streamed when
    /// `STREAM`. Only whole lines stream: a line written partly by streaming
    /// stores and partly by ordinary ones (the marker after a short run of
    /// literals) would be flushed half-written, which costs more than the
    /// read it saves.
    ///
    /// # Safety
    ///
    /// `src` is valid for reading and `dst` for writing `8 * n` bytes, `dst`
    /// is 8-byte aligned, and the CPU has AVX2 and POPCNT.
    #[inline(always)]
    unsafe fn run<const STREAM: bool, const COUNT: bool>(
        dst: *mut u64,
        src: *const u8,
        n: usize,
    ) -> u64 {
        // SAFETY: every access below is at word `j < n` of `dst` (or words
        // `i..i + 8` with `i + 8 <= n`) and at the same bytes of `src`, all
        // inside the ranges the contract makes valid; vector stores go to
        // 32-byte aligned addresses (`head` reaches a 64-byte boundary, and
        // steps of 8 words keep it); the CPU has AVX2 and POPCNT (the
        // contract).
        unsafe {
            let mut ones = 0u64;
            let mut word = |j: usize| {
                let w = src.add(8 * j).cast::<u64>().read_unaligned();
                dst.add(j).write(w);
                if COUNT {
                    ones += u64::from(w.count_ones());
                }
            };
            let head = ((64 - dst as usize % 64) % 64 / 8).min(n);
            (0..head).for_each(&mut word);
            let lines_end = head + (n - head) / 8 * 8;
            let mut lanes = _mm256_setzero_si256();
            let mut i = head;
            while i < lines_end {
                // Byte counts add up over at most 4 lines (8 vectors: 8 * 8
                // bits fit in a byte) before they are widened.
                let stop = (i + 32).min(lines_end);
                let mut bytes = _mm256_setzero_si256();
                while i < stop {
                    let a = _mm256_loadu_si256(src.add(8 * i).cast());
                    let b = _mm256_loadu_si256(src.add(8 * i + 32).cast());
                    store_vector::<STREAM>(dst.add(i), a);
                    store_vector::<STREAM>(dst.add(i + 4), b);
                    if COUNT {
                        bytes = _mm256_add_epi8(bytes, byte_popcounts(a));
                        bytes = _mm256_add_epi8(bytes, byte_popcounts(b));
                    }
                    i += 8;
                }
                if COUNT {
                    lanes = _mm256_add_epi64(lanes, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
                }
            }
            (lines_end..n).for_each(&mut word);
            if COUNT {
                ones += lanes_sum(lanes);
            }
            ones
        }
    }

    /// `copy_in` for AVX2, in one pass: the words up to a 64-byte boundary
    /// of `dst` and after its last whole line one at a time, whole lines as
    /// two aligned vectors (streamed when `STREAM`), each counted in
    /// registers. Shards rarely start on a line of `dst` (a bitset is only
    /// 16-byte aligned), so the one line a shard boundary cuts is counted by
    /// word, and its words go to the shard they belong to.
    ///
    /// # Safety
    ///
    /// The CPU supports AVX2 and POPCNT, and [`check_copy_in`] passed.
    #[inline(always)]
    unsafe fn copy_in_counting<const STREAM: bool>(
        dst: &mut [u64],
        src: &[u8],
        first: usize,
        counts: &mut [u32],
    ) {
        let n = dst.len();
        let shard = |i: usize| (first + i) / 64 - first / 64;
        let (d, s) = (dst.as_mut_ptr(), src.as_ptr());
        // SAFETY: every access is at word `j < n` of `dst` (whole lines:
        // words `i..i + 8` with `i + 8 <= lines_end <= n`; a line ahead is
        // loaded only when it is one of them) and at the same bytes of
        // `src` (`8 * n` long, checked by the caller); vector stores
        // go to 32-byte aligned addresses (`head` reaches a 64-byte boundary
        // and every step is a line); `counts` has an entry for every shard
        // spanned (checked by the caller); AVX2 and POPCNT (the contract).
        unsafe {
            let word = |j: usize, counts: &mut [u32]| {
                let w = s.add(8 * j).cast::<u64>().read_unaligned();
                d.add(j).write(w);
                counts[shard(j)] += w.count_ones();
            };
            let head = ((64 - d as usize % 64) % 64 / 8).min(n);
            (0..head).for_each(|j| word(j, counts));
            let lines_end = head + (n - head) / 8 * 8;
            let mut i = head;
            while i < lines_end {
                // The lines of this shard, then the line its end cuts, if any.
                let boundary = (first + i) / 64 * 64 + 64 - first;
                let whole_end = i + (boundary.min(lines_end) - i) / 8 * 8;
                let mut lanes = _mm256_setzero_si256();
                // Each line is loaded before the line ahead of it is
                // stored: when the destination lies a little past the
                // source in a page (by less than a line: a stream's words
                // follow its 8-byte marker, and both buffers start at the
                // same offset of a page when allocated alike), a load issued
                // after that store overlaps it in the address bits the CPU
                // compares first (bits 0 to 11) and waits for it ("4K
                // aliasing"): a third of the speed of a copy.
                let (mut a, mut b) = if i < whole_end {
                    (
                        _mm256_loadu_si256(s.add(8 * i).cast()),
                        _mm256_loadu_si256(s.add(8 * i + 32).cast()),
                    )
                } else {
                    (_mm256_setzero_si256(), _mm256_setzero_si256())
                };
                while i < whole_end {
                    // At most 4 lines of byte counts (8 * 8 bits fit a byte).
                    let stop = (i + 32).min(whole_end);
                    let mut bytes = _mm256_setzero_si256();
                    while i < stop {
                        // The source 2 KiB ahead: a hint (it never faults,
                        // even past the end), which keeps more of its reads
                        // in flight than the copy alone would.
                        _mm_prefetch::<_MM_HINT_T0>(s.wrapping_add(8 * i + 2048).cast());
                        let (next_a, next_b) = if i + 8 < whole_end {
                            (
                                _mm256_loadu_si256(s.add(8 * i + 64).cast()),
                                _mm256_loadu_si256(s.add(8 * i + 96).cast()),
                            )
                        } else {
                            (a, b)
                        };
                        store_vector::<STREAM>(d.add(i), a);
                        store_vector::<STREAM>(d.add(i + 4), b);
                        bytes = _mm256_add_epi8(bytes, byte_popcounts(a));
                        bytes = _mm256_add_epi8(bytes, byte_popcounts(b));
                        (a, b) = (next_a, next_b);
                        i += 8;
                    }
                    lanes = _mm256_add_epi64(lanes, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
                }
                if whole_end > head {
                    // Lines of one shard (none: zero, added anywhere valid).
                    counts[shard(whole_end - 1)] += lanes_sum(lanes) as u32;
                }
                if i < lines_end && boundary < i + 8 {
                    // The cut line: per-word counts (`vpsadbw` sums each
                    // 8-byte lane on its own), split at the boundary.
                    let a = _mm256_loadu_si256(s.add(8 * i).cast());
                    let b = _mm256_loadu_si256(s.add(8 * i + 32).cast());
                    store_vector::<STREAM>(d.add(i), a);
                    store_vector::<STREAM>(d.add(i + 4), b);
                    let mut per_word = [0u64; 8];
                    let zero = _mm256_setzero_si256();
                    _mm256_storeu_si256(
                        per_word.as_mut_ptr().cast(),
                        _mm256_sad_epu8(byte_popcounts(a), zero),
                    );
                    _mm256_storeu_si256(
                        per_word.as_mut_ptr().add(4).cast(),
                        _mm256_sad_epu8(byte_popcounts(b), zero),
                    );
                    for (j, &ones) in per_word.iter().enumerate() {
                        counts[shard(i + j)] += ones as u32;
                    }
                    i += 8;
                }
            }
            (lines_end..n).for_each(|j| word(j, counts));
        }
    }

    /// `copy_in` for AVX2: see [`copy_in_counting`].
    ///
    /// # Safety
    ///
    /// The CPU supports AVX2 and POPCNT.
    #[target_feature(enable = "avx2,popcnt")]
    pub(crate) unsafe fn copy_in(
        dst: &mut [u64],
        src: &[u8],
        first: usize,
        counts: &mut [u32],
        stream: bool,
    ) {
        check_copy_in(dst, src, first, counts);
        // SAFETY: the shapes were checked; AVX2 and POPCNT (the contract).
        unsafe {
            if stream {
                copy_in_counting::<true>(dst, src, first, counts);
            } else {
                copy_in_counting::<false>(dst, src, first, counts);
            }
        }
    }

    /// `fill` for AVX2: whole lines of `dst` as two aligned vectors
    /// (streamed when `stream`), the words at either end one at a time.
    ///
    /// # Safety
    ///
    /// The CPU supports AVX2 and POPCNT.
    #[target_feature(enable = "avx2,popcnt")]
    pub(crate) unsafe fn fill(dst: &mut [u64], value: u64, stream: bool) {
        let n = dst.len();
        let head = ((64 - dst.as_ptr() as usize % 64) % 64 / 8).min(n);
        let lines_end = head + (n - head) / 8 * 8;
        dst[..head].fill(value);
        dst[lines_end..].fill(value);
        // SAFETY: words `head..lines_end` of `dst` are in bounds, and start
        // on a 64-byte boundary (`head` reaches one), so each step writes
        // two 32-byte aligned vectors inside `dst`; AVX2 (the contract).
        unsafe {
            let v = _mm256_set1_epi64x(value as i64);
            let d = dst.as_mut_ptr();
            let mut i = head;
            while i < lines_end {
                if stream {
                    store_vector::<true>(d.add(i), v);
                    store_vector::<true>(d.add(i + 4), v);
                } else {
                    store_vector::<false>(d.add(i), v);
                    store_vector::<false>(d.add(i + 4), v);
                }
                i += 8;
            }
        }
    }

    /// `copy_literals` for AVX2, in one pass over the source: words up to a
    /// 64-byte boundary of `dst` one at a time, then whole lines (two
    /// vectors, streamed when `stream`) while neither holds a uniform word,
    /// then the rest one at a time up to the first uniform word. A
    /// destination that is not 8-byte aligned takes the scalar twin.
    ///
    /// # Safety
    ///
    /// The CPU supports AVX2 and POPCNT.
    #[target_feature(enable = "avx2,popcnt")]
    pub(crate) unsafe fn copy_literals(
        dst: &mut [MaybeUninit<u8>],
        src: &[u64],
        stream: bool,
    ) -> usize {
        assert_eq!(dst.len(), src.len() * 8, "8 bytes per word");
        if !(dst.as_ptr() as usize).is_multiple_of(8) {
            return super::copy_literals(dst, src, stream);
        }
        let n = src.len();
        let d = dst.as_mut_ptr().cast::<u64>();
        let s = src.as_ptr();
        // SAFETY: every access is at word `j < n` of `src` and of `dst`
        // (which holds `8 * n` bytes, asserted, and is 8-byte aligned,
        // checked), or at words `i..i + 8` with `i + 8 <= n`; vector stores
        // go to 32-byte aligned addresses (`head` reaches a 64-byte
        // boundary, and every step is a line); writing initialised bytes into
        // `MaybeUninit<u8>` is always allowed; AVX2 (the contract).
        unsafe {
            // Copies words from `j` up to the first uniform one (or `end`).
            let words = |mut j: usize, end: usize| {
                while j < end {
                    let w = s.add(j).read();
                    if w == 0 || w == !0 {
                        break;
                    }
                    d.add(j).write(w);
                    j += 1;
                }
                j
            };
            let zero = _mm256_setzero_si256();
            let ones = _mm256_set1_epi64x(-1);
            let uniform = |v: __m256i| {
                _mm256_or_si256(_mm256_cmpeq_epi64(v, zero), _mm256_cmpeq_epi64(v, ones))
            };
            if n >= 8 {
                // Most runs between uniform stretches are short: find their
                // end in the first 8 words with two compares, and copy them
                // with ordinary stores.
                let a = uniform(_mm256_loadu_si256(s.cast()));
                let b = uniform(_mm256_loadu_si256(s.add(4).cast()));
                let mask = _mm256_movemask_pd(_mm256_castsi256_pd(a))
                    | _mm256_movemask_pd(_mm256_castsi256_pd(b)) << 4;
                if mask != 0 {
                    let run = mask.trailing_zeros() as usize;
                    for j in 0..run {
                        d.add(j).write(s.add(j).read());
                    }
                    return run;
                }
            }
            let head = ((64 - d as usize % 64) % 64 / 8).min(n);
            let done = words(0, head);
            if done < head {
                return done;
            }
            let mut i = head;
            while i + 8 <= n {
                let a = _mm256_loadu_si256(s.add(i).cast());
                let b = _mm256_loadu_si256(s.add(i + 4).cast());
                if _mm256_testz_si256(_mm256_or_si256(uniform(a), uniform(b)), ones) == 0 {
                    break; // a uniform word in this line: word by word
                }
                if stream {
                    store_vector::<true>(d.add(i), a);
                    store_vector::<true>(d.add(i + 4), b);
                } else {
                    store_vector::<false>(d.add(i), a);
                    store_vector::<false>(d.add(i + 4), b);
                }
                i += 8;
            }
            words(i, n)
        }
    }

    /// `copy_out` for AVX2: one [`run`] without counting. A destination that
    /// is not 8-byte aligned (a caller's byte chunk may be anywhere) takes
    /// the scalar copy.
    ///
    /// # Safety
    ///
    /// The CPU supports AVX2 and POPCNT.
    #[target_feature(enable = "avx2,popcnt")]
    pub(crate) unsafe fn copy_out(dst: &mut [MaybeUninit<u8>], src: &[u64], stream: bool) {
        assert_eq!(dst.len(), src.len() * 8, "8 bytes per word");
        if !(dst.as_ptr() as usize).is_multiple_of(8) {
            return super::copy_out(dst, src, stream);
        }
        // SAFETY: `dst` holds `8 * src.len()` writable bytes (asserted) and
        // is 8-byte aligned (checked); `src` is readable for as many; the CPU
        // has AVX2 and POPCNT (this function's contract). Writing initialised
        // bytes into `MaybeUninit<u8>` is always allowed.
        unsafe {
            let (d, s, n) = (
                dst.as_mut_ptr().cast::<u64>(),
                src.as_ptr().cast(),
                src.len(),
            );
            if stream {
                run::<true, false>(d, s, n);
            } else {
                run::<false, false>(d, s, n);
            }
        }
    }
}
