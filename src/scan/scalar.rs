//! Scalar (one `u64` at a time) kernels: the oracle for every faster tier.
//!
//! Each function works on whole words with masks for the partial words at the
//! ends of a range. They must stay obviously correct: faster tiers are judged
//! against them, and they are judged against bit-by-bit loops in the tests.
//!
//! This file imports nothing of the crate: the generic algorithms use it for
//! the ends of a range, so it must not use them. The one kernel the scalar
//! tier does not have here, the extents pass, is in `word.rs`.

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
