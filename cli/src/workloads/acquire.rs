//! The allocation workloads: acquiring (one reservation, several in turn,
//! several threads at once) and reserving.

use std::hint::black_box;

use freeset::FreeSet;

use super::spec::*;

/// `acquire_fill` and `acquire_fragmented`: reserve every free block, acquire
/// until none, forfeit.
/// Two jobs, each with a reservation of half the set, acquiring to the end
/// at once: through `acquire_concurrently` (one cursor per job), or on a
/// `Mutex<FreeSet>` (the lock taken for every acquire). The jobs are rayon
/// tasks on the current pool, so a pool of one thread runs them one after
/// the other and a pool of two runs them side by side.
pub(super) struct AcquireParallel {
    pub(super) name: Name,
    pub(super) pristine: FreeSet,
    pub(super) set: Option<FreeSet>,
}

impl AcquireParallel {
    pub(super) fn new(name: Name, set: FreeSet) -> Self {
        AcquireParallel {
            name,
            pristine: set.clone(),
            set: Some(set),
        }
    }
}

impl Workload for AcquireParallel {
    fn name(&self) -> Name {
        self.name
    }

    fn run(&mut self) -> u64 {
        let mut set = self.set.take().expect("rearmed");
        let half = set.count_free() / 2;
        let jobs = [
            set.reserve(half).expect("opened").expect("half is free"),
            set.reserve(half).expect("opened").expect("half is free"),
        ];
        let acquired = if self.name == Name::AcquireParallel {
            let counts = set.acquire_concurrently(|acquirer| {
                let counts = [0u64; 2].map(std::sync::atomic::AtomicU64::new);
                rayon::scope(|scope| {
                    for (job, count) in jobs.iter().zip(&counts) {
                        scope.spawn(move |_| {
                            let mut cursor = acquirer.cursor(job).expect("a job's reservation");
                            let mut n = 0;
                            while let Some(address) = cursor.acquire() {
                                black_box(address);
                                n += 1;
                            }
                            count.store(n, std::sync::atomic::Ordering::Relaxed);
                        });
                    }
                });
                counts.map(|c| c.into_inner())
            });
            counts.iter().sum()
        } else {
            let shared = std::sync::Mutex::new(set);
            let counts = [0u64; 2].map(std::sync::atomic::AtomicU64::new);
            rayon::scope(|scope| {
                for (job, count) in jobs.iter().zip(&counts) {
                    let shared = &shared;
                    scope.spawn(move |_| {
                        let mut n = 0;
                        while let Some(address) = shared
                            .lock()
                            .expect("no job panics")
                            .acquire(job)
                            .expect("a job's reservation")
                        {
                            black_box(address);
                            n += 1;
                        }
                        count.store(n, std::sync::atomic::Ordering::Relaxed);
                    });
                }
            });
            set = shared.into_inner().expect("no job panicked");
            counts
                .iter()
                .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
                .sum()
        };
        debug_assert_eq!(acquired, 2 * half);
        for job in &jobs {
            set.forfeit(job).expect("a job's reservation");
        }
        self.set = Some(set);
        acquired
    }

    fn rearm(&mut self) {
        self.set = Some(self.pristine.clone());
    }

    fn repeatable(&self) -> bool {
        false
    }
}

pub(super) struct AcquireAll {
    pub(super) name: Name,
    pub(super) pristine: FreeSet,
    pub(super) set: FreeSet,
}

impl AcquireAll {
    pub(super) fn new(name: Name, set: FreeSet) -> Self {
        AcquireAll {
            name,
            pristine: set.clone(),
            set,
        }
    }
}

impl Workload for AcquireAll {
    fn name(&self) -> Name {
        self.name
    }

    fn run(&mut self) -> u64 {
        let free = self.set.count_free();
        let reservation = self
            .set
            .reserve(free)
            .expect("opened, n > 0")
            .expect("n free blocks");
        let mut acquired = 0;
        while let Some(address) = self.set.acquire(&reservation).expect("active reservation") {
            black_box(address);
            acquired += 1;
        }
        self.set.forfeit(&reservation).expect("active reservation");
        debug_assert_eq!(acquired, free);
        acquired
    }

    fn rearm(&mut self) {
        self.set.clone_from(&self.pristine);
    }

    fn repeatable(&self) -> bool {
        false
    }
}

/// `acquire_interleaved`: four reservations of a quarter of the free blocks
/// each, one acquire from each in turn until every one is exhausted, then
/// four forfeits.
pub(super) struct AcquireInterleaved {
    pub(super) pristine: FreeSet,
    pub(super) set: FreeSet,
}

/// Reservations `acquire_interleaved` takes turns between.
pub const INTERLEAVED_JOBS: usize = 4;

impl AcquireInterleaved {
    pub(super) fn new(set: FreeSet) -> Self {
        AcquireInterleaved {
            pristine: set.clone(),
            set,
        }
    }
}

impl Workload for AcquireInterleaved {
    fn name(&self) -> Name {
        Name::AcquireInterleaved
    }

    fn run(&mut self) -> u64 {
        let quarter = self.set.count_free() / INTERLEAVED_JOBS as u64;
        let jobs: [_; INTERLEAVED_JOBS] = std::array::from_fn(|_| {
            self.set
                .reserve(quarter)
                .expect("opened, n > 0")
                .expect("a quarter is free")
        });
        let mut acquired = 0;
        let mut live = INTERLEAVED_JOBS;
        // Round-robin; the reservations are all the same size, so they run
        // out in the same round.
        while live == INTERLEAVED_JOBS {
            for job in &jobs {
                match self.set.acquire(job).expect("active reservation") {
                    Some(address) => {
                        black_box(address);
                        acquired += 1;
                    }
                    None => live -= 1,
                }
            }
        }
        for job in &jobs {
            self.set.forfeit(job).expect("active reservation");
        }
        debug_assert_eq!(acquired, quarter * INTERLEAVED_JOBS as u64);
        acquired
    }

    fn rearm(&mut self) {
        self.set.clone_from(&self.pristine);
    }

    fn repeatable(&self) -> bool {
        false
    }
}

pub(super) struct Reserve100k {
    pub(super) set: FreeSet,
}

impl Workload for Reserve100k {
    fn name(&self) -> Name {
        Name::Reserve100k
    }

    fn run(&mut self) -> u64 {
        for _ in 0..100 {
            let reservation = self.set.reserve(100_000).expect("opened, n > 0");
            let reservation = reservation.expect("S random(0.9) has 100,000 free blocks");
            black_box(reservation);
            self.set.forfeit(&reservation).expect("active reservation");
        }
        100
    }

    fn rearm(&mut self) {}

    fn repeatable(&self) -> bool {
        true
    }
}
