//! The simulator's unit tests: the correct engine survives, the broken
//! ones are caught, a seed replays, the flags and bounds hold.

use clap::Parser;

use super::bits::{longest_ones, Bits};
use super::command::{check_args, Args};
use super::config::{
    Config, FaultKind, FaultRates, Variant, Workload, BLOCKS_MAX, CHUNK_BYTES_MAX, PLOT_POINTS_MAX,
    PROGRESS_EVERY,
};
use super::coverage;
use super::disk::{Change, Live};
use super::engine::{simulate, simulate_recorded};
use super::report::Counts;
use super::report::{json_escape, replay_command, Violation};
use super::save::Record;
use super::superblock::Superblock;

/// Small enough for debug builds of the set (which check O(capacity)
/// invariants at each checkpoint), with multi-chunk trailers and crashes.
fn small(seed: u64) -> Config {
    Config {
        seed,
        blocks: 10_000,
        ops: 30_000,
        checkpoint_every: 64,
        crash_rate: 0.002,
        chunk_bytes: 256,
        faults: FaultRates::default(),
        immediate_reuse: false,
        workload: Workload::Default,
    }
}

/// [`small`] with immediate reuse, in `workload`.
fn reusing(seed: u64, workload: Workload) -> Config {
    Config {
        immediate_reuse: true,
        workload,
        ..small(seed)
    }
}

/// [`small`] with storage faults, at rates that make every kind frequent
/// in 30,000 operations.
fn faulty(seed: u64) -> Config {
    Config {
        crash_rate: 0.01,
        faults: FaultRates {
            lost: 0.05,
            misdirected: 0.05,
            flip: 0.05,
            torn: 0.5,
        },
        ..small(seed)
    }
}

#[test]
fn simulate_correct_variant_survives_crashes() {
    let mut crashes = 0;
    for seed in 1..=8 {
        let config = small(seed);
        let summary = simulate(&config, Variant::Correct, |_| {}).unwrap_or_else(|v| {
            panic!(
                "{v}\nreplay: {}",
                replay_command(&config, Variant::Correct, v.step)
            )
        });
        assert_eq!(summary.ops, config.ops);
        assert!(summary.counts.checkpoints_durable > 0, "{summary:?}");
        assert!(
            summary.counts.releases > 0 && summary.counts.acquires > summary.counts.releases / 2
        );
        crashes += summary.counts.crashes;
    }
    assert!(crashes >= 8, "only {crashes} crashes over 8 seeds");
}

#[test]
fn simulate_correct_variant_with_one_block_chunks_and_no_crashes() {
    // The smallest chunk: every word of the encoding takes a trailer block.
    let config = Config {
        chunk_bytes: 8,
        crash_rate: 0.0,
        ..small(42)
    };
    let summary = simulate(&config, Variant::Correct, |_| {}).unwrap();
    assert_eq!(summary.counts.crashes, 0);
}

#[test]
fn simulate_broken_variant_is_caught() {
    let caught: Vec<Violation> = (1..=4)
        .filter_map(|seed| simulate(&small(seed), Variant::FreeBeforeDurable, |_| {}).err())
        .collect();
    assert!(!caught.is_empty(), "the broken engine passed every seed");
    for v in &caught {
        assert!(v.step < small(v.seed).ops);
        assert!(v.message.contains("references it"), "{v}");
    }
    // Seed 1 in particular, at a step that replays exactly.
    let first = simulate(&small(1), Variant::FreeBeforeDurable, |_| {}).unwrap_err();
    let replay = Config {
        ops: first.step + 1,
        ..small(1)
    };
    assert_eq!(
        simulate(&replay, Variant::FreeBeforeDurable, |_| {}).unwrap_err(),
        first
    );
}

#[test]
fn simulate_same_seed_same_summary() {
    let config = small(7);
    let a = simulate(&config, Variant::Correct, |_| {}).unwrap();
    let b = simulate(&config, Variant::Correct, |_| {}).unwrap();
    assert_eq!(a, b);
    let other = simulate(&small(8), Variant::Correct, |_| {}).unwrap();
    assert_ne!(a.digest, other.digest);
}

/// The summary's fragmentation is the score the plot draws and
/// `inspect` prints (`FreeSet::stats`), its peak over the checkpoints;
/// the share outside the largest extent has a name of its own.
#[test]
fn simulate_fragmentation_is_the_stats_score() {
    let mut record = Record {
        sample: true,
        ..Record::default()
    };
    let summary = simulate_recorded(&small(2), Variant::Correct, |_| {}, &mut record).unwrap();
    assert_eq!(
        record.samples.len() as u64,
        summary.counts.checkpoints_written
    );
    let peak =
        |f: fn(&crate::draw::Sample) -> f64| record.samples.iter().map(f).fold(0.0, f64::max);
    assert_eq!(summary.peak_fragmentation, peak(|s| s.fragmentation));
    assert_eq!(
        summary.peak_free_outside_largest,
        peak(|s| 1.0 - s.largest as f64 / s.free as f64)
    );
    assert!(summary.peak_fragmentation > 0.0);
    assert_ne!(
        summary.peak_fragmentation,
        summary.peak_free_outside_largest
    );
    assert_eq!(record.crashes.len() as u64, summary.counts.crashes);
    // Without --plot nothing is kept.
    let mut record = Record::default();
    simulate_recorded(&small(2), Variant::Correct, |_| {}, &mut record).unwrap();
    assert!(record.samples.is_empty() && record.crashes.is_empty());
}

#[test]
fn simulate_plot_is_bounded() {
    let args = |ops: &str, every: &str| {
        Cli::try_parse_from([
            "x",
            "--ops",
            ops,
            "--checkpoint-every",
            every,
            "--plot",
            "p.svg",
        ])
        .unwrap()
        .args
    };
    let config = |args: &Args| Config {
        seed: 1,
        blocks: args.blocks,
        ops: args.ops,
        checkpoint_every: args.checkpoint_every,
        crash_rate: args.crash_rate,
        chunk_bytes: args.chunk_bytes,
        faults: FaultRates::default(),
        immediate_reuse: args.immediate_reuse,
        workload: args.workload,
    };
    let fits = args(&(2 * PLOT_POINTS_MAX).to_string(), "2");
    assert!(check_args(&fits, &config(&fits)).is_ok());
    let past = args(&(2 * PLOT_POINTS_MAX + 2).to_string(), "2");
    let err = check_args(&past, &config(&past)).unwrap_err();
    assert!(err.contains("--plot draws at most"), "{err}");
    let picture = Cli::try_parse_from(["x", "--plot", "p.gif"]).unwrap().args;
    assert!(check_args(&picture, &config(&picture)).is_err());
}

#[test]
fn simulate_progress_is_reported() {
    let config = Config {
        ops: 2 * PROGRESS_EVERY + 1,
        ..small(3)
    };
    let mut seen = Vec::new();
    simulate(&config, Variant::Correct, |done| seen.push(done)).unwrap();
    assert_eq!(seen.last(), Some(&config.ops));
    assert!(seen.windows(2).all(|w| w[0] <= w[1]));
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

#[test]
fn simulate_bad_flags_are_usage_errors() {
    for bad in [
        &["x", "--blocks", "12XB/1"][..],
        &["x", "--crash-rate", "1.5"],
        &["x", "--crash-rate", "nan"],
        &["x", "--chunk-bytes", "12"],
        &["x", "--chunk-bytes", "0"],
        &["x", "--chunk-bytes", "4"],
        &["x", "--chunk-bytes", "18446744073709551608"],
        &["x", "--chunk-bytes", "1099511627776"],
        &["x", "--chunk-bytes", "1TiB"],
        &["x", "--chunk-bytes", "64MiB+8"],
        &["x", "--chunk-bytes", "67108872"],
        &["x", "--chunk-bytes", "4kx"],
        &["x", "--blocks", "4KB"],
        &["x", "--blocks", "0"],
        &["x", "--checkpoint-every", "0"],
        &["x", "--checkpoint-every", "1"],
        &["x", "--seeds", "0"],
    ] {
        let err = Cli::try_parse_from(bad).err().expect("rejected");
        assert_eq!(err.exit_code(), 2, "{bad:?}");
    }
    let cli = Cli::try_parse_from(["x", "--blocks", "16TiB/512KiB"]).unwrap();
    assert_eq!(cli.args.blocks, 1 << 25);
    assert!(cli.args.broken.is_none());
    assert_eq!(cli.args.chunk_bytes, 4096); // the default, "4KiB"
    for (text, bytes) in [("4k", 4096), ("4KB", 4096), ("64MiB", 64 << 20), ("8", 8)] {
        let cli = Cli::try_parse_from(["x", "--chunk-bytes", text]).unwrap();
        assert_eq!(cli.args.chunk_bytes, bytes, "{text}");
    }
    let cli = Cli::try_parse_from(["x", "--blocks", "4k"]).unwrap();
    assert_eq!(cli.args.blocks, 4096);
}

#[test]
fn simulate_config_validation() {
    assert!(small(1).validate().is_ok());
    for bad in [
        Config {
            blocks: 1,
            ..small(1)
        },
        Config {
            blocks: BLOCKS_MAX + 1,
            ..small(1)
        },
        Config {
            chunk_bytes: 12,
            ..small(1)
        },
        Config {
            chunk_bytes: CHUNK_BYTES_MAX + 8,
            ..small(1)
        },
        Config {
            crash_rate: -0.1,
            ..small(1)
        },
        Config {
            checkpoint_every: 1,
            ..small(1)
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
}

#[test]
fn simulate_model_bits() {
    let mut bits = Bits::new(200);
    assert_eq!(bits.largest_free_run(), 200);
    for a in [1, 2, 70, 130, 200] {
        bits.set(a);
    }
    assert_eq!(bits.highest(), Some(200));
    assert_eq!(bits.ones().collect::<Vec<_>>(), [1, 2, 70, 130, 200]);
    assert_eq!(bits.largest_free_run(), 69); // 3..=69 is 67, 71..=129 is 59, 131..=199 is 69
    bits.clear(200);
    assert_eq!(bits.highest(), Some(130));
    assert_eq!(bits.largest_free_run(), 70); // 131..=200
    bits.clear(130);
    bits.clear(70);
    assert_eq!(bits.highest(), Some(2));
    bits.clear(2);
    bits.clear(1);
    assert_eq!((bits.highest(), bits.count()), (None, 0));
    assert_eq!(longest_ones(0b0111_0110), 3);
    assert_eq!(longest_ones(!0), 64);
}

#[test]
fn simulate_json_escapes() {
    assert_eq!(json_escape("a\"b\\c\nd\u{1}"), "a\\\"b\\\\c\\nd\\u0001");
}

/// Storage faults of every kind, at high rates: the correct engine passes,
/// and every fault it could catch was caught (a miss is a violation), many
/// of them at restarts that fell back to an older checkpoint.
#[test]
fn simulate_faults_are_all_detected() {
    let mut totals = Counts::default();
    for seed in 1..=4 {
        let config = faulty(seed);
        let summary = simulate(&config, Variant::Correct, |_| {}).unwrap_or_else(|v| {
            panic!(
                "{v}\nreplay: {}",
                replay_command(&config, Variant::Correct, v.step)
            )
        });
        for f in summary.counts.faults {
            assert!(f.detected + f.abandoned <= f.injected, "{summary:?}");
        }
        totals.add(&summary.counts);
    }
    for kind in FaultKind::ALL {
        let f = totals.faults[kind.index()];
        assert!(f.injected > 0 && f.detected > 0, "{kind:?}: {f:?}");
    }
    assert!(totals.restarts_fallback > 0, "{totals:?}");
    assert!(totals.restarts_latest > 0, "{totals:?}");
    assert!(coverage::empty(&totals, &faulty(1)).is_empty());
}

/// The broken engine that trusts what it reads back: the simulator catches
/// a fault it took for good, at a step that replays exactly.
#[test]
fn simulate_skip_checksum_is_caught() {
    for seed in 1..=4 {
        let v = simulate(&faulty(seed), Variant::SkipChecksum, |_| {}).unwrap_err();
        assert!(v.message.contains("undetected"), "{v}");
        let replay = Config {
            ops: v.step + 1,
            ..faulty(seed)
        };
        assert_eq!(
            simulate(&replay, Variant::SkipChecksum, |_| {}).unwrap_err(),
            v
        );
    }
    // Without faults it has nothing to miss.
    simulate(&small(1), Variant::SkipChecksum, |_| {}).unwrap();
}

/// Crashes do not put checkpoints off: the schedule counts operations
/// across them (at this crash rate the old schedule, reset by every crash,
/// wrote about one checkpoint in a run), and restarts reopen them.
#[test]
fn simulate_crashes_do_not_starve_checkpoints() {
    let config = Config {
        crash_rate: 0.05,
        ..small(3)
    };
    let summary = simulate(&config, Variant::Correct, |_| {}).unwrap();
    let counts = summary.counts;
    let scheduled = config.ops / config.checkpoint_every;
    assert!(counts.checkpoints_written + 1 >= scheduled, "{counts:?}");
    assert!(counts.checkpoints_durable > scheduled / 2, "{counts:?}");
    assert!(counts.restarts_latest > counts.crashes / 2, "{counts:?}");
    assert!(counts.acquires > 0 && counts.releases > 0, "{counts:?}");
}

/// A run that tested nothing fails: every operation crashing leaves jobs
/// no work, and the counts say so.
#[test]
fn simulate_empty_counts_are_reported() {
    let config = Config {
        crash_rate: 1.0,
        ..small(1)
    };
    let summary = simulate(&config, Variant::Correct, |_| {}).unwrap();
    let empty: Vec<String> = coverage::empty(&summary.counts, &config)
        .into_iter()
        .map(|e| e.name)
        .collect();
    for name in ["checkpoints", "acquires", "releases", "restarts_latest"] {
        assert!(empty.iter().any(|e| e == name), "{name}: {empty:?}");
    }
    // Counts the settings cannot make are never required.
    let calm = Config {
        crash_rate: 0.0,
        ..small(1)
    };
    let summary = simulate(&calm, Variant::Correct, |_| {}).unwrap();
    assert!(coverage::empty(&summary.counts, &calm).is_empty());
    assert!(coverage::parse_allowed("restarts_initial,faults.torn.detected").is_ok());
    assert!(coverage::parse_allowed("nope").is_err());
    assert_eq!(coverage::parse_allowed("all").unwrap(), coverage::names());
}

/// A superblock copy decodes to what was encoded, and no single flipped
/// bit anywhere in it passes the checksum.
#[test]
fn simulate_superblock_checksum_catches_every_flip() {
    let mut copy = Superblock::initial();
    copy.seq = 7;
    copy.base = 6;
    copy.trailer_acquired = vec![3, 4];
    copy.trailer_released = vec![5];
    copy.checksums = vec![11, 12, 13];
    copy.changes = vec![
        Change::Added(Live {
            address: 9,
            write: 2,
        }),
        Change::Released(8),
    ];
    let bytes = copy.encode();
    assert_eq!(Superblock::decode(&bytes, true), Some(copy.clone()));
    for bit in 0..8 * bytes.len() {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(Superblock::decode(&flipped, true), None, "bit {bit}");
        // Without the checksum it decodes or not, but never panics.
        let _ = Superblock::decode(&flipped, false);
    }
    for len in 0..bytes.len() {
        assert_eq!(Superblock::decode(&bytes[..len], true), None);
    }
}

/// With immediate reuse, in both workloads, with crashes and faults: every
/// release the model frees at once is checked against the checkpoints
/// themselves, every acquire and write against the checkpoints a restart
/// could use. Blocks are freed at once (fewer held at the peak than
/// without, on the compaction workload) and the set agrees with the model
/// after every operation.
#[test]
fn simulate_immediate_reuse_survives_crashes_and_faults() {
    for seed in 1..=4 {
        for workload in [Workload::Default, Workload::Compaction] {
            for config in [
                reusing(seed, workload),
                Config {
                    immediate_reuse: true,
                    workload,
                    ..faulty(seed)
                },
            ] {
                let summary = simulate(&config, Variant::Correct, |_| {}).unwrap_or_else(|v| {
                    panic!(
                        "{v}\nreplay: {}",
                        replay_command(&config, Variant::Correct, v.step)
                    )
                });
                assert!(summary.immediate_reuse && summary.counts.crashes > 0);
                assert!(summary.peak_live > 0 && summary.peak_held >= summary.peak_live);
            }
        }
    }
}

/// The same seeds with and without immediate reuse do the same work (the
/// engine steers by its live blocks), and immediate reuse holds fewer
/// blocks at the peak on the compaction workload, whose scratch output is
/// released within its checkpoint interval.
#[test]
fn simulate_immediate_reuse_holds_less_on_compaction() {
    let (mut deferred, mut immediate) = (0.0, 0.0);
    for seed in 1..=4 {
        let config = Config {
            crash_rate: 0.0,
            ..reusing(seed, Workload::Compaction)
        };
        let on = simulate(&config, Variant::Correct, |_| {}).unwrap();
        let off_config = Config {
            immediate_reuse: false,
            ..config
        };
        let off = simulate(&off_config, Variant::Correct, |_| {}).unwrap();
        assert!(!off.immediate_reuse && on.immediate_reuse);
        assert_eq!(
            on.counts.checkpoints_written,
            off.counts.checkpoints_written
        );
        deferred += off.space_amplification();
        immediate += on.space_amplification();
    }
    assert!(
        immediate < deferred,
        "immediate reuse {immediate} against {deferred} (sums over 4 seeds)"
    );
}

/// An engine that reuses blocks by a rule one checkpoint off (written since
/// the last *durable* checkpoint, rather than since the last written one)
/// overwrites blocks the checkpoint in flight references: caught, in both
/// modes of the set, at a step that replays.
#[test]
fn simulate_reuse_referenced_is_caught() {
    for immediate_reuse in [false, true] {
        let config = Config {
            immediate_reuse,
            ..small(1)
        };
        let caught = simulate(&config, Variant::ReuseReferenced, |_| {}).unwrap_err();
        assert!(
            caught.message.contains("overwritten while checkpoint"),
            "{caught}"
        );
        let replay = Config {
            ops: caught.step + 1,
            ..config
        };
        assert_eq!(
            simulate(&replay, Variant::ReuseReferenced, |_| {}).unwrap_err(),
            caught
        );
        let command = replay_command(&config, Variant::ReuseReferenced, caught.step);
        assert!(command.contains("--broken=reuse-referenced"), "{command}");
        assert_eq!(command.contains("--immediate-reuse"), immediate_reuse);
    }
}

#[test]
fn simulate_reuse_flags() {
    let parse = |flags: &[&str]| {
        Cli::try_parse_from(std::iter::once("x").chain(flags.iter().copied())).map(|c| c.args)
    };
    let args = parse(&["--immediate-reuse", "--workload", "compaction"]).unwrap();
    assert!(args.immediate_reuse && args.workload == Workload::Compaction);
    assert!(parse(&["--workload", "nope"]).is_err());
    assert!(parse(&["--compare-reuse", "--immediate-reuse"]).is_err());
    assert!(parse(&["--compare-reuse", "--save", "d"]).is_err());
    assert!(parse(&["--compare-reuse", "--plot", "p.svg"]).is_ok());
    assert_eq!(
        parse(&["--broken=reuse-referenced"]).unwrap().broken,
        Some(Variant::ReuseReferenced)
    );
}
