//! The window on every tier against a word-by-word write, at every
//! alignment of the target, zeroed or not, counted either way, with
//! runs of every length around line, window and direct-run edges.

use super::*;
use crate::ewah::Marker;
use crate::scan::lines::Scalar;
use proptest::prelude::*;
use std::sync::Mutex;

/// A run of words to write: `count` zeros or ones, literal words, or
/// both as one marker.
#[derive(Debug, Clone)]
enum Run {
    Fill(bool, usize),
    Words(Vec<u64>, ()),
    Marker(bool, usize, Vec<u64>),
}

impl Run {
    fn words(&self) -> Vec<u64> {
        match self {
            Run::Fill(ones, count) => vec![if *ones { !0 } else { 0 }; *count],
            Run::Words(words, ()) => words.clone(),
            Run::Marker(ones, count, words) => {
                let mut all = vec![if *ones { !0 } else { 0 }; *count];
                all.extend(words);
                all
            }
        }
    }
}

/// Guard words around the target, which no write may touch.
const GUARD: u64 = 0xa5a5_5a5a_a5a5_5a5a;

/// Writes `runs` through a window of tier `lines` into a target of
/// `len` words that starts `shift` words past a 64-byte boundary (word
/// `base` of its bitset), and returns the target with a line of guard
/// words on either side, and the bits reported for each shard.
fn written<L: Lines>(
    lines: L,
    shift: usize,
    len: usize,
    zeroed: bool,
    base: usize,
    runs: &[Run],
) -> (Vec<u64>, Vec<u64>) {
    let mut buffer = vec![GUARD; len + 32];
    let aligned = (0..8)
        .find(|&i| (buffer[i..].as_ptr() as usize).is_multiple_of(64))
        .expect("a line boundary among 8 words");
    let start = aligned + 8 + shift;
    buffer[start..start + len].fill(if zeroed { 0 } else { 0x5555 });
    let reported = Mutex::new((
        vec![false; base + len],
        vec![0u64; (base + len).div_ceil(64)],
    ));
    let on_counts = |first: usize, n: usize, counts: &[u32]| {
        let mut reported = reported.lock().unwrap();
        assert_eq!(counts.len(), scan::shards_spanned(first, n));
        for seen in &mut reported.0[first..first + n] {
            assert!(!*seen, "a word reported twice");
            *seen = true;
        }
        for (k, &count) in counts.iter().enumerate() {
            reported.1[first / 64 + k] += u64::from(count);
        }
    };
    let target = &mut buffer[start..start + len];
    let mut window = Window::new(lines, target, zeroed, base, Some(&on_counts));
    let mut out = 0;
    for run in runs {
        match run {
            Run::Fill(ones, count) => window.fill(target, out, *count, *ones),
            Run::Words(words, _) => {
                let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                window.literals(target, out, &bytes);
            }
            Run::Marker(ones, count, words) => {
                let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                let marker = Marker {
                    uniform_bit: *ones,
                    uniform_count: *count as u64,
                    literal_count: words.len() as u64,
                };
                // The marker as a stream of its own, through the one-step
                // path when it fits.
                let mut stream = marker.to_word().to_le_bytes().to_vec();
                stream.extend_from_slice(&bytes);
                let mut walker = Walker::resume(0, 0);
                walker.set_out(out);
                let mut at = 0;
                window.run_markers(target, &mut walker, &stream, &mut at);
                if at == 0 {
                    window.fill(target, out, *count, *ones);
                    window.literals(target, out + count, &bytes);
                }
            }
        }
        out += run.words().len();
    }
    window.finish(target);
    scan::stream_fence();
    let counts = reported.into_inner().unwrap().1;
    (buffer[start - 8..start + len + 8].to_vec(), counts)
}

/// What [`written`] must give: the runs' words, then what was there;
/// the bits of each shard.
fn expected(len: usize, zeroed: bool, base: usize, runs: &[Run]) -> (Vec<u64>, Vec<u64>) {
    let words: Vec<u64> = runs.iter().flat_map(Run::words).collect();
    let mut counts = vec![0u64; (base + len).div_ceil(64)];
    for (i, w) in words.iter().enumerate() {
        counts[(base + i) / 64] += u64::from(w.count_ones());
    }
    let mut target = vec![GUARD; 8];
    target.extend(words);
    target.resize(8 + len, if zeroed { 0 } else { 0x5555 });
    target.extend([GUARD; 8]);
    (target, counts)
}

fn run() -> impl Strategy<Value = Run> {
    // Lengths around lines, windows and direct runs.
    let len = prop_oneof![
        4 => 0usize..=40,
        1 => 500usize..530,
        1 => 1010usize..1040,
        1 => 2040usize..2060,
    ];
    let words = |seed: u64, n: usize| -> Vec<u64> {
        // Mostly literals, some uniform words (a stream may hold them).
        (0..n as u64)
            .map(|i| match (seed.wrapping_add(i)) % 11 {
                0 => 0,
                1 => !0,
                _ => (seed ^ i).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            })
            .collect()
    };
    prop_oneof![
        (any::<bool>(), len.clone()).prop_map(|(ones, n)| Run::Fill(ones, n)),
        (any::<u64>(), len.clone()).prop_map(move |(seed, n)| Run::Words(words(seed, n), ())),
        (any::<bool>(), len, any::<u64>(), 0usize..=20)
            .prop_map(move |(ones, n, seed, l)| Run::Marker(ones, n, words(seed, l))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_tier_writes_and_counts_runs_word_for_word(
        shift in 0usize..8,
        runs in prop::collection::vec(run(), 0..12),
        slack in 0usize..10,
        zeroed: bool,
        base in prop_oneof![Just(0usize), 0usize..200],
    ) {
        let described: usize = runs.iter().map(|r| r.words().len()).sum();
        let len = described + slack;
        let expected = expected(len, zeroed, base, &runs);
        prop_assert_eq!(&written(Scalar, shift, len, zeroed, base, &runs), &expected);
        #[cfg(target_arch = "x86_64")]
        {
            use crate::scan::lines::{Avx2, Avx512};
            if crate::scan::available().contains(&crate::scan::Tier::Avx2) {
                // SAFETY: the CPU supports the AVX2 tier, just checked.
                let avx2 = unsafe { Avx2::new() };
                prop_assert_eq!(&written(avx2, shift, len, zeroed, base, &runs), &expected);
            }
            if crate::scan::available().contains(&crate::scan::Tier::Avx512) {
                // SAFETY: the CPU supports the AVX-512 tier, just checked.
                let avx512 = unsafe { Avx512::new() };
                prop_assert_eq!(&written(avx512, shift, len, zeroed, base, &runs), &expected);
            }
        }
    }
}

#[test]
fn a_window_marks_the_lines_words_touch() {
    let buffer = [0u64; 16];
    // SAFETY (none needed): the scalar tier.
    let mut window = Window::new(Scalar, &buffer, true, 0, None);
    window.mark(7, 9);
    assert_eq!(window.dirty, 0b11);
    window.mark(WINDOW_WORDS - 1, WINDOW_WORDS);
    assert_eq!(window.dirty >> 127, 1);
    window.mark(0, WINDOW_WORDS);
    assert_eq!(window.dirty, !0);
    assert_eq!(line_bits(8, 16), 0b10);
    assert_eq!(line_bits(0, 1), 1);
}

#[test]
fn short_spans_mark_the_lines_the_general_way_does() {
    let longest = STEP_LITERALS_MAX + LINE_WORDS;
    for from in 0..WINDOW_WORDS {
        for to in from + 1..=(from + longest).min(WINDOW_WORDS) {
            assert_eq!(
                short_line_bits(from, to),
                line_bits(from, to),
                "{from}..{to}"
            );
        }
    }
}

#[test]
fn shard_counts_of_literals_split_at_shard_ends() {
    let words: Vec<u64> = (0..150u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    for first in [0, 1, 63, 64, 100] {
        for n in [0, 1, 5, 64, 65, 150] {
            let mut counts = vec![3u32; 4];
            count_words(&bytes[..8 * n], first, &mut counts);
            let mut naive = vec![3u32; 4];
            for (i, w) in words[..n].iter().enumerate() {
                naive[(first + i) / 64 - first / 64] += w.count_ones();
            }
            assert_eq!(counts, naive, "first {first}, n {n}");
        }
    }
}
