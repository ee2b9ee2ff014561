//! Crashes and restarts: everything but the disk is lost, the engine
//! recovers the newest checkpoint whose bytes verify, the model judges which
//! one it should have been, and the set is reopened block by block.

use std::collections::BTreeSet;

use freeset::FreeSet;

use crate::simulate::check::{self, Shape};
use crate::simulate::config::PLOT_POINTS_MAX;
use crate::simulate::disk::{Content, Live, Place, SLOTS};
use crate::simulate::model::Checkpoint;
use crate::simulate::recovery::{self, Recovered};
use crate::simulate::save::Durable;
use crate::simulate::superblock::Superblock;
use crate::simulate::trailer::{self, open_block_by_block};

/// A job: its reservation, the blocks still to acquire, the blocks written,
use super::{options_of, Sim};

impl Sim<'_> {
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
    pub(super) fn judge_restart(&mut self, recovered: &Recovered) -> Result<Checkpoint, String> {
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
    pub(super) fn reopen(
        &mut self,
        recovered: &Recovered,
        target: Checkpoint,
    ) -> Result<(), String> {
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

    /// Updates the peak fragmentation and occupancy, and keeps a sample
    /// for `--plot` if asked (O(blocks / 64)).
    pub(super) fn sample_shape(&mut self, step: u64) -> Result<(), String> {
        let Shape {
            free,
            largest,
            fragmentation,
            occupancy,
        } = check::shape(&self.set, &self.model, self.config.blocks)?;
        let summary = &mut self.summary;
        if free > 0 {
            let outside = 1.0 - largest as f64 / free as f64;
            summary.peak_free_outside_largest = summary.peak_free_outside_largest.max(outside);
        }
        summary.peak_fragmentation = summary.peak_fragmentation.max(fragmentation);
        summary.peak_occupancy = summary.peak_occupancy.max(occupancy);
        let (held, live) = std::mem::take(&mut self.interval_peaks);
        if self.sample && (self.samples.len() as u64) < PLOT_POINTS_MAX {
            self.samples.push(crate::draw::Sample {
                step,
                free,
                largest,
                fragmentation,
                held,
                live,
            });
        }
        Ok(())
    }

    /// The last durable checkpoint's encodings, read back from its trailer
    /// through a superblock copy that names it (for `--save`).
    pub(super) fn durable_bytes(&self) -> Result<Durable, String> {
        let id = self.durable.id;
        let superblock = (0..SLOTS)
            .filter_map(|slot| {
                self.disk
                    .slot(slot)
                    .and_then(|b| Superblock::decode(b, true))
            })
            .find(|copy| copy.seq == id)
            .ok_or_else(|| format!("no superblock copy names the durable checkpoint #{id}"))?;
        let (acquired, released) = trailer::read(&self.disk, &superblock, true)
            .map_err(|bad| format!("the durable checkpoint #{id} reads back bad at {bad:?}"))?;
        Ok(Durable {
            id,
            acquired,
            released,
            trailer_acquired: superblock.trailer_acquired,
            trailer_released: superblock.trailer_released,
        })
    }
}
