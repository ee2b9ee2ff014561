//! What the engine persists about a checkpoint, and its checksums: the
//! superblock (one copy's bytes, with its own checksum and sequence
//! number), the checksum of a trailer block, the seal of an encoding.
//!
//! What must never happen here: a copy decoded without a bound (its counts
//! must add up to its length exactly), or a panic on bytes a fault
//! damaged. The checksum is FNV-1a over every byte, whose steps are
//! bijections of the state: a single changed byte (one flipped bit) always
//! changes it.

use super::disk::{Change, ChunkBlock, Live};
use super::rng::{fnv, FNV_OFFSET};

/// Length and checksum of an encoding, as a superblock records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seal {
    pub(super) len: u64,
    pub(super) checksum: u64,
}

impl Seal {
    pub(super) fn of(bytes: &[u8]) -> Self {
        Seal {
            len: bytes.len() as u64,
            checksum: fnv_bytes(FNV_OFFSET, bytes),
        }
    }
}

fn fnv_bytes(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| fnv(h, u64::from(b)))
}

/// The checksum of a trailer block: over its header (checkpoint, address,
/// length) and its bytes, each header word byte by byte.
pub(super) fn chunk_checksum(block: &ChunkBlock) -> u64 {
    let header = [block.checkpoint, block.address, block.bytes.len() as u64];
    let hash = header
        .iter()
        .fold(FNV_OFFSET, |h, word| fnv_bytes(h, &word.to_le_bytes()));
    fnv_bytes(hash, &block.bytes)
}

/// One copy of the superblock: which checkpoint, its trailer with a
/// checksum per block and a seal per encoding, and the journal of the live
/// blocks since checkpoint `base` (the engine's index; see `disk::Index`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Superblock {
    /// The sequence number: the checkpoint's id, 0 for the empty grid.
    pub(super) seq: u64,
    /// The checkpoint `changes` apply to.
    pub(super) base: u64,
    pub(super) trailer_acquired: Vec<u64>,
    pub(super) trailer_released: Vec<u64>,
    /// One per trailer block, acquired list then released list.
    pub(super) checksums: Vec<u64>,
    pub(super) acquired: Seal,
    pub(super) released: Seal,
    pub(super) changes: Vec<Change>,
}

/// Words of a copy before its lists: seq, base, three counts, two seals.
const HEAD_WORDS: usize = 9;
/// Tags the address of a released block in the journal.
const RELEASED_TAG: u64 = 1 << 63;

impl Superblock {
    /// The superblock of the empty grid, written when the disk is formatted.
    pub(super) fn initial() -> Self {
        Superblock {
            seq: 0,
            base: 0,
            trailer_acquired: Vec::new(),
            trailer_released: Vec::new(),
            checksums: Vec::new(),
            acquired: Seal::of(&[]),
            released: Seal::of(&[]),
            changes: Vec::new(),
        }
    }

    /// The copy's bytes: little-endian words, the last the checksum of the
    /// others.
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut words = vec![
            self.seq,
            self.base,
            self.trailer_acquired.len() as u64,
            self.trailer_released.len() as u64,
            self.changes.len() as u64,
            self.acquired.len,
            self.acquired.checksum,
            self.released.len,
            self.released.checksum,
        ];
        words.extend_from_slice(&self.trailer_acquired);
        words.extend_from_slice(&self.trailer_released);
        words.extend_from_slice(&self.checksums);
        for change in &self.changes {
            match *change {
                Change::Added(live) => words.extend([live.address, live.write]),
                Change::Released(address) => words.extend([address | RELEASED_TAG, 0]),
            }
        }
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let checksum = fnv_bytes(FNV_OFFSET, &bytes);
        bytes.extend_from_slice(&checksum.to_le_bytes());
        bytes
    }

    /// The copy in `bytes`, or `None` when its checksum does not match or
    /// its counts do not add up to its length. `verify: false` skips the
    /// checksum (the broken engine of `Variant::SkipChecksum`).
    pub(super) fn decode(bytes: &[u8], verify: bool) -> Option<Superblock> {
        if !bytes.len().is_multiple_of(8) || bytes.len() < 8 * (HEAD_WORDS + 1) {
            return None;
        }
        let (body, checksum) = bytes.split_at(bytes.len() - 8);
        if verify && fnv_bytes(FNV_OFFSET, body).to_le_bytes() != checksum {
            return None;
        }
        let words: Vec<u64> = body
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
            .collect();
        let (acquired, released, changes) = (words[2], words[3], words[4]);
        let trailer = acquired.checked_add(released)?;
        let expected = trailer
            .checked_mul(2)?
            .checked_add(changes.checked_mul(2)?)?
            .checked_add(HEAD_WORDS as u64)?;
        if expected != words.len() as u64 {
            return None;
        }
        let (acquired, trailer) = (acquired as usize, trailer as usize);
        let lists = &words[HEAD_WORDS..];
        let journal = &lists[2 * trailer..];
        Some(Superblock {
            seq: words[0],
            base: words[1],
            trailer_acquired: lists[..acquired].to_vec(),
            trailer_released: lists[acquired..trailer].to_vec(),
            checksums: lists[trailer..2 * trailer].to_vec(),
            acquired: Seal {
                len: words[5],
                checksum: words[6],
            },
            released: Seal {
                len: words[7],
                checksum: words[8],
            },
            changes: journal.chunks_exact(2).map(decode_change).collect(),
        })
    }

    /// The trailer's blocks, acquired list then released list.
    pub(super) fn trailer(&self) -> impl Iterator<Item = u64> + '_ {
        self.trailer_acquired
            .iter()
            .chain(&self.trailer_released)
            .copied()
    }
}

fn decode_change(pair: &[u64]) -> Change {
    if pair[0] & RELEASED_TAG != 0 {
        Change::Released(pair[0] & !RELEASED_TAG)
    } else {
        Change::Added(Live {
            address: pair[0],
            write: pair[1],
        })
    }
}
