//! The cursor protocol under loom: every interleaving of 2 and 3 cursors
//! (within a preemption bound) on small sets, against the same acquires
//! made one by one with [`FreeSet::acquire`].
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release -p freeset --lib
//! loom` (see `docs/design.md`, "Checking the concurrency"). The threads are
//! loom's ([`crate::sync::scope`]); the words are loom atomics for the scope
//! (`AtomicWords`), so a relaxed load may return any value the memory model
//! allows, and the copy back after the scope fails the model unless every
//! cursor's store happens before it.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::reservation::Reservation;
use crate::sync::{model, scope};
use crate::FreeSet;

/// The message of the panic a test plants, kept out of the output (it
/// fires in every interleaving).
const PLANTED: &str = "a job failed (planted)";

fn quiet_planted_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&PLANTED) {
                previous(info);
            }
        }));
    });
}

/// A set of one shard whose first `acquired` words are as given, and the
/// reservations of `sizes` (each of them made).
fn set_with(acquired: &[u64], sizes: &[u64]) -> (FreeSet, Vec<Reservation>) {
    let mut words = vec![0u64; 64];
    words[..acquired.len()].copy_from_slice(acquired);
    let mut set = FreeSet::from_acquired_words(4096, words).expect("one shard");
    let reservations = sizes
        .iter()
        .map(|&n| set.reserve(n).expect("a session").expect("room"))
        .collect();
    (set, reservations)
}

/// Each reservation's first `takes[i]` blocks, acquired one by one.
fn sequential(set: &mut FreeSet, reservations: &[Reservation], takes: &[usize]) -> Vec<Vec<u64>> {
    reservations
        .iter()
        .zip(takes)
        .map(|(r, &take)| {
            (0..take)
                .map_while(|_| set.acquire(r).expect("its session"))
                .collect()
        })
        .collect()
}

fn same_state(a: &FreeSet, b: &FreeSet) {
    assert_eq!(a.acquired_words(), b.acquired_words());
    assert_eq!(a.count_free(), b.count_free());
    assert_eq!(a.count_acquired(), b.count_acquired());
    assert_eq!(a.highest_acquired(), b.highest_acquired());
}

/// What a cursor's thread does.
#[derive(Clone, Copy)]
enum Job {
    /// Acquires up to this many blocks, then drops the cursor.
    Take(usize),
    /// Acquires this many, then forgets the cursor (it still counts).
    Leak(usize),
    /// Acquires this many, then panics.
    Panic(usize),
}

impl Job {
    fn takes(self) -> usize {
        match self {
            Job::Take(n) | Job::Leak(n) | Job::Panic(n) => n,
        }
    }
}

/// One thread per reservation runs its job inside `acquire_concurrently`;
/// then the blocks each got, the set's state, and the acquires that follow
/// must be those of the same acquires made one by one.
fn check(acquired: &[u64], sizes: &[u64], jobs: &[Job]) {
    // Two threads: every interleaving; three: up to 3 preemptions.
    let bound = (jobs.len() > 2).then_some(3);
    assert_eq!(sizes.len(), jobs.len());
    quiet_planted_panics();
    let (acquired, sizes, jobs) = (acquired.to_vec(), sizes.to_vec(), jobs.to_vec());
    model(bound, move || {
        let (mut set, reservations) = set_with(&acquired, &sizes);
        let (mut twin, twin_reservations) = set_with(&acquired, &sizes);
        let takes: Vec<usize> = jobs.iter().map(|j| j.takes()).collect();
        let expected = sequential(&mut twin, &twin_reservations, &takes);

        let got = panic::catch_unwind(AssertUnwindSafe(|| {
            set.acquire_concurrently(|acquirer| {
                let results: Vec<std::sync::Mutex<Vec<u64>>> =
                    jobs.iter().map(|_| Default::default()).collect();
                scope(|s| {
                    for ((r, &job), result) in reservations.iter().zip(&jobs).zip(&results) {
                        s.spawn(move || {
                            let mut cursor = acquirer.cursor(r).expect("one cursor each");
                            let got: Vec<u64> =
                                (0..job.takes()).map_while(|_| cursor.acquire()).collect();
                            assert_eq!(cursor.count(), got.len() as u64);
                            *result.lock().unwrap() = got;
                            match job {
                                Job::Take(_) => drop(cursor),
                                Job::Leak(_) => std::mem::forget(cursor),
                                Job::Panic(_) => panic::panic_any(PLANTED),
                            }
                        });
                    }
                });
                results
                    .into_iter()
                    .map(|r| r.into_inner().unwrap())
                    .collect::<Vec<_>>()
            })
        }));
        let planted = jobs.iter().any(|j| matches!(j, Job::Panic(_)));
        match got {
            Ok(got) => {
                assert!(!planted);
                assert_eq!(got, expected);
            }
            Err(payload) => {
                assert!(planted, "only the planted panic");
                assert_eq!(payload.downcast_ref::<&str>(), Some(&PLANTED));
            }
        }
        // Counters, summaries and highest word exact again, and each
        // reservation goes on from where its cursor stopped.
        same_state(&set, &twin);
        for (r, t) in reservations.iter().zip(&twin_reservations) {
            assert_eq!(set.acquire(r).unwrap(), twin.acquire(t).unwrap());
        }
        same_state(&set, &twin);
    });
}

/// Words 0 and 1 acquired but for their last bit and last two bits: the
/// first reservation (4 blocks: 63, 126, 127, 128) has an edge word at
/// each end and word 1 to itself; the second (129, 130) shares word 2 with
/// it. Both cursors take everything.
const EDGES: [u64; 2] = [!(1 << 63), !(3 << 62)];

#[test]
fn loom_two_cursors_share_an_edge_word() {
    check(&EDGES, &[4, 2], &[Job::Take(9), Job::Take(9)]);
}

/// Three reservations in two words, each sharing a word with the next:
/// blocks 60-61, 62-64, 65-66.
#[test]
fn loom_three_cursors_share_two_edge_words() {
    let acquired = [(1u64 << 60) - 1];
    check(&acquired, &[2, 3, 2], &[Job::Take(9); 3]);
}

/// One cursor stops after a block and is dropped, another is leaked after
/// two: the merge counts what each took, and the reservations go on from
/// there.
#[test]
fn loom_a_cursor_dropped_early_or_leaked() {
    check(&EDGES, &[4, 2], &[Job::Take(1), Job::Leak(2)]);
}

/// A cursor's thread panics after two blocks while the other takes all:
/// the scope re-raises the panic, and the set is consistent with both.
#[test]
fn loom_a_panic_in_one_thread() {
    check(&EDGES, &[4, 2], &[Job::Panic(2), Job::Take(9)]);
}

/// The three reservations of the test above: one cursor panics after a
/// block, one is leaked after two, one takes everything.
#[test]
fn loom_three_cursors_one_panics_one_leaks() {
    let acquired = [(1u64 << 60) - 1];
    check(
        &acquired,
        &[2, 3, 2],
        &[Job::Panic(1), Job::Leak(2), Job::Take(9)],
    );
}
