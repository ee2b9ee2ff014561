//! The test crate's own bookkeeping: `autotests` is off (the files are not
//! under a `tests/` folder of this crate), so a new test file runs only once
//! `Cargo.toml` names it. This test fails until it does.

use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn every_test_file_is_a_target() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(here.join("Cargo.toml")).unwrap();
    let named: BTreeSet<String> = manifest
        .lines()
        .filter_map(|line| line.trim().strip_prefix("path = \""))
        .filter_map(|rest| rest.strip_suffix("\""))
        .map(str::to_owned)
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(here)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".rs"))
        .collect();
    let missing: Vec<_> = files.difference(&named).collect();
    assert!(
        missing.is_empty(),
        "test files without a [[test]] entry in tests/Cargo.toml: {missing:?}"
    );
}
