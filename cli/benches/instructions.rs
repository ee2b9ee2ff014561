//! Instruction counts of the standard workloads under callgrind, at
//! `Sizes::CALLGRIND` (2^20 blocks): the measure CI gates on (`perf/gate`),
//! because unlike time it repeats exactly from run to run.
//!
//! Each benchmark gets a freshly prepared workload from its setup expression,
//! which callgrind does not count, and runs its timed body once. Valgrind has
//! no AVX-512, so the runtime dispatch picks the `avx2` kernels here. At these
//! sizes the codec stays below the parallel thresholds: one thread, and the
//! counts do not depend on the machine's cores.
//!
//! `FREESET_KERNELS=scalar cargo bench -p freeset-cli --bench instructions`
//! counts a forced tier (each benchmark's setup calls
//! `freeset::kernels::force`). Run with `cargo bench -p freeset-cli --bench
//! instructions` (needs valgrind and `iai-callgrind-runner` 0.16.1; see
//! `perf/README.md`). The workloads are `docs/workloads.md`.

use std::hint::black_box;

use freeset_cli::workloads::{self, Name, Sizes, Workload};
use iai_callgrind::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};

fn prepared(name: Name) -> Box<dyn Workload> {
    freeset_cli::force_kernels_from_env().expect("FREESET_KERNELS names a tier");
    workloads::prepare(name, Sizes::CALLGRIND, workloads::SEED)
}

// The timed body, once. The workload is handed back so that dropping its
// buffers is not counted.
#[library_benchmark]
#[bench::acquire_fill(prepared(Name::AcquireFill))]
#[bench::acquire_fragmented(prepared(Name::AcquireFragmented))]
#[bench::acquire_interleaved(prepared(Name::AcquireInterleaved))]
#[bench::reserve_100k(prepared(Name::Reserve100k))]
#[bench::checkpoint_10pct(prepared(Name::Checkpoint10pct))]
#[bench::encode_runs(prepared(Name::EncodeRuns))]
#[bench::encode_random(prepared(Name::EncodeRandom))]
#[bench::open_runs(prepared(Name::OpenRuns))]
#[bench::open_random(prepared(Name::OpenRandom))]
#[bench::count_free(prepared(Name::CountFree))]
#[bench::highest_acquired(prepared(Name::HighestAcquired))]
#[bench::stats(prepared(Name::Stats))]
#[bench::acquire_extent(prepared(Name::AcquireExtent))]
fn workload(mut workload: Box<dyn Workload>) -> Box<dyn Workload> {
    black_box(workload.run());
    workload
}

library_benchmark_group!(name = standard; benchmarks = workload);

// `FREESET_KERNELS` reaches the benchmark (callgrind runs it with a cleared
// environment otherwise), so a tier can be counted on purpose; `perf/gate`
// unsets it, so the gate counts the tier the dispatch picks.
main!(
    config = LibraryBenchmarkConfig::default().pass_through_env("FREESET_KERNELS");
    library_benchmark_groups = standard
);
