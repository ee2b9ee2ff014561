//! The peers of `freeset bench --peers`: what an engine author would pick
//! instead of `freeset`, measured on the same workloads, in the same process
//! and the same run, from the same fills bit for bit ([`crate::workloads::fill`]).
//!
//! Each peer is one struct behind the small [`Peer`] trait, built the way
//! its crate's documentation shows a user building it, and no cleverer:
//!
//! - **`cursor`** ([`Cursor`]): the hand-written peer, what an engine author
//!   writes in ten lines. A `Vec<u64>` of acquired bits and a cursor (a word
//!   index below which every block is acquired): `acquire` scans from the
//!   cursor for the first word that is not all ones, takes its lowest zero bit
//!   (`trailing_ones`), sets it and leaves the cursor there. `highest_*` scans
//!   the words backwards. Its encoding is the raw words, little-endian, with
//!   the trailing zero words trimmed (as `freeset` trims its encoding); `open`
//!   copies them back and zeroes the rest.
//! - **`roaring`** ([`Roaring`], crate `roaring` 0.12): a `RoaringBitmap` of
//!   acquired blocks. `acquire` walks `contains()` up from a cursor to the
//!   first block not in the bitmap and `insert()`s it; `highest_*` is `max()`.
//!   Encode is `serialize_into` (the portable Roaring format), open is
//!   `deserialize_from` (checked) or `deserialize_unchecked_from`
//!   (`roaring-unchecked`: the crate's documented choice for trusted bytes).
//! - **`roaring-free`** ([`RoaringFree`]): the other design with the same
//!   crate, a bitmap of *free* blocks: `acquire` is `min()` then `remove()`.
//!   The bitmap is `optimize()`d once it is built, the crate's call for run
//!   containers: a fresh grid's free bitmap is one run, and without runs
//!   `min()` rescans a bitmap container from its start on every acquire
//!   (far slower on `acquire_fill`: perf/notes.md). It takes part in the acquire workloads only: the highest acquired block
//!   is the highest gap of a free bitmap, which the crate has no call for,
//!   and its checkpoint would be the free bitmap, a different quantity.
//! - **`croaring`** ([`Croaring`], crate `croaring` 2.x, CRoaring compiled
//!   from its C amalgamation): a `Bitmap` of acquired blocks, the same
//!   `contains()` walk and `add()`; `highest_*` is `maximum()`. Encode is
//!   `serialize::<Portable>()` (compatible with the other Roaring
//!   implementations; `Native` and `Frozen` are not). Open is
//!   `try_deserialize::<Portable>` (checked: CRoaring's safe deserializer,
//!   then `internal_validate`) or, in the `-unchecked` rows,
//!   `Portable::try_deserialize_unchecked`, which trusts its bytes. The
//!   `croaring-run` variants call `run_optimize()` on each bitmap before each
//!   serialize, as the crate's README does after building a bitmap: that is
//!   the call that turns runs into run containers, and it is timed, because
//!   an engine's bitmaps change between two checkpoints. They take part in
//!   the codec workloads only: the acquire and highest fills are random or
//!   empty, where `run_optimize` changes nothing.
//!
//! - **`twin`** (a [`Cursor`] that searches bit by bit): `acquire_extent`
//!   only, `freeset`'s bit-by-bit twin of the extent search (the one every
//!   kernel tier is tested against), so that the speed-up of the kernel
//!   over it is measured in the same run.
//!
//! In `acquire_extent` the `cursor` peer finds each extent by runs of zero
//! bits, with `trailing_zeros`/`trailing_ones` (`peers/extent.rs`).
//!
//! No peer knows about reservations or durability: with no release between
//! acquires (none of these workloads has one), `freeset`'s acquire order is
//! "the lowest free block", which every peer reproduces (tested below). A
//! peer used for real would move its cursor back to the lowest block freed by
//! a durable checkpoint.
//!
//! What must never happen here: a peer that hands out other blocks than
//! `freeset` on the same fill, or a peer that is measured doing work (or
//! skipping work) that `freeset`'s figure does not have; and none of these
//! crates ever becomes a dependency of the library.

use std::hint::black_box;
use std::sync::Arc;

use crate::workloads::{Fill, Name, Unit, Workload, EXTENT_LENGTHS, INTERLEAVED_JOBS};

mod extent;

mod bitmaps;

pub use bitmaps::{Croaring, Roaring, RoaringFree};

/// One peer of `freeset`: the operations the peer workloads time. Blocks are
/// returned as 1-based addresses, as `freeset` returns them.
pub trait Peer: Send {
    /// Acquires the lowest free block below the limit; `None` when there is
    /// none.
    fn acquire(&mut self) -> Option<u64>;
    /// The highest acquired address, or `None`.
    fn highest_acquired(&self) -> Option<u64>;
    /// The highest released address, or `None`.
    fn highest_released(&self) -> Option<u64>;
    /// The encodings of the acquired and released bitmaps.
    fn encode(&mut self) -> (Vec<u8>, Vec<u8>);
    /// Replaces the state with the one `acquired` and `released` (from
    /// [`Peer::encode`]) describe.
    fn open(&mut self, acquired: &[u8], released: &[u8]) -> Result<(), String>;
    /// Acquired blocks, for the checks that the peer did the work.
    fn count_acquired(&self) -> u64;
    /// Drops what the bitmaps hold, so that the next `open` (timed) frees
    /// nothing: the state `freeset`'s `reset` leaves before its `open`.
    fn clear(&mut self);
    /// Acquires the lowest free block of job `job`'s range, `None` when it
    /// has none left: the ranges are those of `acquire_interleaved`'s
    /// reservations ([`INTERLEAVED_JOBS`] of them, an equal share of the
    /// free blocks each). Only the peers that take part in
    /// `acquire_interleaved` have it.
    fn acquire_job(&mut self, job: usize) -> Option<u64> {
        let _ = job;
        unimplemented!("only the cursor peer takes part in acquire_interleaved")
    }
    /// Acquires the first run of `n` free blocks at or after block `from`
    /// and below the limit, and returns its first address; `None` when
    /// there is none. Only the peers that take part in `acquire_extent`
    /// have it.
    fn acquire_extent(&mut self, n: u64, from: u64) -> Option<u64> {
        let _ = (n, from);
        unimplemented!("only the cursor peers take part in acquire_extent")
    }
}

/// Every peer and variant: one row each in `freeset bench --peers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The hand-written `Vec<u64>` with a cursor.
    Cursor,
    /// `roaring`, bitmap of acquired blocks; open checked.
    Roaring,
    /// `roaring`, open with `deserialize_unchecked_from`.
    RoaringUnchecked,
    /// `roaring`, bitmap of free blocks.
    RoaringFree,
    /// `croaring`, bitmap of acquired blocks; open checked.
    Croaring,
    /// `croaring`, open unchecked.
    CroaringUnchecked,
    /// `croaring` with `run_optimize` before serializing; open checked.
    CroaringRun,
    /// `croaring` with `run_optimize`; open unchecked.
    CroaringRunUnchecked,
    /// The cursor peer searching for extents bit by bit: `freeset`'s twin.
    Twin,
}

impl Kind {
    /// Every peer, in the order of the table.
    pub const ALL: [Kind; 9] = [
        Kind::Cursor,
        Kind::Roaring,
        Kind::RoaringUnchecked,
        Kind::RoaringFree,
        Kind::Croaring,
        Kind::CroaringUnchecked,
        Kind::CroaringRun,
        Kind::CroaringRunUnchecked,
        Kind::Twin,
    ];

    /// The name in the table and in the JSON rows' `"impl"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Cursor => "cursor",
            Kind::Roaring => "roaring",
            Kind::RoaringUnchecked => "roaring-unchecked",
            Kind::RoaringFree => "roaring-free",
            Kind::Croaring => "croaring",
            Kind::CroaringUnchecked => "croaring-unchecked",
            Kind::CroaringRun => "croaring-run",
            Kind::CroaringRunUnchecked => "croaring-run-unchecked",
            Kind::Twin => "twin",
        }
    }

    /// Whether this peer has a row in workload `name`: the unchecked variants
    /// differ in `open` only, the run variants in the codec only, and the free
    /// bitmap answers acquires only.
    pub fn takes_part(self, name: Name) -> bool {
        let open = matches!(name, Name::OpenRuns | Name::OpenRandom);
        let codec = name.is_codec();
        let acquire = matches!(name, Name::AcquireFill | Name::AcquireFragmented);
        if !WORKLOADS.contains(&name) {
            return false;
        }
        if name == Name::AcquireExtent {
            // Runs of free blocks are a bitset's question; the twin is
            // the bit-by-bit search.
            return matches!(self, Kind::Cursor | Kind::Twin);
        }
        if self == Kind::Twin {
            return false;
        }
        if name == Name::AcquireInterleaved {
            // One cursor per job is the hand-written peer's answer; the
            // Roaring peers have no ranges to keep apart.
            return self == Kind::Cursor;
        }
        match self {
            Kind::Cursor | Kind::Roaring | Kind::Croaring => true,
            Kind::RoaringUnchecked | Kind::CroaringUnchecked | Kind::CroaringRunUnchecked => open,
            Kind::CroaringRun => codec,
            Kind::RoaringFree => acquire,
            Kind::Twin => false,
        }
    }

    /// The peer, built from `fill` (untimed).
    pub fn build(self, fill: &Fill) -> Box<dyn Peer> {
        match self {
            Kind::Cursor => Box::new(Cursor::new(fill)),
            Kind::Twin => Box::new(Cursor {
                bitwise: true,
                ..Cursor::new(fill)
            }),
            Kind::Roaring => Box::new(Roaring::new(fill, false)),
            Kind::RoaringUnchecked => Box::new(Roaring::new(fill, true)),
            Kind::RoaringFree => Box::new(RoaringFree::new(fill)),
            Kind::Croaring => Box::new(Croaring::new(fill, false, false)),
            Kind::CroaringUnchecked => Box::new(Croaring::new(fill, false, true)),
            Kind::CroaringRun => Box::new(Croaring::new(fill, true, false)),
            Kind::CroaringRunUnchecked => Box::new(Croaring::new(fill, true, true)),
        }
    }
}

/// The workloads the peers run, in the order of the table.
pub const WORKLOADS: [Name; 10] = [
    Name::AcquireFill,
    Name::AcquireFragmented,
    Name::AcquireInterleaved,
    Name::AcquireExtent,
    Name::HighestAcquired,
    Name::HighestReleased,
    Name::EncodeRuns,
    Name::EncodeRandom,
    Name::OpenRuns,
    Name::OpenRandom,
];

/// The set bits of `words` below `limit`, as `u32` values, one word at a
/// time (for building the Roaring bitmaps; untimed).
fn for_each_block(words: &[u64], limit: u64, mut f: impl FnMut(u32)) {
    for (i, &word) in words.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let block = i as u64 * 64 + u64::from(bits.trailing_zeros());
            if block >= limit {
                return;
            }
            f(block as u32);
            bits &= bits - 1;
        }
    }
}

/// Words as little-endian bytes: how both the cursor peer encodes and how
/// the Roaring bitmaps are built (`from_lsb0_bytes`).
fn le_bytes(words: &[u64]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(words.len() * 8);
    for word in words {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    bytes
}

/// Values fit `u32`: Roaring bitmaps hold `u32`s, and every size here is at
/// most 2^30 blocks.
fn check_u32(fill: &Fill) {
    assert!(
        fill.acquired.len() as u64 * 64 <= 1 << 32,
        "Roaring bitmaps hold u32 values: at most 2^32 blocks"
    );
}

/// The hand-written peer: a `Vec<u64>` of acquired bits and a cursor, and
/// one cursor per job for `acquire_interleaved`.
pub struct Cursor {
    limit: u64,
    acquired: Vec<u64>,
    released: Vec<u64>,
    /// Word index: every block of the words before it is acquired.
    cursor: usize,
    /// `acquire_interleaved`'s jobs: each range of blocks `[from, to)` and
    /// its cursor (a word index: every block of the range in the words
    /// before it is acquired).
    jobs: [(u64, u64, usize); INTERLEAVED_JOBS],
    /// `acquire_extent` searches bit by bit (the `twin` row).
    bitwise: bool,
}

impl Cursor {
    /// The fill's words, the cursor at word 0; the jobs' ranges cut the
    /// free blocks into equal shares, as `acquire_interleaved`'s
    /// reservations do (untimed).
    pub fn new(fill: &Fill) -> Self {
        let share = fill.count_free() / INTERLEAVED_JOBS as u64;
        let mut jobs = [(0, 0, 0); INTERLEAVED_JOBS];
        let (mut block, mut from) = (0u64, 0u64);
        for job in &mut jobs {
            // The range ends past its share's last free block.
            let mut left = share;
            while left > 0 && block < fill.blocks {
                if fill.acquired[(block / 64) as usize] >> (block % 64) & 1 == 0 {
                    left -= 1;
                }
                block += 1;
            }
            *job = (from, block, (from / 64) as usize);
            from = block;
        }
        Cursor {
            limit: fill.blocks,
            acquired: fill.acquired.clone(),
            released: fill.released.clone(),
            cursor: 0,
            jobs,
            bitwise: false,
        }
    }

    fn highest(words: &[u64]) -> Option<u64> {
        let i = words.iter().rposition(|&w| w != 0)?;
        Some(i as u64 * 64 + 64 - u64::from(words[i].leading_zeros()))
    }

    /// The raw words up to the last non-zero one.
    fn encode_words(words: &[u64]) -> Vec<u8> {
        let used = words.iter().rposition(|&w| w != 0).map_or(0, |i| i + 1);
        le_bytes(&words[..used])
    }

    fn open_words(words: &mut [u64], bytes: &[u8]) -> Result<(), String> {
        if !bytes.len().is_multiple_of(8) || bytes.len() > words.len() * 8 {
            return Err(format!(
                "{} bytes: not whole words of this set",
                bytes.len()
            ));
        }
        let (head, tail) = words.split_at_mut(bytes.len() / 8);
        for (word, chunk) in head.iter_mut().zip(bytes.chunks_exact(8)) {
            *word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
        tail.fill(0);
        Ok(())
    }
}

impl Peer for Cursor {
    fn acquire_extent(&mut self, n: u64, from: u64) -> Option<u64> {
        let found = if self.bitwise {
            extent::first_fit_bitwise(&self.acquired, self.limit, from, n)
        } else {
            // Below the cursor every block is acquired.
            let from = from.max(self.cursor as u64 * 64);
            extent::first_fit(&self.acquired, self.limit, from, n)
        }?;
        extent::take(&mut self.acquired, found, n);
        Some(found + 1)
    }

    fn acquire(&mut self) -> Option<u64> {
        while let Some(&word) = self.acquired.get(self.cursor) {
            if word != !0 {
                let bit = word.trailing_ones();
                let block = self.cursor as u64 * 64 + u64::from(bit);
                if block >= self.limit {
                    return None;
                }
                self.acquired[self.cursor] |= 1 << bit;
                return Some(block + 1);
            }
            self.cursor += 1;
        }
        None
    }

    fn highest_acquired(&self) -> Option<u64> {
        Self::highest(&self.acquired)
    }

    fn highest_released(&self) -> Option<u64> {
        Self::highest(&self.released)
    }

    fn encode(&mut self) -> (Vec<u8>, Vec<u8>) {
        (
            Self::encode_words(&self.acquired),
            Self::encode_words(&self.released),
        )
    }

    fn open(&mut self, acquired: &[u8], released: &[u8]) -> Result<(), String> {
        Self::open_words(&mut self.acquired, acquired)?;
        Self::open_words(&mut self.released, released)?;
        self.cursor = 0;
        Ok(())
    }

    fn count_acquired(&self) -> u64 {
        self.acquired
            .iter()
            .map(|w| u64::from(w.count_ones()))
            .sum()
    }

    fn clear(&mut self) {
        // The words stay allocated, as `freeset`'s do: `open` writes them all.
    }

    fn acquire_job(&mut self, job: usize) -> Option<u64> {
        let (from, to, ref mut cursor) = self.jobs[job];
        while (*cursor as u64) * 64 < to {
            let first = *cursor as u64 * 64;
            // The range's blocks of this word.
            let low = !0u64 << from.saturating_sub(first).min(63);
            let high = if to - first >= 64 {
                !0
            } else {
                (1 << (to - first)) - 1
            };
            let free = !self.acquired[*cursor] & low & high;
            if free != 0 {
                let bit = free.trailing_zeros();
                self.acquired[*cursor] |= 1 << bit;
                return Some(first + u64::from(bit) + 1);
            }
            *cursor += 1;
        }
        None
    }
}

/// A peer on one of the [`WORKLOADS`]: the same timed body as `freeset`'s
/// workload of that name, with the peer's calls. Acquire and open are not
/// repeatable: `rearm` rebuilds the peer from the fill, or drops what the
/// last open made (so that freeing it is not timed), outside the clock.
pub struct PeerWorkload {
    name: Name,
    kind: Kind,
    fill: Arc<Fill>,
    /// `None` only inside `rearm`, between dropping a spent peer and building
    /// the next: never two copies of a large bitmap at once.
    peer: Option<Box<dyn Peer>>,
    /// For the open workloads: the peer's own encoding of the fill.
    encoded: Option<(Vec<u8>, Vec<u8>)>,
    /// Bytes of one bitset: the units of a codec run, as for `freeset`.
    bitset_bytes: u64,
}

impl PeerWorkload {
    /// The peer `kind` on workload `name`, built from `fill` (the fill
    /// `workloads::fill(name, ..)` gives `freeset`). Panics if the peer takes
    /// no part in `name`.
    pub fn new(name: Name, kind: Kind, fill: Arc<Fill>) -> Self {
        assert!(
            kind.takes_part(name),
            "{} has no {} row",
            kind.as_str(),
            name.as_str()
        );
        let mut peer = kind.build(&fill);
        let encoded = matches!(name, Name::OpenRuns | Name::OpenRandom).then(|| {
            let bytes = peer.encode();
            peer.clear();
            bytes
        });
        PeerWorkload {
            name,
            kind,
            bitset_bytes: fill.acquired.len() as u64 * 8,
            fill,
            peer: Some(peer),
            encoded,
        }
    }

    fn peer(&mut self) -> &mut dyn Peer {
        self.peer.as_deref_mut().expect("a peer outside rearm")
    }

    /// Bytes of the peer's encoding of both bitmaps (codec workloads).
    pub fn encoded_len(&mut self) -> Option<u64> {
        if !self.name.is_codec() {
            return None;
        }
        let (a, r) = match &self.encoded {
            Some((a, r)) => (a.len(), r.len()),
            None => {
                let (a, r) = self.peer().encode();
                (a.len(), r.len())
            }
        };
        Some((a + r) as u64)
    }

    /// Runs the body once and checks that the peer did the same work as
    /// `freeset` would on the fill (untimed, before measuring): acquires
    /// hand out every free block, queries give the fill's answer, and open
    /// restores every acquired block. Leaves the workload rearmed.
    pub fn check(&mut self) -> Result<(), String> {
        let fill = Arc::clone(&self.fill);
        let acquired = fill.blocks - fill.count_free();
        let highest = Cursor::highest;
        let what = format!("{} on {}", self.kind.as_str(), self.name.as_str());
        self.rearm();
        let units = self.run();
        let name = self.name;
        let peer = self.peer();
        let ok = match name {
            Name::AcquireFill | Name::AcquireFragmented => {
                units == fill.count_free() && peer.count_acquired() == fill.blocks
            }
            Name::AcquireInterleaved => {
                let share = fill.count_free() / INTERLEAVED_JOBS as u64;
                units == share * INTERLEAVED_JOBS as u64
                    && peer.count_acquired() == acquired + units
            }
            Name::AcquireExtent => {
                let mut set = crate::workloads::set_of((*fill).clone());
                let (calls, blocks) = crate::workloads::run_extents(&mut set, &mut Vec::new());
                units == calls && peer.count_acquired() == acquired + blocks
            }
            Name::HighestAcquired => peer.highest_acquired() == highest(&fill.acquired),
            Name::HighestReleased => peer.highest_released() == highest(&fill.released),
            Name::OpenRuns | Name::OpenRandom => {
                peer.count_acquired() == acquired
                    && peer.highest_acquired() == highest(&fill.acquired)
            }
            _ => true,
        };
        self.rearm();
        ok.then_some(())
            .ok_or(format!("{what}: not the work freeset does"))
    }
}

impl Workload for PeerWorkload {
    fn name(&self) -> Name {
        self.name
    }

    fn run(&mut self) -> u64 {
        match self.name {
            Name::AcquireFill | Name::AcquireFragmented => {
                let mut acquired = 0;
                let peer = self.peer();
                while let Some(address) = peer.acquire() {
                    black_box(address);
                    acquired += 1;
                }
                acquired
            }
            Name::AcquireInterleaved => {
                let mut acquired = 0;
                let peer = self.peer();
                let mut live = INTERLEAVED_JOBS;
                // Round-robin, as `freeset`'s workload: the shares are
                // equal, so every job runs out in the same round.
                while live == INTERLEAVED_JOBS {
                    for job in 0..INTERLEAVED_JOBS {
                        match peer.acquire_job(job) {
                            Some(address) => {
                                black_box(address);
                                acquired += 1;
                            }
                            None => live -= 1,
                        }
                    }
                }
                acquired
            }
            Name::AcquireExtent => {
                // As `freeset`'s body: each length from the start, each
                // extent first fit after the one before; one call more
                // per length, the one that finds none.
                let mut calls = 0;
                let peer = self.peer();
                for n in EXTENT_LENGTHS {
                    let mut from = 0;
                    loop {
                        calls += 1;
                        match peer.acquire_extent(n, from) {
                            Some(address) => from = black_box(address) - 1 + n,
                            None => break,
                        }
                    }
                }
                calls
            }
            Name::HighestAcquired => {
                black_box(black_box(&*self.peer()).highest_acquired());
                1
            }
            Name::HighestReleased => {
                black_box(black_box(&*self.peer()).highest_released());
                1
            }
            Name::EncodeRuns | Name::EncodeRandom => {
                black_box(self.peer().encode());
                self.bitset_bytes
            }
            Name::OpenRuns | Name::OpenRandom => {
                let (acquired, released) = self.encoded.as_ref().expect("encoded in new");
                let peer = self.peer.as_deref_mut().expect("a peer outside rearm");
                peer.open(acquired, released)
                    .expect("the peer's own encoding");
                self.bitset_bytes
            }
            other => unreachable!("no peer runs {}", other.as_str()),
        }
    }

    fn rearm(&mut self) {
        match self.name {
            Name::AcquireFill
            | Name::AcquireFragmented
            | Name::AcquireInterleaved
            | Name::AcquireExtent => {
                self.peer = None; // dropped before its successor is built
                self.peer = Some(self.kind.build(&self.fill));
            }
            Name::OpenRuns | Name::OpenRandom => self.peer().clear(),
            _ => {}
        }
    }

    fn repeatable(&self) -> bool {
        !matches!(
            self.name,
            Name::AcquireFill
                | Name::AcquireFragmented
                | Name::AcquireInterleaved
                | Name::AcquireExtent
                | Name::OpenRuns
                | Name::OpenRandom
        )
    }
}

/// Where `freeset` stands against the best peer of a row, in the row's unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Versus {
    /// The best peer: the lowest time, or the highest GB/s.
    pub best: String,
    /// `freeset`'s figure divided by the best peer's, in the row's unit: for
    /// `ns/op` below 1 means `freeset` is faster, for `GB/s` above 1 does.
    pub ratio: f64,
    /// Whether `freeset` is faster than the best peer.
    pub freeset_faster: bool,
}

impl Versus {
    /// `freeset`'s figure against the best of `peers` (name, figure), all in
    /// `unit`; `None` without peers.
    pub fn best_of(unit: Unit, freeset: f64, peers: &[(&str, f64)]) -> Option<Versus> {
        let better = |a: f64, b: f64| match unit {
            Unit::NsPerOp => a < b,
            Unit::GBps => a > b,
        };
        let &(best, figure) =
            peers
                .iter()
                .reduce(|best, row| if better(row.1, best.1) { row } else { best })?;
        Some(Versus {
            best: best.to_string(),
            ratio: freeset / figure,
            freeset_faster: better(freeset, figure),
        })
    }

    /// The table's cell, its direction spelled out: `0.85x cursor's time
    /// (faster)` for `ns/op`, `1.20x croaring's GB/s (faster)` for `GB/s`.
    pub fn cell(&self, unit: Unit) -> String {
        let what = match unit {
            Unit::NsPerOp => "time",
            Unit::GBps => "GB/s",
        };
        let verdict = if self.freeset_faster {
            "faster"
        } else {
            "slower"
        };
        format!("{:.2}x {}'s {what} ({verdict})", self.ratio, self.best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::{fill_random, set_of, Rng};
    use freeset::FreeSet;

    /// A small fill: `blocks` blocks, random(p) acquired, some released.
    fn small_fill(blocks: u64, p: f64, seed: u64) -> Fill {
        let words = blocks.div_ceil(freeset::SHARD_BLOCKS) as usize * 64;
        let mut rng = Rng::new(seed);
        let mut acquired = vec![0; words];
        fill_random(&mut acquired, blocks, p, &mut rng);
        let released = acquired
            .iter()
            .map(|w| w & rng.next_u64() & rng.next_u64())
            .collect();
        Fill {
            blocks,
            acquired,
            released,
        }
    }

    fn acquire_all(set: &mut FreeSet) -> Vec<u64> {
        if set.count_free() == 0 {
            return Vec::new(); // reserve(0) is misuse
        }
        let reservation = set.reserve(set.count_free()).unwrap().unwrap();
        let mut addresses = Vec::new();
        while let Some(address) = set.acquire(&reservation).unwrap() {
            addresses.push(address);
        }
        set.forfeit(&reservation).unwrap();
        addresses
    }

    #[test]
    fn every_peer_hands_out_the_blocks_freeset_does_in_its_order() {
        // A limit inside a word and a shard, so the limit is checked too.
        for (blocks, p) in [(10_000, 0.0), (10_000, 0.5), (20_001, 0.9), (4096, 1.0)] {
            let mut fill = small_fill(blocks, p, blocks);
            fill.released.fill(0); // acquires see no release pending
            let expected = acquire_all(&mut set_of(fill.clone()));
            assert_eq!(expected.len() as u64, fill.count_free());
            for kind in Kind::ALL {
                if !kind.takes_part(Name::AcquireFill) {
                    continue;
                }
                let mut peer = kind.build(&fill);
                let got: Vec<u64> = std::iter::from_fn(|| peer.acquire()).collect();
                assert_eq!(
                    got,
                    expected,
                    "{} on {blocks} blocks, p = {p}",
                    kind.as_str()
                );
                assert_eq!(peer.count_acquired(), blocks);
            }
        }
    }

    #[test]
    fn the_cursor_peers_jobs_hand_out_the_blocks_of_freesets_reservations() {
        for (blocks, p) in [(10_000, 0.0), (10_000, 0.5), (20_001, 0.9), (4096 * 3, 0.3)] {
            let mut fill = small_fill(blocks, p, blocks);
            fill.released.fill(0);
            let mut set = set_of(fill.clone());
            let share = set.count_free() / INTERLEAVED_JOBS as u64;
            let jobs: Vec<_> = (0..INTERLEAVED_JOBS)
                .map(|_| set.reserve(share).unwrap().unwrap())
                .collect();
            let mut peer = Cursor::new(&fill);
            for round in 0..=share {
                for (k, job) in jobs.iter().enumerate() {
                    let expected = set.acquire(job).unwrap();
                    assert_eq!(
                        peer.acquire_job(k),
                        expected,
                        "job {k}, round {round}, {blocks} blocks, p = {p}"
                    );
                    assert_eq!(expected.is_none(), round == share);
                }
            }
        }
    }

    #[test]
    fn every_peer_answers_highest_and_round_trips_as_freeset_does() {
        for (blocks, p) in [(10_000, 0.0), (70_000, 0.01), (20_001, 0.5)] {
            let fill = small_fill(blocks, p, blocks + 1);
            let set = set_of(fill.clone());
            for kind in Kind::ALL {
                let mut peer = kind.build(&fill);
                let name = kind.as_str();
                if kind.takes_part(Name::HighestAcquired) {
                    assert_eq!(peer.highest_acquired(), set.highest_acquired(), "{name}");
                    assert_eq!(peer.highest_released(), set.highest_released(), "{name}");
                }
                if kind.takes_part(Name::OpenRandom) {
                    let (acquired, released) = peer.encode();
                    let mut opened = kind.build(&small_fill(blocks, 0.3, 7));
                    opened.open(&acquired, &released).unwrap();
                    assert_eq!(opened.count_acquired(), set.count_acquired(), "{name}");
                    assert_eq!(opened.highest_acquired(), set.highest_acquired(), "{name}");
                    assert_eq!(opened.highest_released(), set.highest_released(), "{name}");
                    assert_eq!(opened.encode(), (acquired, released), "{name}");
                }
            }
        }
    }

    #[test]
    fn every_peer_workload_checks_out_at_a_tiny_size() {
        let sizes = crate::workloads::Sizes {
            small: 1 << 16,
            large: 1 << 17,
        };
        for name in WORKLOADS {
            let fill = Arc::new(crate::workloads::fill(name, sizes, 3).unwrap());
            for kind in Kind::ALL.into_iter().filter(|k| k.takes_part(name)) {
                let mut workload = PeerWorkload::new(name, kind, Arc::clone(&fill));
                workload.check().unwrap();
                assert_eq!(workload.encoded_len().is_some(), name.is_codec());
            }
        }
    }

    #[test]
    fn the_ratio_says_which_way_is_better() {
        // Time per operation: lower is better; the ratio is freeset's time
        // over the fastest peer's.
        let peers = [("roaring", 200.0), ("cursor", 100.0), ("croaring", 150.0)];
        let versus = Versus::best_of(Unit::NsPerOp, 85.0, &peers).unwrap();
        assert_eq!(versus.best, "cursor");
        assert!((versus.ratio - 0.85).abs() < 1e-12);
        assert!(versus.freeset_faster);
        assert_eq!(versus.cell(Unit::NsPerOp), "0.85x cursor's time (faster)");
        let slower = Versus::best_of(Unit::NsPerOp, 120.0, &peers).unwrap();
        assert!(!slower.freeset_faster);
        assert_eq!(slower.cell(Unit::NsPerOp), "1.20x cursor's time (slower)");

        // GB/s: higher is better; the ratio is freeset's GB/s over the
        // fastest peer's.
        let peers = [("cursor", 4.0), ("croaring", 1.0)];
        let versus = Versus::best_of(Unit::GBps, 2.0, &peers).unwrap();
        assert_eq!(versus.best, "cursor");
        assert!((versus.ratio - 0.5).abs() < 1e-12);
        assert!(!versus.freeset_faster);
        assert_eq!(versus.cell(Unit::GBps), "0.50x cursor's GB/s (slower)");
        let faster = Versus::best_of(Unit::GBps, 6.0, &peers).unwrap();
        assert!(faster.freeset_faster);

        assert_eq!(Versus::best_of(Unit::GBps, 1.0, &[]), None);
    }
}
