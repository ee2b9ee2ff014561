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
//! `FREESET_KERNELS=scalar cargo bench --bench instructions` counts a forced
//! tier (each benchmark's setup calls `freeset::kernels::force`). Run with
//! `cargo bench --bench instructions` (needs valgrind and
//! `iai-callgrind-runner` 0.16.1; see `perf/README.md`).

use std::hint::black_box;

use freeset::kernels::Tier;
use freeset_cli::workloads::{self, Name, Sizes, Workload};
use iai_callgrind::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};

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

fn prepared(name: Name) -> Box<dyn Workload> {
    force_kernels_from_env();
    workloads::prepare(name, Sizes::CALLGRIND, workloads::SEED)
}

// The timed body, once. The workload is handed back so that dropping its
// buffers is not counted.
#[library_benchmark]
#[bench::acquire_fill(prepared(Name::AcquireFill))]
#[bench::acquire_fragmented(prepared(Name::AcquireFragmented))]
#[bench::reserve_100k(prepared(Name::Reserve100k))]
#[bench::checkpoint_10pct(prepared(Name::Checkpoint10pct))]
#[bench::encode_runs(prepared(Name::EncodeRuns))]
#[bench::encode_random(prepared(Name::EncodeRandom))]
#[bench::open_runs(prepared(Name::OpenRuns))]
#[bench::open_random(prepared(Name::OpenRandom))]
#[bench::count_free(prepared(Name::CountFree))]
#[bench::highest_acquired(prepared(Name::HighestAcquired))]
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
