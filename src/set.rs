//! The free set: which blocks of the grid are acquired, released, or free.
//!
//! State, all derived from the three bitsets except the reservation bookkeeping:
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

use crate::error::{DecodeError, Error, TrailerReason};
use crate::ewah::{self, Encoder};
use crate::reservation::{Reservation, Reservations};
use crate::scan;
use crate::summary::ShardBits;

use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

/// Blocks per shard: 64 words, 512 bytes, 8 cache lines.
pub const SHARD_BLOCKS: u64 = 4096;
/// Words per shard.
pub const SHARD_WORDS: usize = 64;

/// One of the two bitsets a free set persists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bitset {
    /// Blocks in use or waiting to be freed.
    Acquired,
    /// Blocks released and waiting for the next durable checkpoint (both the
    /// `released` and the `pending` bits: after a durable checkpoint only the
    /// former exist).
    Released,
}

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
#[derive(Debug, Clone)]
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
    /// Every block below it (and below the limit) is acquired: searches for a
    /// free block start here. Only a durable checkpoint lowers it.
    free_floor: u64,
    /// Set bits of `acquired` (including any past the limit that `open` brought).
    acquired_count: u64,
    /// Blocks below the limit that are not acquired.
    free_count: u64,
    released_count: u64,
    pending_count: u64,
    reservations: Reservations,
    opened: bool,
    durable: bool,
}

impl FreeSet {
    /// An empty, opened set of `blocks_count` blocks, with a durable checkpoint.
    /// The capacity is `blocks_count` rounded up to whole shards.
    pub fn new(blocks_count: u64) -> Result<Self, Error> {
        let mut set = Self::unopened(blocks_count)?;
        set.opened = true;
        Ok(set)
    }

    /// An empty set that is not opened yet: the state before [`FreeSet::open`].
    pub fn unopened(blocks_count: u64) -> Result<Self, Error> {
        if blocks_count == 0 {
            return Err(Error::ZeroBlocks);
        }
        let shards = blocks_count.div_ceil(SHARD_BLOCKS);
        let words = shards
            .checked_mul(SHARD_WORDS as u64)
            .and_then(|w| usize::try_from(w).ok())
            .filter(|&w| w.checked_mul(8).is_some())
            .ok_or(Error::TooManyBlocks(blocks_count))?;
        let set = FreeSet {
            limit: blocks_count,
            acquired: vec![0; words],
            released: vec![0; words],
            pending: vec![0; words],
            index: ShardBits::new(shards as usize),
            acquired_shards: ShardBits::new(shards as usize),
            released_shards: ShardBits::new(shards as usize),
            pending_shards: ShardBits::new(shards as usize),
            free_floor: 0,
            acquired_count: 0,
            free_count: blocks_count,
            released_count: 0,
            pending_count: 0,
            reservations: Reservations::new(),
            opened: false,
            durable: true,
        };
        set.check_invariants();
        Ok(set)
    }

    /// An opened set with a durable checkpoint whose `acquired` bitset is
    /// `acquired` (exactly `capacity / 64` words) and with nothing released: a
    /// set restored from a raw bitset, or built directly by a benchmark. The
    /// index and counters are derived from the words.
    pub fn from_acquired_words(blocks_count: u64, acquired: Vec<u64>) -> Result<Self, Error> {
        let mut set = Self::new(blocks_count)?;
        if acquired.len() != set.acquired.len() {
            return Err(Error::WordCount {
                expected: set.acquired.len(),
                got: acquired.len(),
            });
        }
        set.acquired = acquired;
        set.rebuild_derived();
        set.check_invariants();
        Ok(set)
    }

    /// Blocks the set hands out: the `blocks_count` it was made with.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Blocks the bitsets cover: the limit rounded up to whole shards.
    pub fn capacity(&self) -> u64 {
        self.acquired.len() as u64 * 64
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.acquired.len() / SHARD_WORDS
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

    // ---- reservations and acquisition ----------------------------------

    /// Reserves `n` free blocks after the ones already reserved in this session.
    /// `Ok(None)` when there are not `n` free blocks left below the limit.
    pub fn reserve(&mut self, n: u64) -> Result<Option<Reservation>, Error> {
        if n == 0 {
            return Err(Error::ReserveZero);
        }
        if !self.opened {
            return Err(Error::NotOpened);
        }
        self.reservations.check_reserve()?;
        let from = self.reservations.reserved_until();
        let Some(last) = self.nth_free(from, n) else {
            return Ok(None);
        };
        debug_assert!(last >= from && last < self.limit);
        Ok(Some(self.reservations.reserve(last + 1)))
    }

    /// Acquires the lowest free block of the reservation's range and returns its
    /// address; `Ok(None)` when the range has no free block left.
    pub fn acquire(&mut self, reservation: &Reservation) -> Result<Option<u64>, Error> {
        self.reservations.check(reservation)?;
        let from = reservation.block_base();
        let to = from + reservation.block_count();
        debug_assert!(to <= self.limit);
        let found = self.first_free(from, to);
        if from <= self.free_floor {
            // The search started at the floor: every block up to what it found
            // (or up to `to`) is acquired, and the found one is about to be.
            self.free_floor = found.map_or(to, |b| b + 1).max(self.free_floor);
        }
        let Some(block) = found else {
            return Ok(None);
        };
        self.set_acquired(block);
        Ok(Some(block + 1))
    }

    /// Gives a reservation back. When it was the last active one the session
    /// ends, and every reservation of it is rejected from then on.
    pub fn forfeit(&mut self, reservation: &Reservation) -> Result<(), Error> {
        self.reservations.check(reservation)?;
        self.reservations.forfeit();
        Ok(())
    }

    /// Number of active reservations.
    pub fn count_reservations(&self) -> u64 {
        self.reservations.active()
    }

    /// Marks a free block acquired and brings the index and counters along.
    fn set_acquired(&mut self, block: u64) {
        let (word, bit) = ((block / 64) as usize, block % 64);
        debug_assert!(block < self.limit);
        debug_assert!(self.acquired[word] >> bit & 1 == 0);
        self.acquired[word] |= 1 << bit;
        self.acquired_count += 1;
        self.free_count -= 1;
        let shard = word / SHARD_WORDS;
        self.acquired_shards.set(shard);
        // Only a word that just became full can make its shard full.
        let mask = self.word_mask(word);
        if self.acquired[word] & mask == mask && self.shard_is_full(shard) {
            self.index.set(shard);
        }
    }

    /// Bits of word `word` that stand for blocks below the limit.
    #[inline]
    fn word_mask(&self, word: usize) -> u64 {
        limit_mask(self.limit, word)
    }

    fn shard_is_full(&self, shard: usize) -> bool {
        let words = shard * SHARD_WORDS..(shard + 1) * SHARD_WORDS;
        words.clone().zip(&self.acquired[words]).all(|(i, &w)| {
            let mask = self.word_mask(i);
            w & mask == mask
        })
    }

    /// Lowest free block in `[from, to)`: starts at the free floor when that is
    /// higher and skips full shards through the index.
    fn first_free(&self, from: u64, to: u64) -> Option<u64> {
        let mut pos = from.max(self.free_floor);
        if pos >= to {
            return None;
        }
        // Fast path: acquires mostly find a free block in the word they start
        // in (the floor sits right after the last block acquired).
        let word = (pos / 64) as usize;
        let free = !self.acquired[word] & (!0u64 << (pos % 64));
        if free != 0 {
            let block = word as u64 * 64 + u64::from(free.trailing_zeros());
            return (block < to).then_some(block);
        }
        pos = (word as u64 + 1) * 64;
        while pos < to {
            let shard = self.next_open_shard(pos, to)?;
            pos = pos.max(shard as u64 * SHARD_BLOCKS);
            let end = ((shard as u64 + 1) * SHARD_BLOCKS).min(to);
            if let Some(b) = scan::first_zero(&self.acquired, pos as usize, end as usize) {
                return Some(b as u64);
            }
            pos = end;
        }
        None
    }

    /// The first shard that is not full among those holding `[pos, to)`.
    #[inline]
    fn next_open_shard(&self, pos: u64, to: u64) -> Option<usize> {
        debug_assert!(pos < to && to <= self.capacity());
        let first = (pos / SHARD_BLOCKS) as usize;
        let last = ((to - 1) / SHARD_BLOCKS) as usize;
        self.index.first_clear(first, last + 1)
    }

    /// The `n`-th free block at or after `from` and below the limit.
    fn nth_free(&self, from: u64, n: u64) -> Option<u64> {
        debug_assert!(n >= 1);
        if n > self.free_count {
            return None;
        }
        let mut left = n;
        let mut pos = from.max(self.free_floor);
        while pos < self.limit {
            // Full shards hold no free block: they count for nothing.
            let shard = self.next_open_shard(pos, self.limit)?;
            pos = pos.max(shard as u64 * SHARD_BLOCKS);
            let end = ((shard as u64 + 1) * SHARD_BLOCKS).min(self.limit);
            match scan::nth_zero(&self.acquired, pos as usize, end as usize, left) {
                Ok(b) => return Some(b as u64),
                Err(seen) => left -= seen,
            }
            pos = end;
        }
        None
    }

    // ---- release and checkpoints --------------------------------------

    /// Releases an acquired block: it becomes free when the checkpoint after the
    /// current one is durable (or, if the current one is not durable yet, the
    /// one after that).
    pub fn release(&mut self, address: u64) -> Result<(), Error> {
        let block = self.block_of(address)?;
        let (word, bit) = ((block / 64) as usize, block % 64);
        if self.acquired[word] >> bit & 1 == 0 {
            return Err(Error::NotAcquired(address));
        }
        if (self.released[word] | self.pending[word]) >> bit & 1 == 1 {
            return Err(Error::AlreadyReleased(address));
        }
        let shard = word / SHARD_WORDS;
        if self.durable {
            self.released[word] |= 1 << bit;
            self.released_count += 1;
            self.released_shards.set(shard);
        } else {
            self.pending[word] |= 1 << bit;
            self.pending_count += 1;
            self.pending_shards.set(shard);
        }
        Ok(())
    }

    /// A new checkpoint is being written: releases from now on wait for the one
    /// after it.
    pub fn checkpoint_not_durable(&mut self) -> Result<(), Error> {
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
            let words = shard * SHARD_WORDS..(shard + 1) * SHARD_WORDS;
            let mut any_acquired = 0u64;
            let mut any_freed = 0u64;
            for word in words {
                let released = self.released[word];
                debug_assert_eq!(self.acquired[word] & released, released);
                self.acquired[word] &= !released;
                self.released[word] = 0;
                any_acquired |= self.acquired[word];
                let below_limit = released & self.word_mask(word);
                if below_limit != 0 && any_freed == 0 {
                    let lowest = word as u64 * 64 + u64::from(below_limit.trailing_zeros());
                    self.free_floor = self.free_floor.min(lowest);
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
        debug_assert_eq!(freed, self.released_count);
        debug_assert!(self.released.iter().all(|&w| w == 0));
        self.acquired_count -= freed;
        self.free_count += freed_below_limit;
        std::mem::swap(&mut self.released, &mut self.pending);
        self.released_shards = std::mem::replace(&mut self.pending_shards, touched);
        self.pending_shards.clear_all();
        self.released_count = self.pending_count;
        self.pending_count = 0;
        self.durable = true;
        self.check_invariants();
        Ok(())
    }

    // ---- queries ---------------------------------------------------------

    /// Blocks below the limit that are not acquired.
    pub fn count_free(&self) -> u64 {
        self.free_count
    }

    /// Acquired blocks (released ones included until they are freed).
    pub fn count_acquired(&self) -> u64 {
        self.acquired_count
    }

    /// Released blocks, whether waiting for this checkpoint or the next.
    pub fn count_released(&self) -> u64 {
        self.released_count + self.pending_count
    }

    /// Highest acquired address, or `None`.
    pub fn highest_acquired(&self) -> Option<u64> {
        highest(&self.acquired, &self.acquired_shards)
    }

    /// Highest released (or pending) address, or `None`.
    pub fn highest_released(&self) -> Option<u64> {
        let released = highest(&self.released, &self.released_shards);
        released.max(highest(&self.pending, &self.pending_shards))
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

    // ---- persistence -----------------------------------------------------

    fn check_encodable(&self) -> Result<(), Error> {
        if !self.opened {
            return Err(Error::NotOpened);
        }
        if !self.durable {
            return Err(Error::EncodeNotDurable);
        }
        if self.reservations.active() > 0 {
            return Err(Error::ReservationsActive(self.reservations.active()));
        }
        // With a durable checkpoint nothing is pending, so `released` alone is
        // the released bitset.
        debug_assert_eq!(self.pending_count, 0);
        Ok(())
    }

    /// A streaming encoder of one bitset, for writing the encoding into
    /// fixed-size chunks (for example grid blocks). Same conditions as `encode`.
    pub fn encoder(&self, bitset: Bitset) -> Result<Encoder<'_>, Error> {
        self.check_encodable()?;
        Ok(Encoder::new(self.trimmed(bitset)))
    }

    /// The EWAH encodings of `acquired` and `released`, trailing zero runs
    /// trimmed. Needs a durable checkpoint and no active reservation.
    pub fn encode(&self) -> Result<(Vec<u8>, Vec<u8>), Error> {
        self.check_encodable()?;
        Ok((
            ewah::encode_parallel(self.trimmed(Bitset::Acquired)),
            ewah::encode_parallel(self.trimmed(Bitset::Released)),
        ))
    }

    /// The words of a bitset up to its last non-zero word: the summary names
    /// the last shard with a set bit, so only that shard is scanned.
    fn trimmed(&self, bitset: Bitset) -> &[u64] {
        let (words, summary) = match bitset {
            Bitset::Acquired => (&self.acquired, &self.acquired_shards),
            Bitset::Released => (&self.released, &self.released_shards),
        };
        let len = summary.last_set().map_or(0, |shard| {
            shard * SHARD_WORDS + ewah::trimmed_len(&words[shard_words(shard)])
        });
        debug_assert_eq!(len, ewah::trimmed_len(words));
        &words[..len]
    }

    /// Opens a set that is not opened (fresh from `unopened`, or `reset`) from
    /// its encoded bitsets and the addresses of the blocks holding the encoding
    /// (`trailer_acquired`, `trailer_released`: each strictly increasing, the two
    /// disjoint). Trailer blocks become acquired and pending release. The
    /// checkpoint is then not durable. On error the set stays empty and not
    /// opened.
    pub fn open(
        &mut self,
        acquired: &[u8],
        released: &[u8],
        trailer_acquired: &[u64],
        trailer_released: &[u64],
    ) -> Result<(), Error> {
        // One slice each: the parallel decoder can see the whole stream.
        self.open_with(
            |target, counts| {
                ewah::decode_parallel_with(acquired, target, true, &|first, words| {
                    counts.add(first, words)
                })
            },
            |target| ewah::decode_parallel(released, target, true),
            trailer_acquired,
            trailer_released,
        )
    }

    /// [`FreeSet::open`] with each encoding given as the chunks it was written
    /// in, cut at word boundaries.
    pub fn open_chunks<'c>(
        &mut self,
        acquired: impl IntoIterator<Item = &'c [u8]>,
        released: impl IntoIterator<Item = &'c [u8]>,
        trailer_acquired: &[u64],
        trailer_released: &[u64],
    ) -> Result<(), Error> {
        self.open_with(
            |target, counts| {
                let described = decode_chunks(acquired, target)?;
                counts.add(0, &target[..described]);
                Ok(described)
            },
            |target| decode_chunks(released, target),
            trailer_acquired,
            trailer_released,
        )
    }

    /// Opens with the two decoders given: each decodes its stream into an
    /// all-zero target and returns the number of words the stream described.
    fn open_with(
        &mut self,
        decode_acquired: impl FnOnce(&mut [u64], &ShardCounts) -> Result<usize, DecodeError>,
        decode_released: impl FnOnce(&mut [u64]) -> Result<usize, DecodeError>,
        trailer_acquired: &[u64],
        trailer_released: &[u64],
    ) -> Result<(), Error> {
        if self.opened {
            return Err(Error::AlreadyOpened);
        }
        debug_assert_eq!(
            self.acquired_count + self.released_count + self.pending_count,
            0
        );
        let result = self.open_unchecked(
            decode_acquired,
            decode_released,
            trailer_acquired,
            trailer_released,
        );
        if result.is_err() {
            // Nothing half-built stays: back to the empty, not opened state.
            self.acquired.fill(0);
            self.released.fill(0);
            self.pending.fill(0);
        }
        self.check_invariants();
        result
    }

    fn open_unchecked(
        &mut self,
        decode_acquired: impl FnOnce(&mut [u64], &ShardCounts) -> Result<usize, DecodeError>,
        decode_released: impl FnOnce(&mut [u64]) -> Result<usize, DecodeError>,
        trailer_acquired: &[u64],
        trailer_released: &[u64],
    ) -> Result<(), Error> {
        // The set is not opened, so its bitsets are all zeros: the decoders
        // skip zero runs and tails, and everything past the words a stream
        // described is known to be zero without looking. The acquired decoder
        // counts each shard's bits as it writes them.
        let counts = ShardCounts::new(self.shards());
        decode_acquired(&mut self.acquired, &counts).map_err(|source| Error::Decode {
            bitset: "acquired",
            source,
        })?;
        let released_words =
            decode_released(&mut self.released).map_err(|source| Error::Decode {
                bitset: "released",
                source,
            })?;
        if let Some(word) = (0..released_words).find(|&i| self.released[i] & !self.acquired[i] != 0)
        {
            let stray = self.released[word] & !self.acquired[word];
            return Err(Error::ReleasedNotAcquired(
                word as u64 * 64 + u64::from(stray.trailing_zeros()) + 1,
            ));
        }
        for (list, addresses) in [
            ("acquired", trailer_acquired),
            ("released", trailer_released),
        ] {
            let mut previous = 0;
            for (position, &address) in addresses.iter().enumerate() {
                let reason = if address == 0 {
                    Some(TrailerReason::Zero)
                } else if address > self.limit {
                    Some(TrailerReason::PastLimit)
                } else if address <= previous {
                    Some(TrailerReason::OutOfOrder)
                } else if bit(&self.acquired, address - 1) {
                    Some(TrailerReason::AlreadyAcquired)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    return Err(Error::Trailer {
                        list,
                        position,
                        address,
                        reason,
                    });
                }
                previous = address;
            }
        }
        // Both lists are valid on their own; set them one list at a time so
        // that an address in both is seen as already acquired.
        for (list, addresses) in [
            ("acquired", trailer_acquired),
            ("released", trailer_released),
        ] {
            for (position, &address) in addresses.iter().enumerate() {
                let (word, bit) = (((address - 1) / 64) as usize, (address - 1) % 64);
                if self.acquired[word] >> bit & 1 == 1 {
                    return Err(Error::Trailer {
                        list,
                        position,
                        address,
                        reason: TrailerReason::AlreadyAcquired,
                    });
                }
                self.acquired[word] |= 1 << bit;
                self.pending[word] |= 1 << bit;
            }
        }
        for &address in trailer_acquired.iter().chain(trailer_released) {
            counts.add_block(address - 1);
        }
        self.derive(0, released_words.div_ceil(SHARD_WORDS), 0);
        self.derive_acquired_from(&counts);
        for &address in trailer_acquired.iter().chain(trailer_released) {
            self.pending_shards
                .set(((address - 1) / SHARD_BLOCKS) as usize);
        }
        self.pending_count = (trailer_acquired.len() + trailer_released.len()) as u64;
        self.reservations.end_session();
        self.opened = true;
        self.durable = false;
        Ok(())
    }

    /// Recomputes the index, the summaries and the counters from the bitsets,
    /// in one pass over each bitset, a shard at a time.
    fn rebuild_derived(&mut self) {
        let shards = self.shards();
        self.derive(shards, shards, shards);
    }

    /// Derives the index, the summaries and the counters from the first
    /// `acquired`, `released` and `pending` shards of each bitset; the shards
    /// past those must be all zeros (the caller knows, so nobody reads them).
    fn derive(&mut self, acquired: usize, released: usize, pending: usize) {
        debug_assert!(acquired.max(released).max(pending) <= self.shards());
        self.index.clear_all();
        self.acquired_shards.clear_all();
        self.released_shards.clear_all();
        self.pending_shards.clear_all();
        self.free_floor = 0;
        self.acquired_count = 0;
        self.free_count = self.limit;
        self.released_count = 0;
        self.pending_count = 0;
        // Groups of 64 shards: one word of each summary. Large sets count
        // their groups on the rayon pool (see `ewah::PARALLEL_DECODE_MIN_WORDS`).
        let parallel =
            ewah::segments_for(acquired.max(released) * SHARD_WORDS, ewah::Work::Decode) > 1;
        let (limit, bits) = (self.limit, &self.acquired);
        let stats = map_groups(acquired.div_ceil(64), parallel, |group| {
            let (mut summary, mut index, mut count, mut below) = (0, 0, 0, 0);
            for shard in group * 64..((group + 1) * 64).min(acquired) {
                let stats = AcquiredShard::of(bits, limit, shard);
                summary |= u64::from(stats.count > 0) << (shard % 64);
                index |= u64::from(stats.full) << (shard % 64);
                count += stats.count;
                below += stats.below_limit;
            }
            (summary, index, count, below)
        });
        for (group, (summary, index, count, below)) in stats.into_iter().enumerate() {
            self.acquired_shards.or_word(group, summary);
            self.index.or_word(group, index);
            self.acquired_count += count;
            self.free_count -= below;
        }
        // A zero shard below the limit is not full, so the index of the
        // shards past `acquired` is already right (clear).
        let bits = &self.released;
        let stats = map_groups(released.div_ceil(64), parallel, |group| {
            let (mut summary, mut count) = (0, 0);
            for shard in group * 64..((group + 1) * 64).min(released) {
                let n = scan::count_ones(&bits[shard_words(shard)]);
                summary |= u64::from(n > 0) << (shard % 64);
                count += n;
            }
            (summary, count)
        });
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
    fn derive_acquired_from(&mut self, counts: &ShardCounts) {
        debug_assert_eq!(self.acquired_count, 0);
        let shards = self.shards();
        let parallel = ewah::segments_for(shards * SHARD_WORDS, ewah::Work::Decode) > 1;
        let (limit, bits) = (self.limit, &self.acquired);
        let stats = map_groups(shards.div_ceil(64), parallel, |group| {
            let (mut summary, mut index, mut count, mut below) = (0, 0, 0, 0);
            for shard in group * 64..((group + 1) * 64).min(shards) {
                let n = counts.get(shard);
                let stats = if (shard + 1) as u64 * SHARD_BLOCKS > limit {
                    AcquiredShard::of(bits, limit, shard)
                } else {
                    AcquiredShard {
                        count: n,
                        below_limit: n,
                        full: n == SHARD_BLOCKS,
                    }
                };
                debug_assert_eq!(stats.count, n, "shard {shard}");
                summary |= u64::from(stats.count > 0) << (shard % 64);
                index |= u64::from(stats.full) << (shard % 64);
                count += stats.count;
                below += stats.below_limit;
            }
            (summary, index, count, below)
        });
        for (group, (summary, index, count, below)) in stats.into_iter().enumerate() {
            self.acquired_shards.or_word(group, summary);
            self.index.or_word(group, index);
            self.acquired_count += count;
            self.free_count -= below;
        }
    }

    /// Back to empty and not opened. The session ends, so reservations made
    /// before the reset are rejected.
    pub fn reset(&mut self) {
        self.acquired.fill(0);
        self.released.fill(0);
        self.pending.fill(0);
        self.index.clear_all();
        self.acquired_shards.clear_all();
        self.released_shards.clear_all();
        self.pending_shards.clear_all();
        self.free_floor = 0;
        self.acquired_count = 0;
        self.free_count = self.limit;
        self.released_count = 0;
        self.pending_count = 0;
        self.reservations.end_session();
        self.opened = false;
        self.durable = true;
        self.check_invariants();
    }

    /// Derived state agrees with the bitsets (debug builds only: O(capacity)).
    fn check_invariants(&self) {
        if cfg!(debug_assertions) {
            let mut copy = self.clone();
            copy.rebuild_derived();
            assert_eq!(copy.index, self.index, "index disagrees with acquired");
            assert_eq!(copy.acquired_shards, self.acquired_shards);
            assert_eq!(copy.released_shards, self.released_shards);
            assert_eq!(copy.pending_shards, self.pending_shards);
            assert_eq!(copy.acquired_count, self.acquired_count);
            assert_eq!(copy.free_count, self.free_count);
            assert_eq!(copy.released_count, self.released_count);
            assert_eq!(copy.pending_count, self.pending_count);
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
            let floor = self.free_floor.min(self.limit) as usize;
            assert_eq!(
                scan::first_zero(&self.acquired, 0, floor),
                None,
                "a free block below the free floor"
            );
            if self.durable {
                assert_eq!(
                    self.pending_count, 0,
                    "pending blocks with a durable checkpoint"
                );
            }
        }
    }
}

/// Highest address set in `words`, found through its shard summary.
fn highest(words: &[u64], shards: &ShardBits) -> Option<u64> {
    let shard = shards.last_set()?;
    let base = shard * SHARD_WORDS;
    let bit = scan::last_one(&words[base..base + SHARD_WORDS]);
    debug_assert!(bit.is_some(), "the summary names a shard with a set bit");
    bit.map(|b| (base * 64 + b) as u64 + 1)
}

#[inline]
fn bit(words: &[u64], block: u64) -> bool {
    words[(block / 64) as usize] >> (block % 64) & 1 == 1
}

/// Set bits per shard, added up by the threads that decode `acquired`.
struct ShardCounts(Vec<AtomicU32>);

impl ShardCounts {
    fn new(shards: usize) -> Self {
        ShardCounts((0..shards).map(|_| AtomicU32::new(0)).collect())
    }

    /// Adds the bits of `words`, which are `acquired[first..]`.
    fn add(&self, first: usize, words: &[u64]) {
        // Whole shards go through the batch kernel, 64 shards a call.
        let head = ((SHARD_WORDS - first % SHARD_WORDS) % SHARD_WORDS).min(words.len());
        let whole = (words.len() - head) / SHARD_WORDS;
        self.add_partial(first, &words[..head]);
        let mut batch = [0u32; 64];
        let mut shard = (first + head) / SHARD_WORDS;
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
            self.0[first / SHARD_WORDS].fetch_add(ones, Ordering::Relaxed);
        }
    }

    /// Adds one block (a trailer block set after decoding).
    fn add_block(&self, block: u64) {
        self.0[(block / SHARD_BLOCKS) as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, shard: usize) -> u64 {
        u64::from(self.0[shard].load(Ordering::Relaxed))
    }
}

/// `f` of every group in `0..groups`, in order: on the rayon pool when
/// `parallel`, else on this thread (no pool hand-off for small sets).
fn map_groups<T: Send>(
    groups: usize,
    parallel: bool,
    f: impl Fn(usize) -> T + Sync + Send,
) -> Vec<T> {
    if parallel {
        (0..groups).into_par_iter().map(f).collect()
    } else {
        (0..groups).map(f).collect()
    }
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
        if (shard + 1) as u64 * SHARD_BLOCKS <= limit {
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

/// The bits of word `word` that lie below `limit`.
fn limit_mask(limit: u64, word: usize) -> u64 {
    let first = word as u64 * 64;
    if first + 64 <= limit {
        !0
    } else if first >= limit {
        0
    } else {
        (1 << (limit - first)) - 1
    }
}

/// The words of one shard.
fn shard_words(shard: usize) -> std::ops::Range<usize> {
    shard * SHARD_WORDS..(shard + 1) * SHARD_WORDS
}

/// Decodes into a target that is all zeros; returns the words described.
fn decode_chunks<'c>(
    chunks: impl IntoIterator<Item = &'c [u8]>,
    target: &mut [u64],
) -> Result<usize, DecodeError> {
    let mut decoder = ewah::Decoder::onto_zeros(target);
    for chunk in chunks {
        decoder.decode_chunk(chunk)?;
    }
    decoder.finish()
}
