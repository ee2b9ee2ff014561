//! `acquire_extent`: on `acquire_fragmented`'s fill, extents of 8, then 64,
//! then 512 blocks, each length in its own session: `reserve_extent` and
//! `acquire_extent` until `reserve_extent` finds none, then a `forfeit` of
//! each of the session's reservations (`docs/workloads.md`).
//!
//! What must never happen here: work outside that definition inside the
//! timed body (the reservations' vector is allocated once, untimed), or a
//! session that ends before its search found none.

use std::hint::black_box;

use freeset::{FreeSet, Reservation};

use super::spec::{Name, Workload};

/// The extent lengths of the workload, in the order they run.
pub const EXTENT_LENGTHS: [u64; 3] = [8, 64, 512];

/// The prepared workload: the pristine set, the one the body changes, and
/// room for a session's reservations.
pub(super) struct AcquireExtent {
    pristine: FreeSet,
    set: FreeSet,
    reservations: Vec<Reservation>,
}

impl AcquireExtent {
    pub(super) fn new(set: FreeSet) -> Self {
        // A session holds at most one reservation per `8` free blocks.
        let most = (set.count_free() / EXTENT_LENGTHS[0]) as usize;
        AcquireExtent {
            pristine: set.clone(),
            set,
            reservations: Vec::with_capacity(most),
        }
    }
}

/// The body of `acquire_extent` on any set: its `reserve_extent` calls
/// (the last of each length finding none) and the blocks acquired.
/// `reservations` is empty, and is left so.
pub fn run_extents(set: &mut FreeSet, reservations: &mut Vec<Reservation>) -> (u64, u64) {
    let (mut calls, mut blocks) = (0, 0);
    for n in EXTENT_LENGTHS {
        debug_assert!(reservations.is_empty());
        loop {
            calls += 1;
            let Some(extent) = set.reserve_extent(n).expect("opened, n > 0") else {
                break;
            };
            let run = set
                .acquire_extent(&extent)
                .expect("active reservation")
                .expect("an extent's blocks are free");
            debug_assert_eq!(run.end - run.start, n);
            blocks += black_box(run).end - extent.addresses().start;
            reservations.push(extent);
        }
        for extent in reservations.drain(..) {
            set.forfeit(&extent).expect("active reservation");
        }
        debug_assert_eq!(set.count_reservations(), 0);
    }
    (calls, blocks)
}

impl Workload for AcquireExtent {
    fn name(&self) -> Name {
        Name::AcquireExtent
    }

    fn run(&mut self) -> u64 {
        let (calls, _) = run_extents(&mut self.set, &mut self.reservations);
        calls
    }

    fn rearm(&mut self) {
        self.set.clone_from(&self.pristine);
    }

    fn repeatable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::{fill, set_of, Sizes, SEED};

    /// The fill is `acquire_fragmented`'s bit for bit, and the body takes
    /// every run of 8 free blocks, first fit from the start, that a naive
    /// walk of the same bits counts.
    #[test]
    fn the_body_takes_what_a_naive_walk_finds() {
        let sizes = Sizes {
            small: 1 << 17,
            large: 1 << 17,
        };
        let bits = fill(Name::AcquireExtent, sizes, SEED).unwrap();
        assert_eq!(
            Some(&bits),
            fill(Name::AcquireFragmented, sizes, SEED).as_ref()
        );
        // Naive: greedy first fit of runs of `n` free blocks.
        let mut used: Vec<bool> = (0..bits.blocks)
            .map(|b| bits.acquired[(b / 64) as usize] >> (b % 64) & 1 == 1)
            .collect();
        let (mut calls, mut blocks) = (0, 0);
        for n in EXTENT_LENGTHS {
            let n = n as usize;
            let mut b = 0;
            while b + n <= used.len() {
                if used[b..b + n].iter().all(|&u| !u) {
                    used[b..b + n].fill(true);
                    calls += 1;
                    blocks += n as u64;
                    b += n;
                } else {
                    b += 1;
                }
            }
            calls += 1;
        }
        let mut set = set_of(bits);
        let free = set.count_free();
        let mut reservations = Vec::new();
        assert_eq!(run_extents(&mut set, &mut reservations), (calls, blocks));
        assert_eq!(set.count_free(), free - blocks);
        assert!(blocks > 0);
    }
}
