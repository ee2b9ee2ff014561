//! The `freeset` command: `replay` runs conformance traces.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use freeset::trace;

#[derive(Parser)]
#[command(
    name = "freeset",
    version,
    about = "Block allocator free set: trace replay and tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay conformance traces (SPEC section 4).
    Replay {
        /// Compare with the recorded results and print `FILE:LINE: expected X, got Y`
        /// per mismatch and `N passed, M failed` at the end.
        #[arg(long)]
        check: bool,
        /// Trace files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Replay { check, files } => replay(check, &files),
    }
}

fn replay(check: bool, files: &[PathBuf]) -> ExitCode {
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in files {
        let name = file.display();
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("{name}: cannot read: {e}");
                failed += 1;
                continue;
            }
        };
        let problems: Vec<trace::Problem> = if check {
            trace::check(&text)
        } else {
            trace::replay(&text)
                .into_iter()
                .filter_map(|line| match line {
                    Ok(line) => {
                        println!("{line}");
                        None
                    }
                    Err(problem) => Some(problem),
                })
                .collect()
        };
        for problem in &problems {
            let out = format!("{name}:{}: {}", problem.line, problem.message);
            if check {
                println!("{out}");
            } else {
                eprintln!("{out}");
            }
        }
        if problems.is_empty() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    if check {
        println!("{passed} passed, {failed} failed");
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
