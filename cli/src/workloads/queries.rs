//! The query workloads (counters, highest block, statistics) and the
//! memcpy every figure is compared with.

use std::hint::black_box;

use rayon::prelude::*;

use freeset::FreeSet;

use super::spec::*;

/// `count_free`, `highest_acquired` and `highest_released`: one query.
pub(super) struct Query {
    pub(super) name: Name,
    pub(super) set: FreeSet,
}

impl Workload for Query {
    fn name(&self) -> Name {
        self.name
    }

    fn run(&mut self) -> u64 {
        let set = black_box(&self.set);
        match self.name {
            Name::CountFree => black_box(set.count_free()),
            Name::HighestReleased => black_box(set.highest_released().unwrap_or(0)),
            _ => black_box(set.highest_acquired().unwrap_or(0)),
        };
        1
    }

    fn rearm(&mut self) {}

    fn repeatable(&self) -> bool {
        true
    }
}

/// `stats`: one `FreeSet::stats`, in bytes of the bitset it reads.
pub(super) struct StatsPass {
    pub(super) set: FreeSet,
}

impl Workload for StatsPass {
    fn name(&self) -> Name {
        Name::Stats
    }

    fn run(&mut self) -> u64 {
        black_box(black_box(&self.set).stats());
        self.set.capacity() / 8
    }

    fn rearm(&mut self) {}

    fn repeatable(&self) -> bool {
        true
    }
}

pub(super) struct Memcpy {
    pub(super) source: Vec<u8>,
    pub(super) target: Vec<u8>,
}

impl Workload for Memcpy {
    fn name(&self) -> Name {
        Name::Memcpy
    }

    fn run(&mut self) -> u64 {
        // On a pool of several threads, each copies its share: the ceiling
        // for a parallel pass over a bitset.
        let threads = rayon::current_num_threads();
        if threads > 1 {
            let share = self.source.len().div_ceil(threads);
            self.target
                .par_chunks_mut(share)
                .zip(black_box(&self.source).par_chunks(share))
                .for_each(|(target, source)| target.copy_from_slice(source));
        } else {
            self.target.copy_from_slice(black_box(&self.source));
        }
        black_box(&mut self.target);
        self.source.len() as u64
    }

    fn rearm(&mut self) {}

    fn repeatable(&self) -> bool {
        true
    }
}
