//! The standard workloads under criterion: `cargo bench --bench workloads`.
//!
//! The same bodies as `freeset bench` (both come from `freeset_cli::workloads`),
//! timed by criterion's statistics instead. Only `run` is timed: `rearm`
//! happens outside the clock. Throughput is set from the units one run does,
//! so criterion prints GB/s (of one bitset) for the codec and `memcpy`, and
//! operations per second for the others. The codec workloads and `memcpy` run
//! on one thread and on all cores (`threads=N` in the id); the rest on one.
//!
//! Standard sizes by default; `FREESET_BENCH_SIZES=quick` for the small ones.
//! `FREESET_KERNELS=scalar` (or `wide`, `avx2`, `avx512`) forces a kernel tier.
//! Criterion reports but never fails on a slowdown: the gate is the
//! instruction count (`benches/instructions.rs`, `perf/gate`).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use freeset::kernels::Tier;
use freeset_cli::workloads::{self, Name, Sizes, Unit, Workload};

fn sizes() -> Sizes {
    match std::env::var("FREESET_BENCH_SIZES").as_deref() {
        Ok("quick") => Sizes::QUICK,
        _ => Sizes::STANDARD,
    }
}

/// Forces the kernel tier that `FREESET_KERNELS` names, if it is set (the
/// library reads no environment variable). A tier this CPU cannot run falls
/// back to the next one below it that it can, with a note on stderr; as in
/// `freeset bench`.
fn force_kernels_from_env() {
    let value = std::env::var("FREESET_KERNELS").unwrap_or_default();
    if value.is_empty() {
        return;
    }
    let wanted: Tier = value
        .parse()
        .unwrap_or_else(|e| panic!("FREESET_KERNELS: {e}"));
    let fastest_first = [Tier::Avx512, Tier::Avx2, Tier::Wide, Tier::Scalar];
    let forced = fastest_first
        .into_iter()
        .skip_while(|&tier| tier != wanted)
        .find(|&tier| freeset::kernels::force(tier).is_ok());
    if let Some(tier) = forced.filter(|&tier| tier != wanted) {
        eprintln!(
            "note: FREESET_KERNELS={value}: the CPU cannot run the {wanted} kernels, using {tier}"
        );
    }
}

/// Total time of `iters` runs, each from a rearmed state when it must be.
fn time_runs(workload: &mut dyn Workload, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        if !workload.repeatable() {
            workload.rearm();
        }
        let start = Instant::now();
        std::hint::black_box(workload.run());
        total += start.elapsed();
    }
    total
}

fn standard_workloads(c: &mut Criterion) {
    force_kernels_from_env();
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
        if cores > 1 && (name.is_codec() || name == Name::Memcpy) {
            threads.push(cores);
        }
        for threads in threads {
            // Pinned one per core, as in `freeset bench`.
            let pool = workloads::pinned_pool(threads);
            let id = BenchmarkId::new(name.as_str(), format!("threads={threads}"));
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    workload.rearm();
                    pool.install(|| time_runs(workload.as_mut(), iters))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, standard_workloads);
criterion_main!(benches);
