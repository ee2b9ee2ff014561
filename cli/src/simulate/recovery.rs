//! Reading checkpoints back: the engine verifies the one it wrote before it
//! declares it durable ([`verify`]), and a restart finds the newest one
//! that verifies ([`recover`]). Both go by the engine's checksums alone.
//!
//! What must never happen here: a checkpoint opened whose bytes did not
//! verify (but by the broken engine of `Variant::SkipChecksum`, `verify:
//! false`), or a look at anything but the disk.

use super::disk::{ChunkBlock, Disk, Place, SLOTS};
use super::superblock::{chunk_checksum, Superblock};
use super::trailer;

/// The superblock's pair of copies a checkpoint goes into: the other pair
/// holds the checkpoint before it.
pub(super) fn pair(id: u64) -> [usize; 2] {
    let first = 2 * (id % 2) as usize;
    [first, first + 1]
}

/// A checkpoint written and not verified yet: what the engine keeps to
/// check its writes and repair them.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) superblock: Superblock,
    /// The superblock copy's bytes.
    pub(super) bytes: Vec<u8>,
    pub(super) chunks: Vec<ChunkBlock>,
}

/// Reads back every write of `written` (its trailer blocks and its pair of
/// superblock copies) and returns the places that do not hold what was
/// written. `verify: false` trusts them all.
pub(super) fn verify(disk: &Disk, written: &InFlight, verify: bool) -> Vec<Place> {
    if !verify {
        return Vec::new();
    }
    let mut bad = Vec::new();
    for (chunk, &checksum) in written.chunks.iter().zip(&written.superblock.checksums) {
        let intact = match disk.read(chunk.address) {
            super::disk::Content::Chunk(held) => chunk_checksum(held) == checksum,
            _ => false,
        };
        if !intact {
            bad.push(Place::Block(chunk.address));
        }
    }
    for slot in pair(written.superblock.seq) {
        let copy = disk.slot(slot).and_then(|b| Superblock::decode(b, true));
        if copy.as_ref() != Some(&written.superblock) {
            bad.push(Place::Slot(slot));
        }
    }
    bad
}

/// What a restart found: the checkpoint it opens, both encodings read back,
/// and every place whose checksum failed on the way.
#[derive(Debug)]
pub(super) struct Recovered {
    pub(super) superblock: Superblock,
    pub(super) acquired: Vec<u8>,
    pub(super) released: Vec<u8>,
    pub(super) bad: Vec<Place>,
    /// A newer checkpoint was named but failed to verify.
    pub(super) fallback: bool,
}

/// Finds the checkpoint to restart from: reads every superblock copy (a
/// copy whose checksum fails is bad, and so is a copy older than its
/// pair's other one: the pair was written together), then, newest
/// sequence number first, reads back the trailer each names until one
/// verifies.
pub(super) fn recover(disk: &Disk, verify: bool) -> Result<Recovered, String> {
    let copies: Vec<Option<Superblock>> = (0..SLOTS)
        .map(|slot| disk.slot(slot).and_then(|b| Superblock::decode(b, verify)))
        .collect();
    let mut bad: Vec<Place> = (0..SLOTS)
        .filter(|&slot| verify && copies[slot].is_none())
        .map(Place::Slot)
        .collect();
    for first in [0, 2] {
        if let (Some(a), Some(b)) = (&copies[first], &copies[first + 1]) {
            if verify && a.seq != b.seq {
                bad.push(Place::Slot(if a.seq < b.seq { first } else { first + 1 }));
            }
        }
    }
    let mut candidates: Vec<&Superblock> = copies.iter().flatten().collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.seq));
    candidates.dedup_by_key(|c| c.seq);
    let mut fallback = false;
    for superblock in candidates {
        match trailer::read(disk, superblock, verify) {
            Ok((acquired, released)) => {
                return Ok(Recovered {
                    superblock: superblock.clone(),
                    acquired,
                    released,
                    bad,
                    fallback,
                })
            }
            Err(blocks) => {
                bad.extend(blocks);
                fallback = true;
            }
        }
    }
    Err(format!(
        "no superblock copy names a checkpoint whose trailer verifies (bad: {bad:?})"
    ))
}
