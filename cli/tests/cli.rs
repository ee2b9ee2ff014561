//! The `freeset` command as a person runs it, `inspect` first: the built
//! binary on files written by the library, by `simulate --save`, and on bad
//! input, where it must say in one line which file and which byte offset is
//! wrong, exit 1 (contents) or 2 (usage), and never panic. Then every
//! command's exit codes (docs/cli.md), `--kernels`, the bounds on what the
//! commands read (`/dev/zero` included, under a timeout), and the files they
//! name when they write.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use freeset::FreeSet;

fn freeset(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_freeset"))
        .args(args)
        .env_remove("FREESET_KERNELS")
        .output()
        .expect("the binary runs")
}

/// Runs `command` and fails the test if it has not exited within `limit`
/// (killing it): for inputs that must be refused, never read to the end.
fn within(mut command: Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let started = Instant::now();
    while child
        .try_wait()
        .expect("the child can be waited for")
        .is_none()
    {
        if started.elapsed() > limit {
            child.kill().expect("the child can be killed");
            panic!("{command:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the output can be read")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
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

/// The one error line of a failed run, checked for exit code 1 (contents)
/// and no panic.
fn error_line(output: &Output) -> String {
    error_line_coded(output, 1)
}

/// The one error line of a run that failed with exit code `code`.
fn error_line_coded(output: &Output, code: i32) -> String {
    assert_eq!(output.status.code(), Some(code), "{output:?}");
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

    // Usage, exit code 2: a file that is not there, a directory without
    // checkpoint.json, no --blocks, a picture with an unknown extension.
    let line = error_line_coded(
        &freeset(&[
            "inspect",
            "--blocks",
            "12288",
            dir.join("missing").to_str().unwrap(),
        ]),
        2,
    );
    assert!(
        line.contains("missing") && line.contains("cannot open"),
        "{line}"
    );
    let line = error_line_coded(&freeset(&["inspect", dir.to_str().unwrap()]), 2);
    assert!(line.contains("checkpoint.json"), "{line}");
    let line = error_line_coded(&freeset(&["inspect", &a]), 2);
    assert!(line.contains("--blocks"), "{line}");
    let line = error_line_coded(
        &freeset(&["inspect", "--blocks", "12288", &a, "--map", "map.jpg"]),
        2,
    );
    assert!(
        line.contains("map.jpg") && line.contains(".svg or .png"),
        "{line}"
    );
    // A grid too large to allocate, from the flag: usage.
    let line = error_line_coded(&freeset(&["inspect", "--blocks", "16777215T", &a]), 2);
    assert!(
        line.contains("--blocks") && line.contains("too large"),
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
        "--allow-empty",
        "--save",
        saved.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    // Every file written is named on stderr, one line each.
    let wrote: Vec<String> = stderr(&output)
        .lines()
        .filter_map(|l| l.strip_prefix("wrote ").map(String::from))
        .collect();
    let mut expected: Vec<String> = ["acquired.ewah", "released.ewah", "checkpoint.json"]
        .iter()
        .map(|file| saved.join(file).display().to_string())
        .collect();
    expected.push(plot.display().to_string());
    assert_eq!(wrote, expected);
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
    assert_eq!(stderr(&output), format!("wrote {}\n", map.display()));
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

/// The sizes of docs/cli.md on the command line: binary units in any case.
#[test]
fn sizes_take_binary_units_in_any_case() {
    let dir = scratch("sizes");
    let (acquired, released) = encoded();
    let a = write(&dir, "a.ewah", &acquired);
    let r = write(&dir, "r.ewah", &released);
    for (blocks, block_size) in [
        ("12K", "4KB"),
        ("12k", "4k"),
        ("48MiB/4KiB", "4kib"),
        ("48mb/4kb", "4096"),
    ] {
        let output = freeset(&[
            "inspect",
            "--json",
            "--blocks",
            blocks,
            "--block-size",
            block_size,
            &a,
            &r,
        ]);
        assert!(output.status.success(), "{blocks} {block_size}: {output:?}");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            (json["blocks"].as_u64(), json["block_size"].as_u64()),
            (Some(12288), Some(4096))
        );
    }
    for (flag, bad) in [
        ("--blocks", "4KB"),
        ("--blocks", "0"),
        ("--blocks", "1.5"),
        ("--blocks", "99999999999999999999"),
        ("--blocks", "16TiB/3"),
        ("--block-size", "0"),
        ("--block-size", "4XB"),
        ("--block-size", "16777216T"),
    ] {
        let output = freeset(&["inspect", flag, bad, &a]);
        assert_eq!(output.status.code(), Some(2), "{flag} {bad}: {output:?}");
        let text = stderr(&output);
        assert!(text.contains(bad) && !text.contains("panicked"), "{text}");
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// A tiny trace that passes, and the same with one result wrong.
fn traces(dir: &Path) -> (String, String) {
    let good = write(
        dir,
        "good.trace",
        b"new 10\nreserve 2 => r0 0 2\nacquire r0 => 1\n",
    );
    let bad = write(
        dir,
        "bad.trace",
        b"new 10\nreserve 2 => r0 0 2\nacquire r0 => 2\n",
    );
    (good, bad)
}

#[test]
fn replay_exit_codes() {
    let dir = scratch("replay");
    let (good, bad) = traces(&dir);
    let missing = dir.join("missing.trace");
    let missing = missing.to_str().unwrap();

    let output = freeset(&["replay", "--check", &good]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "1 passed, 0 failed\n"
    );

    let output = freeset(&["replay", "--check", &good, &bad]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("bad.trace:3: expected 2, got 1") && text.ends_with("1 passed, 1 failed\n"),
        "{text}"
    );

    // A file that cannot be opened is usage, and wins over a failure; the
    // other files are still replayed.
    let output = freeset(&["replay", "--check", &good, missing, &bad]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).ends_with("1 passed, 2 failed\n"));
    let text = stderr(&output);
    assert!(text.contains("missing.trace: cannot open"), "{text}");
    let output = freeset(&["replay", missing]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    // A directory opens but cannot be read: usage too.
    let output = freeset(&["replay", "--check", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");

    // Without --check: the results on stdout, malformed lines fail.
    let output = freeset(&["replay", &bad]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "new 10\nreserve 2 => r0 0 2\nacquire r0 => 1\n"
    );
    let malformed = write(&dir, "malformed.trace", b"new 10\nfly\n");
    let output = freeset(&["replay", &malformed]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr(&output).contains("malformed.trace:2: malformed line"));

    // Bad flags.
    assert_eq!(freeset(&["replay"]).status.code(), Some(2));
    assert_eq!(freeset(&["replay", "--nope", &good]).status.code(), Some(2));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn simulate_exit_codes() {
    let small = ["simulate"];
    let run = |extra: &[&str]| {
        let mut args = small.to_vec();
        args.extend_from_slice(extra);
        freeset(&args)
    };
    let grid = [
        "--blocks",
        "10000",
        "--chunk-bytes",
        "256",
        "--crash-rate",
        "0.002",
        "--ops",
        "20000",
        "--checkpoint-every",
        "64",
        "--allow-empty=restarts_initial",
    ];
    let output = run(&grid);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    // The broken engine: a violation, exit 1, with the command to replay it.
    let output = run(&[&grid[..], &["--broken"]].concat());
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr(&output).contains("replay with: freeset simulate"),
        "{output:?}"
    );

    let dir = scratch("simulate-codes");
    let file = write(&dir, "a-file", b"");
    // Usage, before anything runs: flag values that would panic or abort
    // in an allocation, bad sizes, bad pictures, a --save that is a file.
    for (bad, says) in [
        (
            &["--chunk-bytes", "18446744073709551608"][..],
            "more than 67108864",
        ),
        (&["--chunk-bytes", "1099511627776"], "more than 67108864"),
        (&["--chunk-bytes", "1TiB"], "more than 67108864"),
        (&["--chunk-bytes", "0"], "is zero"),
        (&["--chunk-bytes", "12"], "multiple of 8"),
        (&["--blocks", "4KB"], "TOTAL/BLOCK"),
        (&["--blocks", "4294967297"], "1 to 4294967296 blocks"),
        (&["--blocks", "16TiB/512"], "1 to 4294967296 blocks"),
        (&["--plot", "timeline.gif"], ".svg or .png"),
        (&["--plot", "/nonexistent/dir/timeline.svg"], "no directory"),
        (
            &[
                "--ops",
                "4000000",
                "--checkpoint-every",
                "2",
                "--plot",
                "t.svg",
            ],
            "--plot draws at most",
        ),
        (&["--save", &file], "not a directory"),
        (
            &["--seed", "18446744073709551615", "--seeds", "2"],
            "past the last seed",
        ),
        (&["--crash-rate", "2"], "probability"),
    ] {
        let started = Instant::now();
        let output = run(bad);
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {output:?}");
        let text = stderr(&output);
        assert!(
            !text.contains("panicked") && text.starts_with("error") && text.contains(says),
            "{bad:?}: {text}"
        );
        // Refused up front, not after a run.
        assert!(started.elapsed() < Duration::from_secs(20), "{bad:?}");
    }
    // The sizes of docs/cli.md are taken.
    let output = run(&[
        "--chunk-bytes",
        "4K",
        "--blocks",
        "40MB/4KB",
        "--ops",
        "20000",
        "--allow-empty",
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("grid                10240 blocks"), "{text}");
    fs::remove_dir_all(&dir).unwrap();
}

/// A run that tested less than its settings ask for fails (exit 1) and
/// says which count is zero and why, unless `--allow-empty` accepts it;
/// crashes no longer starve checkpoints; faults are reported per kind.
#[test]
fn simulate_fails_a_run_that_tested_nothing() {
    // Every operation crashes: no block is ever acquired.
    let output = freeset(&["simulate", "--crash-rate", "1", "--ops", "2000"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stderr(&output);
    assert!(
        text.contains("error: the run left acquires at zero")
            && text.contains("--allow-empty=acquires"),
        "{text}"
    );
    let all = [
        "simulate",
        "--crash-rate",
        "1",
        "--ops",
        "2000",
        "--allow-empty",
    ];
    assert_eq!(freeset(&all).status.code(), Some(0));
    let some = [
        "simulate",
        "--crash-rate",
        "1",
        "--ops",
        "2000",
        "--allow-empty=acquires",
    ];
    let output = freeset(&some);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(!stderr(&output).contains("left acquires at zero"));
    let unknown = ["simulate", "--allow-empty=nope", "--ops", "10"];
    assert_eq!(freeset(&unknown).status.code(), Some(2));
    // A checkpoint every 10,000 operations with a crash every 500 or so:
    // checkpoints are written and reopened all the same.
    let output = freeset(&[
        "simulate",
        "--checkpoint-every",
        "10000",
        "--crash-rate",
        "0.002",
        "--ops",
        "200000",
        "--json",
        "--faults",
        "--fault-rate",
        "0.15",
        "--torn-rate",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "a seed and the run: {stdout}");
    let seed = &lines[0];
    assert!(seed["checkpoints"].as_u64().unwrap() >= 19, "{seed}");
    assert!(seed["restarts_latest"].as_u64().unwrap() > 0, "{seed}");
    for kind in ["lost", "misdirected", "flip", "torn"] {
        let f = &seed["faults"][kind];
        assert!(f["injected"].as_u64().unwrap() > 0, "{kind}: {seed}");
    }
    let run = &lines[1];
    assert_eq!(run["ok"], true, "{run}");
    assert_eq!(run["totals"]["checkpoints"], seed["checkpoints"], "{run}");
    assert_eq!(run["empty"], serde_json::json!([]), "{run}");
}

/// `simulate --json` reports the fragmentation score of `inspect` and the
/// plot, and the share outside the largest extent under a name of its own.
#[test]
fn simulate_names_its_two_fragmentation_figures() {
    let output = freeset(&[
        "simulate",
        "--blocks",
        "10000",
        "--ops",
        "20000",
        "--checkpoint-every",
        "64",
        "--json",
        "--allow-empty",
    ]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let json: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    let score = json["peak_fragmentation"].as_f64().unwrap();
    let outside = json["peak_free_outside_largest"].as_f64().unwrap();
    assert!(
        (0.0..=1.0).contains(&score) && (0.0..=1.0).contains(&outside),
        "{json}"
    );
    assert_ne!(score, outside, "{json}");
}

/// `simulate --compare-reuse --json` runs each seed without and then with
/// immediate reuse: two objects per seed, each with its mode, its peaks of
/// blocks held and live and their ratio, and the run's object with both
/// modes' space amplification; on the compaction workload immediate reuse
/// holds less. `--plot` draws both.
#[test]
fn simulate_compares_the_space_of_both_modes() {
    let dir = scratch("compare-reuse");
    let plot = dir.join("space.svg");
    let output = freeset(&[
        "simulate",
        "--blocks",
        "10000",
        "--ops",
        "40000",
        "--checkpoint-every",
        "1024",
        "--workload",
        "compaction",
        "--compare-reuse",
        "--json",
        "--allow-empty",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let ratio = |json: &serde_json::Value| {
        let (held, live) = (
            json["peak_held"].as_u64().unwrap(),
            json["peak_live"].as_u64().unwrap(),
        );
        let ratio = json["space_amplification"].as_f64().unwrap();
        assert!(held >= live && live > 0, "{json}");
        assert!((ratio - held as f64 / live as f64).abs() < 1e-6, "{json}");
        assert_eq!(json["workload"], "compaction");
        ratio
    };
    assert_eq!(lines[0]["immediate_reuse"], false);
    assert_eq!(lines[1]["immediate_reuse"], true);
    let (deferred, immediate) = (ratio(&lines[0]), ratio(&lines[1]));
    assert!(immediate < deferred, "{stdout}");
    let space = &lines[2]["space_amplification"];
    assert_eq!(space["release_at_durable"]["mean"].as_f64(), Some(deferred));
    assert_eq!(space["immediate_reuse"]["mean"].as_f64(), Some(immediate));
    let svg = fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("held, release at durable") && svg.contains("held, immediate reuse"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn inspect_and_bench_usage_codes() {
    for bad in [
        &["bench", "--reps", "4"][..],
        &["bench", "--reps", "10001"],
        &["bench", "--reps", "4294967295"],
        &["bench", "--threads", "0"],
        &["bench", "--threads", "1025"],
        &["bench", "--only", "nope"],
        &["bench", "--peers", "--only", "memcpy"],
        &["inspect"],
        &["nope"],
    ] {
        let output = freeset(bad);
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {output:?}");
        assert!(!stderr(&output).contains("panicked"));
    }
    for ok in [&["--help"][..], &["--version"], &["inspect", "--help"]] {
        assert_eq!(freeset(ok).status.code(), Some(0), "{ok:?}");
    }
    // --help says the exit codes and the size syntax.
    for command in ["bench", "replay", "simulate", "inspect"] {
        let help = String::from_utf8(freeset(&[command, "--help"]).stdout).unwrap();
        assert!(
            help.contains("Exit codes:\n  0  ok\n  1  a check failed")
                && help.contains("4KB = 4KiB"),
            "{command}: {help}"
        );
        assert!(help.contains("--kernels <TIER>"), "{command}: {help}");
    }
}

/// The kernel tier `bench` reports in its JSON, run with `args` and the
/// environment variable set to `env` (if any).
fn bench_kernels(args: &[&str], env: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_freeset"));
    command.args(args).args([
        "--quick",
        "--only",
        "memcpy",
        "--reps",
        "5",
        "--threads",
        "1",
        "--json",
    ]);
    match env {
        Some(value) => command.env("FREESET_KERNELS", value),
        None => command.env_remove("FREESET_KERNELS"),
    };
    command.output().unwrap()
}

fn kernels_of(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    let line = String::from_utf8(output.stdout.clone()).unwrap();
    let json: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    json["kernels"].as_str().unwrap().to_string()
}

#[test]
fn kernels_flag_wins_over_the_variable() {
    // Before or after the subcommand (a global flag).
    assert_eq!(
        kernels_of(&bench_kernels(&["--kernels", "scalar", "bench"], None)),
        "scalar"
    );
    assert_eq!(
        kernels_of(&bench_kernels(&["bench", "--kernels", "SCALAR"], None)),
        "scalar"
    );
    // The variable alone still works.
    assert_eq!(
        kernels_of(&bench_kernels(&["bench"], Some("scalar"))),
        "scalar"
    );
    // The flag wins, and the variable is then not read: not even a bad one.
    assert_eq!(
        kernels_of(&bench_kernels(
            &["bench", "--kernels", "scalar"],
            Some("wide")
        )),
        "scalar"
    );
    assert_eq!(
        kernels_of(&bench_kernels(
            &["bench", "--kernels", "scalar"],
            Some("bogus")
        )),
        "scalar"
    );
    // A tier that is no tier: usage, from the flag or the variable, for
    // every command.
    let output = bench_kernels(&["bench", "--kernels", "sse9"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("expected scalar, wide, avx2 or avx512"));
    let output = bench_kernels(&["bench"], Some("sse9"));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("FREESET_KERNELS"));
    let dir = scratch("kernels");
    let (good, _) = traces(&dir);
    let replay = |env: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_freeset"))
            .env("FREESET_KERNELS", env)
            .args(args)
            .output()
            .unwrap()
    };
    assert_eq!(
        replay("sse9", &["replay", "--check", &good]).status.code(),
        Some(2)
    );
    assert_eq!(
        replay("sse9", &["--kernels", "wide", "replay", "--check", &good])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        replay("scalar", &["replay", "--check", &good])
            .status
            .code(),
        Some(0)
    );
    fs::remove_dir_all(&dir).unwrap();
}

const QUICKLY: Duration = Duration::from_secs(120);

/// Encoded files are read up to the encoding bound of the grid, and no
/// further: `/dev/zero`, a file, or standard input.
#[test]
fn inspect_reads_an_encoding_up_to_its_bound() {
    let dir = scratch("bound");
    // 100000 blocks: 25 shards, 1600 words, at most 8 + 8 * 1600 bytes.
    let bound = freeset::ewah::encode_size_max(1600);
    let long = write(&dir, "long.ewah", &vec![0u8; bound + 8]);
    let line = error_line(&freeset(&["inspect", "--blocks", "100000", &long]));
    assert!(
        line.contains("long.ewah") && line.contains(&format!("more than {bound} bytes")),
        "{line}"
    );
    let exact = write(&dir, "exact.ewah", &vec![0u8; bound]);
    assert!(freeset(&["inspect", "--blocks", "100000", &exact])
        .status
        .success());

    if Path::new("/dev/zero").exists() {
        let mut command = Command::new(env!("CARGO_BIN_EXE_freeset"));
        command.args(["inspect", "--blocks", "100000", "/dev/zero"]);
        let line = error_line(&within(command, QUICKLY));
        assert!(
            line.contains("/dev/zero") && line.contains(&format!("more than {bound} bytes")),
            "{line}"
        );
        let mut command = Command::new(env!("CARGO_BIN_EXE_freeset"));
        command
            .args(["inspect", "--blocks", "100000", "-"])
            .stdin(fs::File::open("/dev/zero").unwrap());
        let line = error_line(&within(command, QUICKLY));
        assert!(
            line.contains("standard input") && line.contains("more than"),
            "{line}"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// A checkpoint directory whose checkpoint.json names files outside it, or
/// is itself endless, is refused (exit 1) without reading them.
#[test]
fn inspect_keeps_a_checkpoint_inside_its_directory() {
    let dir = scratch("escape");
    let saved = dir.join("checkpoint");
    let output = freeset(&[
        "simulate",
        "--blocks",
        "20000",
        "--ops",
        "2000",
        "--checkpoint-every",
        "64",
        "--allow-empty",
        "--save",
        saved.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let json_path = saved.join("checkpoint.json");
    let original = fs::read_to_string(&json_path).unwrap();
    let outside = write(
        &dir,
        "outside.ewah",
        &fs::read(saved.join("acquired.ewah")).unwrap(),
    );
    let inspect = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_freeset"));
        command.args(["inspect", saved.to_str().unwrap()]);
        within(command, QUICKLY)
    };
    assert!(inspect().status.success());
    for name in ["/dev/zero", "../outside.ewah", outside.as_str(), "", "."] {
        let json = original.replace("\"acquired.ewah\"", &serde_json::to_string(name).unwrap());
        assert_ne!(json, original);
        fs::write(&json_path, json).unwrap();
        let line = error_line(&inspect());
        assert!(
            line.contains("checkpoint.json") && line.contains("checkpoint directory"),
            "{name}: {line}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        for (link, target) in [("zero.ewah", "/dev/zero"), ("out.ewah", outside.as_str())] {
            symlink(target, saved.join(link)).unwrap();
            let json = original.replace("\"acquired.ewah\"", &format!("\"{link}\""));
            fs::write(&json_path, json).unwrap();
            let line = error_line(&inspect());
            assert!(
                line.contains(link) && line.contains("outside the checkpoint directory"),
                "{line}"
            );
        }
        // checkpoint.json itself endless: its own bound.
        fs::remove_file(&json_path).unwrap();
        if Path::new("/dev/zero").exists() {
            symlink("/dev/zero", &json_path).unwrap();
            let line = error_line(&inspect());
            assert!(
                line.contains("checkpoint.json") && line.contains("more than 16777216 bytes"),
                "{line}"
            );
        }
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// A trace line longer than the bound is a failed trace (exit 1), read no
/// further: `/dev/zero` has no newline at all.
#[test]
fn replay_of_an_endless_line_fails_quickly() {
    if !Path::new("/dev/zero").exists() {
        return;
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_freeset"));
    command.args(["replay", "--check", "/dev/zero"]);
    let output = within(command, QUICKLY);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("/dev/zero:1: line longer than 1073741824 bytes"),
        "{text}"
    );
    assert!(text.ends_with("0 passed, 1 failed\n"), "{text}");
}
