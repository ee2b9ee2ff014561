//! The free extents of a bitset in one pass: how many maximal runs of zero
//! bits (free blocks) it holds, how long they are (a histogram by powers of
//! two), the longest one, and the zero bits of each 64-word chunk.
//!
//! What lives here: [`Extents`], the kernel's answer; the [`Bits`] trait, the
//! few lane operations the algorithm needs beyond [`Lanes`]; the algorithm
//! itself, written once over it ([`extents`]) and instantiated by every tier
//! (the scalar one with one-word lanes); and the scalar pieces it calls for
//! the rare runs it measures one by one.
//!
//! What must never happen here: a write outside the chunk counts it is given,
//! a zero bit counted past the end of the stream, or a run counted twice.
//! `crate::stats` compares every tier with a bit-by-bit twin.
//!
//! # The algorithm
//!
//! The bitset is a stream of words, `words` then `tail`, with used blocks
//! (set bits) before and after it. With `f` the free bits, `starts = f &
//! !(f << 1)` marks the first block of every run, and `g_m` (bit `i` set
//! when blocks `i..i+m` all are free, `g_2m = g_m & (g_m >> m)`) marks the
//! windows of `m` free blocks. Both are taken over the stream, not the word:
//! each vector of words is loaded with its neighbours (one word before for
//! `starts`, one after for the windows, whose low bits are all a window of
//! up to 16 blocks needs), so nothing is carried from vector to vector and a
//! run that crosses words is seen whole. With `r_m = popcount(starts & g_m)`
//! the runs of at least `m` blocks, and `popcount(g_m)` the sum of
//! `len - m + 1` over them, the runs of 1 to 15 blocks fill buckets 0 to 3
//! of both histograms from seven counts per vector (`r_m` for `m` = 1, 2, 4
//! and 8, the windows of 4 and 8 blocks, and the free blocks), with no look
//! at any run alone.
//!
//! The runs of 16 blocks or more (`starts & g_16`: rare in scattered free
//! space, a few per word at most) are measured one by one, the zero words
//! inside them skipped by the dispatched `uniform_run`; the vectors wholly
//! inside such a run are not loaded again: their share (every block free,
//! every window free, no start) is added by count. Chunks of used words hold
//! nothing and are skipped.
//!
//! The longest run is the first longest of those measured one by one, once
//! one of them is 16 blocks or more; until then a vector gets a look word by
//! word only when it holds a run of `m = longest + 1` blocks or more, which
//! `g_m` tells (a run that started before the vector is no longer than the
//! longest). The looks come at the end of each 64-word chunk (a call inside
//! the loop would make the counts leave their registers), so `m` is fixed
//! for a chunk, and the loop is instantiated for each power of two up to
//! it: the common case, a longest of 15 blocks or more, carries none of it.

use super::generic::{self, Lanes};

/// Buckets of the extent histograms: bucket `k` holds lengths in
/// `[2^k, 2^(k+1))`, and a length is a `u64` (`crate::stats` exports it).
pub(crate) const HISTOGRAM_BUCKETS: usize = 64;

/// Runs of this many blocks or more are measured one by one; the shorter
/// ones are counted by their windows.
const LONG: u64 = 16;

/// [`LONG`] as the `u32` a length `m` is compared with.
const LONG_M: u32 = LONG as u32;

/// What [`extents`] finds. Lengths are in blocks (bits), positions are bit
/// indexes of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Extents {
    /// `counts[k]`: runs whose length is in `[2^k, 2^(k+1))`.
    pub(crate) counts: [u64; HISTOGRAM_BUCKETS],
    /// `blocks[k]`: the zero bits of those runs.
    pub(crate) blocks: [u64; HISTOGRAM_BUCKETS],
    /// The first longest run: its first bit and its length, if any bit is 0.
    pub(crate) longest: Option<(u64, u64)>,
}

/// The lane operations [`extents`] needs beyond [`Lanes`]. All are lane-wise
/// except the tests and [`Bits::sum`]. Like a [`Lanes`] value, a `Bits`
/// value is the proof that the CPU runs its instructions, so the methods are
/// safe; only [`Bits::splat`] makes one from nothing.
///
/// Popcounts are added up in a form of the tier's choosing ([`Bits::count`],
/// e.g. bytes), turned into `u64` lanes by [`Bits::widen`] at least once per
/// 64 words counted.
pub(crate) trait Bits: Lanes {
    /// Every lane `value`.
    ///
    /// # Safety
    ///
    /// As [`Lanes::load`].
    unsafe fn splat(value: u64) -> Self;
    /// `self | other`.
    fn or(self, other: Self) -> Self;
    /// `!self & other`.
    fn and_not(self, other: Self) -> Self;
    /// `self << n`, `n` in `1..64` (the callers pass constants, which the
    /// tiers' shifts by a register count turn into shifts by an immediate
    /// once inlined).
    fn shl(self, n: u32) -> Self;
    /// `self >> n`, `n` in `1..64`.
    fn shr(self, n: u32) -> Self;
    /// `self + other`, lane-wise and wrapping.
    fn add(self, other: Self) -> Self;
    /// `counts` (in the tier's form, from [`Bits::splat`]`(0)`) plus the
    /// set bits of each lane of `self`.
    fn count(self, counts: Self) -> Self;
    /// `counts` (as for [`Bits::count`]) plus the bytes of each lane of
    /// `self` that are 0, for a `self` with at most one set bit in each
    /// byte (so that a tier may count them as `8 - popcount`).
    fn count_empty(self, counts: Self) -> Self;
    /// Counts of at most 64 words' worth of [`Bits::count`] (or
    /// [`Bits::count_empty`]) calls as `u64` lanes.
    fn widen(self) -> Self;
    /// The sum of the lanes.
    fn sum(self) -> u64;
    /// Whether every bit is set.
    fn is_ones(self) -> bool;
    /// Whether every set bit of `self` is set in `mask`.
    fn within(self, mask: Self) -> bool;
    /// The lanes into `out` (exactly `WORDS` words).
    fn store(self, out: &mut [u64]);
    /// How many of the masks in [`BY_SCALAR`] the pass counts with scalar
    /// popcounts ([`Bits::ones_in`], [`Bits::ones`]) rather than in the
    /// lanes: where a lane popcount takes several vector instructions, the
    /// integer units, idle otherwise, count some masks while the vector
    /// units count the others.
    const SCALAR_COUNTS: usize = 0;
    /// The set bits of `words`, with scalar instructions.
    ///
    /// # Safety
    ///
    /// As [`Lanes::load`] (the tier's scalar popcount may need a feature).
    #[inline(always)]
    unsafe fn ones_in(words: &[u64]) -> u64 {
        words.iter().map(|w| u64::from(w.count_ones())).sum()
    }
    /// The set bits of all lanes, with scalar instructions.
    #[inline(always)]
    fn ones(self) -> u64 {
        let mut lanes = [0; MAX_WORDS];
        self.store(&mut lanes[..Self::WORDS]);
        // SAFETY: `self` exists, so the CPU has the tier's features.
        unsafe { Self::ones_in(&lanes[..Self::WORDS]) }
    }
}

/// The widest `WORDS` of any tier: the size of the buffers built for the
/// vectors at the ends of the stream.
const MAX_WORDS: usize = 8;

/// What the pass keeps as plain integers: the runs measured one by one and
/// the longest run.
struct Long<'a> {
    words: &'a [u64],
    tail: u64,
    /// Runs of [`LONG`] blocks or more, by bucket, and their blocks.
    counts: [u64; HISTOGRAM_BUCKETS],
    blocks: [u64; HISTOGRAM_BUCKETS],
    /// The longest run so far: length and first bit.
    best_len: u64,
    best_start: u64,
    /// Vectors that end at or before this word are inside a long run already
    /// counted (with at least `LONG - 1` free bits after them).
    skip_to: usize,
    /// The caller's tier's `uniform_run` kernel, which skips the zero words
    /// of a long run. Passed in rather than dispatched, so that this file
    /// never calls back up into the dispatch.
    uniform_run: UniformRun,
}

/// A tier's `uniform_run` kernel: sound to call only on a CPU that supports
/// that tier, which holds inside that tier's `extents` kernel.
pub(crate) type UniformRun = unsafe fn(&[u64], u64, usize) -> usize;

impl Long<'_> {
    /// Word `k` of the stream: the words, the tail, then used blocks.
    #[inline(always)]
    fn get(&self, k: usize) -> u64 {
        match k.cmp(&self.words.len()) {
            std::cmp::Ordering::Less => self.words[k],
            std::cmp::Ordering::Equal => self.tail,
            std::cmp::Ordering::Greater => !0,
        }
    }

    /// Words `i - 1..i + w + 1` of the stream at the start of the buffer,
    /// where some are not in `words` (the ends of the stream).
    fn edge(&self, i: usize, w: usize) -> [u64; MAX_WORDS + 2] {
        let mut buffer = [!0u64; MAX_WORDS + 2];
        for (t, slot) in buffer[..w + 2].iter_mut().enumerate() {
            if let Some(k) = (i + t).checked_sub(1) {
                *slot = self.get(k);
            }
        }
        buffer
    }

    /// A run of `len` blocks starting at bit `start`: the longest if it is
    /// longer than the longest so far (so the first of equals stays).
    #[inline(always)]
    fn offer(&mut self, len: u64, start: u64) {
        if len > self.best_len {
            self.best_len = len;
            self.best_start = start;
        }
    }

    /// The length of the run of zero bits that starts at bit `start`. The
    /// zero words inside it are skipped by the tier's `uniform_run` kernel,
    /// called through a pointer: this function is not compiled for the
    /// caller's tier, the kernel is.
    fn run_length(&self, start: u64) -> u64 {
        let (mut k, bit) = ((start / 64) as usize, start % 64);
        // The word's bits from `start` on; the top `bit` bits shifted in are
        // zeros, so the count of trailing free bits stops at the word's end.
        let free = !self.get(k) >> bit;
        let first = u64::from((!free).trailing_zeros());
        if first < 64 - bit {
            return first;
        }
        let mut len = 64 - bit;
        k += 1;
        if k < self.words.len() && self.words[k] == 0 {
            // SAFETY: `uniform_run` is the kernel of the tier whose
            // `extents` kernel made this `Long` (see `extents`), so the CPU
            // supports it.
            let zeros = unsafe { (self.uniform_run)(&self.words[k..], 0, usize::MAX) };
            len += 64 * zeros as u64;
            k += zeros;
        }
        // At most the tail and one word past it: that one is all used.
        loop {
            let free = u64::from(self.get(k).trailing_zeros());
            len += free;
            if free < 64 {
                return len;
            }
            k += 1;
        }
    }

    /// The runs of [`LONG`] blocks or more that start in the words from
    /// `first` on (`starts`: their first bits, a word per lane), measured
    /// one by one, in order.
    #[cold]
    #[inline(never)]
    fn long_runs(&mut self, starts: &[u64], first: usize) {
        for (j, &lane) in starts.iter().enumerate() {
            let mut bits = lane;
            while bits != 0 {
                let start = (first + j) as u64 * 64 + u64::from(bits.trailing_zeros());
                let len = self.run_length(start);
                debug_assert!(len >= LONG);
                let k = bucket(len);
                self.counts[k] += 1;
                self.blocks[k] += len;
                self.offer(len, start);
                // The vectors inside the run, with the `LONG - 1` bits after
                // them that their windows look at, hold nothing else.
                self.skip_to = self.skip_to.max(((start + len - (LONG - 1)) / 64) as usize);
                bits &= bits - 1;
            }
        }
    }

    /// The first longest of the runs shorter than [`LONG`] that start in the
    /// words from `first` on (`starts`: their first bits, a word per lane),
    /// if it beats the longest so far. The longer ones are `long_runs`'.
    #[cold]
    #[inline(never)]
    fn short_runs(&mut self, starts: &[u64], first: usize) {
        for (j, &lane) in starts.iter().enumerate() {
            let k = first + j;
            // A run shorter than `LONG` that starts in word `k` ends in it or
            // in the next one.
            let free = u128::from(!self.get(k)) | u128::from(!self.get(k + 1)) << 64;
            let mut bits = lane;
            while bits != 0 {
                let at = bits.trailing_zeros();
                let len = u64::from((!(free >> at)).trailing_zeros());
                if len < LONG {
                    self.offer(len, k as u64 * 64 + u64::from(at));
                }
                bits &= bits - 1;
            }
        }
    }
}

/// The histogram bucket of a length (at least 1): `floor(log2(len))`.
#[inline(always)]
fn bucket(len: u64) -> usize {
    debug_assert!(len > 0);
    (63 - len.leading_zeros()) as usize
}

/// `u_(p + d)` from `u_p` and the next words' `u_p` (right in their low
/// `d` bits), `d < p`: bit `i` set when any of bits `i..i+p+d` is.
#[inline(always)]
fn widen<V: Bits>(u: V, next: V, d: u32) -> V {
    if d == 0 {
        u
    } else {
        u.or(u.shr(d)).or(next.shl(64 - d))
    }
}

/// The first bits of the runs a chunk's vectors flagged for a look of
/// their own, put aside until the chunk's loop is done (a call inside it
/// would make the counts leave their registers): word `j` of the chunk at
/// `starts[j]`, for the vectors whose first word's bit is set in `vectors`.
struct Flagged {
    vectors: u64,
    starts: [u64; 64],
}

impl Flagged {
    fn new() -> Flagged {
        Flagged {
            vectors: 0,
            starts: [0; 64],
        }
    }

    /// Puts aside the vector `starts` of words `j..j + WORDS` of the chunk.
    #[inline(always)]
    fn add<V: Bits>(&mut self, j: usize, starts: V) {
        self.vectors |= 1 << j;
        starts.store(&mut self.starts[j..j + V::WORDS]);
    }

    /// The flagged vectors of `words` words, in order: their first word
    /// in the chunk, and their starts.
    fn each(&self, words: usize) -> impl Iterator<Item = (usize, &[u64])> {
        let mut vectors = self.vectors;
        std::iter::from_fn(move || {
            let j = (vectors != 0).then(|| vectors.trailing_zeros() as usize)?;
            vectors &= vectors - 1;
            Some((j, &self.starts[j..j + words]))
        })
    }
}

/// The vectors of words `base..end` of the stream (a chunk of 64 or its
/// end) into `counts` and `long`.
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
unsafe fn chunk_steps<V: Bits, const SHORT: u32>(
    base: usize,
    end: usize,
    counts: &mut [V; COUNTED],
    long: &mut Long<'_>,
    flagged: &mut [Flagged; 2],
    wider: u32,
) -> ChunkSums {
    let (words, w) = (long.words, V::WORDS);
    let (mut looked_at, mut skipped) = (0u64, 0u64);
    let mut scalar = [0u64; COUNTED];
    let [short, long_starts] = flagged;
    short.vectors = 0;
    long_starts.vectors = 0;
    // The vectors inside a long run measured already (at the end of the
    // chunk it starts in, so not in this one: the bound is fixed here).
    let mut i = base;
    while i < end && i + w <= long.skip_to {
        skipped += w as u64;
        i += w;
    }
    // The vector at word `j` of the chunk, with the words around it.
    let mut look = |j: usize, around: &[u64]| {
        looked_at += w as u64;
        // SAFETY: the CPU supports `V`'s features (this function's
        // contract).
        unsafe { visit::<V, SHORT>(around, counts, wider, short, long_starts, j, &mut scalar) };
    };
    match words.get(base.wrapping_sub(1)..base + 64 + 1) {
        // A whole chunk with a word of `words` on each side: one bound
        // checked for all its vectors.
        Some(window) if base > 0 && i == base => {
            let window: &[u64; 66] = window.try_into().expect("66 words");
            for j in (0..64).step_by(w) {
                look(j, &window[j..j + w + 2]);
            }
        }
        // The ends of the stream, words past `words` from a buffer; and
        // chunks that start inside a long run.
        _ => {
            while i < end {
                let buffer;
                let around = match i
                    .checked_sub(1)
                    .and_then(|before| words.get(before..i + w + 1))
                {
                    Some(around) => around,
                    None => {
                        buffer = long.edge(i, w);
                        &buffer[..w + 2]
                    }
                };
                look(i - base, around);
                i += w;
            }
        }
    }
    // The longest so far only grows, so the vectors flagged with an older
    // one include every vector the newer one would have flagged.
    for (j, starts) in short.each(w) {
        long.short_runs(starts, base + j);
    }
    for (j, starts) in long_starts.each(w) {
        long.long_runs(starts, base + j);
    }
    ChunkSums {
        looked_at,
        skipped,
        scalar,
    }
}

/// The vector of words `around[1..1 + WORDS]`, word `j` on of its chunk,
/// with the words before and after it: [`step`], its flagged starts put
/// aside in `short` and `long_starts`.
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
unsafe fn visit<V: Bits, const SHORT: u32>(
    around: &[u64],
    counts: &mut [V; COUNTED],
    wider: u32,
    short: &mut Flagged,
    long_starts: &mut Flagged,
    j: usize,
    scalar: &mut [u64; COUNTED],
) {
    let w = V::WORDS;
    // SAFETY: the CPU supports `V`'s features (this function's contract).
    let (prev, cur, next) = unsafe {
        (
            V::load(&around[..w]),
            V::load(&around[1..1 + w]),
            V::load(&around[2..2 + w]),
        )
    };
    if by_scalar::<V>(USED) {
        // From memory: no need to take the vector apart.
        // SAFETY: the CPU supports `V`'s features (this function's contract).
        scalar[USED] += unsafe { V::ones_in(&around[1..1 + w]) };
    }
    step::<V, SHORT>(
        prev,
        cur,
        next,
        counts,
        scalar,
        wider,
        |short_runs, long_runs| {
            if let Some(starts) = short_runs {
                short.add(j, starts);
            }
            if let Some(starts) = long_runs {
                long_starts.add(j, starts);
            }
        },
    );
}

/// What [`chunk_steps`] counted outside the lanes: the words it looked at
/// and those it skipped inside long runs.
struct ChunkSums {
    looked_at: u64,
    skipped: u64,
    scalar: [u64; COUNTED],
}

/// One vector of words, `cur`, with the words before (`prev`) and after
/// (`next`) it: its masks into `counts`, and `flag` called with its run
/// starts when some runs need a look of their own: the short ones, when
/// one of `SHORT + wider` blocks or more starts here (`SHORT` a power of
/// two, `wider < SHORT`; no look when `SHORT` is 0); the long ones, of
/// [`LONG`] blocks or more.
///
/// In used bits: a run starts at a free bit after a used one; `um` marks
/// the windows of `m` blocks that hold a used one, so its clear bits are
/// `g_m`. `vm` is the next words' `um`, right in the bits the shifts bring
/// in (their low `m` bits need no bit of the words after them).
#[inline(always)]
fn step<V: Bits, const SHORT: u32>(
    prev: V,
    cur: V,
    next: V,
    counts: &mut [V; COUNTED],
    scalar: &mut [u64; COUNTED],
    wider: u32,
    flag: impl FnOnce(Option<V>, Option<V>),
) {
    macro_rules! count {
        ($k:expr, $mask:expr) => {{
            let (k, mask): (usize, V) = ($k, $mask);
            if by_scalar::<V>(k) {
                // The used bits are counted in `visit`, from memory.
                if k != USED {
                    scalar[k] += mask.ones();
                }
            } else {
                counts[k] = mask.count(counts[k]);
            }
        }};
    }
    let starts = cur.and_not(cur.shl(1).or(prev.shr(63)));
    count!(USED, cur);
    count!(RUNS, starts);
    let u2 = cur.or(cur.shr(1)).or(next.shl(63));
    let v2 = next.or(next.shr(1));
    count!(RUNS + 1, u2.and_not(starts));
    let u4 = u2.or(u2.shr(2)).or(v2.shl(62));
    let v4 = v2.or(v2.shr(2));
    count!(RUNS + 2, u4.and_not(starts));
    count!(WINDOWS, u4);
    let u8 = u4.or(u4.shr(4)).or(v4.shl(60));
    let v8 = v4.or(v4.shr(4));
    // The starts of runs of 8 or more are 9 bits apart at least: one in a
    // byte at most. The bytes with none are cheaper to count on some tiers.
    count!(WINDOWS + 1, u8);
    let u16 = u8.or(u8.shr(8)).or(v8.shl(56));
    counts[EMPTY] = u8.and_not(starts).count_empty(counts[EMPTY]);
    // A window of `SHORT + wider` free blocks here.
    let short = match SHORT {
        0 => false,
        1 => !cur.is_ones(),
        2 => !widen(u2, v2, wider).is_ones(),
        4 => !widen(u4, v4, wider).is_ones(),
        _ => !widen(u8, v8, wider).is_ones(),
    };
    let long = !starts.within(u16);
    if short || long {
        flag(short.then_some(starts), long.then(|| u16.and_not(starts)));
    }
}

/// The masks of a vector counted for the whole stream, by index in the
/// pass's counts: used bits, run starts, starts of runs of at least 2 and 4
/// blocks, the bytes with no start of a run of 8 or more, and the windows
/// of 4 and 8 blocks that hold a used one.
const USED: usize = 0;
const RUNS: usize = 1;
const EMPTY: usize = 4;
const WINDOWS: usize = 5;
const COUNTED: usize = 7;

/// The dense masks, the ones a tier may count with scalar popcounts
/// ([`Bits::SCALAR_COUNTS`] of them, from the first).
const BY_SCALAR: [usize; 2] = [USED, WINDOWS];

/// Whether tier `V` counts mask `k` with scalar popcounts.
#[inline(always)]
fn by_scalar<V: Bits>(k: usize) -> bool {
    BY_SCALAR[..V::SCALAR_COUNTS].contains(&k)
}

/// The free extents of the stream `words` then `tail` (bit set: used; before
/// and after the stream every bit is used), and the free bits of each of
/// its 64-word chunks into `chunks` (one per chunk, the last one holding the
/// tail). `uniform_run` is the same tier's kernel (any tier's gives the same
/// answer).
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]) and
/// `uniform_run`'s tier.
#[inline(always)]
pub(crate) unsafe fn extents<V: Bits>(
    words: &[u64],
    tail: u64,
    chunks: &mut [u32],
    uniform_run: UniformRun,
) -> Extents {
    let n = words.len();
    let total = n + 1;
    let w = V::WORDS;
    assert!(w <= MAX_WORDS && 64 % w == 0);
    assert_eq!(chunks.len(), total.div_ceil(64), "one count per 64 words");
    // SAFETY: the CPU supports `V`'s features (this function's contract).
    let zero = unsafe { V::splat(0) };
    let mut totals = [zero; COUNTED];
    let mut scalar_totals = [0u64; COUNTED];
    let mut long = Long {
        words,
        tail,
        counts: [0; HISTOGRAM_BUCKETS],
        blocks: [0; HISTOGRAM_BUCKETS],
        best_len: 0,
        best_start: 0,
        skip_to: 0,
        uniform_run,
    };
    // Words looked at (their windows and free bits are counted from their
    // used ones), and words skipped inside long runs (all free, no start).
    let (mut looked_at, mut skipped) = (0u64, 0u64);
    let mut free_total = 0u64;
    // Reused from chunk to chunk: filling them is not free.
    let mut flagged = [Flagged::new(), Flagged::new()];
    for (chunk, count) in chunks.iter_mut().enumerate() {
        let base = chunk * 64;
        let end = (base + 64).min(total);
        // A chunk inside a long run measured already: all free.
        if base + 64 <= long.skip_to {
            *count = 64 * 64;
            free_total += 64 * 64;
            skipped += 64;
            continue;
        }
        // A chunk of used words holds nothing (the words around it do not
        // matter: no run starts in it, no window in it is free).
        if end <= n
            && words[base] == !0
            // SAFETY: the CPU supports `V`'s features (this function's contract).
            && unsafe { generic::uniform_run::<V>(&words[base..end], !0, 64) } == 64
        {
            *count = 0;
            continue;
        }
        let mut counts = [zero; COUNTED];
        // Until the longest is `LONG - 1` long, a shorter run can beat it:
        // the vectors that hold one of `m = longest + 1` blocks or more get
        // a look of their own (`m` is fixed for the chunk: the looks come
        // at its end). Past that, only the long runs can, and `long_runs`
        // sees each. An instance of the loop for each power of two up to
        // `m` keeps the last, the common one, free of the others' registers.
        let m = long.best_len as u32 + 1;
        let (f, l, c) = (&mut flagged, &mut long, &mut counts);
        // SAFETY: the CPU supports `V`'s features (this function's contract).
        let sums = unsafe {
            match m {
                1 => chunk_steps::<V, 1>(base, end, c, l, f, 0),
                2..=3 => chunk_steps::<V, 2>(base, end, c, l, f, m - 2),
                4..=7 => chunk_steps::<V, 4>(base, end, c, l, f, m - 4),
                8..LONG_M => chunk_steps::<V, 8>(base, end, c, l, f, m - 8),
                _ => chunk_steps::<V, 0>(base, end, c, l, f, 0),
            }
        };
        // The used bits, by chunk; the other masks over the whole pass.
        let used = counts[USED].widen().sum() + sums.scalar[USED];
        for (total, counted) in totals.iter_mut().zip(&counts).skip(USED + 1) {
            *total = total.add(counted.widen());
        }
        for (total, counted) in scalar_totals.iter_mut().zip(sums.scalar).skip(USED + 1) {
            *total += counted;
        }
        let chunk_free = 64 * (sums.looked_at + sums.skipped) - used;
        debug_assert!(chunk_free <= 64 * 64);
        *count = chunk_free as u32;
        free_total += chunk_free;
        looked_at += sums.looked_at;
        skipped += sums.skipped;
    }
    let mut sums = totals.map(V::sum);
    for (sum, scalar) in sums.iter_mut().zip(scalar_totals) {
        *sum += scalar;
    }
    let [_, r1, r2, r4, empty, used4, used8] = sums;
    let r8 = 8 * looked_at - empty;
    // The free windows: those of the words looked at with no used bit, and
    // every window in the words skipped.
    let w4 = 64 * looked_at - used4 + 64 * skipped;
    let w8 = 64 * looked_at - used8 + 64 * skipped;
    let long_runs: u64 = long.counts.iter().sum();
    let long_blocks: u64 = long.blocks.iter().sum();
    // Blocks in runs of at least m: `popcount(g_m) + (m - 1) * r_m`, where
    // `popcount(g_2) = free - r_1` (each run has one block with no free
    // block after it).
    let in_runs = [
        free_total,
        free_total - r1 + r2,
        w4 + 3 * r4,
        w8 + 7 * r8,
        long_blocks,
    ];
    let runs = [r1, r2, r4, r8, long_runs];
    let (mut counts, mut blocks) = (long.counts, long.blocks);
    for k in 0..4 {
        debug_assert!(
            counts[k] == 0 && blocks[k] == 0,
            "no long run is that short"
        );
        counts[k] = runs[k] - runs[k + 1];
        blocks[k] = in_runs[k] - in_runs[k + 1];
    }
    debug_assert_eq!(blocks.iter().sum::<u64>(), free_total);
    Extents {
        counts,
        blocks,
        longest: (long.best_len > 0).then_some((long.best_start, long.best_len)),
    }
}
