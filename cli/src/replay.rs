//! `freeset replay`: runs conformance trace files and reports mismatches.
//!
//! A trace is read line by line (`freeset_cli::trace::read_lines`), each
//! line bounded by `trace::LINE_BYTES_MAX`: a file with a longer line (or
//! `/dev/zero`, which has no newline) is a failed trace, never a process
//! that buffers until the kernel kills it. Exit codes as `crate::exit` says:
//! 0 every trace passed, 1 a mismatch or a line that cannot be read, 2 a
//! file that cannot be opened or read (the other files are still replayed).

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use freeset_cli::trace;

use crate::exit;

/// Replays `files`; with `check`, compares every line and prints a summary.
pub fn replay(check: bool, files: &[PathBuf]) -> ExitCode {
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut unreadable = false;
    for file in files {
        let name = file.display();
        let result = File::open(file)
            .map_err(|e| format!("cannot open: {e}"))
            .and_then(|opened| {
                let reader = BufReader::with_capacity(1 << 16, opened);
                if check {
                    trace::check_reader(reader, trace::LINE_BYTES_MAX)
                } else {
                    let mut problems = Vec::new();
                    trace::replay_reader(reader, trace::LINE_BYTES_MAX, |line| match line {
                        Ok(line) => println!("{line}"),
                        Err(problem) => problems.push(problem),
                    })
                    .map(|()| problems)
                }
                .map_err(|e| format!("cannot read: {e}"))
            });
        let problems = match result {
            Ok(problems) => problems,
            Err(message) => {
                eprintln!("error: {name}: {message}");
                unreadable = true;
                failed += 1;
                continue;
            }
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
    exit::worst(unreadable, failed > 0)
}
