//! Where `encode`, `decode` and `open` of large inputs run: on this thread,
//! on the current rayon pool, or on a pool the caller gives. Chosen per call,
//! never process-wide, so that one engine's choice cannot change another's.
//!
//! Above the thresholds, the default also asks whether two threads pay on
//! this machine at all ([`Choice`]): the first calls of each size try both
//! ways, and the faster is kept from then on.
//!
//! What must never happen here: a choice that changes the bytes or the errors.
//! The parallel codec is byte for byte (and error for error) the sequential
//! one; this value only decides which code runs and where.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

use rayon::ThreadPool;

/// Inputs below this many words (2 MiB) are encoded on the calling thread
/// (unless [`Parallelism::min_words`] says otherwise).
///
/// Handing work to a second thread has a fixed cost: waking it (a VM's idle
/// vCPU halts) and the parallel encoder's own bookkeeping. The threshold
/// puts the smallest parallel encoding at several times that cost in
/// sequential work, so that it pays wherever waking a thread is cheaper
/// too. Measured on a 2-vCPU VM (a pinned 2-thread pool against one
/// thread, the `runs` and `random(0.5)` fills, the pool idle before each
/// call as between two checkpoints, and calls back to back): below 2^18
/// words two threads lost; at 2^18 the `random` fill gained and the `runs`
/// fill broke even; from 2^19 both gained. The figures are in
/// `perf/notes.md`.
pub const PARALLEL_ENCODE_MIN_WORDS: usize = 1 << 18;

/// Targets below this many words (4 MiB) are decoded (and opened) on the
/// calling thread (unless [`Parallelism::min_words`] says otherwise).
///
/// The marker pass is sequential and comes on top of the expansion, so
/// decoding needs larger inputs than encoding before a second thread pays.
/// Measured as [`PARALLEL_ENCODE_MIN_WORDS`] (`decode_into` and
/// `FreeSet::open`): at 2^18 words two threads could lose (the `runs` fill
/// lost in every run), from 2^19 they gained (`perf/notes.md`).
pub const PARALLEL_DECODE_MIN_WORDS: usize = 1 << 19;

/// Shards below which `open` derives the summaries and the index from the
/// shard counts on the calling thread. The derive is cheap per shard: on 2
/// threads the pool paid from 2^18 shards (2^30 blocks) and lost below
/// (2^15 shards, 2^27 blocks; `perf/notes.md`).
const PARALLEL_DERIVE_MIN_SHARDS: usize = 1 << 18;

/// Segments per thread: a few, so that an unlucky segment (all fills, or all
/// literals) does not leave the other threads idle.
const SEGMENTS_PER_THREAD: usize = 4;

/// Where a codec call runs. The default is the current rayon pool (the
/// global one, or the one whose `install` the call is inside) for inputs
/// above the measured thresholds, and the calling thread below them.
///
/// Above the thresholds the default (and [`Parallelism::pool`]) also checks
/// that the pool pays on this machine: for each kind of call (encoding,
/// decoding) and size (the power of two of its words), the first three
/// calls run on the calling thread and the next three on the pool, each
/// timed; from then on that kind and size stays on the pool only if the
/// pool's best call was at least 5% faster (in time per word) than the best
/// sequential one, and otherwise runs on the calling thread. A pool of
/// another thread count measures again. [`Parallelism::min_words`] (and
/// [`Parallelism::SEQUENTIAL`]) skip the check: the caller decided. The
/// bytes and the errors never depend on it.
///
/// ```
/// use freeset::{ewah, Parallelism};
///
/// let words: Vec<u64> = (0..100_000u64).map(|i| i % 3).collect();
/// let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
/// let on_pool = ewah::encode_with(&words, Parallelism::pool(&pool));
/// let here = ewah::encode_with(&words, Parallelism::SEQUENTIAL);
/// assert_eq!(on_pool, here); // the same bytes, wherever they were made
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Parallelism<'p> {
    pool: Pool<'p>,
    /// Overrides every threshold.
    min_words: Option<usize>,
}

#[derive(Debug, Clone, Copy, Default)]
enum Pool<'p> {
    /// The calling thread only: rayon is never touched.
    Sequential,
    /// `rayon::current_num_threads()` and `rayon::scope` as they are.
    #[default]
    Current,
    /// The caller's pool: the work is `install`ed there.
    Given(&'p ThreadPool),
}

/// What the pool would be used for: the thresholds differ.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work {
    /// Encoding, counted in input words.
    Encode,
    /// Decoding (and the passes of `open` and `rebuild` that read every
    /// word), counted in target words.
    Decode,
    /// `open`'s derive from the shard counts, counted in shards.
    DeriveFromCounts,
}

impl<'p> Parallelism<'p> {
    /// Always on the calling thread.
    pub const SEQUENTIAL: Parallelism<'static> = Parallelism {
        pool: Pool::Sequential,
        min_words: None,
    };

    /// On the current rayon pool, above the thresholds (the default).
    pub fn current_pool() -> Self {
        Parallelism::default()
    }

    /// On `pool`, above the thresholds.
    pub fn pool(pool: &'p ThreadPool) -> Self {
        Parallelism {
            pool: Pool::Given(pool),
            min_words: None,
        }
    }

    /// Uses the pool from `words` words on (for encode, decode and open
    /// alike) instead of the measured [`PARALLEL_ENCODE_MIN_WORDS`] and
    /// [`PARALLEL_DECODE_MIN_WORDS`]: for tests that want the parallel code
    /// on small inputs, or an engine that measured its own machine.
    pub fn min_words(self, words: usize) -> Self {
        Parallelism {
            min_words: Some(words),
            ..self
        }
    }

    /// Whether this never leaves the calling thread.
    pub fn is_sequential(&self) -> bool {
        matches!(self.pool, Pool::Sequential)
    }

    /// Segments to cut `words` units of `work` into (words, or shards: see
    /// [`Work`]): 1 (run sequentially) below the threshold or with one
    /// thread. Small inputs do not even ask rayon, which would start the
    /// global pool.
    pub(crate) fn segments(&self, words: usize, work: Work) -> usize {
        let min = self.min_words.unwrap_or(match work {
            Work::Encode => PARALLEL_ENCODE_MIN_WORDS,
            Work::Decode => PARALLEL_DECODE_MIN_WORDS,
            Work::DeriveFromCounts => PARALLEL_DERIVE_MIN_SHARDS,
        });
        if words < min.max(1) {
            return 1;
        }
        let threads = match self.pool {
            Pool::Sequential => 1,
            Pool::Current => rayon::current_num_threads(),
            Pool::Given(pool) => pool.current_num_threads(),
        };
        if threads <= 1 {
            1
        } else {
            (threads * SEGMENTS_PER_THREAD).min(words)
        }
    }

    /// [`Parallelism::segments`] for a codec call (`Work::Encode` or
    /// `Work::Decode`) over `words` words, and the call's clock: above the
    /// default thresholds the call is also one of the measurements (or
    /// follows the choice) of [`Choice`], among the calls of its `class`
    /// (a size: the input words of an encoding, the stream words of a
    /// decoding, whose cost they set). Hand the plan back to
    /// [`Plan::done`] when the call ends.
    pub(crate) fn plan(&self, words: usize, work: Work, class: usize) -> Plan {
        let segments = self.segments(words, work);
        if segments <= 1 || self.min_words.is_some() {
            // Sequential anyway, or thresholds the caller set: as asked.
            return Plan {
                segments,
                probe: None,
            };
        }
        let threads = match self.pool {
            Pool::Sequential => 1,
            Pool::Current => rayon::current_num_threads(),
            Pool::Given(pool) => pool.current_num_threads(),
        };
        let entry = Choice::entry(work, class);
        let path = entry.next_path(threads);
        Plan {
            segments: if path == Path::Parallel { segments } else { 1 },
            probe: Some(Probe {
                entry,
                path,
                threads,
                words,
                start: Instant::now(),
            }),
        }
    }

    /// Runs `f` where the parallel work of this call belongs: inside the
    /// given pool, or right here.
    pub(crate) fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match self.pool {
            // `pool.install(f)`, its end told to ThreadSanitizer builds.
            Pool::Given(pool) => crate::sync::install(pool, f),
            Pool::Sequential | Pool::Current => f(),
        }
    }
}

/// A codec call's plan: [`Plan::segments`] (1: sequential), and, when the
/// default decided, the clock that measures the call for [`Choice`].
#[derive(Debug)]
pub(crate) struct Plan {
    /// Segments to cut the work into: 1 runs the sequential code.
    pub(crate) segments: usize,
    probe: Option<Probe>,
}

impl Plan {
    /// The call ended (successfully: a call that failed early measures
    /// nothing); its time joins the measurements.
    pub(crate) fn done(self) {
        if let Some(probe) = self.probe {
            let nanos = probe.start.elapsed().as_nanos() as f64;
            probe
                .entry
                .record(probe.path, probe.threads, nanos / probe.words as f64);
        }
    }
}

/// One measured call.
#[derive(Debug)]
struct Probe {
    entry: &'static Choice,
    path: Path,
    threads: usize,
    words: usize,
    start: Instant,
}

/// Which code a codec call above the thresholds runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    Sequential,
    Parallel,
}

/// Calls of each path a size class measures before it chooses.
const TRIALS: u32 = 3;

/// How much faster than one thread the pool must be to be kept: 5%. Below
/// that, a second thread buys the engine little and costs it a core.
const PARALLEL_GAIN_MIN: f64 = 1.05;

/// Whether two threads pay for codec calls of one kind and size on this
/// machine, measured on the calls themselves and kept.
///
/// Why: a parallel encode or decode is bound by memory once its copies are
/// fast, and on some machines two cores share what one already uses up (on
/// a 2-vCPU AMD EPYC VM, two independent decodes ran slower than one, and a
/// 2-thread `open` too: `perf/notes.md`). Nothing the CPU tells
/// (core and cache counts, cache sizes) says which machine is which, so the
/// default measures: per kind of work ([`Work::Encode`], [`Work::Decode`])
/// and size class (the power of two of the words), the first
/// [`TRIALS`] calls run sequentially and the next [`TRIALS`] on the pool,
/// each timed (nanoseconds per word); then the pool is kept only if its
/// best call beat the best sequential one by [`PARALLEL_GAIN_MIN`]
/// ([`decide`]), for every later call of that class, until the pool's
/// thread count changes (which measures again). A
/// [`Parallelism::min_words`] or [`Parallelism::SEQUENTIAL`] skips all of
/// it. The bytes and errors do not depend on the path; only the time does.
#[derive(Debug)]
struct Choice {
    /// Pool threads the measurements were made with (0: none yet).
    threads: AtomicU32,
    /// Calls measured so far, per path.
    sequential_calls: AtomicU32,
    parallel_calls: AtomicU32,
    /// Best (least) nanoseconds per word of each path, as `f64` bits
    /// (positive `f64`s order as their bits do); `u64::MAX` for none.
    sequential_best: AtomicU64,
    parallel_best: AtomicU64,
    /// [`UNDECIDED`], or the [`Path`] chosen, as its index.
    chosen: AtomicU8,
}

/// [`Choice::chosen`] before the measurements are in.
const UNDECIDED: u8 = u8::MAX;

/// Size classes: the power of two of the words, up to 2^40.
const CLASSES: usize = 41;

impl Choice {
    const fn new() -> Choice {
        Choice {
            threads: AtomicU32::new(0),
            sequential_calls: AtomicU32::new(0),
            parallel_calls: AtomicU32::new(0),
            sequential_best: AtomicU64::new(u64::MAX),
            parallel_best: AtomicU64::new(u64::MAX),
            chosen: AtomicU8::new(UNDECIDED),
        }
    }

    /// The entry of calls of `work` of size `words` (see
    /// [`Parallelism::plan`]).
    fn entry(work: Work, words: usize) -> &'static Choice {
        static ENCODE: [Choice; CLASSES] = [const { Choice::new() }; CLASSES];
        static DECODE: [Choice; CLASSES] = [const { Choice::new() }; CLASSES];
        let class = (usize::BITS - 1 - words.max(1).leading_zeros()) as usize;
        let table = match work {
            Work::Encode => &ENCODE,
            Work::Decode | Work::DeriveFromCounts => &DECODE,
        };
        &table[class.min(CLASSES - 1)]
    }

    /// The path of the next call on a pool of `threads` threads. Several
    /// calls may ask at once: each gets a path, and the counts may run a
    /// little past [`TRIALS`].
    fn next_path(&self, threads: usize) -> Path {
        let threads = threads.min(u32::MAX as usize) as u32;
        if self.threads.load(Ordering::Relaxed) != threads {
            // Another pool (or the first call): measure from scratch.
            self.sequential_calls.store(0, Ordering::Relaxed);
            self.parallel_calls.store(0, Ordering::Relaxed);
            self.sequential_best.store(u64::MAX, Ordering::Relaxed);
            self.parallel_best.store(u64::MAX, Ordering::Relaxed);
            self.chosen.store(UNDECIDED, Ordering::Relaxed);
            self.threads.store(threads, Ordering::Relaxed);
        }
        match self.chosen.load(Ordering::Relaxed) {
            0 => return Path::Sequential,
            1 => return Path::Parallel,
            _ => {}
        }
        let state = Trials {
            sequential_calls: self.sequential_calls.load(Ordering::Relaxed),
            parallel_calls: self.parallel_calls.load(Ordering::Relaxed),
            sequential_best: best(&self.sequential_best),
            parallel_best: best(&self.parallel_best),
        };
        match state.next() {
            Next::Try(path) => path,
            Next::Keep(path) => {
                self.chosen.store(path as u8, Ordering::Relaxed);
                path
            }
        }
    }

    /// A call of `path` on `threads` threads took `nanos_per_word`.
    fn record(&self, path: Path, threads: usize, nanos_per_word: f64) {
        if self.threads.load(Ordering::Relaxed) as usize != threads
            || self.chosen.load(Ordering::Relaxed) != UNDECIDED
            || !nanos_per_word.is_finite()
        {
            return;
        }
        let bits = nanos_per_word.max(0.0).to_bits();
        let (calls, best) = match path {
            Path::Sequential => (&self.sequential_calls, &self.sequential_best),
            Path::Parallel => (&self.parallel_calls, &self.parallel_best),
        };
        best.fetch_min(bits, Ordering::Relaxed);
        calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// A best time stored as `f64` bits, `None` for none yet.
fn best(bits: &AtomicU64) -> Option<f64> {
    let bits = bits.load(Ordering::Relaxed);
    (bits != u64::MAX).then(|| f64::from_bits(bits))
}

/// What one size class has measured.
#[derive(Debug, Clone, Copy)]
struct Trials {
    sequential_calls: u32,
    parallel_calls: u32,
    sequential_best: Option<f64>,
    parallel_best: Option<f64>,
}

/// What the next call does: try a path (measuring), or keep one for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Try(Path),
    Keep(Path),
}

impl Trials {
    /// The decision, a function of the measurements alone: sequential
    /// calls until [`TRIALS`] are in, then parallel ones, then [`decide`].
    fn next(&self) -> Next {
        if self.sequential_calls < TRIALS {
            return Next::Try(Path::Sequential);
        }
        if self.parallel_calls < TRIALS {
            return Next::Try(Path::Parallel);
        }
        match (self.sequential_best, self.parallel_best) {
            (Some(sequential), Some(parallel)) => Next::Keep(decide(sequential, parallel)),
            // Calls counted without a time: cannot happen (`record` stores
            // the time first); sequential is the safe choice.
            _ => Next::Keep(Path::Sequential),
        }
    }
}

/// The path to keep, from the best nanoseconds per word of each: the pool
/// only if it is [`PARALLEL_GAIN_MIN`] faster or more.
fn decide(sequential: f64, parallel: f64) -> Path {
    if parallel * PARALLEL_GAIN_MIN <= sequential {
        Path::Parallel
    } else {
        Path::Sequential
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_inputs_and_sequential_stay_on_this_thread() {
        let current = Parallelism::current_pool();
        assert_eq!(
            current.segments(PARALLEL_ENCODE_MIN_WORDS - 1, Work::Encode),
            1
        );
        assert_eq!(
            current.segments(PARALLEL_DECODE_MIN_WORDS - 1, Work::Decode),
            1
        );
        assert_eq!(
            current.segments(PARALLEL_DERIVE_MIN_SHARDS - 1, Work::DeriveFromCounts),
            1
        );
        assert_eq!(
            Parallelism::SEQUENTIAL.segments(usize::MAX, Work::Encode),
            1
        );
        assert_eq!(
            Parallelism::SEQUENTIAL
                .min_words(1)
                .segments(1 << 30, Work::Decode),
            1
        );
    }

    #[test]
    fn a_given_pool_decides_the_segments() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let on_pool = Parallelism::pool(&pool).min_words(10);
        assert_eq!(on_pool.segments(9, Work::Encode), 1);
        assert_eq!(
            on_pool.segments(1000, Work::Encode),
            3 * SEGMENTS_PER_THREAD
        );
        assert_eq!(on_pool.segments(5, Work::Decode), 1);
        assert_eq!(
            Parallelism::pool(&pool)
                .min_words(1)
                .segments(5, Work::Decode),
            5
        );
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(
            Parallelism::pool(&one)
                .min_words(1)
                .segments(1000, Work::Encode),
            1
        );
        assert_eq!(on_pool.install(rayon::current_num_threads), 3);
    }

    #[test]
    fn the_choice_is_a_function_of_the_measurements() {
        let trials = |s, p, sb, pb| Trials {
            sequential_calls: s,
            parallel_calls: p,
            sequential_best: sb,
            parallel_best: pb,
        };
        // Sequential trials first, then parallel ones.
        for s in 0..TRIALS {
            assert_eq!(
                trials(s, 0, Some(1.0), None).next(),
                Next::Try(Path::Sequential)
            );
        }
        for p in 0..TRIALS {
            assert_eq!(
                trials(TRIALS, p, Some(1.0), Some(0.1)).next(),
                Next::Try(Path::Parallel)
            );
        }
        // Then the pool is kept only 5% faster or more.
        let keep =
            |sequential, parallel| trials(TRIALS, TRIALS, Some(sequential), Some(parallel)).next();
        assert_eq!(keep(1.0, 0.5), Next::Keep(Path::Parallel));
        assert_eq!(keep(1.05, 1.0), Next::Keep(Path::Parallel));
        assert_eq!(keep(1.04, 1.0), Next::Keep(Path::Sequential));
        assert_eq!(keep(1.0, 1.0), Next::Keep(Path::Sequential));
        assert_eq!(keep(0.8, 1.0), Next::Keep(Path::Sequential));
        assert_eq!(
            trials(TRIALS, TRIALS, None, None).next(),
            Next::Keep(Path::Sequential)
        );
        // The same measurements, the same answer: nothing else is read.
        for _ in 0..3 {
            assert_eq!(keep(2.0, 1.95), Next::Keep(Path::Sequential));
        }
    }

    #[test]
    fn a_size_class_measures_then_keeps_its_choice() {
        let entry = Choice::new();
        let mut paths = Vec::new();
        for _ in 0..2 * TRIALS {
            let path = entry.next_path(2);
            paths.push(path);
            // The pool twice as fast as one thread.
            entry.record(path, 2, if path == Path::Parallel { 1.0 } else { 2.0 });
        }
        let sequential = std::iter::repeat_n(Path::Sequential, TRIALS as usize);
        let parallel = std::iter::repeat_n(Path::Parallel, TRIALS as usize);
        assert_eq!(paths, sequential.chain(parallel).collect::<Vec<_>>());
        for _ in 0..5 {
            assert_eq!(entry.next_path(2), Path::Parallel);
            // Later times change nothing.
            entry.record(Path::Parallel, 2, 100.0);
        }
        // Another pool measures again: there, no gain.
        for _ in 0..2 * TRIALS {
            let path = entry.next_path(3);
            entry.record(path, 3, 1.0);
        }
        assert_eq!(entry.next_path(3), Path::Sequential);
    }

    #[test]
    fn thresholds_set_by_the_caller_are_not_second_guessed() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let plan = Parallelism::pool(&pool)
            .min_words(10)
            .plan(1000, Work::Encode, 1000);
        assert_eq!(plan.segments, 2 * SEGMENTS_PER_THREAD);
        assert!(plan.probe.is_none());
        plan.done();
        let plan = Parallelism::SEQUENTIAL.plan(1 << 30, Work::Encode, 1 << 30);
        assert_eq!(plan.segments, 1);
        assert!(plan.probe.is_none());
    }
}
