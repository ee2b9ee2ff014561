//! The `freeset` command: `bench` runs the standard workloads, `replay` runs
//! conformance traces, `simulate` runs the crash-and-restart simulator,
//! `inspect` reads and draws a checkpoint's bitsets. docs/cli.md is its
//! manual; `crate::exit` its exit codes, the same for every command.
//!
//! What lives here: the flags common to every command (`--kernels`), and
//! the dispatch. What must never happen here: a command that runs before the
//! kernel tier asked for is in place.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use freeset::kernels::Tier;

mod bench;
mod draw;
mod exit;
mod input;
mod inspect;
mod replay;
mod simulate;

#[derive(Parser)]
#[command(
    name = "freeset",
    version,
    about = "Block allocator free set: benchmarks, trace replay, simulation and inspection",
    after_help = exit::AFTER_HELP
)]
struct Cli {
    /// Force a kernel tier: scalar, wide, avx2 or avx512 (a tier this CPU
    /// cannot run falls back to the next one down, with a note). Wins over
    /// the FREESET_KERNELS environment variable.
    #[arg(long, global = true, value_name = "TIER", value_parser = parse_tier)]
    kernels: Option<Tier>,
    #[command(subcommand)]
    command: Command,
}

/// A tier's name, in any case.
fn parse_tier(text: &str) -> Result<Tier, String> {
    text.parse()
        .map_err(|e: freeset::kernels::UnknownTier| e.to_string())
}

#[derive(Subcommand)]
enum Command {
    /// Run the standard workloads (docs/workloads.md) and print a table of figures.
    #[command(after_help = exit::AFTER_HELP)]
    Bench(bench::Args),
    /// Replay conformance traces (docs/trace-format.md).
    #[command(after_help = exit::AFTER_HELP)]
    Replay {
        /// Compare with the recorded results and print `FILE:LINE: expected X, got Y`
        /// per mismatch and `N passed, M failed` at the end.
        #[arg(long)]
        check: bool,
        /// Trace files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run a seeded crash-and-restart simulation of an engine that allocates
    /// through the free set, checked against a model after every operation.
    #[command(after_help = exit::AFTER_HELP)]
    Simulate(simulate::Args),
    /// Check a checkpoint's encoded bitsets (files, or a directory written
    /// by `simulate --save`) and show its free space: a summary, JSON, or a
    /// map of the shards.
    #[command(after_help = exit::AFTER_HELP)]
    Inspect(inspect::Args),
}

fn main() -> ExitCode {
    // Bad flags: clap prints the error and exits with 2 (`exit::USAGE`).
    let cli = Cli::parse();
    if let Err(e) = freeset_cli::force_kernels(cli.kernels) {
        return exit::Failure::Usage(format!("{}: {e}", freeset_cli::KERNELS_VAR)).report();
    }
    match cli.command {
        Command::Bench(args) => bench::run(&args),
        Command::Replay { check, files } => replay::replay(check, &files),
        Command::Simulate(args) => simulate::run(&args),
        Command::Inspect(args) => inspect::run(&args),
    }
}
