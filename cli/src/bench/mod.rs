//! `freeset bench`: measures the standard workloads of `freeset_cli::workloads` and
//! prints a table (or JSON lines). `--peers` measures the same workloads for
//! `freeset` and its peers (`freeset_cli::peers`) in one run; `--sweep`
//! measures acquire, encode and open at sizes from 2^20 to 2^30 blocks
//! (`freeset_cli::sweep`).
//!
//! A figure is the median of several repetitions; each repetition times the
//! workload's body alone (`rearm` runs outside the clock) and, for bodies too
//! short for the clock, loops over a repeatable body until a sample lasts a few
//! milliseconds. Every other body is timed once per sample, after the caches
//! were emptied of what ran before ([`Input::Cold`]): a figure does not depend
//! on its neighbours in the table. `memcpy` is measured in the same run
//! whenever a codec workload is, so that codec figures can be given as a
//! fraction of it.
//!
//! The files, each importing only those above it: `args.rs` (the flags),
//! `conditions.rs` (cold or warm input, the clock), `measure.rs` (timing
//! one workload), `table.rs` (rows, table, JSON), `run_peers.rs` (`--peers`),
//! `run_sweep.rs` (`--sweep`); this file runs the standard table.
//!
//! What must never happen here: a ratio between figures of different runs
//! (the reference's figures are shown as published, never divided by ours),
//! or a comparison in which the two sides do not do the same work.

use std::process::ExitCode;

use freeset_cli::workloads::{self, Name, Sizes};

use crate::exit::{self, Failure};

mod args;
mod conditions;
mod measure;
mod run_peers;
mod run_sweep;
mod table;

pub use args::Args;
use conditions::*;
use measure::*;
use run_peers::run_peers;
use run_sweep::run_sweep;
use table::*;

/// Runs the bench command (the kernel tier is forced by `main`, from
/// `--kernels` or `FREESET_KERNELS`, before).
pub fn run(args: &Args) -> ExitCode {
    if args.flamegraph.is_some() && !cfg!(feature = "flamegraph") {
        return Failure::Usage("--flamegraph needs a build with the profiler: cargo run --release --features flamegraph -- bench --flamegraph DIR".into()).report();
    }
    if let Some(dir) = &args.flamegraph {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return Failure::Usage(format!("cannot create {}: {e}", dir.display())).report();
        }
    }
    let sizes = if args.quick {
        Sizes::QUICK
    } else {
        Sizes::STANDARD
    };
    if args.peers {
        return run_peers(args, sizes);
    }
    if args.sweep {
        return run_sweep(args);
    }
    let kernels = freeset::kernels::active().name();
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    if !args.json {
        print_header(args, sizes, threads);
    }
    let (mut results, unwritten) = measure_all(args, sizes, &order_of(args), threads);
    results.sort_by_key(|r| (Name::ALL.iter().position(|m| *m == r.name), r.threads));
    if args.json {
        for row in &results {
            println!("{}", json_line(row, &results, kernels, sizes));
        }
    } else {
        print_table(&results, args.quick);
    }
    exit::worst(unwritten, false)
}

/// The workloads `--only` selects, in the table's order, with `memcpy`
/// first whenever a codec workload or a pass runs: their fraction needs it.
fn order_of(args: &Args) -> Vec<Name> {
    let selected: Vec<Name> = Name::ALL
        .into_iter()
        .filter(|n| args.only.is_empty() || args.only.contains(n))
        .collect();
    let needs_memcpy = selected.iter().any(|n| n.is_codec() || n.is_pass());
    let mut order: Vec<Name> = Vec::new();
    if needs_memcpy || selected.contains(&Name::Memcpy) {
        order.push(Name::Memcpy);
    }
    order.extend(selected.iter().copied().filter(|&n| n != Name::Memcpy));
    order
}

/// The lines above the table: the machine, the threads, the sizes.
fn print_header(args: &Args, sizes: Sizes, threads: usize) {
    println!(
        "freeset bench: {}; threads {threads} (codec and memcpy; the other workloads are single-threaded)",
        machine()
    );
    println!(
        "sizes: S = {} blocks, L = {} blocks{}; median of {} repetitions",
        sizes.small,
        sizes.large,
        if args.quick {
            " (--quick: not comparable with the reference)"
        } else {
            ""
        },
        args.reps
    );
}

/// Measures every workload of `order`, on one thread and (for the threaded
/// ones) on `threads`, and returns the rows and whether a flamegraph could
/// not be written (the figures are still printed, and the exit code says
/// usage: `crate::exit`).
fn measure_all(args: &Args, sizes: Sizes, order: &[Name], threads: usize) -> (Vec<Row>, bool) {
    // Pinned pools: see `workloads::pinned_pool`.
    let pool = workloads::pinned_pool;
    let (one, many) = (pool(1), pool(threads));
    let runs = |name: Name| {
        if threads > 1 && name.is_threaded() {
            vec![1, threads]
        } else {
            vec![1]
        }
    };
    // A codec workload on several threads gets one more row: see
    // `measure_split`.
    let steps: u64 = order
        .iter()
        .map(|&n| runs(n).len() as u64 + u64::from(threads > 1 && n.is_codec()))
        .sum();
    settle_allocator();
    let progress = progress_bar(steps, args.reps);
    let evictor = Evictor::new();
    let mut results: Vec<Row> = Vec::new();
    let mut unwritten = false;
    for &name in order {
        progress.set_message(format!("{}: preparing", name.as_str()));
        let fill = workloads::fill(name, sizes, workloads::SEED);
        // The split row's parts are cut from the same fill, drawn once.
        let whole = (threads > 1 && name.is_codec())
            .then(|| fill.clone())
            .flatten();
        let mut workload = workloads::prepare_from(name, sizes, workloads::SEED, fill);
        for (i, threads) in runs(name).into_iter().enumerate() {
            if i > 0 {
                progress.inc(1);
            }
            let pool = if threads == 1 { &one } else { &many };
            progress.set_message(format!("{} on {threads} thread(s)", name.as_str()));
            progress.inc(1);
            if threads > 1 && name.is_codec() {
                let rows;
                let whole = whole.as_ref().expect("drawn for a codec workload");
                (workload, rows) = pool.install(|| {
                    let conditions = Conditions::standard(name, threads, args.warm, &evictor);
                    measure_split(name, workload, whole, args.reps, conditions, &progress)
                });
                results.extend(rows);
                continue;
            }
            let conditions = Conditions::standard(name, threads, args.warm, &evictor);
            let figures =
                pool.install(|| measure(workload.as_mut(), args.reps, conditions, &progress));
            results.push(Row {
                name,
                threads,
                split: false,
                figures,
                input: Input::of(name, args.warm),
                clock: conditions.clock,
            });
        }
        if let Some(dir) = &args.flamegraph {
            // Profiled apart from the measurement, so the figures carry no
            // sampling overhead; on the pool of the last measurement.
            let path = dir.join(format!("{}.svg", name.as_str()));
            let pool = if runs(name).len() > 1 { &many } else { &one };
            match pool.install(|| profile(workload.as_mut(), &path)) {
                Ok(()) => progress.suspend(|| exit::wrote(&path)),
                Err(e) => {
                    unwritten = true;
                    progress.suspend(|| eprintln!("error: flamegraph of {}: {e}", name.as_str()))
                }
            }
        }
    }
    progress.finish_and_clear();
    (results, unwritten)
}
