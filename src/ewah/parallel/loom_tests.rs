//! The parallel codec's hand-off under loom: the encoder's claims,
//! placements, moves down, marker patches and fences, and the decoder's
//! pieces, with every interleaving of 2 and 3 threads (within a preemption
//! bound) on small inputs, against the sequential codec.
//!
//! The code run is the production code: [`encode_segments`] and
//! [`decode_pieces`] hand their work to [`crate::sync::scope`], which runs
//! each task on a loom thread here and on rayon's pool otherwise. Their
//! buffers' memory is modelled by [`crate::sync::WordCells`]: a window, a
//! move or a patch that is not ordered after the last conflicting access
//! fails the model, and so does any access to words streamed and not
//! fenced yet by the thread that streamed them. Run with `RUSTFLAGS="--cfg
//! loom" cargo test --release -p freeset --lib loom`.

use std::cell::Cell;

use super::{decode_pieces, encode_segments};
use crate::ewah::decode::StreamState;
use crate::ewah::encode::encode_sequential;
use crate::ewah::{Counting, Stores};
use crate::sync::{model, AtomicU64, Ordering};

thread_local! {
    /// Whether [`encode_segments`] streams its output windows, whatever
    /// their size (the model's inputs are far below the size that
    /// streams).
    pub(super) static STREAM: Cell<bool> = const { Cell::new(false) };
}

/// Words with every kind of seam: a uniform run across a cut (a
/// continuation that extends the marker before it), literals across a cut,
/// runs that compress (so that slots are used once the first segment is
/// placed) and literal stretches (windows that barely move).
fn words() -> Vec<u64> {
    vec![0, 0, 0, 0, 5, 6, !0, !0, !0, !0, !0, 7, 0, 0, 0, 9, 10, 11]
}

fn encode(segments: usize, in_place: bool, slots: usize, threads: usize, stream: bool) {
    STREAM.with(|s| s.set(stream));
    // Two threads: every interleaving; three: up to 3 preemptions.
    model((threads > 2).then_some(3), move || {
        let words = words();
        let bytes = encode_segments(&words, segments, in_place, slots, threads).unwrap();
        assert_eq!(bytes, encode_sequential(&words).unwrap());
    });
    STREAM.with(|s| s.set(false));
}

/// Two threads, every segment through a window of its own and a move down
/// (not in place, no slot), the windows streamed.
#[test]
fn loom_encode_two_threads_windows_and_moves() {
    encode(3, false, 0, 2, true);
}

/// Two threads, segments encoded in place when they can, else in the two
/// slots.
#[test]
fn loom_encode_two_threads_in_place_and_slots() {
    encode(4, true, 2, 2, true);
}

/// Three threads, one slot, not streamed.
#[test]
fn loom_encode_three_threads() {
    encode(3, false, 1, 3, false);
}

/// Three threads in place with slots, streamed.
#[test]
fn loom_encode_three_threads_in_place_streamed() {
    encode(4, true, 1, 3, true);
}

fn decode(pieces: usize, zeroed: bool, stores: Stores, counting: Counting) {
    // Two pieces: every interleaving; three: up to 3 preemptions.
    model((pieces > 2).then_some(3), move || {
        let words = words();
        let bytes = encode_sequential(&words).unwrap();
        let capacity = words.len() + 2;
        let mut expected = vec![0u64; capacity];
        let mut stream = StreamState::new(capacity, false);
        stream.push(&mut expected, &bytes).unwrap();
        let described = stream.finish(&mut expected).unwrap();

        let mut target = vec![if zeroed { 0 } else { 3 }; capacity];
        // Bits reported, from every piece's thread.
        let bits = AtomicU64::new(0);
        let on_counts = |_: usize, _: usize, counts: &[u32]| {
            let sum: u64 = counts.iter().map(|&c| u64::from(c)).sum();
            bits.fetch_add(sum, Ordering::Relaxed);
        };
        let mut written = usize::MAX;
        let result = decode_pieces(
            &bytes,
            &mut target,
            zeroed,
            pieces,
            stores,
            counting,
            Some(&on_counts),
            &mut written,
        );
        assert_eq!(result, Ok(described));
        assert_eq!(target, expected);
        let ones: u64 = words.iter().map(|w| u64::from(w.count_ones())).sum();
        assert_eq!(bits.load(Ordering::Relaxed), ones);
    });
}

#[test]
fn loom_decode_two_pieces_streamed() {
    decode(2, true, Stores::Streamed, Counting::OnTheWay);
}

#[test]
fn loom_decode_three_pieces() {
    decode(3, true, Stores::Small, Counting::Bulk);
}

#[test]
fn loom_decode_three_pieces_streamed_not_zeroed() {
    decode(3, false, Stores::Streamed, Counting::Bulk);
}
