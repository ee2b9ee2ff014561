//! Where `encode`, `decode` and `open` of large inputs run: on this thread,
//! on the current rayon pool, or on a pool the caller gives. Chosen per call,
//! never process-wide, so that one engine's choice cannot change another's.
//!
//! What must never happen here: a choice that changes the bytes or the errors.
//! The parallel codec is byte for byte (and error for error) the sequential
//! one; this value only decides which code runs and where.

use rayon::ThreadPool;

/// Inputs below this many words (2 MiB) are encoded on the calling thread
/// (unless [`Parallelism::min_words`] says otherwise).
///
/// Handing work to a second thread has a fixed cost: waking it (tens of µs
/// on a VM, whose idle vCPU halts) and the parallel encoder's own
/// bookkeeping. The threshold puts the smallest parallel encoding at about
/// 100 µs of sequential work, several times that cost, so that it pays
/// wherever waking a thread is cheaper too. Measured on a 2-vCPU VM (a
/// pinned 2-thread pool, median of 31 calls against one thread, the `runs`
/// and `random(0.5)` fills), with the pool idle for 2 ms before each call (as
/// between two checkpoints) and with calls back to back: at 2^16 words two
/// threads ran at 0.4 to 0.9x the speed of one, at 2^17 at 0.5 to 1.1x; at
/// 2^18 the `random` fill gained (1.2 to 2.0x) and the `runs` fill broke
/// even (0.8 to 1.3x); at 2^19 both gained (1.1 to 2.0x). (The first
/// threshold, 2^15, came from the best of 200 calls back to back, which only
/// a pool kept busy sees.)
pub const PARALLEL_ENCODE_MIN_WORDS: usize = 1 << 18;

/// Targets below this many words (4 MiB) are decoded (and opened) on the
/// calling thread (unless [`Parallelism::min_words`] says otherwise).
///
/// The marker pass is sequential and comes on top of the expansion, so
/// decoding needs larger inputs than encoding before a second thread pays.
/// Measured as [`PARALLEL_ENCODE_MIN_WORDS`] (`decode_into` and
/// `FreeSet::open`): at 2^18 words two threads ran at 0.6 to 1.2x the speed
/// of one (the `runs` fill lost in every run, `open` by up to 35 µs), at
/// 2^19 at 1.1 to 1.8x.
pub const PARALLEL_DECODE_MIN_WORDS: usize = 1 << 19;

/// Shards below which `open` derives the summaries and the index from the
/// shard counts on the calling thread. The derive takes about half a
/// nanosecond a shard: on 2 threads the pool paid from 2^18 shards (2^30
/// blocks: 121 against 135 µs alone) and lost below (2^15 shards, 2^27
/// blocks: 23 µs on the pool against 18 alone).
const PARALLEL_DERIVE_MIN_SHARDS: usize = 1 << 18;

/// Segments per thread: a few, so that an unlucky segment (all fills, or all
/// literals) does not leave the other threads idle.
const SEGMENTS_PER_THREAD: usize = 4;

/// Where a codec call runs. The default is the current rayon pool (the
/// global one, or the one whose `install` the call is inside) for inputs
/// above the measured thresholds, and the calling thread below them.
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
}
