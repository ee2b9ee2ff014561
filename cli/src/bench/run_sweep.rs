//! `freeset bench --sweep`: acquire, encode and open at sizes from 2^20 to
//! 2^30 blocks.

use std::process::ExitCode;

use freeset_cli::sweep;
use freeset_cli::workloads::{self, Name, Sizes, Unit};

use super::args::*;
use super::conditions::*;
use super::measure::*;
use super::table::*;

/// One measured line of `--sweep`.
pub(super) struct SweepRow {
    pub(super) name: Name,
    pub(super) blocks: u64,
    pub(super) figures: Figures,
}

impl SweepRow {
    /// Bytes of one bitset.
    pub(super) fn bitset_bytes(&self) -> u64 {
        self.blocks / 8
    }

    /// Nanoseconds per block of a figure in this workload's unit: an
    /// acquire takes one block; a GB/s figure is bytes of one bitset (8
    /// blocks each) per nanosecond.
    pub(super) fn ns_per_block(&self, figure: f64) -> f64 {
        match self.name.unit() {
            Unit::NsPerOp => figure,
            Unit::GBps => 1.0 / (8.0 * figure),
        }
    }
}

/// `freeset bench --sweep`: acquire, encode and open at each size of
/// `sweep::blocks`, on one pinned thread; one workload prepared at a time, so
/// that at most one set of the largest size (and its copy) is in memory.
pub(super) fn run_sweep(args: &Args) -> ExitCode {
    let caches = sweep::caches();
    let max_log2 = if args.quick {
        sweep::QUICK_MAX_LOG2
    } else {
        *sweep::LOG2_BLOCKS.last().expect("sizes")
    };
    let sizes = sweep::blocks(max_log2);
    let one = workloads::pinned_pool(1);
    if !args.json {
        println!(
            "freeset bench --sweep: {}; one thread; median of {} repetitions",
            machine(),
            args.reps
        );
        let caches_line = caches.as_ref().map_or("unknown".to_string(), |caches| {
            let levels: Vec<String> = caches
                .iter()
                .map(|c| format!("L{} {}", c.level, sweep::show_bytes(c.bytes)))
                .collect();
            levels.join(", ")
        });
        println!("data caches (cpu0): {caches_line}");
    }
    let steps = (sweep::WORKLOADS.len() * sizes.len()) as u64;
    let progress = progress_bar(steps, args.reps);
    let mut rows = Vec::new();
    for name in sweep::WORKLOADS {
        for &blocks in &sizes {
            progress.set_message(format!("{} at {blocks} blocks", name.as_str()));
            let mut workload = workloads::prepare(
                name,
                Sizes {
                    small: blocks,
                    large: blocks,
                },
                workloads::SEED,
            );
            progress.inc(1);
            let figures = one
                .install(|| measure(workload.as_mut(), args.reps, Conditions::warm(), &progress));
            rows.push(SweepRow {
                name,
                blocks,
                figures,
            });
        }
    }
    progress.finish_and_clear();
    if args.json {
        print_sweep_json(&rows, caches.as_deref());
    } else {
        print_sweep_table(&rows, caches.as_deref());
    }
    ExitCode::SUCCESS
}

/// The sweep's rows as JSON lines.
fn print_sweep_json(rows: &[SweepRow], caches: Option<&[sweep::Cache]>) {
    let fits = |row: &SweepRow| sweep::fits(row.bitset_bytes(), caches);
    for row in rows {
        let f = &row.figures;
        let ns = row.ns_per_block(f.median);
        println!(
            r#"{{"sweep":true,"workload":"{}","blocks":{},"bitset_bytes":{},"fits":"{}","unit":"{}","median":{},"min":{},"max":{},"ns_per_block":{ns},"gbps":{},"threads":1,"input":"warm","clock":"{}","kernels":"{}"}}"#,
            row.name.as_str(),
            row.blocks,
            row.bitset_bytes(),
            fits(row),
            row.name.unit().as_str(),
            f.median,
            f.min,
            f.max,
            1.0 / (8.0 * ns),
            Clock::for_threads(1).as_str(),
            freeset::kernels::active().name()
        );
    }
}

/// The sweep's rows as a table, one group of sizes per workload.
fn print_sweep_table(rows: &[SweepRow], caches: Option<&[sweep::Cache]>) {
    let fits = |row: &SweepRow| sweep::fits(row.bitset_bytes(), caches);
    println!();
    println!("ns/block: the median time per block (acquire: per acquire; encode, open: per block of one bitset); GB/s: one bitset's bytes per second.");
    println!("fits in: the smallest cache one bitset fits in; the workload touches more than one bitset, so at a cache's exact size it already spills.");
    println!();
    println!(
        "{:<14} {:>6} {:>9} {:<15} {:>9} {:>8} {:>21}",
        "workload", "blocks", "bitset", "fits in", "ns/block", "GB/s", "ns/block min-max"
    );
    let mut last = None;
    for row in rows {
        let f = &row.figures;
        let first = last != Some(row.name);
        if first && last.is_some() {
            println!();
        }
        last = Some(row.name);
        let ns = row.ns_per_block(f.median);
        // For GB/s the fastest repetition is the least time per block.
        let (a, b) = (row.ns_per_block(f.min), row.ns_per_block(f.max));
        println!(
            "{:<14} {:>6} {:>9} {:<15} {:>9} {:>8} {:>21}",
            if first { row.name.as_str() } else { "" },
            format!("2^{}", row.blocks.trailing_zeros()),
            sweep::show_bytes(row.bitset_bytes()),
            fits(row),
            significant(ns),
            significant(1.0 / (8.0 * ns)),
            format!("{} - {}", significant(a.min(b)), significant(a.max(b)))
        );
    }
}
