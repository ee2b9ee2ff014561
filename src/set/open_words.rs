//! The open words: the word at each reservation's position, where alone
//! the fast path of `acquire` takes blocks, and where it leaves two things
//! for later.
//!
//! - **The summaries** that note a word's first acquired block (its shard
//!   in `acquired_shards`, its bit in the word map, the highest acquired
//!   word). The fast path does not ask whether the word was empty: that
//!   test mispredicts once per word a fill passes, which cost a sequential
//!   fill 8% (perf/notes.md).
//! - **The free count.** The fast path does not decrement it: a load and a
//!   store of one counter per acquire, 0.2-0.3 ns of 1.65 (perf/notes.md).
//!   Each reservation's slot keeps how many blocks of its range in its
//!   open word the count has counted (`Slot::counted`); the count lags by
//!   the acquired blocks of the range there less that. Only the range's
//!   bits count, so that a neighbour whose range shares the word (and
//!   counts its own blocks) never shows in it.
//!
//! An open word is *folded* (`fold_position`: counted, and marked if it
//! holds a block) before its position moves (`place_position` then notes
//! the new word's count), before anything but the fast path changes a bit
//! of its range (a slow acquire there counts its block in the slot too,
//! `set_acquired`; an extent; a block freed at once; a scope of cursors),
//! and every open word when the session ends, before a copy is made, and
//! before `reset` (`fold_open_words`). A word the fast path fills is
//! counted without a popcount (`leave_filled_word`). Readers during a
//! session add the lag up (`free_blocks`: `count_free`, `count_acquired`)
//! or look at the open words (`highest_acquired_words`): one step per
//! reservation. The stored count is never below the true one, so a search
//! may still stop on it.
//!
//! What must never happen here: a block counted twice or never (a count
//! that disagrees with the bitset once the open words are folded), a fold
//! that changes a bit, or a read of the summaries with an open word
//! unfolded.

use super::FreeSet;
use crate::reservation::Slot;
use crate::words::{self, limit_mask};

/// Acquired blocks of `entry`'s range in its open word (none when the
/// position is at the capacity, one word past the last).
#[inline]
fn range_acquired(acquired: &[u64], entry: &Slot) -> u32 {
    let word = words::word_of(entry.position);
    let Some(&bits) = acquired.get(word) else {
        return 0;
    };
    // The range's blocks below the position are all acquired (the slot's
    // invariant): counted without looking. Past it, mostly none are (a
    // fill's next word, an exhausted range), and then there is no popcount
    // (the library is built for the base x86-64, where it is a dozen
    // instructions).
    let first = words::first_block(word);
    let below = entry
        .position
        .min(entry.end)
        .saturating_sub(entry.base.max(first));
    let past = bits & words::mask_from(entry.position) & limit_mask(entry.end, word);
    debug_assert!(entry.position >= entry.base);
    debug_assert_eq!(below, {
        let range = limit_mask(entry.end, word) & !limit_mask(entry.base, word);
        let before = range & words::mask_before(entry.position);
        assert_eq!(
            bits & before,
            before,
            "the range is acquired below its position"
        );
        u64::from(before.count_ones())
    });
    below as u32 + if past == 0 { 0 } else { past.count_ones() }
}

/// Blocks of `entry`'s range in `word`, acquired or not.
#[inline]
fn range_blocks(entry: &Slot, word: usize) -> u32 {
    let first = words::first_block(word);
    let (from, to) = (
        entry.base.max(first),
        entry.end.min(first + words::WORD_BITS),
    );
    to.saturating_sub(from) as u32
}

impl FreeSet {
    /// Moves the position of the reservation in `slot` past `word`, its
    /// open word, which just filled: every block of the range there is
    /// acquired, so those the free count has not counted yet are counted
    /// without a popcount.
    pub(super) fn leave_filled_word(&mut self, slot: usize, word: usize) {
        let entry = &mut self.reservations.table[slot];
        debug_assert_eq!(words::word_of(entry.position), word);
        let acquired = range_blocks(entry, word);
        debug_assert_eq!(acquired, range_acquired(&self.acquired, entry));
        debug_assert!(acquired >= entry.counted);
        self.free_count -= u64::from(acquired - entry.counted);
        entry.counted = acquired;
        self.place_position(slot, words::first_block(word + 1));
    }

    /// Notes in the summaries that `word` holds an acquired block: its
    /// shard, its bit in the word map, the highest acquired word. Marking
    /// a word twice changes nothing.
    #[inline]
    pub(super) fn mark_used(&mut self, word: usize) {
        debug_assert_ne!(self.acquired[word], 0);
        self.acquired_shards.set(words::shard_of_word(word));
        self.highest.acquired = self.highest.acquired.max(word as u64 + 1);
        self.word_map.set_used(word);
    }

    /// Whether the summaries note that `word` holds an acquired block (its
    /// shard, and the highest word; the word map may be stale): for debug
    /// assertions and the tests.
    pub(super) fn marked(&self, word: usize) -> bool {
        self.acquired_shards.contains(words::shard_of_word(word))
            && self.highest.acquired > word as u64
    }

    /// Folds the open word of the reservation in `slot` into the free
    /// count and the summaries, before its position moves, before anything
    /// but the fast path changes a bit of its range there, or before the
    /// summaries are read: counts the blocks the fast path acquired there,
    /// and marks the word if it holds an acquired block.
    pub(super) fn fold_position(&mut self, slot: usize) {
        let entry = &self.reservations.table[slot];
        if entry.position >= entry.end {
            // An exhausted range (every extent's, once acquired): the fast
            // path takes nothing at or past the range's end, so it took
            // nothing since the position was placed here and counted; what
            // it took before was folded when the position moved.
            debug_assert_eq!(self.uncounted(entry), 0);
            return;
        }
        let (uncounted, word) = (self.uncounted(entry), words::word_of(entry.position));
        self.free_count -= uncounted;
        self.reservations.table[slot].counted += uncounted as u32;
        self.fold_word(word);
    }

    /// Moves the position of the reservation in `slot` to `position` (on or
    /// back), and notes what the free count has counted of its new open
    /// word: all of it. The caller has counted every block the range holds
    /// acquired (a fold, then its own changes), so that nothing is lost or
    /// counted twice; it also marks what the summaries need.
    pub(super) fn place_position(&mut self, slot: usize, position: u64) {
        self.reservations.table[slot].place(position, self.whole_end);
        self.count_position(slot);
    }

    /// Notes that the free count has counted every acquired block of the
    /// range in the open word of the reservation in `slot` (true after a
    /// fold, or when its position is new).
    pub(super) fn count_position(&mut self, slot: usize) {
        let entry = &mut self.reservations.table[slot];
        entry.counted = range_acquired(&self.acquired, entry);
    }

    /// Blocks of `entry`'s range in its open word that the fast path
    /// acquired and the free count has not counted yet.
    pub(super) fn uncounted(&self, entry: &Slot) -> u64 {
        let now = range_acquired(&self.acquired, entry);
        debug_assert!(now >= entry.counted, "the counted blocks are acquired");
        u64::from(now - entry.counted)
    }

    /// Free blocks below the limit: the free count less what the fast path
    /// acquired in the open words and it has not counted yet. One step per
    /// reservation of the session (none once it ends).
    #[inline]
    pub(super) fn free_blocks(&self) -> u64 {
        if self.reservations.table.is_empty() {
            // No session: nothing is open.
            return self.free_count;
        }
        self.free_blocks_in_session()
    }

    /// [`FreeSet::free_blocks`] during a session, out of line: the load
    /// and the test above are all a caller inlines.
    #[inline(never)]
    fn free_blocks_in_session(&self) -> u64 {
        let table = &self.reservations.table;
        let uncounted: u64 = table.iter().map(|entry| self.uncounted(entry)).sum();
        self.free_count - uncounted
    }

    /// Marks `word` if it holds an acquired block.
    fn fold_word(&mut self, word: usize) {
        if self.holds_acquired(word) {
            self.mark_used(word);
        }
    }

    /// Whether `word` is in the bitset and holds an acquired block (a
    /// position may be at the capacity, one word past the last).
    pub(super) fn holds_acquired(&self, word: usize) -> bool {
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
    /// this one's free count and summaries: for a copy, whose bitsets are
    /// the other's.
    pub(super) fn fold_open_words_of(&mut self, table: &[Slot]) {
        for entry in table {
            self.free_count -= self.uncounted(entry);
            self.fold_word(words::word_of(entry.position));
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
}

#[cfg(test)]
mod tests {
    //! Open words: every way a word the fast path acquired in can lag in
    //! the summaries and the free count, and every place that must fold
    //! it. The scenarios built on `with_open_word` first check that the
    //! word does lag (so that the test tests something); each checks that
    //! the operation leaves the set as the same bits derived from scratch
    //! would be.

    use super::super::{FreeSet, SHARD_BLOCKS, SHARD_WORDS};
    use crate::{Options, Reservation};

    /// Blocks the scenarios acquire: two whole shards and 5 blocks into the
    /// third, whose first word is left open.
    const ACQUIRED: u64 = 2 * SHARD_BLOCKS + 5;
    const OPEN_WORD: usize = 2 * SHARD_WORDS;

    /// A set of three shards and a bit, a reservation from block 0 past
    /// the third shard's first words, and `ACQUIRED` blocks acquired from
    /// it: the third shard's first word is open, not yet in the summaries,
    /// and its 5 blocks not yet in the stored free count.
    fn with_open_word(options: Options) -> (FreeSet, Reservation) {
        let mut set = FreeSet::with_options(3 * SHARD_BLOCKS + 100, options).unwrap();
        let job = set.reserve(2 * SHARD_BLOCKS + 640).unwrap().unwrap();
        for address in 1..=ACQUIRED {
            assert_eq!(set.acquire(&job).unwrap(), Some(address));
        }
        assert_ne!(set.acquired[OPEN_WORD], 0);
        assert!(!set.marked(OPEN_WORD), "the word lags in the summaries");
        assert_eq!(set.free_count, set.limit - ACQUIRED + 5, "and in the count");
        (set, job)
    }

    /// The same bits in a set derived from them.
    fn derived(set: &FreeSet) -> FreeSet {
        FreeSet::from_acquired_words(set.limit, set.acquired.clone()).unwrap()
    }

    /// The counts agree with the same bits derived from scratch.
    fn assert_counts(set: &FreeSet) {
        let derived = derived(set);
        assert_eq!(set.count_free(), derived.count_free());
        assert_eq!(set.count_acquired(), derived.count_acquired());
    }

    #[test]
    fn the_queries_see_open_words() {
        let (set, _job) = with_open_word(Options::new());
        assert_eq!(set.highest_acquired(), Some(ACQUIRED));
        assert_eq!(set.highest_acquired(), derived(&set).highest_acquired());
        assert_eq!(set.count_acquired(), ACQUIRED);
        assert_counts(&set);
    }

    #[test]
    fn a_copy_folds_open_words() {
        let (set, _job) = with_open_word(Options::new());
        for copy in [set.clone(), set.try_clone().unwrap()] {
            copy.check_invariants();
            assert!(copy.marked(OPEN_WORD));
            assert_eq!(copy.free_count, derived(&set).free_count);
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
        assert_eq!(set.free_count, derived(&set).free_count);
        assert_eq!(set.encode().unwrap(), derived(&set).encode().unwrap());
    }

    #[test]
    fn reset_clears_open_words() {
        let (mut set, _job) = with_open_word(Options::new());
        set.reset();
        assert!(set.acquired.iter().all(|&word| word == 0));
        assert_eq!(set.count_acquired(), 0);
        assert_eq!(set.free_count, set.limit);
    }

    #[test]
    fn an_extent_acquire_folds_the_word_it_leaves() {
        let (mut set, job) = with_open_word(Options::new());
        // The run goes from the open word's sixth block to the range's end,
        // past the word: the position leaves it.
        let run = set.acquire_extent(&job).unwrap().unwrap();
        assert_eq!(run, ACQUIRED + 1..2 * SHARD_BLOCKS + 640 + 1);
        assert_counts(&set);
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
        assert_counts(&set);
        assert_eq!(set.acquire(&job).unwrap(), Some(1));
        assert_counts(&set);
        set.forfeit(&job).unwrap();
        set.check_invariants();
        assert_eq!(set.highest_acquired(), Some(ACQUIRED));
    }

    #[test]
    fn a_block_freed_at_once_in_the_open_word_is_counted_once() {
        let (mut set, job) = with_open_word(Options::new().immediate_reuse(true));
        // The open word's last block: the position does not move.
        set.release(ACQUIRED).unwrap();
        assert!(set.is_free(ACQUIRED).unwrap());
        assert_counts(&set);
        assert_eq!(set.acquire(&job).unwrap(), Some(ACQUIRED));
        assert_eq!(set.acquire(&job).unwrap(), Some(ACQUIRED + 1));
        assert_counts(&set);
        set.forfeit(&job).unwrap();
        set.check_invariants();
    }

    #[test]
    fn a_neighbour_in_the_open_word_is_not_counted_twice() {
        // The first range ends 6 blocks into its second word, which its
        // fast path leaves open; the second range starts there, and takes
        // its blocks of the word the slow way, counting them itself.
        let mut set = FreeSet::new(SHARD_BLOCKS).unwrap();
        let first = set.reserve(70).unwrap().unwrap();
        let second = set.reserve(100).unwrap().unwrap();
        for address in 1..=67 {
            assert_eq!(set.acquire(&first).unwrap(), Some(address));
        }
        assert_eq!(set.acquire(&second).unwrap(), Some(71));
        assert_eq!(set.acquire(&second).unwrap(), Some(72));
        assert_eq!(set.free_count, set.limit - 2 - 64, "the first lags by 3");
        assert_counts(&set);
        assert_eq!(set.acquire(&first).unwrap(), Some(68));
        assert_counts(&set);
        set.forfeit(&first).unwrap();
        set.forfeit(&second).unwrap();
        set.check_invariants();
        assert_eq!(set.count_acquired(), 70);
    }

    #[test]
    fn a_reservation_counts_what_its_first_word_holds() {
        // Three blocks of the first word acquired in a session before: the
        // next reservation's range and open word hold them.
        let mut set = FreeSet::new(SHARD_BLOCKS).unwrap();
        let before = set.reserve(3).unwrap().unwrap();
        for address in 1..=3 {
            assert_eq!(set.acquire(&before).unwrap(), Some(address));
        }
        set.forfeit(&before).unwrap();
        let job = set.reserve(100).unwrap().unwrap();
        assert_eq!(job.addresses(), 1..104);
        assert_counts(&set);
        assert_eq!(set.acquire(&job).unwrap(), Some(4));
        assert_counts(&set);
        set.forfeit(&job).unwrap();
        set.check_invariants();
    }

    #[test]
    fn a_search_that_moves_the_position_counts_its_new_word() {
        // Word 0 acquired but for block 5, word 1 full, word 2 with blocks
        // 128, 129 and 140..150 acquired.
        let mut words = vec![0u64; SHARD_WORDS];
        words[0] = !(1 << 5);
        words[1] = !0;
        words[2] = 0b11 | ((1 << 10) - 1) << 12;
        let mut set = FreeSet::from_acquired_words(SHARD_BLOCKS, words).unwrap();
        let first = set.reserve(1).unwrap().unwrap();
        let second = set.reserve(100).unwrap().unwrap();
        assert_eq!((first.block_base(), second.block_base()), (0, 6));
        // The second range starts inside word 0: its search passes word 1
        // and moves its position to word 2, over blocks it did not take.
        assert_eq!(set.acquire(&second).unwrap(), Some(131));
        assert_counts(&set);
        assert_eq!(set.acquire(&second).unwrap(), Some(132));
        assert_counts(&set);
        set.forfeit(&first).unwrap();
        set.forfeit(&second).unwrap();
        set.check_invariants();
    }

    #[test]
    fn a_scope_of_cursors_counts_the_open_words_first() {
        let (mut set, job) = with_open_word(Options::new());
        let taken = set.acquire_concurrently(|acquirer| {
            let mut cursor = acquirer.cursor(&job).unwrap();
            (0..10)
                .map(|_| cursor.acquire().unwrap())
                .collect::<Vec<u64>>()
        });
        assert_eq!(taken, (ACQUIRED + 1..=ACQUIRED + 10).collect::<Vec<u64>>());
        assert_counts(&set);
        assert_eq!(set.acquire(&job).unwrap(), Some(ACQUIRED + 11));
        assert_counts(&set);
        set.forfeit(&job).unwrap();
        set.check_invariants();
        assert_eq!(set.count_acquired(), ACQUIRED + 11);
    }
}
