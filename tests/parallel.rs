//! The parallel codec against the sequential one, through the public API.
//!
//! Every call here asks for the parallel code from one word on
//! (`Parallelism::pool(..).min_words(1)`), so that even the small sets of the
//! conformance traces take the parallel paths of `encode` and `open`; the
//! traces must still replay line for line. The pools have 2 and 3 threads,
//! so the parallel code runs with more than one thread even on a one-core
//! machine. (The seam cases, every segment count on runs that
//! cross cuts, are unit tests of `ewah::parallel`.)

use std::path::Path;

use freeset::ewah::{self, decode, encode_trimmed, encode_with};
use freeset::{Bitset, FreeSet, Parallelism};
use freeset_cli::workloads::{random_set, runs_set, Rng};

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a pool")
}

#[test]
fn conformance_traces_replay_on_the_parallel_paths() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/conformance exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "trace"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for threads in [2, 3] {
        pool(threads).install(|| {
            for file in &files {
                let text = std::fs::read_to_string(file).expect("readable trace");
                let everywhere = Parallelism::current_pool().min_words(1);
                let problems = freeset_cli::trace::check_with(&text, everywhere);
                assert!(
                    problems.is_empty(),
                    "{} with {threads} threads: {:?}",
                    file.display(),
                    problems
                        .iter()
                        .map(|p| (p.line, &p.message))
                        .collect::<Vec<_>>()
                );
            }
        });
    }
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
