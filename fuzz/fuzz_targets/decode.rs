//! `decode`: arbitrary bytes as an EWAH stream, for a target of an
//! arbitrary capacity of at most 65535 words (512 KiB).
//!
//! Input layout: [`freeset_fuzz::input::DecodeInput`] (capacity, chunk
//! lengths, stream).
//!
//! Checks, against the naive decoder of `docs/format.md`
//! (`freeset_fuzz::naive::decode`):
//! - `decode_into_with(SEQUENTIAL)`, `decode_into` (default parallelism),
//!   `decode_into_with` on a 2-thread pool with `min_words(1)`, and a
//!   `Decoder` fed the stream cut into fuzzer-chosen chunks (cut anywhere,
//!   inside words too, empty chunks included) all return the naive result:
//!   the same number of described words, or the same `DecodeError` (kind,
//!   byte offset, and every field);
//! - on success each target holds exactly the described words followed by
//!   zeros (the target starts out as garbage, so a missing tail fill shows);
//! - `validate` gives the same result, and `decode` returns exactly the
//!   described words (no padding to the capacity);
//! - a `Decoder` that failed returns the same error from every later call
//!   and from `finish`;
//! - the words of a valid stream encode to the naive canonical bytes, on
//!   this thread and on the pool (`encode_with`: segments cut across long
//!   runs), and `encoded_len` is their length.
//!
//! A bug is any disagreement, a panic, an ASan report (a write or read past
//! the target, a use after free in the parallel decoder), or an allocation
//! beyond the capacity plus a constant (`-malloc_limit_mb` in `run-ci.sh`
//! catches one that grows with the stream).
#![no_main]

use freeset::ewah::{
    decode, decode_into, decode_into_with, encode_with, encoded_len, validate, Decoder,
};
use freeset::Parallelism;
use freeset_fuzz::input::DecodeInput;
use freeset_fuzz::{chunks, naive, parallel};
use libfuzzer_sys::fuzz_target;

/// What the target starts as: anything but zeros.
const GARBAGE: u64 = 0xa5a5_5a5a_dead_beef;

fuzz_target!(|data: &[u8]| {
    let input = DecodeInput::parse(data);
    let capacity = input.capacity;
    let stream = input.stream;
    let expected = naive::decode(stream, capacity);
    let expected_len = expected.as_ref().map(Vec::len).map_err(|e| *e);

    // The described words, then zeros up to the capacity.
    let full = expected.as_ref().ok().map(|words| {
        let mut full = words.clone();
        full.resize(capacity, 0);
        full
    });
    let check = |what: &str, result: Result<usize, freeset::DecodeError>, target: &[u64]| {
        assert_eq!(result, expected_len, "{what}: capacity {capacity}");
        if let Some(full) = &full {
            assert!(
                target == &full[..],
                "{what}: wrong words, capacity {capacity}"
            );
        }
        if let Err(e) = result {
            assert!(
                e.offset() <= stream.len() as u64,
                "{what}: offset past the stream"
            );
        }
    };

    // One-shot, on this thread.
    let mut target = vec![GARBAGE; capacity];
    let result = decode_into_with(stream, &mut target, Parallelism::SEQUENTIAL);
    check("decode_into_with(SEQUENTIAL)", result, &target);

    // One-shot, default parallelism (below the thresholds: this thread).
    target.fill(GARBAGE);
    let result = decode_into(stream, &mut target);
    check("decode_into", result, &target);

    // Parallel: pieces and resume points on a pool of 2.
    target.fill(GARBAGE);
    let result = decode_into_with(stream, &mut target, parallel());
    check("decode_into_with(pool of 2, min_words(1))", result, &target);

    // Streaming, cut at the fuzzer's chunk lengths.
    target.fill(GARBAGE);
    let mut decoder = Decoder::new(&mut target);
    let mut first_error = None;
    for chunk in chunks(stream, input.cuts) {
        let pushed = decoder.decode_chunk(chunk);
        match (first_error, pushed) {
            (None, Err(e)) => first_error = Some(e),
            (Some(e), again) => assert_eq!(again, Err(e), "Decoder: an error must repeat"),
            (None, Ok(())) => {}
        }
    }
    if let Some(e) = first_error {
        assert_eq!(
            decoder.decode_chunk(&[]),
            Err(e),
            "Decoder: an error must repeat"
        );
    }
    let result = decoder.finish();
    if let Some(e) = first_error {
        assert_eq!(result, Err(e), "Decoder::finish must repeat the error");
    }
    check("Decoder (chunks)", result, &target);

    // Validation only, and the allocating decoder.
    assert_eq!(validate(stream, capacity), expected_len, "validate");
    assert_eq!(decode(stream, capacity), expected, "decode");

    // The words of a valid stream (long runs, up to 65535 words) encode
    // canonically, on this thread and in segments on the pool.
    if let Ok(words) = &expected {
        let canonical = naive::encode(words);
        assert!(
            encode_with(words, Parallelism::SEQUENTIAL) == canonical,
            "encode"
        );
        assert!(
            encode_with(words, parallel()) == canonical,
            "encode_with(pool of 2)"
        );
        assert_eq!(encoded_len(words), canonical.len(), "encoded_len");
    }
});
