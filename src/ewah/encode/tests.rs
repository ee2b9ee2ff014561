//! The tests of `ewah/encode.rs`.

use super::*;
use proptest::prelude::*;

/// The canonical encoding, a word at a time, from `docs/format.md`
/// alone (no kernel).
fn naive(words: &[u64]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let first = words[i];
        let mut uniform = 0;
        if is_uniform(first) {
            while i + uniform < words.len() && words[i + uniform] == first {
                uniform += 1;
            }
        }
        let start = i + uniform;
        let mut literal = 0;
        while start + literal < words.len() && !is_uniform(words[start + literal]) {
            literal += 1;
        }
        let marker = u64::from(first == !0) | (uniform as u64) << 1 | (literal as u64) << 32;
        bytes.extend(marker.to_le_bytes());
        for w in &words[start..start + literal] {
            bytes.extend(w.to_le_bytes());
        }
        i = start + literal;
    }
    bytes
}

/// Runs of zeros, ones and literals of lengths around the edges of a
/// mask (64 words) and of a window ([`WINDOW_WORDS`]).
fn runs() -> impl Strategy<Value = Vec<u64>> {
    let len = prop_oneof![
        0usize..20,
        60usize..70,
        120usize..136,
        500usize..530,
        1000usize..1100,
    ];
    prop::collection::vec((0u8..3, len, any::<u64>()), 0..30).prop_map(|stretches| {
        let mut words = Vec::new();
        for (kind, len, seed) in stretches {
            for i in 0..len as u64 {
                words.push(match kind {
                    0 => 0,
                    1 => !0,
                    // Literals that are never uniform.
                    _ => (seed.rotate_left(i as u32) | 1) & !(1 << 63),
                });
            }
        }
        words
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_tier_encodes_like_the_naive_encoder(
        words in runs(),
        skip in 0usize..70,
        chunk in prop_oneof![Just(usize::MAX), 1usize..300],
    ) {
        let words = &words[skip.min(words.len())..];
        let expected = naive(words);
        let _lock = crate::scan::test_dispatch_lock();
        for tier in crate::kernels::available() {
            crate::kernels::force(tier).unwrap();
            prop_assert_eq!(&encode_sequential(words).unwrap(), &expected, "{}", tier);
            // As a segment of a large input: prefetching.
            let mut bytes = Vec::new();
            Encoder::part_of(words, super::super::LARGE_MIN_BYTES / 8).encode_to_end(&mut bytes);
            prop_assert_eq!(&bytes, &expected, "{}", tier);
            // In chunks of whole words, which may leave too little room
            // for a window.
            let mut encoder = Encoder::new(words);
            let mut chunked = Vec::new();
            let mut buffer = vec![0u8; 8 * chunk.min(words.len() + 1)];
            while !encoder.is_done() {
                let n = encoder.encode_chunk(&mut buffer).unwrap();
                chunked.extend_from_slice(&buffer[..n]);
            }
            prop_assert_eq!(&chunked, &expected, "{}", tier);
        }
        crate::kernels::force(crate::kernels::available()[0]).unwrap();
    }
}

#[test]
fn a_segment_of_a_large_input_prefetches_as_the_whole_would() {
    // A parallel encoding's segment is small, but its input comes from
    // memory all the same.
    let words = vec![5u64; 1024];
    let large = super::super::LARGE_MIN_BYTES / 8;
    assert_eq!(Encoder::new(&words).prefetched, usize::MAX);
    assert_eq!(Encoder::part_of(&words, large).prefetched, 0);
    assert_eq!(Encoder::part_of(&words, large - 1).prefetched, usize::MAX);
}

#[test]
fn prefetching_classifies_a_window_64_words_at_a_time_to_the_same_bytes() {
    // Runs of every length up to two windows, of both kinds, between
    // literal stretches: markers that end in every mask of a window.
    let mut words = Vec::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for len in (0..2 * WINDOW_WORDS).step_by(7) {
        words.extend(std::iter::repeat_n(if len % 2 == 0 { 0 } else { !0 }, len));
        for _ in 0..len % 19 {
            x = x.rotate_left(17).wrapping_mul(0xff51_afd7_ed55_8ccd) | 2;
            words.push(x & !1); // neither 0 nor all ones
        }
    }
    let large = super::super::LARGE_MIN_BYTES / 8;
    let encode_as = |input_words| {
        let mut encoder = Encoder::part_of(&words, input_words);
        let mut bytes = Vec::new();
        encoder.encode_to_end(&mut bytes);
        (bytes, encoder.prefetched)
    };
    let (plain, off) = encode_as(words.len());
    let (prefetching, on) = encode_as(large.max(words.len()));
    assert_eq!(off, usize::MAX);
    assert!(on != usize::MAX && on > 0, "it prefetched");
    assert_eq!(prefetching, plain);
    assert_eq!(plain, encode_sequential(&words).unwrap());
}
