//! Timing one workload: warm-up, samples long enough for the clock, the
//! median and spread of the repetitions, splits and interleaved peers, and
//! the flamegraph of `--flamegraph`.

use std::time::{Duration, Instant};

use freeset_cli::workloads::{self, Fill, Name, Unit, Workload};
use indicatif::{ProgressBar, ProgressStyle};

use super::conditions::*;
use super::table::*;

/// The shortest sample worth timing for repeatable bodies.
pub(super) const SAMPLE_MIN: Duration = Duration::from_millis(20);

/// Calls of a codec workload in its warm-up: enough for the default
/// `Parallelism` to have measured both of its paths and kept one (its first
/// six calls of each size try them: see `freeset::Parallelism`), so that
/// the timed calls all take the kept path.
pub(super) const CODEC_WARM_UP_CALLS: u32 = 10;

/// A progress bar (on stderr) for `steps` measurements of `reps` repetitions:
/// one tick to prepare, one for the warm-up, one per repetition.
pub(super) fn progress_bar(steps: u64, reps: u32) -> ProgressBar {
    let progress = ProgressBar::new(steps * u64::from(reps + 2));
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    progress
}

/// Times `reps` repetitions after one warm-up and returns the figures in the
/// workload's unit.
pub(super) fn measure(
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
pub(super) fn measure_split(
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
pub(super) fn measure_interleaved(
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
pub(super) fn warm_up(workload: &mut dyn Workload, conditions: Conditions) -> u64 {
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
pub(super) fn sample(workload: &mut dyn Workload, loops: u64, conditions: Conditions) -> f64 {
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

/// How long a workload runs under the profiler: about a thousand samples.
pub(super) const PROFILE_MIN: Duration = Duration::from_secs(1);

/// Runs the workload under the sampling profiler for at least PROFILE_MIN and
/// writes a flamegraph. `rearm` runs under the profiler too: its frames
/// (`clone_from`, `reset`) are not part of the timed body.
pub(super) fn profile(workload: &mut dyn Workload, path: &std::path::Path) -> Result<(), String> {
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
pub(super) type Profiler = Option<pprof::ProfilerGuard<'static>>;

/// Stands in for the profiler in builds without it.
#[cfg(not(feature = "flamegraph"))]
pub(super) struct Profiler;

#[cfg(feature = "flamegraph")]
pub(super) fn start_profiler() -> Profiler {
    pprof::ProfilerGuardBuilder::default()
        .frequency(997)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| eprintln!("warning: no profiler: {e}"))
        .ok()
}

#[cfg(not(feature = "flamegraph"))]
pub(super) fn start_profiler() -> Profiler {
    Profiler
}

#[cfg(feature = "flamegraph")]
pub(super) fn write_flamegraph(profiler: Profiler, path: &std::path::Path) -> Result<(), String> {
    let guard = profiler.ok_or("the profiler did not start")?;
    let report = guard.report().build().map_err(|e| e.to_string())?;
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    report.flamegraph(file).map_err(|e| e.to_string())
}

#[cfg(not(feature = "flamegraph"))]
pub(super) fn write_flamegraph(_profiler: Profiler, _path: &std::path::Path) -> Result<(), String> {
    Err("built without the flamegraph feature".into())
}
