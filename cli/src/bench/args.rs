//! The flags of `freeset bench` and their bounds. The bottom of `bench/`.

use std::path::PathBuf;

use freeset_cli::workloads::Name;

/// The most repetitions `--reps` takes: each keeps a figure, and a
/// benchmark of more is no better measured.
pub(super) const REPS_MAX: u32 = 10_000;

/// The most threads `--threads` takes: each is a thread of a pool made for
/// the run (and, for the split rows, a set of its own).
pub(super) const THREADS_MAX: u32 = 1024;

/// Options of `freeset bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Smaller sizes (S = 2^20, L = 2^23 blocks) for a first look.
    #[arg(long)]
    pub(super) quick: bool,
    /// Run only these workloads (names as in docs/workloads.md).
    #[arg(long, num_args = 1.., value_name = "NAME")]
    pub(super) only: Vec<Name>,
    /// One JSON object per workload per line instead of the table.
    #[arg(long)]
    pub(super) json: bool,
    /// Repetitions per workload (5 to 10000); the median is reported.
    #[arg(long, default_value_t = 7,
          value_parser = clap::value_parser!(u32).range(5..=i64::from(REPS_MAX)))]
    pub(super) reps: u32,
    /// Write one flamegraph SVG per workload into DIR (needs `--features flamegraph`).
    #[arg(long, value_name = "DIR")]
    pub(super) flamegraph: Option<PathBuf>,
    /// Threads for the codec workloads and memcpy (default: all cores; at
    /// most 1024). With more than one, they also run on one thread, for the
    /// speed-up.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(THREADS_MAX)))]
    pub(super) threads: Option<u32>,
    /// Measure freeset and its peers (a hand-written cursor bitset, roaring,
    /// croaring) on the same workloads and fills, on one thread, in this run;
    /// the table gives freeset's ratio to the best peer.
    #[arg(long, conflicts_with_all = ["sweep", "threads", "flamegraph"])]
    pub(super) peers: bool,
    /// Measure acquire, encode and open (random fill, one thread) at 2^20,
    /// 2^22, ..., 2^30 blocks: the cost per block as the bitsets leave each
    /// cache level. With --quick, up to 2^24.
    #[arg(long, conflicts_with_all = ["threads", "flamegraph", "only"])]
    pub(super) sweep: bool,
    /// Warm input for every row: no cache emptying before a sample, so each
    /// run finds what the last one (or the workload before) left, as
    /// before the cold default. For a second look, never mixed with cold
    /// rows in one table.
    #[arg(long, conflicts_with = "sweep")]
    pub(super) warm: bool,
}
