//! The invariant checker: derived state agrees with the bitsets.
//!
//! Debug builds run it after every operation that changes many bits
//! (checkpoints, open, reset); it costs O(capacity), so release builds skip
//! it. What must never happen here: a change to the set (it works on a copy).

use super::FreeSet;
use crate::parallelism::Parallelism;
use crate::scan;
use crate::words;

/// Sets of more blocks than this (2^28: 32 MiB per bitset) are not checked
/// even in debug builds. The check copies the set and rebuilds it, and for
/// the largest sets a test can make (three bitsets of 2 GiB at 2^34 blocks,
/// untouched pages until used) that copy would commit gigabytes and take a
/// minute, where the operation checked takes milliseconds. The same code
/// runs checked on every smaller set.
const CHECKED_BLOCKS_MAX: u64 = 1 << 28;

impl FreeSet {
    /// Derived state agrees with the bitsets (debug builds only, and sets of
    /// at most [`CHECKED_BLOCKS_MAX`] blocks: O(capacity)).
    pub(super) fn check_invariants(&self) {
        if cfg!(debug_assertions) && self.capacity() <= CHECKED_BLOCKS_MAX {
            // A clone folds the open words (the acquire module's doc): its
            // summaries are exact, and rebuilt they must come out the same.
            let folded = self.clone();
            let mut copy = folded.clone();
            copy.rebuild_derived(Parallelism::SEQUENTIAL);
            assert_eq!(copy.index, self.index, "index disagrees with acquired");
            assert_eq!(copy.acquired_shards, folded.acquired_shards);
            assert_eq!(copy.released_shards, self.released_shards);
            assert_eq!(copy.pending_shards, self.pending_shards);
            assert_eq!(copy.acquired_past_limit, self.acquired_past_limit);
            assert_eq!(copy.free_count, folded.free_count);
            // (`count_free` asserts that no open word counts more blocks
            // than it holds.)
            assert_eq!(folded.free_count, self.count_free());
            // The fast path indexes the bitset unchecked below `whole_end`.
            assert!(self.whole_end <= self.capacity());
            // The reservations' ranges, in order, and their positions:
            // every block of a range below its position is acquired.
            let table = &self.reservations.table;
            for (slot, entry) in table.iter().enumerate() {
                assert!(entry.end <= self.reservations.reserved_until());
                if let Some(next) = table.get(slot + 1) {
                    assert!(entry.end <= next.base, "ranges in order");
                }
                let below = entry.position.min(entry.end).min(self.limit);
                assert!(entry.position >= entry.base, "a position below its range");
                // The fast path reads its bounds from the slot, unchecked.
                assert_eq!(
                    entry.fast_end,
                    crate::reservation::fast_end(
                        entry.position,
                        entry.base,
                        entry.end,
                        self.whole_end
                    ),
                    "a fast end that is not its position's"
                );
                assert_eq!(
                    scan::first_zero(&self.acquired, entry.base as usize, below as usize),
                    None,
                    "a free block below a reservation's position"
                );
            }
            assert_eq!(copy.released_count, self.released_count);
            assert_eq!(copy.pending_count, self.pending_count);
            assert_eq!(folded.scan_highest(), folded.highest, "highest addresses");
            assert_eq!(self.highest_acquired_words(), folded.highest.acquired);
            for shard in 0..self.shards() {
                if folded.word_map.is_fresh(shard) {
                    assert_eq!(
                        folded.word_map.shard(shard),
                        copy.word_map.shard(shard),
                        "word map of shard {shard}"
                    );
                }
            }
            for i in 0..self.acquired.len() {
                assert_eq!(
                    self.released[i] & !self.acquired[i],
                    0,
                    "released block not acquired"
                );
                assert_eq!(
                    self.pending[i] & !self.acquired[i],
                    0,
                    "pending block not acquired"
                );
                assert_eq!(
                    self.released[i] & self.pending[i],
                    0,
                    "block both released and pending"
                );
            }
            let floor = self.floor.min(self.limit) as usize;
            assert_eq!(
                self.floor,
                words::word_start(self.floor),
                "the floor starts a word"
            );
            assert_eq!(
                scan::first_zero(&self.acquired, 0, floor),
                None,
                "a free block below the free floor"
            );
            self.check_reuse();
            if self.durable {
                assert_eq!(
                    self.pending_count, 0,
                    "pending blocks with a durable checkpoint"
                );
            }
        }
    }
}
