//! Derived state: the shard index, the summaries and the counters, computed
//! from the bitsets in one pass (after `open`, or to check them).
//!
//! The operations in `mod.rs` keep this state current a bit at a time; here
//! it is built whole, a shard at a time, on the rayon pool for large sets.
//! What must never happen here: a read of a bitset past the shards the
//! caller says were written (the rest is known to be zero), or a result that
//! depends on the number of threads.

use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

use super::{FreeSet, Highest, SHARD_BLOCKS, SHARD_WORDS};
use crate::parallelism::{Parallelism, Work};
use crate::scan;
use crate::words::{self, limit_mask, shard_words};

impl FreeSet {
    /// Recomputes the index, the summaries and the counters from the bitsets,
    /// in one pass over each bitset, a shard at a time.
    pub(super) fn rebuild_derived(&mut self, parallelism: Parallelism) {
        let shards = self.shards();
        self.derive(shards, shards, shards, parallelism);
        self.highest = self.scan_highest();
        self.derive_word_map();
    }

    /// The whole word map from the words, a batch of shards at a time.
    fn derive_word_map(&mut self) {
        let (mut zeros, mut ones) = ([0u64; 64], [0u64; 64]);
        for (batch, words) in self.acquired.chunks(64 * SHARD_WORDS).enumerate() {
            let shards = words.len() / SHARD_WORDS;
            scan::classify(words, &mut zeros[..shards], &mut ones[..shards]);
            for (k, &zero) in zeros[..shards].iter().enumerate() {
                let shard = batch * 64 + k;
                self.word_map.assign_shard(shard, false);
                // `!zero`: the words that are not 0.
                let mut used = !zero;
                while used != 0 {
                    self.word_map
                        .set_used(shard * SHARD_WORDS + used.trailing_zeros() as usize);
                    used &= used - 1;
                }
            }
        }
    }

    /// The word map's bits of `shard` from its words: after anything that
    /// set bits of it other than the acquire paths (`acquire_concurrently`).
    pub(super) fn refresh_word_map(&mut self, shard: usize) {
        self.word_map
            .refresh(shard, &self.acquired[shard_words(shard)]);
    }

    /// Derives the index, the summaries and the counters from the first
    /// `acquired`, `released` and `pending` shards of each bitset; the shards
    /// past those must be all zeros (the caller knows, so nobody reads them).
    pub(super) fn derive(
        &mut self,
        acquired: usize,
        released: usize,
        pending: usize,
        parallelism: Parallelism,
    ) {
        debug_assert!(acquired.max(released).max(pending) <= self.shards());
        self.clear_derived();
        // Groups of 64 shards: one word of each summary. Large sets count
        // their groups on the pool (see `PARALLEL_DECODE_MIN_WORDS`).
        let parallel = parallelism.segments(acquired.max(released) * SHARD_WORDS, Work::Decode) > 1;
        let (limit, bits) = (self.limit, &self.acquired);
        let groups = acquired_groups(acquired, parallel, parallelism, |shard| {
            AcquiredShard::of(bits, limit, shard)
        });
        self.add_acquired_groups(groups);
        // A zero shard below the limit is not full, so the index of the
        // shards past `acquired` is already right (clear).
        let bits = &self.released;
        let stats = map_groups(
            words::summary_words_for(released),
            parallel,
            parallelism,
            |group| {
                let (mut summary, mut count) = (0, 0);
                for shard in words::summary_word_shards(group, released) {
                    let n = scan::count_ones(&bits[shard_words(shard)]);
                    summary |= u64::from(n > 0) << words::summary_bit(shard);
                    count += n;
                }
                (summary, count)
            },
        );
        for (group, (summary, count)) in stats.into_iter().enumerate() {
            self.released_shards.or_word(group, summary);
            self.released_count += count;
        }
        for shard in 0..pending {
            let count = scan::count_ones(&self.pending[shard_words(shard)]);
            self.pending_count += count;
            self.pending_shards.assign(shard, count > 0);
        }
    }

    /// Derives the acquired summary, the index and the acquired and free counts
    /// from the bit count of every shard; only the shard with the limit in it
    /// is looked at again. The acquired state must be clear (see `derive`).
    pub(super) fn derive_acquired_from(&mut self, counts: &[u32], parallelism: Parallelism) {
        debug_assert!(self.acquired_past_limit == 0 && self.free_count == self.limit);
        let shards = self.shards();
        debug_assert_eq!(counts.len(), shards);
        // Little work a shard: only very large sets take the pool (see
        // `PARALLEL_DERIVE_MIN_SHARDS`; the figures are in perf/notes.md).
        let parallel = parallelism.segments(shards, Work::DeriveFromCounts) > 1;
        // Shards below this one lie wholly below the limit: their counts
        // say all. The rest (the one the limit cuts, and any past it) are
        // looked at again, word by word.
        let below = words::shard_of(self.limit);
        let (limit, bits) = (self.limit, &self.acquired);
        let groups = map_groups(
            words::summary_words_for(shards),
            parallel,
            parallelism,
            |group| {
                let shards = words::summary_word_shards(group, shards);
                let whole = shards.start..shards.end.min(below).max(shards.start);
                let mut acc = AcquiredGroup::from_counts(&counts[whole.clone()]);
                let past = whole.end..shards.end;
                for (shard, &n) in past.clone().zip(&counts[past]) {
                    let stats = AcquiredShard::of(bits, limit, shard);
                    debug_assert_eq!(stats.count, u64::from(n), "shard {shard}");
                    acc.add(words::summary_bit(shard), &stats);
                }
                acc
            },
        );
        self.add_acquired_groups(groups);
        // The word map is derived from the words by the first long extent
        // search (a pass over them here would cost `open` as much as
        // the copy of them does).
        self.word_map.mark_all_stale();
    }

    /// Every summary, counter and highest address back to an empty set (the
    /// bitsets are the caller's business).
    pub(super) fn clear_derived(&mut self) {
        self.index.clear_all();
        self.acquired_shards.clear_all();
        self.released_shards.clear_all();
        self.pending_shards.clear_all();
        self.word_map.clear_all();
        self.floor = 0;
        self.acquired_past_limit = 0;
        self.free_count = self.limit;
        self.released_count = 0;
        self.pending_count = 0;
        self.highest = Highest::default();
    }

    /// Adds what [`acquired_groups`] found to the acquired summary, the index
    /// and the counters.
    fn add_acquired_groups(&mut self, groups: Vec<AcquiredGroup>) {
        for (group, stats) in groups.into_iter().enumerate() {
            self.acquired_shards.or_word(group, stats.summary);
            self.index.or_word(group, stats.index);
            self.acquired_past_limit += stats.count - stats.below_limit;
            self.free_count -= stats.below_limit;
        }
    }
}

/// What a group of 64 shards adds to the derived state: one word of the
/// acquired summary and of the index, and its counts.
#[derive(Default)]
struct AcquiredGroup {
    summary: u64,
    index: u64,
    count: u64,
    below_limit: u64,
}

impl AcquiredGroup {
    /// The group of shards wholly below the limit with set bits `counts`
    /// (at most 64), from the counts alone: flags a byte per shard in loops
    /// the compiler turns into vector compares, then packs 8 flags a
    /// multiply (it replaced a loop of a bit per shard, which was slower:
    /// perf/notes.md).
    fn from_counts(counts: &[u32]) -> Self {
        debug_assert!(counts.len() <= 64);
        let (mut nonzero, mut full) = ([0u8; 64], [0u8; 64]);
        for ((z, f), &n) in nonzero.iter_mut().zip(&mut full).zip(counts) {
            *z = u8::from(n != 0);
            *f = u8::from(u64::from(n) == SHARD_BLOCKS);
        }
        let count: u64 = counts.iter().map(|&n| u64::from(n)).sum();
        AcquiredGroup {
            summary: pack_flags(&nonzero),
            index: pack_flags(&full),
            count,
            below_limit: count,
        }
    }

    /// Adds shard `k` of the group.
    fn add(&mut self, k: usize, stats: &AcquiredShard) {
        self.summary |= u64::from(stats.count > 0) << k;
        self.index |= u64::from(stats.full) << k;
        self.count += stats.count;
        self.below_limit += stats.below_limit;
    }
}

/// The [`AcquiredGroup`] of every group of the first `shards` shards, from
/// `shard_stats` of each shard: on the pool when `parallel`.
fn acquired_groups(
    shards: usize,
    parallel: bool,
    parallelism: Parallelism,
    shard_stats: impl Fn(usize) -> AcquiredShard + Sync + Send,
) -> Vec<AcquiredGroup> {
    map_groups(
        words::summary_words_for(shards),
        parallel,
        parallelism,
        |group| {
            let mut acc = AcquiredGroup::default();
            for shard in words::summary_word_shards(group, shards) {
                acc.add(words::summary_bit(shard), &shard_stats(shard));
            }
            acc
        },
    )
}

/// Set bits per shard, added up by the threads that decode `acquired`.
pub(super) struct ShardCounts(Vec<AtomicU32>);

impl ShardCounts {
    /// A zero count per shard, or an error when they cannot be allocated.
    pub(super) fn new(shards: usize) -> Result<Self, crate::Error> {
        let mut counts = Vec::new();
        counts
            .try_reserve_exact(shards)
            .map_err(|_| crate::Error::OutOfMemory {
                bytes: 4 * shards as u64,
                what: "the bit counts of the shards",
            })?;
        counts.extend((0..shards).map(|_| AtomicU32::new(0)));
        Ok(ShardCounts(counts))
    }

    /// Adds the bits of `words`, which are `acquired[first..]`.
    pub(super) fn add(&self, first: usize, words: &[u64]) {
        // Whole shards go through the batch kernel, 64 shards a call.
        let head = (words::next_shard_start(first) - first).min(words.len());
        let whole = words::whole_shards_in(words.len() - head);
        self.add_partial(first, &words[..head]);
        let mut batch = [0u32; 64];
        let mut shard = words::shard_of_word(first + head);
        for chunk in words[head..head + whole * SHARD_WORDS].chunks(64 * SHARD_WORDS) {
            let counts = &mut batch[..chunk.len() / SHARD_WORDS];
            scan::count_ones_by_64(chunk, counts);
            for &count in counts.iter() {
                // A whole shard: no other piece has words in it.
                self.0[shard].store(count, Ordering::Relaxed);
                shard += 1;
            }
        }
        let tail = head + whole * SHARD_WORDS;
        self.add_partial(first + tail, &words[tail..]);
    }

    /// Adds the bits of part of one shard, which other pieces may share.
    fn add_partial(&self, first: usize, words: &[u64]) {
        debug_assert!(words.len() < SHARD_WORDS);
        let ones = scan::count_ones(words) as u32;
        if ones > 0 {
            self.0[words::shard_of_word(first)].fetch_add(ones, Ordering::Relaxed);
        }
    }

    /// Adds what a decoder reported: `counts[k]` set bits among words
    /// `[first, first + len)` of shard `first / 64 + k`. A shard the words
    /// cover whole is no other report's (reports never overlap): a store.
    pub(super) fn add_counts(&self, first: usize, len: usize, counts: &[u32]) {
        debug_assert_eq!(counts.len(), crate::scan::shards_spanned(first, len));
        let shard0 = words::shard_of_word(first);
        for (k, &count) in counts.iter().enumerate() {
            let shard = shard0 + k;
            let words = shard_words(shard);
            let whole = words.start >= first && words.end <= first + len;
            if whole {
                self.0[shard].store(count, Ordering::Relaxed);
            } else if count > 0 {
                self.0[shard].fetch_add(count, Ordering::Relaxed);
            }
        }
    }

    /// Adds one block (a trailer block set after decoding).
    pub(super) fn add_block(&self, block: u64) {
        self.0[words::shard_of(block)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts as plain integers, once every decoder is done adding
    /// (these are left empty; the allocation moves to the result).
    pub(super) fn take(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.0)
            .into_iter()
            .map(AtomicU32::into_inner)
            .collect()
    }
}

/// `f` of every group in `0..groups`, in order: on the rayon pool when
/// `parallel`, else on this thread (no pool hand-off for small sets).
fn map_groups<T: Send>(
    groups: usize,
    parallel: bool,
    parallelism: Parallelism,
    f: impl Fn(usize) -> T + Sync + Send,
) -> Vec<T> {
    if parallel {
        parallelism.install(|| (0..groups).into_par_iter().map(f).collect())
    } else {
        (0..groups).map(f).collect()
    }
}

/// Bit `k` set where `flags[k]` is 1 (every flag is 0 or 1).
fn pack_flags(flags: &[u8; 64]) -> u64 {
    let mut bits = 0;
    for (k, eight) in flags.chunks_exact(8).enumerate() {
        let eight = u64::from_le_bytes(eight.try_into().expect("8 bytes"));
        debug_assert_eq!(eight & !0x0101_0101_0101_0101, 0);
        // Byte j (0 or 1) lands on bit 56 + j; no two products overlap.
        let byte = eight.wrapping_mul(0x0102_0408_1020_4080) >> 56;
        bits |= byte << (8 * k);
    }
    bits
}

/// What one shard of `acquired` adds to the derived state.
struct AcquiredShard {
    /// Set bits.
    count: u64,
    /// Set bits below the limit.
    below_limit: u64,
    /// No free block below the limit.
    full: bool,
}

impl AcquiredShard {
    fn of(acquired: &[u64], limit: u64, shard: usize) -> Self {
        let words = shard_words(shard);
        let count = scan::count_ones(&acquired[words.clone()]);
        if words::shard_blocks(shard).end <= limit {
            return AcquiredShard {
                count,
                below_limit: count,
                full: count == SHARD_BLOCKS,
            };
        }
        // The shard with the limit in it: only blocks below the limit count.
        let (mut below_limit, mut full) = (0, true);
        for i in words {
            let mask = limit_mask(limit, i);
            below_limit += u64::from((acquired[i] & mask).count_ones());
            full &= acquired[i] & mask == mask;
        }
        AcquiredShard {
            count,
            below_limit,
            full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The group from counts alone equals the group a shard at a time, for
    /// every length of group and counts at 0, at full and in between.
    #[test]
    fn a_group_from_counts_is_the_group_shard_by_shard() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..=64 {
            for _ in 0..50 {
                let counts: Vec<u32> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        match x % 4 {
                            0 => 0,
                            1 => SHARD_BLOCKS as u32,
                            _ => (x >> 8) as u32 % (SHARD_BLOCKS as u32 + 1),
                        }
                    })
                    .collect();
                let mut naive = AcquiredGroup::default();
                for (k, &n) in counts.iter().enumerate() {
                    let n = u64::from(n);
                    let stats = AcquiredShard {
                        count: n,
                        below_limit: n,
                        full: n == SHARD_BLOCKS,
                    };
                    naive.add(k, &stats);
                }
                let fast = AcquiredGroup::from_counts(&counts);
                assert_eq!(
                    (fast.summary, fast.index, fast.count, fast.below_limit),
                    (naive.summary, naive.index, naive.count, naive.below_limit),
                    "{counts:?}"
                );
            }
        }
    }

    #[test]
    fn flags_pack_in_order() {
        for k in 0..64 {
            let mut flags = [0u8; 64];
            flags[k] = 1;
            assert_eq!(pack_flags(&flags), 1 << k);
        }
        assert_eq!(pack_flags(&[1; 64]), !0);
        assert_eq!(pack_flags(&[0; 64]), 0);
    }
}
