//! Every tier against the scalar oracle, on random words of every density,
//! every length (so vector loops meet every remainder) and every range
//! offset (ranges that start and end inside words, on word and vector
//! boundaries, at the end of the slice). Each tier's kernels are called
//! directly through its table, not through the dispatch; the dispatch has
//! tests of its own.

use std::sync::MutexGuard;

use super::dispatch::{slots, table};
use super::extents::Extents;
use super::table::Table;
use super::*;
use proptest::prelude::*;

/// A tier's kernels, callable safely: built only from a table that
/// the dispatch's `table` handed out, that is, for a tier this CPU supports.
#[derive(Clone, Copy)]
struct Kernels(&'static Table);

impl Kernels {
    fn name(self) -> &'static str {
        self.0.tier.name()
    }

    fn count_ones(self, words: &[u64]) -> u64 {
        // SAFETY: the table came from the dispatch's `table`: the CPU supports it.
        unsafe { (self.0.count_ones)(words) }
    }

    fn count_ones_by_64(self, words: &[u64], counts: &mut [u32]) {
        // SAFETY: the table came from the dispatch's `table`: the CPU supports it.
        unsafe { (self.0.count_ones_by_64)(words, counts) }
    }

    fn first_zero(self, words: &[u64], from: usize, to: usize) -> Option<usize> {
        // SAFETY: the table came from the dispatch's `table`: the CPU supports it.
        unsafe { (self.0.first_zero)(words, from, to) }
    }

    fn nth_zero(self, words: &[u64], from: usize, to: usize, n: u64) -> Result<usize, u64> {
        // SAFETY: the table came from the dispatch's `table`: the CPU supports it.
        unsafe { (self.0.nth_zero)(words, from, to, n) }
    }

    fn uniform_run(self, words: &[u64], value: u64, max: usize) -> usize {
        // SAFETY: the table came from the dispatch's `table`: the CPU supports it.
        unsafe { (self.0.uniform_run)(words, value, max) }
    }

    fn literal_run(self, words: &[u64], max: usize) -> usize {
        // SAFETY: the table came from the dispatch's `table`: the CPU supports it.
        unsafe { (self.0.literal_run)(words, max) }
    }

    fn classify(self, words: &[u64]) -> (Vec<u64>, Vec<u64>) {
        let masks = words.len() / 64;
        let (mut zeros, mut ones) = (vec![7; masks], vec![7; masks]);
        // SAFETY: the table came from the dispatch's `table`: the CPU supports it.
        unsafe { (self.0.classify)(&words[..64 * masks], &mut zeros, &mut ones) };
        (zeros, ones)
    }

    fn copy_in(self, dst: &mut [u64], src: &[u8], first: usize, counts: &mut [u32], stream: bool) {
        // SAFETY: the table came from the dispatch's `table`: the CPU supports it.
        unsafe { (self.0.copy_in)(dst, src, first, counts, stream) }
    }

    fn copy_out(self, dst: &mut [std::mem::MaybeUninit<u8>], src: &[u64], stream: bool) {
        // SAFETY: the table came from the dispatch's `table`: the CPU supports it.
        unsafe { (self.0.copy_out)(dst, src, stream) }
    }

    fn fill(self, dst: &mut [u64], value: u64, stream: bool) {
        // SAFETY: the table came from the dispatch's `table`: the CPU supports it.
        unsafe { (self.0.fill)(dst, value, stream) }
    }

    fn copy_literals(
        self,
        dst: &mut [std::mem::MaybeUninit<u8>],
        src: &[u64],
        stream: bool,
    ) -> usize {
        // SAFETY: the table came from the dispatch's `table`: the CPU supports it.
        unsafe { (self.0.copy_literals)(dst, src, stream) }
    }

    fn extents(self, words: &[u64], tail: u64) -> (Extents, Vec<u32>) {
        let mut chunks = vec![7; (words.len() + 1).div_ceil(64)];
        // SAFETY: the table came from the dispatch's `table`: the CPU supports it.
        let extents = unsafe { (self.0.extents)(words, tail, &mut chunks) };
        (extents, chunks)
    }
}

/// The kernels of every tier this CPU can run.
fn tiers() -> Vec<Kernels> {
    available()
        .into_iter()
        .map(|tier| Kernels(table(tier).expect("an available tier has a table")))
        .collect()
}

fn dispatch_lock() -> MutexGuard<'static, ()> {
    test_dispatch_lock()
}

fn words_strategy() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(
        prop_oneof![
            3 => Just(!0u64),
            2 => Just(0u64),
            2 => any::<u64>(),
            1 => (0u32..64).prop_map(|s| !(1u64 << s)),
            1 => (0u32..64).prop_map(|s| 1u64 << s),
        ],
        0..150,
    )
}

fn range(bits: usize, a: prop::sample::Index, b: prop::sample::Index) -> (usize, usize) {
    let (x, y) = (a.index(bits + 1), b.index(bits + 1));
    (x.min(y), x.max(y))
}

#[test]
fn every_tier_of_this_cpu_is_listed() {
    let _lock = dispatch_lock();
    let tiers = available();
    assert_eq!(tiers.last(), Some(&Tier::Scalar));
    assert!(tiers.contains(&Tier::Wide));
    // Nothing is forced outside the lock, and the tests that force
    // restore the fastest tier: the one detection picks.
    assert_eq!(active(), tiers[0]);
    for tier in Tier::ALL {
        assert_eq!(tiers.contains(&tier), table(tier).is_some(), "{tier}");
    }
    for (tier, table) in Tier::ALL.into_iter().filter_map(|t| Some((t, table(t)?))) {
        assert_eq!(table.tier, tier);
    }
}

#[test]
fn tiers_parse_and_print_their_names() {
    for tier in Tier::ALL {
        assert_eq!(tier.to_string(), tier.name());
        assert_eq!(tier.name().parse::<Tier>(), Ok(tier));
        assert_eq!(tier.name().to_uppercase().parse::<Tier>(), Ok(tier));
    }
    let names: Vec<&str> = Tier::ALL.iter().map(|t| t.name()).collect();
    assert_eq!(names, ["avx512", "avx2", "wide", "scalar"]);
    let err = "sse9".parse::<Tier>().unwrap_err();
    assert_eq!(err, UnknownTier("sse9".into()));
    assert_eq!(
        err.to_string(),
        "unknown kernel tier \"sse9\": expected scalar, wide, avx2 or avx512"
    );
    assert_eq!(
        TierUnavailable { tier: Tier::Avx512 }.to_string(),
        "the CPU cannot run the avx512 kernels"
    );
}

/// Random words of every density, from a fixed seed.
fn sample_words(len: usize, seed: u64) -> Vec<u64> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match (x >> 60) % 4 {
                0 => !0,
                1 => 0,
                2 if i % 3 == 0 => !(1 << (x % 64)),
                _ => x,
            }
        })
        .collect()
}

/// The dispatched kernels (what the crate calls) against the scalar oracle.
fn dispatch_matches_scalar() {
    for (len, seed) in [(0, 1), (1, 2), (3, 3), (17, 4), (128, 5), (301, 6)] {
        let words = sample_words(len, seed);
        let bits = len * 64;
        assert_eq!(count_ones(&words), scalar::count_ones(&words));
        let chunks = len / 64;
        let (mut counts, mut expected) = (vec![0; chunks], vec![0; chunks]);
        count_ones_by_64(&words[..chunks * 64], &mut counts);
        scalar::count_ones_by_64(&words[..chunks * 64], &mut expected);
        assert_eq!(counts, expected);
        for max in [0, 1, 5, 64, usize::MAX] {
            assert_eq!(literal_run(&words, max), scalar::literal_run(&words, max));
            for value in [0, !0] {
                assert_eq!(
                    uniform_run(&words, value, max),
                    scalar::uniform_run(&words, value, max)
                );
            }
        }
        if let Some((&tail, words)) = words.split_last() {
            let chunks = len.div_ceil(64);
            let (mut counts, mut expected) = (vec![0; chunks], vec![0; chunks]);
            assert_eq!(
                extents(words, tail, &mut counts),
                word::extents(words, tail, &mut expected)
            );
            assert_eq!(counts, expected);
        }
        for from in (0..=bits).step_by(61) {
            for to in (from..=bits).step_by(97) {
                assert_eq!(
                    first_zero(&words, from, to),
                    scalar::first_zero(&words, from, to)
                );
                for n in [1, 7, 200] {
                    assert_eq!(
                        nth_zero(&words, from, to, n),
                        scalar::nth_zero(&words, from, to, n)
                    );
                }
            }
        }
        assert_eq!(last_one(&words), scalar::last_one(&words));
    }
}

#[test]
fn force_switches_every_kernel_and_refuses_what_the_cpu_lacks() {
    let _lock = dispatch_lock();
    let best = available()[0];
    dispatch_matches_scalar();
    for tier in available() {
        assert_eq!(force(tier), Ok(()));
        assert_eq!(active(), tier);
        dispatch_matches_scalar();
    }
    // Tiers this CPU lacks (AVX-512 on an AVX2 machine): refused, and
    // nothing changes.
    for tier in Tier::ALL {
        if available().contains(&tier) {
            continue;
        }
        let (before, pointers) = (active(), slots());
        assert_eq!(force(tier), Err(TierUnavailable { tier }));
        assert_eq!(active(), before);
        assert_eq!(slots(), pointers);
    }
    force(best).unwrap();
    assert_eq!(active(), best);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn tiers_agree_on_first_zero(words in words_strategy(), a: prop::sample::Index, b: prop::sample::Index) {
        let (from, to) = range(words.len() * 64, a, b);
        let expected = scalar::first_zero(&words, from, to);
        for tier in tiers() {
            prop_assert_eq!(tier.first_zero(&words, from, to), expected, "tier {}", tier.name());
        }
        prop_assert_eq!(first_zero(&words, from, to), expected, "dispatched");
    }

    #[test]
    fn tiers_agree_on_nth_zero(words in words_strategy(), a: prop::sample::Index, b: prop::sample::Index, n in prop_oneof![1u64..70, 1u64..5000]) {
        let (from, to) = range(words.len() * 64, a, b);
        let expected = scalar::nth_zero(&words, from, to, n);
        for tier in tiers() {
            prop_assert_eq!(tier.nth_zero(&words, from, to, n), expected, "tier {}", tier.name());
        }
        prop_assert_eq!(nth_zero(&words, from, to, n), expected, "dispatched");
    }

    /// Every tier's extents against the scalar tier's (which
    /// `crate::stats` checks against a bit-by-bit twin), with the counts
    /// of each chunk: runs across the words and into the tail, chunks
    /// of used words, vectors inside long runs.
    #[test]
    fn tiers_agree_on_extents(words in words_strategy(), tail in prop_oneof![Just(0u64), Just(!0u64), any::<u64>()]) {
        let mut chunks = vec![7; (words.len() + 1).div_ceil(64)];
        let expected = (word::extents(&words, tail, &mut chunks), chunks);
        for tier in tiers() {
            prop_assert_eq!(tier.extents(&words, tail), expected.clone(), "tier {}", tier.name());
        }
    }

    #[test]
    fn tiers_agree_on_counts_and_runs(words in words_strategy(), skip: prop::sample::Index, max in 0usize..200) {
        let words = &words[skip.index(words.len() + 1)..];
        let chunks = words.len() / 64;
        let mut expected = vec![0u32; chunks];
        for (count, chunk) in expected.iter_mut().zip(words.chunks_exact(64)) {
            *count = chunk.iter().map(|w| w.count_ones()).sum();
        }
        // The portable run kernels, which the `wide` tier does not use on x86_64.
        prop_assert_eq!(portable::literal_run(words, max), scalar::literal_run(words, max));
        for value in [0, !0] {
            prop_assert_eq!(
                portable::uniform_run(words, value, max),
                scalar::uniform_run(words, value, max)
            );
        }
        for tier in tiers() {
            prop_assert_eq!(tier.count_ones(words), scalar::count_ones(words), "tier {}", tier.name());
            let mut counts = vec![7u32; chunks];
            tier.count_ones_by_64(&words[..chunks * 64], &mut counts);
            prop_assert_eq!(&counts, &expected, "tier {}", tier.name());
            prop_assert_eq!(tier.literal_run(words, max), scalar::literal_run(words, max), "tier {}", tier.name());
            for value in [0, !0, words.first().copied().unwrap_or(5)] {
                prop_assert_eq!(
                    tier.uniform_run(words, value, max),
                    scalar::uniform_run(words, value, max),
                    "tier {}", tier.name()
                );
            }
        }
        // Masks of whole 64-word chunks, whatever the words' alignment.
        let masks = words.len() / 64;
        let naive_masks = |value: u64| -> Vec<u64> {
            words[..64 * masks]
                .chunks_exact(64)
                .map(|c| c.iter().enumerate().map(|(i, &w)| u64::from(w == value) << i).sum())
                .collect()
        };
        let expected_masks = (naive_masks(0), naive_masks(!0));
        let (mut zeros, mut ones) = (vec![7; masks], vec![7; masks]);
        scalar::classify(&words[..64 * masks], &mut zeros, &mut ones);
        prop_assert_eq!((zeros.clone(), ones.clone()), expected_masks.clone(), "scalar");
        portable::classify(&words[..64 * masks], &mut zeros, &mut ones);
        prop_assert_eq!((zeros.clone(), ones.clone()), expected_masks.clone(), "portable");
        for tier in tiers() {
            prop_assert_eq!(tier.classify(words), expected_masks.clone(), "tier {}", tier.name());
        }
        classify(&words[..64 * masks], &mut zeros, &mut ones);
        prop_assert_eq!((zeros, ones), expected_masks, "dispatched");
        prop_assert_eq!(count_ones(words), scalar::count_ones(words), "dispatched");
        prop_assert_eq!(literal_run(words, max), scalar::literal_run(words, max), "dispatched");
    }
}

#[test]
fn tiers_agree_exhaustively_on_small_ranges() {
    // 20 words: room for two AVX-512 vectors plus remainders.
    let patterns: [u64; 4] = [!0, 0, 0x8000_0000_0000_0000, !1];
    for pattern in 0..64u32 {
        let words: Vec<u64> = (0..20)
            .map(|i| patterns[((pattern >> (i % 6)) & 3) as usize])
            .collect();
        for from in (0..=1280).step_by(7) {
            for to in (from..=1280).step_by(13) {
                let first = scalar::first_zero(&words, from, to);
                for tier in tiers() {
                    assert_eq!(
                        tier.first_zero(&words, from, to),
                        first,
                        "tier {}",
                        tier.name()
                    );
                    for n in [1, 2, 64, 65, 300] {
                        assert_eq!(
                            tier.nth_zero(&words, from, to, n),
                            scalar::nth_zero(&words, from, to, n),
                            "tier {}",
                            tier.name()
                        );
                    }
                }
            }
        }
    }
}

/// Every tier's copy kernels against the scalar twins (and those against
/// a word-by-word oracle), at every destination alignment inside a cache
/// line, source offsets inside words, bitset offsets inside shards, and
/// lengths around lines and shards, streamed or not: the same words, the
/// same counts, and nothing written outside the destination.
#[test]
fn tiers_agree_on_copies() {
    let words = sample_words(700, 11);
    let source: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    for len in [
        0, 1, 3, 7, 8, 9, 15, 16, 63, 64, 65, 127, 128, 129, 200, 513, 600,
    ] {
        for dst_at in 0..9 {
            for src_at in [0, 1, 8, 13] {
                let src = &source[src_at..src_at + 8 * len];
                let expected: Vec<u64> = src
                    .chunks_exact(8)
                    .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
                    .collect();
                for first in [0, 1, 6, 63, 64, 100, 130] {
                    let spanned = shards_spanned(first, len);
                    let mut oracle = vec![0u32; spanned + 1];
                    for (i, w) in expected.iter().enumerate() {
                        oracle[(first + i) / 64 - first / 64] += w.count_ones();
                    }
                    for tier in tiers() {
                        for stream in [false, true] {
                            let what = format!(
                                "{} len {len} dst_at {dst_at} src_at {src_at} first {first} stream {stream}",
                                tier.name()
                            );
                            let mut buffer = vec![0xdead_beefu64; len + 20];
                            // One extra count that must stay untouched.
                            let mut counts = vec![0u32; spanned + 1];
                            tier.copy_in(
                                &mut buffer[dst_at..dst_at + len],
                                src,
                                first,
                                &mut counts[..spanned],
                                stream,
                            );
                            stream_fence();
                            assert_eq!(&buffer[dst_at..dst_at + len], &expected[..], "{what}");
                            assert!(
                                buffer[..dst_at]
                                    .iter()
                                    .chain(&buffer[dst_at + len..])
                                    .all(|&w| w == 0xdead_beef),
                                "{what}: outside"
                            );
                            assert_eq!(counts, oracle, "{what}");

                            let mut bytes = vec![std::mem::MaybeUninit::new(0xaau8); 8 * len + 160];
                            let at = 8 * dst_at + src_at % 8; // unaligned too
                            tier.copy_out(&mut bytes[at..at + 8 * len], &expected, stream);
                            stream_fence();
                            // SAFETY: every byte was initialised above.
                            let bytes: Vec<u8> =
                                bytes.iter().map(|b| unsafe { b.assume_init() }).collect();
                            assert_eq!(&bytes[at..at + 8 * len], src, "{what}: copy_out");
                            assert!(
                                bytes[..at]
                                    .iter()
                                    .chain(&bytes[at + 8 * len..])
                                    .all(|&b| b == 0xaa),
                                "{what}: copy_out outside"
                            );

                            // A uniform word at every position (or none).
                            for stop in [0, 1, 5, 8, 9, 40, 64, len] {
                                let mut literal = expected.clone();
                                if stop < len {
                                    literal[stop] = if stop % 2 == 0 { 0 } else { !0 };
                                }
                                let literal: Vec<u64> = literal
                                    .iter()
                                    .enumerate()
                                    .map(|(i, &w)| {
                                        if i != stop && (w == 0 || w == !0) {
                                            3
                                        } else {
                                            w
                                        }
                                    })
                                    .collect();
                                let mut bytes =
                                    vec![std::mem::MaybeUninit::new(0xaau8); 8 * len + 160];
                                let copied = tier.copy_literals(
                                    &mut bytes[at..at + 8 * len],
                                    &literal,
                                    stream,
                                );
                                stream_fence();
                                let oracle = scalar::literal_run(&literal, usize::MAX);
                                assert_eq!(copied, oracle, "{what}: copy_literals stop {stop}");
                                // SAFETY: every byte was initialised above.
                                let bytes: Vec<u8> =
                                    bytes.iter().map(|b| unsafe { b.assume_init() }).collect();
                                let want: Vec<u8> = literal[..copied]
                                    .iter()
                                    .flat_map(|w| w.to_le_bytes())
                                    .collect();
                                assert_eq!(
                                    &bytes[at..at + 8 * copied],
                                    &want[..],
                                    "{what}: copy_literals stop {stop}"
                                );
                                assert!(
                                    bytes[..at]
                                        .iter()
                                        .chain(&bytes[at + 8 * copied..])
                                        .all(|&b| b == 0xaa),
                                    "{what}: copy_literals wrote past the run"
                                );
                            }

                            let mut buffer = vec![7u64; len + 20];
                            tier.fill(&mut buffer[dst_at..dst_at + len], !0 - first as u64, stream);
                            stream_fence();
                            assert!(
                                buffer[dst_at..dst_at + len]
                                    .iter()
                                    .all(|&w| w == !0 - first as u64),
                                "{what}: fill"
                            );
                            assert!(
                                buffer[..dst_at]
                                    .iter()
                                    .chain(&buffer[dst_at + len..])
                                    .all(|&w| w == 7),
                                "{what}: fill outside"
                            );
                        }
                    }
                }
            }
        }
    }
}
