//! A set's copies and how it compares and prints: `Clone` (and the
//! scalars `try_clone` in `mod.rs` shares), `PartialEq` over the
//! persistent state, and a `Debug` that summarises instead of printing
//! millions of words.
//!
//! What must never happen here: a copy that shares an identity (a
//! reservation of one accepted by the other), or a `Debug` whose length
//! grows with the capacity.

use std::fmt;

use super::trailer::LastTrailer;
use super::FreeSet;
use crate::summary::{ShardBits, WordMap};

/// A clone is a set of its own: it has a new identity and no active
/// reservation (the original's reservations stay the original's; the clone
/// rejects them, and its session starts after theirs). Bitsets, counters,
/// checkpoint state and the last trailer are copied.
///
/// Like the clone of a std collection, it aborts the process when its
/// memory (three bitsets) cannot be allocated: [`FreeSet::try_clone`]
/// returns an error instead.
impl Clone for FreeSet {
    fn clone(&self) -> Self {
        let mut set = FreeSet {
            acquired: self.acquired.clone(),
            released: self.released.clone(),
            pending: self.pending.clone(),
            index: self.index.clone(),
            acquired_shards: self.acquired_shards.clone(),
            released_shards: self.released_shards.clone(),
            pending_shards: self.pending_shards.clone(),
            word_map: self.word_map.clone(),
            trailer: self.trailer.clone(),
            reuse: self.reuse.clone(),
            ..self.copy_scalars()
        };
        // The copy has no reservations (a new session), so no open words:
        // the original's are folded into its summaries.
        set.fold_open_words_of(&self.reservations.table);
        set
    }
}

impl FreeSet {
    /// A set with this one's counters and state and no memory of its own
    /// (empty bitsets, summaries and trailer), for a copy to fill in; a new
    /// identity, as a clone has.
    pub(super) fn copy_scalars(&self) -> Self {
        FreeSet {
            limit: self.limit,
            acquired: Vec::new(),
            released: Vec::new(),
            pending: Vec::new(),
            index: ShardBits::empty(),
            acquired_shards: ShardBits::empty(),
            released_shards: ShardBits::empty(),
            pending_shards: ShardBits::empty(),
            word_map: WordMap::empty(),
            floor: self.floor,
            acquired_past_limit: self.acquired_past_limit,
            free_count: self.free_count,
            released_count: self.released_count,
            pending_count: self.pending_count,
            highest: self.highest,
            limit_word: self.limit_word,
            limit_word_mask: self.limit_word_mask,
            whole_end: self.whole_end,
            reservations: self.reservations.fork(),
            trailer: LastTrailer::default(),
            reuse: None,
            opened: self.opened,
            durable: self.durable,
        }
    }
}

/// Two sets are equal when their persistent state is: the limit, whether
/// they are opened, whether the checkpoint is durable, and the acquired,
/// released and pending bitsets (everything else is derived from these).
/// Reservations and sessions (a set's identity), the last trailer that
/// [`FreeSet::checkpoint`] keeps for the next one, and the [`Options`](crate::Options) (and
/// the snapshot immediate reuse keeps) are not compared.
///
/// ```
/// use freeset::FreeSet;
///
/// let mut set = FreeSet::new(10_000)?;
/// let r = set.reserve(3)?.expect("room");
/// set.acquire(&r)?;
/// let copy = set.clone(); // no reservation, a new session: still equal
/// assert_eq!(copy, set);
/// set.acquire(&r)?;
/// assert_ne!(copy, set);
/// # Ok::<(), freeset::Error>(())
/// ```
impl PartialEq for FreeSet {
    fn eq(&self, other: &Self) -> bool {
        self.limit == other.limit
            && self.opened == other.opened
            && self.durable == other.durable
            && self.acquired == other.acquired
            && self.released == other.released
            && self.pending == other.pending
    }
}

impl Eq for FreeSet {}

/// A summary: sizes, counters and state, never the words.
impl fmt::Debug for FreeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FreeSet")
            .field("limit", &self.limit)
            .field("capacity", &self.capacity())
            .field("opened", &self.opened)
            .field("checkpoint_durable", &self.durable)
            .field("immediate_reuse", &self.reuse.is_some())
            .field("free", &self.count_free())
            .field("acquired", &self.count_acquired())
            .field("released", &self.count_released())
            .field("reservations", &self.reservations.active())
            .field("session", &self.reservations.session())
            .finish()
    }
}
