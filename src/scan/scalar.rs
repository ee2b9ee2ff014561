//! Scalar (one `u64` at a time) kernels: the oracle for every faster tier.
//!
//! Each function works on whole words with masks for the partial words at the
//! ends of a range. They must stay obviously correct: faster tiers are judged
//! against them, and they are judged against bit-by-bit loops in the tests.
//!
//! The one exception is [`extents`], whose algorithm is too long to write
//! twice: the scalar tier runs the generic one with one-word lanes
//! ([`Word`]), and `crate::stats` judges every tier against a bit-by-bit
//! twin instead.

use super::extents::{self as extents_, Bits, Extents};
use super::generic::Lanes;

/// Mask of the bits `[from % 64, 64)` of a word.
#[inline]
fn mask_from(bit: usize) -> u64 {
    !0u64 << (bit % 64)
}

/// Mask of the bits `[0, to % 64)` of a word, all ones when `to % 64 == 0`.
#[inline]
fn mask_below(bit: usize) -> u64 {
    match bit % 64 {
        0 => !0,
        r => (1u64 << r) - 1,
    }
}

/// Index of the first zero bit in `[from, to)`, or `None`.
#[inline]
pub fn first_zero(words: &[u64], from: usize, to: usize) -> Option<usize> {
    debug_assert!(from <= to && to <= words.len() * 64);
    if from >= to {
        return None;
    }
    let first = from / 64;
    let last = (to - 1) / 64;
    for (i, &w) in words.iter().enumerate().take(last + 1).skip(first) {
        let mut free = !w;
        if i == first {
            free &= mask_from(from);
        }
        if i == last {
            free &= mask_below(to);
        }
        if free != 0 {
            return Some(i * 64 + free.trailing_zeros() as usize);
        }
    }
    None
}

/// Index of the `n`-th (1-based) zero bit in `[from, to)`. When the range holds
/// fewer than `n` zero bits, `Err` carries how many it holds.
#[inline]
pub fn nth_zero(words: &[u64], from: usize, to: usize, n: u64) -> Result<usize, u64> {
    debug_assert!(n >= 1);
    debug_assert!(from <= to && to <= words.len() * 64);
    if from >= to {
        return Err(0);
    }
    let first = from / 64;
    let last = (to - 1) / 64;
    let mut left = n;
    for (i, &w) in words.iter().enumerate().take(last + 1).skip(first) {
        let mut free = !w;
        if i == first {
            free &= mask_from(from);
        }
        if i == last {
            free &= mask_below(to);
        }
        let count = u64::from(free.count_ones());
        if count >= left {
            return Ok(i * 64 + select(free, left));
        }
        left -= count;
    }
    Err(n - left)
}

/// Position of the `n`-th (1-based) set bit of `word`; `word` has at least `n`.
#[inline]
pub fn select(mut word: u64, n: u64) -> usize {
    debug_assert!(n >= 1 && u64::from(word.count_ones()) >= n);
    for _ in 1..n {
        word &= word - 1;
    }
    word.trailing_zeros() as usize
}

/// Number of set bits in `words`.
#[inline]
pub fn count_ones(words: &[u64]) -> u64 {
    words.iter().map(|w| u64::from(w.count_ones())).sum()
}

/// Set bits of each 64-word chunk of `words` (exactly `64 * counts.len()`
/// words) into `counts`.
#[inline]
pub fn count_ones_by_64(words: &[u64], counts: &mut [u32]) {
    assert_eq!(words.len(), counts.len() * 64);
    for (chunk, count) in words.chunks_exact(64).zip(counts) {
        *count = count_ones(chunk) as u32;
    }
}

/// Index of the highest set bit in `words`, or `None` when all are zero.
pub fn last_one(words: &[u64]) -> Option<usize> {
    let i = words.iter().rposition(|&w| w != 0)?;
    Some(i * 64 + 63 - words[i].leading_zeros() as usize)
}

/// Number of leading words equal to `value`, at most `max`.
#[inline]
pub fn uniform_run(words: &[u64], value: u64, max: usize) -> usize {
    words.iter().take(max).take_while(|&&w| w == value).count()
}

/// Which words of `words` are 0 (bit `i % 64` of `zeros[i / 64]` for word
/// `i`) and which are all ones (`ones`); `words.len()` must be
/// `64 * zeros.len()`, and `ones` as long as `zeros`.
pub fn classify(words: &[u64], zeros: &mut [u64], ones: &mut [u64]) {
    assert!(words.len() == 64 * zeros.len() && ones.len() == zeros.len());
    for ((chunk, z), o) in words.chunks_exact(64).zip(zeros).zip(ones) {
        (*z, *o) = (0, 0);
        for (i, &w) in chunk.iter().enumerate() {
            *z |= u64::from(w == 0) << i;
            *o |= u64::from(w == !0) << i;
        }
    }
}

/// Number of leading words that are neither 0 nor all ones, at most `max`.
#[inline]
pub fn literal_run(words: &[u64], max: usize) -> usize {
    words
        .iter()
        .take(max)
        .take_while(|&&w| w != 0 && w != !0)
        .count()
}

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
    // SAFETY: `Word` needs no run-time feature (see `Word::load`).
    unsafe { extents_::extents::<Word>(words, tail, chunks) }
}

/// The first run of `n` zero bits of `[from, to)`.
pub fn zero_run(words: &[u64], from: usize, to: usize, n: usize) -> Option<usize> {
    // SAFETY: `Word` needs no run-time feature (see `Word::load`).
    unsafe { super::runs::zero_run::<Word>(words, from, to, n) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bit(words: &[u64], b: usize) -> bool {
        words[b / 64] >> (b % 64) & 1 == 1
    }

    fn naive_first_zero(words: &[u64], from: usize, to: usize) -> Option<usize> {
        (from..to).find(|&b| !bit(words, b))
    }

    fn naive_nth_zero(words: &[u64], from: usize, to: usize, n: u64) -> Result<usize, u64> {
        let mut seen = 0;
        for b in from..to {
            if !bit(words, b) {
                seen += 1;
                if seen == n {
                    return Ok(b);
                }
            }
        }
        Err(seen)
    }

    /// Words with every density: mostly-full, mostly-empty and random words, so
    /// that ranges begin and end inside words and cross full and empty ones.
    fn words_strategy() -> impl Strategy<Value = Vec<u64>> {
        prop::collection::vec(
            prop_oneof![
                Just(0u64),
                Just(!0u64),
                any::<u64>(),
                (0u32..64).prop_map(|s| !(1u64 << s))
            ],
            0..200,
        )
    }

    proptest! {
        #[test]
        fn first_zero_matches_naive(words in words_strategy(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
            let bits = words.len() * 64;
            let (x, y) = (a.index(bits + 1), b.index(bits + 1));
            let (from, to) = (x.min(y), x.max(y));
            prop_assert_eq!(first_zero(&words, from, to), naive_first_zero(&words, from, to));
        }

        #[test]
        fn nth_zero_matches_naive(words in words_strategy(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>(), n in 1u64..300) {
            let bits = words.len() * 64;
            let (x, y) = (a.index(bits + 1), b.index(bits + 1));
            let (from, to) = (x.min(y), x.max(y));
            prop_assert_eq!(nth_zero(&words, from, to, n), naive_nth_zero(&words, from, to, n));
        }

        #[test]
        fn counts_match_naive(words in words_strategy()) {
            let bits = words.len() * 64;
            let ones = (0..bits).filter(|&b| bit(&words, b)).count() as u64;
            prop_assert_eq!(count_ones(&words), ones);
            prop_assert_eq!(last_one(&words), (0..bits).rev().find(|&b| bit(&words, b)));
        }

        #[test]
        fn select_matches_naive(word in any::<u64>(), n in 1u64..=64) {
            prop_assume!(u64::from(word.count_ones()) >= n);
            let naive = (0..64).filter(|&b| word >> b & 1 == 1).nth(n as usize - 1).unwrap();
            prop_assert_eq!(select(word, n), naive);
        }
    }

    #[test]
    fn exhaustive_small_ranges() {
        // Two words with every pattern of a sliding window: every (from, to) pair.
        for pattern in [
            0u64,
            !0,
            0x5555_5555_5555_5555,
            0x8000_0000_0000_0001,
            1 << 63,
        ] {
            let words = [pattern, pattern.rotate_left(7), !pattern];
            for from in 0..=192 {
                for to in from..=192 {
                    assert_eq!(
                        first_zero(&words, from, to),
                        naive_first_zero(&words, from, to)
                    );
                    for n in [1, 2, 63, 64, 65, 128] {
                        assert_eq!(
                            nth_zero(&words, from, to, n),
                            naive_nth_zero(&words, from, to, n)
                        );
                    }
                }
            }
        }
    }
}
