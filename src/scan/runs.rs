//! The first run of `n` zero bits (free blocks) of a range: the search of
//! the extent calls (`FreeSet::reserve_extent`), a vector of words at a
//! time, runs that cross words (and shards) included.
//!
//! What lives here: [`zero_run`], written once over the [`Bits`] lanes and
//! instantiated by every tier (the scalar one with one-word lanes); the
//! tests hold every tier to a bit-by-bit twin.
//!
//! What must never happen here: a run that starts before `from` or ends
//! past `to`, a run that is not the first (the lowest start) of the range,
//! or a read past the slice.
//!
//! # The algorithm
//!
//! **Short runs** (`n < 128`). With `u_m` the windows of `m` blocks that
//! hold a used one (bit `i` set when any of bits `i..i+m` is), `u_2m = u_m |
//! u_m >> m`, taken over the stream: each vector of words is loaded with the
//! vector one word later (and two words later for `n > 64`), whose low bits
//! are what the shifts bring in, as in the `extents` kernel. `u_n` comes
//! from the largest power of two `p <= n` and one more shift by `n - p`
//! (`u_n = u_p | u_p >> (n - p)`); the first clear bit of `u_n` is the
//! answer. For `64 < n < 128`, `u_n` of a word is `u_64` of it or `u_(n-64)`
//! of the next one. The words outside `[from, to)` count as used (the two
//! edge words are masked, the words past `to` are all ones), so no window
//! crosses the range's ends.
//!
//! Most vectors never get that far: a run of `n >= 2m - 1` blocks holds an
//! aligned chunk of `m` free blocks (`m` a power of two), within its first
//! `2m - 1` blocks. So a vector in which no aligned `m`-chunk is free can
//! only start a run whose chunk lies in the next vector's first word: the
//! windows of a vector are computed only when it, or the vector after it,
//! holds a free chunk. For `m = 32` (runs of 63 to 126 blocks) the test is
//! two shifts and two compares per vector; in scattered free space such
//! chunks are rare, and the search goes at the speed of the loads.
//!
//! **Long runs** (`n >= 128`). A run of `n` blocks holds at least
//! `(n + 1) / 64 - 1` whole zero words: the search skips non-zero words a
//! vector at a time, measures each run of zero words it meets (up to what
//! the run needs), and adds the free bits on either side.

use super::extents::Bits;
use super::generic::{self, Lanes};

/// Runs of at least this many blocks hold a whole zero word, and are found
/// through the zero words; shorter ones through their windows.
pub(crate) const LONG: usize = 128;

/// The widest `WORDS` of any tier.
const MAX_WORDS: usize = 8;

/// The first bit `i` of `[from, to)` such that bits `i..i + n` are all zero
/// and `i + n <= to`, or `None`. `n >= 1`.
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
pub(crate) unsafe fn zero_run<V: Bits>(
    words: &[u64],
    from: usize,
    to: usize,
    n: usize,
) -> Option<usize> {
    assert!(n >= 1 && from <= to && to <= words.len() * 64);
    if to - from < n {
        return None;
    }
    let found = if n >= LONG {
        // SAFETY: the CPU supports `V`'s features (this function's contract).
        unsafe { long::<V>(words, from, to, n) }
    } else {
        // SAFETY: as above.
        unsafe { short::<V>(words, from, to, n) }
    };
    debug_assert!(found.is_none_or(|i| i >= from && i + n <= to));
    found
}

/// The words of a range, those outside it counted as used.
struct Range<'a> {
    words: &'a [u64],
    /// The word of `from`, and the bits of it below `from`.
    first: usize,
    first_mask: u64,
    /// The word of the last bit before `to`, and the bits of it at or past
    /// `to`.
    last: usize,
    last_mask: u64,
}

impl Range<'_> {
    /// Word `k` of the range: masked at the two ends, all used past the end.
    #[inline(always)]
    fn get(&self, k: usize) -> u64 {
        if k > self.last {
            return !0;
        }
        let mut word = self.words[k];
        if k == self.first {
            word |= self.first_mask;
        }
        if k == self.last {
            word |= self.last_mask;
        }
        word
    }

    /// Words `i..i + w + 2` of the range, from a buffer.
    fn edge(&self, i: usize, w: usize) -> [u64; MAX_WORDS + 2] {
        let mut buffer = [!0u64; MAX_WORDS + 2];
        for (t, slot) in buffer[..w + 2].iter_mut().enumerate() {
            *slot = self.get(i + t);
        }
        buffer
    }
}

/// The largest power of two `m` with `2m - 1 <= n`: every run of `n` free
/// blocks holds an aligned chunk of `m` free blocks.
#[inline(always)]
fn chunk_of(n: usize) -> u32 {
    debug_assert!((1..LONG).contains(&n));
    1 << n.div_ceil(2).ilog2()
}

/// Bits at the first bit of every aligned chunk of `m` bits.
#[inline(always)]
fn chunk_starts(m: u32) -> u64 {
    match m {
        1 => !0,
        2 => 0x5555_5555_5555_5555,
        4 => 0x1111_1111_1111_1111,
        8 => 0x0101_0101_0101_0101,
        16 => 0x0001_0001_0001_0001,
        32 => 0x0000_0001_0000_0001,
        _ => 1,
    }
}

/// Whether some aligned chunk of `m` bits of `cur` is all zero;
/// `not_starts` is `!chunk_starts(m)` in every lane.
#[inline(always)]
fn has_free_chunk<V: Bits>(cur: V, m: u32, not_starts: V) -> bool {
    match m {
        1 => !cur.is_ones(),
        32 => (cur.shl(32).eq_bits(0) | cur.shr(32).eq_bits(0)) != 0,
        64 => cur.eq_bits(0) != 0,
        _ => {
            // Bit `c * m` of `folded`: any used bit in chunk `c`.
            let mut folded = cur;
            let mut d = 1;
            while d < m {
                folded = folded.or(folded.shr(d));
                d *= 2;
            }
            !folded.or(not_starts).is_ones()
        }
    }
}

/// `u_n` of the words `cur` (with `next` one word later), `1 <= n <= 64`:
/// bit `i` set when any of bits `i..i+n` is.
#[inline(always)]
fn used_windows<V: Bits>(cur: V, next: V, n: u32) -> V {
    debug_assert!((1..=64).contains(&n));
    // `v` is `u_d` of the next words, right in the low bits the shifts
    // bring in (a window there stays inside the word).
    let (mut u, mut v) = (cur, next);
    let mut d = 1;
    while 2 * d <= n {
        u = u.or(u.shr(d)).or(v.shl(64 - d));
        v = v.or(v.shr(d));
        d *= 2;
    }
    let r = n - d;
    if r > 0 {
        u = u.or(u.shr(r)).or(v.shl(64 - r));
    }
    u
}

/// The first free window of `n` blocks (`n < 128`) starting in the words
/// `around[..WORDS]`, as a bit of the vector, given the two words after
/// them (`around` holds `WORDS + 2`).
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
unsafe fn exact<V: Bits>(around: &[u64], n: usize) -> Option<usize> {
    let w = V::WORDS;
    // SAFETY: the CPU supports `V`'s features (this function's contract).
    let (cur, next) = unsafe { (V::load(&around[..w]), V::load(&around[1..1 + w])) };
    let used = if n <= 64 {
        used_windows(cur, next, n as u32)
    } else {
        // SAFETY: as above.
        let after = unsafe { V::load(&around[2..2 + w]) };
        used_windows(cur, next, 64).or(used_windows(next, after, n as u32 - 64))
    };
    let full = used.eq_bits(!0);
    let all = (1u32 << w) - 1;
    if full == all {
        return None;
    }
    let lane = (!full & all).trailing_zeros() as usize;
    let mut lanes = [0u64; MAX_WORDS];
    used.store(&mut lanes[..w]);
    Some(lane * 64 + (!lanes[lane]).trailing_zeros() as usize)
}

/// [`zero_run`] for `n < LONG`: the windows, where a free chunk says a run
/// may start.
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
unsafe fn short<V: Bits>(words: &[u64], from: usize, to: usize, n: usize) -> Option<usize> {
    debug_assert!(n < LONG && to - from >= n);
    let w = V::WORDS;
    let range = Range {
        words,
        first: from / 64,
        first_mask: !(!0u64 << (from % 64)),
        last: (to - 1) / 64,
        last_mask: match to % 64 {
            0 => 0,
            bits => !0u64 << bits,
        },
    };
    // Words `clean_from..clean_to` need no mask: loaded straight from the
    // slice.
    let clean_from = range.first + usize::from(range.first_mask != 0);
    let clean_to = range.last + usize::from(range.last_mask == 0);
    let m = chunk_of(n);
    // SAFETY: the CPU supports `V`'s features (this function's contract).
    let not_starts = unsafe { V::splat(!chunk_starts(m)) };
    // Whether the windows of the vector before were computed (or there is
    // none in the range).
    let mut before_done = true;
    let mut i = range.first;
    while i <= range.last {
        let cur = if i >= clean_from && i + w <= clean_to {
            // SAFETY: the CPU supports `V`'s features (this function's contract).
            unsafe { V::load(&words[i..i + w]) }
        } else {
            let buffer = range.edge(i, w);
            // SAFETY: as above.
            unsafe { V::load(&buffer[..w]) }
        };
        if has_free_chunk(cur, m, not_starts) {
            // A run that starts in the vector before may have its chunk in
            // this one's first word.
            if !before_done {
                // SAFETY: the CPU supports `V`'s features (this function's contract).
                let found = unsafe { windows::<V>(&range, (clean_from, clean_to), i - w, n) };
                if found.is_some() {
                    return found;
                }
            }
            // SAFETY: as above.
            if let Some(found) = unsafe { windows::<V>(&range, (clean_from, clean_to), i, n) } {
                return Some(found);
            }
            before_done = true;
        } else {
            before_done = false;
        }
        i += w;
    }
    None
}

/// The first free window of `n` blocks starting in the vector at word `i`,
/// as a bit of the range; words `clean.0..clean.1` need no mask. (A
/// function, not a closure of `short`: a closure would not inherit the
/// tier's target features, and the vector operations would not inline.)
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
unsafe fn windows<V: Bits>(
    range: &Range<'_>,
    clean: (usize, usize),
    i: usize,
    n: usize,
) -> Option<usize> {
    let w = V::WORDS;
    let buffer;
    let around = if i >= clean.0 && i + w + 2 <= clean.1 {
        &range.words[i..i + w + 2]
    } else {
        buffer = range.edge(i, w);
        &buffer[..w + 2]
    };
    // SAFETY: the CPU supports `V`'s features (this function's contract).
    unsafe { exact::<V>(around, n) }.map(|bit| i * 64 + bit)
}

/// The index of the first zero word of `words`, or `words.len()`.
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
unsafe fn first_zero_word<V: Lanes>(words: &[u64]) -> usize {
    let mut chunks = words.chunks_exact(V::WORDS);
    let mut base = 0;
    for chunk in chunks.by_ref() {
        // SAFETY: the CPU supports `V`'s features (this function's contract).
        let zero = unsafe { V::load(chunk) }.eq_bits(0);
        if zero != 0 {
            return base + zero.trailing_zeros() as usize;
        }
        base += V::WORDS;
    }
    base + chunks
        .remainder()
        .iter()
        .position(|&word| word == 0)
        .unwrap_or(chunks.remainder().len())
}

/// [`zero_run`] for `n >= LONG`: through the runs of zero words.
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
unsafe fn long<V: Bits>(words: &[u64], from: usize, to: usize, n: usize) -> Option<usize> {
    debug_assert!(n >= LONG);
    // The whole words of the range, and how many of them a run of `n`
    // blocks holds at least: a run that starts one bit into a word holds
    // 63 bits of it, then whole words.
    let (first_whole, end_whole) = (from.div_ceil(64), to / 64);
    let least = (n + 1) / 64 - 1;
    let mut k = first_whole;
    while k < end_whole {
        // SAFETY: the CPU supports `V`'s features (this function's contract).
        let zero = k + unsafe { first_zero_word::<V>(&words[k..end_whole]) };
        if zero == end_whole {
            return None;
        }
        // The free bits just before the zero words, in the range.
        let head = match zero.checked_sub(1) {
            Some(before) => words[before].leading_zeros() as usize,
            None => 0,
        };
        let start = (zero * 64 - head).max(from);
        // Zero words as many as the run needs at most.
        let needed = (start + n).div_ceil(64) - zero;
        // SAFETY: as above.
        let len = unsafe { generic::uniform_run::<V>(&words[zero..end_whole], 0, needed) };
        let after = zero + len;
        if len >= least {
            let tail = match words.get(after) {
                Some(word) => word.trailing_zeros() as usize,
                None => 0,
            };
            let end = (after * 64 + tail).min(to);
            if end - start >= n {
                return Some(start);
            }
        }
        k = after + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    //! Every tier of this CPU against a bit-by-bit twin: random words of
    //! every density and runs that cross words and vectors, every `n` from
    //! 1 past the lengths where the search changes method (63, 64, 65, 127,
    //! 128, several words), ranges that start and end inside words, on
    //! word and vector boundaries and at the end of the slice.

    use super::super::dispatch::table;
    use super::super::table::Table;
    use super::super::{available, Tier};
    use proptest::prelude::*;

    /// The bit-by-bit twin of `zero_run`.
    pub(crate) fn naive(words: &[u64], from: usize, to: usize, n: usize) -> Option<usize> {
        let free = |b: usize| words[b / 64] >> (b % 64) & 1 == 0;
        let mut run = 0;
        for b in from..to {
            if free(b) {
                run += 1;
                if run == n {
                    return Some(b + 1 - n);
                }
            } else {
                run = 0;
            }
        }
        None
    }

    fn tables() -> Vec<&'static Table> {
        available()
            .into_iter()
            .map(|tier: Tier| table(tier).expect("an available tier has a table"))
            .collect()
    }

    fn call(table: &Table, words: &[u64], from: usize, to: usize, n: usize) -> Option<usize> {
        // SAFETY: the table came from `Tier::table`: the CPU supports it.
        unsafe { (table.zero_run)(words, from, to, n) }
    }

    /// Bits from runs: (free?, length) pairs, repeated until `bits` are set.
    fn from_runs(runs: &[(bool, u32)], bits: usize) -> Vec<u64> {
        let mut words = vec![!0u64; bits.div_ceil(64)];
        let (mut at, mut i) = (0usize, 0usize);
        while at < bits && !runs.is_empty() {
            let (free, len) = runs[i % runs.len()];
            let end = (at + len as usize).min(bits);
            if free {
                for b in at..end {
                    words[b / 64] &= !(1 << (b % 64));
                }
            }
            at = end;
            i += 1;
        }
        words
    }

    fn words_strategy() -> impl Strategy<Value = Vec<u64>> {
        (1usize..80).prop_flat_map(|len| {
            let bits = len * 64;
            let run = |max: u32| (any::<bool>(), 1..=max);
            prop_oneof![
                prop::collection::vec(
                    prop_oneof![
                        3 => any::<u64>(),
                        2 => Just(0u64),
                        2 => Just(!0u64),
                        1 => (0u32..64).prop_map(|s| 1u64 << s),
                        1 => (0u32..64).prop_map(|s| !(1u64 << s)),
                        1 => (1u32..64).prop_map(|s| !0u64 << s),
                        1 => (1u32..64).prop_map(|s| !0u64 >> s),
                    ],
                    len..=len
                ),
                prop::collection::vec(run(12), 1..64).prop_map(move |r| from_runs(&r, bits)),
                prop::collection::vec(run(150), 1..64).prop_map(move |r| from_runs(&r, bits)),
                prop::collection::vec(run(700), 1..16).prop_map(move |r| from_runs(&r, bits)),
            ]
        })
    }

    fn n_strategy() -> impl Strategy<Value = usize> {
        prop_oneof![
            1usize..=20,
            prop::sample::select(vec![
                31, 32, 33, 62, 63, 64, 65, 66, 126, 127, 128, 129, 130, 191, 192, 193
            ]),
            1usize..=300,
            1usize..=3000,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn every_tier_finds_the_first_run(
            words in words_strategy(),
            n in n_strategy(),
            a: prop::sample::Index,
            b: prop::sample::Index,
        ) {
            let bits = words.len() * 64;
            let (x, y) = (a.index(bits + 1), b.index(bits + 1));
            let (from, to) = (x.min(y), x.max(y));
            let expected = naive(&words, from, to, n);
            for table in tables() {
                prop_assert_eq!(call(table, &words, from, to, n), expected, "tier {}", table.tier);
            }
            prop_assert_eq!(super::super::zero_run(&words, from, to, n), expected, "dispatched");
            // The whole slice, where most runs are found.
            let expected = naive(&words, 0, bits, n);
            for table in tables() {
                prop_assert_eq!(call(table, &words, 0, bits, n), expected, "tier {}", table.tier);
            }
        }
    }

    /// Runs placed at every offset around word and vector edges, of every
    /// length up to several words, alone in used words or with a shorter
    /// decoy before them; every range end around them.
    #[test]
    fn runs_at_every_edge() {
        for len in (1usize..=200).chain([255, 256, 257, 320, 500]) {
            for start in (0..140).chain(500..530) {
                for decoy in [0, 1, len.saturating_sub(1)] {
                    let bits = 1024 + 64;
                    let mut words = vec![!0u64; bits / 64];
                    let mut clear = |from: usize, to: usize| {
                        for b in from..to.min(bits) {
                            words[b / 64] &= !(1 << (b % 64));
                        }
                    };
                    if decoy > 0 && start + len + 2 + decoy < bits {
                        clear(start + len + 2, start + len + 2 + decoy);
                    }
                    clear(start, start + len);
                    for (from, to) in [
                        (0, bits),
                        (start, bits),
                        (start + 1, bits),
                        (0, start + len),
                        (0, start + len - 1),
                        (start.saturating_sub(3), (start + len + 5).min(bits)),
                    ] {
                        for n in [1, len.saturating_sub(1).max(1), len, len + 1] {
                            let expected = naive(&words, from, to, n);
                            for table in tables() {
                                assert_eq!(
                                    call(table, &words, from, to, n),
                                    expected,
                                    "tier {} len {len} start {start} decoy {decoy} range {from}..{to} n {n}",
                                    table.tier
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn empty_ranges_and_too_long_runs_find_nothing() {
        let words = [0u64; 4];
        for table in tables() {
            assert_eq!(call(table, &words, 10, 10, 1), None);
            assert_eq!(call(table, &words, 0, 256, 257), None);
            assert_eq!(call(table, &words, 0, 256, 256), Some(0));
            assert_eq!(call(table, &words, 3, 200, 197), Some(3));
            assert_eq!(call(table, &words, 3, 200, 198), None);
        }
    }
}
