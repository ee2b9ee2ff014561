//! The simulated engine: jobs that reserve, acquire, write and release
//! blocks through a [`FreeSet`], checkpoints written through the library's
//! checkpoint API and verified before they are made durable, crashes and
//! restarts, each operation checked against the model ([`simulate`]).
//!
//! What must never happen here: anything but the [`Config`] that steers a
//! run (no clock, no threads, no iteration over hashed collections), or an
//! engine that reads the injector's [`Truth`] (only the checks judge by it).

use std::collections::BTreeSet;

use freeset::{Bitset, FreeSet, Options, Reservation, Trailer};

use super::check::{self, Shape};
use super::config::{
    trailer_blocks_max, Config, Variant, Workload, COMPACTION_ODDS, JOBS_MAX, LOAD_CHANGE_ODDS,
    OCCUPANCY_TARGETS, PLOT_POINTS_MAX, PROGRESS_EVERY, RELEASE_CANDIDATES, SCRATCH_RELEASE_ODDS,
    WRITE_TRIES_MAX,
};
use super::disk::{Change, ChunkBlock, Content, Disk, Live, Place, SLOTS};
use super::faults::{Injector, Truth};
use super::model::{Checkpoint, Model};
use super::recovery::{self, pair, InFlight, Recovered};
use super::report::{Counts, Summary, Violation};
use super::rng::{fnv, Rng, FNV_OFFSET};
use super::save::{Durable, Record};
use super::superblock::{chunk_checksum, Seal, Superblock};
use super::trailer::{self, open_block_by_block};

/// A job: its reservation, the blocks still to acquire, the blocks written,
/// and whether they are scratch output (`--workload compaction`).
struct Job {
    reservation: Reservation,
    remaining: u64,
    held: Vec<Live>,
    scratch: bool,
}

/// The engine, its disk, the model and the figures of one run.
struct Sim<'c> {
    config: &'c Config,
    variant: Variant,
    rng: Rng,
    set: FreeSet,
    model: Model,
    disk: Disk,
    /// Between the checkpoint writes and the disk.
    injector: Injector,
    /// What the injector damaged: for the checks only.
    truth: Truth,
    jobs: Vec<Job>,
    /// A job forfeited while others are active: the set refuses new
    /// reservations until every job of the session has forfeited.
    forfeiting: bool,
    /// The blocks the engine references, in no order (releases pick at random).
    live: Vec<Live>,
    /// Scratch output of finished compaction jobs: blocks the engine holds
    /// but its index never references, released before the next
    /// checkpoint is written.
    scratch: Vec<Live>,
    /// `writes` when the checkpoint was last made durable (or the engine
    /// restarted): the broken `ReuseReferenced` engine's rule.
    durable_mark: u64,
    /// Changes to `live` since the last checkpoint written or restart.
    changes: Vec<Change>,
    /// Trailer of the last checkpoint written, not released yet (empty after a
    /// restart: `open` marks the trailer pending release itself).
    trailer_unreleased: Vec<u64>,
    /// The model's record of the checkpoint a crash restarts from when the
    /// one in flight fails to verify (or when there is none).
    durable: Checkpoint,
    /// The model's record of the checkpoint written and not verified yet.
    written: Option<Checkpoint>,
    /// The engine's own: what it wrote for `written`, to verify and repair.
    in_flight: Option<InFlight>,
    /// Operation at which the current checkpoint becomes durable, if it is not.
    durable_at: Option<u64>,
    /// Operations since the last checkpoint was written, crashes included:
    /// crashes do not put the next checkpoint off.
    since_checkpoint: u64,
    writes: u64,
    /// The last checkpoint `checkpoints_durable` counted (a restart may
    /// open one before it was made durable, which counts it once, later).
    counted_durable: u64,
    /// Most blocks two checkpoint trailers can need; jobs leave them free.
    trailer_max: u64,
    target_occupancy: f64,
    summary: Summary,
    /// Whether to sample `set.stats()` at each checkpoint (`--plot`).
    sample: bool,
    samples: Vec<crate::draw::Sample>,
    crash_steps: Vec<u64>,
    /// The most blocks held and live since the last sample (`--plot`).
    interval_peaks: (u64, u64),
}

impl<'c> Sim<'c> {
    /// The engine on a freshly formatted disk: every superblock copy holds
    /// the empty grid's (checkpoint #0), verified.
    fn new(config: &'c Config, variant: Variant) -> Result<Self, String> {
        let mut rng = Rng::new(config.seed);
        let target_occupancy = occupancy_target(&mut rng);
        let set = FreeSet::with_options(config.blocks, options_of(config))
            .map_err(|e| format!("FreeSet::with_options({}) failed: {e}", config.blocks))?;
        let mut sim = Sim {
            config,
            variant,
            rng,
            set,
            model: Model::new(config.blocks, config.immediate_reuse),
            disk: Disk::default(),
            injector: Injector::new(config.seed, config.faults),
            truth: Truth::new(),
            jobs: Vec::new(),
            forfeiting: false,
            live: Vec::new(),
            scratch: Vec::new(),
            durable_mark: 0,
            changes: Vec::new(),
            trailer_unreleased: Vec::new(),
            durable: Checkpoint::empty(config.blocks),
            written: None,
            in_flight: None,
            durable_at: None,
            since_checkpoint: 0,
            writes: 0,
            counted_durable: 0,
            trailer_max: trailer_blocks_max(config.blocks, config.chunk_bytes),
            target_occupancy,
            summary: Summary {
                seed: config.seed,
                blocks: config.blocks,
                ops: config.ops,
                counts: Counts::default(),
                peak_fragmentation: 0.0,
                peak_free_outside_largest: 0.0,
                peak_occupancy: 0.0,
                peak_held: 0,
                peak_live: 0,
                immediate_reuse: config.immediate_reuse,
                workload: config.workload,
                digest: FNV_OFFSET,
            },
            sample: false,
            samples: Vec::new(),
            crash_steps: Vec::new(),
            interval_peaks: (0, 0),
        };
        sim.store_copies(&Superblock::initial(), &[0, 1, 2, 3])?;
        Ok(sim)
    }

    /// One operation: a crash and restart, or a job's work (a release, an
    /// acquire or a new job), after whatever is due first: the current
    /// checkpoint becoming durable, then a checkpoint.
    fn step(&mut self, step: u64) -> Result<(), String> {
        self.since_checkpoint += 1;
        if self.rng.chance(self.config.crash_rate) {
            return self.crash_and_restart(step);
        }
        let checkpoint_due = self.since_checkpoint > self.config.checkpoint_every;
        if let Some(at) = self.durable_at {
            // The next checkpoint needs this one durable: the engine waits.
            if step >= at || checkpoint_due {
                self.make_durable()?;
            }
        }
        if checkpoint_due {
            self.checkpoint(step)?;
            self.since_checkpoint = 1;
        }
        self.work()
    }

    /// Blocks the engine references: live, held by jobs, scratch output,
    /// and the trailer of the last checkpoint written (until the next one
    /// releases it). What its data needs, against what the set holds.
    fn referenced(&self) -> u64 {
        let held: usize = self.jobs.iter().map(|j| j.held.len()).sum();
        (self.live.len() + held + self.scratch.len() + self.trailer_unreleased.len()) as u64
    }

    /// The checks after every operation (`check::counts`), and the peaks of
    /// blocks held (`count_acquired()`: acquired, released not yet free)
    /// and live ([`Sim::referenced`]).
    fn check(&mut self) -> Result<(), String> {
        let referenced = self.referenced();
        check::counts(
            &self.set,
            &self.model,
            self.config.blocks,
            self.jobs.len() as u64,
            referenced,
        )?;
        let held = self.model.acquired.count();
        let summary = &mut self.summary;
        summary.peak_held = summary.peak_held.max(held);
        summary.peak_live = summary.peak_live.max(referenced);
        let peaks = &mut self.interval_peaks;
        *peaks = (peaks.0.max(held), peaks.1.max(referenced));
        Ok(())
    }

    fn model_free(&self) -> u64 {
        self.config.blocks - self.model.acquired.count()
    }

    /// Blocks reserved by active jobs and not acquired yet.
    fn outstanding(&self) -> u64 {
        self.jobs.iter().map(|j| j.remaining).sum()
    }

    /// Whether the engine checks its checksums (all but the broken one).
    fn verifies(&self) -> bool {
        self.variant != Variant::SkipChecksum
    }

    /// A release, an acquire or a new job, chosen so that the occupancy
    /// hovers around the target.
    fn work(&mut self) -> Result<(), String> {
        if self.config.workload == Workload::Compaction
            && !self.scratch.is_empty()
            && self.rng.chance(SCRATCH_RELEASE_ODDS)
        {
            let index = self.rng.below(self.scratch.len() as u64) as usize;
            let block = self.scratch.swap_remove(index);
            return self.release(block.address);
        }
        // Steered by what the engine references, not by what the set
        // holds, so that immediate reuse changes what the set holds and
        // not the work: runs of one seed with and without it compare.
        let occupancy = self.referenced() as f64 / self.config.blocks as f64;
        // About as many releases as acquires at the target (a job of 8.5
        // blocks on average takes 9.5 operations), fewer below, more above.
        let p_release = (0.47 * (occupancy / self.target_occupancy).powi(3)).min(0.95);
        if !self.live.is_empty() && self.rng.chance(p_release) {
            return self.release_one();
        }
        let can_reserve = self.jobs.len() < JOBS_MAX && !self.forfeiting;
        if !self.jobs.is_empty() && (!can_reserve || self.rng.chance(0.85)) {
            return self.acquire_one();
        }
        if can_reserve && self.reserve_job()? {
            return Ok(());
        }
        if !self.live.is_empty() {
            return self.release_one();
        }
        Ok(()) // Nothing to do: the grid waits for a durable checkpoint.
    }

    /// Starts a job if the grid has room for it and for two checkpoint
    /// trailers (see `trailer_blocks_max`); returns whether it did.
    fn reserve_job(&mut self) -> Result<bool, String> {
        debug_assert!(self.jobs.len() < JOBS_MAX && !self.forfeiting);
        let scratch =
            self.config.workload == Workload::Compaction && self.rng.chance(COMPACTION_ODDS);
        let n = 1 + self.rng.below(if scratch {
            self.config.workload.job_blocks_max()
        } else {
            Workload::Default.job_blocks_max()
        });
        let outstanding = self.outstanding();
        let room = self.set.count_free().saturating_sub(outstanding);
        if room < n + 2 * self.trailer_max {
            return Ok(false);
        }
        // Every active reservation starts where the previous one ended, from
        // block 0, so the free blocks past them are the free blocks minus the
        // ones reserved and not acquired yet.
        let model_room = self.model_free() - outstanding;
        let reservation = self
            .set
            .reserve(n)
            .map_err(|e| format!("reserve({n}) failed: {e}"))?
            .ok_or_else(|| {
                format!("reserve({n}) found no room, but {model_room} free blocks are unreserved")
            })?;
        self.jobs.push(Job {
            reservation,
            remaining: n,
            held: Vec::new(),
            scratch,
        });
        Ok(true)
    }

    /// A job acquires and writes one block; a job done forfeits.
    fn acquire_one(&mut self) -> Result<(), String> {
        let index = self.rng.below(self.jobs.len() as u64) as usize;
        let job = &self.jobs[index];
        debug_assert!(job.remaining > 0);
        let address = self
            .set
            .acquire(&job.reservation)
            .map_err(|e| format!("acquire failed: {e}"))?
            .ok_or_else(|| {
                format!(
                    "acquire found no free block in a reservation with {} block(s) left",
                    job.remaining
                )
            })?;
        self.hand_out(address)?;
        self.write_data(address)?;
        let job = &mut self.jobs[index];
        job.held.push(Live {
            address,
            write: self.writes,
        });
        job.remaining -= 1;
        if job.remaining == 0 {
            let job = self.jobs.swap_remove(index);
            self.finish(job)?;
            self.forfeiting = !self.jobs.is_empty();
        }
        Ok(())
    }

    /// Writes the next write into `address`, which no checkpoint a restart
    /// could use may reference: a block reused while one does is data a
    /// restart loses.
    fn write_data(&mut self, address: u64) -> Result<(), String> {
        let referenced = [Some(&self.durable), self.written.as_ref()]
            .into_iter()
            .flatten()
            .find(|c| c.references(address));
        if let Some(checkpoint) = referenced {
            return Err(format!(
                "block {address} overwritten while checkpoint #{} references it \
                 (durable #{}): a block reused too early",
                checkpoint.id, self.durable.id
            ));
        }
        self.writes += 1;
        self.disk.write_data(address, self.writes);
        Ok(())
    }

    /// Forfeits a job's reservation; its blocks become live (scratch output
    /// stays out of the index).
    fn finish(&mut self, job: Job) -> Result<(), String> {
        self.set
            .forfeit(&job.reservation)
            .map_err(|e| format!("forfeit failed: {e}"))?;
        if job.scratch {
            self.scratch.extend(job.held);
            return Ok(());
        }
        self.changes
            .extend(job.held.iter().map(|&b| Change::Added(b)));
        self.live.extend(job.held);
        Ok(())
    }

    /// Every job forfeits (checkpoints and durability need no reservation).
    fn forfeit_all(&mut self) -> Result<(), String> {
        for job in std::mem::take(&mut self.jobs) {
            self.finish(job)?;
        }
        self.forfeiting = false;
        Ok(())
    }

    /// Releases a live block, the oldest of a few picked at random.
    fn release_one(&mut self) -> Result<(), String> {
        debug_assert!(!self.live.is_empty());
        let len = self.live.len() as u64;
        let mut oldest = self.rng.below(len) as usize;
        for _ in 1..RELEASE_CANDIDATES {
            let other = self.rng.below(len) as usize;
            if self.live[other].write < self.live[oldest].write {
                oldest = other;
            }
        }
        if self.variant == Variant::ReuseReferenced {
            // The broken engine updates its newest block (the last one a
            // job finished) rather than dropping an old one.
            oldest = self.live.len() - 1;
        }
        let block = self.live.swap_remove(oldest);
        self.changes.push(Change::Released(block.address));
        if self.variant == Variant::ReuseReferenced && block.write > self.durable_mark {
            // The bug: "written since the last durable checkpoint, so no
            // checkpoint references it", and the block is written over in
            // place instead of released.
            self.write_data(block.address)?;
            let reused = Live {
                address: block.address,
                write: self.writes,
            };
            self.changes.push(Change::Added(reused));
            self.live.push(reused);
            return Ok(());
        }
        self.release(block.address)
    }

    /// Releases a block the engine no longer references. With immediate
    /// reuse the model frees it at once when it is outside its snapshot,
    /// which must agree with the checkpoints themselves: neither the
    /// durable one nor the one written since may reference it.
    fn release(&mut self, address: u64) -> Result<(), String> {
        self.set
            .release(address)
            .map_err(|e| format!("release({address}) failed: {e}"))?;
        if self.model.release(address) {
            let referenced = [Some(&self.durable), self.written.as_ref()]
                .into_iter()
                .flatten()
                .find(|c| c.references(address));
            if let Some(checkpoint) = referenced {
                return Err(format!(
                    "block {address} freed at once while checkpoint #{} references it",
                    checkpoint.id
                ));
            }
        }
        self.summary.counts.releases += 1;
        Ok(())
    }

    /// Checks a block `acquire` returned and records it in the model.
    fn hand_out(&mut self, address: u64) -> Result<(), String> {
        if address == 0 || address > self.config.blocks {
            return Err(format!(
                "acquire returned address {address}, outside 1..={}",
                self.config.blocks
            ));
        }
        if self.model.acquired.get(address) {
            return Err(format!(
                "block {address} handed out twice: it is still acquired"
            ));
        }
        if self.durable.references(address) {
            return Err(format!(
                "block {address} handed out while the last durable checkpoint (#{}) \
                 still references it",
                self.durable.id
            ));
        }
        if let Some(written) = self.written.as_ref().filter(|c| c.references(address)) {
            return Err(format!(
                "block {address} handed out while checkpoint #{}, written and about \
                 to be durable, references it",
                written.id
            ));
        }
        self.model.acquired.set(address);
        self.summary.counts.acquires += 1;
        self.summary.digest = fnv(self.summary.digest, address);
        Ok(())
    }

    /// Writes a checkpoint through the library's checkpoint API (see the
    /// module doc for the order and why): the chunks into the trailer
    /// blocks, then the superblock into the pair of copies the checkpoint
    /// before it does not hold. Nothing is verified yet: the writes are in
    /// flight until `make_durable`.
    fn checkpoint(&mut self, step: u64) -> Result<(), String> {
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
    fn store_copies(&mut self, superblock: &Superblock, slots: &[usize]) -> Result<(), String> {
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
    fn make_durable(&mut self) -> Result<(), String> {
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
    fn crash_and_restart(&mut self, step: u64) -> Result<(), String> {
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

    /// Updates the peak fragmentation and occupancy, and keeps a sample
    /// for `--plot` if asked (O(blocks / 64)).
    fn sample_shape(&mut self, step: u64) -> Result<(), String> {
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
    fn durable_bytes(&self) -> Result<Durable, String> {
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

/// The set's options for `config`.
fn options_of(config: &Config) -> Options {
    Options::new().immediate_reuse(config.immediate_reuse)
}

fn occupancy_target(rng: &mut Rng) -> f64 {
    let (low, high) = OCCUPANCY_TARGETS;
    low + (high - low) * rng.unit()
}

/// Runs `config.ops` operations of the engine `variant` and checks each.
/// `on_progress` gets the number of operations done now and then (it cannot
/// influence the run). `config` must pass [`Config::validate`].
// The command runs `simulate_recorded`; the tests run this.
#[cfg_attr(not(test), allow(dead_code))]
pub fn simulate(
    config: &Config,
    variant: Variant,
    on_progress: impl FnMut(u64),
) -> Result<Summary, Violation> {
    simulate_recorded(config, variant, on_progress, &mut Record::default())
}

/// [`simulate`], keeping what `record` asks for.
pub fn simulate_recorded(
    config: &Config,
    variant: Variant,
    mut on_progress: impl FnMut(u64),
    record: &mut Record,
) -> Result<Summary, Violation> {
    debug_assert!(config.validate().is_ok(), "{:?}", config.validate());
    let violation = |step, message| Violation {
        seed: config.seed,
        step,
        message,
    };
    let mut sim = Sim::new(config, variant).map_err(|m| violation(0, m))?;
    sim.sample = record.sample;
    for step in 0..config.ops {
        sim.step(step)
            .and_then(|()| sim.check())
            .map_err(|m| violation(step, m))?;
        if step % PROGRESS_EVERY == 0 {
            on_progress(step);
        }
    }
    on_progress(config.ops);
    if record.keep_durable {
        record.durable = Some(sim.durable_bytes().map_err(|m| violation(config.ops, m))?);
    }
    record.samples = std::mem::take(&mut sim.samples);
    record.crashes = std::mem::take(&mut sim.crash_steps);
    let mut summary = sim.summary;
    for (counts, faults) in summary.counts.faults.iter_mut().zip(&sim.truth.counts) {
        *counts = *faults;
    }
    Ok(summary)
}
