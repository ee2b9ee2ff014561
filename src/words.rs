//! The word-and-shard layer: where a block lives in a bitset of `u64` words,
//! and which words and shards a range of blocks covers.
//!
//! Every bitset of the crate stores block `b` as bit `b % 64` of word
//! `b / 64`, and groups its words into shards of [`SHARD_WORDS`] words
//! ([`SHARD_BLOCKS`] blocks); the one-bit-per-shard summaries store shard `s`
//! the same way. This module is the one place that arithmetic is written:
//! the word and bit of a block, the block of a word and bit, the masks of
//! the blocks of a word inside a range (a range that starts or ends inside a
//! word, spans one word or many), the shard of a block or word, the words of
//! a shard, the shards a range touches, and the word and shard counts of a
//! capacity. The set, the summaries and the statistics call it (as
//! hashbrown's map calls its raw table); the SIMD kernels (`scan`) and the
//! codec keep their own, tuned to their loops.
//!
//! What must never happen here: state (these are pure functions of their
//! arguments), a look at the words themselves beyond the one-bit reader
//! [`bit`], or a function that is not `#[inline]`: they sit on the paths of
//! `acquire` and `release`, where a call would cost more than the arithmetic.
//! Each one states its domain in a `debug_assert!`; the tests compare every
//! mask and range with a bit-by-bit twin.

use std::ops::Range;

/// Bits (blocks) per word.
pub(crate) const WORD_BITS: u64 = 64;
/// Words per shard.
pub(crate) const SHARD_WORDS: usize = 64;
/// Blocks per shard: 64 words, 512 bytes, 8 cache lines.
pub const SHARD_BLOCKS: u64 = SHARD_WORDS as u64 * WORD_BITS;

// ---- one block -----------------------------------------------------------

/// The word that holds block `block`.
#[inline]
pub(crate) const fn word_of(block: u64) -> usize {
    (block / WORD_BITS) as usize
}

/// The bit of block `block` in its word.
#[inline]
pub(crate) const fn bit_of(block: u64) -> u32 {
    (block % WORD_BITS) as u32
}

/// The word of block `block`, with the one bit of the block set.
#[inline]
pub(crate) const fn bit_mask(block: u64) -> u64 {
    1 << bit_of(block)
}

/// Whether block `block` is set in `words`.
#[inline]
pub(crate) fn bit(words: &[u64], block: u64) -> bool {
    words[word_of(block)] >> bit_of(block) & 1 == 1
}

/// The first block of word `word`.
#[inline]
pub(crate) const fn first_block(word: usize) -> u64 {
    word as u64 * WORD_BITS
}

/// The block of bit `bit` of word `word`.
#[inline]
pub(crate) const fn block_at(word: usize, bit: u32) -> u64 {
    debug_assert!((bit as u64) < WORD_BITS);
    first_block(word) + bit as u64
}

/// `block` rounded down to the first block of its word.
#[inline]
pub(crate) const fn word_start(block: u64) -> u64 {
    block & !(WORD_BITS - 1)
}

// ---- masks inside one word -----------------------------------------------

/// The bits of `block`'s word at or after `block`.
#[inline]
pub(crate) const fn mask_from(block: u64) -> u64 {
    !0 << bit_of(block)
}

/// The bits of `block`'s word before `block`.
#[inline]
pub(crate) const fn mask_before(block: u64) -> u64 {
    !mask_from(block)
}

/// The bits of word `word` whose blocks lie below `limit`: all of them for a
/// word wholly below it, none for a word at or past it.
///
/// The whole word is tested first and the partial word last, as
/// `checkpoint_durable` had it: it runs this over every word of a shard,
/// nearly all of them below the limit, and a branch-free form
/// (`limit.saturating_sub(first)` then a mask of that many bits) cost it
/// instructions per word (perf/notes.md, src/words.rs).
#[inline]
pub(crate) const fn limit_mask(limit: u64, word: usize) -> u64 {
    let first = first_block(word);
    if first + WORD_BITS <= limit {
        !0
    } else if first >= limit {
        0
    } else {
        (1 << (limit - first)) - 1
    }
}

/// [`limit_mask`] for a `limit` past the first block of `word` (a cursor's
/// range end, past the block it searches from): one compare, where
/// `limit_mask`'s second one showed in the cursor's loop (perf/notes.md).
#[inline]
pub(crate) const fn limit_mask_past_start(limit: u64, word: usize) -> u64 {
    debug_assert!(limit > first_block(word));
    let end = limit - first_block(word);
    if end >= WORD_BITS {
        !0
    } else {
        (1 << end) - 1
    }
}

// ---- ranges of words -----------------------------------------------------

/// Words needed to hold `blocks` blocks.
#[inline]
pub(crate) const fn words_for(blocks: u64) -> u64 {
    blocks.div_ceil(WORD_BITS)
}

/// Blocks held by `words` words.
#[inline]
pub(crate) const fn blocks_in(words: usize) -> u64 {
    first_block(words)
}

/// The words whose every block lies in `range`: no block of such a word is
/// outside it. Empty when the range covers no word whole, and then
/// backwards (`start > end`) for a range inside one word: its `end` is
/// always the word of `range.end`, the word a range's end cuts.
#[inline]
pub(crate) fn words_within(range: &Range<u64>) -> Range<usize> {
    words_for(range.start) as usize..word_of(range.end)
}

// ---- shards --------------------------------------------------------------

/// The shard that holds block `block`.
#[inline]
pub(crate) const fn shard_of(block: u64) -> usize {
    (block / SHARD_BLOCKS) as usize
}

/// The shard that holds word `word`.
#[inline]
pub(crate) const fn shard_of_word(word: usize) -> usize {
    word / SHARD_WORDS
}

/// The words of shard `shard`.
#[inline]
pub(crate) const fn shard_words(shard: usize) -> Range<usize> {
    shard * SHARD_WORDS..(shard + 1) * SHARD_WORDS
}

/// The words of the shards `shards` (consecutive shards, one slice).
#[inline]
pub(crate) const fn shards_words(shards: Range<usize>) -> Range<usize> {
    shards.start * SHARD_WORDS..shards.end * SHARD_WORDS
}

/// The blocks of shard `shard`.
#[inline]
pub(crate) const fn shard_blocks(shard: usize) -> Range<u64> {
    shard as u64 * SHARD_BLOCKS..(shard as u64 + 1) * SHARD_BLOCKS
}

/// The shards that hold a block of `range` (empty for an empty range).
#[inline]
pub(crate) fn shards_touched(range: &Range<u64>) -> Range<usize> {
    if range.start >= range.end {
        return shard_of(range.start)..shard_of(range.start);
    }
    shard_of(range.start)..shard_of(range.end - 1) + 1
}

/// Shards needed to hold `blocks` blocks: the shard count of a capacity.
#[inline]
pub(crate) const fn shards_for(blocks: u64) -> u64 {
    blocks.div_ceil(SHARD_BLOCKS)
}

/// The first word of a shard at or after word `word`.
#[inline]
pub(crate) const fn next_shard_start(word: usize) -> usize {
    word.next_multiple_of(SHARD_WORDS)
}

/// Whole shards in `words` words.
#[inline]
pub(crate) const fn whole_shards_in(words: usize) -> usize {
    words / SHARD_WORDS
}

// ---- one-bit-per-shard summaries ----------------------------------------

/// The word of a summary that holds the bit of shard `shard`.
#[inline]
pub(crate) const fn summary_word(shard: usize) -> usize {
    shard / WORD_BITS as usize
}

/// The bit of shard `shard` in its summary word.
#[inline]
pub(crate) const fn summary_bit(shard: usize) -> usize {
    shard % WORD_BITS as usize
}

/// Words of a summary of `shards` shards.
#[inline]
pub(crate) const fn summary_words_for(shards: usize) -> usize {
    shards.div_ceil(WORD_BITS as usize)
}

/// The shard of bit 0 of summary word `word`.
#[inline]
pub(crate) const fn summary_first_shard(word: usize) -> usize {
    word * WORD_BITS as usize
}

/// The shards of summary word `word`, of a summary of `shards` shards.
#[inline]
pub(crate) fn summary_word_shards(word: usize, shards: usize) -> Range<usize> {
    let first = summary_first_shard(word);
    debug_assert!(first <= shards);
    first..(first + WORD_BITS as usize).min(shards)
}

#[cfg(test)]
mod tests {
    //! Every function at its edges (first and last bit of a word, a range
    //! inside one word, across words, empty, shard edges, the end of the
    //! capacity), and the masks and ranges against bit-by-bit twins on random
    //! ranges.

    use super::*;
    use proptest::prelude::*;

    /// `range_mask`, a bit at a time.
    fn range_mask_naive(range: &Range<u64>, word: usize) -> u64 {
        let mut mask = 0;
        for bit in 0..64u64 {
            let block = word as u64 * 64 + bit;
            if range.contains(&block) {
                mask |= 1 << bit;
            }
        }
        mask
    }

    /// The words (or shards, of `size` blocks) with at least one block in
    /// `range`, and those with all of them, a block at a time.
    fn touched_and_within_naive(
        range: &Range<u64>,
        size: u64,
        units: usize,
    ) -> (Vec<usize>, Vec<usize>) {
        let (mut touched, mut within) = (Vec::new(), Vec::new());
        for unit in 0..units {
            let blocks = unit as u64 * size..(unit as u64 + 1) * size;
            let inside = blocks.clone().filter(|b| range.contains(b)).count() as u64;
            if inside > 0 {
                touched.push(unit);
            }
            if inside == size {
                within.push(unit);
            }
        }
        (touched, within)
    }

    #[test]
    fn a_block_and_its_word() {
        for (block, word, bit) in [
            (0, 0, 0),
            (63, 0, 63),
            (64, 1, 0),
            (127, 1, 63),
            (4095, 63, 63),
            (4096, 64, 0),
        ] {
            assert_eq!(
                (word_of(block), bit_of(block)),
                (word, bit),
                "block {block}"
            );
            assert_eq!(block_at(word, bit), block);
            assert_eq!(bit_mask(block), 1u64 << bit);
            assert_eq!(word_start(block), word as u64 * 64);
            assert_eq!(first_block(word), word as u64 * 64);
        }
        let words = [1u64 << 63, 1];
        assert!(bit(&words, 63) && bit(&words, 64));
        assert!(!bit(&words, 0) && !bit(&words, 62) && !bit(&words, 65));
    }

    #[test]
    fn masks_at_the_edges_of_a_word() {
        assert_eq!(mask_from(0), !0);
        assert_eq!(mask_from(63), 1 << 63);
        assert_eq!(mask_from(64), !0);
        assert_eq!(mask_before(0), 0);
        assert_eq!(mask_before(1), 1);
        assert_eq!(mask_before(63), !0 >> 1);
        assert_eq!(mask_before(64), 0);
        // The limit inside word 1, at its start, at its end, past it.
        assert_eq!(limit_mask(100, 0), !0);
        assert_eq!(limit_mask(100, 1), (1 << 36) - 1);
        assert_eq!(limit_mask(100, 2), 0);
        assert_eq!(limit_mask(64, 1), 0);
        assert_eq!(limit_mask(128, 1), !0);
        assert_eq!(limit_mask(0, 0), 0);
        assert_eq!(limit_mask(u64::MAX, 5), !0);
        assert_eq!(limit_mask_past_start(65, 1), 1);
        assert_eq!(limit_mask_past_start(127, 1), !0 >> 1);
        assert_eq!(limit_mask_past_start(128, 1), !0);
        assert_eq!(limit_mask_past_start(1000, 1), !0);
    }

    #[test]
    fn masks_of_a_range_inside_one_word_across_words_and_empty() {
        // A range's blocks in a word: below its end and not below its start.
        let in_word =
            |from: u64, to: u64, word: usize| limit_mask(to, word) & !limit_mask(from, word);
        // Inside one word.
        assert_eq!(in_word(65, 67, 1), 0b110);
        // The first and the last bit of a word.
        assert_eq!(in_word(64, 65, 1), 1);
        assert_eq!(in_word(127, 128, 1), 1 << 63);
        // Across words: a partial head, whole middle words, a partial tail.
        assert_eq!(in_word(60, 200, 0), 0b1111 << 60);
        assert_eq!(in_word(60, 200, 1), !0);
        assert_eq!(in_word(60, 200, 2), !0);
        assert_eq!(in_word(60, 200, 3), (1 << 8) - 1);
        assert_eq!(in_word(60, 200, 4), 0);
        // Empty.
        assert_eq!(in_word(70, 70, 1), 0);
        assert_eq!(words_within(&(70..70)).count(), 0);
        assert_eq!(shards_touched(&(70..70)).count(), 0);
    }

    #[test]
    fn word_ranges() {
        assert_eq!(words_within(&(0..64)), 0..1);
        assert_eq!(words_within(&(1..64)), 1..1);
        assert_eq!(words_within(&(1..200)), 1..3);
        // Inside one word: backwards, ending at the word the end cuts.
        assert_eq!(words_within(&(65..70)).start, 2);
        assert_eq!(words_within(&(65..70)).end, 1);
        assert_eq!(words_within(&(70..70)).end, 1);
        assert_eq!(words_within(&(70..70)).count(), 0);
        assert_eq!(words_within(&(64..64)), 1..1);
        assert_eq!(words_for(0), 0);
        assert_eq!(words_for(1), 1);
        assert_eq!(words_for(64), 1);
        assert_eq!(words_for(65), 2);
        assert_eq!(blocks_in(3), 192);
    }

    #[test]
    fn shards_at_their_edges() {
        assert_eq!(SHARD_BLOCKS, 4096);
        for (block, shard) in [(0, 0), (4095, 0), (4096, 1), (8191, 1), (8192, 2)] {
            assert_eq!(shard_of(block), shard, "block {block}");
            assert_eq!(shard_of_word(word_of(block)), shard);
            assert!(shard_blocks(shard).contains(&block));
            assert!(shard_words(shard).contains(&word_of(block)));
        }
        assert_eq!(shard_words(0), 0..64);
        assert_eq!(shard_words(2), 128..192);
        assert_eq!(shards_words(1..3), 64..192);
        assert_eq!(shard_blocks(1), 4096..8192);
        assert_eq!(shards_touched(&(4095..4097)), 0..2);
        assert_eq!(shards_touched(&(4096..8192)), 1..2);
        assert_eq!(shards_touched(&(4096..4096)), 1..1);
        // The shard count of a capacity: a partial last shard counts.
        assert_eq!(shards_for(1), 1);
        assert_eq!(shards_for(4096), 1);
        assert_eq!(shards_for(4097), 2);
        assert_eq!(shards_for(0), 0);
        assert_eq!(next_shard_start(0), 0);
        assert_eq!(next_shard_start(1), 64);
        assert_eq!(next_shard_start(64), 64);
        assert_eq!(next_shard_start(65), 128);
        assert_eq!(whole_shards_in(63), 0);
        assert_eq!(whole_shards_in(128), 2);
    }

    #[test]
    fn summaries_at_their_edges() {
        for (shard, word, bit) in [(0, 0, 0), (63, 0, 63), (64, 1, 0), (129, 2, 1)] {
            assert_eq!((summary_word(shard), summary_bit(shard)), (word, bit));
        }
        assert_eq!(summary_first_shard(2), 128);
        assert_eq!(summary_words_for(0), 0);
        assert_eq!(summary_words_for(1), 1);
        assert_eq!(summary_words_for(64), 1);
        assert_eq!(summary_words_for(65), 2);
        assert_eq!(summary_word_shards(0, 130), 0..64);
        assert_eq!(summary_word_shards(2, 130), 128..130);
        assert_eq!(summary_word_shards(2, 128), 128..128);
    }

    /// A range end: anywhere, or near a word or shard edge, or the end of
    /// a capacity of 4 shards.
    fn edge() -> impl Strategy<Value = u64> {
        let capacity = 4 * SHARD_BLOCKS;
        let near = |at: u64| at.saturating_sub(2)..=at + 2;
        prop_oneof![
            0..=capacity,
            (0..=capacity / 64).prop_flat_map(move |w| near(w * 64)),
            (0..=4u64).prop_flat_map(move |s| near(s * SHARD_BLOCKS)),
        ]
    }

    proptest! {
        #[test]
        fn masks_and_ranges_match_the_naive_twin(a in edge(), b in edge(), word in 0usize..260) {
            let range = a.min(b)..a.max(b);
            prop_assert_eq!(limit_mask(range.end, word), range_mask_naive(&(0..range.end), word));
            if range.end > first_block(word) {
                prop_assert_eq!(limit_mask_past_start(range.end, word), limit_mask(range.end, word));
            }
            prop_assert_eq!(
                limit_mask(range.end, word) & !limit_mask(range.start, word),
                range_mask_naive(&range, word)
            );
            if !range.is_empty() {
                let (start, end) = (range.start, range.end);
                prop_assert_eq!(mask_from(start), range_mask_naive(&(start..u64::MAX), word_of(start)));
                prop_assert_eq!(mask_before(end), range_mask_naive(&(0..end), word_of(end)));
            }
            let (_, within) = touched_and_within_naive(&range, 64, 260);
            prop_assert_eq!(words_within(&range).collect::<Vec<_>>(), within);
            let (touched, _) = touched_and_within_naive(&range, SHARD_BLOCKS, 5);
            prop_assert_eq!(shards_touched(&range).collect::<Vec<_>>(), touched);
            // A range is its whole words, plus the blocks from its start in
            // the start's word and below its end in the end's word (one word
            // for a range inside one), as a cursor takes it.
            let within = words_within(&range);
            let ones = if within.start > within.end {
                u64::from((mask_from(range.start) & limit_mask(range.end, word_of(range.start))).count_ones())
            } else {
                let head = if range.start % 64 == 0 { 0 } else { mask_from(range.start).count_ones() };
                let tail = limit_mask(range.end, within.end).count_ones();
                blocks_in(within.len()) + u64::from(head) + u64::from(tail)
            };
            prop_assert_eq!(ones, range.end - range.start);
        }

        #[test]
        fn counts_of_a_capacity_match_the_naive_twin(blocks in edge()) {
            let words = (0..).find(|w| w * 64 >= blocks).unwrap();
            let shards = (0..).find(|s| s * SHARD_BLOCKS >= blocks).unwrap();
            prop_assert_eq!(words_for(blocks), words);
            prop_assert_eq!(shards_for(blocks), shards);
            let word = word_of(blocks);
            prop_assert_eq!(next_shard_start(word), (word..).find(|w| w % 64 == 0).unwrap());
        }
    }
}
