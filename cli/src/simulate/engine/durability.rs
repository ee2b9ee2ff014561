//! The engine's checkpoints, durability and restarts: a checkpoint written
//! through the library's checkpoint API, its writes in flight, their
//! verification and repair before the checkpoint is made durable, and a
//! crash with the restart from what the disk holds, each judged against
//! the injector's truth.
//!
//! What must never happen here: a checkpoint made durable before its writes
//! are verified, or a restart that reads anything but the disk (the
//! engine's own state is what a crash loses).

use std::collections::BTreeSet;

use freeset::{Bitset, FreeSet, Trailer};

use super::{occupancy_target, options_of, Sim};
use crate::simulate::check;
use crate::simulate::config::{Variant, LOAD_CHANGE_ODDS, PLOT_POINTS_MAX, WRITE_TRIES_MAX};
use crate::simulate::disk::{ChunkBlock, Content, Live, Place, SLOTS};
use crate::simulate::model::Checkpoint;
use crate::simulate::recovery::{self, pair, InFlight, Recovered};
use crate::simulate::rng::Rng;
use crate::simulate::superblock::{chunk_checksum, Seal, Superblock};
use crate::simulate::trailer::{self, open_block_by_block};

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
    fn superblock_of(
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
    fn write_in_flight(&mut self, written: InFlight) {
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
    fn write_block(&mut self, chunk: ChunkBlock, batch: bool) {
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
    fn judge(&mut self, read: &[Place], bad: &[Place], what: &str) -> Result<(), String> {
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
    fn holds(&self, place: Place, superblock: &Superblock) -> bool {
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
    fn verify_and_repair(&mut self, written: &InFlight) -> Result<(), String> {
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

    fn set_durable(&mut self) -> Result<(), String> {
        self.set
            .checkpoint_durable()
            .map_err(|e| format!("checkpoint_durable failed: {e}"))?;
        self.model.checkpoint_durable();
        Ok(())
    }

    /// Loses everything but the disk, then restarts from the newest
    /// checkpoint that verifies (`recovery::recover`); the model checks
    /// which one, every fault found on the way, and the opened set.
    pub(super) fn crash_and_restart(&mut self, step: u64) -> Result<(), String> {
        self.summary.counts.crashes += 1;
        if self.sample && (self.crash_steps.len() as u64) < PLOT_POINTS_MAX {
            self.crash_steps.push(step);
        }
        self.injector.crash(&mut self.disk, &mut self.truth);
        self.jobs.clear();
        self.forfeiting = false;
        self.live.clear();
        self.scratch.clear();
        self.changes.clear();
        self.trailer_unreleased.clear();
        self.in_flight = None;
        self.durable_mark = self.writes;
        let recovered = recovery::recover(&self.disk, self.verifies())?;
        let target = self.judge_restart(&recovered)?;
        let counts = &mut self.summary.counts;
        match (recovered.fallback, target.id) {
            (true, _) => counts.restarts_fallback += 1,
            (false, 0) => counts.restarts_initial += 1,
            (false, _) => counts.restarts_latest += 1,
        }
        self.reopen(&recovered, target)?;
        let superblock = &recovered.superblock;
        let stale: Vec<usize> = (0..SLOTS)
            .filter(|&slot| !self.holds(Place::Slot(slot), superblock))
            .collect();
        self.store_copies(superblock, &stale)?;
        self.durable_at = Some(step + 1 + self.rng.below(self.config.checkpoint_every));
        Ok(())
    }

    /// Checks a restart against the model: the same checkpoint, and exactly
    /// the faults a correct engine finds (`Truth::expect_restart`). Returns
    /// the model's record of the checkpoint.
    fn judge_restart(&mut self, recovered: &Recovered) -> Result<Checkpoint, String> {
        let mut trailers = vec![(self.durable.id, self.durable.trailer())];
        if let Some(written) = &self.written {
            trailers.push((written.id, written.trailer()));
        }
        let (expected, id, _) = self.truth.expect_restart(&trailers)?;
        let found: BTreeSet<Place> = recovered.bad.iter().copied().collect();
        let read: Vec<Place> = expected.union(&found).copied().collect();
        self.judge(&read, &recovered.bad, "restart")?;
        if let Some(&missed) = expected.difference(&found).next() {
            return Err(format!(
                "restart: {missed} is bad and a correct engine would find it, but the \
                 engine did not (an injected fault undetected)"
            ));
        }
        self.truth.restarted();
        let seq = recovered.superblock.seq;
        if seq != id {
            return Err(format!(
                "restarted from checkpoint #{seq}, but #{id} is the newest intact one \
                 (durable #{}, in flight {:?})",
                self.durable.id,
                self.written.as_ref().map(|w| w.id)
            ));
        }
        let target = match self.written.take() {
            Some(written) if written.id == seq => written,
            _ => self.durable.clone(),
        };
        Ok(target)
    }

    /// Opens the set from what `recovered` read back, restores the
    /// engine's index and live blocks, and checks both against the model.
    fn reopen(&mut self, recovered: &Recovered, target: Checkpoint) -> Result<(), String> {
        let superblock = &recovered.superblock;
        let id = superblock.seq;
        let mut set = FreeSet::unopened_with_options(self.config.blocks, options_of(self.config))
            .map_err(|e| format!("FreeSet::unopened_with_options failed: {e}"))?;
        // Every other restart opens as an engine reads its trailer: block by
        // block through one reused buffer; the others open from the bytes at
        // once. Both must give the checkpoint's state.
        let opened = if self.summary.counts.crashes.is_multiple_of(2) {
            set.open(
                &recovered.acquired,
                &recovered.released,
                &superblock.trailer_acquired,
                &superblock.trailer_released,
            )
        } else {
            open_block_by_block(&mut set, &self.disk, superblock)
        };
        opened.map_err(|e| format!("open from checkpoint #{id} failed: {e}"))?;
        if self.disk.index.id != id {
            self.disk
                .index
                .advance(superblock.base, id, &superblock.changes)?;
        }
        // The engine reads its index back; every block in it must still hold
        // the write it recorded.
        let mut live = Vec::with_capacity(self.disk.index.live.len());
        for (&address, &write) in &self.disk.index.live {
            let content = self.disk.read(address);
            if content != Content::Data(write) {
                return Err(format!(
                    "block {address} of checkpoint #{id} was overwritten: it should hold \
                     write #{write}, it holds {content}"
                ));
            }
            live.push(Live { address, write });
        }
        self.set = set;
        self.model.restore(&target);
        self.live = live;
        self.durable = target;
        self.written = None;
        self.check()?;
        check::block_for_block(&self.set, &self.model, id)
    }
}
