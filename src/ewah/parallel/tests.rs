//! The tests of `ewah/parallel.rs`.

use super::*;
use crate::error::DecodeError;
use crate::ewah::Counting;
use proptest::prelude::*;

fn encode_sequential(words: &[u64]) -> Vec<u8> {
    super::encode_sequential(words).expect("memory for a test's encoding")
}

fn encode_segments(words: &[u64], segments: usize, in_place: bool, slots: usize) -> Vec<u8> {
    let threads = rayon::current_num_threads();
    super::encode_segments(words, segments, in_place, slots, threads)
        .expect("memory for a test's encoding")
}

fn sequential_decode(bytes: &[u8], target: &mut [u64]) -> Result<usize, DecodeError> {
    let mut stream = StreamState::new(target.len(), false);
    stream.push(target, bytes)?;
    stream.finish(target)
}

/// One of the kernel tiers this CPU can run, forced (the decoder's and
/// encoder's loops are compiled per tier) while the value lives, under
/// the dispatch lock; the fastest again after.
struct TierForced(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

impl TierForced {
    fn new(tier: prop::sample::Index) -> Self {
        let lock = scan::test_dispatch_lock();
        let tiers = crate::kernels::available();
        crate::kernels::force(*tier.get(&tiers)).expect("an available tier");
        TierForced(lock)
    }
}

impl Drop for TierForced {
    fn drop(&mut self) {
        crate::kernels::force(crate::kernels::available()[0]).expect("the fastest tier");
    }
}

/// Stretches of one kind of word: zeros, ones or literals, of lengths
/// that cross segment cuts (long runs) or fall between them.
fn words_strategy() -> impl Strategy<Value = Vec<u64>> {
    let stretch = (0u8..4, 0usize..300, any::<u64>());
    prop::collection::vec(stretch, 0..12).prop_map(|stretches| {
        let mut words = Vec::new();
        for (kind, len, seed) in stretches {
            for i in 0..len as u64 {
                words.push(match kind {
                    0 => 0,
                    1 => !0,
                    // Literals that are never uniform.
                    2 => (seed.rotate_left(i as u32) | 1) & !(1 << 63),
                    _ => [0, !0, 5][(seed.wrapping_add(i) % 3) as usize],
                });
            }
        }
        words
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn segments_encode_like_the_sequential_encoder(
        words in words_strategy(),
        k in 1usize..40,
        in_place: bool,
        slots in 0usize..5,
        tier in any::<prop::sample::Index>(),
    ) {
        let _tier = TierForced::new(tier);
        prop_assert_eq!(encode_segments(&words, k, in_place, slots), encode_sequential(&words));
    }

    #[test]
    fn pieces_decode_like_the_sequential_decoder(
        words in words_strategy(),
        k in 1usize..40,
        extra in 0usize..3,
        zeroed: bool,
        stores in prop_oneof![Just(Stores::Small), Just(Stores::Large), Just(Stores::Streamed)],
        counting in prop_oneof![Just(Counting::Bulk), Just(Counting::OnTheWay)],
        tier in any::<prop::sample::Index>(),
    ) {
        let _tier = TierForced::new(tier);
        let bytes = encode_sequential(&words);
        let capacity = words.len() + extra;
        let mut expected = vec![0u64; capacity];
        let expected_result = sequential_decode(&bytes, &mut expected);
        let mut target = vec![if zeroed { 0 } else { 9 }; capacity];
        // Words reported (each at most once) and the bits of each shard.
        // The crate's Mutex: one ThreadSanitizer builds see.
        let reported = crate::sync::Mutex::new((vec![false; capacity], vec![0u64; capacity.div_ceil(64)]));
        let on_counts = |first: usize, len: usize, counts: &[u32]| {
            let mut reported = reported.lock().unwrap();
            assert_eq!(counts.len(), scan::shards_spanned(first, len));
            for seen in &mut reported.0[first..first + len] {
                assert!(!*seen, "a word reported twice");
                *seen = true;
            }
            for (k, &count) in counts.iter().enumerate() {
                reported.1[first / 64 + k] += u64::from(count);
            }
        };
        let mut written = usize::MAX;
        prop_assert_eq!(decode_pieces(&bytes, &mut target, zeroed, k, stores, counting, Some(&on_counts), &mut written), expected_result);
        prop_assert!(written <= capacity);
        // Every shard's bits were reported, as they were written.
        let bits: Vec<u64> = expected.chunks(64).map(scan::count_ones).collect();
        prop_assert_eq!(reported.into_inner().unwrap().1, bits);
        prop_assert_eq!(target, expected);
    }

    #[test]
    fn pieces_reject_like_the_sequential_decoder(
        words in words_strategy(),
        k in 1usize..40,
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        shrink in 0usize..3,
        mode in 0u8..3,
        stores in prop_oneof![Just(Stores::Small), Just(Stores::Large), Just(Stores::Streamed)],
        counting in prop_oneof![Just(Counting::Bulk), Just(Counting::OnTheWay)],
        zeroed in any::<bool>(),
        tier in any::<prop::sample::Index>(),
    ) {
        let _tier = TierForced::new(tier);
        let mut bytes = encode_sequential(&words);
        match mode {
            0 if !bytes.is_empty() => {
                let at = flip.index(bytes.len() * 8);
                bytes[at / 8] ^= 1 << (at % 8);
            }
            1 => bytes.truncate(cut.index(bytes.len() + 1)),
            _ => bytes.extend_from_slice(&[3, 0, 0, 0]),
        }
        let capacity = words.len().saturating_sub(shrink);
        let mut expected = vec![0u64; capacity];
        let expected_result = sequential_decode(&bytes, &mut expected);
        // Not zeroed, the target starts as words no decoding writes
        // (a uniform fill or a literal could be anything else), so that
        // a write past the words reported written shows.
        let before = if zeroed { 0 } else { 0x5a5a_5a5a_5a5a_5a5a };
        let mut target = vec![before; capacity];
        // Someone listening, so that every way of counting runs too.
        let mut written = usize::MAX;
        let result = decode_pieces(&bytes, &mut target, zeroed, k, stores, counting, Some(&|_, _, _| {}), &mut written);
        prop_assert_eq!(&result, &expected_result);
        prop_assert!(written <= capacity);
        match result {
            Ok(described) => {
                prop_assert_eq!(target, expected);
                prop_assert!(written >= described);
            }
            // Only the words before the error were written: the ones past
            // them are as they were.
            Err(_) => prop_assert!(target[written..].iter().all(|&w| w == before)),
        }
    }
}

#[test]
fn all_literal_and_all_uniform_inputs_at_every_segment_count() {
    let literal: Vec<u64> = (1..=200u64).map(|i| i * 3).collect();
    let uniform = vec![!0u64; 200];
    let zeros = vec![0u64; 200];
    for words in [literal, uniform, zeros] {
        for k in 1..=words.len() {
            assert_eq!(
                encode_segments(&words, k, k % 2 == 0, k % 4),
                encode_sequential(&words),
                "k = {k}"
            );
            let mut target = vec![0u64; words.len()];
            decode_pieces(
                &encode_sequential(&words),
                &mut target,
                true,
                k,
                [Stores::Small, Stores::Large, Stores::Streamed][k % 3],
                [Counting::Bulk, Counting::OnTheWay][k % 2],
                None,
                &mut 0,
            )
            .unwrap();
            assert_eq!(target, words, "k = {k}");
        }
    }
}

/// A zero fill long enough to stream (512 to 4095 words), into a target
/// that was not zeroed, between short literal runs counted when their
/// window is reported: the window must not take the streamed lines in,
/// since it is read back before the call's fence (debug builds check
/// every read back against the lines streamed and not fenced).
#[test]
fn a_streamed_zero_fill_is_never_read_back_before_the_fence() {
    for zeros in [512, 1000, 4095, 4096, 5000] {
        let mut words = vec![5u64, 6, 7];
        words.extend(std::iter::repeat_n(0, zeros));
        words.extend([9u64, 10, 11, 12]);
        let bytes = encode_sequential(&words);
        for counting in [Counting::Bulk, Counting::OnTheWay] {
            let mut target = vec![0x5a5au64; words.len() + 100];
            let bits = std::sync::atomic::AtomicU64::new(0);
            let on_counts = |_: usize, _: usize, counts: &[u32]| {
                let sum: u64 = counts.iter().map(|&c| u64::from(c)).sum();
                bits.fetch_add(sum, Ordering::Relaxed);
            };
            decode_pieces(
                &bytes,
                &mut target,
                false,
                1,
                Stores::Streamed,
                counting,
                Some(&on_counts),
                &mut 0,
            )
            .unwrap();
            assert_eq!(&target[..words.len()], &words[..]);
            let expected: u64 = words.iter().map(|w| u64::from(w.count_ones())).sum();
            assert_eq!(bits.into_inner(), expected, "{zeros} zeros, {counting:?}");
        }
    }
}

/// A set that compresses, its output streamed or not: once the first
/// segment is placed, the others go to the reused slots, not to windows
/// of their own across the output (pages the encoding never needs).
/// One thread, so that the order is known: with more, a segment taken
/// before the first is placed, or while every slot is held, may still
/// take its window.
#[test]
fn segments_of_a_set_that_compresses_leave_the_windows_alone() {
    let _lock = crate::scan::test_dispatch_lock(); // the stream size is global
                                                   // Outputs past the size from which they may stream.
    let free = vec![0u64; 1 << 19];
    let runs: Vec<u64> = (0..1 << 19)
        .map(|i| if i % 100 < 90 { !0 } else { i as u64 })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    for stream_min in [Some(crate::ewah::LARGE_MIN_BYTES), Some(usize::MAX)] {
        crate::ewah::set_stream_min_bytes(stream_min);
        for words in [&free, &runs] {
            // Not in place: every segment but the first would take a
            // window if nothing else were free.
            let (bytes, windows) = crate::sync::install(&pool, || {
                let bytes = encode_segments(words, 32, false, 2);
                (bytes, WINDOWS_USED.with(|w| w.get()))
            });
            assert_eq!(bytes, encode_sequential(words));
            assert_eq!(windows, 0, "{stream_min:?}");
            assert_eq!(
                Stores::for_bytes(8 * (words.len() + 1)).stream(),
                stream_min.is_some_and(|m| m < usize::MAX)
            );
        }
    }
    crate::ewah::set_stream_min_bytes(None);
}

#[test]
fn waiting_ends_when_done_runs_local_tasks_and_gives_up() {
    // Done already: no wait.
    wait_until(|| true, false);
    // Never done: gives up after the budget, for rayon's wait to take
    // over.
    let start = Instant::now();
    wait_until(|| false, false);
    assert!(start.elapsed() >= SPIN_BUDGET);
    // On a pool of one thread only this thread can run the task it
    // spawned: helping runs it, and the wait ends with it done.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let done = AtomicUsize::new(0);
    crate::sync::install(&pool, || {
        rayon::scope(|scope| {
            scope.spawn(|_| {
                done.store(1, Ordering::Release);
            });
            wait_until(|| done.load(Ordering::Acquire) == 1, true);
            assert_eq!(done.load(Ordering::Acquire), 1, "run while waiting");
        })
    });
}

#[test]
fn empty_markers_do_not_grow_the_resume_points() {
    // A million empty markers describe nothing: valid, and the marker
    // pass must not cut a piece per marker.
    let bytes = vec![0u8; 8 << 20];
    let mut resumes = 0;
    assert_eq!(validate(&bytes, 100, 10, |_| resumes += 1), Ok(0));
    assert_eq!(resumes, 1);
}
