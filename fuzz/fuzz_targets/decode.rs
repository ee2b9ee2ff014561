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
#![feature(cfg_sanitize)]

use freeset::ewah::{
    decode, decode_into, decode_into_with, encode_with, encoded_len, validate, Decoder,
};
use freeset::Parallelism;
use freeset_fuzz::input::DecodeInput;
use freeset_fuzz::{chunks, naive, parallel};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

/// What the target starts as: anything but zeros (one byte repeated, so
/// that filling a target is a `memset`, which ASan checks as one range
/// instead of word by word).
const GARBAGE: u64 = 0xa5a5_a5a5_a5a5_a5a5;

/// The largest capacity an input can ask for, in words.
const CAPACITY_MAX: usize = u16::MAX as usize;

/// Zeros to compare a target's tail with (one `memcmp`, not a loop).
static ZEROS: [u64; CAPACITY_MAX] = [0; CAPACITY_MAX];

thread_local! {
    /// The targets' memory, allocated once: a fresh target of up to 512 KiB
    /// per input cost a `mmap`, page faults and a `munmap` each time (ASan
    /// maps every large block on its own). A target is the last `capacity`
    /// words, so a write or read past it hits the allocation's redzone, and
    /// the words before it are poisoned for ASan ([`target`]): it catches
    /// an access on either side as it would for a block of its own.
    static BUFFER: RefCell<Vec<u64>> = RefCell::new(vec![GARBAGE; CAPACITY_MAX]);

    /// The naive decoder's words, kept from one input to the next for the
    /// same reason (they grow to the capacity by doubling).
    static NAIVE: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// The last `capacity` words of `buffer`, with every word before them
/// poisoned (ASan reports any access to them) until the next call.
fn target(buffer: &mut [u64], capacity: usize) -> &mut [u64] {
    let start = buffer.len() - capacity;
    #[cfg(sanitize = "address")]
    {
        extern "C" {
            fn __asan_poison_memory_region(addr: *const u8, size: usize);
            fn __asan_unpoison_memory_region(addr: *const u8, size: usize);
        }
        let bytes = std::mem::size_of_val(buffer);
        // SAFETY: both calls only mark ASan's shadow of memory that `buffer`
        // owns; nothing reads or writes the words before `start` until the
        // next call unpoisons them.
        unsafe {
            __asan_unpoison_memory_region(buffer.as_ptr().cast(), bytes);
            __asan_poison_memory_region(buffer.as_ptr().cast(), start * 8);
        }
    }
    &mut buffer[start..]
}

fuzz_target!(|data: &[u8]| {
    BUFFER.with_borrow_mut(|buffer| run(data, buffer));
});

fn run(data: &[u8], buffer: &mut [u64]) {
    let input = DecodeInput::parse(data);
    let capacity = input.capacity;
    assert!(capacity <= CAPACITY_MAX);
    let stream = input.stream;
    let expected = NAIVE.with_borrow_mut(|words| {
        naive::decode_to(stream, capacity, words).map(|()| std::mem::take(words))
    });
    let expected_len = expected.as_ref().map(Vec::len).map_err(|e| *e);

    // The described words, then zeros up to the capacity.
    let check = |what: &str, result: Result<usize, freeset::DecodeError>, target: &[u64]| {
        assert_eq!(result, expected_len, "{what}: capacity {capacity}");
        if let Ok(words) = &expected {
            let (described, tail) = target.split_at(words.len());
            assert!(
                described == &words[..] && tail == &ZEROS[..tail.len()],
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
    let target = target(buffer, capacity);
    target.fill(GARBAGE);
    let result = decode_into_with(stream, target, Parallelism::SEQUENTIAL);
    check("decode_into_with(SEQUENTIAL)", result, target);

    // One-shot, default parallelism (below the thresholds: this thread).
    target.fill(GARBAGE);
    let result = decode_into(stream, target);
    check("decode_into", result, target);

    // Parallel: pieces and resume points on a pool of 2.
    target.fill(GARBAGE);
    let result = decode_into_with(stream, target, parallel());
    check("decode_into_with(pool of 2, min_words(1))", result, target);

    // Streaming, cut at the fuzzer's chunk lengths.
    target.fill(GARBAGE);
    let mut decoder = Decoder::new(target);
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
    check("Decoder (chunks)", result, target);

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
    if let Ok(words) = expected {
        NAIVE.set(words); // its memory, for the next input
    }
}
