//! The parallel codec against the sequential one, through the public API.
//!
//! Every call here asks for the parallel code from one word on
//! (`Parallelism::pool(..).min_words(1)`), so that even small sets take the
//! parallel paths of `encode` and `open`. The pools have 2 and 3 threads, so
//! the parallel code runs with more than one thread even on a one-core
//! machine. (The seam cases, every segment count on runs that cross cuts,
//! are unit tests of `ewah::parallel`; the conformance traces replayed on
//! the parallel paths are `cli/tests/conformance.rs`, with the replayer.)

mod support;

use freeset::ewah::{self, decode, encode_trimmed, encode_with};
use freeset::{Bitset, FreeSet, Parallelism};
use support::Rng;

/// Words of a set of `blocks` blocks: whole shards.
fn words_of(blocks: u64) -> usize {
    blocks.div_ceil(freeset::SHARD_BLOCKS) as usize * 64
}

/// A set of `blocks` blocks, each acquired with probability `p` (the
/// `random(p)` fill of `docs/workloads.md`; `p` in 1/65536 steps).
fn random_set(blocks: u64, p: f64, rng: &mut Rng) -> FreeSet {
    let threshold = (p * 65536.0).round() as u64;
    let mut words = vec![0u64; words_of(blocks)];
    for block in 0..blocks {
        if rng.below(65536) < threshold {
            words[(block / 64) as usize] |= 1 << (block % 64);
        }
    }
    FreeSet::from_acquired_words(blocks, words).expect("words match the capacity")
}

/// A set of `blocks` blocks (a multiple of 64) with the `runs` fill of
/// `docs/workloads.md`: stretches of 0..=127 uniform words (zeros or ones),
/// each followed by 0..=15 literal words.
fn runs_set(blocks: u64, rng: &mut Rng) -> FreeSet {
    let mut words = vec![0u64; words_of(blocks)];
    let used = (blocks / 64) as usize;
    let mut pos = 0;
    while pos < used {
        let uniform = if rng.next_u64() & 1 == 1 { !0 } else { 0 };
        let run = (rng.below(128) as usize).min(used - pos);
        words[pos..pos + run].fill(uniform);
        pos += run;
        let literals = (rng.below(16) as usize).min(used - pos);
        for w in &mut words[pos..pos + literals] {
            *w = loop {
                let candidate = rng.next_u64();
                if candidate != 0 && candidate != !0 {
                    break candidate;
                }
            };
        }
        pos += literals;
    }
    FreeSet::from_acquired_words(blocks, words).expect("words match the capacity")
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a pool")
}

#[test]
fn large_sets_encode_and_open_like_the_sequential_codec() {
    let mut rng = Rng::new(7);
    // 2^21 blocks = 32768 words; a limit that is not a multiple of a shard.
    let blocks = (1 << 21) - 1000;
    let sets = [
        random_set(blocks, 0.5, &mut rng),
        random_set(blocks, 0.999, &mut rng),
        runs_set(1 << 21, &mut rng),
        FreeSet::new(blocks).unwrap(),
    ];
    for set in &sets {
        for threads in [2, 3] {
            let pool = pool(threads);
            let parallel = Parallelism::pool(&pool).min_words(1);
            {
                let (acquired, released) = set.encode_with(parallel).unwrap();
                assert_eq!(
                    (acquired.clone(), released.clone()),
                    set.encode_with(Parallelism::SEQUENTIAL).unwrap()
                );
                assert_eq!(acquired, encode_trimmed(set.acquired_words()));
                assert_eq!(released, Vec::<u8>::new());
                // The streaming encoder, sequential, gives the same bytes.
                let mut streamed = Vec::new();
                let mut encoder = set.encoder(Bitset::Acquired).unwrap();
                let mut chunk = vec![0u8; 4096];
                while !encoder.is_done() {
                    let n = encoder.encode_chunk(&mut chunk).unwrap();
                    streamed.extend_from_slice(&chunk[..n]);
                }
                assert_eq!(streamed, acquired);

                let mut opened = FreeSet::unopened(set.limit()).unwrap();
                opened
                    .open_with(&acquired, &released, &[], &[], parallel)
                    .unwrap();
                let mut streamed = FreeSet::unopened(set.limit()).unwrap();
                let mut stream = streamed.open_stream().unwrap();
                for chunk in acquired.chunks(4093) {
                    stream.push_acquired(chunk).unwrap();
                }
                stream.push_released(&released).unwrap();
                stream.finish(&[], &[]).unwrap();
                for other in [&opened, &streamed] {
                    assert_eq!(other.acquired_words(), set.acquired_words());
                    assert_eq!(other.count_free(), set.count_free());
                    assert_eq!(other.count_acquired(), set.count_acquired());
                    assert_eq!(other.highest_acquired(), set.highest_acquired());
                }
            }
        }
    }
}

#[test]
fn parallel_and_sequential_agree_on_words_and_errors() {
    let mut rng = Rng::new(11);
    let pool = pool(2);
    let parallel = Parallelism::pool(&pool).min_words(1);
    for case in 0..40 {
        let len = 1 + rng.below(5000) as usize;
        let words: Vec<u64> = (0..len)
            .map(|i| match (case + i / (1 + rng.below(200) as usize)) % 3 {
                0 => 0,
                1 => !0,
                _ => rng.next_u64(),
            })
            .collect();
        let bytes = encode_with(&words, parallel);
        assert_eq!(bytes, encode_with(&words, Parallelism::SEQUENTIAL));
        let mut target = vec![1u64; len + 3];
        assert_eq!(
            ewah::decode_into_with(&bytes, &mut target, parallel),
            Ok(len)
        );
        let mut expected = decode(&bytes, len + 3).unwrap();
        expected.resize(len + 3, 0);
        assert_eq!(target, expected);
        // Corrupt: a truncated tail, then a capacity too small; one-shot
        // sequential, parallel and streamed in 5-byte chunks agree.
        let mut bad = bytes.clone();
        bad.truncate(bad.len().saturating_sub(12));
        for (stream, capacity) in [(&bad, len), (&bytes, len / 2)] {
            let mut target = vec![0u64; capacity];
            let mut expected = vec![0u64; capacity];
            let sequential = ewah::decode_into_with(stream, &mut expected, Parallelism::SEQUENTIAL);
            assert_eq!(
                ewah::decode_into_with(stream, &mut target, parallel),
                sequential
            );
            let mut chunked = vec![0u64; capacity];
            let mut decoder = ewah::Decoder::new(&mut chunked);
            let streamed = stream
                .chunks(5)
                .try_for_each(|chunk| decoder.decode_chunk(chunk))
                .and_then(|()| decoder.finish());
            assert_eq!(streamed, sequential);
        }
    }
}
