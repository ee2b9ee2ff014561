//! The codec workloads: a checkpoint, encoding and opening a set, each of
//! the latter also as a part of a split (`split.rs`).

use std::hint::black_box;

use freeset::{FreeSet, Parallelism};

use super::fills::*;
use super::spec::*;

/// A codec workload that can run on the threads a [`Parallelism`] names:
/// the standard one runs on the default, each part of a split on one.
pub(super) trait Part: Workload + Send {
    /// [`Workload::run`] on `parallelism`'s threads.
    fn run_with(&mut self, parallelism: Parallelism) -> u64;
}

/// `checkpoint_10pct`: S all acquired, S/10 random addresses released.
pub(super) struct Checkpoint {
    pub(super) pristine: FreeSet,
    pub(super) set: FreeSet,
}

impl Checkpoint {
    pub(super) fn new(blocks: u64, rng: &mut Rng) -> Self {
        let words = vec![!0u64; words_of(blocks)];
        let mut set =
            FreeSet::from_acquired_words(blocks, words).expect("words match the capacity");
        // Only blocks below the limit are acquired-and-releasable; S is whole shards.
        for _ in 0..blocks / 10 {
            let address = rng.below(blocks) + 1;
            // Repeats are skipped: releasing twice is misuse.
            if !set.is_released(address).expect("in range") {
                set.release(address).expect("acquired, not released");
            }
        }
        Checkpoint {
            pristine: set.clone(),
            set,
        }
    }
}

impl Workload for Checkpoint {
    fn name(&self) -> Name {
        Name::Checkpoint10pct
    }

    fn run(&mut self) -> u64 {
        self.set.checkpoint_not_durable().expect("durable before");
        self.set
            .checkpoint_durable()
            .expect("not durable, no reservation");
        1
    }

    fn rearm(&mut self) {
        self.set.clone_from(&self.pristine);
    }

    fn repeatable(&self) -> bool {
        false
    }
}

pub(super) struct Encode {
    pub(super) name: Name,
    pub(super) set: FreeSet,
}

impl Workload for Encode {
    fn name(&self) -> Name {
        self.name
    }

    fn run(&mut self) -> u64 {
        self.run_with(Parallelism::default())
    }

    fn rearm(&mut self) {}

    fn repeatable(&self) -> bool {
        true
    }
}

impl Part for Encode {
    fn run_with(&mut self, parallelism: Parallelism) -> u64 {
        black_box(
            self.set
                .encode_with(parallelism)
                .expect("durable, no reservation"),
        );
        self.set.capacity() / 8
    }
}

/// `open_*`: the bytes of the matching encode workload, opened into a set of L.
pub(super) struct Open {
    pub(super) name: Name,
    pub(super) acquired: Vec<u8>,
    pub(super) released: Vec<u8>,
    pub(super) set: FreeSet,
}

impl Open {
    pub(super) fn new(name: Name, source: FreeSet) -> Self {
        let (acquired, released) = source.encode().expect("durable, no reservation");
        let set = FreeSet::unopened(source.limit()).expect("limit > 0");
        Open {
            name,
            acquired,
            released,
            set,
        }
    }
}

impl Workload for Open {
    fn name(&self) -> Name {
        self.name
    }

    fn run(&mut self) -> u64 {
        self.run_with(Parallelism::default())
    }

    fn rearm(&mut self) {
        self.set.reset();
    }

    fn repeatable(&self) -> bool {
        false
    }
}

impl Part for Open {
    fn run_with(&mut self, parallelism: Parallelism) -> u64 {
        self.set
            .open_with(&self.acquired, &self.released, &[], &[], parallelism)
            .expect("a valid encoding");
        black_box(self.set.count_free());
        self.set.capacity() / 8
    }
}
