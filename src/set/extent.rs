//! Extents: `n` consecutive free blocks for one job, so that one I/O covers
//! them (a table, a value log segment), inside the reservation discipline.
//!
//! What lives here: [`FreeSet::reserve_extent`] (the first run of `n` free
//! blocks at or after the reserved prefix, reserved exactly),
//! [`FreeSet::acquire_extent`] (the next run of free blocks of a
//! reservation, acquired with word masks) and [`FreeSet::release_range`]
//! (a range released all or nothing); the search they share, and its
//! bit-by-bit twin for the tests.
//!
//! What must never happen here: an extent that is not the first fit (the
//! lowest start) at or after the reserved prefix, a block at or past the
//! limit, a range release that stops half-way, or derived state (counters,
//! index, summaries, the word map, the floor, positions) that disagrees
//! with the bitsets afterwards.
//!
//! # The search
//!
//! Runs of fewer than 128 blocks are searched in the block bitset by the
//! `zero_run` kernel, over each stretch of shards the index does not mark
//! full (no run crosses a full shard). Longer runs hold at least `(n + 1) /
//! 64 - 1` whole zero words, so they are searched first in the word map
//! (`summary::WordMap`, one bit per word, 64 times smaller than the
//! bitset), by the same kernel: every run of that many empty words, in
//! address order, is a candidate, and only its two edges are read in the
//! block bitset. A shard with no empty word (in scattered free space, all
//! of them) costs one bit test per word of it, 64 at a time in a vector
//! lane; the search never reads the block bitset there.

use std::ops::Range;

use super::{FreeSet, SHARD_BLOCKS};
use crate::error::Error;
use crate::reservation::Reservation;
use crate::scan;

impl FreeSet {
    /// Reserves the first run of `n` consecutive free blocks (an *extent*)
    /// at or after everything reserved so far in this session and below the
    /// limit: first fit in address order, the same on every machine and
    /// kernel tier. `Ok(None)` when there is no such run; nothing changes
    /// then.
    ///
    /// The reservation covers exactly the extent: `block_base()` is its
    /// first block and `block_count()` is `n`. The free blocks it skips
    /// (between the reserved prefix's end and the extent) stay free but no
    /// reservation of this session can reach them any more: reservations
    /// of a session never go back. They can be reserved again once the
    /// session ends. Acquire the extent with [`FreeSet::acquire_extent`]
    /// (all at once) or [`FreeSet::acquire`] (block by block, in order).
    ///
    /// Errors as [`FreeSet::reserve`]: [`Error::ReserveZero`],
    /// [`Error::NotOpened`], [`Error::Forfeiting`].
    ///
    /// The longest extent a call can find in a new session is
    /// [`Stats::largest_free_extent`](crate::Stats::largest_free_extent):
    /// `reserve_extent` of its length returns it (it is the first run that
    /// long), and of one block more returns `None`.
    ///
    /// ```
    /// use freeset::FreeSet;
    ///
    /// let mut set = FreeSet::new(10_000)?;
    /// let header = set.reserve(1)?.expect("room");
    /// let table = set.reserve_extent(64)?.expect("room");
    /// assert_eq!(table.addresses(), 2..66); // right after the first reservation
    /// assert_eq!(set.acquire_extent(&table)?, Some(2..66)); // all 64 at once
    /// assert_eq!(set.acquire_extent(&table)?, None);
    /// set.forfeit(&table)?;
    /// set.forfeit(&header)?;
    ///
    /// // Released in one call, all or nothing.
    /// set.release_range(2, 64)?;
    /// assert_eq!(set.count_released(), 64);
    /// # Ok::<(), freeset::Error>(())
    /// ```
    pub fn reserve_extent(&mut self, n: u64) -> Result<Option<Reservation>, Error> {
        let from = self.reserve_from(n)?;
        let Some(start) = self.find_extent(from, self.limit, n) else {
            return Ok(None);
        };
        if cfg!(debug_assertions) && self.capacity() <= NAIVE_CHECK_BLOCKS_MAX {
            assert_eq!(
                extent_naive(&self.acquired, from, self.limit, n),
                Some(start)
            );
        }
        let reservation =
            self.reservations
                .reserve_at(start, start + n, self.whole_end, self.floor);
        // The extent is free: its slot's count of acquired blocks, 0, is
        // right as it is.
        debug_assert_eq!(
            self.uncounted(&self.reservations.table[reservation.slot()]),
            0
        );
        Ok(Some(reservation))
    }

    /// Acquires the next run of free blocks of the reservation's range, all
    /// at once: its lowest free block and every free block after it up to
    /// the first acquired one (or the range's end). Returns their
    /// addresses; `Ok(None)` when the range has no free block left. For a
    /// reservation from [`FreeSet::reserve_extent`] that nothing acquired
    /// from yet, the run is the whole extent.
    ///
    /// The blocks are those that many [`FreeSet::acquire`] calls would
    /// return, in order; any reservation may use it.
    /// [`Error::StaleReservation`] or [`Error::ForeignReservation`] as for
    /// `acquire`.
    pub fn acquire_extent(
        &mut self,
        reservation: &Reservation,
    ) -> Result<Option<Range<u64>>, Error> {
        self.reservations.check(reservation)?;
        let slot = reservation.slot();
        // The position moves on below, and the run may start in its open
        // word; `acquire_run` counts the run.
        self.fold_position(slot);
        let position = self.reservations.table[slot].position;
        let to = reservation.block_base() + reservation.block_count();
        debug_assert!(to <= self.limit);
        let Some(first) = self.first_free(position, to) else {
            // Every block of the range is acquired.
            self.place_position(slot, position.max(to));
            return Ok(None);
        };
        let end = self.run_end(first, to);
        self.acquire_run(first, end);
        self.place_position(slot, position.max(end));
        self.check_invariants();
        Ok(Some(first + 1..end + 1))
    }

    /// Releases the `count` blocks from `address` on, all or nothing:
    /// exactly what `release` of each of them in turn would do, if every
    /// one of those calls would succeed; otherwise the error of the first
    /// that would fail (in address order: the first bad block), and
    /// nothing changes. `count == 0` releases nothing and succeeds.
    ///
    /// Errors as [`FreeSet::release`], for the first bad block:
    /// [`Error::AddressOutOfRange`] (address 0, or the first address past
    /// the capacity), [`Error::NotAcquired`], [`Error::AlreadyReleased`],
    /// [`Error::TrailerBlock`]. With immediate reuse, the blocks outside the
    /// snapshot are free at once, as for `release`.
    pub fn release_range(&mut self, address: u64, count: u64) -> Result<(), Error> {
        if count == 0 {
            return Ok(());
        }
        let capacity = self.capacity();
        let out_of_range = |address| Error::AddressOutOfRange { address, capacity };
        if address == 0 {
            return Err(out_of_range(0));
        }
        if address > capacity {
            return Err(out_of_range(address));
        }
        // Blocks `first..stop` are inside the capacity; the range goes past
        // it when `stop - first < count`.
        let first = address - 1;
        let stop = first.saturating_add(count).min(capacity);
        if let Some(bad) = self.first_unreleasable(first, stop) {
            let error = self.check_release(bad);
            debug_assert!(error.is_err());
            return error;
        }
        if stop - first < count {
            return Err(out_of_range(capacity + 1));
        }
        let mut freed = false;
        for block in first..stop {
            freed |= self.release_checked(block);
        }
        if freed {
            self.check_invariants();
        }
        Ok(())
    }

    /// The lowest block of `[first, stop)` that `release` would refuse.
    fn first_unreleasable(&self, first: u64, stop: u64) -> Option<u64> {
        debug_assert!(first < stop && stop <= self.capacity());
        let mut found = None;
        let (w0, w1) = ((first / 64) as usize, ((stop - 1) / 64) as usize);
        for word in w0..=w1 {
            let mask = range_mask(first, stop, word);
            let bad = mask & (!self.acquired[word] | self.released[word] | self.pending[word]);
            if bad != 0 {
                found = Some(word as u64 * 64 + u64::from(bad.trailing_zeros()));
                break;
            }
        }
        // The blocks of a trailer a commit made, acquired and not released.
        if !self.trailer.released {
            let addresses = &self.trailer.addresses;
            let at = addresses.partition_point(|&a| a <= first);
            if let Some(&address) = addresses.get(at) {
                let block = address - 1;
                if block < stop && found.is_none_or(|f| block < f) {
                    found = Some(block);
                }
            }
        }
        found
    }

    /// The first block at or after `first` (free) that is acquired, or
    /// `to`.
    fn run_end(&self, first: u64, to: u64) -> u64 {
        debug_assert!(first < to && to <= self.limit);
        let mut word = (first / 64) as usize;
        let used = self.acquired[word] & (!0u64 << (first % 64));
        if used == 0 {
            // Whole zero words, a vector at a time.
            word += 1;
            let end_word = to.div_ceil(64) as usize;
            if word < end_word {
                word += scan::uniform_run(&self.acquired[word..end_word], 0, usize::MAX);
            }
            if word >= end_word {
                return to;
            }
        }
        let bits = if word as u64 == first / 64 {
            used
        } else {
            self.acquired[word]
        };
        (word as u64 * 64 + u64::from(bits.trailing_zeros())).min(to)
    }

    /// Acquires the free blocks `[first, end)`, a word at a time, and
    /// brings the counters, summaries, word map, index, highest word and
    /// floor along.
    fn acquire_run(&mut self, first: u64, end: u64) {
        debug_assert!(first < end && end <= self.limit);
        let (w0, w1) = ((first / 64) as usize, ((end - 1) / 64) as usize);
        for word in w0..=w1 {
            let mask = range_mask(first, end, word);
            let old = self.acquired[word];
            debug_assert_eq!(old & mask, 0, "the run is free");
            self.acquired[word] = old | mask;
            if old == 0 {
                self.acquired_shards.set(word / super::SHARD_WORDS);
                self.word_map.set_used(word);
            }
        }
        self.free_count -= end - first;
        self.highest.acquired = self.highest.acquired.max(w1 as u64 + 1);
        // The floor passes the words that are now full, from where it is.
        while self.floor < self.limit && (self.floor / 64) as usize <= w1 {
            let word = (self.floor / 64) as usize;
            let mask = self.word_mask(word);
            if self.acquired[word] & mask != mask {
                break;
            }
            self.floor += 64;
        }
        for shard in w0 / super::SHARD_WORDS..=w1 / super::SHARD_WORDS {
            if self.shard_is_full(shard) {
                self.index.set(shard);
            }
        }
    }

    /// The first run of `n` free blocks in `[from, to)` (`to` at most the
    /// limit), or `None`.
    fn find_extent(&mut self, from: u64, to: u64, n: u64) -> Option<u64> {
        debug_assert!(n >= 1 && to <= self.limit);
        // Below the floor every block is acquired.
        let from = from.max(self.floor);
        if n > self.free_count || to.saturating_sub(from) < n {
            return None;
        }
        if n < scan::LONG_RUN as u64 {
            self.find_short(from, to, n as usize)
        } else {
            self.find_long(from, to, n)
        }
    }

    /// [`FreeSet::find_extent`] of fewer than 128 blocks: the block bitset,
    /// over each stretch of shards that are not full.
    fn find_short(&self, from: u64, to: u64, n: usize) -> Option<u64> {
        let last_shard = ((to - 1) / SHARD_BLOCKS) as usize;
        let mut pos = from;
        while pos < to && to - pos >= n as u64 {
            let open = self
                .index
                .first_clear((pos / SHARD_BLOCKS) as usize, last_shard + 1)?;
            let start = pos.max(open as u64 * SHARD_BLOCKS);
            // The stretch ends at the next full shard, looked for among the
            // next `STRETCH_SHARDS` only (a search that finds its extent
            // early never walks the whole index); a stretch cut there goes
            // on `n - 1` blocks before its end, where a run across the cut
            // may start.
            let bound = (open + 1 + STRETCH_SHARDS).min(last_shard + 1);
            let (stop, next) = match self.index.first_set(open + 1, bound) {
                Some(full) => {
                    let stop = (full as u64 * SHARD_BLOCKS).min(to);
                    (stop, stop)
                }
                None if bound == last_shard + 1 => (to, to),
                None => {
                    let stop = bound as u64 * SHARD_BLOCKS;
                    (stop, stop - (n as u64 - 1))
                }
            };
            debug_assert!(next > pos, "the search goes forward");
            if let Some(block) = scan::zero_run(&self.acquired, start as usize, stop as usize, n) {
                return Some(block as u64);
            }
            pos = next;
        }
        None
    }

    /// [`FreeSet::find_extent`] of 128 blocks or more: the runs of empty
    /// words the word map holds, each checked at its edges.
    fn find_long(&mut self, from: u64, to: u64, n: u64) -> Option<u64> {
        // Open words (the acquire module's doc) may be missing from the word
        // map, but none lies here: the search starts at `reserved_until`
        // and reads whole words from there on, where no reservation's
        // acquired blocks are.
        self.refresh_stale_word_map();
        let least = ((n + 1) / 64 - 1) as usize;
        let (first_whole, end_whole) = (from.div_ceil(64) as usize, (to / 64) as usize);
        let mut k = first_whole;
        while k < end_whole {
            // The first `least` empty words from `k` on: the start of the
            // first run of empty words long enough.
            let zero = scan::zero_run(self.word_map.bits(), k, end_whole, least)?;
            debug_assert_eq!(self.acquired[zero], 0);
            let head = match zero.checked_sub(1) {
                Some(before) => u64::from(self.acquired[before].leading_zeros()),
                None => 0,
            };
            let start = (zero as u64 * 64 - head).max(from);
            // As many empty words as the run needs, at most.
            let needed = (start + n).div_ceil(64) as usize - zero;
            let len = scan::uniform_run(&self.acquired[zero..end_whole], 0, needed);
            debug_assert!(len >= least);
            let after = zero + len;
            let tail = self
                .acquired
                .get(after)
                .map_or(0, |word| u64::from(word.trailing_zeros()));
            let end = (after as u64 * 64 + tail).min(to);
            if end - start >= n {
                return Some(start);
            }
            k = after + 1;
        }
        None
    }

    /// Derives the word map of the shards `open` left stale.
    fn refresh_stale_word_map(&mut self) {
        let mut next = 0;
        while let Some(shard) = self.word_map.first_stale(next) {
            self.refresh_word_map(shard);
            next = shard + 1;
        }
        self.word_map.all_fresh();
    }
}

/// Shards past a stretch's first that the short search looks at in the
/// index for a full one: one word of it.
const STRETCH_SHARDS: usize = 64;

/// Debug builds check each extent found against the twin in sets of at
/// most this many blocks (the twin walks the blocks one by one).
const NAIVE_CHECK_BLOCKS_MAX: u64 = 1 << 16;

/// The bits of word `word` inside `[first, end)`.
fn range_mask(first: u64, end: u64, word: usize) -> u64 {
    let base = word as u64 * 64;
    let low = first.max(base) - base;
    let high = end.min(base + 64) - base;
    debug_assert!(low < high && high <= 64);
    (!0u64 << low) & (!0u64 >> (64 - high))
}

/// The bit-by-bit twin of the search: the first `n` free blocks in a row
/// in `[from, to)`.
pub(crate) fn extent_naive(acquired: &[u64], from: u64, to: u64, n: u64) -> Option<u64> {
    let mut run = 0;
    for block in from..to {
        if super::bit(acquired, block) {
            run = 0;
        } else {
            run += 1;
            if run == n {
                return Some(block + 1 - n);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    //! The search against its bit-by-bit twin on random states of every
    //! kind (scattered, runs across words and shards, full shards in the
    //! index, stale word maps after `open`), every `n` from 1 to several
    //! shards, limits inside words and shards, reserved prefixes; and the
    //! derived state after `acquire_extent` and `release_range` (debug
    //! builds check every invariant after each).

    use super::*;
    use crate::parallelism::Parallelism;
    use crate::set::Options;
    use proptest::prelude::*;

    /// Bits from runs: (free?, length) pairs, repeated until `bits` are set.
    fn from_runs(runs: &[(bool, u32)], bits: u64) -> Vec<bool> {
        let mut used = vec![true; bits as usize];
        let (mut at, mut i) = (0usize, 0usize);
        while at < bits as usize && !runs.is_empty() {
            let (free, len) = runs[i % runs.len()];
            let end = (at + len as usize).min(bits as usize);
            if free {
                used[at..end].fill(false);
            }
            at = end;
            i += 1;
        }
        used
    }

    /// A limit and the acquired blocks below it, of one of several kinds.
    fn state() -> impl Strategy<Value = (u64, Vec<bool>)> {
        let limit = prop_oneof![
            1u64..=200,
            (1u64..=4).prop_flat_map(|s| {
                let edge = s * SHARD_BLOCKS;
                prop_oneof![Just(edge - 1), Just(edge), Just(edge + 1), Just(edge - 64)]
            }),
            1u64..=5 * SHARD_BLOCKS,
            Just(3 * SHARD_BLOCKS + 100),
        ];
        limit.prop_flat_map(|limit| {
            let run = |max: u32| (any::<bool>(), 1..=max);
            let used = prop_oneof![
                prop::collection::vec(prop::bool::weighted(0.5), limit as usize),
                prop::collection::vec(prop::bool::weighted(0.1), limit as usize),
                prop::collection::vec(run(20), 1..64).prop_map(move |r| from_runs(&r, limit)),
                prop::collection::vec(run(300), 1..64).prop_map(move |r| from_runs(&r, limit)),
                prop::collection::vec(run(6000), 1..8).prop_map(move |r| from_runs(&r, limit)),
                Just(vec![false; limit as usize]),
            ];
            (Just(limit), used)
        })
    }

    fn set_of(limit: u64, used: &[bool]) -> FreeSet {
        let mut words = vec![0u64; (limit.div_ceil(SHARD_BLOCKS) * SHARD_BLOCKS / 64) as usize];
        for (b, &u) in used.iter().enumerate() {
            if u {
                words[b / 64] |= 1 << (b % 64);
            }
        }
        FreeSet::from_acquired_words(limit, words).unwrap()
    }

    /// The same set, through an encode and an open: its word map stale.
    fn reopened(set: &FreeSet) -> FreeSet {
        let (a, r) = set.encode().unwrap();
        let mut opened = FreeSet::unopened(set.limit()).unwrap();
        opened
            .open_with(&a, &r, &[], &[], Parallelism::SEQUENTIAL)
            .unwrap();
        opened.checkpoint_durable().unwrap();
        opened
    }

    fn n_strategy() -> impl Strategy<Value = u64> {
        prop_oneof![
            1u64..=20,
            prop::sample::select(vec![
                63, 64, 65, 126, 127, 128, 129, 191, 192, 193, 4095, 4096, 4097, 8192
            ]),
            1u64..=600,
            1u64..=3 * SHARD_BLOCKS + 500,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// `reserve_extent` finds what the twin finds, from any reserved
        /// prefix, on a fresh set and on one whose word map `open` left
        /// stale; `acquire_extent` takes exactly the extent, and the next
        /// search goes on after it.
        #[test]
        fn extents_are_the_first_fit((limit, used) in state(), n in n_strategy(), prefix: prop::sample::Index) {
            let fresh = set_of(limit, &used);
            for mut set in [fresh.clone(), reopened(&fresh)] {
                let words = set.acquired_words().to_vec();
                // A reserved prefix of `before` blocks: a reservation first.
                let free = set.count_free();
                let skip = prefix.index(free as usize + 1) as u64;
                let from = if skip > 0 {
                    let r = set.reserve(skip).unwrap().unwrap();
                    r.block_base() + r.block_count()
                } else {
                    0
                };
                let want = extent_naive(&words, from, limit, n);
                let got = set.reserve_extent(n).unwrap();
                prop_assert_eq!(got.map(|r| r.block_base()), want);
                let Some(r) = got else { continue };
                prop_assert_eq!(r.block_count(), n);
                prop_assert_eq!(set.acquire_extent(&r).unwrap(), Some(r.addresses()));
                prop_assert_eq!(set.acquire_extent(&r).unwrap(), None);
                prop_assert_eq!(set.acquire(&r).unwrap(), None);
                prop_assert_eq!(set.count_free(), free - n);
                // The next one starts past the first.
                let words = set.acquired_words().to_vec();
                let want = extent_naive(&words, r.block_base() + n, limit, n);
                let next = set.reserve_extent(n).unwrap();
                prop_assert_eq!(next.map(|r| r.block_base()), want);
            }
        }

        /// Any `n` against the twin, on every start and end of the search
        /// (what `find_extent` is given), through both paths.
        #[test]
        fn the_search_matches_its_twin((limit, used) in state(), n in n_strategy(), a: prop::sample::Index, b: prop::sample::Index) {
            let mut set = set_of(limit, &used);
            let (x, y) = (a.index(limit as usize + 1) as u64, b.index(limit as usize + 1) as u64);
            let (from, to) = (x.min(y), x.max(y));
            let words = set.acquired_words().to_vec();
            prop_assert_eq!(set.find_extent(from, to, n), extent_naive(&words, from, to, n));
        }

        /// A range release is the releases of its blocks in turn when all
        /// would succeed, and changes nothing with the first one's error
        /// otherwise; with immediate reuse too.
        #[test]
        fn a_range_release_is_all_or_nothing(
            (limit, used) in state(),
            start in 0u64..=5 * SHARD_BLOCKS + 10,
            count in prop_oneof![0u64..=3, 1u64..=200, 1u64..=9000, Just(u64::MAX)],
            reuse: bool,
            released in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        ) {
            let words = set_of(limit, &used).acquired_words().to_vec();
            let options = Options::new().immediate_reuse(reuse);
            let mut set = FreeSet::with_options(limit, options).unwrap();
            // The acquired blocks through reservations (so that immediate
            // reuse frees them at once), then a few released.
            let r = set.reserve(limit).unwrap().unwrap();
            while set.acquire(&r).unwrap().is_some() {}
            set.forfeit(&r).unwrap();
            for block in 0..limit {
                if words[(block / 64) as usize] >> (block % 64) & 1 == 0 {
                    set.release(block + 1).unwrap();
                }
            }
            if !reuse {
                set.checkpoint_not_durable().unwrap();
                set.checkpoint_durable().unwrap();
            }
            for index in released {
                let address = index.index(limit as usize) as u64 + 1;
                let _ = set.release(address);
            }
            let mut one_by_one = set.clone();
            let mut first_error = None;
            let end = start.saturating_add(count);
            let mut address = start;
            while address < end && first_error.is_none() {
                if let Err(e) = one_by_one.release(address) {
                    first_error = Some(e);
                }
                address += 1;
                if address > set.capacity() + 2 {
                    // Past the capacity every address is out of range.
                    break;
                }
            }
            let before = set.clone();
            let got = set.release_range(start, count);
            match first_error {
                Some(e) => {
                    prop_assert_eq!(got, Err(e));
                    prop_assert!(set == before, "a refused range changed the set");
                }
                None => {
                    prop_assert_eq!(got, Ok(()));
                    prop_assert!(set == one_by_one);
                    prop_assert_eq!(set.count_free(), one_by_one.count_free());
                    prop_assert_eq!(set.highest_released(), one_by_one.highest_released());
                }
            }
        }
    }

    /// A short search cut into stretches of `STRETCH_SHARDS` (no shard is
    /// full: one free block in each) finds the run that crosses a cut.
    #[test]
    fn short_runs_across_a_stretch_cut() {
        let shards = STRETCH_SHARDS as u64 + 6;
        let limit = shards * SHARD_BLOCKS;
        let cut = (STRETCH_SHARDS as u64 + 1) * SHARD_BLOCKS;
        for n in [2u64, 63, 64, 100, 127] {
            for start in [cut - n, cut - n + 1, cut - 1, cut] {
                let mut used = vec![true; limit as usize];
                for shard in 0..shards {
                    used[(shard * SHARD_BLOCKS + 7) as usize] = false;
                }
                used[start as usize..(start + n) as usize].fill(false);
                let mut set = set_of(limit, &used);
                let words = set.acquired_words().to_vec();
                let want = extent_naive(&words, 0, limit, n);
                assert_eq!(want, Some(start), "n {n}");
                assert_eq!(set.find_extent(0, limit, n), want, "n {n} start {start}");
            }
        }
    }

    /// Extents at the word, shard and capacity edges, and runs that cross
    /// shards, one at a time in an otherwise full set.
    #[test]
    fn extents_at_the_edges() {
        let limit = 4 * SHARD_BLOCKS;
        for start in [
            0,
            1,
            63,
            64,
            65,
            4095,
            4096,
            4097,
            8128,
            3 * SHARD_BLOCKS - 1,
        ] {
            for len in [1, 2, 63, 64, 65, 127, 128, 129, 200, 4096, 4097, 8200] {
                if start + len > limit {
                    continue;
                }
                let mut used = vec![true; limit as usize];
                used[start as usize..(start + len) as usize].fill(false);
                let mut set = set_of(limit, &used);
                for n in [1, len / 2, len, len + 1] {
                    if n == 0 {
                        continue;
                    }
                    let mut copy = set.clone();
                    let got = copy.reserve_extent(n).unwrap().map(|r| r.block_base());
                    assert_eq!(
                        got,
                        (n <= len).then_some(start),
                        "start {start} len {len} n {n}"
                    );
                }
                // The last blocks of the capacity, with the limit at its end.
                let r = set.reserve_extent(len).unwrap().unwrap();
                assert_eq!(
                    set.acquire_extent(&r).unwrap(),
                    Some(start + 1..start + len + 1)
                );
                assert_eq!(set.count_free(), 0);
            }
        }
    }
}
