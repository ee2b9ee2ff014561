//! The command line of `freeset simulate`: its flags, the checks clap
//! cannot make, and the run over seeds (progress bar, summaries, exit
//! code).
//!
//! What must never happen here: a panic on user input (bad flags are clap
//! errors or a clear message, exit code 2), or a run started before every
//! flag was checked.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use freeset_cli::size;
use indicatif::{ProgressBar, ProgressStyle};

use super::config::{check_chunk_bytes, Config, FaultRates, Variant, Workload, PLOT_POINTS_MAX};
use super::coverage::{self, Empty};
use super::engine::simulate_recorded;
use super::report::{
    json_escape, print_counts, print_summary, replay_command, summary_json, violation_json, Counts,
    Summary,
};
use super::save::{save_and_plot, Record};
use crate::exit::{self, Failure};

const DEFAULT_BLOCKS: &str = "256MiB/4KiB";
const DEFAULT_OPS: u64 = 5_000_000;

/// Options of `freeset simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seed of the run; the same seed and flags replay the same run exactly.
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Run this many seeds: seed, seed+1, ... (for CI).
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) seeds: u64,
    /// Blocks of the grid (at most 2^32): a count such as 65536 or 64K, or
    /// TOTAL/BLOCK sizes such as 16TiB/512KiB (units K, M, G, T, all binary,
    /// any case: 4KB is 4KiB; a size without a unit is bytes).
    #[arg(long, default_value = DEFAULT_BLOCKS, value_parser = size::parse_blocks)]
    pub(super) blocks: u64,
    /// Operations per seed.
    #[arg(long, default_value_t = DEFAULT_OPS)]
    pub(super) ops: u64,
    /// Operations between two checkpoints (at least 2: checkpoints forfeit
    /// every reservation, and a job needs one operation to reserve and one to
    /// acquire).
    #[arg(long, default_value_t = 256, value_name = "K",
          value_parser = clap::value_parser!(u64).range(2..))]
    pub(super) checkpoint_every: u64,
    /// Probability that the engine crashes at an operation, in [0, 1].
    #[arg(long, default_value_t = 0.0002, value_name = "P", value_parser = parse_rate)]
    pub(super) crash_rate: f64,
    /// Bytes of a grid block that hold encoding: the chunk size of the
    /// checkpoint trailer, a multiple of 8 from 8 to 64MiB (4096, 4K, 4KiB).
    #[arg(long, default_value = "4KiB", value_name = "BYTES", value_parser = parse_chunk_bytes)]
    pub(super) chunk_bytes: usize,
    /// One JSON object per seed instead of the text summary.
    #[arg(long)]
    pub(super) json: bool,
    /// Inject storage faults into the checkpoint's writes: lost writes,
    /// misdirected writes, bit flips (each at 0.01 per write unless set
    /// below) and torn writes (at 0.25 per crash while a checkpoint's writes
    /// are in flight). The engine checksums and verifies what it writes, and
    /// every fault its checksums can catch must be caught.
    #[arg(long)]
    pub(super) faults: bool,
    /// The lost, misdirected and flip rates at once, per write (they add up
    /// to at most 0.5).
    #[arg(long, value_name = "P", value_parser = parse_rate, requires = "faults")]
    pub(super) fault_rate: Option<f64>,
    /// Odds that a checkpoint write is lost (reports success, writes nothing).
    #[arg(long, value_name = "P", value_parser = parse_rate, requires = "faults")]
    pub(super) lost_rate: Option<f64>,
    /// Odds that a trailer block's write lands on another, unreferenced block.
    #[arg(long, value_name = "P", value_parser = parse_rate, requires = "faults")]
    pub(super) misdirected_rate: Option<f64>,
    /// Odds that a checkpoint write stores one bit flipped.
    #[arg(long, value_name = "P", value_parser = parse_rate, requires = "faults")]
    pub(super) flip_rate: Option<f64>,
    /// Odds that a crash while a checkpoint's writes are in flight tears
    /// them: a prefix reached the disk, the last one half.
    #[arg(long, value_name = "P", value_parser = parse_rate, requires = "faults")]
    pub(super) torn_rate: Option<f64>,
    /// Pass a run that left counts at zero which its settings could make
    /// non-zero (checkpoints, restarts of each kind, faults of each kind
    /// injected and detected...): all of them, or those named, separated by
    /// commas (--allow-empty=restarts_initial,faults.torn.detected).
    #[arg(long, value_name = "COUNTS", num_args = 0..=1, require_equals = true,
          default_missing_value = "all", value_parser = parse_allowed)]
    pub(super) allow_empty: Option<Allowed>,
    /// Make the set with immediate reuse (`freeset::Options`): a block
    /// acquired since the last checkpoint and released before the next is
    /// free at once. The model checks that no checkpoint a restart could use
    /// references a block freed at once or written again.
    #[arg(long, conflicts_with = "compare_reuse")]
    pub(super) immediate_reuse: bool,
    /// Run every seed twice, without immediate reuse and then with it, to
    /// compare the space each needs (the same work: the engine steers by
    /// its live blocks, not by what the set holds).
    #[arg(long, conflicts_with = "save")]
    pub(super) compare_reuse: bool,
    /// What the jobs write: default (blocks that become live) or
    /// compaction (half the jobs write up to 64 blocks of scratch output,
    /// released within the checkpoint interval they were written in).
    #[arg(long, default_value = "default", value_name = "NAME", value_parser = parse_workload)]
    pub(super) workload: Workload,
    /// Simulate a broken engine, to see a violation reported:
    /// free-before-durable (the default), skip-checksum or reuse-referenced.
    #[arg(long, hide = true, value_name = "ENGINE", num_args = 0..=1, require_equals = true,
          default_missing_value = "free-before-durable", value_parser = parse_broken)]
    pub(super) broken: Option<Variant>,
    /// Write the last durable checkpoint into DIR at the end (acquired.ewah,
    /// released.ewah and checkpoint.json), for `freeset inspect DIR`. One
    /// seed only.
    #[arg(long, value_name = "DIR")]
    pub(super) save: Option<PathBuf>,
    /// Draw free blocks, the largest free extent and the fragmentation score
    /// at every checkpoint into FILE (.svg or .png), and below them the
    /// blocks held and live (both modes' with --compare-reuse). One seed
    /// only, and at most 2^20 checkpoints (--ops / --checkpoint-every).
    #[arg(long, value_name = "FILE")]
    pub(super) plot: Option<PathBuf>,
}

/// The flags' combinations that clap cannot check: a usage error, before
/// anything runs.
pub(super) fn check_args(args: &Args, config: &Config) -> Result<u64, String> {
    let last_seed = args.seed.checked_add(args.seeds - 1).ok_or_else(|| {
        format!(
            "--seed {} --seeds {} runs past the last seed",
            args.seed, args.seeds
        )
    })?;
    config.validate()?;
    if args.seeds > 1 && (args.save.is_some() || args.plot.is_some()) {
        return Err(format!(
            "--save and --plot take one seed, not --seeds {}",
            args.seeds
        ));
    }
    if let Some(path) = &args.plot {
        crate::draw::check_path(path)?;
        if args.ops / args.checkpoint_every > PLOT_POINTS_MAX {
            return Err(format!(
                "--plot draws at most {PLOT_POINTS_MAX} checkpoints, and --ops {} \
                 --checkpoint-every {} writes up to {}: raise --checkpoint-every",
                args.ops,
                args.checkpoint_every,
                args.ops / args.checkpoint_every
            ));
        }
    }
    if let Some(dir) = args
        .save
        .as_ref()
        .filter(|dir| dir.exists() && !dir.is_dir())
    {
        return Err(format!("--save {}: not a directory", dir.display()));
    }
    Ok(last_seed)
}

/// Runs `freeset simulate`: exit code 0 when every seed passes and the run
/// covered what its settings ask for, 1 on a violation or a count left at
/// zero, 2 on a bad configuration or a file that cannot be written.
pub fn run(args: &Args) -> ExitCode {
    let variant = args.broken.unwrap_or(Variant::Correct);
    let mut config = config_of(args);
    let last_seed = match check_args(args, &config) {
        Ok(last_seed) => last_seed,
        Err(message) => return Failure::Usage(message).report(),
    };
    let modes = modes(args);
    let progress = progress_bar(args, modes.len() as u64);
    let mut failed = 0u64;
    let mut unwritten = false;
    let mut totals = Counts::default();
    let mut space = [Space::default(), Space::default()];
    let mut index = 0u64;
    for seed in args.seed..=last_seed {
        config.seed = seed;
        let mut runs = Vec::new();
        for &immediate_reuse in &modes {
            config.immediate_reuse = immediate_reuse;
            progress.set_message(format!("seed {seed}"));
            let base = index.saturating_mul(args.ops);
            index += 1;
            let (summary, record) = run_seed(args, &config, variant, &progress, base);
            if let Some(summary) = &summary {
                totals.add(&summary.counts);
                space[usize::from(immediate_reuse)].add(summary);
            }
            runs.push((summary, record));
        }
        if runs.iter().any(|(summary, _)| summary.is_none()) {
            failed += 1;
            continue;
        }
        let runs: Vec<(Summary, Record)> = runs
            .into_iter()
            .filter_map(|(summary, record)| summary.map(|s| (s, record)))
            .collect();
        let (save, plot) = (args.save.as_deref(), args.plot.as_deref());
        if let Err(message) = progress.suspend(|| save_and_plot(save, plot, &config, &runs)) {
            progress.suspend(|| Failure::Usage(message).report());
            unwritten = true;
        }
    }
    progress.finish_and_clear();
    let uncovered = report_run(args, &config, &totals, &space, failed, last_seed);
    exit::worst(unwritten, failed > 0 || uncovered)
}

/// The modes each seed runs in: whether the set reuses blocks at once.
fn modes(args: &Args) -> Vec<bool> {
    if args.compare_reuse {
        vec![false, true]
    } else {
        vec![args.immediate_reuse]
    }
}

/// The space amplification of the seeds that passed in one mode.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Space {
    seeds: u64,
    sum: f64,
    max: f64,
}

impl Space {
    fn add(&mut self, summary: &Summary) {
        let ratio = summary.space_amplification();
        self.seeds += 1;
        self.sum += ratio;
        self.max = self.max.max(ratio);
    }

    fn mean(&self) -> f64 {
        self.sum / self.seeds.max(1) as f64
    }
}

/// The modes' names in the run's report, by `immediate_reuse`.
const MODE_NAMES: [&str; 2] = ["release_at_durable", "immediate_reuse"];

/// Prints the run's totals and whether it covered what its settings ask
/// for (`coverage.rs`); returns whether it failed for that.
fn report_run(
    args: &Args,
    config: &Config,
    totals: &Counts,
    space: &[Space; 2],
    failed: u64,
    last_seed: u64,
) -> bool {
    let allowed = args.allow_empty.as_ref().map_or(&[][..], |a| &a.0[..]);
    // A run with a violation failed already; what its other seeds covered
    // says nothing more.
    let empty = if failed == 0 {
        coverage::empty(totals, config)
    } else {
        Vec::new()
    };
    let (accepted, refused): (Vec<&Empty>, Vec<&Empty>) =
        empty.iter().partition(|e| allowed.contains(&e.name));
    if args.json {
        print_run_json(args, config, totals, space, failed, &refused, &accepted);
    } else {
        print_run_text(args, totals, space, failed, last_seed, &refused, &accepted);
    }
    for e in &refused {
        eprintln!(
            "error: the run left {} at zero, so it tested less than its settings ask for \
             ({}; or pass --allow-empty={})",
            e.name, e.why, e.name
        );
    }
    !refused.is_empty()
}

/// The run's summary as one JSON object (`--json`).
fn print_run_json(
    args: &Args,
    config: &Config,
    totals: &Counts,
    space: &[Space; 2],
    failed: u64,
    refused: &[&Empty],
    accepted: &[&Empty],
) {
    let names = |list: &[&Empty]| -> Vec<String> {
        list.iter()
            .map(|e| format!("\"{}\"", json_escape(&e.name)))
            .collect()
    };
    let amplification: Vec<String> = (0..2)
        .filter(|&mode| space[mode].seeds > 0)
        .map(|mode| {
            format!(
                "\"{}\":{{\"seeds\":{},\"mean\":{:.6},\"max\":{:.6}}}",
                MODE_NAMES[mode],
                space[mode].seeds,
                space[mode].mean(),
                space[mode].max
            )
        })
        .collect();
    println!(
        "{{\"run\":{{\"first_seed\":{},\"seeds\":{},\"passed\":{},\"failed\":{},\
         \"workload\":\"{}\"}},\"totals\":{{{}}},\"space_amplification\":{{{}}},\
         \"empty\":[{}],\"allowed_empty\":[{}],\"ok\":{}}}",
        args.seed,
        args.seeds,
        args.seeds - failed,
        failed,
        config.workload.name(),
        totals.json_fields(),
        amplification.join(","),
        names(refused).join(","),
        names(accepted).join(","),
        failed == 0 && refused.is_empty()
    );
}

/// The run's summary as text: the totals over seeds, the space
/// amplification, and what the coverage rule found.
fn print_run_text(
    args: &Args,
    totals: &Counts,
    space: &[Space; 2],
    failed: u64,
    last_seed: u64,
    refused: &[&Empty],
    accepted: &[&Empty],
) {
    if args.seeds > 1 {
        println!(
            "{} of {} seeds passed ({}..={last_seed}); in all:",
            args.seeds - failed,
            args.seeds,
            args.seed
        );
        print_counts(totals);
    }
    if args.seeds > 1 || args.compare_reuse {
        for mode in (0..2).filter(|&mode| space[mode].seeds > 0) {
            println!(
                "space amplification, {}: {:.3} mean, {:.3} max over {} seed(s)",
                MODE_NAMES[mode].replace('_', " "),
                space[mode].mean(),
                space[mode].max,
                space[mode].seeds
            );
        }
    }
    let empty = refused.is_empty() && accepted.is_empty();
    match (empty, refused.is_empty()) {
        _ if failed > 0 => {}
        (true, _) => println!("coverage: every count these settings can make is non-zero"),
        (false, true) => println!(
            "coverage: zero but allowed by --allow-empty: {}",
            accepted
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (false, false) => {}
    }
}

/// The configuration of the first seed.
fn config_of(args: &Args) -> Config {
    let mut faults = FaultRates::default();
    if args.faults {
        faults = FaultRates::DEFAULT;
        if let Some(rate) = args.fault_rate {
            (faults.lost, faults.misdirected, faults.flip) = (rate, rate, rate);
        }
        faults.lost = args.lost_rate.unwrap_or(faults.lost);
        faults.misdirected = args.misdirected_rate.unwrap_or(faults.misdirected);
        faults.flip = args.flip_rate.unwrap_or(faults.flip);
        faults.torn = args.torn_rate.unwrap_or(faults.torn);
    }
    Config {
        seed: args.seed,
        blocks: args.blocks,
        ops: args.ops,
        checkpoint_every: args.checkpoint_every,
        crash_rate: args.crash_rate,
        chunk_bytes: args.chunk_bytes,
        faults,
        immediate_reuse: args.immediate_reuse,
        workload: args.workload,
    }
}

/// A progress bar over every seed's operations, on stderr when it is a
/// terminal and the output is not JSON.
fn progress_bar(args: &Args, modes: u64) -> ProgressBar {
    let progress = if args.json || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.ops.saturating_mul(args.seeds).saturating_mul(modes))
    };
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {percent}% {msg}")
            .expect("a valid template"),
    );
    progress
}

/// Runs one seed in one mode and prints what it did; returns its summary if
/// it passed, and what it kept for `--save` and `--plot`.
fn run_seed(
    args: &Args,
    config: &Config,
    variant: Variant,
    progress: &ProgressBar,
    base: u64,
) -> (Option<Summary>, Record) {
    let started = Instant::now();
    let mut record = Record {
        sample: args.plot.is_some(),
        keep_durable: args.save.is_some(),
        ..Record::default()
    };
    let result = simulate_recorded(
        config,
        variant,
        |done| progress.set_position(base.saturating_add(done)),
        &mut record,
    );
    let seconds = started.elapsed().as_secs_f64();
    progress.suspend(|| match &result {
        Ok(summary) if args.json => println!("{}", summary_json(summary, seconds)),
        Ok(summary) => print_summary(summary, seconds),
        Err(violation) => {
            if args.json {
                println!("{}", violation_json(violation));
            }
            eprintln!("{violation}");
            eprintln!(
                "replay with: {}",
                replay_command(config, variant, violation.step)
            );
        }
    });
    (result.ok(), record)
}

// ---- flags -------------------------------------------------------------------

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("{rate} is not a probability in [0, 1]"));
    }
    Ok(rate)
}

/// `--chunk-bytes`: a size (`crate::size`) that [`check_chunk_bytes`] takes.
fn parse_chunk_bytes(text: &str) -> Result<usize, String> {
    let bytes = size::parse_size(text).map_err(|e| e.to_string())?;
    let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    check_chunk_bytes(bytes)?;
    Ok(bytes)
}

/// `--allow-empty`'s counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Allowed(pub(super) Vec<String>);

fn parse_allowed(text: &str) -> Result<Allowed, String> {
    coverage::parse_allowed(text).map(Allowed)
}

/// `--broken`'s engine.
fn parse_broken(text: &str) -> Result<Variant, String> {
    let broken = [
        Variant::FreeBeforeDurable,
        Variant::SkipChecksum,
        Variant::ReuseReferenced,
    ];
    broken
        .into_iter()
        .find(|v| v.broken_name() == Some(text))
        .ok_or_else(|| {
            format!(
                "'{text}' is no broken engine: free-before-durable, skip-checksum or \
                 reuse-referenced"
            )
        })
}

/// `--workload`'s name.
fn parse_workload(text: &str) -> Result<Workload, String> {
    [Workload::Default, Workload::Compaction]
        .into_iter()
        .find(|w| w.name() == text)
        .ok_or_else(|| format!("'{text}' is no workload: default or compaction"))
}
