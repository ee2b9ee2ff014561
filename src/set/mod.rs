//! The free set: which blocks of the grid are acquired, released, or free.
//!
//! State, all derived from the three bitsets except the reservation bookkeeping
//! (`reservation.rs`: the session and its table of reservations, each with
//! the position its next acquire starts from) and the last checkpoint's
//! trailer (`checkpoint.rs`, for the next checkpoint to release):
//! - `acquired`: set bit = block in use or waiting to be freed.
//! - `released`: acquired blocks released while the checkpoint was durable; they
//!   become free when the next checkpoint becomes durable.
//! - `pending`: blocks released while the checkpoint was not durable; they move
//!   to `released` when it becomes durable.
//! - `index`: one bit per shard of 4096 blocks, set exactly when no block of the
//!   shard below the limit is free, so scans skip full shards whole.
//! - counters of acquired, free, released and pending blocks, kept current by
//!   every operation so that queries are O(1).
//! - summaries: one bit per shard with any acquired / released / pending block,
//!   for `highest_*`, the trimmed encoding and checkpoints that visit only the
//!   shards they change.
//!
//! `encode` and `open` of large sets run on the current rayon pool (the global
//! one, or the caller's: `pool.install(|| set.encode())`); the bytes and the
//! errors are those of the sequential codec.
//!
//! What must never happen here: an error that leaves a change behind (every
//! operation checks everything before it writes), an acquire at or past the
//! limit, or derived state (`index`, counters) that disagrees with the bitsets;
//! `check_invariants` verifies the last in debug builds.

mod acquire;
mod check;
mod checkpoint;
mod concurrent;
mod copies;
mod derive;
mod extent;
mod open_words;
mod options;
mod persist;
mod reuse;
mod trailer;

pub use crate::bitset::Bitset;
pub use checkpoint::{Checkpoint, Chunk, Trailer};
pub use concurrent::{Acquirer, Cursor};
pub use options::Options;
pub use persist::{OpenReadError, OpenStream};

use crate::memory::zeroed_words;

use crate::error::Error;
use crate::parallelism::Parallelism;
use crate::reservation::Reservations;
use crate::scan;
use crate::summary::{ShardBits, WordMap};
use crate::words::{self, limit_mask};

pub use crate::words::SHARD_BLOCKS;
pub(crate) use crate::words::SHARD_WORDS;

/// The free set of a grid of `blocks_count` blocks.
///
/// ```
/// use freeset::FreeSet;
///
/// let mut set = FreeSet::new(10_000).unwrap();
/// let reservation = set.reserve(2).unwrap().expect("the grid is empty");
/// let a = set.acquire(&reservation).unwrap().unwrap();
/// let b = set.acquire(&reservation).unwrap().unwrap();
/// assert_eq!((a, b), (1, 2)); // addresses are 1-based
/// set.forfeit(&reservation).unwrap();
///
/// set.release(a).unwrap(); // free once the next checkpoint is durable
/// set.checkpoint_not_durable().unwrap();
/// set.checkpoint_durable().unwrap();
/// assert!(set.is_free(a).unwrap());
/// assert_eq!(set.count_acquired(), 1);
/// ```
pub struct FreeSet {
    /// Blocks the caller asked for; blocks at or past it are never handed out.
    limit: u64,
    acquired: Vec<u64>,
    released: Vec<u64>,
    pending: Vec<u64>,
    /// One bit per shard: no free block below the limit.
    index: ShardBits,
    /// One bit per shard: some block is acquired / released / pending.
    acquired_shards: ShardBits,
    released_shards: ShardBits,
    pending_shards: ShardBits,
    /// One bit per word of `acquired`: the word holds an acquired block.
    /// The extent search skips the shards that cannot hold a long run
    /// through it (`extent.rs`).
    word_map: WordMap,
    /// A multiple of 64: every block below it (and below the limit) is
    /// acquired, so searches for a free block start here. It is kept by word,
    /// not by block, so that an acquire reads it without writing it: it moves
    /// up only when the word it starts fills (one acquire in 64 on a fill),
    /// which keeps it off the chain of stores and loads that runs from one
    /// acquire to the next. Only a durable checkpoint lowers it. Searches
    /// (`reserve`, a slow acquire) start here; a fast acquire starts at its
    /// reservation's own position, kept the same way (`reservation::Slot`),
    /// which starts at the floor when that is past the range's start.
    floor: u64,
    /// Set bits of `acquired` at or past the limit (only `open` brings any):
    /// with `free_count` it gives the acquired count, so that an acquire
    /// keeps one counter.
    acquired_past_limit: u64,
    /// Blocks below the limit that are not acquired, less those the fast
    /// path acquired in the open words and has not counted yet (one counter
    /// fewer for an acquire to load and store: `open_words.rs`). Exact
    /// once the session ends; [`FreeSet::free_blocks`] adds the rest up.
    /// Never below the true count, so a search may stop on it.
    free_count: u64,
    released_count: u64,
    pending_count: u64,
    /// Highest acquired / released / pending address, 0 for none: kept by
    /// every operation (a max on the way up; a summary scan when a durable
    /// checkpoint frees blocks), so that `highest_*` is a load.
    highest: Highest,
    /// The word that holds the limit (the last with a block below it) and
    /// the mask of those blocks: every other word below it is whole.
    limit_word: usize,
    limit_word_mask: u64,
    /// The limit rounded down to a word: blocks below it lie in words whole
    /// below the limit (the fast path of `acquire` stays below it).
    whole_end: u64,
    reservations: Reservations,
    /// The trailer of the last checkpoint, for the next one to release.
    trailer: trailer::LastTrailer,
    /// With immediate reuse on (`Options`), what proves a release may free
    /// a block at once (`reuse.rs`); `None` otherwise.
    reuse: Option<options::Reuse>,
    opened: bool,
    durable: bool,
}

/// Highest addresses, 0 for none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Highest {
    /// One more than the index of the highest non-zero word of `acquired`
    /// (kept by word, so that an acquire updates it only when a word stops
    /// being empty).
    pub(super) acquired: u64,
    pub(super) released: u64,
    pub(super) pending: u64,
}

impl FreeSet {
    /// An empty, opened set of `blocks_count` blocks, with a durable checkpoint.
    /// The capacity is `blocks_count` rounded up to whole shards.
    pub fn new(blocks_count: u64) -> Result<Self, Error> {
        Self::with_options(blocks_count, Options::new())
    }

    /// [`FreeSet::new`] with `options`: see [`Options`]. With immediate
    /// reuse the set keeps one more bitset (the snapshot), empty here: no
    /// checkpoint holds anything yet.
    pub fn with_options(blocks_count: u64, options: Options) -> Result<Self, Error> {
        let mut set = Self::unopened_with_options(blocks_count, options)?;
        set.opened = true;
        Ok(set)
    }

    /// An empty set that is not opened yet: the state before [`FreeSet::open`].
    pub fn unopened(blocks_count: u64) -> Result<Self, Error> {
        Self::unopened_with_options(blocks_count, Options::new())
    }

    /// [`FreeSet::unopened`] with `options`, for a restart: `open` then
    /// takes the snapshot immediate reuse needs (everything it decodes, and
    /// the trailer). A set with immediate reuse is reopened only this way.
    pub fn unopened_with_options(blocks_count: u64, options: Options) -> Result<Self, Error> {
        if blocks_count == 0 {
            return Err(Error::ZeroBlocks);
        }
        let too_many = Error::TooManyBlocks(blocks_count);
        let shards = words::shards_for(blocks_count);
        let words = shards
            .checked_mul(SHARD_WORDS as u64)
            .and_then(|w| usize::try_from(w).ok())
            .ok_or(too_many.clone())?;
        let shards = shards as usize; // no larger than `words`
                                      // Sizes that cannot be allocated are an error, not an abort.
        let zeroed = |words| zeroed_words(words).ok_or(too_many.clone());
        let summary =
            |shards| zeroed(ShardBits::words_for(shards)).map(|w| ShardBits::from_words(w, shards));
        let word_map = WordMap::from_words(
            zeroed(shards)?,
            zeroed(ShardBits::words_for(shards))?,
            shards,
        );
        let set = FreeSet {
            limit: blocks_count,
            acquired: zeroed(words)?,
            released: zeroed(words)?,
            pending: zeroed(words)?,
            index: summary(shards)?,
            acquired_shards: summary(shards)?,
            released_shards: summary(shards)?,
            pending_shards: summary(shards)?,
            word_map,
            floor: 0,
            acquired_past_limit: 0,
            free_count: blocks_count,
            released_count: 0,
            pending_count: 0,
            highest: Highest::default(),
            limit_word: words::word_of(blocks_count - 1),
            limit_word_mask: limit_mask(blocks_count, words::word_of(blocks_count - 1)),
            whole_end: words::word_start(blocks_count),
            reservations: Reservations::new(),
            trailer: trailer::LastTrailer::default(),
            reuse: match options.has_immediate_reuse() {
                true => Some(options::Reuse::new(words).ok_or(too_many.clone())?),
                false => None,
            },
            opened: false,
            durable: true,
        };
        set.check_invariants();
        Ok(set)
    }

    /// An opened set with a durable checkpoint whose `acquired` bitset is
    /// `acquired` (exactly `capacity / 64` words) and with nothing released: a
    /// set restored from a raw bitset, or built directly by a benchmark. The
    /// index and counters are derived from the words. It has the default
    /// [`Options`]: immediate reuse needs to know what the checkpoints hold,
    /// which a raw bitset does not say.
    pub fn from_acquired_words(blocks_count: u64, acquired: Vec<u64>) -> Result<Self, Error> {
        let mut set = Self::new(blocks_count)?;
        if acquired.len() != set.acquired.len() {
            return Err(Error::WordCount {
                expected: set.acquired.len(),
                got: acquired.len(),
            });
        }
        set.acquired = acquired;
        set.rebuild_derived(Parallelism::default());
        set.check_invariants();
        Ok(set)
    }

    /// Blocks the set hands out: the `blocks_count` it was made with.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Blocks the bitsets cover: the limit rounded up to whole shards.
    pub fn capacity(&self) -> u64 {
        words::blocks_in(self.acquired.len())
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        words::whole_shards_in(self.acquired.len())
    }

    /// Whether the set is opened (fresh from `new`, or `open` succeeded).
    pub fn is_opened(&self) -> bool {
        self.opened
    }

    /// Whether the current checkpoint is durable.
    pub fn is_checkpoint_durable(&self) -> bool {
        self.durable
    }

    /// The words of `acquired`, for callers that persist or inspect them.
    pub fn acquired_words(&self) -> &[u64] {
        &self.acquired
    }

    /// The words of `released`: blocks released while the checkpoint was
    /// durable, free once the next checkpoint is durable. Capacity / 64
    /// words, like [`FreeSet::acquired_words`].
    pub fn released_words(&self) -> &[u64] {
        &self.released
    }

    /// The words of `pending`: blocks released while the checkpoint was not
    /// durable (and the trailer blocks `open` marks), which become released
    /// when it is. Empty (all zero) while the checkpoint is durable.
    pub fn pending_words(&self) -> &[u64] {
        &self.pending
    }

    /// A copy of the set, like [`Clone::clone`], or an error when its
    /// bitsets cannot be allocated (`clone` aborts then, as std's
    /// collections do).
    pub fn try_clone(&self) -> Result<Self, Error> {
        let bitsets = 3 + u64::from(self.reuse.is_some());
        let out_of_memory = || Error::OutOfMemory {
            bytes: bitsets * 8 * self.acquired.len() as u64,
            what: "a copy of the set",
        };
        let copy = |words: &[u64]| crate::memory::copied_words(words).ok_or_else(out_of_memory);
        let trailer = trailer::LastTrailer {
            addresses: crate::memory::copied_words(&self.trailer.addresses)
                .ok_or_else(out_of_memory)?,
            released: self.trailer.released,
        };
        let mut set = FreeSet {
            acquired: copy(&self.acquired)?,
            released: copy(&self.released)?,
            pending: copy(&self.pending)?,
            index: self.index.try_clone().ok_or_else(out_of_memory)?,
            acquired_shards: self.acquired_shards.try_clone().ok_or_else(out_of_memory)?,
            released_shards: self.released_shards.try_clone().ok_or_else(out_of_memory)?,
            pending_shards: self.pending_shards.try_clone().ok_or_else(out_of_memory)?,
            word_map: self.word_map.try_clone().ok_or_else(out_of_memory)?,
            trailer,
            reuse: match &self.reuse {
                Some(reuse) => Some(reuse.try_clone().ok_or_else(out_of_memory)?),
                None => None,
            },
            ..self.copy_scalars()
        };
        set.fold_open_words_of(&self.reservations.table);
        Ok(set)
    }

    // ---- release and checkpoints --------------------------------------

    /// Releases an acquired block: it becomes free when the checkpoint after the
    /// current one is durable (or, if the current one is not durable yet, the
    /// one after that). With immediate reuse ([`Options::immediate_reuse`]),
    /// a block that no checkpoint a restart could use holds (one acquired
    /// since the last commit or open) is free at once instead.
    pub fn release(&mut self, address: u64) -> Result<(), Error> {
        let block = self.block_of(address)?;
        self.check_release(block)?;
        if self.release_checked(block) {
            self.check_invariants();
        }
        Ok(())
    }

    /// The checks of `release` after the address's, in their order, for
    /// the block at index `block` (inside the capacity).
    pub(super) fn check_release(&self, block: u64) -> Result<(), Error> {
        let (word, bit) = (words::word_of(block), words::bit_of(block));
        let address = block + 1;
        if self.acquired[word] >> bit & 1 == 0 {
            return Err(Error::NotAcquired(address));
        }
        if (self.released[word] | self.pending[word]) >> bit & 1 == 1 {
            if self.trailer.holds_opened(address) {
                return Err(Error::TrailerBlock { address });
            }
            return Err(Error::AlreadyReleased(address));
        }
        if self.trailer.holds_unreleased(address) {
            return Err(Error::TrailerBlock { address });
        }
        Ok(())
    }

    /// `release` of a block that passed `check_release`; whether it was
    /// freed at once (immediate reuse), when the caller checks the
    /// invariants.
    pub(super) fn release_checked(&mut self, block: u64) -> bool {
        let (word, bit) = ((block / 64) as usize, block % 64);
        let address = block + 1;
        if self.frees_at_once(block) {
            self.free_at_once(block);
            return true;
        }
        let shard = words::shard_of_word(word);
        if self.durable {
            self.released[word] |= 1 << bit;
            self.released_count += 1;
            self.released_shards.set(shard);
            self.highest.released = self.highest.released.max(address);
        } else {
            self.pending[word] |= 1 << bit;
            self.pending_count += 1;
            self.pending_shards.set(shard);
            self.highest.pending = self.highest.pending.max(address);
        }
        false
    }

    /// A new checkpoint is being written: releases from now on wait for the one
    /// after it. Refused with immediate reuse ([`Error::ImmediateReuse`]):
    /// [`FreeSet::checkpoint`] is the way to write a checkpoint then.
    pub fn checkpoint_not_durable(&mut self) -> Result<(), Error> {
        self.refuse_with_reuse("checkpoint_not_durable")?;
        self.mark_not_durable()
    }

    /// `checkpoint_not_durable`, whatever the options: for `commit`.
    fn mark_not_durable(&mut self) -> Result<(), Error> {
        if !self.opened {
            return Err(Error::NotOpened);
        }
        if !self.durable {
            return Err(Error::CheckpointNotDurable);
        }
        self.durable = false;
        Ok(())
    }

    /// The checkpoint is durable: released blocks become free and pending ones
    /// become released.
    pub fn checkpoint_durable(&mut self) -> Result<(), Error> {
        if !self.opened {
            return Err(Error::NotOpened);
        }
        if self.durable {
            return Err(Error::CheckpointDurable);
        }
        if self.reservations.active() > 0 {
            return Err(Error::ReservationsActive(self.reservations.active()));
        }
        // Only shards holding released blocks change: free their released
        // blocks and clear `released` there, which leaves it all zero, so that
        // it can become the empty `pending` by a swap.
        let touched = std::mem::replace(&mut self.released_shards, ShardBits::empty());
        let mut freed = 0u64;
        let mut freed_below_limit = 0u64;
        for shard in touched.iter_set() {
            let mut any_acquired = 0u64;
            let mut any_freed = 0u64;
            for word in words::shard_words(shard) {
                let released = self.released[word];
                debug_assert_eq!(self.acquired[word] & released, released);
                self.acquired[word] &= !released;
                self.released[word] = 0;
                any_acquired |= self.acquired[word];
                let below_limit = released & self.word_mask(word);
                if below_limit != 0 && any_freed == 0 {
                    self.floor = self.floor.min(words::first_block(word));
                }
                any_freed |= below_limit;
                freed += u64::from(released.count_ones());
                freed_below_limit += u64::from(below_limit.count_ones());
            }
            if any_freed != 0 {
                self.index.clear(shard);
            }
            self.acquired_shards.assign(shard, any_acquired != 0);
        }
        // Words of these shards may be 0 now: their word map is derived
        // again by the next long extent search (a test per word here would
        // cost the checkpoint more than the search's refresh does).
        self.word_map.mark_stale_shards(&touched);
        debug_assert_eq!(freed, self.released_count);
        debug_assert!(self.released.iter().all(|&w| w == 0));
        self.acquired_past_limit -= freed - freed_below_limit;
        self.free_count += freed_below_limit;
        std::mem::swap(&mut self.released, &mut self.pending);
        self.released_shards = std::mem::replace(&mut self.pending_shards, touched);
        self.pending_shards.clear_all();
        self.released_count = self.pending_count;
        self.pending_count = 0;
        // Freed blocks may have held the highest acquired address: one scan
        // of the summary, as a checkpoint visits shards anyway.
        self.highest = Highest {
            acquired: if freed > 0 {
                words::words_for(highest(&self.acquired, &self.acquired_shards).unwrap_or(0))
            } else {
                self.highest.acquired
            },
            released: self.highest.pending,
            pending: 0,
        };
        self.durable = true;
        self.check_invariants();
        Ok(())
    }

    // ---- queries ---------------------------------------------------------

    /// Blocks below the limit that are not acquired.
    ///
    /// A load when no reservation is live; during a session, one step more
    /// per reservation made in it (the word at its position, whose blocks
    /// its acquires count only when they leave it: `open_words.rs`).
    #[inline]
    pub fn count_free(&self) -> u64 {
        self.free_blocks()
    }

    /// Acquired blocks (released ones included until they are freed). As
    /// [`FreeSet::count_free`], one step per reservation during a session.
    #[inline]
    pub fn count_acquired(&self) -> u64 {
        self.limit - self.free_blocks() + self.acquired_past_limit
    }

    /// Released blocks, whether waiting for this checkpoint or the next.
    pub fn count_released(&self) -> u64 {
        self.released_count + self.pending_count
    }

    /// Highest acquired address, or `None`.
    ///
    /// A few loads when no reservation is live; during a session, one step
    /// more per reservation made in it (the word at its position, which
    /// its acquires may have changed since the set last noted it).
    #[inline]
    pub fn highest_acquired(&self) -> Option<u64> {
        let word = self.highest_acquired_words().checked_sub(1)? as usize;
        let bits = self.acquired[word];
        debug_assert!(bits != 0, "the highest acquired word has a bit set");
        Some(words::first_block(word + 1) - u64::from(bits.leading_zeros()))
    }

    /// Highest released (or pending) address, or `None`.
    #[inline]
    pub fn highest_released(&self) -> Option<u64> {
        let highest = self.highest.released.max(self.highest.pending);
        (highest > 0).then_some(highest)
    }

    /// The highest addresses found from the summaries: after anything that
    /// clears bits or rebuilds the derived state.
    pub(super) fn scan_highest(&self) -> Highest {
        let of = |words: &[u64], shards: &ShardBits| highest(words, shards).unwrap_or(0);
        Highest {
            acquired: words::words_for(of(&self.acquired, &self.acquired_shards)),
            released: of(&self.released, &self.released_shards),
            pending: of(&self.pending, &self.pending_shards),
        }
    }

    /// Whether the block at `address` is free (not acquired).
    pub fn is_free(&self, address: u64) -> Result<bool, Error> {
        let block = self.block_of(address)?;
        Ok(!bit(&self.acquired, block))
    }

    /// Whether the block at `address` is released or pending release.
    pub fn is_released(&self, address: u64) -> Result<bool, Error> {
        let block = self.block_of(address)?;
        Ok(bit(&self.released, block) || bit(&self.pending, block))
    }

    fn block_of(&self, address: u64) -> Result<u64, Error> {
        if address == 0 || address > self.capacity() {
            return Err(Error::AddressOutOfRange {
                address,
                capacity: self.capacity(),
            });
        }
        Ok(address - 1)
    }

    /// Back to empty and not opened. The session ends, so reservations made
    /// before the reset are rejected.
    pub fn reset(&mut self) {
        // Only the shards a summary names hold a bit to clear: a reset of a
        // huge, mostly empty set does not touch (or fault in) the rest. A
        // bitset that `open` would stream into is zeroed with streaming
        // stores too, so that it leaves nothing dirty in the caches for the
        // `open` that usually follows to stream past.
        // The summary of `acquired` names every shard to clear once the
        // open words are in it.
        self.fold_open_words();
        let stream = crate::ewah::Stores::for_bytes(8 * self.acquired.len()).stream();
        zero_shards(&mut self.acquired, &self.acquired_shards, stream);
        zero_shards(&mut self.released, &self.released_shards, stream);
        zero_shards(&mut self.pending, &self.pending_shards, stream);
        if stream {
            scan::stream_fence();
        }
        debug_assert!(self.acquired.iter().all(|&w| w == 0));
        debug_assert!(self.released.iter().all(|&w| w == 0));
        debug_assert!(self.pending.iter().all(|&w| w == 0));
        self.clear_derived();
        self.reservations.end_session();
        self.trailer = trailer::LastTrailer::default();
        self.opened = false;
        self.durable = true;
        self.check_invariants();
    }
}

/// Zeroes the shards `shards` names, each run of consecutive shards with one
/// fill (streamed when `stream`: only the two ends of a run are partial
/// lines).
fn zero_shards(words: &mut [u64], shards: &ShardBits, stream: bool) {
    let mut run: Option<(usize, usize)> = None;
    let mut flush = |run: (usize, usize)| {
        let words = &mut words[words::shards_words(run.0..run.1)];
        scan::fill(words, 0, stream);
        if stream {
            scan::streamed::stored(words);
        }
    };
    for shard in shards.iter_set() {
        run = match run {
            Some((from, to)) if to == shard => Some((from, shard + 1)),
            Some(done) => {
                flush(done);
                Some((shard, shard + 1))
            }
            None => Some((shard, shard + 1)),
        };
    }
    if let Some(done) = run {
        flush(done);
    }
}

/// Highest address set in `words`, found through its shard summary.
fn highest(words: &[u64], shards: &ShardBits) -> Option<u64> {
    let shard = shards.last_set()?;
    let shard_words = words::shard_words(shard);
    let base = words::first_block(shard_words.start);
    let bit = scan::last_one(&words[shard_words]);
    debug_assert!(bit.is_some(), "the summary names a shard with a set bit");
    bit.map(|b| base + b as u64 + 1)
}

pub(super) use crate::words::bit;

#[cfg(test)]
mod tests {
    use super::*;

    /// A set whose bitsets are past the size from which the codec
    /// prefetches and counts on the way, with streaming stores and without,
    /// encodes and opens to the same set, on one thread and on the pool,
    /// with every derived count right (debug builds check them all after
    /// `open`).
    #[test]
    fn a_large_set_round_trips() {
        let blocks = 8 * crate::ewah::LARGE_MIN_BYTES as u64 + 4321;
        let mut set = FreeSet::new(blocks).unwrap();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Runs of acquired and free blocks, short literal stretches, and a
        // long random stretch: every kind of step the decoder takes.
        let words = set.acquired.len();
        let mut acquired = vec![0u64; words];
        let mut at = 0;
        while at < words / 2 {
            let len = (next() % 300) as usize;
            let value = if next() % 2 == 0 { 0 } else { !0 };
            for w in acquired.iter_mut().skip(at).take(len) {
                *w = value;
            }
            at += len;
            for w in acquired.iter_mut().skip(at).take((next() % 9) as usize) {
                *w = next() | 1;
                at += 1;
            }
        }
        for w in &mut acquired[words / 2..words - 1] {
            *w = next();
        }
        let set_words = FreeSet::from_acquired_words(blocks, acquired).unwrap();
        let (a, r) = set_words.encode_with(Parallelism::SEQUENTIAL).unwrap();
        // Streamed from the large size on, or never (other tests running
        // meanwhile only store differently), under every tier this CPU can
        // run (they count the decoded bits in different ways: see
        // `ewah::Counting`).
        let _lock = crate::scan::test_dispatch_lock();
        let tiers = crate::kernels::available();
        let modes = [Some(crate::ewah::LARGE_MIN_BYTES), Some(usize::MAX)];
        for (tier, stream_min, parallelism) in tiers.iter().flat_map(|&tier| {
            modes.into_iter().flat_map(move |m| {
                [
                    (tier, m, Parallelism::SEQUENTIAL),
                    (tier, m, Parallelism::current_pool()),
                ]
            })
        }) {
            crate::kernels::force(tier).unwrap();
            crate::ewah::set_stream_min_bytes(stream_min);
            assert_eq!(
                crate::ewah::Stores::for_bytes(8 * set.acquired.len()).stream(),
                stream_min == Some(crate::ewah::LARGE_MIN_BYTES)
            );
            set = FreeSet::unopened(blocks).unwrap();
            set.open_with(&a, &r, &[], &[], parallelism).unwrap();
            assert_eq!(set.acquired, set_words.acquired);
            assert_eq!(set.count_free(), set_words.count_free());
            assert_eq!(set.highest_acquired(), set_words.highest_acquired());
            set.checkpoint_durable().unwrap(); // open leaves it not durable
            assert_eq!(
                set.encode_with(parallelism).unwrap(),
                (a.clone(), r.clone())
            );
            let mut copy = set.clone();
            copy.rebuild_derived(Parallelism::SEQUENTIAL);
            assert_eq!(copy.index, set.index);
            assert_eq!(copy.free_count, set.free_count);
        }
        crate::ewah::set_stream_min_bytes(None);
        crate::kernels::force(tiers[0]).unwrap();
    }

    #[test]
    fn sizes_that_cannot_be_allocated_are_an_error() {
        for blocks in [u64::MAX, 1 << 62, 1 << 56] {
            assert_eq!(
                FreeSet::new(blocks).unwrap_err(),
                Error::TooManyBlocks(blocks),
                "{blocks}"
            );
            assert!(FreeSet::unopened(blocks).is_err());
        }
    }

    #[test]
    fn a_clone_has_its_own_identity() {
        let mut set = FreeSet::new(10_000).unwrap();
        let r = set.reserve(2).unwrap().unwrap();
        let mut copy = set.clone();
        // The clone refuses the original's reservation and has none active...
        assert!(matches!(
            copy.acquire(&r),
            Err(Error::StaleReservation { .. })
        ));
        assert!(copy.forfeit(&r).is_err());
        assert_eq!(copy.count_reservations(), 0);
        // ...so it reserves from the start, and checkpoints freely.
        let own = copy.reserve(1).unwrap().unwrap();
        assert_eq!(own.block_base(), 0);
        assert_eq!(copy.acquire(&own).unwrap(), Some(1));
        assert!(set.acquire(&own).is_err());
        copy.forfeit(&own).unwrap();
        copy.checkpoint_not_durable().unwrap();
        copy.checkpoint_durable().unwrap();
        // The original is untouched.
        assert_eq!(set.acquire(&r).unwrap(), Some(1));
        assert_eq!(set.count_reservations(), 1);
    }

    #[test]
    fn a_reservation_of_another_set_in_the_same_session_is_foreign() {
        // Both sets are in session 1: the number alone would accept it.
        let mut old = FreeSet::new(100).unwrap();
        let r = old.reserve(5).unwrap().unwrap();
        let mut new = FreeSet::new(100).unwrap();
        let own = new.reserve(1).unwrap().unwrap();
        assert_eq!((r.session(), own.session()), (1, 1));
        let before = format!("{new:?}");
        let error = new.acquire(&r).unwrap_err();
        assert_eq!(error, Error::ForeignReservation { session: 1 });
        assert!(error.to_string().contains("another free set"), "{error}");
        assert_eq!(new.forfeit(&r).unwrap_err(), error);
        assert_eq!(format!("{new:?}"), before);
        // A session that ended gives the stale error, with both numbers.
        new.forfeit(&own).unwrap();
        assert_eq!(
            new.acquire(&own).unwrap_err(),
            Error::StaleReservation {
                reservation: 1,
                current: 2
            }
        );
    }

    #[test]
    fn debug_prints_a_summary_not_the_words() {
        let set = FreeSet::new(1 << 24).unwrap();
        let text = format!("{set:?}");
        assert!(text.len() < 300, "{text}");
        assert!(text.contains("limit: 16777216"), "{text}");
        assert!(text.contains("free: 16777216"), "{text}");
    }

    #[test]
    fn reset_clears_only_what_was_acquired_and_all_of_it() {
        let mut set = FreeSet::new(3 * SHARD_BLOCKS).unwrap();
        let r = set.reserve(5000).unwrap().unwrap();
        while set.acquire(&r).unwrap().is_some() {}
        set.forfeit(&r).unwrap();
        set.release(4097).unwrap();
        set.reset();
        assert_eq!(set.count_free(), 3 * SHARD_BLOCKS);
        assert_eq!(set.count_released(), 0);
        assert!(!set.is_opened());
    }
}
