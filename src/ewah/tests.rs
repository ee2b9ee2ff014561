//! The tests of `ewah/mod.rs`.

use super::*;
use crate::error::{DecodeError, EncodeError};

#[test]
fn marker_round_trips_and_caps() {
    let m = Marker {
        uniform_bit: true,
        uniform_count: UNIFORM_COUNT_MAX,
        literal_count: LITERAL_COUNT_MAX,
    };
    assert_eq!(m.to_word(), !0);
    assert_eq!(Marker::from_word(!0), m);
    assert_eq!(Marker::from_word(0x0000_0001_0000_0000).literal_count, 1);
}

#[test]
fn examples_from_the_spec() {
    assert_eq!(encode(&[]), Vec::<u8>::new());
    assert_eq!(encode(&[0]), 0x2u64.to_le_bytes());
    assert_eq!(encode_trimmed(&[0, 0, 0]), Vec::<u8>::new());
    // one literal: marker with literal count 1, then the word
    let mut expect = (1u64 << 32).to_le_bytes().to_vec();
    expect.extend_from_slice(&0xau64.to_le_bytes());
    assert_eq!(encode_trimmed(&[0xa, 0, 0]), expect);
}

#[test]
fn decode_rejects_with_offsets() {
    // not a whole word
    assert_eq!(
        decode(&[1, 0], 1),
        Err(DecodeError::Length {
            offset: 0,
            trailing: 2
        })
    );
    // literal count 2 but nothing follows
    let bytes = (2u64 << 32).to_le_bytes();
    assert_eq!(
        decode(&bytes, 4),
        Err(DecodeError::Truncated {
            offset: 0,
            declared: 2,
            present: 0
        })
    );
    // three ones words into a capacity of two
    let bytes = 7u64.to_le_bytes();
    assert_eq!(
        decode(&bytes, 2),
        Err(DecodeError::Overflow {
            offset: 0,
            end: 3,
            capacity: 2
        })
    );
    assert_eq!(decode(&bytes, 3).unwrap(), [!0, !0, !0]);
    // the second marker overflows: offset 16
    let mut bytes = (1u64 << 32).to_le_bytes().to_vec();
    bytes.extend_from_slice(&5u64.to_le_bytes());
    bytes.extend_from_slice(&(4u64 << 1).to_le_bytes());
    assert_eq!(
        decode(&bytes, 4),
        Err(DecodeError::Overflow {
            offset: 16,
            end: 5,
            capacity: 4
        })
    );
}

#[test]
fn non_canonical_streams_are_valid() {
    // an empty marker, then a uniform word sent as a literal
    let mut bytes = 0u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(&(1u64 << 32).to_le_bytes());
    bytes.extend_from_slice(&(!0u64).to_le_bytes());
    assert_eq!(decode(&bytes, 2).unwrap(), [!0]);
    let mut target = [5u64; 2];
    assert_eq!(decode_into(&bytes, &mut target), Ok(1));
    assert_eq!(target, [!0, 0]);
}

#[test]
fn size_max_bounds_the_worst_case_and_encoded_len_is_exact() {
    for n in 0..100 {
        // alternating literal and uniform words make a marker per two words
        let words: Vec<u64> = (0..n).map(|i| if i % 2 == 0 { 3 } else { 0 }).collect();
        assert!(encode(&words).len() <= encode_size_max(n));
        assert_eq!(encoded_len(&words), encode(&words).len());
        let literals = vec![3u64; n];
        assert_eq!(encode(&literals).len(), encode_size_max(n));
        assert_eq!(encoded_len(&literals), encode_size_max(n));
    }
}

#[test]
fn a_chunk_too_short_for_a_word_is_an_error_not_a_spin() {
    let words = [3u64, 0, 0, 9];
    let mut encoder = Encoder::new(&words);
    for len in 0..8 {
        let mut chunk = vec![0u8; len];
        assert_eq!(
            encoder.encode_chunk(&mut chunk),
            Err(EncodeError::ChunkTooShort { len })
        );
    }
    // Nothing was consumed: a proper chunk still gets every byte.
    let mut chunk = [0u8; 12];
    let mut bytes = Vec::new();
    while !encoder.is_done() {
        let n = encoder.encode_chunk(&mut chunk).unwrap();
        assert_eq!(n, 8); // whole words only
        bytes.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(bytes, encode(&words));
    // A finished encoder accepts any chunk and writes nothing.
    assert_eq!(encoder.encode_chunk(&mut []), Ok(0));
}

#[test]
fn chunks_cut_inside_words_decode_like_one_shot() {
    let words: Vec<u64> = (0..50u64)
        .map(|i| [0, !0, i * 77][(i % 5) as usize % 3])
        .collect();
    let bytes = encode(&words);
    for cut in 1..20 {
        let mut target = vec![1u64; 60];
        let mut decoder = Decoder::new(&mut target);
        for chunk in bytes.chunks(cut) {
            decoder.decode_chunk(chunk).unwrap();
        }
        assert_eq!(decoder.finish(), Ok(50));
        assert_eq!(&target[..50], &words[..]);
        assert!(target[50..].iter().all(|&w| w == 0));
    }
    // An error repeats once found, and `finish` reports it too.
    let mut target = [0u64; 1];
    let mut decoder = Decoder::new(&mut target);
    let bad = 7u64.to_le_bytes();
    let error = decoder
        .decode_chunk(&bad[..5])
        .and(decoder.decode_chunk(&bad[5..]));
    assert!(matches!(
        error,
        Err(DecodeError::Overflow { offset: 0, .. })
    ));
    assert_eq!(decoder.decode_chunk(&[]), error);
    assert_eq!(decoder.finish(), error.map(|()| 0));
}

#[test]
fn short_copies_count_like_a_word_by_word_count_at_every_offset_and_length() {
    let source: Vec<u64> = (0..SHORT_WORDS as u64)
        .map(|i| (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 7))
        .collect();
    let bytes: Vec<u8> = source.iter().flat_map(|w| w.to_le_bytes()).collect();
    for first in 0..130 {
        for n in 0..=SHORT_WORDS {
            let mut words = vec![7u64; n];
            let mut counts = vec![1u32; scan::shards_spanned(first, n)];
            copy_counting_short(&mut words, &bytes[..8 * n], first, &mut counts, 0);
            assert_eq!(words, source[..n], "first {first}, n {n}");
            let mut naive = vec![1u32; counts.len()];
            for (i, w) in source[..n].iter().enumerate() {
                naive[(first + i) / 64 - first / 64] += w.count_ones();
            }
            assert_eq!(counts, naive, "first {first}, n {n}");
        }
    }
}
