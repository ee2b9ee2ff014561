//! The conditions every figure is measured in: the input cold or warm
//! ([`Input`]), the clock ([`Clock`], the thread's CPU time where the
//! system has it), and the allocator settled before a run.

use std::hint::black_box;

use freeset_cli::sweep;
use freeset_cli::workloads::Name;

/// What a sample's body finds in the caches when its clock starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Input {
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
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Input::Cold => "cold",
            Input::Warm => "warm",
        }
    }

    /// The input `name`'s samples start from: cold unless the body is short
    /// and looped, or `--warm` asked for warm input everywhere.
    pub(super) fn of(name: Name, warm: bool) -> Input {
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
pub(super) fn settle_allocator() {
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
pub(super) const HEAP_WARM_BYTES: usize = 512 << 20;

/// The blocks [`settle_allocator`] writes: the size of a bitset of L.
pub(super) const BLOCK_BYTES: usize = 16 << 20;

/// What a sample's time is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Clock {
    /// The CPU time of the thread that measures (it runs the body): the
    /// time it ran, not the time other processes ran on its core. Every
    /// figure of one thread.
    Cpu,
    /// The time that passed: figures of several threads, whose speed-up is
    /// the point.
    Wall,
}

impl Clock {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Clock::Cpu => "cpu",
            Clock::Wall => "wall",
        }
    }

    /// The clock of a row on `threads` threads: the CPU time for one, where
    /// the system gives it ([`thread_cpu_nanos`]).
    pub(super) fn for_threads(threads: usize) -> Clock {
        if threads == 1 && thread_cpu_nanos().is_some() {
            Clock::Cpu
        } else {
            Clock::Wall
        }
    }
}

/// The CPU time this thread has run, in nanoseconds; `None` where the
/// bench cannot read it (not 64-bit Linux).
pub(super) fn thread_cpu_nanos() -> Option<u64> {
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
pub(super) struct Conditions<'e> {
    /// Empty the caches before each sample ([`Input::Cold`]).
    pub(super) cold: Option<&'e Evictor>,
    /// Loop a repeatable body until a sample lasts [`SAMPLE_MIN`](super::measure::SAMPLE_MIN); else one
    /// run per sample.
    pub(super) looped: bool,
    pub(super) clock: Clock,
}

impl<'e> Conditions<'e> {
    /// The conditions of `name` in `freeset bench` and `--peers` on
    /// `threads` threads: [`Input::of`], [`Clock::for_threads`].
    pub(super) fn standard(name: Name, threads: usize, warm: bool, evictor: &'e Evictor) -> Self {
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
    pub(super) fn warm() -> Self {
        Conditions {
            cold: None,
            looped: true,
            clock: Clock::for_threads(1),
        }
    }
}

/// Empties the caches before a cold sample: reads a buffer of twice the
/// last-level cache (at least 64 MiB), a load per line.
pub(super) struct Evictor(Vec<u64>);

impl Evictor {
    pub(super) fn new() -> Self {
        let last_level = sweep::caches()
            .and_then(|caches| caches.last().map(|c| c.bytes))
            .unwrap_or(0);
        let bytes = (2 * last_level).max(64 << 20) as usize;
        // Written once, so that its pages are there before any sample.
        Evictor(vec![1; bytes / 8])
    }

    pub(super) fn evict(&self) {
        let mut sum = 0u64;
        for line in std::hint::black_box(&self.0).chunks(8) {
            sum = sum.wrapping_add(line[0]);
        }
        std::hint::black_box(sum);
    }
}
