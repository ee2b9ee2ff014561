//! `roundtrip`: an arbitrary set, built with `FreeSet::from_acquired_words`
//! from arbitrary words (then, optionally, every `s`-th acquired block
//! released), encodes canonically and opens to the same state.
//!
//! Input layout: [`freeset_fuzz::input::RoundtripInput`] (limit, a second
//! limit, release stride, encoder chunk lengths, read lengths, words given
//! as an EWAH stream or raw).
//!
//! Checks:
//! - `ewah::encode` of the words is the naive canonical encoding
//!   (`docs/format.md`, `freeset_fuzz::naive::encode`), and so is `encode_with` on
//!   a 2-thread pool (`min_words(1)`); `encode_trimmed` is the naive trimmed
//!   encoding; `encoded_len` is the byte length;
//! - `decode` of those bytes gives the words back, and encoding them again
//!   gives the same bytes (canonical);
//! - a streaming `Encoder` fed chunks of fuzzer-chosen sizes (>= 8; a chunk
//!   shorter than a word is refused with `ChunkTooShort` and changes
//!   nothing), `into_reader` with fuzzer-chosen read sizes (1 byte and up,
//!   ending inside words) and `write_to` give the same bytes;
//! - `FreeSet::encode`, `encode_with` (pool), `encoded_size` and `encoder`
//!   give the naive trimmed encodings of `acquired` and `released`;
//! - `open` of those bytes into a fresh set of the same limit, `open_with`
//!   (pool) and a chunked `open_stream` give a set with the same words,
//!   counts and released blocks; after `checkpoint_durable` the trailer-less
//!   set encodes to the same acquired bytes, with the released blocks freed;
//! - `open` into a set of the second limit succeeds exactly when the
//!   trimmed words fit its capacity, with the same words.
//!
//! A bug is any difference, a panic, or an ASan report (the parallel
//! encoder writes segments into one buffer through raw pointers).
#![no_main]

use std::io::Read;

use freeset::ewah::{self, Encoder};
use freeset::{Bitset, EncodeError, Error, FreeSet};
use freeset_fuzz::input::RoundtripInput;
use freeset_fuzz::{
    bitsets, bitsets_through_checkpoint, capacity_of, chunks, limit_of, naive, parallel,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = RoundtripInput::parse(data);
    let limit = limit_of(input.limit_raw);
    let capacity_words = (capacity_of(limit) / 64) as usize;
    let words = input.words_for(capacity_words);

    // ---- the codec on the raw words -------------------------------------
    let canonical = naive::encode(&words);
    let bytes = ewah::encode(&words);
    assert!(bytes == canonical, "encode is not the canonical encoding");
    assert!(
        ewah::encode_with(&words, parallel()) == canonical,
        "encode_with(pool of 2)"
    );
    assert_eq!(ewah::encoded_len(&words), bytes.len(), "encoded_len");
    let trimmed = naive::encode_trimmed(&words);
    assert!(ewah::encode_trimmed(&words) == trimmed, "encode_trimmed");
    let decoded = ewah::decode(&bytes, capacity_words).expect("an encoding decodes");
    assert!(decoded == words, "decode(encode(words)) != words");
    assert!(ewah::encode(&decoded) == bytes, "re-encoding differs");
    assert_eq!(
        ewah::decode(&trimmed, capacity_words).map(|w| w.len()),
        Ok(words.iter().rposition(|&w| w != 0).map_or(0, |i| i + 1)),
        "a trimmed encoding describes the words up to the last non-zero one"
    );
    check_streaming(&words, &bytes, &input);

    // ---- a set of these words -------------------------------------------
    let mut set = FreeSet::from_acquired_words(limit, words.clone()).expect("capacity words");
    assert_eq!(set.acquired_words(), &words[..]);
    let stride = usize::from(input.release_stride);
    let mut released_words = vec![0u64; capacity_words];
    if stride > 0 {
        let acquired = naive::Bits::from_words(&words, capacity_of(limit));
        for (i, a) in acquired.addresses().into_iter().enumerate() {
            if i % stride == 0 {
                assert_eq!(set.release(a), Ok(()), "release of an acquired block");
                let b = (a - 1) as usize;
                released_words[b / 64] |= 1 << (b % 64);
            }
        }
    }
    let expected = (trimmed.clone(), naive::encode_trimmed(&released_words));
    let encoded = set.encode();
    assert!(encoded.as_ref() == Ok(&expected), "FreeSet::encode");
    assert!(
        set.encode_with(parallel()).as_ref() == Ok(&expected),
        "FreeSet::encode_with"
    );
    for (bitset, want) in [
        (Bitset::Acquired, &expected.0),
        (Bitset::Released, &expected.1),
    ] {
        assert_eq!(
            set.encoded_size(bitset),
            Ok(want.len() as u64),
            "encoded_size"
        );
        let mut encoder = set
            .encoder(bitset)
            .expect("a durable set without reservations");
        let mut out = Vec::new();
        assert_eq!(encoder.write_to(&mut out).ok(), Some(want.len() as u64));
        assert!(&out == want, "FreeSet::encoder");
    }
    let (acquired_bytes, released_bytes) = expected;

    // ---- open at the same size ---------------------------------------------
    let fresh = FreeSet::unopened(limit).expect("a small set");
    let mut opened = fresh.clone();
    assert_eq!(
        opened.open(&acquired_bytes, &released_bytes, &[], &[]),
        Ok(()),
        "open"
    );
    let state = |s: &FreeSet| {
        (
            s.acquired_words().to_vec(),
            s.count_free(),
            s.count_acquired(),
            s.count_released(),
            s.highest_acquired(),
            s.highest_released(),
            bitsets(s),
        )
    };
    let original = state(&set);
    assert!(state(&opened) == original, "open gives another set");
    assert!(
        bitsets_through_checkpoint(&opened) == bitsets(&opened),
        "the bitsets a checkpoint shows are not those of the accessors"
    );
    let mut on_pool = fresh.clone();
    let pooled = on_pool.open_with(&acquired_bytes, &released_bytes, &[], &[], parallel());
    assert_eq!(pooled, Ok(()), "open_with(pool of 2)");
    assert!(state(&on_pool) == original, "open_with gives another set");
    let mut streamed = fresh.clone();
    assert_eq!(
        open_streamed(
            &mut streamed,
            &acquired_bytes,
            &released_bytes,
            input.read_sizes
        ),
        Ok(())
    );
    assert!(
        state(&streamed) == original,
        "open_stream gives another set"
    );

    // The reopened set moves on like the original.
    set.checkpoint_not_durable().expect("a durable checkpoint");
    set.checkpoint_durable().expect("no reservation");
    opened
        .checkpoint_durable()
        .expect("open leaves the checkpoint not durable");
    assert_eq!(opened.encode(), set.encode(), "after a durable checkpoint");
    assert!(state(&opened) == state(&set), "after a durable checkpoint");

    // ---- open at another size ----------------------------------------------
    let other = limit_of(input.other_limit_raw);
    let other_words = (capacity_of(other) / 64) as usize;
    let used = words.iter().rposition(|&w| w != 0).map_or(0, |i| i + 1);
    let mut resized = FreeSet::unopened(other).expect("a small set");
    let result = resized.open(&acquired_bytes, &released_bytes, &[], &[]);
    if used <= other_words {
        assert_eq!(result, Ok(()), "open at limit {other}: the words fit");
        assert_eq!(&resized.acquired_words()[..used], &words[..used]);
        assert!(resized.acquired_words()[used..].iter().all(|&w| w == 0));
        assert_eq!(
            resized.count_acquired(),
            set_count(&words),
            "count_acquired at another size"
        );
    } else {
        assert!(
            matches!(
                result,
                Err(Error::Decode {
                    bitset: Bitset::Acquired,
                    ..
                })
            ),
            "open at limit {other}: the words do not fit, got {result:?}"
        );
        assert!(!resized.is_opened());
    }
});

fn set_count(words: &[u64]) -> u64 {
    words.iter().map(|w| u64::from(w.count_ones())).sum()
}

/// The streaming encoder, the reader and `write_to` give `bytes`.
fn check_streaming(words: &[u64], bytes: &[u8], input: &RoundtripInput) {
    // Chunks of the fuzzer's sizes; one shorter than a word is refused first.
    let mut encoder = Encoder::new(words);
    let mut out = Vec::new();
    let sizes: &[u8] = if input.chunk_sizes.is_empty() {
        &[8]
    } else {
        input.chunk_sizes
    };
    let mut i = 0;
    while !encoder.is_done() {
        let b = usize::from(sizes[i % sizes.len()]);
        i += 1;
        if b < 8 {
            let mut short = vec![0u8; b];
            assert_eq!(
                encoder.encode_chunk(&mut short),
                Err(EncodeError::ChunkTooShort { len: b }),
                "a chunk of {b} bytes"
            );
        }
        let mut chunk = vec![0u8; 8 + b];
        let n = encoder
            .encode_chunk(&mut chunk)
            .expect("a chunk of 8 bytes or more");
        assert!(
            n.is_multiple_of(8) && n > 0 && n <= chunk.len(),
            "{n} bytes into {}",
            chunk.len()
        );
        out.extend_from_slice(&chunk[..n]);
        assert!(out.len() <= bytes.len(), "the encoder wrote too much");
    }
    assert_eq!(encoder.encode_chunk(&mut []), Ok(0), "a finished encoder");
    assert!(out == bytes, "Encoder in chunks");

    // A reader, read in pieces of the fuzzer's sizes.
    let mut reader = Encoder::new(words).into_reader();
    let mut out = Vec::new();
    let reads: &[u8] = if input.read_sizes.is_empty() {
        &[1]
    } else {
        input.read_sizes
    };
    let mut i = 0;
    loop {
        let mut buf = vec![0u8; usize::from(reads[i % reads.len()]).max(1)];
        i += 1;
        let n = reader.read(&mut buf).expect("reading an encoding");
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        assert!(out.len() <= bytes.len(), "the reader gave too much");
    }
    assert!(out == bytes, "EncodeReader");

    let mut out = Vec::new();
    let n = Encoder::new(words)
        .write_to(&mut out)
        .expect("a Vec takes every byte");
    assert_eq!(n, bytes.len() as u64);
    assert!(out == bytes, "write_to");
}

fn open_streamed(
    set: &mut FreeSet,
    acquired: &[u8],
    released: &[u8],
    cuts: &[u8],
) -> Result<(), Error> {
    let mut stream = set.open_stream()?;
    for piece in chunks(acquired, cuts) {
        stream.push_acquired(piece)?;
    }
    for piece in chunks(released, cuts) {
        stream.push_released(piece)?;
    }
    stream.finish(&[], &[])
}
