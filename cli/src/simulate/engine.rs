//! The simulated engine: jobs that reserve, acquire, write and release
//! blocks through a [`FreeSet`], checkpoints, crashes and restarts, each
//! operation checked against the model ([`simulate`]).
//!
//! What must never happen here: anything but the [`Config`] that steers a
//! run (no clock, no threads, no iteration over hashed collections).

use std::collections::BTreeMap;

use freeset::{Bitset, FreeSet, Reservation};

use super::config::{
    trailer_blocks_max, Config, Variant, JOBS_MAX, JOB_BLOCKS_MAX, LOAD_CHANGE_ODDS,
    OCCUPANCY_TARGETS, PLOT_POINTS_MAX, PROGRESS_EVERY, RELEASE_CANDIDATES,
};
use super::disk::{Change, Content, Disk, Live, Seal};
use super::model::{Checkpoint, Model};
use super::report::{Summary, Violation};
use super::rng::{fnv, Rng, FNV_OFFSET};
use super::save::{Durable, Record};
use super::trailer::{self, open_block_by_block, read_back};

/// A job: its reservation, the blocks still to acquire, the blocks written.
struct Job {
    reservation: Reservation,
    remaining: u64,
    held: Vec<Live>,
}

/// The engine, its disk, the model and the figures of one run.
struct Sim<'c> {
    config: &'c Config,
    variant: Variant,
    rng: Rng,
    set: FreeSet,
    model: Model,
    disk: Disk,
    jobs: Vec<Job>,
    /// A job forfeited while others are active: the set refuses new
    /// reservations until every job of the session has forfeited.
    forfeiting: bool,
    /// The blocks the engine references, in no order (releases pick at random).
    live: Vec<Live>,
    /// Changes to `live` since the last checkpoint written or restart.
    changes: Vec<Change>,
    /// The live blocks of the last durable checkpoint, address -> write: the
    /// engine's index on disk, which a restart reads.
    durable_live: BTreeMap<u64, u64>,
    /// Trailer of the last checkpoint written, not released yet (empty after a
    /// restart: `open` marks the trailer pending release itself).
    trailer_unreleased: Vec<u64>,
    /// The checkpoint a crash restarts from.
    durable: Checkpoint,
    /// Written since, not durable yet; lost by a crash.
    written: Option<Checkpoint>,
    /// Operation at which the current checkpoint becomes durable, if it is not.
    durable_at: Option<u64>,
    since_checkpoint: u64,
    writes: u64,
    /// Most blocks two checkpoint trailers can need; jobs leave them free.
    trailer_max: u64,
    target_occupancy: f64,
    summary: Summary,
    /// Whether to sample `set.stats()` at each checkpoint (`--plot`).
    sample: bool,
    samples: Vec<crate::draw::Sample>,
    crash_steps: Vec<u64>,
}

impl<'c> Sim<'c> {
    fn new(config: &'c Config, variant: Variant) -> Result<Self, String> {
        let mut rng = Rng::new(config.seed);
        let target_occupancy = occupancy_target(&mut rng);
        let set = FreeSet::new(config.blocks)
            .map_err(|e| format!("FreeSet::new({}) failed: {e}", config.blocks))?;
        Ok(Sim {
            config,
            variant,
            rng,
            set,
            model: Model::new(config.blocks),
            disk: Disk::default(),
            jobs: Vec::new(),
            forfeiting: false,
            live: Vec::new(),
            changes: Vec::new(),
            durable_live: BTreeMap::new(),
            trailer_unreleased: Vec::new(),
            durable: Checkpoint::empty(config.blocks),
            written: None,
            durable_at: None,
            since_checkpoint: 0,
            writes: 0,
            trailer_max: trailer_blocks_max(config.blocks, config.chunk_bytes),
            target_occupancy,
            summary: Summary {
                seed: config.seed,
                blocks: config.blocks,
                ops: config.ops,
                acquires: 0,
                releases: 0,
                checkpoints_written: 0,
                checkpoints_durable: 0,
                crashes: 0,
                peak_fragmentation: 0.0,
                peak_free_outside_largest: 0.0,
                peak_occupancy: 0.0,
                digest: FNV_OFFSET,
            },
            sample: false,
            samples: Vec::new(),
            crash_steps: Vec::new(),
        })
    }

    /// One operation: a crash and restart, or a job's work (a release, an
    /// acquire or a new job), after whatever is due first: the current
    /// checkpoint becoming durable, then a checkpoint.
    fn step(&mut self, step: u64) -> Result<(), String> {
        if self.rng.chance(self.config.crash_rate) {
            return self.crash_and_restart(step);
        }
        let checkpoint_due = self.since_checkpoint >= self.config.checkpoint_every;
        if let Some(at) = self.durable_at {
            // The next checkpoint needs this one durable: the engine waits.
            if step >= at || checkpoint_due {
                self.make_durable()?;
            }
        }
        if checkpoint_due {
            self.checkpoint(step)?;
        }
        self.since_checkpoint += 1;
        self.work()
    }

    /// A release, an acquire or a new job, chosen so that the occupancy
    /// hovers around the target.
    fn work(&mut self) -> Result<(), String> {
        let occupancy = self.model.acquired.count() as f64 / self.config.blocks as f64;
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
        let n = 1 + self.rng.below(JOB_BLOCKS_MAX);
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
        self.writes += 1;
        self.disk.write_data(address, self.writes);
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

    /// Forfeits a job's reservation; its blocks become live.
    fn finish(&mut self, job: Job) -> Result<(), String> {
        self.set
            .forfeit(&job.reservation)
            .map_err(|e| format!("forfeit failed: {e}"))?;
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
        let block = self.live.swap_remove(oldest);
        self.changes.push(Change::Released(block.address));
        self.release(block.address)
    }

    fn release(&mut self, address: u64) -> Result<(), String> {
        self.set
            .release(address)
            .map_err(|e| format!("release({address}) failed: {e}"))?;
        self.model.release(address);
        self.summary.releases += 1;
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
        self.summary.acquires += 1;
        self.summary.digest = fnv(self.summary.digest, address);
        Ok(())
    }

    /// Writes a checkpoint through the library's checkpoint API (see the
    /// module doc for the order and why).
    fn checkpoint(&mut self, step: u64) -> Result<(), String> {
        self.forfeit_all()?;
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
            self.summary.releases += 1;
        }
        debug_assert!(self.model.pending.is_empty());
        // What the encoding holds: the trailer is acquired after it.
        let (acquired, released) = (self.model.acquired.clone(), self.model.released.clone());
        let (trailer, chunks) =
            trailer::write(&mut self.set, self.config.chunk_bytes, self.trailer_max)?;
        let seal = |bitset| {
            let bytes: Vec<u8> = chunks
                .iter()
                .filter(|c| c.bitset == bitset)
                .flat_map(|c| c.bytes.iter().copied())
                .collect();
            Seal::of(&bytes)
        };
        let checkpoint = Checkpoint {
            id: self.summary.checkpoints_written + 1,
            acquired_seal: seal(Bitset::Acquired),
            released_seal: seal(Bitset::Released),
            trailer_acquired: trailer.acquired,
            trailer_released: trailer.released,
            base: self.durable.id,
            changes: std::mem::take(&mut self.changes),
            acquired,
            released,
        };
        for chunk in chunks {
            self.hand_out(chunk.address)?;
            self.disk.write_chunk(chunk.address, chunk.bytes);
        }
        self.trailer_unreleased = checkpoint
            .trailer_acquired
            .iter()
            .chain(&checkpoint.trailer_released)
            .copied()
            .collect();
        self.model.checkpoint_not_durable();
        self.written = Some(checkpoint);
        self.summary.checkpoints_written += 1;
        self.since_checkpoint = 0;
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

    /// The current checkpoint is durable now.
    fn make_durable(&mut self) -> Result<(), String> {
        self.forfeit_all()?;
        if !self.model.durable {
            self.set_durable()?;
        }
        if let Some(mut checkpoint) = self.written.take() {
            // Checkpoints are written only once the one before is durable.
            debug_assert_eq!(checkpoint.base, self.durable.id);
            for change in std::mem::take(&mut checkpoint.changes) {
                match change {
                    Change::Added(block) => {
                        let old = self.durable_live.insert(block.address, block.write);
                        debug_assert!(old.is_none(), "block {} live twice", block.address);
                    }
                    Change::Released(address) => {
                        let old = self.durable_live.remove(&address);
                        debug_assert!(old.is_some(), "block {address} was not live");
                    }
                }
            }
            self.durable = checkpoint;
            self.summary.checkpoints_durable += 1;
        }
        self.durable_at = None;
        Ok(())
    }

    fn set_durable(&mut self) -> Result<(), String> {
        self.set
            .checkpoint_durable()
            .map_err(|e| format!("checkpoint_durable failed: {e}"))?;
        self.model.checkpoint_durable();
        Ok(())
    }

    /// Loses everything but the disk and the last durable checkpoint, then
    /// opens the set from that checkpoint's trailer and checks the result.
    fn crash_and_restart(&mut self, step: u64) -> Result<(), String> {
        self.summary.crashes += 1;
        if self.sample && (self.crash_steps.len() as u64) < PLOT_POINTS_MAX {
            self.crash_steps.push(step);
        }
        self.jobs.clear();
        self.forfeiting = false;
        self.live.clear();
        self.changes.clear();
        self.trailer_unreleased.clear();
        self.written = None;

        let checkpoint = &self.durable;
        let id = checkpoint.id;
        let acquired = read_back(&self.disk, &checkpoint.trailer_acquired, id)?;
        let released = read_back(&self.disk, &checkpoint.trailer_released, id)?;
        for (bytes, seal, name) in [
            (&acquired, checkpoint.acquired_seal, "acquired"),
            (&released, checkpoint.released_seal, "released"),
        ] {
            if Seal::of(bytes) != seal {
                return Err(format!(
                    "the {name} encoding of checkpoint #{id} reads back corrupted: \
                     {:?}, the superblock says {seal:?}",
                    Seal::of(bytes)
                ));
            }
        }
        let mut set = FreeSet::unopened(self.config.blocks)
            .map_err(|e| format!("FreeSet::unopened failed: {e}"))?;
        // Every other restart opens as an engine reads its trailer: block by
        // block through one reused buffer; the others open from the bytes at
        // once. Both must give the durable state.
        let opened = if self.summary.crashes.is_multiple_of(2) {
            set.open(
                &acquired,
                &released,
                &checkpoint.trailer_acquired,
                &checkpoint.trailer_released,
            )
        } else {
            open_block_by_block(&mut set, &self.disk, checkpoint)
        };
        opened.map_err(|e| format!("open from checkpoint #{id} failed: {e}"))?;
        // The engine reads its index back; every block in it must still hold
        // the write it recorded.
        let mut live = Vec::with_capacity(self.durable_live.len());
        for (&address, &write) in &self.durable_live {
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
        self.model.restore(checkpoint);
        self.live = live;
        self.compare_all(id)?;
        self.since_checkpoint = 0;
        self.durable_at = Some(step + 1 + self.rng.below(self.config.checkpoint_every));
        Ok(())
    }

    /// The opened set equals the model block for block. With equal counts it
    /// is enough that every block the model holds acquired (released) is so in
    /// the set: the sets then have the same members.
    fn compare_all(&self, id: u64) -> Result<(), String> {
        self.check()?;
        let query = |e: freeset::Error| format!("query after open failed: {e}");
        for address in self.model.acquired.ones() {
            if self.set.is_free(address).map_err(query)? {
                return Err(format!(
                    "block {address} is free after open, checkpoint #{id} has it acquired"
                ));
            }
        }
        for &address in self.model.released.iter().chain(&self.model.pending) {
            if !self.set.is_released(address).map_err(query)? {
                return Err(format!(
                    "block {address} is not released after open, checkpoint #{id} \
                     has it released"
                ));
            }
        }
        Ok(())
    }

    /// The checks after every operation: counts, highest addresses and the
    /// engine's accounting of every acquired block. O(1) but for the sum over
    /// at most `JOBS_MAX` jobs.
    fn check(&self) -> Result<(), String> {
        let (set, model) = (&self.set, &self.model);
        let pairs = [
            (
                "count_acquired",
                set.count_acquired(),
                model.acquired.count(),
            ),
            ("count_free", set.count_free(), self.model_free()),
            (
                "count_released",
                set.count_released(),
                model.count_released(),
            ),
            (
                "count_reservations",
                set.count_reservations(),
                self.jobs.len() as u64,
            ),
        ];
        for (name, got, expected) in pairs {
            if got != expected {
                return Err(format!("{name}() = {got}, the model has {expected}"));
            }
        }
        for (name, got, expected) in [
            (
                "highest_acquired",
                set.highest_acquired(),
                model.acquired.highest(),
            ),
            (
                "highest_released",
                set.highest_released(),
                model.highest_released(),
            ),
        ] {
            if got != expected {
                return Err(format!("{name}() = {got:?}, the model has {expected:?}"));
            }
        }
        let held: usize = self.jobs.iter().map(|j| j.held.len()).sum();
        let accounted = (self.live.len() + held + self.trailer_unreleased.len()) as u64
            + model.count_released();
        if accounted != model.acquired.count() {
            return Err(format!(
                "{} blocks acquired but {accounted} accounted for (live, held by jobs, \
                 released, trailer): blocks leaked or counted twice",
                model.acquired.count()
            ));
        }
        Ok(())
    }

    fn model_free(&self) -> u64 {
        self.config.blocks - self.model.acquired.count()
    }

    /// Blocks reserved by active jobs and not acquired yet.
    fn outstanding(&self) -> u64 {
        self.jobs.iter().map(|j| j.remaining).sum()
    }

    /// Updates the peak fragmentation and occupancy, and keeps a sample
    /// for `--plot` if asked (O(blocks / 64)). The fragmentation is the
    /// set's own score (`FreeSet::stats`), the one `inspect` and the plot
    /// show; the largest free extent it reports must be the model's.
    fn sample_shape(&mut self, step: u64) -> Result<(), String> {
        let stats = self.set.stats();
        let acquired = &self.model.acquired;
        let free = self.config.blocks - acquired.count();
        let largest = stats.largest_free_extent.map_or(0, |e| e.blocks);
        let model_largest = if free > 0 {
            acquired.largest_free_run()
        } else {
            0
        };
        if largest != model_largest {
            return Err(format!(
                "stats() finds a largest free extent of {largest} blocks, the model \
                 {model_largest}"
            ));
        }
        if free > 0 {
            debug_assert!(largest >= 1 && largest <= free);
            let outside = 1.0 - largest as f64 / free as f64;
            self.summary.peak_free_outside_largest =
                self.summary.peak_free_outside_largest.max(outside);
        }
        self.summary.peak_fragmentation = self.summary.peak_fragmentation.max(stats.fragmentation);
        let occupancy = acquired.count() as f64 / self.config.blocks as f64;
        self.summary.peak_occupancy = self.summary.peak_occupancy.max(occupancy);
        if self.sample && (self.samples.len() as u64) < PLOT_POINTS_MAX {
            self.samples.push(crate::draw::Sample {
                step,
                free: stats.free_blocks,
                largest,
                fragmentation: stats.fragmentation,
            });
        }
        Ok(())
    }
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
        let checkpoint = &sim.durable;
        let read = |trailer| read_back(&sim.disk, trailer, checkpoint.id);
        record.durable = Some(Durable {
            id: checkpoint.id,
            acquired: read(&checkpoint.trailer_acquired).map_err(|m| violation(config.ops, m))?,
            released: read(&checkpoint.trailer_released).map_err(|m| violation(config.ops, m))?,
            trailer_acquired: checkpoint.trailer_acquired.clone(),
            trailer_released: checkpoint.trailer_released.clone(),
        });
    }
    record.samples = std::mem::take(&mut sim.samples);
    record.crashes = std::mem::take(&mut sim.crash_steps);
    Ok(sim.summary)
}
