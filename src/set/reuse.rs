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
//! freed block, if nothing lower is free. That needs the ranges of the
//! session, which the reservation table does not keep: the set keeps their
//! starts here, by slot (only with the option on).
//!
//! What must never happen here: a block freed at once that a checkpoint a
//! restart could use holds, or that a trailer holds; a cost on the acquire
//! path, or any memory, when the option is off; derived state left behind.

use super::{bit, highest, FreeSet};
use crate::error::Error;
use crate::words;

/// How a [`FreeSet`] behaves, chosen when it is made
/// ([`FreeSet::with_options`], [`FreeSet::unopened_with_options`]). The
/// default is the reference's behaviour, which the conformance traces pin.
///
/// ```
/// use freeset::{FreeSet, Options};
///
/// let mut set = FreeSet::with_options(10_000, Options::new().immediate_reuse(true))?;
/// assert!(set.options().has_immediate_reuse());
///
/// // Acquired after the last checkpoint (there is none yet), released
/// // before the next: no checkpoint references it, so it is free at once.
/// let job = set.reserve(2)?.expect("room");
/// let scratch = set.acquire(&job)?.expect("a free block");
/// set.release(scratch)?;
/// assert!(set.is_free(scratch)?);
/// // The job's next acquire takes it again: the lowest free block of its range.
/// assert_eq!(set.acquire(&job)?, Some(scratch));
/// set.forfeit(&job)?;
///
/// // After a checkpoint, the blocks it holds wait for the next durable one.
/// let mut buffer = [0u8; 64];
/// let mut checkpoint = set.checkpoint(buffer.len())?;
/// while checkpoint.next_chunk(&mut buffer)?.is_some() {} // the engine writes each chunk
/// checkpoint.commit()?;
/// set.release(scratch)?;
/// assert!(!set.is_free(scratch)?);
/// assert!(set.is_released(scratch)?);
/// # Ok::<(), freeset::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Options {
    immediate_reuse: bool,
}

impl Options {
    /// The default options: the reference's behaviour.
    pub const fn new() -> Self {
        Options {
            immediate_reuse: false,
        }
    }

    /// With `on`, releasing a block that no checkpoint a restart could use
    /// holds (one acquired since the last checkpoint was committed, or the
    /// set opened) frees it at once; other releases wait for the next
    /// durable checkpoint, as always. Off by default.
    ///
    /// It is safe when:
    /// - every checkpoint of the set is written through
    ///   [`FreeSet::checkpoint`] (the set refuses the low-level `encode`,
    ///   `encoder`, `encoded_size` and `checkpoint_not_durable` with
    ///   [`Error::ImmediateReuse`]), and a restart opens the set with
    ///   [`FreeSet::open`] (or `open_stream`, `open_from_readers`) from a
    ///   checkpoint so written;
    /// - the engine's own index never references a block it released (the
    ///   index of the next checkpoint included);
    /// - nothing still reads a block once it is released: with deferred
    ///   release a released block keeps its contents until the next
    ///   checkpoint is durable; with immediate reuse the next acquire may
    ///   hand it out, and its new owner overwrite it, at once.
    ///
    /// See `docs/behaviour.md` ("Immediate reuse") for the argument.
    pub const fn immediate_reuse(mut self, on: bool) -> Self {
        self.immediate_reuse = on;
        self
    }

    /// Whether [`Options::immediate_reuse`] is on.
    pub const fn has_immediate_reuse(&self) -> bool {
        self.immediate_reuse
    }
}

/// What a set with immediate reuse keeps besides its bitsets.
#[derive(Debug, Clone)]
pub(crate) struct Reuse {
    /// `acquired` as the last commit (its trailer acquired) or open left
    /// it: every block a checkpoint a restart could use holds unreleased
    /// is set here (see the module doc).
    pub(crate) snapshot: Vec<u64>,
    /// Words of `snapshot` that may hold a bit: all past it are zero.
    pub(crate) words: usize,
    /// The range (first block, end) of each reservation of the session, by
    /// slot, in increasing order: slot `i`'s ends at or before slot `i +
    /// 1`'s start (before it when an extent skipped blocks between them),
    /// the last at the reserved prefix's end. Only the first `table.len()`
    /// entries are the session's.
    pub(crate) ranges: Vec<(u64, u64)>,
}

impl Reuse {
    /// An empty snapshot of `words` words, or `None` when it cannot be
    /// allocated.
    pub(crate) fn new(words: usize) -> Option<Self> {
        Some(Reuse {
            snapshot: crate::memory::zeroed_words(words)?,
            words: 0,
            ranges: Vec::new(),
        })
    }

    pub(crate) fn try_clone(&self) -> Option<Self> {
        let mut ranges = Vec::new();
        ranges.try_reserve_exact(self.ranges.len()).ok()?;
        ranges.extend_from_slice(&self.ranges);
        Some(Reuse {
            snapshot: crate::memory::copied_words(&self.snapshot)?,
            words: self.words,
            ranges,
        })
    }
}

impl FreeSet {
    /// The options the set was made with.
    pub fn options(&self) -> Options {
        Options {
            immediate_reuse: self.reuse.is_some(),
        }
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

    /// Makes room for the range of the reservation `reserve` (or
    /// `reserve_extent`) is about to make (its slot is the table's length),
    /// so that recording it cannot fail; drops the ranges of an ended
    /// session.
    pub(super) fn prepare_reuse_reserve(&mut self) -> Result<(), Error> {
        let slots = self.reservations.table.len();
        if let Some(reuse) = &mut self.reuse {
            reuse.ranges.truncate(slots);
            reuse
                .ranges
                .try_reserve(1)
                .map_err(|_| Error::OutOfMemory {
                    bytes: 16 * (slots as u64 + 1),
                    what: "the reservations' ranges",
                })?;
        }
        Ok(())
    }

    /// Records the range of the reservation just made in `slot`.
    pub(super) fn note_reuse_reserve(&mut self, reservation: &crate::Reservation) {
        if let Some(reuse) = &mut self.reuse {
            let base = reservation.block_base();
            debug_assert_eq!(reuse.ranges.len(), reservation.slot());
            debug_assert!(reuse.ranges.last().is_none_or(|&(_, end)| end <= base));
            reuse.ranges.push((base, base + reservation.block_count()));
        }
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
        // The reservation whose range holds the block, if any: its position
        // moves back so that every block of its range below it is acquired.
        let slots = self.reservations.table.len();
        if let Some(reuse) = &self.reuse {
            let ranges = &reuse.ranges[..slots];
            let after = ranges.partition_point(|&(base, _)| base <= block);
            if after > 0 && block < ranges[after - 1].1 {
                let slot = after - 1;
                let position = &mut self.reservations.table[slot].position;
                if *position > block {
                    *position = start.max(ranges[slot].0);
                }
            }
        }
    }

    /// The immediate-reuse invariants (debug builds, from
    /// `check_invariants`): released, pending and trailer blocks are in the
    /// snapshot, nothing past its words is set, and every block of each
    /// reservation's range below its position is acquired.
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
        let table = &self.reservations.table;
        assert!(reuse.ranges.len() >= table.len());
        for (slot, entry) in table.iter().enumerate() {
            let (base, end) = reuse.ranges[slot];
            assert!(end <= self.reservations.reserved_until());
            if slot + 1 < table.len() {
                assert!(end <= reuse.ranges[slot + 1].0, "ranges in order");
            }
            let below = entry.position.min(end).min(self.limit);
            assert!(entry.position >= base, "a position below its range");
            assert_eq!(
                crate::scan::first_zero(&self.acquired, base as usize, below as usize),
                None,
                "a free block below a reservation's position"
            );
        }
    }
}
