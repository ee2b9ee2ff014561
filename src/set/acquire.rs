//! Reservations and acquisition: `reserve`, `acquire` and `forfeit`, and
//! the searches they share (the first free block of a range, the n-th free
//! block from a position, the shards that are not full). Everything derived
//! from `acquired` is brought along a word at a time, in
//! `after_word_changed`, the one cold path every acquire goes through when a
//! word fills. The fast path leaves the word it acquires in, an *open word*,
//! to be counted and marked later: `open_words.rs`.
//!
//! What must never happen here: a block handed out twice, or outside its
//! reservation; a search that depends on the tier (every tier's kernels give
//! the same answer); derived state left behind after a word changes.

use super::FreeSet;
use crate::error::Error;
use crate::reservation::Reservation;
use crate::scan;
use crate::words::{self, limit_mask};

impl FreeSet {
    /// Reserves `n` free blocks after the ones already reserved in this session.
    /// `Ok(None)` when there are not `n` free blocks left below the limit.
    pub fn reserve(&mut self, n: u64) -> Result<Option<Reservation>, Error> {
        let from = self.reserve_from(n)?;
        let Some(last) = self.nth_free(from, n) else {
            return Ok(None);
        };
        debug_assert!(last >= from && last < self.limit);
        let reservation = self
            .reservations
            .reserve(last + 1, self.whole_end, self.floor);
        self.count_position(reservation.slot());
        Ok(Some(reservation))
    }

    /// The checks `reserve` and `reserve_extent` share, in their order (a
    /// zero count, a set not opened, a session that is forfeiting, no room
    /// for its slot), then the first block a new reservation of this
    /// session may cover.
    pub(super) fn reserve_from(&mut self, n: u64) -> Result<u64, Error> {
        if n == 0 {
            return Err(Error::ReserveZero);
        }
        if !self.opened {
            return Err(Error::NotOpened);
        }
        self.reservations.check_reserve()?;
        Ok(self.reservations.reserved_until())
    }

    /// Acquires the lowest free block of the reservation's range and returns its
    /// address; `Ok(None)` when the range has no free block left.
    #[inline]
    pub fn acquire(&mut self, reservation: &Reservation) -> Result<Option<u64>, Error> {
        self.reservations.check(reservation)?;
        // Fast path: most acquires find a free block in the word the search
        // starts in: the word of the reservation's position (every block
        // of its range below it is acquired), where its fill goes on (the
        // position moves on as soon as its word fills). Each reservation
        // has its own, so that jobs acquiring in turn each start where they
        // left off.
        //
        // Its bounds are the slot's, read beside the position: `fast_end`
        // (`reservation::fast_end`) is 0 while the position's word starts
        // before the range, and else the range's end or `whole_end`, the
        // first block of the limit's word, when lower. So `pos < fast_end`
        // says at once that every block of the word before `pos` lies in
        // the range (so is acquired), that the range has blocks left, and
        // that the word is below the limit's (so a word it fills is `!0`);
        // everything else goes the slow way.
        //
        // Adding one to the word then carries through its taken bits at the
        // bottom and stops at the lowest free bit, at or after `pos`.
        // `next` has that bit set, nothing below it, and `old`'s bits above
        // it (0 when every bit is taken); `old | next` is `old` with that
        // one bit set. Two operations from the loaded word to the stored
        // one: the chain that runs from one acquire to the next when they
        // land in the same word.
        let slot = reservation.slot();
        let (pos, fast_end) = self.reservations.fast_path(slot);
        debug_assert!(pos >= reservation.block_base());
        debug_assert_eq!(
            fast_end,
            crate::reservation::fast_end(
                pos,
                reservation.block_base(),
                reservation.block_base() + reservation.block_count(),
                self.whole_end
            )
        );
        if pos < fast_end {
            let word = words::word_of(pos);
            debug_assert!(fast_end <= self.whole_end && self.whole_end <= self.capacity());
            debug_assert!(word < self.acquired.len());
            // SAFETY: `pos < fast_end`, and a slot's fast end is never above
            // the set's `whole_end` (`reservation::fast_end` returns 0 or a
            // minimum with it, and the set passes its own when it reserves
            // and places positions; a set's `whole_end` and bitsets do not
            // change while it has slots: only a new set, whose session is
            // new, has others). `whole_end` is at most the capacity, the
            // bits of `acquired`'s words. So `word` is one of its words.
            // Unchecked because the bounds check (a load of the length, a
            // compare and a branch) was a tenth of the time of an acquire
            // that fills a set (perf/notes.md).
            let bits = unsafe { self.acquired.get_unchecked_mut(word) };
            let old = *bits;
            debug_assert_eq!(
                old | words::mask_before(pos),
                old,
                "blocks before pos acquired"
            );
            // Zero when the word is full.
            if let Some(next) = std::num::NonZeroU64::new(old.wrapping_add(1)) {
                // The block's address (its index plus one), compared with the
                // fast end as an address: one `lea` for both.
                let address = words::word_start(pos) + 1 + u64::from(next.trailing_zeros());
                if address <= fast_end {
                    let new = old | next.get();
                    debug_assert_eq!(new, old | words::bit_mask(address - 1));
                    debug_assert!(address > pos);
                    *bits = new;
                    // No test of `old == 0`, and no count: the word is the
                    // position's, an open word, whose blocks the summaries
                    // and the free count learn of later (the module's doc).
                    if new == !0 {
                        self.after_word_changed(word, old, new, slot);
                    }
                    return Ok(Some(address));
                }
            }
        }
        Ok(self.acquire_searching(reservation))
    }

    /// `acquire` past the word it starts in: a search through the index,
    /// from the reservation's position (or the floor, when higher).
    #[inline(never)]
    pub(super) fn acquire_searching(&mut self, reservation: &Reservation) -> Option<u64> {
        let slot = reservation.slot();
        let position = self.reservations.table[slot].position;
        let to = reservation.block_base() + reservation.block_count();
        debug_assert!(to <= self.limit);
        let found = self.first_free(position, to);
        // Every block from where the search started up to what it found
        // (or up to `to`) is acquired, so every word before the one it
        // stopped in is full: the position moves on to that word, and so
        // does the floor if the search started there. (The found block's
        // word moves both on if this acquire fills it.)
        let stop = words::word_start(found.unwrap_or(to));
        if position <= self.floor {
            self.floor = self.floor.max(stop);
        }
        let moved = position.max(stop);
        if words::word_of(moved) != words::word_of(position) {
            // The position leaves its open word with nothing there left to
            // count or mark. The search passed the word, so every block of
            // the range there is acquired. If the fast path took any, it
            // could (the range starts at or before the word), and it failed
            // now: the word is full (and the fill counted, marked and left
            // it, so the position is not there), or its next free block is
            // past the range's end (then the range ends in the word, and
            // the search, which stops there, does not move the position
            // out). A word marked by `set_acquired`, or by another
            // reservation whose range shares it, is marked already.
            debug_assert_eq!(
                self.uncounted(&self.reservations.table[slot]),
                0,
                "the position leaves uncounted blocks"
            );
            debug_assert!(
                {
                    let word = words::word_of(position);
                    !self.holds_acquired(word)
                        || self.marked(word)
                        || self
                            .reservations
                            .table
                            .iter()
                            .enumerate()
                            .any(|(other, entry)| {
                                other != slot && words::word_of(entry.position) == word
                            })
                },
                "the position leaves an unmarked word"
            );
            self.place_position(slot, moved);
        }
        let block = found?;
        self.set_acquired(block, slot);
        Some(block + 1)
    }

    /// Gives a reservation back. When it was the last active one the session
    /// ends, and every reservation of it is rejected from then on. A
    /// reservation may be forfeited once ([`Error::AlreadyForfeited`]
    /// otherwise); it can still acquire until its session ends.
    pub fn forfeit(&mut self, reservation: &Reservation) -> Result<(), Error> {
        self.reservations.check(reservation)?;
        if self.reservations.active() == 1 {
            // This forfeit may end the session, and the table of positions
            // with it.
            self.fold_open_words();
        }
        self.reservations.forfeit(reservation)
    }

    /// Number of active reservations.
    pub fn count_reservations(&self) -> u64 {
        self.reservations.active()
    }

    /// Marks a free block acquired for the reservation in `slot` and brings
    /// the index and counters along.
    pub(super) fn set_acquired(&mut self, block: u64, slot: usize) {
        let word = words::word_of(block);
        let old = self.acquired[word];
        debug_assert!(block < self.limit && old & words::bit_mask(block) == 0);
        let new = old | words::bit_mask(block);
        self.acquired[word] = new;
        self.free_count -= 1;
        // Counted here: the open word's count must not count it again.
        let entry = &mut self.reservations.table[slot];
        if words::word_of(entry.position) == word {
            entry.counted += 1;
        }
        if old == 0 || new == !0 || word == self.limit_word {
            self.after_word_changed(word, old, new, slot);
        }
    }

    /// Brings the summaries, the index, the floor and the position of the
    /// reservation in `slot` along after it acquired a block of `word` and
    /// the word went from `old` to `new`: called when it was empty (from
    /// the slow path), or is full (or holds the limit), and only then.
    #[cold]
    pub(super) fn after_word_changed(&mut self, word: usize, old: u64, new: u64, slot: usize) {
        debug_assert!(new != old && new & old == old && (new ^ old).count_ones() == 1);
        debug_assert!(old == 0 || new == !0 || word == self.limit_word);
        // The fast path does not tell a word's first block (the word is
        // open: see the module's doc), so this marks it every time: a
        // word that fills may leave the position below.
        self.mark_used(word);
        // Only a word that just became full below the limit can make its
        // shard full, or be passed by the floor.
        let mask = if word == self.limit_word {
            self.limit_word_mask
        } else {
            !0
        };
        if new & mask != mask {
            return;
        }
        if words::first_block(word) == self.floor {
            self.floor += words::WORD_BITS;
        }
        if words::word_of(self.reservations.table[slot].position) == word {
            self.leave_filled_word(slot, word);
        }
        let shard = words::shard_of_word(word);
        if self.shard_is_full(shard) {
            self.index.set(shard);
        }
    }

    /// Bits of word `word` that stand for blocks below the limit.
    #[inline]
    pub(super) fn word_mask(&self, word: usize) -> u64 {
        limit_mask(self.limit, word)
    }

    pub(super) fn shard_is_full(&self, shard: usize) -> bool {
        let blocks = words::shard_blocks(shard);
        let (from, to) = (blocks.start, blocks.end.min(self.limit));
        // Shards mostly fill from the front, so the last word tells first.
        let last = words::word_of(to - 1);
        let mask = if last == self.limit_word {
            self.limit_word_mask
        } else {
            !0
        };
        self.acquired[last] & mask == mask
            && scan::first_zero(&self.acquired, from as usize, to as usize).is_none()
    }

    /// Lowest free block in `[from, to)`: starts at the floor word when that is
    /// higher and skips full shards through the index.
    pub(super) fn first_free(&self, from: u64, to: u64) -> Option<u64> {
        let mut pos = from.max(self.floor);
        if pos >= to {
            return None;
        }
        // Fast path: the word the search starts in.
        let word = words::word_of(pos);
        let free = !self.acquired[word] & words::mask_from(pos);
        if free != 0 {
            let block = words::block_at(word, free.trailing_zeros());
            return (block < to).then_some(block);
        }
        pos = words::first_block(word + 1);
        while pos < to {
            let shard = self.next_open_shard(pos, to)?;
            let blocks = words::shard_blocks(shard);
            pos = pos.max(blocks.start);
            let end = blocks.end.min(to);
            if let Some(b) = scan::first_zero(&self.acquired, pos as usize, end as usize) {
                return Some(b as u64);
            }
            pos = end;
        }
        None
    }

    /// The first shard that is not full among those holding `[pos, to)`.
    #[inline]
    pub(super) fn next_open_shard(&self, pos: u64, to: u64) -> Option<usize> {
        debug_assert!(pos < to && to <= self.capacity());
        let shards = words::shards_touched(&(pos..to));
        self.index.first_clear(shards.start, shards.end)
    }

    /// The `n`-th free block at or after `from` and below the limit.
    pub(super) fn nth_free(&self, from: u64, n: u64) -> Option<u64> {
        debug_assert!(n >= 1);
        if n > self.free_count {
            return None;
        }
        let mut left = n;
        let mut pos = from.max(self.floor);
        while pos < self.limit {
            // Full shards hold no free block: they count for nothing.
            let shard = self.next_open_shard(pos, self.limit)?;
            let blocks = words::shard_blocks(shard);
            pos = pos.max(blocks.start);
            let end = blocks.end.min(self.limit);
            match scan::nth_zero(&self.acquired, pos as usize, end as usize, left) {
                Ok(b) => return Some(b as u64),
                Err(seen) => left -= seen,
            }
            pos = end;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    //! The fast path's bounds (`Slot::fast_end`, and the unchecked index
    //! they allow) at every edge: a limit at the capacity (the fast path
    //! reaches the bitset's last word), inside the last word, one block
    //! into a word, and ranges that start and end inside words.

    use super::super::{FreeSet, SHARD_BLOCKS};
    use crate::Options;

    /// Reservations of `sizes` blocks on an empty set of `limit` blocks,
    /// acquired from in turn until all are exhausted: each gives its range
    /// in order, and nothing else, which is what a naive allocator of one
    /// bit at a time would give on an empty set.
    fn in_turn(limit: u64, sizes: &[u64]) {
        let mut set = FreeSet::with_options(limit, Options::default()).unwrap();
        let jobs: Vec<_> = sizes
            .iter()
            .map(|&n| set.reserve(n).unwrap().unwrap())
            .collect();
        let mut next: Vec<u64> = jobs.iter().map(|job| job.block_base() + 1).collect();
        let mut live = jobs.len();
        while live > 0 {
            live = 0;
            for (job, next) in jobs.iter().zip(&mut next) {
                let end = job.block_base() + job.block_count() + 1;
                match set.acquire(job).unwrap() {
                    Some(address) => {
                        assert_eq!(address, *next, "limit {limit}, sizes {sizes:?}");
                        *next += 1;
                        live += 1;
                    }
                    None => assert_eq!(*next, end, "limit {limit}: exhausted early"),
                }
            }
        }
        let reserved: u64 = sizes.iter().sum();
        assert_eq!(set.count_free(), limit - reserved);
        for job in &jobs {
            set.forfeit(job).unwrap();
        }
        set.check_invariants();
        assert_eq!(set.count_free(), limit - reserved);
    }

    #[test]
    fn fills_reach_the_last_word_and_stop_at_every_edge() {
        let capacity = 2 * SHARD_BLOCKS;
        for limit in [
            capacity,
            capacity - 1,
            capacity - 63,
            capacity - 64,
            capacity - 65,
            64 * 70 + 1,
        ] {
            // One reservation of everything; one of all but the first
            // block (its first word goes the slow way).
            in_turn(limit, &[limit]);
            in_turn(limit, &[1, limit - 1]);
            // Four in turn, with ends inside words and at word ends.
            let quarter = limit / 4;
            in_turn(limit, &[quarter, quarter, quarter, limit - 3 * quarter]);
            in_turn(limit, &[63, 65, 64, 1, limit - 193]);
            in_turn(limit, &[limit - 70, 5, 65]);
        }
    }
}
