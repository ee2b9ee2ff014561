//! Reservations: how concurrent jobs acquire deterministically.
//!
//! A job reserves `n` free blocks up front and later acquires from its own
//! range; the ranges of a session never overlap, so the blocks a job gets do not
//! depend on how jobs interleave. A session ends when every reservation of it has
//! been forfeited; reservations of an ended session are rejected from then on.
//!
//! What lives here: the [`Reservation`] value handed to callers and the
//! bookkeeping of the active session, with its table of reservations: one
//! [`Slot`] per reservation of the session (whether it was forfeited, and
//! the position below which every block of its range is acquired, where its
//! next acquire starts). The table is cleared, its capacity kept, when the
//! session ends; a reservation finds its slot by the index it carries, so
//! an acquire allocates nothing and searches nothing.
//!
//! What must never happen here: touching the bitsets (the set does that),
//! accepting a reservation of another session or another set, or a forfeit
//! of a reservation that was forfeited already.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;
use crate::words;

/// A range of blocks reserved for one job, valid until its session ends.
///
/// It is a small `Copy` value; the set keeps a slot per reservation of the
/// session (forfeited or not, and where its next acquire starts), found by
/// an index the value carries.
///
/// ```
/// use freeset::FreeSet;
///
/// let mut set = FreeSet::new(10_000)?;
/// let first = set.reserve(10)?.expect("room");
/// let second = set.reserve(5)?.expect("room");
/// // Addresses are 1-based; `block_base` is a 0-based index.
/// assert_eq!(first.addresses(), 1..11);
/// assert_eq!(second.addresses(), 11..16);
/// assert_eq!(second.block_base(), 10);
/// assert_eq!(set.acquire(&second)?, Some(11));
/// # Ok::<(), freeset::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reservation {
    block_base: u64,
    block_count: u64,
    session: u64,
    /// Index of its slot in the session's table.
    slot: u32,
    /// The key of the set's session that issued it: unique to one session of
    /// one set, so that a reservation of another set (a clone, a set
    /// replaced by a reopen) or of an ended session is never accepted, and
    /// an acquire checks it with one compare.
    key: u64,
}

impl Reservation {
    /// Index (0-based) of the first block of the range: block `i` is address
    /// `i + 1`. Traces print it; [`Reservation::addresses`] gives the range
    /// as addresses.
    pub fn block_base(&self) -> u64 {
        self.block_base
    }

    /// The addresses (1-based, as [`FreeSet::acquire`](crate::FreeSet::acquire)
    /// returns them) of the range: `block_base() + 1 .. block_base() +
    /// block_count() + 1`.
    pub fn addresses(&self) -> std::ops::Range<u64> {
        self.block_base + 1..self.block_base + self.block_count + 1
    }

    /// Number of blocks in the range: the free blocks reserved plus any acquired
    /// blocks between them.
    pub fn block_count(&self) -> u64 {
        self.block_count
    }

    /// The session the reservation belongs to.
    pub fn session(&self) -> u64 {
        self.session
    }

    /// The key of the session (and set) that issued it.
    pub(crate) fn key(&self) -> u64 {
        self.key
    }

    /// Index of its slot in the table of its session.
    #[inline]
    pub(crate) fn slot(&self) -> usize {
        self.slot as usize
    }
}

/// Source of session keys; only uniqueness matters (2^64 sessions do not
/// come to pass).
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

fn new_key() -> u64 {
    NEXT_KEY.fetch_add(1, Ordering::Relaxed)
}

/// Why a set whose current session is `current` rejects `reservation`
/// (whose key is not the session's): its session ended, or another set
/// issued it. Within one set a key and its session number change together,
/// so a reservation whose number is the current one comes from another set.
/// Inline: on the acquire path it is built straight into the result, and the
/// fast path keeps the small stack frame it had.
#[inline]
pub(crate) fn rejected(reservation: &Reservation, current: u64) -> Error {
    if reservation.session == current {
        Error::ForeignReservation { session: current }
    } else {
        Error::StaleReservation {
            reservation: reservation.session,
            current,
        }
    }
}

/// What the set keeps of one reservation of the current session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    /// Every block of the reservation's range below it is acquired: its
    /// next acquire starts here. At least the range's first block, and kept
    /// by word as the set's floor is (it moves on when its word fills, or
    /// when a search passes words), so that an acquire reads it without
    /// writing it. Moved only by [`Slot::place`], with `fast_end`.
    pub(crate) position: u64,
    /// Where the fast path of an acquire stops, for this position: see
    /// [`fast_end`]. Kept beside the position so that the fast path reads
    /// one line of the table and nothing of the reservation but its key and
    /// slot: one test (`position < fast_end`) says whether the open word
    /// lies whole in the range, and whether it is below the limit's word.
    pub(crate) fast_end: u64,
    /// The reservation's range, `[base, end)`: its acquires set bits only
    /// there, so the set can tell which bits of its open word (the word at
    /// `position`) are its own.
    pub(crate) base: u64,
    pub(crate) end: u64,
    /// How many blocks of the range in the open word the set's free count
    /// has counted as acquired. The fast path acquires there without
    /// counting (the set's free count lags behind by the word's acquired
    /// blocks of the range less this); the set keeps it (`open_words.rs`).
    pub(crate) counted: u32,
    /// `forfeit` was called with it.
    pub(crate) forfeited: bool,
}

impl Slot {
    /// Moves the position to `position` (on or back, at or after the
    /// range's start), and the fast end with it; `whole_end` is the set's.
    #[inline]
    pub(crate) fn place(&mut self, position: u64, whole_end: u64) {
        debug_assert!(position >= self.base);
        self.position = position;
        self.fast_end = fast_end(position, self.base, self.end, whole_end);
    }
}

/// Where the fast path of an acquire from a reservation of `[base, end)`
/// whose position is `position` stops: the range's end, or `whole_end` (the
/// first block of the word that holds the set's limit) when that is lower,
/// so that a word the fast path fills is `!0` and the limit's own word goes
/// the slow way. But 0, which closes the fast path, while the position's
/// word starts before the range: the fast path finds the lowest free bit of
/// the word by adding one to it, which needs every bit below the position
/// acquired, and below the range's start nothing says so (that first word
/// goes the slow way).
pub(crate) fn fast_end(position: u64, base: u64, end: u64, whole_end: u64) -> u64 {
    if words::word_start(position) >= base {
        end.min(whole_end)
    } else {
        0
    }
}

/// The reservation state of one set.
#[derive(Debug, Clone)]
pub(crate) struct Reservations {
    /// Key of the current session of this set: see [`Reservation::key`].
    key: u64,
    /// Index of the first block not covered by an active reservation; 0 when
    /// none is active.
    reserved_until: u64,
    /// Active reservations of the current session.
    active: u64,
    session: u64,
    /// Some but not all reservations of the session were forfeited.
    forfeiting: bool,
    /// One slot per reservation of the session, in the order they were
    /// made: [`Reservation::slot`] indexes it.
    pub(crate) table: Vec<Slot>,
}

impl Reservations {
    pub(crate) fn new() -> Self {
        Reservations {
            key: new_key(),
            reserved_until: 0,
            active: 0,
            session: 1,
            forfeiting: false,
            table: Vec::new(),
        }
    }

    /// The reservation state of a copy of the set: a new identity and no
    /// active reservation, in a session after the original's (so that the
    /// two never issue equal reservations).
    pub(crate) fn fork(&self) -> Self {
        let mut fork = Reservations {
            key: self.key,
            reserved_until: self.reserved_until,
            active: self.active,
            session: self.session,
            forfeiting: self.forfeiting,
            table: Vec::new(),
        };
        fork.end_session(); // a new key, too
        fork
    }

    pub(crate) fn session(&self) -> u64 {
        self.session
    }

    pub(crate) fn key(&self) -> u64 {
        self.key
    }

    pub(crate) fn reserved_until(&self) -> u64 {
        self.reserved_until
    }

    pub(crate) fn active(&self) -> u64 {
        self.active
    }

    /// Checks that a new reservation may be made (the caller checks `n`),
    /// and makes room for its slot: the one allocation a reservation may
    /// need (the table keeps its capacity from one session to the next).
    pub(crate) fn check_reserve(&mut self) -> Result<(), Error> {
        if self.forfeiting {
            return Err(Error::Forfeiting);
        }
        if u32::try_from(self.table.len()).is_err() || self.table.try_reserve(1).is_err() {
            return Err(Error::OutOfMemory {
                bytes: (self.table.len() as u64 + 1) * std::mem::size_of::<Slot>() as u64,
                what: "the table of reservations",
            });
        }
        Ok(())
    }

    /// Records a reservation of `[reserved_until, end)`, after `check_reserve`;
    /// `whole_end` is the set's limit rounded down to a word, and every
    /// block below `floor` is acquired (its first acquire starts there when
    /// that is past the range's start).
    pub(crate) fn reserve(&mut self, end: u64, whole_end: u64, floor: u64) -> Reservation {
        self.reserve_at(self.reserved_until, end, whole_end, floor)
    }

    /// Records a reservation of `[base, end)`, `base` at or after
    /// `reserved_until` (an extent: the blocks between the two are skipped,
    /// reserved by nobody in this session), after `check_reserve`; as
    /// `reserve` otherwise.
    pub(crate) fn reserve_at(
        &mut self,
        base: u64,
        end: u64,
        whole_end: u64,
        floor: u64,
    ) -> Reservation {
        debug_assert!(!self.forfeiting);
        debug_assert!(base >= self.reserved_until && end > base);
        debug_assert!(
            self.table.len() < self.table.capacity(),
            "check_reserve made room"
        );
        let reservation = Reservation {
            block_base: base,
            block_count: end - base,
            session: self.session,
            slot: self.table.len() as u32,
            key: self.key,
        };
        // `counted` is the set's to fill in: it reads the bitset.
        let position = base.max(floor);
        self.table.push(Slot {
            position,
            fast_end: fast_end(position, base, end, whole_end),
            base,
            end,
            counted: 0,
            forfeited: false,
        });
        self.reserved_until = end;
        self.active += 1;
        reservation
    }

    /// Checks that `reservation` may be acquired from or forfeited: it was
    /// issued in the current session of this set. One compare: a session
    /// with no active reservation has ended, and its key with it.
    #[inline]
    pub(crate) fn check(&self, reservation: &Reservation) -> Result<(), Error> {
        if reservation.key != self.key {
            return Err(self.stale(reservation));
        }
        debug_assert!(
            self.active > 0,
            "a session without reservations has a new key"
        );
        // A reservation of the current session lies inside the reserved
        // prefix, and has its slot.
        debug_assert!(reservation.block_base + reservation.block_count <= self.reserved_until);
        debug_assert!(reservation.slot() < self.table.len());
        Ok(())
    }

    /// The position of the reservation in `slot`, which [`check`] accepted
    /// (so the slot is in the table), and its fast end: see
    /// [`Slot::position`] and [`Slot::fast_end`].
    ///
    /// Without a bounds check: on the path of every acquire, where the
    /// check (a compare and a branch, and the load of the table's length)
    /// was a large share of the instructions of an acquire that fills a
    /// set (perf/notes.md).
    ///
    /// [`check`]: Reservations::check
    #[inline]
    pub(crate) fn fast_path(&self, slot: usize) -> (u64, u64) {
        debug_assert!(slot < self.table.len());
        // SAFETY: `slot` is the slot of a reservation that `check` accepted:
        // its key is the current session's. Keys are unique to one session
        // of one set (`new_key`), so this set issued it in this session,
        // which pushed its slot (`reserve`); the table is cleared only when
        // the session ends (`end_session`), which changes the key. A
        // `Reservation` cannot be made outside this module (its fields are
        // private), so its `slot` is the index `reserve` gave it, below the
        // table's length.
        let entry = unsafe { self.table.get_unchecked(slot) };
        (entry.position, entry.fast_end)
    }

    #[cold]
    fn stale(&self, reservation: &Reservation) -> Error {
        rejected(reservation, self.session)
    }

    /// One fewer active reservation, after `check`: `reservation`'s. The
    /// last one ends the session. A reservation forfeited already is an
    /// error that changes nothing.
    pub(crate) fn forfeit(&mut self, reservation: &Reservation) -> Result<(), Error> {
        debug_assert!(self.active > 0);
        let slot = &mut self.table[reservation.slot()];
        if slot.forfeited {
            return Err(Error::AlreadyForfeited {
                address: reservation.block_base + 1,
                session: self.session,
            });
        }
        slot.forfeited = true;
        self.active -= 1;
        if self.active == 0 {
            self.end_session();
        } else {
            self.forfeiting = true;
        }
        Ok(())
    }

    /// Ends the session: every reservation issued so far is rejected from
    /// now on, and the table is emptied (its capacity kept).
    pub(crate) fn end_session(&mut self) {
        self.key = new_key();
        self.reserved_until = 0;
        self.active = 0;
        self.session += 1;
        self.forfeiting = false;
        self.table.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_end_is_closed_while_the_word_starts_before_the_range() {
        // A range of [70, 300) in a set whose limit lies in the word of
        // blocks 256..320: its first word (64..128) starts before it.
        let (base, end, whole_end) = (70, 300, 256);
        assert_eq!(fast_end(70, base, end, whole_end), 0);
        assert_eq!(fast_end(127, base, end, whole_end), 0);
        // Whole words of the range: up to the limit's word, below its end.
        assert_eq!(fast_end(128, base, end, whole_end), 256);
        assert_eq!(fast_end(255, base, end, whole_end), 256);
        // A range that starts at a word and ends below the limit's word.
        assert_eq!(fast_end(64, 64, 200, whole_end), 200);
        assert_eq!(fast_end(199, 64, 200, whole_end), 200);
    }

    #[test]
    fn placing_a_position_moves_its_fast_end() {
        let mut slot = Slot {
            position: 70,
            fast_end: fast_end(70, 70, 300, 256),
            base: 70,
            end: 300,
            counted: 0,
            forfeited: false,
        };
        assert_eq!(slot.fast_end, 0);
        slot.place(128, 256);
        assert_eq!((slot.position, slot.fast_end), (128, 256));
        slot.place(100, 256);
        assert_eq!((slot.position, slot.fast_end), (100, 0));
    }
}
