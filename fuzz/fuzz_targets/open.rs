//! `open`: arbitrary acquired and released bytes, trailer address lists and
//! a limit in `1..=3*4096+5` (up to four shards), opened into a fresh
//! `FreeSet::unopened`.
//!
//! Input layout: [`freeset_fuzz::input::OpenInput`].
//!
//! Checks:
//! - `open` never panics, and gives exactly the result of the naive `open`
//!   of `docs/behaviour.md` (`freeset_fuzz::naive::open`): the same `Ok`, or the
//!   same `Error` with the same fields (which bitset, the decoder's error
//!   and byte offset, the trailer list, position, address and reason);
//! - on error the set is exactly a fresh `unopened` set of the same limit:
//!   counts, `highest_*`, `is_opened`, `is_checkpoint_durable`, every word
//!   of the three bitsets (`acquired_words`, `released_words`,
//!   `pending_words`), `==`, and `encode` is still `NotOpened`; and it can
//!   still be opened (from empty input);
//! - either way, what the set does agrees with its words: a durable
//!   checkpoint of a clone frees exactly `released` and shows `pending` in
//!   `encode`, and `is_released` / `is_free` answer from the words (every
//!   61st block and both sides of every word boundary);
//! - on success the set is the naive state: the same words, released
//!   blocks, counts and `highest_*`, opened with a checkpoint that is not
//!   durable, and its derived index agrees: a reserve of exactly the free
//!   blocks succeeds and the acquires that follow hand out exactly the
//!   naive free blocks, in order;
//! - `open_with` on a 2-thread pool (`min_words(1)`), `open_stream` with
//!   both streams pushed in fuzzer-chosen chunks (cut anywhere), and
//!   `open_from_readers` with readers returning those chunk lengths give the
//!   same result (the same `Error`) and the same set as `open` (the
//!   observable state above, and `==`);
//! - an `open_stream` dropped halfway (flag bit 0) leaves the set as fresh.
//!
//! A bug is any difference, a panic, or an ASan report.
#![no_main]

use std::io::Read;

use freeset::{Bitset, Error, FreeSet};
use freeset_fuzz::input::OpenInput;
use freeset_fuzz::naive;
use freeset_fuzz::{bitsets, chunks, limit_of, parallel};
use libfuzzer_sys::fuzz_target;

/// Everything observable about a set, compared with `==`.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    limit: u64,
    capacity: u64,
    opened: bool,
    durable: bool,
    free: u64,
    acquired: u64,
    released: u64,
    reservations: u64,
    highest_acquired: Option<u64>,
    highest_released: Option<u64>,
    /// `acquired`, `released` and `pending` (see `freeset_fuzz::bitsets`).
    bitsets: (Vec<u64>, Vec<u64>, Vec<u64>),
    encode: Result<(Vec<u8>, Vec<u8>), Error>,
}

fn snapshot(set: &FreeSet) -> Snapshot {
    Snapshot {
        limit: set.limit(),
        capacity: set.capacity(),
        opened: set.is_opened(),
        durable: set.is_checkpoint_durable(),
        free: set.count_free(),
        acquired: set.count_acquired(),
        released: set.count_released(),
        reservations: set.count_reservations(),
        highest_acquired: set.highest_acquired(),
        highest_released: set.highest_released(),
        bitsets: bitsets(set),
        encode: set.encode(),
    }
}

/// What a set does agrees with its words: the bitsets a durable checkpoint
/// shows are those of the accessors, and `is_released` and `is_free`
/// answer from them for every 61st block and the blocks on each side of a
/// word boundary. (Once per input: [`snapshot`] compares the words.)
fn check_queries(set: &FreeSet, what: &str) {
    let (acquired, released, pending) = bitsets(set);
    assert!(
        freeset_fuzz::bitsets_through_checkpoint(set)
            == (acquired.clone(), released.clone(), pending.clone()),
        "{what}: the bitsets a checkpoint shows are not those of the accessors"
    );
    let capacity = set.capacity();
    let bit = |words: &[u64], a: u64| words[((a - 1) / 64) as usize] >> ((a - 1) % 64) & 1 == 1;
    for a in (61..=capacity)
        .step_by(61)
        .chain((64..=capacity).step_by(64))
        .chain((65..=capacity).step_by(64))
    {
        let want = bit(&released, a) || bit(&pending, a);
        assert_eq!(set.is_released(a), Ok(want), "{what}: is_released({a})");
        assert_eq!(
            set.is_free(a),
            Ok(!bit(&acquired, a)),
            "{what}: is_free({a})"
        );
    }
}

/// A reader that returns the bytes in the given chunk lengths.
struct ChunkedReader<'a> {
    pieces: std::vec::IntoIter<&'a [u8]>,
}

impl Read for ChunkedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        for piece in self.pieces.by_ref() {
            if piece.is_empty() {
                continue; // an empty read means the end
            }
            let n = piece.len().min(buf.len());
            buf[..n].copy_from_slice(&piece[..n]);
            assert_eq!(n, piece.len(), "buffers of 64 KiB hold any chunk");
            return Ok(n);
        }
        Ok(0)
    }
}

fuzz_target!(|data: &[u8]| {
    let input = OpenInput::parse(data);
    let limit = limit_of(input.limit_raw);
    let trailer_acquired: Vec<u64> = input
        .trailer_acquired
        .iter()
        .map(|&a| u64::from(a))
        .collect();
    let trailer_released: Vec<u64> = input
        .trailer_released
        .iter()
        .map(|&a| u64::from(a))
        .collect();
    let (acquired, released) = (input.acquired, input.released);

    let fresh = FreeSet::unopened(limit).expect("a small limit");
    let fresh_snapshot = snapshot(&fresh);
    assert_eq!(fresh_snapshot.encode, Err(Error::NotOpened));

    // One-shot, default parallelism.
    let mut set = fresh.clone();
    let result = set.open(acquired, released, &trailer_acquired, &trailer_released);
    let expected = naive::open(
        limit,
        acquired,
        released,
        &trailer_acquired,
        &trailer_released,
    );
    match (&result, &expected) {
        (Ok(()), Ok(_)) => {}
        (Err(got), Err(want)) => assert_eq!(got, want, "open: a different error"),
        _ => panic!(
            "open: {result:?}, naive open: {:?}",
            expected.as_ref().map(|_| ())
        ),
    }
    let after = snapshot(&set);
    check_queries(&set, "after open");
    match &expected {
        Err(_) => {
            assert_eq!(after, fresh_snapshot, "a failed open left a change");
            assert!(set == fresh, "a failed open left a change (==)");
            assert!(!set.is_opened());
            let mut again = set.clone();
            assert_eq!(
                again.open(&[], &[], &[], &[]),
                Ok(()),
                "a failed open must leave the set openable"
            );
        }
        Ok(state) => {
            assert!(after.opened && !after.durable, "open: opened, not durable");
            assert_eq!(
                after.bitsets.0,
                state.acquired.words(),
                "open: acquired words"
            );
            assert_eq!(
                after.bitsets.1,
                state.released.words(),
                "open: released blocks"
            );
            assert_eq!(
                after.bitsets.2,
                state.pending.words(),
                "open: pending blocks"
            );
            for &a in &state.released_addresses() {
                assert_eq!(set.is_released(a), Ok(true), "is_released({a})");
            }
            assert!(set != fresh, "== tells an opened set from a fresh one");
            assert_eq!(after.free, state.count_free(), "count_free");
            assert_eq!(after.acquired, state.count_acquired(), "count_acquired");
            assert_eq!(after.released, state.count_released(), "count_released");
            assert_eq!(after.reservations, 0);
            assert_eq!(
                after.highest_acquired,
                state.highest_acquired(),
                "highest_acquired"
            );
            assert_eq!(
                after.highest_released,
                state.highest_released(),
                "highest_released"
            );
            assert_eq!(after.encode, Err(Error::EncodeNotDurable));
            check_index(&set, state);
        }
    }

    // Parallel.
    let mut on_pool = fresh.clone();
    let pooled = on_pool.open_with(
        acquired,
        released,
        &trailer_acquired,
        &trailer_released,
        parallel(),
    );
    assert_eq!(pooled, result, "open_with(pool of 2) vs open");
    assert_eq!(
        snapshot(&on_pool),
        after,
        "open_with(pool of 2): another set"
    );
    assert!(on_pool == set, "open_with(pool of 2): another set (==)");

    // Streamed in chunks.
    let mut streamed = fresh.clone();
    let stream_result = open_streamed(&mut streamed, &input, &trailer_acquired, &trailer_released);
    assert_eq!(stream_result, result, "open_stream vs open");
    assert_eq!(snapshot(&streamed), after, "open_stream: another set");
    assert!(streamed == set, "open_stream: another set (==)");

    // From readers.
    let mut from_readers = fresh.clone();
    let readers_result = from_readers.open_from_readers(
        ChunkedReader {
            pieces: chunks(acquired, input.cuts).into_iter(),
        },
        ChunkedReader {
            pieces: chunks(released, input.cuts).into_iter(),
        },
        &trailer_acquired,
        &trailer_released,
    );
    let readers_result = readers_result.map_err(|e| match e {
        freeset::OpenReadError::Open(error) => error,
        other => panic!("readers of slices fail only in the open: {other:?}"),
    });
    assert_eq!(readers_result, result, "open_from_readers vs open");
    assert_eq!(
        snapshot(&from_readers),
        after,
        "open_from_readers: another set"
    );
    assert!(from_readers == set, "open_from_readers: another set (==)");

    // Abandoned halfway: dropped before `finish`.
    if input.flags & 1 == 1 {
        let mut abandoned = fresh.clone();
        {
            let mut stream = abandoned.open_stream().expect("a fresh set opens");
            let pieces = chunks(acquired, input.cuts);
            for piece in &pieces[..pieces.len() / 2] {
                let _ = stream.push_acquired(piece);
            }
            if pieces.len() % 2 == 1 {
                let _ = stream.push_released(released);
            }
        }
        assert_eq!(
            snapshot(&abandoned),
            fresh_snapshot,
            "a dropped open_stream left a change"
        );
    }
});

fn open_streamed(
    set: &mut FreeSet,
    input: &OpenInput,
    trailer_acquired: &[u64],
    trailer_released: &[u64],
) -> Result<(), Error> {
    let mut stream = set.open_stream()?;
    let mut first_error: Option<Error> = None;
    for (bitset, bytes) in [
        (Bitset::Acquired, input.acquired),
        (Bitset::Released, input.released),
    ] {
        for piece in chunks(bytes, input.cuts) {
            let pushed = match bitset {
                Bitset::Acquired => stream.push_acquired(piece),
                Bitset::Released => stream.push_released(piece),
            };
            match (&first_error, pushed) {
                (None, Err(e)) => first_error = Some(e),
                (Some(e), again) => {
                    assert_eq!(again.as_ref(), Err(e), "open_stream: an error must repeat")
                }
                (None, Ok(())) => {}
            }
        }
    }
    let result = stream.finish(trailer_acquired, trailer_released);
    if let Some(e) = first_error {
        assert_eq!(result, Err(e), "open_stream: finish must repeat the error");
    }
    result
}

/// The index and counters agree with the words: reserving exactly the free
/// blocks succeeds (and one more gives none), and acquiring from the
/// reservation hands out the free blocks below the limit in order.
fn check_index(set: &FreeSet, state: &naive::State) {
    let free: Vec<u64> = (0..state.limit)
        .filter(|&b| !state.acquired.get(b))
        .map(|b| b + 1)
        .collect();
    let mut copy = set.clone();
    let n = free.len() as u64;
    assert_eq!(
        copy.reserve(n + 1),
        Ok(None),
        "reserve past the free blocks"
    );
    if n == 0 {
        return;
    }
    let r = copy
        .reserve(n)
        .expect("reserve on an opened set")
        .expect("reserve of exactly the free blocks");
    assert_eq!((r.block_base(), r.block_count()), (0, free[free.len() - 1]));
    for &address in &free {
        assert_eq!(copy.acquire(&r), Ok(Some(address)), "acquire after open");
    }
    assert_eq!(copy.acquire(&r), Ok(None));
    assert_eq!(copy.count_free(), 0);
}
