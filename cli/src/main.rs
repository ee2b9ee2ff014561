//! The `freeset` command: `bench` runs the standard workloads, `replay` runs
//! conformance traces, `simulate` runs the crash-and-restart simulator,
//! `inspect` reads and draws a checkpoint's bitsets.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod draw;
mod inspect;
mod replay;
mod simulate;

#[derive(Parser)]
#[command(
    name = "freeset",
    version,
    about = "Block allocator free set: benchmarks, trace replay, simulation and inspection"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the standard workloads (docs/workloads.md) and print a table of figures.
    Bench(bench::Args),
    /// Replay conformance traces (docs/trace-format.md).
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
    Simulate(simulate::Args),
    /// Check a checkpoint's encoded bitsets (files, or a directory written
    /// by `simulate --save`) and show its free space: a summary, JSON, or a
    /// map of the shards.
    Inspect(inspect::Args),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Bench(args) => bench::run(&args),
        Command::Replay { check, files } => replay::replay(check, &files),
        Command::Simulate(args) => simulate::run(&args),
        Command::Inspect(args) => inspect::run(&args),
    }
}
