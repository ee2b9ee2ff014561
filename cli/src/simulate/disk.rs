//! The simulated disk: what each block holds, which survives crashes, and
//! what the engine writes about its blocks (its live blocks, the journal of
//! their changes, the seal of an encoding).
//!
//! What must never happen here: state that a crash would lose, or an
//! iteration over a hashed collection.

use std::collections::BTreeMap;
use std::fmt;

use super::rng::{fnv, FNV_OFFSET};

/// A block the engine wrote and references: its address and the number of the
/// write it holds (writes are numbered in order, so it is also its age).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Live {
    pub(super) address: u64,
    pub(super) write: u64,
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
    pub(super) writes: Vec<u64>,
    /// Chunks of checkpoint encodings, by address; an address is in at most
    /// one of the two.
    pub(super) chunks: BTreeMap<u64, Vec<u8>>,
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

    pub(super) fn write_chunk(&mut self, address: u64, chunk: Vec<u8>) {
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
                .map_or(Content::Nothing, |chunk| Content::Chunk(chunk)),
        }
    }
}

/// What a block of the disk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Content<'d> {
    Nothing,
    /// Written by a job: the number of the write.
    Data(u64),
    /// A chunk of a checkpoint's encoding.
    Chunk(&'d [u8]),
}

impl fmt::Display for Content<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Nothing => write!(f, "nothing"),
            Content::Data(write) => write!(f, "write #{write}"),
            Content::Chunk(chunk) => write!(f, "a checkpoint chunk of {} bytes", chunk.len()),
        }
    }
}

/// A change to the engine's live blocks, journaled between checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// A job finished (or forfeited) and its block became live.
    Added(Live),
    /// The live block at this address was released.
    Released(u64),
}

/// Length and checksum of an encoding, as a superblock records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seal {
    pub(super) len: usize,
    pub(super) checksum: u64,
}

impl Seal {
    pub(super) fn of(bytes: &[u8]) -> Self {
        Seal {
            len: bytes.len(),
            checksum: bytes.iter().fold(FNV_OFFSET, |h, &b| fnv(h, u64::from(b))),
        }
    }
}
