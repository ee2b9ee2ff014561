//! `freeset bench`: measures the standard workloads of `freeset::workloads` and
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

use freeset::workloads::{self, Name, Sizes, Unit, Workload};
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
}

/// The figures of one workload, in its unit.
#[derive(Debug, Clone, Copy)]
struct Figures {
    median: f64,
    min: f64,
    max: f64,
}

/// The shortest sample worth timing for repeatable bodies.
const SAMPLE_MIN: Duration = Duration::from_millis(20);

/// Runs the bench command.
pub fn run(args: &Args) -> ExitCode {
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

    let kernels = freeset::scan::kernels();
    let features: Vec<&str> = freeset::scan::cpu_features()
        .into_iter()
        .filter(|&(_, has)| has)
        .map(|(name, _)| name)
        .collect();
    let threads = 1; // the codec is sequential; every workload runs on one thread
    if !args.json {
        println!(
            "freeset bench: kernels {kernels}; CPU features {}; threads {threads}",
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

    let progress = ProgressBar::new(order.len() as u64 * u64::from(args.reps + 2));
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    let mut results: Vec<(Name, Figures)> = Vec::new();
    for &name in &order {
        progress.set_message(format!("{}: preparing", name.as_str()));
        let mut workload = workloads::prepare(name, sizes, workloads::SEED);
        progress.inc(1);
        progress.set_message(name.as_str().to_string());
        let figures = measure(workload.as_mut(), args.reps, &progress);
        if let Some(dir) = &args.flamegraph {
            // Profiled apart from the measurement, so the figures carry no
            // sampling overhead.
            let path = dir.join(format!("{}.svg", name.as_str()));
            if let Err(e) = profile(workload.as_mut(), &path) {
                progress.suspend(|| eprintln!("warning: flamegraph of {}: {e}", name.as_str()));
            }
        }
        results.push((name, figures));
    }
    progress.finish_and_clear();

    let memcpy = results
        .iter()
        .find(|(n, _)| *n == Name::Memcpy)
        .map(|(_, f)| f.median);
    results.sort_by_key(|(n, _)| Name::ALL.iter().position(|m| m == n));
    if args.json {
        for (name, figures) in &results {
            println!(
                "{}",
                json_line(*name, figures, memcpy, threads, kernels, sizes)
            );
        }
    } else {
        print_table(&results, memcpy, args.quick);
    }
    ExitCode::SUCCESS
}

/// Times `reps` repetitions after one warm-up and returns the figures in the
/// workload's unit.
fn measure(workload: &mut dyn Workload, reps: u32, progress: &ProgressBar) -> Figures {
    let unit = workload.name().unit();
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

fn print_table(results: &[(Name, Figures)], memcpy: Option<f64>, quick: bool) {
    println!();
    println!(
        "{:<20} {:>12} {:>6} {:>27} {:>8} {:>12} {:>10}",
        "workload", "median", "unit", "min-max", "memcpy", "reference", "speed-up"
    );
    for (name, f) in results {
        let unit = name.unit();
        let fraction = match (name.is_codec(), memcpy) {
            (true, Some(m)) => format!("{:.0}%", 100.0 * f.median / m),
            _ => String::new(),
        };
        let reference = name.reference();
        let speedup = match unit {
            Unit::NsPerOp => reference / f.median,
            Unit::GBps => f.median / reference,
        };
        let (reference, speedup) = if quick || *name == Name::Memcpy {
            (String::new(), String::new())
        } else {
            (show(unit, reference), format!("{speedup:.1}x"))
        };
        let median = match unit {
            Unit::NsPerOp => format!("{:.1}", f.median),
            Unit::GBps => format!("{:.2}", f.median),
        };
        println!(
            "{:<20} {:>12} {:>6} {:>27} {:>8} {:>12} {:>10}",
            name.as_str(),
            median,
            unit.as_str(),
            format!("{} - {}", show(unit, f.min), show(unit, f.max)),
            fraction,
            reference,
            speedup
        );
    }
}

fn json_line(
    name: Name,
    f: &Figures,
    memcpy: Option<f64>,
    threads: usize,
    kernels: &str,
    sizes: Sizes,
) -> String {
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
        let fraction = memcpy.map_or("null".to_string(), |m| (f.median / m).to_string());
        line += &format!(r#","memcpy_fraction":{fraction}"#);
    }
    line += &format!(r#","threads":{threads},"kernels":"{kernels}","blocks":{blocks}}}"#);
    line
}
