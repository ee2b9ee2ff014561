//! One-bit-per-shard bitsets: the shard index and the summaries.
//!
//! The free set keeps several of these beside its block bitsets: the index
//! (shard has no free block), and which shards hold any acquired, released or
//! pending block. A shard is 4096 blocks, so at 2^27 blocks a summary is 512
//! words: a reverse scan of it answers `highest_*` without a look at the
//! blocks, and a forward scan lets checkpoints visit only the shards they
//! change.
//!
//! Beside them, [`WordMap`]: one bit per *word* of the `acquired` bitset
//! (a word per shard), set when the word holds an acquired block, which the
//! extent search runs over to skip the shards that cannot hold a long run.
//!
//! What lives here is bookkeeping only: it never looks at the block bitsets
//! (a [`WordMap`] is handed the words of a shard to refresh from); the set
//! decides every bit and checks them against the blocks in debug builds.

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

    /// Sets every bit that is set in `other` (a summary of as many shards).
    pub(crate) fn union_with(&mut self, other: &ShardBits) {
        debug_assert_eq!(self.shards, other.shards);
        for (word, &bits) in self.words.iter_mut().zip(&other.words) {
            *word |= bits;
        }
    }

    /// Sets the bit of every shard.
    pub(crate) fn set_all(&mut self) {
        self.words.fill(!0);
        if let Some(last) = self.words.last_mut() {
            if !self.shards.is_multiple_of(64) {
                *last = (1 << (self.shards % 64)) - 1;
            }
        }
    }

    /// First clear bit in `[from, to)` shards.
    #[inline]
    pub(crate) fn first_clear(&self, from: usize, to: usize) -> Option<usize> {
        debug_assert!(from <= to && to <= self.shards);
        scan::first_zero(&self.words, from, to)
    }

    /// Whether the shard's bit is set.
    #[inline]
    pub(crate) fn contains(&self, shard: usize) -> bool {
        debug_assert!(shard < self.shards);
        self.words[shard / 64] >> (shard % 64) & 1 == 1
    }

    /// First set bit in `[from, to)` shards.
    pub(crate) fn first_set(&self, from: usize, to: usize) -> Option<usize> {
        debug_assert!(from <= to && to <= self.shards);
        if from >= to {
            return None;
        }
        let (first, last) = (from / 64, (to - 1) / 64);
        for (i, &word) in self.words.iter().enumerate().take(last + 1).skip(first) {
            let mut bits = word;
            if i == first {
                bits &= !0u64 << (from % 64);
            }
            if i == last && !to.is_multiple_of(64) {
                bits &= (1u64 << (to % 64)) - 1;
            }
            if bits != 0 {
                return Some(i * 64 + bits.trailing_zeros() as usize);
            }
        }
        None
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

/// Which words of the `acquired` bitset hold an acquired block: bit `w % 64`
/// of `used[w / 64]` for word `w`, that is one `u64` per shard, bit `j` for
/// word `j` of the shard. A run of `n >= 128` free blocks holds at least
/// `(n + 1) / 64 - 1` whole zero words, so the extent search looks for runs
/// of clear bits here (the same kernel, a level up, 64 times fewer bits)
/// and reads the block bitset only around them.
///
/// Exact on every operation, or marked stale: a bit changes when its word
/// goes from 0 to non-zero (the acquire's cold path, once per word a fill
/// passes) or back to 0 (a block freed at once by immediate reuse), and
/// the set flips it there. The operations that change whole shards at once
/// mark those shards *stale* instead of paying a test per word: `open`
/// (every shard) and `checkpoint_durable` (the shards it frees blocks in).
/// The extent search refreshes the stale shards from their words before it
/// reads the map, once per shard until the next such operation. Flips in a
/// stale shard do no harm: the refresh overwrites its word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WordMap {
    used: Vec<u64>,
    /// Shards whose word of `used` is not derived yet.
    stale: ShardBits,
    /// Some shard may be stale (false: none is, and the search skips the
    /// look for them).
    any_stale: bool,
}

impl WordMap {
    /// No shards: a placeholder that does not allocate.
    pub(crate) fn empty() -> Self {
        WordMap {
            used: Vec::new(),
            stale: ShardBits::empty(),
            any_stale: false,
        }
    }

    /// A map of `shards` shards with no word used, from zeroed words the
    /// caller allocated (fallibly): `shards` for `used`, then
    /// `ShardBits::words_for(shards)` for the stale shards.
    pub(crate) fn from_words(used: Vec<u64>, stale: Vec<u64>, shards: usize) -> Self {
        debug_assert_eq!(used.len(), shards);
        debug_assert!(used.iter().all(|&w| w == 0));
        WordMap {
            used,
            stale: ShardBits::from_words(stale, shards),
            any_stale: false,
        }
    }

    /// A copy, or `None` when its words cannot be allocated.
    pub(crate) fn try_clone(&self) -> Option<Self> {
        Some(WordMap {
            used: crate::memory::copied_words(&self.used)?,
            stale: self.stale.try_clone()?,
            any_stale: self.any_stale,
        })
    }

    /// Word `word` of the bitset now holds an acquired block.
    #[inline]
    pub(crate) fn set_used(&mut self, word: usize) {
        self.used[word / 64] |= 1 << (word % 64);
    }

    /// Word `word` of the bitset is now 0.
    #[inline]
    pub(crate) fn set_empty(&mut self, word: usize) {
        self.used[word / 64] &= !(1 << (word % 64));
    }

    /// The shard's bits from its words (64 of them).
    pub(crate) fn refresh(&mut self, shard: usize, words: &[u64]) {
        debug_assert_eq!(words.len(), 64);
        let mut used = 0;
        for (j, &word) in words.iter().enumerate() {
            used |= u64::from(word != 0) << j;
        }
        self.used[shard] = used;
        self.stale.clear(shard);
    }

    /// Every word of the shard used (a full shard) or none (an empty one).
    pub(crate) fn assign_shard(&mut self, shard: usize, used: bool) {
        self.used[shard] = if used { !0 } else { 0 };
        self.stale.clear(shard);
    }

    /// The bits of the shards set in `shards` are to be derived again.
    pub(crate) fn mark_stale_shards(&mut self, shards: &ShardBits) {
        self.stale.union_with(shards);
        self.any_stale = true;
    }

    /// Every shard's bits are to be derived again.
    pub(crate) fn mark_all_stale(&mut self) {
        self.stale.set_all();
        self.any_stale = true;
    }

    /// No word used, nothing stale: the map of an all-zero bitset.
    pub(crate) fn clear_all(&mut self) {
        self.used.fill(0);
        self.stale.clear_all();
        self.any_stale = false;
    }

    /// The first stale shard from `from` on (at once when no shard was
    /// marked since the last [`WordMap::all_fresh`]).
    pub(crate) fn first_stale(&self, from: usize) -> Option<usize> {
        if !self.any_stale {
            return None;
        }
        self.stale.first_set(from, self.used.len())
    }

    /// Every stale shard was refreshed: `first_stale` answers at once
    /// until a shard is marked again.
    pub(crate) fn all_fresh(&mut self) {
        debug_assert_eq!(self.first_stale(0), None, "a stale shard is left");
        self.any_stale = false;
    }

    /// Whether the shard's bits are derived.
    pub(crate) fn is_fresh(&self, shard: usize) -> bool {
        !self.stale.contains(shard)
    }

    /// The map as a bitset of words (`used[w / 64] >> (w % 64)`); only the
    /// bits of shards that are not stale are meaningful.
    pub(crate) fn bits(&self) -> &[u64] {
        &self.used
    }

    /// The map's word of `shard`.
    pub(crate) fn shard(&self, shard: usize) -> u64 {
        self.used[shard]
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
        assert_eq!(bits.first_set(2, 130), Some(63));
        assert_eq!(bits.first_set(64, 130), Some(64));
        assert_eq!(bits.first_set(65, 130), None);
        assert_eq!(bits.first_set(0, 0), None);
        bits.clear_all();
        assert_eq!(bits.last_set(), None);
    }

    #[test]
    fn the_word_map_follows_its_words() {
        let mut map = WordMap::from_words(vec![0; 3], vec![0; 1], 3);
        map.set_used(0);
        map.set_used(130);
        assert_eq!(map.bits(), [1, 0, 4]);
        map.set_empty(0);
        let mut one = ShardBits::new(3);
        one.set(1);
        map.mark_stale_shards(&one);
        assert!(!map.is_fresh(1));
        assert!(map.is_fresh(2));
        assert_eq!(map.first_stale(0), Some(1));
        assert_eq!(map.first_stale(2), None);
        map.refresh(1, &[0u64; 64]);
        map.all_fresh();
        let mut words = [0u64; 64];
        words[5] = 8;
        map.mark_stale_shards(&one);
        map.refresh(1, &words);
        assert!(map.is_fresh(1));
        assert_eq!(map.bits(), [0, 1 << 5, 4]);
        assert_eq!(map.first_stale(0), None);
        map.mark_all_stale();
        assert!((0..3).all(|shard| !map.is_fresh(shard)));
        map.assign_shard(0, true);
        assert_eq!(map.shard(0), !0);
        map.clear_all();
        assert_eq!(map.bits(), [0, 0, 0]);
        assert_eq!(map.first_stale(0), None);
    }
}
