//! Sharp edges an engine author ran into, one test each: a retried write
//! that lost bytes, encodings that kept a worst-case capacity, `Debug`
//! output that printed every word, a second forfeit that ended a session
//! under a live reservation, a reader that could make `open` panic, an
//! error chain that printed its cause twice; and the small accessors that
//! were missing (addresses, released and pending words, comparison, a
//! fallible clone).

use std::error::Error as _;
use std::io::{self, Read, Write};

use freeset::ewah::{self, Decoder, Encoder};
use freeset::{Bitset, Error, FreeSet, OpenReadError, Parallelism};

/// splitmix64, for the writers' whims.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A writer that takes a random part of each write, sometimes fails
/// outright, sometimes after taking nothing, and is sometimes interrupted.
struct Flaky {
    rng: Rng,
    taken: Vec<u8>,
    failures: u64,
}

impl Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.rng.next() % 8 {
            0 => {
                self.failures += 1;
                Err(io::Error::other("the disk hiccuped"))
            }
            1 => Err(io::Error::from(io::ErrorKind::Interrupted)),
            2 => Ok(0),
            _ => {
                let n = 1 + (self.rng.next() as usize % buf.len().min(70_000));
                self.taken.extend_from_slice(&buf[..n]);
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Words with long literal stretches and runs: encodings of several 64 KiB
/// chunks.
fn words(n: usize, seed: u64) -> Vec<u64> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| match (i / 700) % 3 {
            0 => rng.next(),
            1 => 0,
            _ => !0,
        })
        .collect()
}

#[test]
fn a_write_retried_after_an_error_goes_on_where_the_writer_stopped() {
    let mut total_errors = 0;
    for seed in 0..20 {
        let words = words(30_000 + seed as usize * 997, seed);
        let expected = ewah::encode(&words);
        let mut writer = Flaky {
            rng: Rng(seed),
            taken: Vec::new(),
            failures: 0,
        };
        let mut encoder = Encoder::new(&words);
        let mut attempts = 0;
        let mut reported = 0;
        let mut errors = 0;
        loop {
            attempts += 1;
            assert!(attempts < 100_000, "no progress");
            match encoder.write_to(&mut writer) {
                Ok(n) => {
                    reported += n;
                    break;
                }
                Err(e) => {
                    errors += 1;
                    assert!(
                        e.kind() == io::ErrorKind::Other || e.kind() == io::ErrorKind::WriteZero,
                        "{e}"
                    );
                    // Nothing lost, nothing repeated so far.
                    assert_eq!(writer.taken, expected[..writer.taken.len()], "seed {seed}");
                }
            }
        }
        assert!(errors >= writer.failures, "seed {seed}: every failure seen");
        total_errors += errors;
        assert!(encoder.is_done());
        assert_eq!(writer.taken, expected, "seed {seed}");
        assert!(reported <= expected.len() as u64);
    }
    assert!(total_errors >= 20, "the writer failed {total_errors} times");
}

#[test]
fn a_chunk_after_a_failed_write_starts_with_the_rest_of_the_word() {
    // The write stops inside a word: `encode_chunk` hands out its rest first.
    struct Three(Vec<u8>);
    impl Write for Three {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                self.0.extend_from_slice(&buf[..3]);
                Ok(3)
            } else {
                Err(io::Error::other("full"))
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let words = [7u64, 0, 0, 9, !0];
    let expected = ewah::encode(&words);
    let mut encoder = Encoder::new(&words);
    let mut first = Three(Vec::new());
    assert!(encoder.write_to(&mut first).is_err());
    let mut bytes = first.0;
    let mut chunk = [0u8; 16];
    while !encoder.is_done() {
        let n = encoder.encode_chunk(&mut chunk).unwrap();
        bytes.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(bytes, expected);
}

#[test]
fn encodings_keep_a_capacity_near_their_length() {
    // All free at 2^27 blocks: 8 bytes of encoding.
    let free = vec![0u64; 1 << 21];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let mixed = words(1 << 18, 3);
    for words in [&free[..], &mixed[..], &free[..1000]] {
        for parallelism in [
            Parallelism::SEQUENTIAL,
            Parallelism::pool(&pool).min_words(1 << 10),
        ] {
            let bytes = ewah::encode_with(words, parallelism);
            assert!(
                bytes.capacity() <= 2 * bytes.len() + 4096,
                "{} bytes in a capacity of {} ({} words, {parallelism:?})",
                bytes.len(),
                bytes.capacity(),
                words.len()
            );
            let tried = ewah::try_encode_with(words, parallelism).unwrap();
            assert_eq!(tried, bytes);
        }
    }
    let set = FreeSet::new(1 << 27).unwrap();
    let (acquired, released) = set.encode().unwrap();
    assert!(acquired.capacity() <= 4096 && released.capacity() <= 4096);
}

#[test]
fn debug_prints_sizes_and_positions_never_words() {
    let words = words(1 << 20, 5);
    let mut encoder = Encoder::new(&words);
    let mut chunk = [0u8; 4096];
    encoder.encode_chunk(&mut chunk).unwrap();
    let bytes = ewah::encode(&words);
    let mut target = vec![0u64; 1 << 20];
    let mut decoder = Decoder::new(&mut target);
    decoder.decode_chunk(&bytes[..1 << 16]).unwrap();
    let mut texts = vec![
        format!("{encoder:?}"),
        format!("{:?}", Encoder::new(&words).into_reader()),
        format!("{decoder:?}"),
    ];
    let _ = decoder;
    let mut set = FreeSet::new(1 << 26).unwrap();
    let r = set.reserve(1 << 20).unwrap().unwrap();
    set.acquire_concurrently(|acquirer| {
        let mut cursor = acquirer.cursor(&r).unwrap();
        cursor.acquire();
        texts.push(format!("{acquirer:?}"));
        texts.push(format!("{cursor:?}"));
    });
    set.forfeit(&r).unwrap();
    let checkpoint = set.checkpoint(4096).unwrap();
    texts.push(format!("{checkpoint:?}"));
    drop(checkpoint);
    texts.push(format!("{set:?}"));
    for text in texts {
        assert!(
            text.len() < 300,
            "{} bytes: {}",
            text.len(),
            &text[..300.min(text.len())]
        );
    }
}

#[test]
fn a_second_forfeit_is_an_error_that_changes_nothing() {
    let mut set = FreeSet::new(10_000).unwrap();
    let r1 = set.reserve(10).unwrap().unwrap();
    let r2 = set.reserve(10).unwrap().unwrap();
    set.forfeit(&r1).unwrap();
    let before = (format!("{set:?}"), set.clone());
    let error = set.forfeit(&r1).unwrap_err();
    assert_eq!(
        error,
        Error::AlreadyForfeited {
            address: 1,
            session: 1
        }
    );
    assert!(error.to_string().contains("once"), "{error}");
    assert_eq!((format!("{set:?}"), set.clone()), before);
    assert_eq!(set.count_reservations(), 1);
    // The live reservation still works, and the forfeited one may still
    // acquire until the session ends.
    assert_eq!(set.acquire(&r2).unwrap(), Some(11));
    assert_eq!(set.acquire(&r1).unwrap(), Some(1));
    set.forfeit(&r2).unwrap();
    assert_eq!(set.count_reservations(), 0);
    assert!(matches!(
        set.forfeit(&r2),
        Err(Error::StaleReservation { .. })
    ));
}

#[test]
fn a_reservation_gives_its_range_as_addresses() {
    let mut set = FreeSet::new(100).unwrap();
    let a = set.reserve(5).unwrap().unwrap();
    let b = set.reserve(3).unwrap().unwrap();
    assert_eq!((a.block_base(), a.addresses()), (0, 1..6));
    assert_eq!((b.block_base(), b.addresses()), (5, 6..9));
    let got: Vec<u64> = std::iter::from_fn(|| set.acquire(&b).unwrap()).collect();
    assert_eq!(got, b.addresses().collect::<Vec<_>>());
}

#[test]
fn a_reader_that_claims_more_than_its_buffer_is_an_error_not_a_panic() {
    struct Liar;
    impl Read for Liar {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            Ok(buf.len() + 1)
        }
    }
    let mut set = FreeSet::unopened(1000).unwrap();
    let error = set.open_from_readers(Liar, &[][..], &[], &[]).unwrap_err();
    match &error {
        OpenReadError::Io(e) => assert_eq!(e.kind(), io::ErrorKind::InvalidData),
        other => panic!("{other:?}"),
    }
    assert!(!set.is_opened());
    // A reader's own error, and the open's, each with its source.
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("unplugged"))
        }
    }
    let error = set
        .open_from_readers(Broken, &[][..], &[], &[])
        .unwrap_err();
    assert_eq!(error.source().unwrap().to_string(), "unplugged");
    let error = set
        .open_from_readers(&[1u8, 2, 3][..], &[][..], &[], &[])
        .unwrap_err();
    assert!(matches!(
        error,
        OpenReadError::Open(Error::Decode {
            bitset: Bitset::Acquired,
            ..
        })
    ));
    // Opened already: the open's misuse.
    let mut opened = FreeSet::new(1000).unwrap();
    let error = opened
        .open_from_readers(&[][..], &[][..], &[], &[])
        .unwrap_err();
    assert!(matches!(error, OpenReadError::Open(Error::AlreadyOpened)));
}

/// An error and its sources, one after the other, as `anyhow` prints them.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}

#[test]
fn an_error_chain_names_each_cause_once() {
    let mut set = FreeSet::unopened(4096).unwrap();
    let bad = 7u64.to_le_bytes().repeat(1000);
    let error = set.open(&bad, &[], &[], &[]).unwrap_err();
    let text = chain(&error);
    assert_eq!(text.matches("byte offset").count(), 1, "{text}");
    assert_eq!(text.matches("acquired").count(), 1, "{text}");
    let error = set
        .open_from_readers(&bad[..], &[][..], &[], &[])
        .unwrap_err();
    let text = chain(&error);
    assert_eq!(text.matches("byte offset").count(), 1, "{text}");
    assert!(
        text.starts_with(
            "opening the set failed: invalid encoding of the acquired bitset: byte offset"
        ),
        "{text}"
    );
}

#[test]
fn sets_compare_by_their_persistent_state_and_show_every_bitset() {
    let mut set = FreeSet::new(10_000).unwrap();
    let r = set.reserve(100).unwrap().unwrap();
    for _ in 0..100 {
        set.acquire(&r).unwrap();
    }
    set.forfeit(&r).unwrap();
    set.release(5).unwrap();
    set.checkpoint_not_durable().unwrap();
    set.release(70).unwrap();
    assert_eq!(set.released_words()[0], 1 << 4);
    assert_eq!(set.pending_words()[1], 1 << 5);
    assert_eq!(set.acquired_words()[1], (1 << 36) - 1);
    let copy = set.try_clone().unwrap();
    assert_eq!(copy, set);
    assert_eq!(copy.count_free(), set.count_free());
    let mut other = set.clone();
    other.checkpoint_durable().unwrap();
    assert_ne!(other, set);
    let mut other = set.clone();
    other.release(80).unwrap();
    assert_ne!(other, set);
}

#[test]
fn reservations_pick_up_where_a_concurrent_scope_left_them() {
    // The same acquires, sequentially on one set and partly through cursors
    // on another: the same blocks, and the same state after.
    let mut fill = FreeSet::new(50_000).unwrap();
    let scatter = fill.reserve(20_000).unwrap().unwrap();
    for k in 0..20_000u64 {
        let address = fill.acquire(&scatter).unwrap().unwrap();
        if k % 3 == 0 {
            fill.release(address).unwrap();
        }
    }
    fill.forfeit(&scatter).unwrap();
    fill.checkpoint_not_durable().unwrap();
    fill.checkpoint_durable().unwrap(); // a third of the blocks free again
    let mut sequential = fill.clone();
    let mut mixed = fill;
    let jobs = |set: &mut FreeSet| [1000, 3000, 500].map(|n| set.reserve(n).unwrap().unwrap());
    let (s, m) = (jobs(&mut sequential), jobs(&mut mixed));
    let mut expected = Vec::new();
    let mut got = Vec::new();
    for round in 0..3 {
        for (k, (s, m)) in s.iter().zip(&m).enumerate() {
            let n = 100 * (k + 1) + round;
            for _ in 0..n {
                expected.push(sequential.acquire(s).unwrap());
            }
            if round == 1 {
                // Through a cursor.
                let blocks: Vec<Option<u64>> = mixed.acquire_concurrently(|acquirer| {
                    let mut cursor = acquirer.cursor(m).unwrap();
                    (0..n).map(|_| cursor.acquire()).collect()
                });
                got.extend(blocks);
            } else {
                for _ in 0..n {
                    got.push(mixed.acquire(m).unwrap());
                }
            }
        }
    }
    assert_eq!(got, expected);
    assert_eq!(mixed, sequential);
    assert_eq!(mixed.count_free(), sequential.count_free());
}
