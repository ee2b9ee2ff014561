//! One-bit-per-shard bitsets: the shard index and the summaries.
//!
//! The free set keeps several of these beside its block bitsets: the index
//! (shard has no free block), and which shards hold any acquired, released or
//! pending block. A shard is 4096 blocks, so at 2^27 blocks a summary is 512
//! words: a reverse scan of it answers `highest_*` without a look at the
//! blocks, and a forward scan lets checkpoints visit only the shards they
//! change.
//!
//! What lives here is bookkeeping only: it never looks at the block bitsets;
//! the set decides every bit and checks them against the blocks in debug builds.

use crate::scan;
use crate::words::{summary_bit, summary_first_shard, summary_word, summary_words_for};

/// A bitset with one bit per shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardBits {
    words: Vec<u64>,
    shards: usize,
}

impl ShardBits {
    /// No shards at all: a placeholder that does not allocate.
    pub(crate) fn empty() -> Self {
        ShardBits {
            words: Vec::new(),
            shards: 0,
        }
    }

    /// All clear, for `shards` shards.
    #[cfg(test)]
    pub(crate) fn new(shards: usize) -> Self {
        Self::from_words(vec![0; Self::words_for(shards)], shards)
    }

    /// A copy, or `None` when its words cannot be allocated.
    pub(crate) fn try_clone(&self) -> Option<Self> {
        Some(ShardBits {
            words: crate::memory::copied_words(&self.words)?,
            shards: self.shards,
        })
    }

    /// Words of a summary of `shards` shards.
    pub(crate) fn words_for(shards: usize) -> usize {
        summary_words_for(shards)
    }

    /// A summary over `words` (all zero, `words_for(shards)` of them), which
    /// the caller allocated (fallibly).
    pub(crate) fn from_words(words: Vec<u64>, shards: usize) -> Self {
        debug_assert_eq!(words.len(), Self::words_for(shards));
        debug_assert!(words.iter().all(|&w| w == 0));
        ShardBits { words, shards }
    }

    #[inline]
    pub(crate) fn set(&mut self, shard: usize) {
        debug_assert!(shard < self.shards);
        self.words[summary_word(shard)] |= 1 << summary_bit(shard);
    }

    #[inline]
    pub(crate) fn clear(&mut self, shard: usize) {
        debug_assert!(shard < self.shards);
        self.words[summary_word(shard)] &= !(1 << summary_bit(shard));
    }

    #[inline]
    pub(crate) fn assign(&mut self, shard: usize, value: bool) {
        if value {
            self.set(shard);
        } else {
            self.clear(shard);
        }
    }

    /// Sets the bits of `word` in the word of shards `64 * index ..`.
    #[inline]
    pub(crate) fn or_word(&mut self, index: usize, word: u64) {
        debug_assert!(summary_first_shard(index) < self.shards || word == 0);
        self.words[index] |= word;
    }

    pub(crate) fn clear_all(&mut self) {
        self.words.fill(0);
    }

    /// First clear bit in `[from, to)` shards.
    #[inline]
    pub(crate) fn first_clear(&self, from: usize, to: usize) -> Option<usize> {
        debug_assert!(from <= to && to <= self.shards);
        scan::first_zero(&self.words, from, to)
    }

    /// Highest set bit.
    #[inline]
    pub(crate) fn last_set(&self) -> Option<usize> {
        scan::last_one(&self.words)
    }

    /// The set bits, in increasing order.
    pub(crate) fn iter_set(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                Some(summary_first_shard(i) + bit)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip() {
        let mut bits = ShardBits::new(130);
        for shard in [0, 63, 64, 129] {
            bits.set(shard);
        }
        assert_eq!(bits.iter_set().collect::<Vec<_>>(), [0, 63, 64, 129]);
        assert_eq!(bits.last_set(), Some(129));
        assert_eq!(bits.first_clear(63, 130), Some(65));
        bits.clear(129);
        bits.assign(1, true);
        assert_eq!(bits.iter_set().collect::<Vec<_>>(), [0, 1, 63, 64]);
        bits.clear_all();
        assert_eq!(bits.last_set(), None);
    }
}
