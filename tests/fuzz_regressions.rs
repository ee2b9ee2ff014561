//! Regressions from fuzzing (`fuzz/`, cargo-fuzz with libFuzzer and ASan),
//! replayed on the stable toolchain by `cargo test`.
//!
//! - The committed corpora of the `decode` and `open` targets are replayed
//!   here through the public API, with the cross-checks that need no oracle:
//!   one-shot, streaming (cut inside words) and parallel decoding agree on
//!   the words and the error; `open`, `open_with` (pool of 2),
//!   `open_stream` (chunked) agree, and a failed open leaves a fresh set.
//!   The byte layouts are those of `fuzz/src/input.rs` (restated below).
//! - A crash the fuzzers find gets a `#[test]` of its own below, with the
//!   input written out and the behaviour `docs/behaviour.md` and
//!   `docs/format.md` ask for.
//!
//! The long fuzz runs (`fuzz/runs.md`, totals per target in
//! `fuzz/README.md`) found no crash in the library so far.

use std::path::Path;

use freeset::ewah::{decode_into_with, Decoder};
use freeset::{Error, FreeSet, Parallelism};

fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a pool of 2 threads")
}

/// The files of `fuzz/corpus/<target>`; a missing or empty corpus fails the
/// test (a replay of nothing would pass having checked nothing).
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {} cannot be read: {e}", dir.display()));
    let mut files: Vec<_> = entries
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&p).expect("a corpus file"))
        })
        .collect();
    assert!(!files.is_empty(), "the corpus {} is empty", dir.display());
    files.sort();
    files
}

/// Reads fields from the front; past the end, zeros (as the fuzz targets do).
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    fn counted_u16s(&mut self) -> Vec<u64> {
        let n = self.u8();
        let mut values = Vec::new();
        for _ in 0..n {
            if self.0.is_empty() {
                break;
            }
            values.push(u64::from(self.u16()));
        }
        values
    }
}

/// Chunks of the given lengths, cycled (zeros: empty chunks on the first
/// pass only; none or all zeros: the whole stream), as the targets cut.
fn chunks<'a>(bytes: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    if cuts.iter().all(|&c| c == 0) {
        out.extend(cuts.iter().map(|_| &bytes[..0]));
        out.push(bytes);
        return out;
    }
    let (mut at, mut i) = (0, 0);
    while at < bytes.len() {
        let n = usize::from(cuts[i % cuts.len()]).min(bytes.len() - at);
        if n > 0 || i < cuts.len() {
            out.push(&bytes[at..at + n]);
        }
        at += n;
        i += 1;
    }
    out
}

/// `decode` layout: capacity (`u16`), a count and that many chunk lengths,
/// then the stream.
#[test]
fn decode_corpus_agrees_one_shot_streaming_and_parallel() {
    let pool = pool();
    let parallel = Parallelism::pool(&pool).min_words(1);
    for (name, data) in corpus("decode") {
        let mut r = Reader(&data);
        let capacity = usize::from(r.u16());
        let n = usize::from(r.u8());
        let cuts = r.bytes(n);
        let stream = r.0;

        let mut one_shot = vec![7u64; capacity];
        let expected = decode_into_with(stream, &mut one_shot, Parallelism::SEQUENTIAL);
        let mut on_pool = vec![7u64; capacity];
        let pooled = decode_into_with(stream, &mut on_pool, parallel);
        assert_eq!(pooled, expected, "{name}: parallel");
        let mut streamed = vec![7u64; capacity];
        let mut decoder = Decoder::new(&mut streamed);
        let mut pushed = Ok(());
        for chunk in chunks(stream, cuts) {
            pushed = pushed.and(decoder.decode_chunk(chunk));
        }
        let finished = decoder.finish();
        if let Err(e) = pushed {
            assert_eq!(finished, Err(e), "{name}: finish repeats the error");
        }
        assert_eq!(finished, expected, "{name}: streaming");
        assert_eq!(
            freeset::ewah::validate(stream, capacity),
            expected,
            "{name}: validate"
        );
        if let Ok(described) = expected {
            assert_eq!(on_pool, one_shot, "{name}: parallel words");
            assert_eq!(streamed, one_shot, "{name}: streamed words");
            assert!(
                one_shot[described..].iter().all(|&w| w == 0),
                "{name}: tail"
            );
            let words = freeset::ewah::decode(stream, capacity).expect("valid");
            assert_eq!(words, one_shot[..described], "{name}: decode");
        }
    }
}

/// Everything `open` can change, compared with `==`.
fn observable(set: &FreeSet) -> impl PartialEq + std::fmt::Debug {
    (
        set.is_opened(),
        set.is_checkpoint_durable(),
        (set.count_free(), set.count_acquired(), set.count_released()),
        (set.highest_acquired(), set.highest_released()),
        set.acquired_words().to_vec(),
        (1..=set.capacity())
            .filter(|&a| set.is_released(a) == Ok(true))
            .collect::<Vec<_>>(),
        set.encode(),
    )
}

/// `open` layout: limit (`u16`, `1 + (raw - 1) % (3 * 4096 + 5)`), flags,
/// chunk lengths, the two trailer lists (`u16` addresses), the length of
/// the acquired stream (`u16`), then the acquired and released streams.
#[test]
fn open_corpus_agrees_one_shot_streaming_and_parallel() {
    let pool = pool();
    let parallel = Parallelism::pool(&pool).min_words(1);
    for (name, data) in corpus("open") {
        let mut r = Reader(&data);
        let limit = 1 + (u64::from(r.u16()).max(1) - 1) % (3 * 4096 + 5);
        let _flags = r.u8();
        let n = usize::from(r.u8());
        let cuts = r.bytes(n);
        let trailer_acquired = r.counted_u16s();
        let trailer_released = r.counted_u16s();
        let len = usize::from(r.u16());
        let acquired = r.bytes(len);
        let released = r.0;

        let fresh = FreeSet::unopened(limit).expect("a small set");
        let mut set = fresh.clone();
        let result = set.open(acquired, released, &trailer_acquired, &trailer_released);
        if result.is_err() {
            assert_eq!(
                observable(&set),
                observable(&fresh),
                "{name}: a failed open left a change"
            );
            assert_eq!(set.encode(), Err(Error::NotOpened), "{name}");
        } else {
            assert!(set.is_opened() && !set.is_checkpoint_durable(), "{name}");
        }

        let mut on_pool = fresh.clone();
        let pooled = on_pool.open_with(
            acquired,
            released,
            &trailer_acquired,
            &trailer_released,
            parallel,
        );
        assert_eq!(pooled, result, "{name}: open_with");
        assert_eq!(observable(&on_pool), observable(&set), "{name}: open_with");

        let mut streamed = fresh.clone();
        let stream_result = open_streamed(
            &mut streamed,
            [acquired, released],
            cuts,
            [&trailer_acquired, &trailer_released],
        );
        assert_eq!(stream_result, result, "{name}: open_stream");
        assert_eq!(
            observable(&streamed),
            observable(&set),
            "{name}: open_stream"
        );
    }
}

/// `open_stream` with both streams cut into `cuts`; a push that failed
/// must make `finish` fail with the same error.
fn open_streamed(
    set: &mut FreeSet,
    [acquired, released]: [&[u8]; 2],
    cuts: &[u8],
    [trailer_acquired, trailer_released]: [&[u64]; 2],
) -> Result<(), Error> {
    let mut stream = set.open_stream()?;
    let mut first = Ok(());
    for chunk in chunks(acquired, cuts) {
        first = first.and(stream.push_acquired(chunk));
    }
    for chunk in chunks(released, cuts) {
        first = first.and(stream.push_released(chunk));
    }
    let finished = stream.finish(trailer_acquired, trailer_released);
    if let Err(e) = first {
        assert_eq!(finished, Err(e), "finish repeats the error");
    }
    finished
}
