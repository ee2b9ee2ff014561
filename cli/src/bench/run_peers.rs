//! `freeset bench --peers`: freeset and its peers on the same workloads,
//! in one run, their repetitions interleaved, and the table that compares
//! them.

use std::process::ExitCode;
use std::sync::Arc;

use freeset::Bitset;
use freeset_cli::peers::{self, Kind, PeerWorkload, Versus};
use freeset_cli::workloads::{self, Fill, Name, Sizes, Unit, Workload};
use indicatif::ProgressBar;

use crate::exit::Failure;

use super::args::*;
use super::conditions::*;
use super::measure::*;
use super::table::*;

/// One measured line of `--peers`: an implementation on a workload.
pub(super) struct PeerRow {
    pub(super) name: Name,
    /// `freeset` or the peer's name (`Kind::as_str`).
    pub(super) implementation: &'static str,
    pub(super) figures: Figures,
    /// Bytes of both encoded bitmaps, for the codec workloads.
    pub(super) encoded: Option<u64>,
}

/// `freeset bench --peers`: each peer workload for `freeset` and for every
/// peer that takes part, all on one pinned thread (the codec too: the peers
/// have no parallel codec), from the same fill, their repetitions
/// interleaved (`measure_interleaved`).
pub(super) fn run_peers(args: &Args, sizes: Sizes) -> ExitCode {
    let selected: Vec<Name> = peers::WORKLOADS
        .into_iter()
        .filter(|n| args.only.is_empty() || args.only.contains(n))
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = peers::WORKLOADS.iter().map(|n| n.as_str()).collect();
        return Failure::Usage(format!(
            "--peers runs only {}; none of them is in --only",
            names.join(", ")
        ))
        .report();
    }
    let one = workloads::pinned_pool(1);
    if !args.json {
        println!(
            "freeset bench --peers: {}; every figure on one thread, this run",
            machine()
        );
        println!(
            "sizes: S = {} blocks, L = {} blocks{}; median of {} repetitions",
            sizes.small,
            sizes.large,
            if args.quick { " (--quick)" } else { "" },
            args.reps
        );
    }
    let steps: u64 = selected
        .iter()
        .map(|&n| 1 + Kind::ALL.iter().filter(|k| k.takes_part(n)).count() as u64)
        .sum();
    settle_allocator();
    let progress = progress_bar(steps, args.reps);
    let evictor = Evictor::new();
    let mut rows: Vec<PeerRow> = Vec::new();
    for &name in &selected {
        progress.set_message(format!("{}: preparing", name.as_str()));
        let group = match prepare_group(name, sizes, &progress) {
            Ok(group) => group,
            Err(e) => {
                // A peer that disagrees with freeset: a check failed.
                progress.finish_and_clear();
                return Failure::Check(e).report();
            }
        };
        progress.set_message(format!(
            "{}: {} implementations",
            name.as_str(),
            group.len()
        ));
        let (names, mut workloads): (Vec<_>, Vec<_>) =
            group.into_iter().map(|(n, e, w)| ((n, e), w)).unzip();
        let conditions = Conditions::standard(name, 1, args.warm, &evictor);
        let figures =
            one.install(|| measure_interleaved(&mut workloads, args.reps, conditions, &progress));
        drop(workloads);
        for ((implementation, encoded), figures) in names.into_iter().zip(figures) {
            rows.push(PeerRow {
                name,
                implementation,
                figures,
                encoded,
            });
        }
    }
    progress.finish_and_clear();
    if args.json {
        for row in &rows {
            println!("{}", peer_json_line(row, &rows, sizes, args.warm));
        }
    } else {
        print_peer_table(&rows, args.warm);
    }
    ExitCode::SUCCESS
}

/// The implementations measured on one workload: name, size of the
/// encoding (codec workloads), workload.
type Group = Vec<(&'static str, Option<u64>, Box<dyn Workload>)>;

/// What `--peers` measures of `name`: freeset's row (the standard
/// workload, which draws the same fill as the peers) and each peer's, with
/// the size of its encoding for the codec workloads; `Err` when a peer
/// disagrees with freeset.
fn prepare_group(name: Name, sizes: Sizes, progress: &ProgressBar) -> Result<Group, String> {
    let fill = Arc::new(workloads::fill(name, sizes, workloads::SEED).expect("a fill"));
    let encoded = name.is_codec().then(|| {
        let set = workloads::set_of(Fill::clone(&fill));
        let size = |bitset| set.encoded_size(bitset).expect("durable, no reservation");
        size(Bitset::Acquired) + size(Bitset::Released)
    });
    let mut group: Group = vec![(
        "freeset",
        encoded,
        workloads::prepare(name, sizes, workloads::SEED),
    )];
    progress.inc(1);
    for kind in Kind::ALL.into_iter().filter(|k| k.takes_part(name)) {
        let mut workload = PeerWorkload::new(name, kind, Arc::clone(&fill));
        workload.check().map_err(|e| e.to_string())?;
        group.push((kind.as_str(), workload.encoded_len(), Box::new(workload)));
        progress.inc(1);
    }
    Ok(group)
}

/// freeset's row of `name` against the best of its peers.
pub(super) fn versus_best(name: Name, rows: &[PeerRow]) -> Option<Versus> {
    let of_name = || rows.iter().filter(move |r| r.name == name);
    let freeset = of_name().find(|r| r.implementation == "freeset")?;
    let peers: Vec<(&str, f64)> = of_name()
        .filter(|r| r.implementation != "freeset")
        .map(|r| (r.implementation, r.figures.median))
        .collect();
    Versus::best_of(name.unit(), freeset.figures.median, &peers)
}

pub(super) fn print_peer_table(rows: &[PeerRow], warm: bool) {
    println!();
    println!("ns/op rows: lower is better; the ratio is freeset's time over the best (fastest) peer's: below 1x, freeset is faster.");
    println!("GB/s rows: higher is better (GB/s of one bitset of L/8 bytes); the ratio is freeset's GB/s over the best peer's: above 1x, freeset is faster.");
    println!("size: both encoded bitmaps (acquired and released), in bytes of the implementation's own format.");
    if warm {
        println!("input: warm (--warm) = no cache emptying: each timed run finds what the one before left.");
    } else {
        println!("input: cold = the caches emptied before each timed run (every row but highest_*, whose short body is looped: warm).");
    }
    println!("clock: {} (cpu = the time the measuring thread ran: what other processes take of its core is not counted).", Clock::for_threads(1).as_str());
    println!();
    println!(
        "{:<18} {:<22} {:>9} {:>6} {:>25} {:>11}  freeset vs best peer (same run)",
        "workload", "impl", "median", "unit", "min-max", "size"
    );
    let mut last = None;
    for row in rows {
        let (name, f) = (row.name, &row.figures);
        let unit = name.unit();
        let first_of_workload = last != Some(name);
        last = Some(name);
        if first_of_workload && rows.first().map(|r| r.name) != Some(name) {
            println!();
        }
        let median = match unit {
            Unit::NsPerOp => format!("{:.1}", f.median),
            Unit::GBps => format!("{:.2}", f.median),
        };
        let versus = if row.implementation == "freeset" {
            versus_best(name, rows).map_or(String::new(), |v| v.cell(unit))
        } else {
            String::new()
        };
        println!(
            "{:<18} {:<22} {:>9} {:>6} {:>25} {:>11}  {}",
            if first_of_workload { name.as_str() } else { "" },
            row.implementation,
            median,
            unit.as_str(),
            format!("{} - {}", show(unit, f.min), show(unit, f.max)),
            row.encoded.map_or(String::new(), show_size),
            versus
        );
    }
}

pub(super) fn peer_json_line(row: &PeerRow, rows: &[PeerRow], sizes: Sizes, warm: bool) -> String {
    let (name, f) = (row.name, &row.figures);
    let mut line = format!(
        r#"{{"workload":"{}","impl":"{}","unit":"{}","median":{},"min":{},"max":{},"threads":1,"input":"{}","clock":"{}","kernels":"{}","blocks":{}"#,
        name.as_str(),
        row.implementation,
        name.unit().as_str(),
        f.median,
        f.min,
        f.max,
        Input::of(name, warm).as_str(),
        Clock::for_threads(1).as_str(),
        freeset::kernels::active().name(),
        name.blocks(sizes)
    );
    if let Some(bytes) = row.encoded {
        line += &format!(r#","encoded_bytes":{bytes}"#);
    }
    if row.implementation == "freeset" {
        if let Some(v) = versus_best(name, rows) {
            line += &format!(
                r#","best_peer":"{}","ratio_to_best_peer":{},"freeset_faster":{}"#,
                v.best, v.ratio, v.freeset_faster
            );
        }
    }
    line + "}"
}
