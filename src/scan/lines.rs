//! Eight words in registers: the codec's unit of work where it touches
//! memory in bulk. The decoder assembles each 64-byte line of a large target
//! before it writes it with one streaming store (a line is never written
//! partly by streaming stores and partly by ordinary ones).
//!
//! A tier is a zero-sized *token* ([`Lines`]): [`Scalar`] (plain `u64`
//! arrays, ordinary stores: the twin every other tier is tested against),
//! and on x86_64 [`Avx2`] (two ymm registers) and [`Avx512`] (one zmm
//! register, masked loads and blends). A token of an x86 tier is made only
//! by an `unsafe` constructor whose contract is that the CPU supports the
//! tier, so holding one is the proof and its methods are safe; they check
//! every slice they are given (lengths, and the alignment of a streaming
//! store). [`run`] hands a [`Job`] the token of the active tier, inside a
//! function compiled for that tier's instructions, so that the job's loops
//! (generic over the token, `#[inline(always)]`) are compiled for them too.
//!
//! What must never happen here: a load or store outside the slices given,
//! a streaming store to a line a caller did not hand over whole, or an
//! answer that differs from [`Scalar`]'s.

use super::Tier;

/// Words in a line.
pub(crate) const LINE_WORDS: usize = 8;

/// Row `n`: a line whose first `n` words are ones and the others zeros.
/// The AVX2 tier's lane masks are made of two rows, and the decoder puts
/// runs of ones in its buffer with a row (`ewah::stream`).
pub(crate) static ONES_PREFIX: [[u64; LINE_WORDS]; LINE_WORDS + 1] = {
    let mut rows = [[0; LINE_WORDS]; LINE_WORDS + 1];
    let mut n = 0;
    while n <= LINE_WORDS {
        let mut word = 0;
        while word < n {
            rows[n][word] = !0;
            word += 1;
        }
        n += 1;
    }
    rows
};

/// The operations of one tier on lines of [`LINE_WORDS`] words. Words in
/// byte slices are little-endian, as in an EWAH stream.
pub(crate) trait Lines: Copy {
    /// A line in registers.
    type Line: Copy;
    /// A line of eight copies of `word`.
    fn splat(self, word: u64) -> Self::Line;
    /// The eight words of `src`.
    fn load(self, src: &[u8; 64]) -> Self::Line;
    /// `line` with lanes `from..from + src.len() / 8` replaced by the words
    /// of `src`, in order; `src` is whole words and ends by lane 8.
    fn load_lanes(self, line: Self::Line, from: usize, src: &[u8]) -> Self::Line;
    /// The set bits of all lanes.
    fn count_ones(self, line: Self::Line) -> u32;
    /// Writes `line` to `dst` with an ordinary store (any alignment).
    fn store(self, line: Self::Line, dst: &mut [u64; LINE_WORDS]);
    /// Writes `line` to `dst`, which must be 64-byte aligned, with a
    /// streaming store where the tier has one: the caller fences
    /// ([`stream_fence`](super::stream_fence)) before anyone reads it.
    fn stream(self, line: Self::Line, dst: &mut [u64; LINE_WORDS]);
    /// Writes `word` to every word of `dst`, whole lines (64-byte aligned,
    /// a multiple of 8 words long), as [`Lines::stream`] does.
    #[inline(always)]
    fn stream_splat(self, word: u64, dst: &mut [u64]) {
        check_lines(dst);
        let line = self.splat(word);
        for dst in dst.chunks_exact_mut(LINE_WORDS) {
            self.stream(line, dst.try_into().expect("a line"));
        }
    }
    /// Writes lanes `from..from + dst.len()` (ending by lane 8) of `line`
    /// to `dst` with ordinary stores.
    fn store_lanes(self, line: Self::Line, from: usize, dst: &mut [u64]);
}

/// Checks that `dst` is whole lines: 64-byte aligned, a multiple of 8
/// words long.
#[inline(always)]
fn check_lines(dst: &[u64]) {
    assert!(
        (dst.as_ptr() as usize).is_multiple_of(64) && dst.len().is_multiple_of(LINE_WORDS),
        "whole lines"
    );
}

/// What runs with the active tier's token: see [`run`].
pub(crate) trait Job {
    /// What the job returns.
    type Output;
    /// The job, on tier `L` (inlined into a function compiled for it: mark
    /// it `#[inline(always)]`).
    fn run<L: Lines>(self, lines: L) -> Self::Output;
}

/// Runs `job` with the token of the active kernel tier ([`active`](super::active)),
/// in a function compiled with that tier's instructions (and POPCNT for the
/// scalar tiers, where the CPU has it: the codec counts bits as it goes).
#[inline]
pub(crate) fn run<J: Job>(job: J) -> J::Output {
    match super::active() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the active tier is one the CPU was checked to support
        // (only such a tier is ever installed), and `Avx512` needs exactly
        // the AVX-512 tier's features (`x86::has_avx512`).
        Tier::Avx512 => unsafe { x86::run_avx512(job) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for the AVX2 tier's features.
        Tier::Avx2 => unsafe { x86::run_avx2(job) },
        #[cfg(target_arch = "x86_64")]
        _ if std::is_x86_feature_detected!("popcnt") => {
            // SAFETY: the CPU has POPCNT, just detected.
            unsafe { x86::run_scalar_popcnt(job) }
        }
        _ => job.run(Scalar),
    }
}

/// The scalar tier: lines in `[u64; 8]`, ordinary stores. The twin.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scalar;

impl Lines for Scalar {
    type Line = [u64; LINE_WORDS];

    #[inline(always)]
    fn splat(self, word: u64) -> Self::Line {
        [word; LINE_WORDS]
    }

    #[inline(always)]
    fn load(self, src: &[u8; 64]) -> Self::Line {
        std::array::from_fn(|i| word_at(src, i))
    }

    #[inline(always)]
    fn load_lanes(self, mut line: Self::Line, from: usize, src: &[u8]) -> Self::Line {
        assert!(src.len().is_multiple_of(8) && from + src.len() / 8 <= LINE_WORDS);
        for (lane, bytes) in line[from..].iter_mut().zip(src.chunks_exact(8)) {
            *lane = u64::from_le_bytes(bytes.try_into().expect("chunks_exact(8)"));
        }
        line
    }

    #[inline(always)]
    fn count_ones(self, line: Self::Line) -> u32 {
        line.iter().map(|w| w.count_ones()).sum()
    }

    #[inline(always)]
    fn store(self, line: Self::Line, dst: &mut [u64; LINE_WORDS]) {
        *dst = line;
    }

    #[inline(always)]
    fn stream(self, line: Self::Line, dst: &mut [u64; LINE_WORDS]) {
        assert_eq!(dst.as_ptr() as usize % 64, 0, "a whole line");
        *dst = line;
    }

    #[inline(always)]
    fn store_lanes(self, line: Self::Line, from: usize, dst: &mut [u64]) {
        let n = dst.len();
        dst.copy_from_slice(&line[from..from + n]);
    }
}

/// Word `i` of little-endian `bytes`.
#[inline(always)]
fn word_at(bytes: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("8 bytes"))
}

#[cfg(all(test, target_arch = "x86_64"))]
pub(crate) use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The AVX2 and AVX-512 lines, and the functions compiled for them.

    use std::arch::x86_64::*;

    use super::{Job, Lines, Scalar, LINE_WORDS};

    /// [`run`](super::run) on the AVX-512 tier.
    ///
    /// # Safety
    ///
    /// The CPU supports AVX-512F, VPOPCNTDQ, AVX2 and POPCNT.
    #[target_feature(enable = "avx512f,avx512vpopcntdq,avx2,popcnt")]
    pub(super) unsafe fn run_avx512<J: Job>(job: J) -> J::Output {
        // SAFETY: this function's contract.
        job.run(unsafe { Avx512::new() })
    }

    /// [`run`](super::run) on the AVX2 tier.
    ///
    /// # Safety
    ///
    /// The CPU supports AVX2 and POPCNT.
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn run_avx2<J: Job>(job: J) -> J::Output {
        // SAFETY: this function's contract.
        job.run(unsafe { Avx2::new() })
    }

    /// [`run`](super::run) on the scalar lines, compiled with POPCNT (the
    /// baseline x86_64 target counts a word's bits in a dozen instructions
    /// without it).
    ///
    /// # Safety
    ///
    /// The CPU supports POPCNT.
    #[target_feature(enable = "popcnt")]
    pub(super) unsafe fn run_scalar_popcnt<J: Job>(job: J) -> J::Output {
        job.run(Scalar)
    }

    /// The AVX2 tier's token: made only by [`Avx2::new`], whose contract is
    /// that the CPU has AVX2 and POPCNT.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Avx2(());

    impl Avx2 {
        /// # Safety
        ///
        /// The CPU supports AVX2 and POPCNT.
        #[inline(always)]
        pub(crate) unsafe fn new() -> Self {
            Avx2(())
        }
    }

    /// Lanes `from..to` (`from <= to <= 8`) of a line as compare masks,
    /// one per half.
    #[inline(always)]
    unsafe fn half_masks(from: usize, to: usize) -> [__m256i; 2] {
        // Lanes `from..to` are row `to` of `ONES_PREFIX` without row
        // `from`: two loads and an `andnot` per half line, where comparing
        // lane numbers took seven instructions (a fifth of a `runs`
        // decoding on this tier went to the masks).
        let (below_to, below_from) = (&super::ONES_PREFIX[to], &super::ONES_PREFIX[from]);
        // SAFETY: each load reads 32 bytes of a row of 64; the caller has
        // AVX2.
        unsafe {
            let half = |row: &[u64; LINE_WORDS], at: usize| {
                _mm256_loadu_si256(row.as_ptr().add(at).cast())
            };
            [
                _mm256_andnot_si256(half(below_from, 0), half(below_to, 0)),
                _mm256_andnot_si256(half(below_from, 4), half(below_to, 4)),
            ]
        }
    }

    impl Lines for Avx2 {
        type Line = [__m256i; 2];

        #[inline(always)]
        fn splat(self, word: u64) -> Self::Line {
            // SAFETY: the token exists, so the CPU has AVX2.
            let v = unsafe { _mm256_set1_epi64x(word as i64) };
            [v, v]
        }

        #[inline(always)]
        fn load(self, src: &[u8; 64]) -> Self::Line {
            // SAFETY: 64 readable bytes; unaligned loads; AVX2 (the token).
            unsafe {
                [
                    _mm256_loadu_si256(src.as_ptr().cast()),
                    _mm256_loadu_si256(src.as_ptr().add(32).cast()),
                ]
            }
        }

        #[inline(always)]
        fn load_lanes(self, line: Self::Line, from: usize, src: &[u8]) -> Self::Line {
            assert!(src.len().is_multiple_of(8) && from + src.len() / 8 <= LINE_WORDS);
            let to = from + src.len() / 8;
            // Lane `i` reads word `i - from` of `src`: the base address
            // lies `from` words before `src` (computed with wrapping
            // arithmetic, never dereferenced there), and the masks enable
            // exactly the lanes `from..to`, whose words lie in `src`.
            let base = src.as_ptr().wrapping_sub(8 * from).cast::<i64>();
            // SAFETY: `vpmaskmovq` touches only the enabled lanes' memory
            // (masked-off lanes neither load nor fault, and read as zero):
            // lanes `from..to`, which are `src`'s bytes (asserted above).
            // AVX2 (the token).
            unsafe {
                let mask = half_masks(from, to);
                // `line`'s lanes outside the mask, or the loaded ones: with
                // `and`/`or` rather than a blend, so that over a line of
                // zeros (a literal's first load) only the load is left.
                let put = |i: usize, half: *const i64| {
                    _mm256_or_si256(
                        _mm256_andnot_si256(mask[i], line[i]),
                        _mm256_maskload_epi64(half, mask[i]),
                    )
                };
                [put(0, base), put(1, base.wrapping_add(4))]
            }
        }

        #[inline(always)]
        fn count_ones(self, line: Self::Line) -> u32 {
            // Each byte's popcount by nibble table, the two halves' bytes
            // added (at most 16 each), summed by `vpsadbw`: no spill of the
            // line to memory and no word-by-word count.
            // SAFETY: AVX2 (the token).
            unsafe {
                use crate::scan::x86::{byte_popcounts, lanes_sum};
                let both = _mm256_add_epi8(byte_popcounts(line[0]), byte_popcounts(line[1]));
                lanes_sum(_mm256_sad_epu8(both, _mm256_setzero_si256())) as u32
            }
        }

        #[inline(always)]
        fn store(self, line: Self::Line, dst: &mut [u64; LINE_WORDS]) {
            // SAFETY: 64 writable bytes; unaligned stores; AVX2 (the token).
            unsafe {
                _mm256_storeu_si256(dst.as_mut_ptr().cast(), line[0]);
                _mm256_storeu_si256(dst.as_mut_ptr().add(4).cast(), line[1]);
            }
        }

        #[inline(always)]
        fn stream(self, line: Self::Line, dst: &mut [u64; LINE_WORDS]) {
            assert_eq!(dst.as_ptr() as usize % 64, 0, "a whole line");
            // SAFETY: 64 writable bytes, 64-byte aligned (asserted); AVX2
            // (the token).
            unsafe {
                _mm256_stream_si256(dst.as_mut_ptr().cast(), line[0]);
                _mm256_stream_si256(dst.as_mut_ptr().add(4).cast(), line[1]);
            }
        }

        #[inline(always)]
        fn store_lanes(self, line: Self::Line, from: usize, dst: &mut [u64]) {
            assert!(from + dst.len() <= LINE_WORDS);
            let to = from + dst.len();
            // Lane `i` writes word `i - from` of `dst`, as in `load_lanes`:
            // the base lies `from` words before `dst` (wrapping arithmetic,
            // never dereferenced there). Why not a spill and a copy of the
            // lanes: the copy's length varies, so it became a call to
            // memmove, 15% of a `runs` decoding on this tier.
            let base = dst.as_mut_ptr().wrapping_sub(from).cast::<i64>();
            // SAFETY: `vpmaskmovq` writes only the enabled lanes' memory
            // (masked-off lanes neither store nor fault): lanes `from..to`,
            // which are `dst`'s words (asserted above). AVX2 (the token).
            unsafe {
                let mask = half_masks(from, to);
                _mm256_maskstore_epi64(base, mask[0], line[0]);
                _mm256_maskstore_epi64(base.wrapping_add(4), mask[1], line[1]);
            }
        }
    }

    /// The AVX-512 tier's token: made only by [`Avx512::new`], whose
    /// contract is that the CPU has AVX-512F, VPOPCNTDQ, AVX2 and POPCNT.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Avx512(());

    impl Avx512 {
        /// # Safety
        ///
        /// The CPU supports AVX-512F, VPOPCNTDQ, AVX2 and POPCNT.
        #[inline(always)]
        pub(crate) unsafe fn new() -> Self {
            Avx512(())
        }
    }

    /// Lanes `from..to` as a mask.
    #[inline(always)]
    fn lanes_mask(from: usize, to: usize) -> __mmask8 {
        debug_assert!(from <= to && to <= LINE_WORDS);
        ((0xffu32 << from) & !(0xffu32 << to)) as __mmask8
    }

    impl Lines for Avx512 {
        type Line = __m512i;

        #[inline(always)]
        fn splat(self, word: u64) -> Self::Line {
            // SAFETY: the token exists, so the CPU has AVX-512F.
            unsafe { _mm512_set1_epi64(word as i64) }
        }

        #[inline(always)]
        fn load(self, src: &[u8; 64]) -> Self::Line {
            // SAFETY: 64 readable bytes; unaligned load; AVX-512F (the token).
            unsafe { _mm512_loadu_si512(src.as_ptr().cast()) }
        }

        #[inline(always)]
        fn load_lanes(self, line: Self::Line, from: usize, src: &[u8]) -> Self::Line {
            assert!(src.len().is_multiple_of(8) && from + src.len() / 8 <= LINE_WORDS);
            let to = from + src.len() / 8;
            // Lane `i` reads word `i - from` of `src`: the base address lies
            // `from` words before `src` (wrapping arithmetic, never
            // dereferenced there); the mask enables exactly lanes `from..to`.
            let base = src.as_ptr().wrapping_sub(8 * from).cast::<i64>();
            // SAFETY: a masked load touches only the enabled lanes' memory
            // (masked-off lanes neither load nor fault): lanes `from..to`,
            // which are `src`'s bytes (asserted above). AVX-512F (the token).
            unsafe { _mm512_mask_loadu_epi64(line, lanes_mask(from, to), base) }
        }

        #[inline(always)]
        fn count_ones(self, line: Self::Line) -> u32 {
            // SAFETY: AVX-512F and VPOPCNTDQ (the token).
            unsafe { _mm512_reduce_add_epi64(_mm512_popcnt_epi64(line)) as u32 }
        }

        #[inline(always)]
        fn store(self, line: Self::Line, dst: &mut [u64; LINE_WORDS]) {
            // SAFETY: 64 writable bytes; unaligned store; AVX-512F (the
            // token).
            unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), line) }
        }

        #[inline(always)]
        fn stream(self, line: Self::Line, dst: &mut [u64; LINE_WORDS]) {
            assert_eq!(dst.as_ptr() as usize % 64, 0, "a whole line");
            // SAFETY: 64 writable bytes, 64-byte aligned (asserted);
            // AVX-512F (the token).
            unsafe { _mm512_stream_si512(dst.as_mut_ptr().cast(), line) }
        }

        #[inline(always)]
        fn store_lanes(self, line: Self::Line, from: usize, dst: &mut [u64]) {
            assert!(from + dst.len() <= LINE_WORDS);
            // Lane `i` goes to word `i - from` of `dst`: the base address
            // lies `from` words before `dst` (wrapping arithmetic, never
            // dereferenced there); the mask enables exactly those lanes.
            let base = dst.as_mut_ptr().wrapping_sub(from).cast::<i64>();
            // SAFETY: a masked store writes only the enabled lanes' memory,
            // lanes `from..from + dst.len()`, which are `dst`'s words
            // (asserted); AVX-512F (the token).
            unsafe { _mm512_mask_storeu_epi64(base, lanes_mask(from, from + dst.len()), line) }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Every tier against [`Scalar`], through the operations run on each
    //! tier this CPU supports.

    use super::*;
    use proptest::prelude::*;

    /// Runs `check` on every tier the CPU can run (the scalar one too).
    fn on_every_tier(check: impl Fn(&str, &dyn Fn(&Op) -> Answer)) {
        check("scalar", &|op| op.apply(Scalar));
        #[cfg(target_arch = "x86_64")]
        {
            if super::super::available().contains(&Tier::Avx2) {
                // SAFETY: the CPU supports the AVX2 tier, just checked.
                check("avx2", &|op| op.apply(unsafe { Avx2::new() }));
            }
            if super::super::available().contains(&Tier::Avx512) {
                // SAFETY: the CPU supports the AVX-512 tier, just checked.
                check("avx512", &|op| op.apply(unsafe { Avx512::new() }));
            }
        }
    }

    /// One operation: a line made, then written every way.
    #[derive(Debug, Clone)]
    enum Op {
        /// `load_lanes` of `src` at lane `from` into the line `start`.
        LoadLanes {
            start: [u64; 8],
            from: usize,
            src: Vec<u64>,
        },
        /// `splat`.
        Splat(u64),
        /// `stream_splat` of a word over `lines` lines.
        StreamSplat(u64, usize),
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Answer {
        /// The line written with `stream` (into an aligned line), `store`
        /// (one word past a line), and `store_lanes` of every range of
        /// lanes (with the guard word on each side); its set bits.
        Line([u64; 8], [u64; 8], Vec<Vec<u64>>, u32),
        Words(Vec<u64>),
    }

    #[repr(align(64))]
    struct Aligned([u64; 32]);

    impl Op {
        fn apply<L: Lines>(&self, lines: L) -> Answer {
            let line = match self {
                Op::LoadLanes { start, from, src } => {
                    let start: Vec<u8> = start.iter().flat_map(|w| w.to_le_bytes()).collect();
                    let start = lines.load(start.as_slice().try_into().unwrap());
                    let src: Vec<u8> = src.iter().flat_map(|w| w.to_le_bytes()).collect();
                    lines.load_lanes(start, *from, &src)
                }
                Op::Splat(word) => lines.splat(*word),
                Op::StreamSplat(word, n) => {
                    let mut words = Aligned([7; 32]);
                    lines.stream_splat(*word, &mut words.0[8..8 + 8 * n]);
                    super::super::stream_fence();
                    return Answer::Words(words.0.to_vec());
                }
            };
            let mut streamed = Aligned([7; 32]);
            let dst: &mut [u64; 8] = (&mut streamed.0[8..16]).try_into().unwrap();
            lines.stream(line, dst);
            super::super::stream_fence();
            let mut stored = Aligned([7; 32]);
            lines.store(line, (&mut stored.0[1..9]).try_into().unwrap());
            let lanes = (0..=8)
                .flat_map(|from| (0..=8 - from).map(move |n| (from, n)))
                .map(|(from, n)| {
                    // A guard word on each side: a lane outside `from..from
                    // + n` written shows as a guard changed.
                    let mut dst = vec![9u64; n + 2];
                    lines.store_lanes(line, from, &mut dst[1..1 + n]);
                    dst
                })
                .collect();
            let streamed: [u64; 8] = streamed.0[8..16].try_into().unwrap();
            let stored: [u64; 8] = stored.0[1..9].try_into().unwrap();
            Answer::Line(streamed, stored, lanes, lines.count_ones(line))
        }
    }

    fn word() -> impl Strategy<Value = u64> {
        prop_oneof![Just(0u64), Just(!0u64), any::<u64>()]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn every_tier_makes_and_writes_lines_like_the_scalar_one(
            start in prop::array::uniform8(word()),
            from in 0usize..=8,
            len in 0usize..=8,
            src in prop::collection::vec(word(), 8),
            value in word(),
            lines in 0usize..=3,
        ) {
            let len = len.min(8 - from);
            let ops = [
                Op::LoadLanes { start, from, src: src[..len].to_vec() },
                Op::Splat(value),
                Op::StreamSplat(value, lines),
            ];
            for op in ops {
                let expected = op.apply(Scalar);
                on_every_tier(|name, apply| assert_eq!(apply(&op), expected, "{name}: {op:?}"));
            }
            // The twin itself, word by word.
            let mut naive = start;
            naive[from..from + len].copy_from_slice(&src[..len]);
            let Answer::Line(streamed, stored, _, bits) = Op::LoadLanes { start, from, src: src[..len].to_vec() }.apply(Scalar) else {
                unreachable!()
            };
            prop_assert_eq!(streamed, naive);
            prop_assert_eq!(stored, naive);
            prop_assert_eq!(bits, naive.iter().map(|w| w.count_ones()).sum::<u32>());
        }
    }

    #[test]
    fn a_streaming_store_needs_a_whole_line() {
        let mut words = Aligned([0; 32]);
        let result = std::panic::catch_unwind(move || {
            // Word 1 of an aligned buffer: 8 bytes past a line.
            let dst: &mut [u64; 8] = (&mut words.0[1..9]).try_into().unwrap();
            Scalar.stream([1; 8], dst);
        });
        assert!(result.is_err());
    }
}
