//! `freeset inspect` as a person runs it: the built binary on files written
//! by the library, by `simulate --save`, and on bad input, where it must say
//! in one line which file and which byte offset is wrong, exit 1, and never
//! panic.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use freeset::FreeSet;

fn freeset(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_freeset"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// A fresh directory of its own for each test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "freeset-inspect-test-{}-{name}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A set of 3 shards with some blocks acquired and some released, encoded.
fn encoded() -> (Vec<u8>, Vec<u8>) {
    let mut set = FreeSet::new(3 * 4096).unwrap();
    let r = set.reserve(5000).unwrap().unwrap();
    while set.acquire(&r).unwrap().is_some() {}
    set.forfeit(&r).unwrap();
    for address in (1..5000).step_by(7) {
        set.release(address).unwrap();
    }
    set.encode().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

/// The one error line of a failed run, checked for exit code 1 and no panic.
fn error_line(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(output.stdout.is_empty(), "nothing half-printed");
    stderr.trim_end().to_string()
}

#[test]
fn valid_files_give_a_summary_and_json() {
    let dir = scratch("valid");
    let (acquired, released) = encoded();
    let a = write(&dir, "a.ewah", &acquired);
    let r = write(&dir, "r.ewah", &released);
    let output = freeset(&["inspect", "--blocks", "12288", &a, &r]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "valid",
        "12,288 blocks (48 MiB at 4 KiB blocks), 3 shards",
        "acquired        5,000 blocks",
        "released        715 blocks",
        "free            7,288 blocks",
        "largest free    7,288 blocks",
        "at address 5,001",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }

    let output = freeset(&["inspect", "--json", "--blocks", "12288", &a, &r]);
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["acquired"], 5000);
    assert_eq!(json["released"], 715);
    assert_eq!(json["free_extents"], 1);
    assert_eq!(json["fragmentation"], 0.0);
    assert_eq!(json["largest_free_extent"]["address"], 5001);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn standard_input_reads_as_a_file() {
    let (acquired, _) = encoded();
    let mut child = Command::new(env!("CARGO_BIN_EXE_freeset"))
        .args(["inspect", "--blocks", "12288", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&acquired).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("standard input: valid"), "{text}");
    assert!(text.contains("released        0 blocks"), "{text}");
}

#[test]
fn bad_input_is_one_line_naming_the_file_and_offset() {
    let dir = scratch("bad");
    let (acquired, released) = encoded();
    let r = write(&dir, "r.ewah", &released);

    // Truncated inside a literal run: the marker's offset.
    let truncated = write(&dir, "truncated.ewah", &acquired[..acquired.len() - 8]);
    let line = error_line(&freeset(&["inspect", "--blocks", "12288", &truncated, &r]));
    assert!(line.starts_with("error: "), "{line}");
    assert!(line.contains("truncated.ewah"), "{line}");
    assert!(line.contains("byte offset 0"), "{line}");
    assert!(line.contains("stream ends"), "{line}");

    // Not a whole number of words.
    let ragged = write(&dir, "ragged.ewah", &acquired[..acquired.len() - 3]);
    let line = error_line(&freeset(&["inspect", "--blocks", "12288", &ragged]));
    assert!(
        line.contains("ragged.ewah") && line.contains("byte offset"),
        "{line}"
    );

    // A grid too small for the bits: the marker that passes the capacity.
    let a = write(&dir, "a.ewah", &acquired);
    let big = {
        let mut set = FreeSet::new(5 * 4096).unwrap();
        let r = set.reserve(5 * 4096).unwrap().unwrap();
        while set.acquire(&r).unwrap().is_some() {}
        set.forfeit(&r).unwrap();
        set.encode().unwrap().0
    };
    let big = write(&dir, "big.ewah", &big);
    let line = error_line(&freeset(&["inspect", "--blocks", "4096", &big]));
    assert!(
        line.contains("big.ewah") && line.contains("past the capacity"),
        "{line}"
    );
    assert!(line.contains("byte offset 0"), "{line}");

    // Garbage: a marker that declares more literal words than there are.
    let garbage = write(&dir, "garbage.bin", &[0xff; 24]);
    let line = error_line(&freeset(&["inspect", "--blocks", "12288", &garbage]));
    assert!(
        line.contains("garbage.bin") && line.contains("byte offset"),
        "{line}"
    );

    // Released blocks that are not acquired: the released file is named.
    let line = error_line(&freeset(&["inspect", "--blocks", "12288", &r, &a]));
    assert!(
        line.contains("a.ewah") && line.contains("not acquired"),
        "{line}"
    );

    // A file that is not there, a directory without checkpoint.json, no --blocks.
    let line = error_line(&freeset(&[
        "inspect",
        "--blocks",
        "12288",
        dir.join("missing").to_str().unwrap(),
    ]));
    assert!(line.contains("missing"), "{line}");
    let line = error_line(&freeset(&["inspect", dir.to_str().unwrap()]));
    assert!(line.contains("checkpoint.json"), "{line}");
    let line = error_line(&freeset(&["inspect", &a]));
    assert!(line.contains("--blocks"), "{line}");
    // A picture with an unknown extension.
    let line = error_line(&freeset(&[
        "inspect", "--blocks", "12288", &a, "--map", "map.jpg",
    ]));
    assert!(
        line.contains("map.jpg") && line.contains(".svg or .png"),
        "{line}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn simulate_save_then_inspect_and_draw() {
    let dir = scratch("simulate");
    let saved = dir.join("checkpoint");
    let plot = dir.join("plot.svg");
    let output = freeset(&[
        "simulate",
        "--blocks",
        "20000",
        "--ops",
        "20000",
        "--checkpoint-every",
        "64",
        "--seed",
        "5",
        "--save",
        saved.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    for file in ["acquired.ewah", "released.ewah", "checkpoint.json"] {
        assert!(saved.join(file).exists(), "{file}");
    }
    let svg = fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("fragmentation score"));

    let map = dir.join("map.svg");
    let output = freeset(&[
        "inspect",
        saved.to_str().unwrap(),
        "--map",
        map.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("20,000 blocks"), "{text}");
    assert!(text.contains("of them the trailer"), "{text}");
    let svg = fs::read_to_string(&map).unwrap();
    assert!(svg.contains("shard acquired") && svg.contains("first block of the row"));

    // A checkpoint.json that is not JSON: the file and where.
    fs::write(saved.join("checkpoint.json"), "{ nope").unwrap();
    let line = error_line(&freeset(&["inspect", saved.to_str().unwrap()]));
    assert!(
        line.contains("checkpoint.json") && line.contains("line 1"),
        "{line}"
    );

    // --save and --plot take one seed.
    let output = freeset(&[
        "simulate",
        "--seeds",
        "2",
        "--ops",
        "100",
        "--save",
        saved.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    fs::remove_dir_all(&dir).unwrap();
}
