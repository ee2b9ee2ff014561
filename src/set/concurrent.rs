//! Acquiring from several threads at once, each from its own reservation,
//! with exactly the blocks each reservation gets on one thread.
//!
//! [`FreeSet::acquire_concurrently`] borrows the set mutably for a scope and
//! hands the closure an [`Acquirer`], which is `Sync`: threads share it, and
//! each makes a [`Cursor`] for its reservation and acquires through it. No
//! lock guards the set; reserve, forfeit, release, checkpoints, encode and
//! open stay exclusive, because the scope holds the `&mut`.
//!
//! **Why the blocks are the sequential ones.** The reservations of a session
//! cover disjoint ranges of blocks, and a sequential acquire hands out the
//! lowest free block of its reservation's range. Nothing but that
//! reservation acquires inside its range, so a cursor that remembers where
//! it stopped (every block of the range below `next` is acquired) hands out
//! the same sequence, whatever the other threads do.
//!
//! **Memory orderings.** During the scope the `acquired` bitset is seen as
//! atomic words. A reservation has at most one cursor at a time, so a word
//! that lies wholly inside its range is written by that cursor alone: a
//! `Relaxed` load and store (plain moves) take a bit there. A word at the
//! edge of two ranges is shared by two cursors, so there a block is taken
//! with `fetch_or`, and the atomicity of the read-modify-write keeps the
//! other cursor's bits; `Relaxed` is enough, because no cursor decides
//! anything from another one's bits. The index of full shards is
//! only read (a shard full before the scope stays full). Derived state is
//! not touched during the scope: each cursor publishes what it did (count,
//! first and last block) into its own slot with `Relaxed` stores, and the
//! scope ends after the closure returns, by which time every thread that
//! used the acquirer has been joined (it cannot outlive the borrow); the join
//! orders all their writes before the merge, which then brings the counters,
//! summaries, index and highest word up to date exactly, visiting only the
//! blocks the cursors covered.
//!
//! **Checked** by loom (`concurrent/loom_tests.rs`: every interleaving of
//! 2 cursors, and of 3 up to a preemption bound, on words shared at range
//! edges, with a cursor dropped early, leaked or panicking; the atomics,
//! the slots' `Mutex` and the view of the words come from `crate::sync`)
//! and by ThreadSanitizer on `tests/concurrent.rs` (`docs/design.md`,
//! "Checking the concurrency").
//!
//! What must never happen here: a block handed out twice, a block outside
//! its reservation, or derived state that disagrees with the bitsets after
//! the scope.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use super::{FreeSet, SHARD_BLOCKS};
use crate::error::Error;
use crate::reservation::Reservation;
use crate::summary::ShardBits;
use crate::sync::{AtomicU64, AtomicWords, Mutex, Ordering::Relaxed};
use crate::words::{self, shard_words};

#[cfg(all(loom, test))]
mod loom_tests;

impl FreeSet {
    /// Runs `scope` with an [`Acquirer`] that several threads can share to
    /// acquire at once, each from its own reservation through a [`Cursor`].
    /// Each reservation gets exactly the blocks, in the order, that
    /// [`FreeSet::acquire`] would give it: the reservations of a session
    /// cover disjoint ranges, and only a reservation's own cursor takes
    /// blocks inside its range. No lock is taken; the `&mut` borrow keeps
    /// every other call out for the scope. When `scope` returns, counters,
    /// index and summaries are exact again.
    ///
    /// ```
    /// use freeset::FreeSet;
    ///
    /// let mut set = FreeSet::new(1 << 16)?;
    /// let jobs = [set.reserve(1000)?.unwrap(), set.reserve(1000)?.unwrap()];
    /// let blocks: Vec<Vec<u64>> = set.acquire_concurrently(|acquirer| {
    ///     std::thread::scope(|s| {
    ///         let handles: Vec<_> = jobs
    ///             .iter()
    ///             .map(|job| {
    ///                 s.spawn(move || {
    ///                     let mut cursor = acquirer.cursor(job).expect("a reservation of this session");
    ///                     std::iter::from_fn(|| cursor.acquire()).collect::<Vec<u64>>()
    ///                 })
    ///             })
    ///             .collect();
    ///         handles.into_iter().map(|h| h.join().unwrap()).collect()
    ///     })
    /// });
    /// assert_eq!(blocks[0], (1..=1000).collect::<Vec<u64>>());
    /// assert_eq!(blocks[1], (1001..=2000).collect::<Vec<u64>>());
    /// assert_eq!(set.count_acquired(), 2000);
    /// # Ok::<(), freeset::Error>(())
    /// ```
    pub fn acquire_concurrently<R>(&mut self, scope: impl FnOnce(&Acquirer<'_>) -> R) -> R {
        // The cursors count what they acquire, from the positions on: the
        // open words are counted first. (The merge below also refreshes
        // every shard from a cursor's first block to its last.)
        self.fold_open_words();
        let (result, slots) = {
            let atomic = AtomicWords::new(&mut self.acquired);
            let acquirer = Acquirer {
                words: atomic.words(),
                index: &self.index,
                key: self.reservations.key(),
                session: self.reservations.session(),
                floor: self.floor,
                table: &self.reservations.table,
                slots: Mutex::new(Vec::new()),
            };
            // A panic in the scope (a cursor's thread, or the closure
            // itself) still leaves blocks acquired in the bitset: they are
            // merged below like any others before the panic goes on, so a
            // caller that catches it finds the set consistent.
            let result = panic::catch_unwind(AssertUnwindSafe(|| scope(&acquirer)));
            let slots = acquirer
                .slots
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            atomic.finish();
            (result, slots)
        };
        for slot in &slots {
            self.merge(slot);
        }
        self.check_invariants();
        result.unwrap_or_else(|payload| panic::resume_unwind(payload))
    }

    /// Brings the derived state up to date with what one cursor acquired.
    fn merge(&mut self, slot: &Slot) {
        let count = slot.count.load(Relaxed);
        if count == 0 {
            return;
        }
        // The cursor acquired in order from the reservation's first block:
        // the shards it changed lie between that and its last block.
        let (first, last) = (slot.base, slot.last.load(Relaxed));
        debug_assert!(first <= last && last < self.limit);
        // The cursor acquired every block of the range up to `last`: the
        // reservation's next acquire starts past it.
        let position = self.reservations.table[slot.reservation].position;
        self.free_count -= count;
        self.place_position(slot.reservation, position.max(last + 1));
        let highest_word = words::word_of(last) as u64 + 1;
        self.highest.acquired = self.highest.acquired.max(highest_word);
        for shard in words::shards_touched(&(first..last + 1)) {
            if self.acquired[shard_words(shard)].iter().any(|&w| w != 0) {
                self.acquired_shards.set(shard);
            }
            if self.shard_is_full(shard) {
                self.index.set(shard);
            }
            self.refresh_word_map(shard);
        }
    }
}

/// What one cursor did, published with `Relaxed` stores as it goes (so a
/// cursor that is leaked still counts) and read once the scope has ended.
#[derive(Debug, Default)]
#[repr(align(64))] // its own cache line: cursors on other threads never share it
struct Slot {
    /// First block of the reservation: names it among the cursors.
    base: u64,
    /// Index of the reservation's slot in the set's table.
    reservation: usize,
    count: AtomicU64,
    /// Last block acquired (valid once `count > 0`).
    last: AtomicU64,
}

/// Shared by the threads of an [`FreeSet::acquire_concurrently`] scope:
/// makes a [`Cursor`] per reservation.
pub struct Acquirer<'s> {
    /// The `acquired` bitset, atomic for the scope.
    words: &'s [AtomicU64],
    /// Full shards before the scope (read only).
    index: &'s ShardBits,
    /// Key and number of the session whose reservations are accepted.
    key: u64,
    session: u64,
    /// Every block below it was acquired before the scope.
    floor: u64,
    /// The session's reservations: where each one's acquires start.
    table: &'s [crate::reservation::Slot],
    slots: Mutex<Vec<Arc<Slot>>>,
}

/// Sizes and the session, never the words.
impl std::fmt::Debug for Acquirer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cursors = self.slots.lock().map_or(0, |slots| slots.len());
        f.debug_struct("Acquirer")
            .field("words", &self.words.len())
            .field("session", &self.session)
            .field("reservations", &self.table.len())
            .field("cursors", &cursors)
            .finish()
    }
}

impl Acquirer<'_> {
    /// A cursor that acquires from `reservation`, which must belong to the
    /// set's current session and have no cursor yet in this scope (its
    /// words are then its cursor's alone).
    pub fn cursor(&self, reservation: &Reservation) -> Result<Cursor<'_>, Error> {
        if reservation.key() != self.key {
            return Err(crate::reservation::rejected(reservation, self.session));
        }
        let from = reservation.block_base();
        let to = from + reservation.block_count();
        let slot = Arc::new(Slot {
            base: from,
            reservation: reservation.slot(),
            ..Slot::default()
        });
        // Every block of the range below it is acquired: the search starts
        // there (or at the floor, when higher).
        let position = self.table[reservation.slot()].position;
        {
            let mut slots = self
                .slots
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            // Reservations of a session never overlap, so the base names one.
            if slots.iter().any(|s| s.base == from) {
                return Err(Error::CursorExists { address: from + 1 });
            }
            slots.push(Arc::clone(&slot));
        }
        debug_assert!(to <= words::blocks_in(self.words.len()));
        // The words of the range that hold no block of a neighbour.
        let own = words::words_within(&(from..to));
        Ok(Cursor {
            acquirer: self,
            slot,
            next: position.max(self.floor),
            to,
            own_from: own.start,
            own_to: own.end,
            count: 0,
        })
    }
}

/// One thread's handle on one reservation: acquires its blocks in the order
/// [`FreeSet::acquire`] would.
pub struct Cursor<'a> {
    acquirer: &'a Acquirer<'a>,
    slot: Arc<Slot>,
    /// Every block of the range below it is acquired.
    next: u64,
    /// End of the reservation's range.
    to: u64,
    /// Words `own_from..own_to` lie wholly inside the range: no other cursor
    /// writes them.
    /// `own_to` is the word of `to`, whose blocks from `to` on (if any) are
    /// past the range (see `words::words_within`).
    own_from: usize,
    own_to: usize,
    count: u64,
}

/// Its range and position, never the words.
impl std::fmt::Debug for Cursor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("base", &self.slot.base)
            .field("next", &self.next)
            .field("to", &self.to)
            .field("count", &self.count)
            .finish()
    }
}

impl Cursor<'_> {
    /// Acquires the lowest free block of the reservation's range and returns
    /// its address; `None` when the range has no free block left.
    #[inline]
    pub fn acquire(&mut self) -> Option<u64> {
        let words = self.acquirer.words;
        while self.next < self.to {
            let word = words::word_of(self.next);
            let value = words[word].load(Relaxed);
            // Free blocks of this word from `next` on; past the range's end
            // only in the edge word, which the check below covers.
            let mut free = !value & words::mask_from(self.next);
            if word >= self.own_to {
                free &= words::limit_mask_past_start(self.to, word);
            }
            if free == 0 {
                self.next = self.skip_from(word + 1);
                continue;
            }
            let bit = free & free.wrapping_neg();
            if (self.own_from..self.own_to).contains(&word) {
                // Ours alone: the load above is still the word's value.
                words[word].store(value | bit, Relaxed);
            } else {
                // The edge of the range: the neighbour's cursor may take
                // other bits of this word at the same time.
                let old = words[word].fetch_or(bit, Relaxed);
                debug_assert_eq!(old & bit, 0, "a block of this range is this cursor's");
            }
            let block = words::block_at(word, bit.trailing_zeros());
            self.next = block + 1;
            self.count += 1;
            // Published as it goes (two stores to this cursor's own cache
            // line), so that even a leaked cursor is counted.
            self.slot.last.store(block, Relaxed);
            self.slot.count.store(self.count, Relaxed);
            return Some(block + 1);
        }
        None
    }

    /// Where the search goes on from word `word`: past shards that were full
    /// before the scope (and below the range's end).
    fn skip_from(&self, word: usize) -> u64 {
        let block = words::first_block(word);
        if !block.is_multiple_of(SHARD_BLOCKS) || block >= self.to {
            return block;
        }
        let shards = words::shards_touched(&(block..self.to));
        match self.acquirer.index.first_clear(shards.start, shards.end) {
            Some(shard) => words::shard_blocks(shard).start.max(block),
            None => self.to,
        }
    }

    /// Blocks this cursor acquired.
    pub fn count(&self) -> u64 {
        self.count
    }
}
