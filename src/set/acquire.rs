//! Reservations and acquisition: `reserve`, `acquire` and `forfeit`, and
//! the searches they share (the first free block of a range, the n-th free
//! block from a position, the shards that are not full). Everything derived
//! from `acquired` is brought along a word at a time, in
//! `after_word_changed`, the one cold path every acquire goes through when a
//! word fills.
//!
//! The summaries that note a word's first acquired block (its shard in
//! `acquired_shards`, its bit in the word map, the highest acquired word)
//! may lag behind the *open words*: the word at each reservation's
//! position. The fast path acquires there without asking whether the word
//! was empty (that test mispredicts once per word a fill passes, which
//! cost a sequential fill 8%: perf/notes.md); the word is folded into the
//! summaries when the position leaves it (`fold_position`), and every open
//! word when the session ends, before a copy is made, and before anything
//! reads the summaries with reservations live (`fold_open_words`).
//! `highest_acquired` looks at the open words itself.
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
        self.note_reuse_reserve(&reservation);
        Ok(Some(reservation))
    }

    /// The checks `reserve` and `reserve_extent` share, in their order (a
    /// zero count, a set not opened, a session that is forfeiting, immediate
    /// reuse's snapshot), then the first block a new reservation of this
    /// session may cover.
    pub(super) fn reserve_from(&mut self, n: u64) -> Result<u64, Error> {
        if n == 0 {
            return Err(Error::ReserveZero);
        }
        if !self.opened {
            return Err(Error::NotOpened);
        }
        self.reservations.check_reserve()?;
        self.prepare_reuse_reserve()?;
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
        // left off. It stays below `whole_end`, so that a word it fills is
        // `!0`; the limit's own word, and everything else, goes the slow
        // way. Every check here is also what keeps it exact: `block <
        // fast_end` fails too when `pos` is at or past the range's end.
        //
        // It takes only a word whose blocks before `pos` all lie in the
        // range (the range starts at or before the word), so they are all
        // acquired: then adding one to the word carries through its taken
        // bits at the bottom and stops at the lowest free bit, at or after
        // `pos`. `next` has that bit set, nothing below it, and `old`'s
        // bits above it (0 when every bit is taken); `old | next` is `old`
        // with that one bit set. Two operations from the loaded word to the
        // stored one: the chain that runs from one acquire to the next
        // when they land in the same word. (A mask of the bits before `pos`
        // would put a third on it; the range's first word, when the range
        // starts inside it, goes the slow way instead.)
        let slot = reservation.slot();
        let pos = self.reservations.position(slot);
        let word = words::word_of(pos);
        let whole_word = words::word_start(pos) >= reservation.block_base();
        if let Some(bits) = self.acquired.get_mut(word).filter(|_| whole_word) {
            let old = *bits;
            debug_assert_eq!(
                old | words::mask_before(pos),
                old,
                "blocks before pos acquired"
            );
            debug_assert_eq!(
                reservation.fast_end(),
                (reservation.block_base() + reservation.block_count()).min(self.whole_end)
            );
            debug_assert!(pos >= reservation.block_base());
            // Zero when the word is full.
            if let Some(next) = std::num::NonZeroU64::new(old.wrapping_add(1)) {
                // The block's address (its index plus one), compared with the
                // range's end as an address: one `lea` for both.
                let address = words::word_start(pos) + 1 + u64::from(next.trailing_zeros());
                if address <= reservation.fast_end() {
                    let new = old | next.get();
                    debug_assert_eq!(new, old | words::bit_mask(address - 1));
                    debug_assert!(address > pos);
                    *bits = new;
                    self.free_count -= 1;
                    // No test of `old == 0`: the word is the position's, an
                    // open word, whose first block the summaries may learn
                    // of later (see the module's doc).
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
        // No fold of the word the position leaves: the fast path failed in
        // it, so no block of the range is free there (the position moves
        // on only then), and a word the fast path acquired in is full then,
        // and marked when it filled. Any other word was marked by
        // `set_acquired`, or is open for another reservation whose range
        // shares it.
        debug_assert!(
            {
                let word = words::word_of(position);
                words::word_of(stop) <= word
                    || !self.holds_acquired(word)
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
        let position = &mut self.reservations.table[slot].position;
        *position = (*position).max(stop);
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
        let position = &mut self.reservations.table[slot].position;
        if words::word_of(*position) == word {
            *position = words::first_block(word + 1);
        }
        let shard = words::shard_of_word(word);
        if self.shard_is_full(shard) {
            self.index.set(shard);
        }
    }

    /// Notes in the summaries that `word` holds an acquired block: its
    /// shard, its bit in the word map, the highest acquired word. Marking
    /// a word twice changes nothing.
    #[inline]
    fn mark_used(&mut self, word: usize) {
        debug_assert_ne!(self.acquired[word], 0);
        self.acquired_shards.set(words::shard_of_word(word));
        self.highest.acquired = self.highest.acquired.max(word as u64 + 1);
        self.word_map.set_used(word);
    }

    /// Whether the summaries note that `word` holds an acquired block (its
    /// shard, and the highest word; the word map may be stale): for debug
    /// assertions.
    fn marked(&self, word: usize) -> bool {
        self.acquired_shards.contains(words::shard_of_word(word))
            && self.highest.acquired > word as u64
    }

    /// Folds the open word of the reservation in `slot` into the summaries,
    /// before its position moves (or the summaries are read): marks it if
    /// it holds an acquired block.
    pub(super) fn fold_position(&mut self, slot: usize) {
        let word = words::word_of(self.reservations.table[slot].position);
        self.fold_word(word);
    }

    /// Marks `word` if it holds an acquired block.
    fn fold_word(&mut self, word: usize) {
        if self.holds_acquired(word) {
            self.mark_used(word);
        }
    }

    /// Whether `word` is in the bitset and holds an acquired block (a
    /// position may be at the capacity, one word past the last).
    fn holds_acquired(&self, word: usize) -> bool {
        self.acquired.get(word).is_some_and(|&bits| bits != 0)
    }

    /// Folds every open word into the summaries (see the module's doc):
    /// after it they are exact until the next fast acquire. One step per
    /// reservation of the session.
    pub(super) fn fold_open_words(&mut self) {
        for slot in 0..self.reservations.table.len() {
            self.fold_position(slot);
        }
    }

    /// Folds the open words of another set's reservations, `table`, into
    /// this one's summaries: for a copy, whose bitsets are the other's.
    pub(super) fn fold_open_words_of(&mut self, table: &[crate::reservation::Slot]) {
        for slot in table {
            self.fold_word(words::word_of(slot.position));
        }
    }

    /// The number of words up to the highest that holds an acquired block,
    /// open words included: what `highest.acquired` is once they are folded.
    #[inline]
    pub(super) fn highest_acquired_words(&self) -> u64 {
        let mut highest = self.highest.acquired;
        for slot in &self.reservations.table {
            let word = words::word_of(slot.position);
            if self.holds_acquired(word) {
                highest = highest.max(word as u64 + 1);
            }
        }
        highest
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
    //! Open words: every way a word the fast path acquired in can lag in
    //! the summaries, and every place that must fold it. Each scenario
    //! first checks that the word does lag (so that the test tests
    //! something), then that the operation leaves the set as the same bits
    //! derived from scratch would be.

    use super::super::{FreeSet, SHARD_BLOCKS, SHARD_WORDS};
    use crate::{Options, Reservation};

    /// Blocks the scenarios acquire: two whole shards and 5 blocks into the
    /// third, whose first word is left open.
    const ACQUIRED: u64 = 2 * SHARD_BLOCKS + 5;
    const OPEN_WORD: usize = 2 * SHARD_WORDS;

    /// A set of three shards and a bit, a reservation from block 0 past
    /// the third shard's first words, and `ACQUIRED` blocks acquired from
    /// it: the third shard's first word is open and not yet in the
    /// summaries.
    fn with_open_word(options: Options) -> (FreeSet, Reservation) {
        let mut set = FreeSet::with_options(3 * SHARD_BLOCKS + 100, options).unwrap();
        let job = set.reserve(2 * SHARD_BLOCKS + 640).unwrap().unwrap();
        for address in 1..=ACQUIRED {
            assert_eq!(set.acquire(&job).unwrap(), Some(address));
        }
        assert_ne!(set.acquired[OPEN_WORD], 0);
        assert!(!set.marked(OPEN_WORD), "the word lags in the summaries");
        (set, job)
    }

    /// The same bits in a set derived from them.
    fn derived(set: &FreeSet) -> FreeSet {
        FreeSet::from_acquired_words(set.limit, set.acquired.clone()).unwrap()
    }

    #[test]
    fn highest_acquired_sees_open_words() {
        let (set, _job) = with_open_word(Options::new());
        assert_eq!(set.highest_acquired(), Some(ACQUIRED));
        assert_eq!(set.highest_acquired(), derived(&set).highest_acquired());
    }

    #[test]
    fn a_copy_folds_open_words() {
        let (set, _job) = with_open_word(Options::new());
        for copy in [set.clone(), set.try_clone().unwrap()] {
            copy.check_invariants();
            assert!(copy.marked(OPEN_WORD));
            assert_eq!(copy.encode().unwrap(), derived(&set).encode().unwrap());
        }
    }

    #[test]
    fn the_last_forfeit_folds_open_words() {
        let (mut set, job) = with_open_word(Options::new());
        let second = set.reserve(10).unwrap().unwrap();
        set.forfeit(&job).unwrap();
        assert!(!set.marked(OPEN_WORD), "a session goes on: still open");
        set.forfeit(&second).unwrap();
        set.check_invariants();
        assert_eq!(set.encode().unwrap(), derived(&set).encode().unwrap());
    }

    #[test]
    fn reset_clears_open_words() {
        let (mut set, _job) = with_open_word(Options::new());
        set.reset();
        assert!(set.acquired.iter().all(|&word| word == 0));
        assert_eq!(set.count_acquired(), 0);
    }

    #[test]
    fn an_extent_acquire_folds_the_word_it_leaves() {
        let (mut set, job) = with_open_word(Options::new());
        // The run goes from the open word's sixth block to the range's end,
        // past the word: the position leaves it.
        let run = set.acquire_extent(&job).unwrap().unwrap();
        assert_eq!(run, ACQUIRED + 1..2 * SHARD_BLOCKS + 640 + 1);
        set.forfeit(&job).unwrap();
        set.check_invariants();
        assert_eq!(set.highest_acquired(), Some(2 * SHARD_BLOCKS + 640));
    }

    #[test]
    fn a_block_freed_at_once_folds_the_word_its_position_leaves() {
        let (mut set, job) = with_open_word(Options::new().immediate_reuse(true));
        // Block 0 was never in a checkpoint: freed at once, and the
        // reservation's position goes back to it, out of the open word.
        set.release(1).unwrap();
        assert!(set.is_free(1).unwrap());
        assert_eq!(set.highest_acquired(), Some(ACQUIRED));
        assert_eq!(set.acquire(&job).unwrap(), Some(1));
        set.forfeit(&job).unwrap();
        set.check_invariants();
        assert_eq!(set.highest_acquired(), Some(ACQUIRED));
    }
}
