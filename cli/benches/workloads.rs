//! The standard workloads (`docs/workloads.md`) under criterion:
//! `cargo bench -p freeset-cli --bench workloads`.
//!
//! The same bodies as `freeset bench` (both come from `freeset_cli::workloads`),
//! timed by criterion's statistics instead. Only `run` is timed: `rearm`
//! happens outside the clock. Bodies of a few nanoseconds (`count_free`,
//! `highest_*`) are timed in whole batches, as `freeset bench` times them, so
//! that the two agree: one clock read costs about as much as such a body.
//! Throughput is set from the units one run does, so criterion prints GB/s
//! (of one bitset) for the codec and `memcpy`, and operations per second for
//! the others. The codec workloads and `memcpy` run on one thread and on all
//! cores (`threads=N` in the id); the rest on one.
//!
//! Standard sizes by default; `FREESET_BENCH_SIZES=quick` for the small ones.
//! `FREESET_KERNELS=scalar` (or `wide`, `avx2`, `avx512`) forces a kernel tier.
//! Criterion reports but never fails on a slowdown: the gate is the
//! instruction count (`cli/benches/instructions.rs`, `perf/gate`).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use freeset_cli::workloads::{self, Name, Sizes, Unit, Workload};

fn sizes() -> Sizes {
    match std::env::var("FREESET_BENCH_SIZES").as_deref() {
        Ok("quick") => Sizes::QUICK,
        _ => Sizes::STANDARD,
    }
}

/// Total time of `iters` runs, for criterion's `iter_custom`.
///
/// A repeatable body (one that needs no rearm: the queries, `reserve_100k`,
/// encode, `memcpy`) is timed as one batch of `iters` runs between two
/// clock reads: timing each call alone would add the clock's own cost (tens
/// of nanoseconds) to bodies of a few. A body that needs a rearm (acquire,
/// checkpoint, open) is timed run by run with the rearm outside the clock;
/// those bodies last from a hundred microseconds to tens of milliseconds,
/// where two clock reads per run are lost in the noise.
fn time_runs(workload: &mut dyn Workload, iters: u64) -> Duration {
    if workload.repeatable() {
        let start = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(workload.run());
        }
        return start.elapsed();
    }
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        workload.rearm();
        let start = Instant::now();
        std::hint::black_box(workload.run());
        total += start.elapsed();
    }
    total
}

fn standard_workloads(c: &mut Criterion) {
    freeset_cli::force_kernels_from_env().expect("FREESET_KERNELS names a tier");
    let sizes = sizes();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut group = c.benchmark_group("workloads");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for name in Name::ALL {
        let mut workload = workloads::prepare(name, sizes, workloads::SEED);
        // One run to learn the units of work (the same in every run).
        let units = workload.run();
        workload.rearm();
        group.throughput(match name.unit() {
            Unit::GBps => Throughput::Bytes(units),
            Unit::NsPerOp => Throughput::Elements(units),
        });
        let mut threads = vec![1];
        if cores > 1 && name.is_threaded() {
            threads.push(cores);
        }
        for threads in threads {
            // Pinned one per core, as in `freeset bench`.
            let pool = workloads::pinned_pool(threads);
            let id = BenchmarkId::new(name.as_str(), format!("threads={threads}"));
            group.bench_function(id, |b| {
                b.iter_custom(|iters| pool.install(|| time_runs(workload.as_mut(), iters)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, standard_workloads);
criterion_main!(benches);
