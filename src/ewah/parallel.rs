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
//! sized for its worst case; then one sequential pass patches the counts of the
//! markers that later segments continued and slides each window down to where
//! its bytes belong. For literal-heavy sets the windows are already in place,
//! so nothing moves. Markers never reach their count caps below
//! [`UNIFORM_COUNT_MAX`] words, so merged counts stay valid; larger inputs (a
//! bitset of 16 GiB) go to the sequential encoder.
//!
//! **Decode.** One sequential pass reads the markers only, skipping literals:
//! it does all the validation (same errors, same byte offsets as the
//! sequential decoder) and leaves *resume points* (byte offset, output word,
//! literal words still due) every few hundred kilobytes of output, inside long
//! literal sections too. Between two resume points the expansion (fills and
//! literal copies) is independent, so the pieces of the target are expanded in
//! parallel.
//!
//! Below [`PARALLEL_MIN_WORDS`] words, or on a pool of one thread, both run the
//! sequential code: no pool overhead on small sets.
//!
//! What must never happen here: output that differs from the sequential
//! codec's, a write past the target, an allocation that grows with the input.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::{
    copy_literal_run, decode_into, encode, is_uniform, read_words, Decoder, Encoder, Marker, Out,
    UNIFORM_COUNT_MAX,
};
use crate::error::DecodeError;
use crate::scan;

/// Inputs below this many words are encoded and decoded sequentially, by
/// default (see [`set_parallel_min_words`]).
///
/// Chosen from measurements on 2 cores (see the crate README, "Threads"):
/// below about 2^16 words (512 KiB) the hand-off to the pool costs about
/// what the second thread saves.
pub const PARALLEL_MIN_WORDS: usize = 1 << 16;

static MIN_WORDS: AtomicUsize = AtomicUsize::new(PARALLEL_MIN_WORDS);

/// Sets the size (in words) from which the codec and `open` use the rayon
/// pool, for every set of the process. Tests lower it to run the parallel
/// code on small inputs; an engine may tune it for its machine.
pub fn set_parallel_min_words(words: usize) {
    MIN_WORDS.store(words, Ordering::Relaxed);
}

/// The size (in words) from which the codec and `open` use the rayon pool.
pub fn parallel_min_words() -> usize {
    MIN_WORDS.load(Ordering::Relaxed)
}

/// Target words per piece of a parallel decoding: 256 KiB.
const PIECE_WORDS: usize = 1 << 15;

/// Segments per thread: a few, so that an unlucky segment (all fills, or all
/// literals) does not leave the other threads idle.
const SEGMENTS_PER_THREAD: usize = 4;

/// Segments to cut `words` into: 1 (sequential) below the threshold or on a
/// pool of one thread.
pub(crate) fn segments_for(words: usize) -> usize {
    let threads = rayon::current_num_threads();
    let min = parallel_min_words();
    if threads <= 1 || words < min.max(1) {
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
    encode_segments(words, segments_for(words.len()))
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
    let mut windows = Vec::with_capacity(segments);
    let mut spare = &mut bytes.spare_capacity_mut()[..total];
    for c in 0..segments {
        let (window, rest) = spare.split_at_mut(window_start(c + 1) - window_start(c));
        windows.push(window);
        spare = rest;
    }
    let encoded: Vec<Segment> = windows
        .into_par_iter()
        .enumerate()
        .map(|(c, window)| encode_segment(words, cuts[c], cuts[c + 1], window))
        .collect();

    // Each segment's bytes go right after the previous one's: `moves` are
    // (from, to, len) in bytes.
    let spare = &mut bytes.spare_capacity_mut()[..total];
    let mut moves = Vec::with_capacity(segments);
    let mut len = 0;
    for (c, segment) in encoded.iter().enumerate() {
        moves.push((window_start(c), len, 8 * segment.words));
        len += 8 * segment.words;
    }
    compact(spare, &moves);
    // Markers are patched after the compaction, at their final positions.
    patch_markers(spare, &encoded, &moves);
    // SAFETY: `len <= total <= capacity`, and bytes `0..len` are initialized:
    // segment `c` wrote its first `segment.words` words into its window, and
    // `compact` moved exactly those bytes to `moves[c].1..`, which tile
    // `0..len` in order (patched markers lie inside them).
    unsafe { bytes.set_len(len) };
    debug_assert_eq!(bytes, encode(words));
    bytes
}

/// Writes the final counts of every marker that later segments continued
/// (`moves[c].1` is where segment `c`'s bytes are now).
fn patch_markers(
    buffer: &mut [MaybeUninit<u8>],
    encoded: &[Segment],
    moves: &[(usize, usize, usize)],
) {
    let mut open: Option<(usize, Marker)> = None;
    let mut dirty = false;
    for (segment, &(_, to, _)) in encoded.iter().zip(moves) {
        if segment.uniform + segment.literal > 0 {
            let (_, marker) = open.as_mut().expect("segment 0 has no continuation");
            marker.uniform_count += segment.uniform as u64;
            marker.literal_count += segment.literal as u64;
            dirty = true;
        }
        if let Some((slot, marker)) = segment.last_marker {
            write_marker(buffer, open.filter(|_| dirty));
            open = Some((to + 8 * slot, marker));
            dirty = false;
        }
    }
    write_marker(buffer, open.filter(|_| dirty));
}

fn write_marker(buffer: &mut [MaybeUninit<u8>], marker: Option<(usize, Marker)>) {
    if let Some((at, marker)) = marker {
        buffer[at..at + 8].write_copy_of_slice(&marker.to_word().to_le_bytes());
    }
}

/// Moves every segment's bytes from `from` down to `to` (`(from, to, len)`,
/// `to <= from`, destinations tiling the output in order).
///
/// A move whose destination meets no other segment's source can run at any
/// time, so those run in parallel first; the others then run in order, which
/// is always safe: a destination never reaches a later segment's source, and
/// earlier segments have moved already.
fn compact(buffer: &mut [MaybeUninit<u8>], moves: &[(usize, usize, usize)]) {
    let meets = |a: (usize, usize), b: (usize, usize)| a.0 < b.1 && b.0 < a.1;
    let free: Vec<bool> = moves
        .iter()
        .enumerate()
        .map(|(c, &(_, to, len))| {
            moves.iter().enumerate().all(|(j, &(from, _, other))| {
                j == c || other == 0 || len == 0 || !meets((to, to + len), (from, from + other))
            })
        })
        .collect();
    let base = SharedBuffer(buffer.as_mut_ptr(), buffer.len());
    moves
        .par_iter()
        .zip(&free)
        .filter(|&(&(from, to, len), &free)| free && from != to && len > 0)
        .for_each(|(&(from, to, len), _)| {
            let base = &base;
            assert!(from + len <= base.1 && to <= from);
            // SAFETY: both ranges lie inside the buffer (asserted). Among the
            // moves run here, no destination meets another move's source
            // (`free`), and destinations are disjoint, so no byte is written by
            // one task and read or written by another; `ptr::copy` allows the
            // move's own source and destination to overlap. The buffer is not
            // otherwise touched until this loop ends.
            unsafe { std::ptr::copy(base.0.add(from), base.0.add(to), len) };
        });
    for (&(from, to, len), &free) in moves.iter().zip(&free) {
        if !free && from != to {
            buffer.copy_within(from..from + len, to);
        }
    }
}

/// The compaction's buffer, shared by the parallel moves.
struct SharedBuffer(*mut MaybeUninit<u8>, usize);

// SAFETY: the pointer is only used by `compact`, whose moves touch disjoint
// bytes (see there) while the buffer's `&mut` borrow is held.
unsafe impl Sync for SharedBuffer {}

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
    let segments = segments_for(target.len());
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
            decoder.decode_chunk(&bytes[..bytes.len() - bytes.len() % 8])?;
            if !bytes.len().is_multiple_of(8) {
                decoder.decode_chunk(&bytes[bytes.len() - bytes.len() % 8..])?;
            }
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
