//! Concurrent acquire against the sequential one.
//!
//! Two sets are built from the same words and given the same reservations.
//! One acquires on one thread with `FreeSet::acquire`; the other hands each
//! reservation to a thread of its own inside `acquire_concurrently`. Every
//! reservation must get the same blocks in the same order, and afterwards
//! both sets must agree on everything (counts, highest, index through the
//! acquires that follow, encodings). Reservation sizes are odd so that
//! ranges end inside words and two threads share the word at each edge.
//! Debug builds also run the set's invariant checker when the scope ends.

mod support;

use freeset::{FreeSet, Reservation};
use support::Rng;

/// A set of `blocks` blocks whose acquired words mix full, empty and random
/// stretches (so that some shards are full before the scope).
fn filled(blocks: u64, rng: &mut Rng) -> Vec<u64> {
    let words = blocks.div_ceil(4096) as usize * 64;
    let mut acquired = vec![0u64; words];
    let mut i = 0;
    while i < words {
        let run = 1 + rng.below(200) as usize;
        let kind = rng.below(4);
        for w in acquired.iter_mut().skip(i).take(run) {
            *w = match kind {
                0 => 0,
                1 => !0,
                _ => rng.next_u64() & rng.next_u64(),
            };
        }
        i += run;
    }
    // Nothing at or past the limit.
    for (w, word) in acquired.iter_mut().enumerate() {
        let first = w as u64 * 64;
        if first >= blocks {
            *word = 0;
        } else if first + 64 > blocks {
            *word &= (1u64 << (blocks - first)) - 1;
        }
    }
    acquired
}

fn pair(blocks: u64, words: Vec<u64>, sizes: &[u64]) -> [(FreeSet, Vec<Reservation>); 2] {
    [(); 2].map(|()| {
        let mut set = FreeSet::from_acquired_words(blocks, words.clone()).unwrap();
        let reservations = sizes
            .iter()
            .map_while(|&n| set.reserve(n).unwrap())
            .collect();
        (set, reservations)
    })
}

fn same_state(a: &FreeSet, b: &FreeSet) {
    assert_eq!(a.count_free(), b.count_free());
    assert_eq!(a.count_acquired(), b.count_acquired());
    assert_eq!(a.highest_acquired(), b.highest_acquired());
    assert_eq!(a.acquired_words(), b.acquired_words());
}

#[test]
fn every_reservation_gets_the_sequential_blocks() {
    for seed in 0..60u64 {
        let mut rng = Rng::new(seed);
        let blocks = 4096 * (1 + rng.below(6)) - rng.below(100);
        let words = filled(blocks, &mut rng);
        let threads = 2 + (seed % 7) as usize; // 2 to 8
        let sizes: Vec<u64> = (0..threads).map(|_| 1 + rng.below(3000)).collect();
        // How many each job takes: all, or stop early.
        let takes: Vec<u64> = (0..threads)
            .map(|_| {
                if rng.below(3) == 0 {
                    rng.below(500)
                } else {
                    u64::MAX
                }
            })
            .collect();
        let [(mut sequential, seq_res), (mut concurrent, con_res)] = pair(blocks, words, &sizes);
        assert_eq!(seq_res.len(), con_res.len());

        let expected: Vec<Vec<u64>> = seq_res
            .iter()
            .zip(&takes)
            .map(|(r, &take)| {
                let mut got = Vec::new();
                while (got.len() as u64) < take {
                    match sequential.acquire(r).unwrap() {
                        Some(address) => got.push(address),
                        None => break,
                    }
                }
                got
            })
            .collect();

        let got: Vec<Vec<u64>> = concurrent.acquire_concurrently(|acquirer| {
            std::thread::scope(|s| {
                let handles: Vec<_> = con_res
                    .iter()
                    .zip(&takes)
                    .map(|(r, &take)| {
                        s.spawn(move || {
                            let mut cursor = acquirer.cursor(r).unwrap();
                            let mut got = Vec::new();
                            while (got.len() as u64) < take {
                                match cursor.acquire() {
                                    Some(address) => got.push(address),
                                    None => break,
                                }
                            }
                            assert_eq!(cursor.count(), got.len() as u64);
                            got
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            })
        });
        assert_eq!(got, expected, "seed {seed}, {threads} threads");
        same_state(&sequential, &concurrent);

        // The rest goes on sequentially on both, through the same index.
        for (a, b) in seq_res.iter().zip(&con_res) {
            loop {
                let (x, y) = (
                    sequential.acquire(a).unwrap(),
                    concurrent.acquire(b).unwrap(),
                );
                assert_eq!(x, y, "seed {seed}");
                if x.is_none() {
                    break;
                }
            }
        }
        for (a, b) in seq_res.iter().zip(&con_res) {
            sequential.forfeit(a).unwrap();
            concurrent.forfeit(b).unwrap();
        }
        same_state(&sequential, &concurrent);
        assert_eq!(sequential.encode().unwrap(), concurrent.encode().unwrap());
        // A new session reserves the same ranges on both.
        let (x, y) = (
            sequential.reserve(77).unwrap(),
            concurrent.reserve(77).unwrap(),
        );
        assert_eq!(x.map(|r| r.block_base()), y.map(|r| r.block_base()));
    }
}

#[test]
fn a_stale_reservation_or_a_second_cursor_is_refused() {
    let mut set = FreeSet::new(4096).unwrap();
    let old = set.reserve(10).unwrap().unwrap();
    set.forfeit(&old).unwrap();
    let r = set.reserve(1000).unwrap().unwrap();
    let all = set.acquire_concurrently(|acquirer| {
        assert!(matches!(
            acquirer.cursor(&old),
            Err(freeset::Error::StaleReservation { .. })
        ));
        let mut one = acquirer.cursor(&r).unwrap();
        assert_eq!(
            acquirer.cursor(&r).unwrap_err(),
            freeset::Error::CursorExists { address: 1 }
        );
        std::iter::from_fn(|| one.acquire()).collect::<Vec<_>>()
    });
    assert_eq!(all, (1..=1000).collect::<Vec<_>>());
    assert_eq!(set.count_acquired(), 1000);
}

#[test]
fn a_leaked_cursor_still_counts() {
    let mut set = FreeSet::new(8192).unwrap();
    let r = set.reserve(100).unwrap().unwrap();
    set.acquire_concurrently(|acquirer| {
        let mut cursor = acquirer.cursor(&r).unwrap();
        for _ in 0..5 {
            cursor.acquire().unwrap();
        }
        std::mem::forget(cursor);
    });
    assert_eq!(set.count_acquired(), 5);
    assert_eq!(set.highest_acquired(), Some(5));
}

#[test]
fn a_panic_in_the_scope_leaves_the_set_consistent() {
    let mut set = FreeSet::new(3 * 4096).unwrap();
    let r = set.reserve(5000).unwrap().unwrap();
    let mut twin = FreeSet::new(3 * 4096).unwrap();
    let twin_r = twin.reserve(5000).unwrap().unwrap();
    // A cursor's thread panics after 4500 blocks, across a shard boundary.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        set.acquire_concurrently(|acquirer| {
            std::thread::scope(|threads| {
                threads.spawn(|| {
                    let mut cursor = acquirer.cursor(&r).unwrap();
                    for _ in 0..4500 {
                        cursor.acquire().unwrap();
                    }
                    panic!("a job failed");
                });
            });
        })
    }));
    // The panic goes on to the caller (`thread::scope` re-raises it).
    assert!(caught.is_err());
    // The blocks it took are counted, summarised and indexed as if acquired
    // one by one.
    for _ in 0..4500 {
        twin.acquire(&twin_r).unwrap().unwrap();
    }
    same_state(&set, &twin);
    assert_eq!(set.count_free(), 3 * 4096 - 4500);
    // And the set goes on: the rest of the reservation, then a checkpoint.
    assert_eq!(set.acquire(&r).unwrap(), Some(4501));
    set.forfeit(&r).unwrap();
    set.checkpoint_not_durable().unwrap();
    set.checkpoint_durable().unwrap();
}
