//! `examples/engine.rs` as a test: the engine's checkpoint cycle on real
//! files (create, acquire in turn, release, checkpoint through the API,
//! superblock with a checksum, restart, compare) must run to the end.

#[path = "../examples/engine.rs"]
#[allow(dead_code)] // its `main` is the example's
mod engine;

#[test]
fn the_engine_example_runs_its_cycle() {
    let dir = std::env::temp_dir().join(format!(
        "freeset-engine-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let result = engine::run(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    let report = result.unwrap();
    assert!(
        report.contains("equal to the checkpoint's state"),
        "{report}"
    );
}
