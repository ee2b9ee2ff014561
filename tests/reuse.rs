//! Immediate reuse ([`Options::immediate_reuse`]): which releases free a
//! block at once (exactly those of blocks acquired since the last commit or
//! open), at word, shard and limit edges; what an acquire returns after one
//! (the lowest free block of its range, sequential or concurrent); the
//! low-level checkpoint calls it refuses; and that the option is off by
//! default. `tests/model.rs` checks the same rule on random sequences.

use freeset::{Error, FreeSet, Options};

fn reuse() -> Options {
    Options::new().immediate_reuse(true)
}

/// Writes a checkpoint through the API and commits it; returns the chunks
/// (acquired encoding, released encoding) and the trailer.
fn checkpoint(set: &mut FreeSet) -> (Vec<u8>, Vec<u8>, freeset::Trailer) {
    let mut buffer = [0u8; 256];
    let (mut acquired, mut released) = (Vec::new(), Vec::new());
    let mut checkpoint = set.checkpoint(buffer.len()).unwrap();
    while let Some(chunk) = checkpoint.next_chunk(&mut buffer).unwrap() {
        match chunk.bitset {
            freeset::Bitset::Acquired => acquired.extend_from_slice(&buffer[..chunk.len]),
            freeset::Bitset::Released => released.extend_from_slice(&buffer[..chunk.len]),
        }
    }
    let trailer = checkpoint.commit().unwrap();
    (acquired, released, trailer)
}

/// Acquires `n` blocks from one reservation, forfeits it, returns them.
fn acquire(set: &mut FreeSet, n: u64) -> Vec<u64> {
    let job = set.reserve(n).unwrap().expect("room");
    let blocks: Vec<u64> = (0..n)
        .map(|_| set.acquire(&job).unwrap().unwrap())
        .collect();
    set.forfeit(&job).unwrap();
    blocks
}

#[test]
fn off_by_default() {
    assert!(!Options::default().has_immediate_reuse());
    assert_eq!(Options::new(), Options::default());
    let mut set = FreeSet::new(1000).unwrap();
    assert!(!set.options().has_immediate_reuse());
    let blocks = acquire(&mut set, 3);
    set.release(blocks[1]).unwrap();
    assert!(!set.is_free(blocks[1]).unwrap());
    assert!(set.is_released(blocks[1]).unwrap());
    assert!(set.encode().is_ok());
    // A raw bitset gives the default options too.
    let words = set.acquired_words().to_vec();
    let raw = FreeSet::from_acquired_words(1000, words).unwrap();
    assert!(!raw.options().has_immediate_reuse());
}

#[test]
fn a_block_acquired_since_the_last_checkpoint_is_free_at_once() {
    let mut set = FreeSet::with_options(10_000, reuse()).unwrap();
    assert!(set.options().has_immediate_reuse());
    let old = acquire(&mut set, 100);
    checkpoint(&mut set);
    let new = acquire(&mut set, 100);
    let (acquired, free) = (set.count_acquired(), set.count_free());
    // Not durable yet: an old block waits two checkpoints, a new one none.
    set.release(old[7]).unwrap();
    set.release(new[7]).unwrap();
    assert!(set.is_released(old[7]).unwrap() && !set.is_free(old[7]).unwrap());
    assert!(!set.is_released(new[7]).unwrap() && set.is_free(new[7]).unwrap());
    assert_eq!(set.count_acquired(), acquired - 1);
    assert_eq!(set.count_free(), free + 1);
    assert_eq!(set.count_released(), 1);
    // The freed block is released no more.
    assert_eq!(set.release(new[7]), Err(Error::NotAcquired(new[7])));
    set.checkpoint_durable().unwrap();
    // Durable now: the next checkpoint takes a new snapshot, after which
    // `new` is held too.
    checkpoint(&mut set);
    set.release(new[8]).unwrap();
    assert!(set.is_released(new[8]).unwrap());
    let newer = acquire(&mut set, 1);
    set.release(newer[0]).unwrap();
    assert!(set.is_free(newer[0]).unwrap());
}

#[test]
fn the_trailer_is_held_even_when_taken_over() {
    let mut set = FreeSet::with_options(10_000, reuse()).unwrap();
    acquire(&mut set, 50);
    let (_, _, trailer) = checkpoint(&mut set);
    assert!(!trailer.acquired.is_empty());
    let first = trailer.acquired[0];
    assert_eq!(
        set.release(first),
        Err(Error::TrailerBlock { address: first })
    );
    // Taken over by the engine, the trailer's blocks are the checkpoint's
    // own: a release waits.
    for address in set.take_last_trailer() {
        set.release(address).unwrap();
        assert!(set.is_released(address).unwrap(), "{address}");
    }
}

#[test]
fn a_dropped_checkpoint_keeps_the_last_snapshot() {
    let mut set = FreeSet::with_options(10_000, reuse()).unwrap();
    let blocks = acquire(&mut set, 10);
    {
        let mut buffer = [0u8; 64];
        let mut checkpoint = set.checkpoint(buffer.len()).unwrap();
        checkpoint.next_chunk(&mut buffer).unwrap();
    } // dropped: no checkpoint was written
    set.release(blocks[0]).unwrap();
    assert!(set.is_free(blocks[0]).unwrap());
}

#[test]
fn open_holds_everything_it_decodes_and_its_trailer() {
    let mut set = FreeSet::with_options(10_000, reuse()).unwrap();
    let blocks = acquire(&mut set, 200);
    set.release(blocks[3]).unwrap(); // free at once: never in a checkpoint
    let (acquired, released, trailer) = checkpoint(&mut set);
    let mut reopened = FreeSet::unopened_with_options(10_000, reuse()).unwrap();
    reopened
        .open(&acquired, &released, &trailer.acquired, &trailer.released)
        .unwrap();
    assert!(reopened.options().has_immediate_reuse());
    // The block freed at once was the lowest free one: the trailer took it.
    assert_eq!(trailer.acquired[0], blocks[3]);
    assert!(reopened.is_released(blocks[3]).unwrap());
    reopened.release(blocks[4]).unwrap();
    assert!(reopened.is_released(blocks[4]).unwrap());
    assert!(matches!(
        reopened.release(trailer.acquired[0]),
        Err(Error::AlreadyReleased(_) | Error::TrailerBlock { .. })
    ));
    // Acquired after the open: free at once.
    let fresh = acquire(&mut reopened, 2);
    reopened.release(fresh[1]).unwrap();
    assert!(reopened.is_free(fresh[1]).unwrap());
    // A reset and a new open start from what that open holds.
    reopened.reset();
    reopened.open(&acquired, &released, &[], &[]).unwrap();
    reopened.release(blocks[5]).unwrap();
    assert!(reopened.is_released(blocks[5]).unwrap());
}

#[test]
fn low_level_checkpoint_calls_are_refused_and_change_nothing() {
    let mut set = FreeSet::with_options(1000, reuse()).unwrap();
    acquire(&mut set, 5);
    let before = format!("{set:?}");
    let refused = |operation| Error::ImmediateReuse { operation };
    assert_eq!(set.encode(), Err(refused("encode")));
    assert_eq!(
        set.encode_with(freeset::Parallelism::SEQUENTIAL),
        Err(refused("encode"))
    );
    assert_eq!(
        set.encoder(freeset::Bitset::Acquired).err(),
        Some(refused("encoder"))
    );
    assert_eq!(
        set.encoded_size(freeset::Bitset::Released),
        Err(refused("encoded_size"))
    );
    let error = set.checkpoint_not_durable().unwrap_err();
    assert_eq!(error, refused("checkpoint_not_durable"));
    assert!(error.to_string().contains("FreeSet::checkpoint"), "{error}");
    assert_eq!(format!("{set:?}"), before);
    assert!(set.is_checkpoint_durable());
    // The checkpoint API works, and so does durability after it.
    checkpoint(&mut set);
    set.checkpoint_durable().unwrap();
}

#[test]
fn the_next_acquire_takes_the_lowest_free_block_of_its_range() {
    let mut set = FreeSet::with_options(3 * 4096, reuse()).unwrap();
    let first = set.reserve(5000).unwrap().unwrap();
    let second = set.reserve(300).unwrap().unwrap();
    let mut got = Vec::new();
    for _ in 0..4500 {
        got.push(set.acquire(&first).unwrap().unwrap());
    }
    for _ in 0..200 {
        set.acquire(&second).unwrap().unwrap();
    }
    // Word and shard edges, below the position of `first` (address = block + 1).
    for address in [4096, 64, 4097, 65, 1] {
        set.release(address).unwrap();
        assert!(set.is_free(address).unwrap());
    }
    for want in [1, 64, 65, 4096, 4097] {
        assert_eq!(set.acquire(&first).unwrap(), Some(want));
    }
    assert_eq!(set.acquire(&first).unwrap(), Some(4501));
    // A block of the second range goes back to the second.
    set.release(5010).unwrap();
    assert_eq!(set.acquire(&second).unwrap(), Some(5010));
    assert_eq!(set.acquire(&second).unwrap(), Some(5201));
    // A block freed past every range is found by the next reserve of the
    // session, one freed below them by the first of the next session.
    set.forfeit(&first).unwrap();
    set.forfeit(&second).unwrap();
    let again = set.reserve(1).unwrap().unwrap();
    assert_eq!(set.acquire(&again).unwrap(), Some(4502));
    set.forfeit(&again).unwrap();
    let _ = got;
}

#[test]
fn highest_floor_and_index_follow_at_the_limit() {
    for limit in [1, 63, 64, 65, 4095, 4096, 4097, 8193] {
        let mut set = FreeSet::with_options(limit, reuse()).unwrap();
        let all = acquire(&mut set, limit);
        assert_eq!(set.count_free(), 0);
        assert_eq!(set.reserve(1).unwrap(), None);
        // Release from the top: the highest acquired address follows down.
        for &address in all.iter().rev().take(130) {
            set.release(address).unwrap();
            assert_eq!(set.highest_acquired(), (address > 1).then_some(address - 1));
        }
        let freed = all.len().min(130) as u64;
        assert_eq!(set.count_free(), freed);
        // Every freed block is found again, lowest first.
        let refill = acquire(&mut set, freed);
        assert_eq!(refill, all[all.len() - freed as usize..].to_vec());
        assert_eq!(set.count_free(), 0);
        // Scattered, then all of it: the set is empty again.
        for &address in all.iter().step_by(3).chain(all.iter().skip(1).step_by(3)) {
            set.release(address).unwrap();
        }
        for &address in all.iter().skip(2).step_by(3) {
            set.release(address).unwrap();
        }
        assert_eq!(set.count_acquired(), 0);
        assert_eq!(set.highest_acquired(), None);
        assert_eq!(acquire(&mut set, limit), all);
    }
}

#[test]
fn concurrent_acquires_take_a_freed_block_too() {
    let mut set = FreeSet::with_options(1 << 14, reuse()).unwrap();
    let jobs = [
        set.reserve(1000).unwrap().unwrap(),
        set.reserve(1000).unwrap().unwrap(),
    ];
    for job in &jobs {
        for _ in 0..600 {
            set.acquire(job).unwrap().unwrap();
        }
    }
    set.release(100).unwrap();
    set.release(1100).unwrap();
    let got: Vec<Option<u64>> = set.acquire_concurrently(|acquirer| {
        jobs.iter()
            .map(|job| acquirer.cursor(job).unwrap().acquire())
            .collect()
    });
    assert_eq!(got, vec![Some(100), Some(1100)]);
}

#[test]
fn a_clone_keeps_the_options_and_the_snapshot() {
    let mut set = FreeSet::with_options(1000, reuse()).unwrap();
    let old = acquire(&mut set, 5);
    checkpoint(&mut set);
    let new = acquire(&mut set, 5);
    for mut copy in [set.clone(), set.try_clone().unwrap()] {
        assert!(copy.options().has_immediate_reuse());
        copy.release(old[0]).unwrap();
        copy.release(new[0]).unwrap();
        assert!(copy.is_released(old[0]).unwrap());
        assert!(copy.is_free(new[0]).unwrap());
    }
}
