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
//! What must never happen here: a ratio between figures of different runs
//! (the reference's figures are shown as published, never divided by ours),
//! or a comparison in which the two sides do not do the same work.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use freeset::Bitset;
use freeset_cli::peers::{self, Kind, PeerWorkload, Versus};
use freeset_cli::sweep;
use freeset_cli::workloads::{self, Fill, Name, Sizes, Unit, Workload};
use indicatif::{ProgressBar, ProgressStyle};

use crate::exit::{self, Failure};

/// The most repetitions `--reps` takes: each keeps a figure, and a
/// benchmark of more is no better measured.
const REPS_MAX: u32 = 10_000;
/// The most threads `--threads` takes: each is a thread of a pool made for
/// the run (and, for the split rows, a set of its own).
const THREADS_MAX: u32 = 1024;

/// Options of `freeset bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Smaller sizes (S = 2^20, L = 2^23 blocks) for a first look.
    #[arg(long)]
    quick: bool,
    /// Run only these workloads (names as in docs/workloads.md).
    #[arg(long, num_args = 1.., value_name = "NAME")]
    only: Vec<Name>,
    /// One JSON object per workload per line instead of the table.
    #[arg(long)]
    json: bool,
    /// Repetitions per workload (5 to 10000); the median is reported.
    #[arg(long, default_value_t = 7,
          value_parser = clap::value_parser!(u32).range(5..=i64::from(REPS_MAX)))]
    reps: u32,
    /// Write one flamegraph SVG per workload into DIR (needs `--features flamegraph`).
    #[arg(long, value_name = "DIR")]
    flamegraph: Option<PathBuf>,
    /// Threads for the codec workloads and memcpy (default: all cores; at
    /// most 1024). With more than one, they also run on one thread, for the
    /// speed-up.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(THREADS_MAX)))]
    threads: Option<u32>,
    /// Measure freeset and its peers (a hand-written cursor bitset, roaring,
    /// croaring) on the same workloads and fills, on one thread, in this run;
    /// the table gives freeset's ratio to the best peer.
    #[arg(long, conflicts_with_all = ["sweep", "threads", "flamegraph"])]
    peers: bool,
    /// Measure acquire, encode and open (random fill, one thread) at 2^20,
    /// 2^22, ..., 2^30 blocks: the cost per block as the bitsets leave each
    /// cache level. With --quick, up to 2^24.
    #[arg(long, conflicts_with_all = ["threads", "flamegraph", "only"])]
    sweep: bool,
    /// Warm input for every row: no cache emptying before a sample, so each
    /// run finds what the last one (or the workload before) left, as
    /// before the cold default. For a second look, never mixed with cold
    /// rows in one table.
    #[arg(long, conflicts_with = "sweep")]
    warm: bool,
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
    /// The workload cut into one independent sequential call per thread
    /// (`workloads::prepare_split`): the machine's yardstick for the row
    /// above it.
    split: bool,
    figures: Figures,
    input: Input,
    clock: Clock,
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
        Some(self.figures.median / memcpy.figures.median)
            .filter(|_| self.name.is_codec() || self.name.is_pass())
    }
}

/// The shortest sample worth timing for repeatable bodies.
const SAMPLE_MIN: Duration = Duration::from_millis(20);

/// Calls of a codec workload in its warm-up: enough for the default
/// `Parallelism` to have measured both of its paths and kept one (its first
/// six calls of each size try them: see `freeset::Parallelism`), so that
/// the timed calls all take the kept path.
const CODEC_WARM_UP_CALLS: u32 = 10;

/// What a sample's body finds in the caches when its clock starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// Nothing of its own, nor of anything that ran before: the caches were
    /// emptied by a read of [`Evictor`]'s buffer (which also writes back
    /// every dirty line the last sample left). Every body that runs once
    /// per sample: the acquires, `checkpoint_10pct`, the codec, `stats`,
    /// `memcpy`.
    Cold,
    /// What the same body left a moment ago: bodies too short for the
    /// clock, run in a loop (`count_free`, `highest_*`, `reserve_100k`).
    Warm,
}

impl Input {
    fn as_str(self) -> &'static str {
        match self {
            Input::Cold => "cold",
            Input::Warm => "warm",
        }
    }

    /// The input `name`'s samples start from: cold unless the body is short
    /// and looped, or `--warm` asked for warm input everywhere.
    fn of(name: Name, warm: bool) -> Input {
        let looped = matches!(
            name,
            Name::CountFree | Name::HighestAcquired | Name::HighestReleased | Name::Reserve100k
        );
        if looped || warm {
            Input::Warm
        } else {
            Input::Cold
        }
    }
}

/// Makes every workload's buffers come from the same kind of memory,
/// whatever ran before it: heap memory the process has written and freed
/// already (glibc's `malloc` keeps it, and hands it out again).
///
/// Without this, where a 16 MiB buffer comes from depends on what was freed
/// before: glibc maps large blocks afresh until one is freed, then serves
/// them from its heap, and gives memory at the heap's top back to the
/// kernel when enough is free there. A codec workload run alone (its
/// buffers in memory new to the process) then measured markedly slower
/// than after any other codec workload (its buffers in memory that one had
/// freed); the figures are in `perf/notes.md`. So the bench fixes glibc's
/// thresholds (no fresh mapping per buffer, nothing given back) and writes
/// and frees [`HEAP_WARM_BYTES`] before the first workload. Elsewhere
/// (another libc) it only writes and frees them.
fn settle_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: `mallopt` only sets allocator parameters (both are
        // documented glibc options taking a size), called before the
        // allocations it concerns and from this thread alone.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 1 << 30);
            mallopt(M_TRIM_THRESHOLD, i32::MAX);
        }
    }
    let blocks: Vec<Vec<u64>> = (0..HEAP_WARM_BYTES / BLOCK_BYTES)
        .map(|_| vec![1u64; BLOCK_BYTES / 8])
        .collect();
    black_box(&blocks);
    drop(blocks);
}

/// Heap the bench writes and frees before its first workload (see
/// [`settle_allocator`]): more than the largest workload holds at once.
const HEAP_WARM_BYTES: usize = 512 << 20;

/// The blocks [`settle_allocator`] writes: the size of a bitset of L.
const BLOCK_BYTES: usize = 16 << 20;

/// What a sample's time is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    /// The CPU time of the thread that measures (it runs the body): the
    /// time it ran, not the time other processes ran on its core. Every
    /// figure of one thread.
    Cpu,
    /// The time that passed: figures of several threads, whose speed-up is
    /// the point.
    Wall,
}

impl Clock {
    fn as_str(self) -> &'static str {
        match self {
            Clock::Cpu => "cpu",
            Clock::Wall => "wall",
        }
    }

    /// The clock of a row on `threads` threads: the CPU time for one, where
    /// the system gives it ([`thread_cpu_nanos`]).
    fn for_threads(threads: usize) -> Clock {
        if threads == 1 && thread_cpu_nanos().is_some() {
            Clock::Cpu
        } else {
            Clock::Wall
        }
    }
}

/// The CPU time this thread has run, in nanoseconds; `None` where the
/// bench cannot read it (not 64-bit Linux).
fn thread_cpu_nanos() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    {
        /// `struct timespec` of 64-bit Linux.
        #[repr(C)]
        struct Timespec {
            seconds: i64,
            nanos: i64,
        }
        extern "C" {
            fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
        }
        const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
        let mut time = Timespec {
            seconds: 0,
            nanos: 0,
        };
        // SAFETY: `clock_gettime` writes one `struct timespec` (whose layout
        // `Timespec` has on 64-bit Linux) through the pointer, which points
        // to a live one, and reads nothing else.
        let status = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut time) };
        if status == 0 {
            return Some(time.seconds as u64 * 1_000_000_000 + time.nanos as u64);
        }
    }
    None
}

/// How a workload's samples are taken.
#[derive(Clone, Copy)]
struct Conditions<'e> {
    /// Empty the caches before each sample ([`Input::Cold`]).
    cold: Option<&'e Evictor>,
    /// Loop a repeatable body until a sample lasts [`SAMPLE_MIN`]; else one
    /// run per sample.
    looped: bool,
    clock: Clock,
}

impl<'e> Conditions<'e> {
    /// The conditions of `name` in `freeset bench` and `--peers` on
    /// `threads` threads: [`Input::of`], [`Clock::for_threads`].
    fn standard(name: Name, threads: usize, warm: bool, evictor: &'e Evictor) -> Self {
        let clock = Clock::for_threads(threads);
        match Input::of(name, warm) {
            Input::Cold => Conditions {
                cold: Some(evictor),
                looped: false,
                clock,
            },
            Input::Warm => Conditions {
                cold: None,
                looped: true,
                clock,
            },
        }
    }

    /// Back to back, warm, looped when short: `--sweep`, whose point is
    /// the caches a bitset fits in.
    fn warm() -> Self {
        Conditions {
            cold: None,
            looped: true,
            clock: Clock::for_threads(1),
        }
    }
}

/// Empties the caches before a cold sample: reads a buffer of twice the
/// last-level cache (at least 64 MiB), a load per line.
struct Evictor(Vec<u64>);

impl Evictor {
    fn new() -> Self {
        let last_level = sweep::caches()
            .and_then(|caches| caches.last().map(|c| c.bytes))
            .unwrap_or(0);
        let bytes = (2 * last_level).max(64 << 20) as usize;
        // Written once, so that its pages are there before any sample.
        Evictor(vec![1; bytes / 8])
    }

    fn evict(&self) {
        let mut sum = 0u64;
        for line in std::hint::black_box(&self.0).chunks(8) {
            sum = sum.wrapping_add(line[0]);
        }
        std::hint::black_box(sum);
    }
}

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
    let selected: Vec<Name> = Name::ALL
        .into_iter()
        .filter(|n| args.only.is_empty() || args.only.contains(n))
        .collect();
    // memcpy runs first whenever a codec workload or a pass runs: their
    // fraction needs it.
    let needs_memcpy = selected.iter().any(|n| n.is_codec() || n.is_pass());
    let mut order: Vec<Name> = Vec::new();
    if needs_memcpy || selected.contains(&Name::Memcpy) {
        order.push(Name::Memcpy);
    }
    order.extend(selected.iter().copied().filter(|&n| n != Name::Memcpy));

    let kernels = freeset::kernels::active().name();
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    // Pinned pools: see `workloads::pinned_pool`.
    let pool = workloads::pinned_pool;
    let (one, many) = (pool(1), pool(threads));
    if !args.json {
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
    // A flamegraph that could not be written: the figures are still
    // printed, and the exit code says usage (`crate::exit`).
    let mut unwritten = false;
    for &name in &order {
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

/// The kernels in use and the CPU features the dispatch saw.
fn machine() -> String {
    let features: Vec<&str> = freeset::kernels::cpu_features()
        .into_iter()
        .filter(|&(_, has)| has)
        .map(|(name, _)| name)
        .collect();
    format!(
        "kernels {}; CPU features {}",
        freeset::kernels::active().name(),
        features.join(" ")
    )
}

/// A progress bar (on stderr) for `steps` measurements of `reps` repetitions:
/// one tick to prepare, one for the warm-up, one per repetition.
fn progress_bar(steps: u64, reps: u32) -> ProgressBar {
    let progress = ProgressBar::new(steps * u64::from(reps + 2));
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    progress
}

/// Times `reps` repetitions after one warm-up and returns the figures in the
/// workload's unit.
fn measure(
    workload: &mut dyn Workload,
    reps: u32,
    conditions: Conditions,
    progress: &ProgressBar,
) -> Figures {
    let loops = warm_up(workload, conditions);
    progress.inc(1);
    let values = (0..reps)
        .map(|_| {
            let value = sample(workload, loops, conditions);
            progress.inc(1);
            value
        })
        .collect();
    figures(values)
}

/// A codec workload on the current pool of N threads, two ways, their
/// repetitions alternated (see [`measure_interleaved`]) so that a change of
/// the machine's speed lands on both: the parallel call (`workload`), and
/// the same bits cut into N sets opened or encoded by one thread each, all
/// at once (`workloads::prepare_split` of `whole`, the workload's fill: what
/// the machine gives independent calls). The one-thread row is measured
/// alone, as before: alternated with the others too, each of its samples
/// started on caches the others had filled, and it ran slower (the
/// figures are in perf/notes.md), which would have inflated every speed-up.
fn measure_split(
    name: Name,
    workload: Box<dyn Workload>,
    whole: &Fill,
    reps: u32,
    conditions: Conditions,
    progress: &ProgressBar,
) -> (Box<dyn Workload>, Vec<Row>) {
    let threads = rayon::current_num_threads();
    let split = workloads::prepare_split(name, whole, threads).expect("a codec workload");
    let mut pair = [workload, split];
    let figures = measure_interleaved(&mut pair, reps, conditions, progress);
    let [workload, _] = pair;
    let rows = figures
        .into_iter()
        .zip([false, true])
        .map(|(figures, split)| Row {
            name,
            threads,
            split,
            figures,
            input: if conditions.cold.is_some() {
                Input::Cold
            } else {
                Input::Warm
            },
            clock: conditions.clock,
        })
        .collect();
    (workload, rows)
}

/// [`measure`] for several workloads whose figures are compared with each
/// other (`--peers`): after each one's warm-up, repetition `i` of every
/// workload runs before repetition `i + 1` of any, so that a burst of load
/// from elsewhere on the machine lands on all of them rather than on the
/// one that happened to be running.
fn measure_interleaved(
    workloads: &mut [Box<dyn Workload>],
    reps: u32,
    conditions: Conditions,
    progress: &ProgressBar,
) -> Vec<Figures> {
    let loops: Vec<u64> = workloads
        .iter_mut()
        .map(|w| {
            let loops = warm_up(w.as_mut(), conditions);
            progress.inc(1);
            loops
        })
        .collect();
    let mut values = vec![Vec::new(); workloads.len()];
    for _ in 0..reps {
        for ((workload, &loops), values) in workloads.iter_mut().zip(&loops).zip(&mut values) {
            values.push(sample(workload.as_mut(), loops, conditions));
            progress.inc(1);
        }
    }
    values.into_iter().map(figures).collect()
}

/// Rearms the workload and runs it to warm up (a codec workload
/// [`CODEC_WARM_UP_CALLS`] times); for a looped body ([`Input::Warm`]),
/// also finds how many runs make a sample long enough for the clock
/// (doubling until one lasts [`SAMPLE_MIN`]). Returns the runs per sample.
fn warm_up(workload: &mut dyn Workload, conditions: Conditions) -> u64 {
    let name = workload.name();
    if name.is_codec() {
        for _ in 1..CODEC_WARM_UP_CALLS {
            workload.rearm();
            workload.run();
        }
    }
    // An earlier measurement (on another pool) may have left the state spent.
    workload.rearm();
    let mut loops = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..loops {
            workload.run();
        }
        let looped = conditions.looped && workload.repeatable();
        if !looped || start.elapsed() >= SAMPLE_MIN {
            return loops;
        }
        debug_assert!(workload.repeatable(), "a looped body runs again");
        loops *= 2;
    }
}

/// One repetition of `loops` runs (rearmed first, outside the clock, when
/// the body needs it; a cold one after the caches were emptied), in the
/// workload's unit.
fn sample(workload: &mut dyn Workload, loops: u64, conditions: Conditions) -> f64 {
    if !workload.repeatable() {
        workload.rearm();
    }
    if let Some(evictor) = conditions.cold {
        evictor.evict();
    }
    let cpu_start = thread_cpu_nanos();
    let start = Instant::now();
    let mut units = 0;
    for _ in 0..loops {
        units += workload.run();
    }
    let wall = start.elapsed().as_nanos() as f64;
    let nanos = match (conditions.clock, cpu_start, thread_cpu_nanos()) {
        (Clock::Cpu, Some(from), Some(to)) => to.saturating_sub(from).max(1) as f64,
        _ => wall,
    };
    match workload.name().unit() {
        Unit::NsPerOp => nanos / units as f64,
        Unit::GBps => units as f64 / nanos,
    }
}

/// Median, min and max of the repetitions.
fn figures(mut values: Vec<f64>) -> Figures {
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
    // The reference's figures were published from another run on another
    // machine: shown as they are, for orientation, and never divided by ours
    // (same-run ratios are `--peers`).
    println!(
        "{:<20} {:>7} {:>9} {:>6} {:>27} {:>5} {:>5} {:>7} {:>10} {:>22}",
        "workload",
        "threads",
        "median",
        "unit",
        "min-max",
        "input",
        "clock",
        "memcpy",
        "vs 1 thr.",
        "reference (other run)"
    );
    for row in rows {
        let (name, f) = (row.name, &row.figures);
        let unit = name.unit();
        let fraction = row
            .memcpy_fraction(rows)
            .map_or(String::new(), |x| format!("{:.0}%", 100.0 * x));
        let threads = if row.split {
            format!("{} split", row.threads)
        } else {
            row.threads.to_string()
        };
        let versus_one = match row.one_thread(rows) {
            Some(one) if row.threads > 1 => {
                let speedup = match unit {
                    Unit::NsPerOp => one.figures.median / f.median,
                    Unit::GBps => f.median / one.figures.median,
                };
                format!("{speedup:.2}x")
            }
            _ => String::new(),
        };
        let reference = match name.reference() {
            Some(reference) if !quick && name != Name::Memcpy => show(unit, reference),
            _ => String::new(),
        };
        let median = match unit {
            Unit::NsPerOp => format!("{:.1}", f.median),
            Unit::GBps => format!("{:.2}", f.median),
        };
        println!(
            "{:<20} {:>7} {:>9} {:>6} {:>27} {:>5} {:>5} {:>7} {:>10} {:>22}",
            name.as_str(),
            threads,
            median,
            unit.as_str(),
            format!("{} - {}", show(unit, f.min), show(unit, f.max)),
            row.input.as_str(),
            row.clock.as_str(),
            fraction,
            versus_one,
            reference
        );
    }
    println!("input: cold = the caches emptied before each timed run (one run per sample); warm = a short body looped, each run finding what the last left");
    println!("clock: cpu = the time the measuring thread ran (what other processes take of its core is not counted); wall = the time that passed (rows of several threads)");
    if rows.iter().any(|row| row.split) {
        println!(
            "split: the same bits cut into one set per thread, each encoded or opened by the sequential codec on its own thread, all at once (alternated with the row above): what this machine gives independent calls, the yardstick for a parallel call"
        );
    }
    if !quick {
        println!(
            "reference: the reference implementation's published figure (docs/workloads.md, another machine); not a same-run comparison"
        );
    }
}

fn json_line(row: &Row, rows: &[Row], kernels: &str, sizes: Sizes) -> String {
    let (name, f) = (row.name, &row.figures);
    let blocks = name.blocks(sizes);
    let mut line = format!(
        r#"{{"workload":"{}","unit":"{}","median":{},"min":{},"max":{}"#,
        name.as_str(),
        name.unit().as_str(),
        f.median,
        f.min,
        f.max
    );
    if name.is_codec() || name.is_pass() {
        let fraction = row
            .memcpy_fraction(rows)
            .map_or("null".to_string(), |x| x.to_string());
        line += &format!(r#","memcpy_fraction":{fraction}"#);
    }
    line += &format!(
        r#","threads":{},"split":{},"input":"{}","clock":"{}","kernels":"{kernels}","blocks":{blocks}}}"#,
        row.threads,
        row.split,
        row.input.as_str(),
        row.clock.as_str()
    );
    line
}

/// One measured line of `--peers`: an implementation on a workload.
struct PeerRow {
    name: Name,
    /// `freeset` or the peer's name (`Kind::as_str`).
    implementation: &'static str,
    figures: Figures,
    /// Bytes of both encoded bitmaps, for the codec workloads.
    encoded: Option<u64>,
}

/// `freeset bench --peers`: each peer workload for `freeset` and for every
/// peer that takes part, all on one pinned thread (the codec too: the peers
/// have no parallel codec), from the same fill, their repetitions
/// interleaved (`measure_interleaved`).
fn run_peers(args: &Args, sizes: Sizes) -> ExitCode {
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
        let fill = Arc::new(workloads::fill(name, sizes, workloads::SEED).expect("a fill"));
        // freeset's row: the standard workload, which draws the same fill.
        let encoded = name.is_codec().then(|| {
            let set = workloads::set_of(Fill::clone(&fill));
            let size = |bitset| set.encoded_size(bitset).expect("durable, no reservation");
            size(Bitset::Acquired) + size(Bitset::Released)
        });
        let mut group: Vec<(&'static str, Option<u64>, Box<dyn Workload>)> = vec![(
            "freeset",
            encoded,
            workloads::prepare(name, sizes, workloads::SEED),
        )];
        progress.inc(1);
        for kind in Kind::ALL.into_iter().filter(|k| k.takes_part(name)) {
            let mut workload = PeerWorkload::new(name, kind, Arc::clone(&fill));
            if let Err(e) = workload.check() {
                // A peer that disagrees with freeset: a check failed.
                progress.finish_and_clear();
                return Failure::Check(e.to_string()).report();
            }
            group.push((kind.as_str(), workload.encoded_len(), Box::new(workload)));
            progress.inc(1);
        }
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

/// freeset's row of `name` against the best of its peers.
fn versus_best(name: Name, rows: &[PeerRow]) -> Option<Versus> {
    let of_name = || rows.iter().filter(move |r| r.name == name);
    let freeset = of_name().find(|r| r.implementation == "freeset")?;
    let peers: Vec<(&str, f64)> = of_name()
        .filter(|r| r.implementation != "freeset")
        .map(|r| (r.implementation, r.figures.median))
        .collect();
    Versus::best_of(name.unit(), freeset.figures.median, &peers)
}

/// Encoded sizes in binary units.
fn show_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.2} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} B"),
    }
}

fn print_peer_table(rows: &[PeerRow], warm: bool) {
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

fn peer_json_line(row: &PeerRow, rows: &[PeerRow], sizes: Sizes, warm: bool) -> String {
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

/// Three significant digits: per-block costs span orders of magnitude,
/// from the codec's (64 blocks a word, many words a vector) to an
/// acquire's (one block).
fn significant(value: f64) -> String {
    let decimals = if value > 0.0 {
        (2 - value.log10().floor() as i32).max(0) as usize
    } else {
        0
    };
    format!("{value:.decimals$}")
}

/// One measured line of `--sweep`.
struct SweepRow {
    name: Name,
    blocks: u64,
    figures: Figures,
}

impl SweepRow {
    /// Bytes of one bitset.
    fn bitset_bytes(&self) -> u64 {
        self.blocks / 8
    }

    /// Nanoseconds per block of a figure in this workload's unit: an
    /// acquire takes one block; a GB/s figure is bytes of one bitset (8
    /// blocks each) per nanosecond.
    fn ns_per_block(&self, figure: f64) -> f64 {
        match self.name.unit() {
            Unit::NsPerOp => figure,
            Unit::GBps => 1.0 / (8.0 * figure),
        }
    }
}

/// `freeset bench --sweep`: acquire, encode and open at each size of
/// `sweep::blocks`, on one pinned thread; one workload prepared at a time, so
/// that at most one set of the largest size (and its copy) is in memory.
fn run_sweep(args: &Args) -> ExitCode {
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
    let fits = |row: &SweepRow| sweep::fits(row.bitset_bytes(), caches.as_deref());
    if args.json {
        for row in &rows {
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
        return ExitCode::SUCCESS;
    }
    println!();
    println!("ns/block: the median time per block (acquire: per acquire; encode, open: per block of one bitset); GB/s: one bitset's bytes per second.");
    println!("fits in: the smallest cache one bitset fits in; the workload touches more than one bitset, so at a cache's exact size it already spills.");
    println!();
    println!(
        "{:<14} {:>6} {:>9} {:<15} {:>9} {:>8} {:>21}",
        "workload", "blocks", "bitset", "fits in", "ns/block", "GB/s", "ns/block min-max"
    );
    let mut last = None;
    for row in &rows {
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
    ExitCode::SUCCESS
}
