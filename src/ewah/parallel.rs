//! Parallel EWAH encode and decode on the current rayon pool, byte for byte
//! (and error for error) the same as the sequential codec.
//!
//! **Encode.** The words are cut into equal segments at arbitrary points. A
//! segment begins with a *continuation* of the marker that the segment before
//! it left open: uniform words equal to the word before the cut (they extend
//! that marker's uniform count, and are only possible when the marker has no
//! literals yet), then literal words (they extend its literal count and are
//! copied as they are). From the first word that is not a continuation, which
//! is a point where the sequential encoder starts a fresh marker (a uniform word
//! after a literal or after a different uniform word), the segment is encoded
//! on its own. Every segment writes into its own window of one output buffer,
//! sized for its worst case. Threads take segments in order, and as soon as a
//! segment and all before it are done, it slides down to where its bytes
//! belong (still in cache) and the marker it continued gets its final counts.
//! For literal-heavy sets the windows are already in place, so nothing moves. Markers never reach their count caps below
//! [`UNIFORM_COUNT_MAX`] words, so merged counts stay valid; larger inputs (a
//! bitset of 16 GiB) go to the sequential encoder.
//!
//! **Decode.** One sequential pass reads the markers only, skipping literals:
//! it does all the validation (same errors, same byte offsets as the
//! sequential decoder) and cuts the stream into pieces at *resume points*
//! (byte offset, output word, literal words still due) every few hundred
//! kilobytes of output, inside long literal sections too. Between two resume
//! points the expansion (fills and literal copies) is independent, so each
//! piece is expanded on the pool as soon as the pass has found its end, while
//! the pass goes on; a caller's hook then sees the piece while it is in cache
//! (`open` counts the bits of each shard there).
//!
//! Below [`PARALLEL_ENCODE_MIN_WORDS`] / [`PARALLEL_DECODE_MIN_WORDS`] words,
//! or on a pool of one thread, both run the sequential code: no pool overhead
//! on small sets.
//!
//! What must never happen here: output that differs from the sequential
//! codec's, a write past the target, an allocation that grows with the input.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use super::{
    copy_literal_run, decode_into, encode, is_uniform, read_words, Decoder, Encoder, Marker, Out,
    UNIFORM_COUNT_MAX,
};
use crate::error::DecodeError;
use crate::scan;

/// Inputs below this many words are encoded sequentially (by default; see
/// [`set_parallel_min_words`]).
///
/// Measured on 2 cores (`encode` of `random(0.5)` and `runs` words, best of
/// 200, sequential vs 2 threads): at 2^14 words the two are even (3.5 µs vs
/// 3.5 µs random, 5.2 vs 4.7 runs); at 2^15 two threads win (7.0 vs 5.4, 10.9
/// vs 7.4 µs); at 2^13 they lose (1.8 vs 2.1, 2.9 vs 3.8 µs).
pub const PARALLEL_ENCODE_MIN_WORDS: usize = 1 << 15;

/// Targets below this many words are decoded (and opened) sequentially (by
/// default; see [`set_parallel_min_words`]).
///
/// Measured on 2 cores (`FreeSet::open` of the same fills, best of 100,
/// sequential vs 2 threads): at 2^17 words 76 vs 62 µs random but 44 vs 52
/// runs; at 2^18 208 vs 118 random and 123 vs 112 runs; at 2^16 two threads
/// lose on both (20 vs 38, 14 vs 35 µs). The marker pass is sequential, so
/// decoding needs larger inputs than encoding before a second thread pays.
pub const PARALLEL_DECODE_MIN_WORDS: usize = 1 << 18;

/// `usize::MAX`: the measured defaults above.
static FORCED_MIN_WORDS: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Forces the size (in words) from which encoding, decoding and `open` use
/// the rayon pool, for every set of the process; `None` goes back to the
/// measured defaults. Tests lower it to run the parallel code on small
/// inputs; an engine may tune it for its machine.
pub fn set_parallel_min_words(words: Option<usize>) {
    FORCED_MIN_WORDS.store(words.unwrap_or(usize::MAX), Ordering::Relaxed);
}

/// What the pool would be used for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work {
    Encode,
    Decode,
}

/// Target input words per segment of a parallel encoding: 512 KiB.
const SEGMENT_WORDS: usize = 1 << 16;

/// Target words per piece of a parallel decoding: 256 KiB.
const PIECE_WORDS: usize = 1 << 15;

/// Segments per thread: a few, so that an unlucky segment (all fills, or all
/// literals) does not leave the other threads idle.
const SEGMENTS_PER_THREAD: usize = 4;

/// Segments to cut `words` into: 1 (sequential) below the threshold or on a
/// pool of one thread.
pub(crate) fn segments_for(words: usize, work: Work) -> usize {
    let min = match (FORCED_MIN_WORDS.load(Ordering::Relaxed), work) {
        (usize::MAX, Work::Encode) => PARALLEL_ENCODE_MIN_WORDS,
        (usize::MAX, Work::Decode) => PARALLEL_DECODE_MIN_WORDS,
        (forced, _) => forced,
    };
    // Small inputs do not even ask rayon (which would start the global pool).
    if words < min.max(1) {
        return 1;
    }
    let threads = rayon::current_num_threads();
    if threads <= 1 {
        1
    } else {
        (threads * SEGMENTS_PER_THREAD).min(words)
    }
}

/// Canonical encoding of `words` (no trailing trim), on the current rayon
/// pool: the same bytes as [`encode`].
///
/// ```
/// use freeset::ewah::{encode, encode_parallel};
/// let words: Vec<u64> = (0..300_000u64).map(|i| if i % 700 < 400 { 0 } else { i }).collect();
/// assert_eq!(encode_parallel(&words), encode(&words));
/// ```
pub fn encode_parallel(words: &[u64]) -> Vec<u8> {
    let segments = segments_for(words.len(), Work::Encode);
    // Segments small enough that one's output is still in cache when it
    // slides into place.
    let segments = if segments > 1 {
        segments.max(words.len() / SEGMENT_WORDS)
    } else {
        1
    };
    encode_segments(words, segments)
}

/// The parallel encoder with `segments` segments (at most one per word).
fn encode_segments(words: &[u64], segments: usize) -> Vec<u8> {
    let segments = segments.min(words.len());
    if segments <= 1 || words.len() >= UNIFORM_COUNT_MAX as usize {
        return encode(words);
    }
    let n = words.len();
    let cuts: Vec<usize> = (0..=segments).map(|c| c * n / segments).collect();
    // Window `c` starts where segment `c` would if every word before it were
    // a literal of one marker: then literal-heavy sets need no compaction.
    // Only segment 0 can take a word more than its input (a leading marker of
    // literals alone); every later marker stands for at least one uniform word,
    // which takes no output word of its own.
    let window_start = |c: usize| 8 * (cuts[c] + usize::from(c > 0));
    let total = 8 * (n + 1);
    let mut bytes: Vec<u8> = Vec::with_capacity(total);
    let buffer = Buffer(bytes.spare_capacity_mut()[..total].as_mut_ptr(), total);
    // Threads claim segments in order, so that segment `c` is usually
    // finished soon after `c - 1` and slides into place while its bytes are
    // still in cache.
    let next = AtomicUsize::new(0);
    let compaction = Mutex::new(Compaction {
        finished: (0..segments).map(|_| None).collect(),
        next: 0,
        len: 0,
        open: None,
    });
    rayon::scope(|scope| {
        for _ in 0..rayon::current_num_threads().min(segments) {
            scope.spawn(|_| loop {
                let c = next.fetch_add(1, Ordering::Relaxed);
                if c >= segments {
                    break;
                }
                let (start, end) = (window_start(c), window_start(c + 1));
                // SAFETY: windows are disjoint and inside the buffer; `c` is
                // claimed once; the compaction touches window `c` only after
                // this borrow has ended (`finish` below), and before that
                // only bytes below `window_start(c)` (see `Compaction`).
                let window = unsafe { buffer.window(start, end) };
                let segment = encode_segment(words, cuts[c], cuts[c + 1], window);
                compaction
                    .lock()
                    .expect("no thread panics holding the lock")
                    .finish(c, start, segment, &buffer);
            });
        }
    });
    let compaction = compaction.into_inner().expect("no thread panicked");
    assert_eq!(compaction.next, segments, "every segment was placed");
    // SAFETY: `len <= total <= capacity`, and bytes `0..len` are initialized:
    // each segment wrote its first `words` words into its window, and
    // `finish` moved exactly those bytes, in segment order, to tile `0..len`
    // (patched markers lie inside them).
    unsafe { bytes.set_len(compaction.len) };
    debug_assert_eq!(bytes, encode(words));
    bytes
}

/// The encoder's output buffer, written by several threads at once: segments
/// into their disjoint windows, and the compaction below the lowest window
/// still being written.
struct Buffer(*mut MaybeUninit<u8>, usize);

// SAFETY: the pointer is only used through the methods below, whose callers
// guarantee that no byte is accessed by two threads at once.
unsafe impl Sync for Buffer {}

impl Buffer {
    /// # Safety
    /// No other access to `start..end` while the slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn window(&self, start: usize, end: usize) -> &mut [MaybeUninit<u8>] {
        assert!(start <= end && end <= self.1);
        // SAFETY: in bounds (asserted); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), end - start) }
    }

    /// Moves `len` bytes from `from` down to `to` (the ranges may overlap).
    ///
    /// # Safety
    /// No other access to either range meanwhile; the source is initialized.
    unsafe fn move_down(&self, from: usize, to: usize, len: usize) {
        assert!(to <= from && from + len <= self.1);
        // SAFETY: in bounds (asserted); exclusive by the caller's contract;
        // `ptr::copy` allows the two ranges to overlap.
        unsafe { std::ptr::copy(self.0.add(from), self.0.add(to), len) }
    }
}

/// The in-order placement of finished segments. Segment `next` is placed once
/// it and every segment before it have finished: its bytes move down to
/// `len`, and the marker it continued is patched where it now lies.
///
/// Everything placed lies below `len`, and `len <= window_start(next)`,
/// because no segment writes more than its window; a placement writes only
/// below `window_start(next + 1)`. Threads still encoding own windows above
/// that, so placing never meets their bytes.
struct Compaction {
    finished: Vec<Option<(usize, Segment)>>,
    next: usize,
    len: usize,
    /// The marker later continuations extend: where it lies and its counts.
    open: Option<(usize, Marker)>,
}

impl Compaction {
    /// Segment `c` is encoded in the window at `start`; place what can be.
    fn finish(&mut self, c: usize, start: usize, segment: Segment, buffer: &Buffer) {
        self.finished[c] = Some((start, segment));
        while let Some((from, segment)) = self.finished.get_mut(self.next).and_then(Option::take) {
            if segment.uniform + segment.literal > 0 {
                let (at, marker) = self.open.as_mut().expect("segment 0 has no continuation");
                debug_assert!(segment.uniform == 0 || marker.literal_count == 0);
                marker.uniform_count += segment.uniform as u64;
                marker.literal_count += segment.literal as u64;
                // SAFETY: the marker lies below `len` (placed); see the type doc.
                let target = unsafe { buffer.window(*at, *at + 8) };
                target.write_copy_of_slice(&marker.to_word().to_le_bytes());
            }
            let bytes = 8 * segment.words;
            if from != self.len {
                // SAFETY: the segment's own finished window and the space
                // below it, above `len`: see the type doc.
                unsafe { buffer.move_down(from, self.len, bytes) };
            }
            if let Some((slot, marker)) = segment.last_marker {
                self.open = Some((self.len + 8 * slot, marker));
            }
            self.len += bytes;
            self.next += 1;
        }
    }
}

/// What one segment wrote into its window.
struct Segment {
    /// Continuation of the marker left open before the cut.
    uniform: usize,
    literal: usize,
    /// Words written (continuation literals, then the segment's own encoding).
    words: usize,
    /// The segment's last marker (word position in the window, counts), which
    /// the segments after it may continue.
    last_marker: Option<(usize, Marker)>,
}

fn encode_segment(
    words: &[u64],
    from: usize,
    to: usize,
    window: &mut [MaybeUninit<u8>],
) -> Segment {
    let mut out = WindowOut { window, written: 0 };
    let mut start = from;
    let (mut uniform, mut literal) = (0, 0);
    if from > 0 {
        let before = words[from - 1];
        if is_uniform(before) {
            uniform = scan::uniform_run(&words[from..to], before, to - from);
            start += uniform;
        }
        let copied;
        (literal, copied) = copy_literal_run(&words[start..to], &mut out);
        debug_assert_eq!(copied, literal, "the window holds the worst case");
        start += literal;
    }
    // `start` is a fresh marker of the sequential encoding, or the segment end.
    debug_assert!(
        start == to
            || start == 0
            || (is_uniform(words[start])
                && (!is_uniform(words[start - 1]) || words[start - 1] != words[start]))
    );
    let mut encoder = Encoder::new(&words[start..to]);
    encoder.encode_to(&mut out);
    debug_assert!(encoder.is_done(), "the window holds the worst case");
    Segment {
        uniform,
        literal,
        words: out.written,
        last_marker: encoder.last_marker,
    }
}

/// A window of the parallel encoder's output buffer, not yet initialized.
struct WindowOut<'b> {
    window: &'b mut [MaybeUninit<u8>],
    written: usize,
}

impl Out for WindowOut<'_> {
    #[inline]
    fn room(&self) -> usize {
        self.window.len() / 8 - self.written
    }

    #[inline]
    fn push(&mut self, word: u64) -> usize {
        self.set(self.written, word);
        self.written += 1;
        self.written - 1
    }

    #[inline]
    fn set(&mut self, position: usize, word: u64) {
        self.window[position * 8..position * 8 + 8].write_copy_of_slice(&word.to_le_bytes());
    }

    #[inline]
    fn extend(&mut self, words: &[u64]) {
        let start = self.written * 8;
        let window = &mut self.window[start..start + words.len() * 8];
        if cfg!(target_endian = "little") {
            window.write_copy_of_slice(bytemuck::cast_slice(words));
        } else {
            for (dst, w) in window.chunks_exact_mut(8).zip(words) {
                dst.write_copy_of_slice(&w.to_le_bytes());
            }
        }
        self.written += words.len();
    }
}

/// Where an expansion piece starts: a byte offset of the stream that is a
/// marker or a literal word, the target word it writes next, and how many
/// literal words of the current marker are still due there.
#[derive(Debug, Clone, Copy)]
struct Resume {
    offset: usize,
    out: usize,
    literal_left: usize,
}

/// Decodes `bytes` into `target` on the current rayon pool, with the results
/// and errors of [`decode_into`] (including which byte offset an error names).
/// With `zeroed`, the target must be all zeros already, and zero runs and the
/// tail are not written. On error the target holds a partial decoding.
///
/// ```
/// use freeset::ewah::{decode_parallel, encode};
/// let words: Vec<u64> = (0..300_000u64).map(|i| i % 3).collect();
/// let mut target = vec![7u64; 300_001];
/// assert_eq!(decode_parallel(&encode(&words), &mut target, false), Ok(300_000));
/// assert_eq!(&target[..300_000], &words[..]);
/// assert_eq!(target[300_000], 0);
/// ```
pub fn decode_parallel(
    bytes: &[u8],
    target: &mut [u64],
    zeroed: bool,
) -> Result<usize, DecodeError> {
    decode_parallel_with(bytes, target, zeroed, &|_, _| {})
}

/// [`decode_parallel`], calling `on_piece(first, words)` for the words
/// `target[first..first + words.len()]` right after they are written, while
/// they are still in cache: once for every word the stream describes, from
/// several threads at once and in no particular order. `open` counts the
/// bits of each shard this way instead of in a second pass over the bitset.
/// Pieces of a failed decoding may have been reported before the error.
pub fn decode_parallel_with(
    bytes: &[u8],
    target: &mut [u64],
    zeroed: bool,
    on_piece: &(dyn Fn(usize, &[u64]) + Sync),
) -> Result<usize, DecodeError> {
    let segments = segments_for(target.len(), Work::Decode);
    // Pieces small enough that what a piece writes is still in L2 when
    // `on_piece` reads it back (and, on 2 cores, enough of them that the
    // first is ready early in the marker pass).
    let pieces = if segments > 1 {
        segments.max(target.len() / PIECE_WORDS)
    } else {
        1
    };
    decode_pieces(bytes, target, zeroed, pieces, on_piece)
}

/// The parallel decoder, with resume points about `capacity / pieces` words
/// apart.
fn decode_pieces(
    bytes: &[u8],
    target: &mut [u64],
    zeroed: bool,
    pieces: usize,
    on_piece: &(dyn Fn(usize, &[u64]) + Sync),
) -> Result<usize, DecodeError> {
    if pieces <= 1 {
        let described = if zeroed {
            let mut decoder = Decoder::onto_zeros(target);
            decoder.decode_chunk(bytes)?;
            decoder.finish()?
        } else {
            decode_into(bytes, target)?
        };
        on_piece(0, &target[..described]);
        return Ok(described);
    }
    let capacity = target.len();
    // The marker pass runs on this thread; each piece is expanded (and
    // reported) on the pool as soon as the pass has found where it ends, so
    // the expansion overlaps the pass.
    let mut rest = target;
    let result = rayon::scope(|scope| {
        let mut start = Resume {
            offset: 0,
            out: 0,
            literal_left: 0,
        };
        validate(bytes, capacity, capacity.div_ceil(pieces), |end| {
            let (piece, tail) = std::mem::take(&mut rest).split_at_mut(end.out - start.out);
            rest = tail;
            let (from, stream) = (start, &bytes[start.offset..end.offset]);
            scope.spawn(move |_| {
                expand(from, stream, piece, zeroed);
                on_piece(from.out, piece);
            });
            start = end;
        })
    });
    let described = result?;
    if !zeroed {
        rest.par_chunks_mut(1 << 16).for_each(|tail| tail.fill(0));
    }
    Ok(described)
}

/// The marker pass: every check of the sequential decoder, in its order.
/// Calls `on_resume` with the end of each piece: a resume point about every
/// `spacing` target words, inside long literal sections too, and last the end
/// of the stream. Returns the number of words the stream describes.
fn validate(
    bytes: &[u8],
    capacity: usize,
    spacing: usize,
    mut on_resume: impl FnMut(Resume),
) -> Result<usize, DecodeError> {
    let whole = bytes.len() - bytes.len() % 8;
    let mut next = spacing;
    let (mut offset, mut out) = (0, 0);
    let mut truncated = None;
    while offset < whole {
        let word = u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("8 bytes"));
        let marker = Marker::from_word(word);
        let end = out as u64 + marker.uniform_count + marker.literal_count;
        if end > capacity as u64 {
            return Err(DecodeError::Overflow {
                offset: offset as u64,
                end,
                capacity: capacity as u64,
            });
        }
        if out >= next {
            on_resume(Resume {
                offset,
                out,
                literal_left: 0,
            });
            next = out + spacing;
        }
        let literals = marker.literal_count as usize;
        let present = literals.min((whole - offset - 8) / 8);
        if present < literals {
            truncated = Some((offset, marker.literal_count, present as u64));
        }
        offset += 8;
        out += marker.uniform_count as usize;
        // Long literal sections are cut too.
        let literal_end = out + present;
        while next < literal_end {
            let skip = next.max(out) - out;
            on_resume(Resume {
                offset: offset + 8 * skip,
                out: out + skip,
                literal_left: literals - skip,
            });
            next = out + skip + spacing;
        }
        offset += 8 * present;
        out = literal_end;
    }
    if whole < bytes.len() {
        return Err(DecodeError::Length {
            offset: whole as u64,
            trailing: (bytes.len() - whole) as u64,
        });
    }
    if let Some((offset, declared, present)) = truncated {
        return Err(DecodeError::Truncated {
            offset: offset as u64,
            declared,
            present,
        });
    }
    on_resume(Resume {
        offset: whole,
        out,
        literal_left: 0,
    });
    Ok(out)
}

/// Expands one validated piece of the stream into its piece of the target.
fn expand(resume: Resume, stream: &[u8], piece: &mut [u64], zeroed: bool) {
    let (mut at, mut out, mut literal_left) = (0, 0, resume.literal_left);
    while at < stream.len() {
        if literal_left > 0 {
            let n = literal_left.min((stream.len() - at) / 8);
            read_words(&mut piece[out..out + n], &stream[at..at + 8 * n]);
            out += n;
            at += 8 * n;
            literal_left -= n;
        } else {
            let word = u64::from_le_bytes(stream[at..at + 8].try_into().expect("8 bytes"));
            let marker = Marker::from_word(word);
            let uniform_end = out + marker.uniform_count as usize;
            if marker.uniform_bit || !zeroed {
                piece[out..uniform_end].fill(marker.uniform_word());
            }
            out = uniform_end;
            literal_left = marker.literal_count as usize;
            at += 8;
        }
    }
    debug_assert_eq!(out, piece.len(), "resume points cut at word boundaries");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        fn segments_encode_like_the_sequential_encoder(words in words_strategy(), k in 1usize..40) {
            prop_assert_eq!(encode_segments(&words, k), encode(&words));
        }

        #[test]
        fn pieces_decode_like_the_sequential_decoder(
            words in words_strategy(),
            k in 1usize..40,
            extra in 0usize..3,
            zeroed: bool,
        ) {
            let bytes = encode(&words);
            let capacity = words.len() + extra;
            let mut expected = vec![0u64; capacity];
            let expected_result = decode_into(&bytes, &mut expected);
            let mut target = vec![if zeroed { 0 } else { 9 }; capacity];
            let reported = std::sync::Mutex::new(vec![0u64; capacity]);
            let on_piece = |first: usize, words: &[u64]| {
                let mut reported = reported.lock().unwrap();
                for (i, &w) in words.iter().enumerate() {
                    reported[first + i] += w;
                }
            };
            prop_assert_eq!(decode_pieces(&bytes, &mut target, zeroed, k, &on_piece), expected_result);
            // Every described word was reported once, after it was written.
            let mut once = expected.clone();
            once[words.len()..].fill(0);
            prop_assert_eq!(reported.into_inner().unwrap(), once);
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
        ) {
            let mut bytes = encode(&words);
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
            let expected_result = decode_into(&bytes, &mut expected);
            let mut target = vec![0u64; capacity];
            let result = decode_pieces(&bytes, &mut target, true, k, &|_, _| {});
            prop_assert_eq!(&result, &expected_result);
            if result.is_ok() {
                prop_assert_eq!(target, expected);
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
                assert_eq!(encode_segments(&words, k), encode(&words), "k = {k}");
                let mut target = vec![0u64; words.len()];
                decode_pieces(&encode(&words), &mut target, true, k, &|_, _| {}).unwrap();
                assert_eq!(target, words, "k = {k}");
            }
        }
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
}
