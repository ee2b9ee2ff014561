//! `freeset replay`: runs conformance trace files and reports mismatches.

use std::path::PathBuf;
use std::process::ExitCode;

use freeset_cli::trace;

/// Replays `files`; with `check`, compares every line and prints a summary.
pub fn replay(check: bool, files: &[PathBuf]) -> ExitCode {
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
