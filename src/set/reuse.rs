//! Immediate reuse, opt-in ([`Options::immediate_reuse`]): a block acquired
//! since the last checkpoint and released before the next one is free at
//! once, instead of waiting for the next durable checkpoint.
//!
//! **The rule.** A block may be freed at once iff no checkpoint a restart
//! could use (the durable one, and the one written since, if it is not
//! durable yet) holds it acquired and unreleased, and it is not a trailer
//! block. The set proves it with a *snapshot*: a copy of the `acquired`
//! bitset taken by [`Checkpoint::commit`](super::Checkpoint::commit) once
//! the new trailer is acquired (so the snapshot holds everything the new
//! encoding holds, and its trailer), and by `open` once the set is opened
//! (everything decoded, and the trailer); `new` starts with it empty. A
//! released block that is not in the snapshot was acquired after the last
//! commit (or open), so:
//! - the checkpoint committed last does not hold it (it was free when that
//!   checkpoint was encoded, and is not one of its trailer blocks);
//! - the checkpoint before that one (the durable one, while the last is
//!   not durable yet) does not hold it unreleased either. Between the two
//!   encodings a block leaves `acquired` only by a durable checkpoint,
//!   which frees only blocks released *before* the earlier encoding (the
//!   earlier encoding carries them as released, not as live), or by an
//!   immediate free, which needs the block outside the snapshot of the
//!   earlier commit, which holds everything that encoding holds. So a
//!   block the earlier checkpoint holds unreleased is still acquired when
//!   the later one commits, and is in the snapshot. In particular a block
//!   that the last durable checkpoint freed and that was acquired since is
//!   safe: the checkpoint before carries it as released.
//!
//! The snapshot changes only at a commit and at an open, so the rule needs
//! every checkpoint to go through [`FreeSet::checkpoint`]: with the option
//! on, the low-level calls that write a checkpoint behind the set's back
//! (`encode`, `encode_with`, `encoder`, `encoded_size`,
//! `checkpoint_not_durable`) are refused with [`Error::ImmediateReuse`].
//!
//! **Derived state.** Freeing a block at once clears its `acquired` bit
//! and brings the counters, the index, the acquired summary, the highest
//! acquired word and the floor along, as a durable checkpoint does. The
//! reservation whose range holds the block has its position moved back to
//! the block's word (not below the range's start), so that "every block of
//! the range below the position is acquired" still holds and its next
//! acquire returns the lowest free block of its range, as always: the
//! freed block, if nothing lower is free. The reservation table keeps the
//! ranges, in increasing order, so a binary search finds it; its open word
//! is folded first (`open_words.rs`), since the block may be in it.
//!
//! What must never happen here: a block freed at once that a checkpoint a
//! restart could use holds, or that a trailer holds; a cost on the acquire
//! path, or any memory, when the option is off; derived state left behind.

use super::options::Options;
use super::{bit, highest, FreeSet};
use crate::error::Error;
use crate::words;

impl FreeSet {
    /// The options the set was made with.
    pub fn options(&self) -> Options {
        Options::new().immediate_reuse(self.reuse.is_some())
    }

    /// An error when immediate reuse is on: `operation` would write (or
    /// size) a checkpoint the snapshot does not know of.
    pub(super) fn refuse_with_reuse(&self, operation: &'static str) -> Result<(), Error> {
        match self.reuse {
            Some(_) => Err(Error::ImmediateReuse { operation }),
            None => Ok(()),
        }
    }

    /// Takes the snapshot: after a commit acquired the trailer, and after
    /// an open. One pass over the words that may hold a bit in either.
    pub(super) fn take_snapshot(&mut self) {
        let Some(reuse) = &mut self.reuse else {
            return;
        };
        let words = self.highest.acquired as usize;
        reuse.snapshot[..words].copy_from_slice(&self.acquired[..words]);
        if reuse.words > words {
            reuse.snapshot[words..reuse.words].fill(0);
        }
        reuse.words = words;
    }

    /// Whether releasing `block` (acquired, not released, not a trailer
    /// block) frees it at once: immediate reuse is on and the snapshot
    /// does not hold it.
    #[inline]
    pub(super) fn frees_at_once(&self, block: u64) -> bool {
        self.reuse
            .as_ref()
            .is_some_and(|reuse| !bit(&reuse.snapshot, block))
    }

    /// Frees `block` at once (see [`FreeSet::frees_at_once`]) and brings
    /// the derived state along (the caller checks the invariants).
    pub(super) fn free_at_once(&mut self, block: u64) {
        let (word, bit) = (words::word_of(block), words::bit_of(block));
        // Only an acquire sets a bit the snapshot lacks, and acquires stay
        // below the limit.
        debug_assert!(block < self.limit, "a block outside the snapshot");
        debug_assert!(self.acquired[word] >> bit & 1 == 1);
        debug_assert!((self.released[word] | self.pending[word]) >> bit & 1 == 0);
        // The reservation whose range holds the block, if any: its open
        // word may hold the block (folded first, so that the count below
        // is the only one), and its position moves back to the block's
        // word when past it, so that every block of its range below it is
        // acquired.
        let table = &self.reservations.table;
        let after = table.partition_point(|entry| entry.base <= block);
        let holder = after.checked_sub(1).filter(|&slot| block < table[slot].end);
        if let Some(slot) = holder {
            self.fold_position(slot);
        }
        let new = self.acquired[word] & !(1 << bit);
        self.acquired[word] = new;
        self.free_count += 1;
        let shard = words::shard_of_word(word);
        self.index.clear(shard);
        if new == 0 {
            let words = &self.acquired[words::shard_words(shard)];
            self.acquired_shards
                .assign(shard, words.iter().any(|&w| w != 0));
            if word as u64 + 1 == self.highest.acquired {
                self.highest.acquired =
                    words::words_for(highest(&self.acquired, &self.acquired_shards).unwrap_or(0));
            }
        }
        if new == 0 {
            self.word_map.set_empty(word);
        }
        let start = words::first_block(word);
        self.floor = self.floor.min(start);
        if let Some(slot) = holder {
            let entry = &self.reservations.table[slot];
            let position = if entry.position > block {
                start.max(entry.base)
            } else {
                entry.position
            };
            self.place_position(slot, position);
        }
    }

    /// The immediate-reuse invariants (debug builds, from
    /// `check_invariants`): released, pending and trailer blocks are in the
    /// snapshot, and nothing past its words is set.
    pub(super) fn check_reuse(&self) {
        let Some(reuse) = &self.reuse else {
            return;
        };
        assert!(reuse.snapshot[reuse.words..].iter().all(|&w| w == 0));
        for (i, &snapshot) in reuse.snapshot.iter().enumerate() {
            let waiting = self.released[i] | self.pending[i];
            assert_eq!(
                waiting & !snapshot,
                0,
                "a released block not in the snapshot"
            );
        }
        for &address in &self.trailer.addresses {
            assert!(
                bit(&reuse.snapshot, address - 1),
                "a trailer block not in the snapshot"
            );
        }
    }
}
