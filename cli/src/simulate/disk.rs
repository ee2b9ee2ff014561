//! The simulated disk: what each grid block holds (a job's write or a chunk
//! of a checkpoint's encoding), the superblock's copies, and the engine's
//! index of its live blocks. All of it survives crashes.
//!
//! What must never happen here: state that a crash would lose, a fault (the
//! disk stores exactly what it is given: faults are `faults.rs`'s), or an
//! iteration over a hashed collection.

use std::collections::BTreeMap;
use std::fmt;

/// Copies of the superblock: two pairs. A checkpoint's copies go into one
/// pair, so that the other still holds the checkpoint before it.
pub(super) const SLOTS: usize = 4;

/// A block the engine wrote and references: its address and the number of the
/// write it holds (writes are numbered in order, so it is also its age).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Live {
    pub(super) address: u64,
    pub(super) write: u64,
}

/// A change to the engine's live blocks, journaled between checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// A job finished (or forfeited) and its block became live.
    Added(Live),
    /// The live block at this address was released.
    Released(u64),
}

/// A grid block holding a chunk of a checkpoint's encoding: a header (the
/// checkpoint and the block's own address, as TigerBeetle's block headers
/// carry them) and the chunk. The engine's checksum covers all of it, so
/// a block left from another checkpoint or written at another address
/// never passes for this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ChunkBlock {
    pub(super) checkpoint: u64,
    pub(super) address: u64,
    pub(super) bytes: Vec<u8>,
}

/// Where a write goes: a grid block or a superblock copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Place {
    Block(u64),
    Slot(usize),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Block(address) => write!(f, "block {address}"),
            Place::Slot(slot) => write!(f, "superblock copy {slot}"),
        }
    }
}

/// The engine's index of its live blocks as of checkpoint `id`: what a
/// restart reads back (with the journal of the checkpoint after it, when it
/// restarts from that one). It stands for the engine's own structures (a
/// forest, in TigerBeetle), which faults do not touch here.
#[derive(Debug, Default)]
pub(super) struct Index {
    pub(super) id: u64,
    pub(super) live: BTreeMap<u64, u64>,
}

impl Index {
    /// Applies the journal of checkpoint `id`, written against checkpoint
    /// `base`, which must be this index's.
    pub(super) fn advance(&mut self, base: u64, id: u64, changes: &[Change]) -> Result<(), String> {
        if base != self.id {
            return Err(format!(
                "checkpoint #{id}'s journal applies to #{base}, the index is of #{}",
                self.id
            ));
        }
        for change in changes {
            match *change {
                Change::Added(block) => {
                    if self.live.insert(block.address, block.write).is_some() {
                        return Err(format!("block {} live twice in the index", block.address));
                    }
                }
                Change::Released(address) => {
                    if self.live.remove(&address).is_none() {
                        return Err(format!("block {address} released, not live in the index"));
                    }
                }
            }
        }
        self.id = id;
        Ok(())
    }
}

/// The simulated disk: what each block holds. It survives crashes.
///
/// The write numbers are a vector indexed by address and grown to the highest
/// block written (jobs fill the grid from the bottom, so a grid of 2^25 blocks
/// costs only what a run touches): restarts read every live block back, and a
/// hash map made those reads most of the run time. The few chunks live in an
/// ordered map (nothing hashed, so nothing varies between runs).
#[derive(Debug, Default)]
pub(super) struct Disk {
    /// Write number held by each address; 0 when it holds no job's write.
    writes: Vec<u64>,
    /// Chunks of checkpoint encodings, by address; an address is in at most
    /// one of the two.
    chunks: BTreeMap<u64, ChunkBlock>,
    /// The superblock's copies, as bytes (`superblock.rs`).
    slots: [Option<Vec<u8>>; SLOTS],
    pub(super) index: Index,
}

/// What a grid block holds, owned: to put it back (a torn write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Held {
    Nothing,
    Data(u64),
    Chunk(ChunkBlock),
}

impl Disk {
    pub(super) fn write_data(&mut self, address: u64, write: u64) {
        debug_assert!(write > 0);
        let index = address as usize;
        if index >= self.writes.len() {
            self.writes.resize(index + 1, 0);
        }
        self.writes[index] = write;
        self.chunks.remove(&address);
    }

    pub(super) fn write_chunk(&mut self, address: u64, chunk: ChunkBlock) {
        if let Some(write) = self.writes.get_mut(address as usize) {
            *write = 0;
        }
        self.chunks.insert(address, chunk);
    }

    pub(super) fn read(&self, address: u64) -> Content<'_> {
        match self.writes.get(address as usize) {
            Some(&write) if write > 0 => Content::Data(write),
            _ => self
                .chunks
                .get(&address)
                .map_or(Content::Nothing, Content::Chunk),
        }
    }

    /// What the block holds, to put back with [`Disk::put_back`].
    pub(super) fn held(&self, address: u64) -> Held {
        match self.read(address) {
            Content::Nothing => Held::Nothing,
            Content::Data(write) => Held::Data(write),
            Content::Chunk(chunk) => Held::Chunk(chunk.clone()),
        }
    }

    pub(super) fn put_back(&mut self, address: u64, held: Held) {
        match held {
            Held::Nothing => {
                if let Some(write) = self.writes.get_mut(address as usize) {
                    *write = 0;
                }
                self.chunks.remove(&address);
            }
            Held::Data(write) => self.write_data(address, write),
            Held::Chunk(chunk) => self.write_chunk(address, chunk),
        }
    }

    pub(super) fn write_slot(&mut self, slot: usize, bytes: Option<Vec<u8>>) {
        self.slots[slot] = bytes;
    }

    pub(super) fn slot(&self, slot: usize) -> Option<&[u8]> {
        self.slots[slot].as_deref()
    }
}

/// What a block of the disk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Content<'d> {
    Nothing,
    /// Written by a job: the number of the write.
    Data(u64),
    /// A chunk of a checkpoint's encoding.
    Chunk(&'d ChunkBlock),
}

impl fmt::Display for Content<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Nothing => write!(f, "nothing"),
            Content::Data(write) => write!(f, "write #{write}"),
            Content::Chunk(chunk) => write!(
                f,
                "a chunk of {} bytes of checkpoint #{} for block {}",
                chunk.bytes.len(),
                chunk.checkpoint,
                chunk.address
            ),
        }
    }
}
