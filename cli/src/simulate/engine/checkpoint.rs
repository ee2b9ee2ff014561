//! Writing a checkpoint and making it durable: the chunks through the
//! library's checkpoint API into trailer blocks, the superblock into the
//! pair of copies the previous checkpoint does not hold, then (once the
//! writes are in) verification and repair before the set is told the
//! checkpoint is durable. The engine (`mod.rs`) decides when.

use freeset::{Bitset, Trailer};

use crate::simulate::config::{Variant, LOAD_CHANGE_ODDS, WRITE_TRIES_MAX};
use crate::simulate::disk::{ChunkBlock, Place};
use crate::simulate::model::Checkpoint;
use crate::simulate::recovery::{self, pair, InFlight};
use crate::simulate::rng::Rng;
use crate::simulate::superblock::{chunk_checksum, Seal, Superblock};
use crate::simulate::trailer;

/// A job: its reservation, the blocks still to acquire, the blocks written,
use super::{occupancy_target, Sim};

impl Sim<'_> {
    /// Writes a checkpoint through the library's checkpoint API (see the
    /// module doc for the order and why): the chunks into the trailer
    /// blocks, then the superblock into the pair of copies the checkpoint
    /// before it does not hold. Nothing is verified yet: the writes are in
    /// flight until `make_durable`.
    pub(super) fn checkpoint(&mut self, step: u64) -> Result<(), String> {
        self.forfeit_all()?;
        // Scratch output does not outlive its checkpoint interval.
        for block in std::mem::take(&mut self.scratch) {
            self.release(block.address)?;
        }
        debug_assert!(self.model.durable && self.durable_at.is_none());
        // `FreeSet::checkpoint` releases the previous trailer (unless `open`
        // made it pending already); the model follows.
        let previous = std::mem::take(&mut self.trailer_unreleased);
        if !previous.is_empty() && self.set.last_trailer() != previous.as_slice() {
            return Err(format!(
                "last_trailer() = {:?}, the engine wrote its last checkpoint into {previous:?}",
                self.set.last_trailer()
            ));
        }
        for &address in &previous {
            self.model.release(address);
            self.summary.counts.releases += 1;
        }
        debug_assert!(self.model.pending.is_empty());
        // What the encoding holds: the trailer is acquired after it.
        let (acquired, released) = (self.model.acquired.clone(), self.model.released.clone());
        let (trailer, chunks) =
            trailer::write(&mut self.set, self.config.chunk_bytes, self.trailer_max)?;
        for chunk in &chunks {
            self.hand_out(chunk.address)?;
        }
        self.model.take_snapshot();
        let id = self.summary.counts.checkpoints_written + 1;
        self.trailer_unreleased = trailer
            .acquired
            .iter()
            .chain(&trailer.released)
            .copied()
            .collect();
        self.written = Some(Checkpoint {
            id,
            trailer_acquired: trailer.acquired.clone(),
            trailer_released: trailer.released.clone(),
            acquired,
            released,
        });
        let superblock = self.superblock_of(id, trailer, &chunks);
        let blocks = chunks
            .into_iter()
            .map(|c| ChunkBlock {
                checkpoint: id,
                address: c.address,
                bytes: c.bytes,
            })
            .collect();
        self.write_in_flight(InFlight {
            bytes: superblock.encode(),
            superblock,
            chunks: blocks,
        });
        self.model.checkpoint_not_durable();
        self.summary.counts.checkpoints_written += 1;
        self.durable_at = Some(step + 1 + self.rng.below(self.config.checkpoint_every));
        if self.variant == Variant::FreeBeforeDurable {
            // The bug: the set is told before the checkpoint is durable.
            self.set_durable()?;
        }
        self.sample_shape(step)?;
        if self.rng.below(LOAD_CHANGE_ODDS) == 0 {
            self.target_occupancy = occupancy_target(&mut self.rng);
        }
        Ok(())
    }

    /// The superblock of checkpoint `id`: its trailer with a checksum per
    /// block (over the block's header and chunk) and a seal per encoding,
    /// and the journal of the live blocks since the durable checkpoint.
    pub(super) fn superblock_of(
        &mut self,
        id: u64,
        trailer: Trailer,
        chunks: &[trailer::Chunk],
    ) -> Superblock {
        let seal = |bitset| {
            let bytes: Vec<u8> = chunks
                .iter()
                .filter(|c| c.bitset == bitset)
                .flat_map(|c| c.bytes.iter().copied())
                .collect();
            Seal::of(&bytes)
        };
        let checksums = chunks
            .iter()
            .map(|c| {
                chunk_checksum(&ChunkBlock {
                    checkpoint: id,
                    address: c.address,
                    bytes: c.bytes.clone(),
                })
            })
            .collect();
        debug_assert_eq!(self.disk.index.id, self.durable.id);
        Superblock {
            seq: id,
            base: self.disk.index.id,
            trailer_acquired: trailer.acquired,
            trailer_released: trailer.released,
            checksums,
            acquired: seal(Bitset::Acquired),
            released: seal(Bitset::Released),
            changes: std::mem::take(&mut self.changes),
        }
    }

    /// Issues the writes of a checkpoint (trailer blocks in order, then its
    /// pair of superblock copies), faulty at the configured rates, and
    /// keeps them in flight.
    pub(super) fn write_in_flight(&mut self, written: InFlight) {
        self.injector.settle();
        for chunk in &written.chunks {
            self.write_block(chunk.clone(), true);
        }
        for slot in pair(written.superblock.seq) {
            let seq = written.superblock.seq;
            let (disk, truth) = (&mut self.disk, &mut self.truth);
            self.injector
                .write_slot(disk, truth, slot, seq, &written.bytes, true);
        }
        self.in_flight = Some(written);
    }

    /// Writes a trailer block through the injector; a misdirected write
    /// lands on a block nothing durable or in flight references.
    pub(super) fn write_block(&mut self, chunk: ChunkBlock, batch: bool) {
        let Sim {
            config,
            model,
            durable,
            written,
            disk,
            truth,
            injector,
            ..
        } = self;
        let elsewhere = |rng: &mut Rng| {
            (0..64).map(|_| 1 + rng.below(config.blocks)).find(|&a| {
                !model.acquired.get(a)
                    && !durable.references(a)
                    && !written.as_ref().is_some_and(|w| w.references(a))
            })
        };
        injector.write_block(disk, truth, chunk, elsewhere, batch);
    }

    /// Compares what the engine found bad among the places it read with
    /// what the injector damaged there: a fault the engine missed, or a
    /// place it blames that holds what was written, is a violation. Counts
    /// the faults found.
    pub(super) fn judge(
        &mut self,
        read: &[Place],
        bad: &[Place],
        what: &str,
    ) -> Result<(), String> {
        for &place in read {
            match (self.truth.damage(place), bad.contains(&place)) {
                (Some(kind), false) => {
                    return Err(format!(
                        "{what}: {place} holds a {} fault that the engine took for good \
                         (an injected fault undetected)",
                        kind.name()
                    ))
                }
                (None, true) => {
                    return Err(format!(
                        "{what}: the engine found {place} bad, but it holds what was written"
                    ))
                }
                _ => {}
            }
        }
        for &place in bad {
            self.truth.detect(place);
        }
        Ok(())
    }

    /// Writes `superblock` into `slots` and reads them back until each
    /// verifies, as the engine does after formatting and after a restart.
    pub(super) fn store_copies(
        &mut self,
        superblock: &Superblock,
        slots: &[usize],
    ) -> Result<(), String> {
        let bytes = superblock.encode();
        let mut pending = slots.to_vec();
        for _ in 0..WRITE_TRIES_MAX {
            if pending.is_empty() {
                return Ok(());
            }
            for &slot in &pending {
                let (disk, truth) = (&mut self.disk, &mut self.truth);
                self.injector
                    .write_slot(disk, truth, slot, superblock.seq, &bytes, false);
            }
            let read: Vec<Place> = pending.iter().map(|&s| Place::Slot(s)).collect();
            let bad: Vec<Place> = read
                .iter()
                .copied()
                .filter(|&place| self.verifies() && !self.holds(place, superblock))
                .collect();
            self.judge(
                &read,
                &bad,
                &format!("superblock copy #{} read back", superblock.seq),
            )?;
            pending = bad
                .iter()
                .filter_map(|p| match p {
                    Place::Slot(slot) => Some(*slot),
                    Place::Block(_) => None,
                })
                .collect();
        }
        Err(format!(
            "superblock copies {pending:?} failed to verify {WRITE_TRIES_MAX} times"
        ))
    }

    /// Whether the superblock copy at `place` verifies as `superblock`.
    pub(super) fn holds(&self, place: Place, superblock: &Superblock) -> bool {
        let Place::Slot(slot) = place else {
            return false;
        };
        let copy = self
            .disk
            .slot(slot)
            .and_then(|b| Superblock::decode(b, true));
        copy.as_ref() == Some(superblock)
    }

    /// The current checkpoint is durable now: the one in flight is read
    /// back, and repaired until it verifies, before `checkpoint_durable()`
    /// frees what the checkpoint before it still references.
    pub(super) fn make_durable(&mut self) -> Result<(), String> {
        self.forfeit_all()?;
        let in_flight = self.in_flight.take();
        if let Some(written) = &in_flight {
            self.verify_and_repair(written)?;
            self.injector.settle();
        }
        if !self.model.durable {
            self.set_durable()?;
        }
        self.durable_mark = self.writes;
        if let (Some(checkpoint), Some(written)) = (self.written.take(), in_flight) {
            let superblock = &written.superblock;
            self.disk
                .index
                .advance(superblock.base, superblock.seq, &superblock.changes)?;
            self.durable = checkpoint;
        }
        if self.durable.id > self.counted_durable {
            self.summary.counts.checkpoints_durable += 1;
            self.counted_durable = self.durable.id;
        }
        self.durable_at = None;
        Ok(())
    }

    /// Reads back every write of `written` until all verify, rewriting the
    /// bad ones from what the engine kept.
    pub(super) fn verify_and_repair(&mut self, written: &InFlight) -> Result<(), String> {
        let mut read: Vec<Place> = written
            .chunks
            .iter()
            .map(|c| Place::Block(c.address))
            .collect();
        read.extend(pair(written.superblock.seq).map(Place::Slot));
        let what = format!(
            "checkpoint #{} read back before it is made durable",
            written.superblock.seq
        );
        for _ in 0..WRITE_TRIES_MAX {
            let bad = recovery::verify(&self.disk, written, self.verifies());
            self.judge(&read, &bad, &what)?;
            if bad.is_empty() {
                return Ok(());
            }
            for place in bad {
                match place {
                    Place::Block(address) => {
                        let chunk = written.chunks.iter().find(|c| c.address == address);
                        self.write_block(chunk.expect("a block of its trailer").clone(), false);
                    }
                    Place::Slot(slot) => {
                        let (disk, truth) = (&mut self.disk, &mut self.truth);
                        let seq = written.superblock.seq;
                        self.injector
                            .write_slot(disk, truth, slot, seq, &written.bytes, false);
                    }
                }
            }
        }
        Err(format!("{what}: still bad after {WRITE_TRIES_MAX} repairs"))
    }

    pub(super) fn set_durable(&mut self) -> Result<(), String> {
        self.set
            .checkpoint_durable()
            .map_err(|e| format!("checkpoint_durable failed: {e}"))?;
        self.model.checkpoint_durable();
        Ok(())
    }
}
