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

use super::config::{check_chunk_bytes, Config, Variant, PLOT_POINTS_MAX};
use super::engine::simulate_recorded;
use super::report::{print_summary, replay_command, summary_json, violation_json};
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
    /// Simulate the broken engine (`Variant::FreeBeforeDurable`), to see a
    /// violation reported.
    #[arg(long, hide = true)]
    pub(super) broken: bool,
    /// Write the last durable checkpoint into DIR at the end (acquired.ewah,
    /// released.ewah and checkpoint.json), for `freeset inspect DIR`. One
    /// seed only.
    #[arg(long, value_name = "DIR")]
    pub(super) save: Option<PathBuf>,
    /// Draw free blocks, the largest free extent and the fragmentation score
    /// at every checkpoint into FILE (.svg or .png). One seed only, and at
    /// most 2^20 checkpoints (--ops / --checkpoint-every).
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

/// Runs `freeset simulate`: exit code 0 when every seed passes, 1 on a
/// violation, 2 on a bad configuration or a file that cannot be written.
pub fn run(args: &Args) -> ExitCode {
    let variant = if args.broken {
        Variant::FreeBeforeDurable
    } else {
        Variant::Correct
    };
    let mut config = config_of(args);
    let last_seed = match check_args(args, &config) {
        Ok(last_seed) => last_seed,
        Err(message) => return Failure::Usage(message).report(),
    };
    let progress = progress_bar(args);
    let mut failed = 0u64;
    let mut unwritten = false;
    for (index, seed) in (args.seed..=last_seed).enumerate() {
        config.seed = seed;
        progress.set_message(format!("seed {seed}"));
        let base = (index as u64).saturating_mul(args.ops);
        let (passed, written) = run_seed(args, &config, variant, &progress, base);
        failed += u64::from(!passed);
        unwritten |= !written;
    }
    progress.finish_and_clear();
    if args.seeds > 1 && !args.json {
        println!(
            "{} of {} seeds passed ({}..={last_seed})",
            args.seeds - failed,
            args.seeds,
            args.seed
        );
    }
    exit::worst(unwritten, failed > 0)
}

/// The configuration of the first seed.
fn config_of(args: &Args) -> Config {
    Config {
        seed: args.seed,
        blocks: args.blocks,
        ops: args.ops,
        checkpoint_every: args.checkpoint_every,
        crash_rate: args.crash_rate,
        chunk_bytes: args.chunk_bytes,
    }
}

/// A progress bar over every seed's operations, on stderr when it is a
/// terminal and the output is not JSON.
fn progress_bar(args: &Args) -> ProgressBar {
    let progress = if args.json || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.ops.saturating_mul(args.seeds))
    };
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {percent}% {msg}")
            .expect("a valid template"),
    );
    progress
}

/// Runs one seed and prints what it did; returns whether it passed and
/// whether what `--save` and `--plot` ask for was written.
fn run_seed(
    args: &Args,
    config: &Config,
    variant: Variant,
    progress: &ProgressBar,
    base: u64,
) -> (bool, bool) {
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
    let Ok(summary) = &result else {
        return (false, true);
    };
    let (save, plot) = (args.save.as_deref(), args.plot.as_deref());
    match progress.suspend(|| save_and_plot(save, plot, config, summary, &record)) {
        Ok(()) => (true, true),
        Err(message) => {
            progress.suspend(|| Failure::Usage(message).report());
            (true, false)
        }
    }
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
