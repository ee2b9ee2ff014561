//! Every vendored conformance trace (`tests/conformance/*.trace`, copied from the
//! reference recordings) replays line for line.

use std::path::Path;

#[test]
fn every_vendored_trace_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/conformance exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "trace"))
        .collect();
    files.sort();
    // The 32 vendored ones at least: traces dropped in beside them replay
    // too.
    assert!(files.len() >= 32, "the 32 vendored traces are present");
    for name in [
        "00-blocks1-seed101",
        "29-blocks262144-seed130",
        "misuse-basic",
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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let text = std::fs::read_to_string(dir.join("misuse-basic.trace")).expect("readable trace");
    let broken = text.replacen("reserve 4 => r0 0 4", "reserve 4 => r0 0 5", 1);
    assert_ne!(text, broken);
    let problems = freeset_cli::trace::check(&broken);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].message, "expected r0 0 5, got r0 0 4");
}
