//! `freeset bench`: measures the standard workloads of `freeset_cli::workloads` and
//! prints a table (or JSON lines).
//!
//! A figure is the median of several repetitions; each repetition times the
//! workload's body alone (`rearm` runs outside the clock) and, for bodies too
//! short for the clock, loops over a repeatable body until a sample lasts a few
//! milliseconds. `memcpy` is measured in the same run whenever a codec workload
//! is, so that codec figures can be given as a fraction of it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use freeset::kernels::{Tier, UnknownTier};
use freeset_cli::workloads::{self, Name, Sizes, Unit, Workload};
use indicatif::{ProgressBar, ProgressStyle};

/// Options of `freeset bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Smaller sizes (S = 2^20, L = 2^23 blocks) for a first look.
    #[arg(long)]
    quick: bool,
    /// Run only these workloads (names as in WORKLOADS.md).
    #[arg(long, num_args = 1.., value_name = "NAME")]
    only: Vec<Name>,
    /// One JSON object per workload per line instead of the table.
    #[arg(long)]
    json: bool,
    /// Repetitions per workload; the median is reported.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(5..))]
    reps: u32,
    /// Write one flamegraph SVG per workload into DIR (needs `--features flamegraph`).
    #[arg(long, value_name = "DIR")]
    flamegraph: Option<PathBuf>,
    /// Threads for the codec workloads and memcpy (default: all cores). With
    /// more than one, they also run on one thread, for the speed-up.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
}

/// The figures of one workload, in its unit.
#[derive(Debug, Clone, Copy)]
struct Figures {
    median: f64,
    min: f64,
    max: f64,
}

/// One measured line: a workload on a number of threads.
struct Row {
    name: Name,
    threads: usize,
    figures: Figures,
}

impl Row {
    /// The same workload's figure on one thread, for the speed-up.
    fn one_thread<'r>(&self, rows: &'r [Row]) -> Option<&'r Row> {
        rows.iter().find(|r| r.name == self.name && r.threads == 1)
    }

    /// Codec figure as a fraction of memcpy on the same number of threads.
    fn memcpy_fraction(&self, rows: &[Row]) -> Option<f64> {
        let memcpy = rows
            .iter()
            .find(|r| r.name == Name::Memcpy && r.threads == self.threads)?;
        Some(self.figures.median / memcpy.figures.median).filter(|_| self.name.is_codec())
    }
}

/// The shortest sample worth timing for repeatable bodies.
const SAMPLE_MIN: Duration = Duration::from_millis(20);

/// The environment variable that forces a kernel tier: `scalar`, `wide`,
/// `avx2` or `avx512`.
const KERNELS_VAR: &str = "FREESET_KERNELS";

/// Forces the kernel tier that `FREESET_KERNELS` names, if it is set. A tier
/// this CPU cannot run falls back to the next one below it that it can, with a
/// note on stderr.
fn force_kernels_from_env() -> Result<(), UnknownTier> {
    let value = std::env::var(KERNELS_VAR).unwrap_or_default();
    if value.is_empty() {
        return Ok(());
    }
    let wanted: Tier = value.parse()?;
    let fastest_first = [Tier::Avx512, Tier::Avx2, Tier::Wide, Tier::Scalar];
    let forced = fastest_first
        .into_iter()
        .skip_while(|&tier| tier != wanted)
        .find(|&tier| freeset::kernels::force(tier).is_ok());
    if let Some(tier) = forced.filter(|&tier| tier != wanted) {
        eprintln!(
            "note: {KERNELS_VAR}={value}: the CPU cannot run the {wanted} kernels, using {tier}"
        );
    }
    Ok(())
}

/// Runs the bench command.
pub fn run(args: &Args) -> ExitCode {
    if let Err(e) = force_kernels_from_env() {
        eprintln!("error: {KERNELS_VAR}: {e}");
        return ExitCode::FAILURE;
    }
    if args.flamegraph.is_some() && !cfg!(feature = "flamegraph") {
        eprintln!("error: --flamegraph needs a build with the profiler: cargo run --release --features flamegraph -- bench --flamegraph DIR");
        return ExitCode::FAILURE;
    }
    if let Some(dir) = &args.flamegraph {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: cannot create {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    let sizes = if args.quick {
        Sizes::QUICK
    } else {
        Sizes::STANDARD
    };
    let selected: Vec<Name> = Name::ALL
        .into_iter()
        .filter(|n| args.only.is_empty() || args.only.contains(n))
        .collect();
    // memcpy runs first whenever a codec workload runs: their fraction needs it.
    let needs_memcpy = selected.iter().any(|n| n.is_codec());
    let mut order: Vec<Name> = Vec::new();
    if needs_memcpy || selected.contains(&Name::Memcpy) {
        order.push(Name::Memcpy);
    }
    order.extend(selected.iter().copied().filter(|&n| n != Name::Memcpy));

    let kernels = freeset::kernels::active().name();
    let features: Vec<&str> = freeset::kernels::cpu_features()
        .into_iter()
        .filter(|&(_, has)| has)
        .map(|(name, _)| name)
        .collect();
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    // Pinned pools: see `workloads::pinned_pool`.
    let pool = workloads::pinned_pool;
    let (one, many) = (pool(1), pool(threads));
    if !args.json {
        println!(
            "freeset bench: kernels {kernels}; CPU features {}; threads {threads} (codec and memcpy; the other workloads are single-threaded)",
            features.join(" ")
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

    let runs = |name: Name| {
        if threads > 1 && (name.is_codec() || name == Name::Memcpy) {
            vec![1, threads]
        } else {
            vec![1]
        }
    };
    let steps: u64 = order.iter().map(|&n| runs(n).len() as u64).sum();
    let progress = ProgressBar::new(steps * u64::from(args.reps + 2));
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    let mut results: Vec<Row> = Vec::new();
    for &name in &order {
        progress.set_message(format!("{}: preparing", name.as_str()));
        let mut workload = workloads::prepare(name, sizes, workloads::SEED);
        for (i, threads) in runs(name).into_iter().enumerate() {
            if i > 0 {
                progress.inc(1);
            }
            let pool = if threads == 1 { &one } else { &many };
            progress.set_message(format!("{} on {threads} thread(s)", name.as_str()));
            progress.inc(1);
            let figures = pool.install(|| measure(workload.as_mut(), args.reps, &progress));
            results.push(Row {
                name,
                threads,
                figures,
            });
        }
        if let Some(dir) = &args.flamegraph {
            // Profiled apart from the measurement, so the figures carry no
            // sampling overhead; on the pool of the last measurement.
            let path = dir.join(format!("{}.svg", name.as_str()));
            let pool = if runs(name).len() > 1 { &many } else { &one };
            if let Err(e) = pool.install(|| profile(workload.as_mut(), &path)) {
                progress.suspend(|| eprintln!("warning: flamegraph of {}: {e}", name.as_str()));
            }
        }
    }
    progress.finish_and_clear();

    results.sort_by_key(|r| (Name::ALL.iter().position(|m| *m == r.name), r.threads));
    if args.json {
        for row in &results {
            println!("{}", json_line(row, &results, kernels, sizes));
        }
    } else {
        print_table(&results, args.quick);
    }
    ExitCode::SUCCESS
}

/// Times `reps` repetitions after one warm-up and returns the figures in the
/// workload's unit.
fn measure(workload: &mut dyn Workload, reps: u32, progress: &ProgressBar) -> Figures {
    let unit = workload.name().unit();
    // An earlier measurement (on another pool) may have left the state spent.
    workload.rearm();
    // Warm-up; for a repeatable body, also find how many runs make a sample
    // long enough for the clock (doubling until one lasts SAMPLE_MIN).
    let mut loops = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..loops {
            workload.run();
        }
        if !workload.repeatable() || start.elapsed() >= SAMPLE_MIN {
            break;
        }
        loops *= 2;
    }
    progress.inc(1);
    let mut values: Vec<f64> = (0..reps)
        .map(|_| {
            if !workload.repeatable() {
                workload.rearm();
            }
            let start = Instant::now();
            let mut units = 0;
            for _ in 0..loops {
                units += workload.run();
            }
            let nanos = start.elapsed().as_nanos() as f64;
            progress.inc(1);
            match unit {
                Unit::NsPerOp => nanos / units as f64,
                Unit::GBps => units as f64 / nanos,
            }
        })
        .collect();
    values.sort_by(f64::total_cmp);
    Figures {
        median: values[values.len() / 2],
        min: values[0],
        max: values[values.len() - 1],
    }
}

/// How long a workload runs under the profiler: about a thousand samples.
const PROFILE_MIN: Duration = Duration::from_secs(1);

/// Runs the workload under the sampling profiler for at least PROFILE_MIN and
/// writes a flamegraph. `rearm` runs under the profiler too: its frames
/// (`clone_from`, `reset`) are not part of the timed body.
fn profile(workload: &mut dyn Workload, path: &std::path::Path) -> Result<(), String> {
    let profiler = start_profiler();
    let start = Instant::now();
    while start.elapsed() < PROFILE_MIN {
        if !workload.repeatable() {
            workload.rearm();
        }
        workload.run();
    }
    write_flamegraph(profiler, path)
}

#[cfg(feature = "flamegraph")]
type Profiler = Option<pprof::ProfilerGuard<'static>>;
/// Stands in for the profiler in builds without it.
#[cfg(not(feature = "flamegraph"))]
struct Profiler;

#[cfg(feature = "flamegraph")]
fn start_profiler() -> Profiler {
    pprof::ProfilerGuardBuilder::default()
        .frequency(997)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| eprintln!("warning: no profiler: {e}"))
        .ok()
}

#[cfg(not(feature = "flamegraph"))]
fn start_profiler() -> Profiler {
    Profiler
}

#[cfg(feature = "flamegraph")]
fn write_flamegraph(profiler: Profiler, path: &std::path::Path) -> Result<(), String> {
    let guard = profiler.ok_or("the profiler did not start")?;
    let report = guard.report().build().map_err(|e| e.to_string())?;
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    report.flamegraph(file).map_err(|e| e.to_string())
}

#[cfg(not(feature = "flamegraph"))]
fn write_flamegraph(_profiler: Profiler, _path: &std::path::Path) -> Result<(), String> {
    Err("built without the flamegraph feature".into())
}

/// A figure with a unit suited to its size: ns, µs or ms for times.
fn show(unit: Unit, value: f64) -> String {
    match unit {
        Unit::GBps => format!("{value:.2} GB/s"),
        Unit::NsPerOp if value >= 1e6 => format!("{:.2} ms", value / 1e6),
        Unit::NsPerOp if value >= 1e3 => format!("{:.2} µs", value / 1e3),
        Unit::NsPerOp => format!("{value:.2} ns"),
    }
}

fn print_table(rows: &[Row], quick: bool) {
    println!();
    println!(
        "{:<20} {:>7} {:>9} {:>6} {:>27} {:>7} {:>10} {:>11} {:>9}",
        "workload",
        "threads",
        "median",
        "unit",
        "min-max",
        "memcpy",
        "vs 1 thr.",
        "reference",
        "speed-up"
    );
    for row in rows {
        let (name, f) = (row.name, &row.figures);
        let unit = name.unit();
        let fraction = row
            .memcpy_fraction(rows)
            .map_or(String::new(), |x| format!("{:.0}%", 100.0 * x));
        let better = |ours: f64, theirs: f64| match unit {
            Unit::NsPerOp => theirs / ours,
            Unit::GBps => ours / theirs,
        };
        let versus_one = match row.one_thread(rows) {
            Some(one) if row.threads > 1 => {
                format!("{:.2}x", better(f.median, one.figures.median))
            }
            _ => String::new(),
        };
        let reference = name.reference();
        let (reference, speedup) = if quick || name == Name::Memcpy {
            (String::new(), String::new())
        } else {
            (
                show(unit, reference),
                format!("{:.1}x", better(f.median, reference)),
            )
        };
        let median = match unit {
            Unit::NsPerOp => format!("{:.1}", f.median),
            Unit::GBps => format!("{:.2}", f.median),
        };
        println!(
            "{:<20} {:>7} {:>9} {:>6} {:>27} {:>7} {:>10} {:>11} {:>9}",
            name.as_str(),
            row.threads,
            median,
            unit.as_str(),
            format!("{} - {}", show(unit, f.min), show(unit, f.max)),
            fraction,
            versus_one,
            reference,
            speedup
        );
    }
}

fn json_line(row: &Row, rows: &[Row], kernels: &str, sizes: Sizes) -> String {
    let (name, f) = (row.name, &row.figures);
    let blocks = match name {
        Name::AcquireFill | Name::AcquireFragmented | Name::Reserve100k | Name::Checkpoint10pct => {
            sizes.small
        }
        _ => sizes.large,
    };
    let mut line = format!(
        r#"{{"workload":"{}","unit":"{}","median":{},"min":{},"max":{}"#,
        name.as_str(),
        name.unit().as_str(),
        f.median,
        f.min,
        f.max
    );
    if name.is_codec() {
        let fraction = row
            .memcpy_fraction(rows)
            .map_or("null".to_string(), |x| x.to_string());
        line += &format!(r#","memcpy_fraction":{fraction}"#);
    }
    line += &format!(
        r#","threads":{},"kernels":"{kernels}","blocks":{blocks}}}"#,
        row.threads
    );
    line
}
