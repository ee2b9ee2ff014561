//! Every vendored conformance trace (`tests/conformance/*.trace` at the
//! repository root, copied from the reference recordings) replays line for
//! line, on the sequential codec and on the parallel paths. The trace format
//! is `docs/trace-format.md`.
//!
//! These tests live with the command line because the replayer does
//! (`freeset_cli::trace`); the library's own tests never build it.

use std::path::{Path, PathBuf};

use freeset::Parallelism;

/// The vendored traces, sorted.
fn traces() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/conformance exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "trace"))
        .collect();
    files.sort();
    files
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a pool")
}

#[test]
fn every_vendored_trace_replays() {
    let files = traces();
    // The 32 vendored ones at least: traces dropped in beside them replay
    // too.
    assert!(files.len() >= 32, "the 32 vendored traces are present");
    for name in [
        "00-blocks1-seed101",
        "29-blocks262144-seed130",
        "misuse-basic",
        "extents",
    ] {
        assert!(
            files.iter().any(|f| f.ends_with(format!("{name}.trace"))),
            "{name}.trace is vendored"
        );
    }
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable trace");
        for problem in freeset_cli::trace::check(&text) {
            failures.push(format!(
                "{}:{}: {}",
                file.display(),
                problem.line,
                problem.message
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_wrong_expectation_is_caught() {
    // The replayer must be able to fail: flip one recorded result.
    let file = traces()
        .into_iter()
        .find(|f| f.ends_with("misuse-basic.trace"))
        .expect("misuse-basic.trace is vendored");
    let text = std::fs::read_to_string(file).expect("readable trace");
    let broken = text.replacen("reserve 4 => r0 0 4", "reserve 4 => r0 0 5", 1);
    assert_ne!(text, broken);
    let problems = freeset_cli::trace::check(&broken);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].message, "expected r0 0 5, got r0 0 4");
}

/// Every call asks for the parallel code from one word on
/// (`Parallelism::current_pool().min_words(1)`), so that even the small sets
/// of the traces take the parallel paths of `encode` and `open`; the traces
/// must still replay line for line. The pools have 2 and 3 threads, so the
/// parallel code runs with more than one thread even on a one-core machine.
#[test]
fn conformance_traces_replay_on_the_parallel_paths() {
    let files = traces();
    assert!(!files.is_empty());
    for threads in [2, 3] {
        pool(threads).install(|| {
            for file in &files {
                let text = std::fs::read_to_string(file).expect("readable trace");
                let everywhere = Parallelism::current_pool().min_words(1);
                let problems = freeset_cli::trace::check_with(&text, everywhere);
                assert!(
                    problems.is_empty(),
                    "{} with {threads} threads: {:?}",
                    file.display(),
                    problems
                        .iter()
                        .map(|p| (p.line, &p.message))
                        .collect::<Vec<_>>()
                );
            }
        });
    }
}
