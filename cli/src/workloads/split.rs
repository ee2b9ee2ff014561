//! Splits of a codec workload: independent parts, each on one pinned
//! thread, all at once (the `split` rows of `bench --threads`), and the
//! pinned pools they run on.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use freeset::Parallelism;

use super::codec::*;
use super::fills::*;
use super::spec::*;

/// A codec workload cut into `parts` sets: the same bits, whole shards to
/// each part (the last takes the rest), each part encoded or opened with
/// the sequential codec by its own task on the current pool, all at once.
/// No coordination between the parts: what `parts` threads of this machine
/// give independent calls, the yardstick for a parallel call (`freeset
/// bench --threads N` shows it beside the parallel figure). With one part,
/// the sequential codec on this thread: the one-thread figure on any pool.
/// `whole` is the workload's fill (`fill(name, sizes, seed)`). `None` for a
/// workload that is not a codec workload, or no part.
pub fn prepare_split(name: Name, whole: &Fill, parts: usize) -> Option<Box<dyn Workload>> {
    if !name.is_codec() || parts == 0 {
        return None;
    }
    let sets = split_fill(whole, parts).into_iter().map(set_of);
    Some(match name {
        Name::EncodeRuns | Name::EncodeRandom => Box::new(Split {
            parts: sets.map(|set| Encode { name, set }).collect(),
        }),
        _ => Box::new(Split {
            parts: sets.map(|set| Open::new(name, set)).collect(),
        }),
    })
}

/// `whole` cut into `parts` fills (fewer if it has fewer shards): whole
/// shards to each but the last, which takes the rest; the same bits in the
/// same order.
pub(super) fn split_fill(whole: &Fill, parts: usize) -> Vec<Fill> {
    let shard_words = (freeset::SHARD_BLOCKS / 64) as usize;
    let words = whole.acquired.len();
    let per = (words / parts / shard_words).max(1) * shard_words;
    let mut fills = Vec::new();
    let mut first = 0;
    while first < words {
        let last = fills.len() + 1 == parts || first + per >= words;
        let end = if last { words } else { first + per };
        let blocks = if last {
            whole.blocks - 64 * first as u64
        } else {
            64 * (end - first) as u64
        };
        fills.push(Fill {
            blocks,
            acquired: whole.acquired[first..end].to_vec(),
            released: whole.released[first..end].to_vec(),
        });
        first = end;
    }
    fills
}

/// Runs `f` on every part at once, as a parallel call does: one task per
/// part but the first, which this thread takes. Then it spins until the
/// others are done, for at most a millisecond (then rayon's scope waits as
/// it does): the parallel codec's threads do the same at the end of a call,
/// and a split that let this thread sleep would pay a wake-up the parallel
/// call does not.
pub(super) fn each_at_once<T: Send>(parts: &mut [T], f: impl Fn(&mut T) + Sync) {
    let done = AtomicUsize::new(0);
    let (first, others) = parts.split_first_mut().expect("one part or more");
    let others_len = others.len();
    rayon::scope(|scope| {
        for part in others {
            let (done, f) = (&done, &f);
            scope.spawn(move |_| {
                f(part);
                done.fetch_add(1, Ordering::Release);
            });
        }
        f(first);
        let start = std::time::Instant::now();
        while done.load(Ordering::Acquire) < others_len
            && start.elapsed() < std::time::Duration::from_millis(1)
        {
            std::hint::spin_loop();
        }
    });
}

/// [`prepare_split`]: parts of one codec workload, each run by the
/// sequential codec, all at once.
pub(super) struct Split<P> {
    pub(super) parts: Vec<P>,
}

impl<P: Part> Workload for Split<P> {
    fn name(&self) -> Name {
        self.parts[0].name()
    }

    fn run(&mut self) -> u64 {
        let units = AtomicU64::new(0);
        each_at_once(&mut self.parts, |part| {
            let done = part.run_with(Parallelism::SEQUENTIAL);
            units.fetch_add(done, Ordering::Relaxed);
        });
        units.into_inner()
    }

    fn rearm(&mut self) {
        self.parts.iter_mut().for_each(Workload::rearm);
    }

    fn repeatable(&self) -> bool {
        self.parts[0].repeatable()
    }
}

/// A rayon pool of `threads` threads, each pinned to its own core (round
/// robin). Unpinned, a 2-vCPU VM's scheduler often wakes both workers on one
/// CPU after a single-threaded stretch (the rearm between runs of `open` or
/// `checkpoint`), and a figure then measures that placement, not the code
/// (the swing it gave is in perf/notes.md); a pinned pool gives the same
/// speed-up every run. `freeset bench` and the criterion benches share it.
pub fn pinned_pool(threads: usize) -> rayon::ThreadPool {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(move |i| {
            if !cores.is_empty() {
                core_affinity::set_for_current(cores[i % cores.len()]);
            }
        })
        .build()
        .expect("a thread pool of a few threads can be built")
}
