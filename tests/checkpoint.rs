//! The checkpoint API ([`FreeSet::checkpoint`], [`Checkpoint`]) against the
//! low-level calls in the order an engine must make them (release the
//! previous trailer, encode, reserve and acquire the trailer,
//! `checkpoint_not_durable`), and the state it leaves when dropped, when
//! misused and across restarts.

use freeset::{Bitset, Checkpoint, Error, FreeSet, Trailer};

/// The whole observable state, for comparisons that must be exact: the
/// persistent state (`PartialEq`) and every counter and query besides.
fn state(set: &FreeSet) -> impl PartialEq + std::fmt::Debug {
    (
        set.clone(),
        set.count_free(),
        set.count_acquired(),
        set.count_released(),
        set.count_reservations(),
        set.highest_acquired(),
        set.highest_released(),
        set.last_trailer().to_vec(),
        set.is_checkpoint_durable(),
    )
}

/// A set with some acquired and released blocks, its checkpoint durable.
fn busy_set(limit: u64, seed: u64) -> FreeSet {
    let mut set = FreeSet::new(limit).unwrap();
    let mut x = seed | 1;
    let jobs: Vec<_> = (0..3)
        .map(|k| set.reserve(limit / 8 + k).unwrap().unwrap())
        .collect();
    let mut acquired = Vec::new();
    for _ in 0..limit / 8 {
        for job in &jobs {
            acquired.extend(set.acquire(job).unwrap());
        }
    }
    for job in &jobs {
        set.forfeit(job).unwrap();
    }
    for &address in &acquired {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(5) {
            set.release(address).unwrap();
        }
    }
    set
}

/// Every chunk of `checkpoint` as (address, bytes).
fn all_chunks(checkpoint: &mut Checkpoint<'_>, chunk_bytes: usize) -> Vec<(u64, Bitset, Vec<u8>)> {
    let mut buffer = vec![0xa5u8; chunk_bytes + 3];
    let mut chunks = Vec::new();
    while let Some(chunk) = checkpoint.next_chunk(&mut buffer).unwrap() {
        assert!(chunk.len <= chunk_bytes && chunk.len > 0);
        chunks.push((chunk.address, chunk.bitset, buffer[..chunk.len].to_vec()));
    }
    chunks
}

/// The low-level order, by hand: what the API must do, block for block.
fn by_hand(
    set: &mut FreeSet,
    previous: &[u64],
    chunk_bytes: usize,
) -> (Trailer, Vec<(u64, Vec<u8>)>) {
    for &address in previous {
        set.release(address).unwrap();
    }
    let (acquired, released) = set.encode().unwrap();
    let pieces: Vec<(Bitset, &[u8])> = acquired
        .chunks(chunk_bytes)
        .map(|c| (Bitset::Acquired, c))
        .chain(released.chunks(chunk_bytes).map(|c| (Bitset::Released, c)))
        .collect();
    let mut trailer = Trailer {
        acquired_len: acquired.len() as u64,
        released_len: released.len() as u64,
        ..Trailer::default()
    };
    let mut chunks = Vec::new();
    if !pieces.is_empty() {
        let r = set.reserve(pieces.len() as u64).unwrap().unwrap();
        for (bitset, bytes) in pieces {
            let address = set.acquire(&r).unwrap().unwrap();
            match bitset {
                Bitset::Acquired => trailer.acquired.push(address),
                Bitset::Released => trailer.released.push(address),
            }
            chunks.push((address, bytes.to_vec()));
        }
        set.forfeit(&r).unwrap();
    }
    set.checkpoint_not_durable().unwrap();
    (trailer, chunks)
}

#[test]
fn the_api_makes_the_calls_of_the_right_order_block_for_block() {
    for (limit, chunk_bytes) in [(10_000, 64), (70_000, 512), (5_000, 8), (100, 4096)] {
        let mut api = busy_set(limit, limit);
        let mut hand = api.clone();
        let mut previous: Vec<u64> = Vec::new();
        // Several cycles: each releases the previous trailer.
        for cycle in 0..4 {
            let mut checkpoint = api.checkpoint(chunk_bytes).unwrap();
            let addresses = checkpoint.addresses().to_vec();
            let chunks = all_chunks(&mut checkpoint, chunk_bytes);
            assert_eq!(chunks.len(), checkpoint.chunks());
            let trailer = checkpoint.commit().unwrap();
            let (expected, expected_chunks) = by_hand(&mut hand, &previous, chunk_bytes);
            assert_eq!(trailer, expected, "{limit} blocks, cycle {cycle}");
            let got: Vec<(u64, Vec<u8>)> = chunks.into_iter().map(|(a, _, b)| (a, b)).collect();
            assert_eq!(got, expected_chunks, "{limit} blocks, cycle {cycle}");
            let all: Vec<u64> = trailer
                .acquired
                .iter()
                .chain(&trailer.released)
                .copied()
                .collect();
            assert_eq!(addresses, all);
            assert_eq!(api.last_trailer(), &all[..]);
            assert_eq!(api, hand);
            api.checkpoint_durable().unwrap();
            hand.checkpoint_durable().unwrap();
            assert_eq!(api, hand);
            previous = all;
            // Work between checkpoints.
            let r = api.reserve(7).unwrap().unwrap();
            let h = hand.reserve(7).unwrap().unwrap();
            for _ in 0..7 {
                assert_eq!(api.acquire(&r).unwrap(), hand.acquire(&h).unwrap());
            }
            api.forfeit(&r).unwrap();
            hand.forfeit(&h).unwrap();
        }
    }
}

#[test]
fn a_dropped_checkpoint_leaves_the_set_exactly_as_it_was() {
    let mut set = busy_set(20_000, 3);
    // A first checkpoint, so that the second one releases a trailer.
    let mut checkpoint = set.checkpoint(64).unwrap();
    all_chunks(&mut checkpoint, 64);
    checkpoint.commit().unwrap();
    set.checkpoint_durable().unwrap();
    assert!(!set.last_trailer().is_empty());
    let before = state(&set);
    let bytes_before = set.encode().unwrap();
    for handed in [0, 1, 3, usize::MAX] {
        let mut checkpoint = set.checkpoint(64).unwrap();
        let mut buffer = [0u8; 64];
        for _ in 0..handed.min(checkpoint.chunks()) {
            checkpoint.next_chunk(&mut buffer).unwrap().unwrap();
        }
        if handed < checkpoint.chunks() {
            // Committing early is an error that drops the handle.
            let error = checkpoint.commit().unwrap_err();
            assert!(
                matches!(error, Error::CheckpointIncomplete { .. }),
                "{error}"
            );
            assert!(error.to_string().contains("next_chunk"), "{error}");
        } else {
            drop(checkpoint);
        }
        assert_eq!(state(&set), before, "{handed} chunks handed out");
        assert_eq!(set.encode().unwrap(), bytes_before);
    }
}

#[test]
fn misuse_names_the_call_to_make_and_changes_nothing() {
    let mut set = busy_set(10_000, 9);
    let r = set.reserve(3).unwrap().unwrap();
    let before = state(&set);
    let error = set.checkpoint(64).unwrap_err();
    assert_eq!(error, Error::ReservationsActive(1));
    assert!(error.to_string().contains("forfeit"), "{error}");
    assert_eq!(state(&set), before);
    set.forfeit(&r).unwrap();
    for bytes in [0, 7, 12] {
        assert_eq!(set.checkpoint(bytes).unwrap_err(), Error::ChunkBytes(bytes));
    }
    set.checkpoint_not_durable().unwrap();
    let error = set.checkpoint(64).unwrap_err();
    assert_eq!(error, Error::CheckpointNotDurableYet);
    assert!(
        error.to_string().contains("checkpoint_durable()"),
        "{error}"
    );
    // The low-level encode names the order too.
    let error = set.encode().unwrap_err();
    assert_eq!(error, Error::EncodeNotDurable);
    assert!(
        error.to_string().contains("checkpoint_durable()"),
        "{error}"
    );
    assert!(error.to_string().contains("FreeSet::checkpoint"), "{error}");
    set.checkpoint_durable().unwrap();
    // A buffer shorter than a chunk.
    let mut checkpoint = set.checkpoint(64).unwrap();
    let error = checkpoint.next_chunk(&mut [0u8; 63]).unwrap_err();
    assert_eq!(
        error,
        Error::ChunkBuffer {
            len: 63,
            chunk_bytes: 64
        }
    );
    drop(checkpoint);
    // No room for the trailer: a full set.
    let mut full = FreeSet::new(100).unwrap();
    let r = full.reserve(100).unwrap().unwrap();
    while full.acquire(&r).unwrap().is_some() {}
    full.forfeit(&r).unwrap();
    let before = state(&full);
    assert!(matches!(
        full.checkpoint(8).unwrap_err(),
        Error::NoRoomForTrailer { free: 0, .. }
    ));
    assert_eq!(state(&full), before);
}

#[test]
fn a_previous_trailer_released_by_the_engine_is_an_error_that_changes_nothing() {
    let mut set = busy_set(10_000, 5);
    let mut checkpoint = set.checkpoint(16).unwrap();
    all_chunks(&mut checkpoint, 16);
    let trailer = checkpoint.commit().unwrap();
    set.checkpoint_durable().unwrap();
    // The engine releases the last trailer block itself: refused, as the
    // next checkpoint releases it (released twice, it could be freed by
    // the durable checkpoint, handed to new data, and released again by
    // the next checkpoint under that data).
    let last = *trailer.released.last().unwrap();
    let before = state(&set);
    let error = set.release(last).unwrap_err();
    assert_eq!(error, Error::TrailerBlock { address: last });
    assert!(
        error
            .to_string()
            .contains("FreeSet::checkpoint releases it"),
        "{error}"
    );
    assert_eq!(state(&set), before);
    // The next checkpoint releases it once.
    let mut checkpoint = set.checkpoint(16).unwrap();
    all_chunks(&mut checkpoint, 16);
    checkpoint.commit().unwrap();
    assert!(set.is_released(last).unwrap());
}

#[test]
fn an_engine_that_takes_the_trailer_over_releases_it_itself() {
    let mut set = busy_set(10_000, 7);
    let mut checkpoint = set.checkpoint(16).unwrap();
    all_chunks(&mut checkpoint, 16);
    let trailer = checkpoint.commit().unwrap();
    set.checkpoint_durable().unwrap();
    let all: Vec<u64> = trailer
        .acquired
        .iter()
        .chain(&trailer.released)
        .copied()
        .collect();
    assert_eq!(set.take_last_trailer(), all);
    assert!(set.last_trailer().is_empty());
    // The low-level order from here: release the previous trailer, encode,
    // and the next checkpoint through the API releases nothing of it again.
    for &address in &all {
        set.release(address).unwrap();
    }
    let released = set.count_released();
    let mut checkpoint = set.checkpoint(16).unwrap();
    all_chunks(&mut checkpoint, 16);
    checkpoint.commit().unwrap();
    assert_eq!(set.count_released(), released);
}

#[test]
fn a_reopened_trailer_block_released_again_names_the_trailer() {
    let mut set = busy_set(10_000, 9);
    let mut checkpoint = set.checkpoint(64).unwrap();
    let chunks = all_chunks(&mut checkpoint, 64);
    let trailer = checkpoint.commit().unwrap();
    let mut reopened = FreeSet::unopened(10_000).unwrap();
    let mut open = reopened.open_stream().unwrap();
    for (_, bitset, bytes) in &chunks {
        match bitset {
            Bitset::Acquired => open.push_acquired(bytes).unwrap(),
            Bitset::Released => open.push_released(bytes).unwrap(),
        }
    }
    open.finish(&trailer.acquired, &trailer.released).unwrap();
    let first = trailer.acquired[0];
    let before = state(&reopened);
    assert_eq!(
        reopened.release(first).unwrap_err(),
        Error::TrailerBlock { address: first }
    );
    assert_eq!(state(&reopened), before);
}

#[test]
fn after_open_the_trailer_given_is_not_released_again() {
    let mut set = busy_set(30_000, 11);
    let mut checkpoint = set.checkpoint(256).unwrap();
    let chunks = all_chunks(&mut checkpoint, 256);
    let trailer = checkpoint.commit().unwrap();
    // A restart from the chunks.
    let mut reopened = FreeSet::unopened(30_000).unwrap();
    let mut open = reopened.open_stream().unwrap();
    for (_, bitset, bytes) in &chunks {
        match bitset {
            Bitset::Acquired => open.push_acquired(bytes).unwrap(),
            Bitset::Released => open.push_released(bytes).unwrap(),
        }
    }
    open.finish(&trailer.acquired, &trailer.released).unwrap();
    // What the restart must find: the set as written, the trailer pending.
    let mut expected = set.clone();
    for address in expected.take_last_trailer() {
        expected.release(address).unwrap();
    }
    assert_eq!(reopened, expected);
    let all: Vec<u64> = trailer
        .acquired
        .iter()
        .chain(&trailer.released)
        .copied()
        .collect();
    assert_eq!(reopened.last_trailer(), &all[..]);
    // The restarted engine learns the checkpoint is durable, and writes the
    // next one: the old trailer is released already (pending, now
    // released), so the checkpoint releases nothing of it again.
    reopened.checkpoint_durable().unwrap();
    let released = reopened.count_released();
    let mut checkpoint = reopened.checkpoint(256).unwrap();
    all_chunks(&mut checkpoint, 256);
    checkpoint.commit().unwrap();
    assert_eq!(reopened.count_released(), released);
    reopened.checkpoint_durable().unwrap();
    for &address in &all {
        assert!(
            reopened.is_free(address).unwrap(),
            "old trailer block {address}"
        );
    }
}

#[test]
fn an_empty_set_checkpoints_to_no_chunk() {
    let mut set = FreeSet::new(1000).unwrap();
    let mut checkpoint = set.checkpoint(8).unwrap();
    assert_eq!(checkpoint.chunks(), 0);
    assert_eq!(checkpoint.next_chunk(&mut [0; 8]).unwrap(), None);
    let trailer = checkpoint.commit().unwrap();
    assert_eq!(trailer, Trailer::default());
    assert!(!set.is_checkpoint_durable());
}
