//! The simulated engine: jobs that reserve, acquire, write and release
//! blocks through a [`FreeSet`], checkpoints written through the library's
//! checkpoint API and verified before they are made durable, crashes and
//! restarts, each operation checked against the model ([`simulate`]).
//!
//! What must never happen here: anything but the [`Config`] that steers a
//! run (no clock, no threads, no iteration over hashed collections), or an
//! engine that reads the injector's [`Truth`] (only the checks judge by it).

use freeset::{FreeSet, Options, Reservation};

use super::check::{self};
use super::config::{
    trailer_blocks_max, Config, Variant, Workload, COMPACTION_ODDS, JOBS_MAX, OCCUPANCY_TARGETS,
    PROGRESS_EVERY, RELEASE_CANDIDATES, SCRATCH_RELEASE_ODDS,
};
use super::disk::{Change, Disk, Live};
use super::faults::{Injector, Truth};
use super::model::{Checkpoint, Model};
use super::recovery::InFlight;
use super::report::{Counts, Summary, Violation};
use super::rng::{fnv, Rng, FNV_OFFSET};
use super::save::Record;
use super::superblock::Superblock;

mod checkpoint;
mod restart;

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

    /// The checkpoint a restart could use (the durable one, or the one
    /// written and not yet durable) that references `address`, if any.
    fn referencing(&self, address: u64) -> Option<&Checkpoint> {
        [Some(&self.durable), self.written.as_ref()]
            .into_iter()
            .flatten()
            .find(|c| c.references(address))
    }

    /// Writes the next write into `address`, which no checkpoint a restart
    /// could use may reference: a block reused while one does is data a
    /// restart loses.
    fn write_data(&mut self, address: u64) -> Result<(), String> {
        if let Some(checkpoint) = self.referencing(address) {
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
            if let Some(checkpoint) = self.referencing(address) {
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
