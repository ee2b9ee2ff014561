//! What a run reports: its [`Summary`] (text or JSON), a [`Violation`],
//! and the command that replays it.
//!
//! What must never happen here: a figure that depends on the clock in the
//! [`Summary`] (two runs of one seed compare equal).

use std::fmt;

use super::config::{Config, FaultKind, Variant, Workload};

/// What happened to the faults of one kind (see the module doc, "Storage
/// faults"): each is detected (a checksum caught it when the engine read
/// the block), abandoned (nothing read the block before it was written
/// again or left: a checkpoint no superblock copy names, or a copy that
/// reads like one never written), or still pending at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultCounts {
    pub injected: u64,
    pub detected: u64,
    pub abandoned: u64,
}

/// The counts of a run, which `coverage.rs` requires to be non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Blocks handed out by `acquire`, trailer blocks included.
    pub acquires: u64,
    /// Blocks released by the engine or by `FreeSet::checkpoint` (trailers
    /// included; not those `open` marks).
    pub releases: u64,
    /// Checkpoints written; those a crash caught before they were verified
    /// may be left, so fewer are made durable.
    pub checkpoints_written: u64,
    pub checkpoints_durable: u64,
    /// Crashes, each followed by a restart that passed every check.
    pub crashes: u64,
    /// Restarts from the newest checkpoint on disk (not the initial state).
    pub restarts_latest: u64,
    /// Restarts from an older checkpoint, after the newest failed to verify.
    pub restarts_fallback: u64,
    /// Restarts from the initial state, no checkpoint having been written.
    pub restarts_initial: u64,
    /// Per [`FaultKind`], in its order.
    pub faults: [FaultCounts; 4],
}

impl Counts {
    pub(super) fn add(&mut self, other: &Counts) {
        self.acquires += other.acquires;
        self.releases += other.releases;
        self.checkpoints_written += other.checkpoints_written;
        self.checkpoints_durable += other.checkpoints_durable;
        self.crashes += other.crashes;
        self.restarts_latest += other.restarts_latest;
        self.restarts_fallback += other.restarts_fallback;
        self.restarts_initial += other.restarts_initial;
        for (sum, more) in self.faults.iter_mut().zip(&other.faults) {
            sum.injected += more.injected;
            sum.detected += more.detected;
            sum.abandoned += more.abandoned;
        }
    }

    /// The counts as JSON fields (no braces), for a seed or a run.
    pub(super) fn json_fields(&self) -> String {
        let faults: Vec<String> = FaultKind::ALL
            .iter()
            .map(|kind| {
                let f = self.faults[kind.index()];
                format!(
                    "\"{}\":{{\"injected\":{},\"detected\":{},\"abandoned\":{}}}",
                    kind.name(),
                    f.injected,
                    f.detected,
                    f.abandoned
                )
            })
            .collect();
        format!(
            "\"acquires\":{},\"releases\":{},\"checkpoints\":{},\"checkpoints_durable\":{},\
             \"crashes\":{},\"restarts_latest\":{},\"restarts_fallback\":{},\
             \"restarts_initial\":{},\"faults\":{{{}}}",
            self.acquires,
            self.releases,
            self.checkpoints_written,
            self.checkpoints_durable,
            self.crashes,
            self.restarts_latest,
            self.restarts_fallback,
            self.restarts_initial,
            faults.join(",")
        )
    }
}

/// What a run did; equal for equal configs and variants (no timing in it).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub seed: u64,
    /// Blocks of the grid.
    pub blocks: u64,
    /// Operations run (crashes included).
    pub ops: u64,
    pub counts: Counts,
    /// Highest fragmentation score of the set (`freeset::Stats`, the score
    /// `inspect` and the plot show), sampled at checkpoints.
    pub peak_fragmentation: f64,
    /// Highest `1 - largest free extent / free blocks`: the share of the free
    /// blocks outside the largest free extent, sampled at checkpoints.
    pub peak_free_outside_largest: f64,
    /// Highest fraction of the blocks acquired, sampled at checkpoints.
    pub peak_occupancy: f64,
    /// The most blocks the set held at once (`count_acquired()`: acquired,
    /// and released but not free yet), after any operation.
    pub peak_held: u64,
    /// The most blocks the engine referenced at once (live, held by jobs,
    /// scratch output, its last trailer), after any operation.
    pub peak_live: u64,
    /// Whether the set reused blocks at once (`--immediate-reuse`).
    pub immediate_reuse: bool,
    pub workload: Workload,
    /// FNV-1a of every address handed out, in order: equal runs, equal digest.
    pub digest: u64,
}

impl Summary {
    /// Space amplification: the peak of blocks held over the peak of
    /// blocks live (1 when nothing was live).
    pub fn space_amplification(&self) -> f64 {
        self.peak_held as f64 / self.peak_live.max(1) as f64
    }
}

/// A check that failed: what, at which operation (0-based) of which seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub seed: u64,
    /// The operation, from 0: `--ops step+1` replays up to it.
    pub step: u64,
    /// What the check found, naming the block and checkpoint involved.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "violation at step {} (seed {}): {}",
            self.step, self.seed, self.message
        )
    }
}

// ---- output ----------------------------------------------------------------

pub(super) fn print_summary(s: &Summary, seconds: f64) {
    println!(
        "seed {}: passed, {} operations in {seconds:.2} s ({:.0} ops/s)",
        s.seed,
        s.ops,
        ops_per_second(s, seconds)
    );
    println!("  grid                {} blocks", s.blocks);
    print_counts(&s.counts);
    println!(
        "  peak fragmentation  {:.3} (the score of inspect and --plot: 0 one free extent, \
         1 every free block alone; at checkpoints)",
        s.peak_fragmentation
    );
    println!(
        "  outside largest     {:.3} at peak: the share of the free blocks outside the \
         largest free extent, at checkpoints",
        s.peak_free_outside_largest
    );
    println!(
        "  peak occupancy      {:.3} of the blocks acquired",
        s.peak_occupancy
    );
    println!(
        "  space amplification {:.3}: at most {} blocks held over at most {} live \
         ({} workload, {})",
        s.space_amplification(),
        s.peak_held,
        s.peak_live,
        s.workload.name(),
        if s.immediate_reuse {
            "immediate reuse"
        } else {
            "release at the next durable checkpoint"
        }
    );
    println!("  digest              {:016x}", s.digest);
}

/// The counts of a seed or of a run, a line each.
pub(super) fn print_counts(c: &Counts) {
    println!(
        "  checkpoints         {} written, {} made durable",
        c.checkpoints_written, c.checkpoints_durable
    );
    println!(
        "  crashes survived    {}: restarts from the latest checkpoint {}, from an older \
         one after a fault {}, from the initial state {}",
        c.crashes, c.restarts_latest, c.restarts_fallback, c.restarts_initial
    );
    println!(
        "  blocks              {} acquired, {} released",
        c.acquires, c.releases
    );
    for kind in FaultKind::ALL {
        let f = c.faults[kind.index()];
        if f.injected > 0 {
            println!(
                "  {:<20}{} injected, {} detected, {} abandoned, {} pending",
                format!("{} faults", kind.name()),
                f.injected,
                f.detected,
                f.abandoned,
                f.injected - f.detected - f.abandoned
            );
        }
    }
}

pub(super) fn summary_json(s: &Summary, seconds: f64) -> String {
    format!(
        "{{\"seed\":{},\"ok\":true,\"blocks\":{},\"ops\":{},{},\
         \"peak_fragmentation\":{:.6},\"peak_free_outside_largest\":{:.6},\
         \"peak_occupancy\":{:.6},\"workload\":\"{}\",\"immediate_reuse\":{},\
         \"peak_held\":{},\"peak_live\":{},\"space_amplification\":{:.6},\
         \"seconds\":{seconds:.3},\"ops_per_second\":{:.0},\"digest\":\"{:016x}\"}}",
        s.seed,
        s.blocks,
        s.ops,
        s.counts.json_fields(),
        s.peak_fragmentation,
        s.peak_free_outside_largest,
        s.peak_occupancy,
        s.workload.name(),
        s.immediate_reuse,
        s.peak_held,
        s.peak_live,
        s.space_amplification(),
        ops_per_second(s, seconds),
        s.digest
    )
}

pub(super) fn violation_json(v: &Violation) -> String {
    format!(
        "{{\"seed\":{},\"ok\":false,\"step\":{},\"message\":\"{}\"}}",
        v.seed,
        v.step,
        json_escape(&v.message)
    )
}

fn ops_per_second(s: &Summary, seconds: f64) -> f64 {
    s.ops as f64 / seconds.max(1e-9)
}

pub(super) fn json_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// The command that replays a violation: the same flags, one seed, and just
/// enough operations to reach the step that failed.
pub(super) fn replay_command(config: &Config, variant: Variant, step: u64) -> String {
    let mut command = format!(
        "freeset simulate --seed {} --blocks {} --ops {} --checkpoint-every {} \
         --crash-rate {} --chunk-bytes {}",
        config.seed,
        config.blocks,
        step + 1,
        config.checkpoint_every,
        config.crash_rate,
        config.chunk_bytes,
    );
    let rates = config.faults;
    if rates.any() {
        command += &format!(
            " --faults --lost-rate {} --misdirected-rate {} --flip-rate {} --torn-rate {}",
            rates.lost, rates.misdirected, rates.flip, rates.torn
        );
    }
    if config.immediate_reuse {
        command += " --immediate-reuse";
    }
    if config.workload != Workload::Default {
        command += &format!(" --workload {}", config.workload.name());
    }
    if let Some(name) = variant.broken_name() {
        command += &format!(" --broken={name}");
    }
    command
}
