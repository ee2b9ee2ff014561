//! EWAH (enhanced word-aligned hybrid) encoding of `u64` bitsets, as persisted
//! in a checkpoint (SPEC section 3).
//!
//! The stream is little-endian `u64` words. A **marker** word holds a uniform bit
//! (bit 0), a uniform word count (bits 1..=31) and a literal word count (bits
//! 32..=63); it is followed by its literal words. Encoding is canonical, so the
//! bytes are a function of the words alone and can be compared byte for byte.
//!
//! What lives here: the one-shot and streaming encoder (chunks of any multiple of
//! 8 bytes concatenate to the one-shot bytes, because the one-shot encoder *is*
//! the streaming one run on one large chunk), the one-shot and streaming decoder,
//! and the trailing-zero trim used by the free set.
//!
//! What must never happen here: decoding writes or allocates past the target
//! capacity, or panics on any input. Every invalid input gives a
//! [`DecodeError`] naming the byte offset.

mod parallel;

pub use parallel::{
    decode_parallel, decode_parallel_with, encode_parallel, set_parallel_min_words,
    PARALLEL_DECODE_MIN_WORDS, PARALLEL_ENCODE_MIN_WORDS,
};
pub(crate) use parallel::{segments_for, Work};

use crate::error::DecodeError;
use crate::scan;

/// Most uniform words one marker can describe: 31 bits.
pub const UNIFORM_COUNT_MAX: u64 = (1 << 31) - 1;
/// Most literal words one marker can announce: 32 bits.
pub const LITERAL_COUNT_MAX: u64 = (1 << 32) - 1;

/// A decoded marker word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// Value of the uniform words: `false` for zeros, `true` for all ones.
    pub uniform_bit: bool,
    /// Number of uniform words, at most [`UNIFORM_COUNT_MAX`].
    pub uniform_count: u64,
    /// Number of literal words that follow the marker, at most [`LITERAL_COUNT_MAX`].
    pub literal_count: u64,
}

impl Marker {
    /// The marker as a stream word.
    pub fn to_word(self) -> u64 {
        debug_assert!(self.uniform_count <= UNIFORM_COUNT_MAX);
        debug_assert!(self.literal_count <= LITERAL_COUNT_MAX);
        u64::from(self.uniform_bit) | self.uniform_count << 1 | self.literal_count << 32
    }

    /// Any word is a valid marker; its fields are read as they are.
    pub fn from_word(word: u64) -> Marker {
        Marker {
            uniform_bit: word & 1 == 1,
            uniform_count: (word >> 1) & UNIFORM_COUNT_MAX,
            literal_count: word >> 32,
        }
    }

    /// The value of this marker's uniform words.
    pub fn uniform_word(self) -> u64 {
        if self.uniform_bit {
            !0
        } else {
            0
        }
    }
}

/// A word is uniform when it is all zeros or all ones.
#[inline]
pub fn is_uniform(word: u64) -> bool {
    word == 0 || word == !0
}

/// The most bytes an encoding of `words` words can take:
/// `8 * ceil(words / (2^32 - 1)) + 8 * words`.
pub fn encode_size_max(words: usize) -> usize {
    let literal_max = LITERAL_COUNT_MAX as usize;
    8 * words.div_ceil(literal_max) + 8 * words
}

/// Number of words left once trailing zero words are dropped. Encoding
/// `&words[..trimmed_len(words)]` gives the canonical encoding of `words` without
/// its trailing zero-run markers (uniform bit 0, no literals), which is what the
/// free set persists: the bytes then do not depend on the capacity.
pub fn trimmed_len(words: &[u64]) -> usize {
    words.iter().rposition(|&w| w != 0).map_or(0, |i| i + 1)
}

/// The marker canonical encoding emits at word `pos` (`pos < words.len()`).
///
/// This is the definition the encoder follows (it finds the same counts with
/// the scan kernels, fused with the copy of the literals); the tests and the
/// parallel encoder use it to reason about where markers start.
pub fn marker_at(words: &[u64], pos: usize) -> Marker {
    debug_assert!(pos < words.len());
    let first = words[pos];
    let mut end = pos;
    let (uniform_bit, uniform_count) = if is_uniform(first) {
        let cap = (words.len() - pos).min(UNIFORM_COUNT_MAX as usize);
        end = pos + scan::uniform_run(&words[pos..pos + cap], first, cap);
        (first == !0, (end - pos) as u64)
    } else {
        (false, 0)
    };
    let cap = (words.len() - end).min(LITERAL_COUNT_MAX as usize);
    let literal_count = scan::literal_run(&words[end..end + cap], cap) as u64;
    Marker {
        uniform_bit,
        uniform_count,
        literal_count,
    }
}

/// Literal words are scanned and copied this many at a time, so that the copy
/// reads words the scan has just brought into L1 (32 KiB of L1d holds 4 KiB
/// of words and its copy with room to spare).
const LITERAL_BLOCK: usize = 512;

/// Where the encoder writes: a caller's chunk or a growing vector. Counts are in
/// words; the encoder never asks for more than [`Out::room`].
trait Out {
    /// Words that still fit.
    fn room(&self) -> usize;
    /// Appends one word; returns its position, for [`Out::set`].
    fn push(&mut self, word: u64) -> usize;
    /// Overwrites the word at `position` (a marker written before its counts
    /// were known).
    fn set(&mut self, position: usize, word: u64);
    /// Appends `words`.
    fn extend(&mut self, words: &[u64]);
}

/// A caller-provided chunk: `written` words of it are filled.
struct ChunkOut<'b> {
    bytes: &'b mut [u8],
    written: usize,
}

impl Out for ChunkOut<'_> {
    #[inline]
    fn room(&self) -> usize {
        self.bytes.len() / 8 - self.written
    }

    #[inline]
    fn push(&mut self, word: u64) -> usize {
        self.set(self.written, word);
        self.written += 1;
        self.written - 1
    }

    #[inline]
    fn set(&mut self, position: usize, word: u64) {
        self.bytes[position * 8..position * 8 + 8].copy_from_slice(&word.to_le_bytes());
    }

    #[inline]
    fn extend(&mut self, words: &[u64]) {
        let start = self.written * 8;
        write_words(&mut self.bytes[start..start + words.len() * 8], words);
        self.written += words.len();
    }
}

/// A vector that grows: room is unbounded. Appending to reserved capacity does
/// not zero the bytes first, which a `vec![0; max]` buffer would (a pass over
/// as many bytes as the input has).
struct VecOut<'b>(&'b mut Vec<u8>);

impl Out for VecOut<'_> {
    #[inline]
    fn room(&self) -> usize {
        usize::MAX
    }

    #[inline]
    fn push(&mut self, word: u64) -> usize {
        self.0.extend_from_slice(&word.to_le_bytes());
        self.0.len() / 8 - 1
    }

    #[inline]
    fn set(&mut self, position: usize, word: u64) {
        self.0[position * 8..position * 8 + 8].copy_from_slice(&word.to_le_bytes());
    }

    #[inline]
    fn extend(&mut self, words: &[u64]) {
        if cfg!(target_endian = "little") {
            // The in-memory bytes of little-endian words are their encoding.
            self.0.extend_from_slice(bytemuck::cast_slice(words));
        } else {
            for word in words {
                self.0.extend_from_slice(&word.to_le_bytes());
            }
        }
    }
}

/// Streaming encoder: writes the canonical encoding of a word slice into
/// caller-provided chunks. The chunks, concatenated, are the one-shot bytes.
///
/// ```
/// use freeset::ewah::{encode, Encoder};
/// let words = [0, 0, 7, !0, !0, 9];
/// let mut encoder = Encoder::new(&words);
/// let mut bytes = Vec::new();
/// while !encoder.is_done() {
///     let mut chunk = [0u8; 16];
///     let n = encoder.encode_chunk(&mut chunk);
///     bytes.extend_from_slice(&chunk[..n]);
/// }
/// assert_eq!(bytes, encode(&words));
/// ```
#[derive(Debug, Clone)]
pub struct Encoder<'a> {
    words: &'a [u64],
    /// First word not yet described by an emitted marker.
    pos: usize,
    /// Literal words announced by the last marker and not yet written:
    /// `words[literal_next..pos]`.
    literal_next: usize,
    /// The last marker emitted and where it went (a word position in the
    /// output it was written to): the parallel encoder patches it when the
    /// next segment continues its runs.
    last_marker: Option<(usize, Marker)>,
}

impl<'a> Encoder<'a> {
    /// An encoder of all of `words`.
    pub fn new(words: &'a [u64]) -> Self {
        Encoder {
            words,
            pos: 0,
            literal_next: 0,
            last_marker: None,
        }
    }

    /// An encoder of `words` without trailing zero words (see [`trimmed_len`]).
    pub fn trimmed(words: &'a [u64]) -> Self {
        Encoder::new(&words[..trimmed_len(words)])
    }

    /// True once every byte has been written.
    pub fn is_done(&self) -> bool {
        self.literal_next == self.pos && self.pos == self.words.len()
    }

    /// Fills `chunk` with the next bytes of the encoding, whole words only, and
    /// returns how many bytes it wrote. It writes less than `chunk.len() / 8`
    /// words only when the encoding ends. With a chunk shorter than 8 bytes it
    /// writes nothing, so give chunks of a positive multiple of 8.
    pub fn encode_chunk(&mut self, chunk: &mut [u8]) -> usize {
        let mut out = ChunkOut {
            bytes: chunk,
            written: 0,
        };
        self.encode_to(&mut out);
        out.written * 8
    }

    /// Appends the rest of the encoding to `bytes`.
    pub fn encode_to_end(&mut self, bytes: &mut Vec<u8>) {
        bytes.reserve(encode_size_max(self.words.len() - self.literal_next));
        self.encode_to(&mut VecOut(bytes));
        debug_assert!(self.is_done());
    }

    fn encode_to(&mut self, out: &mut impl Out) {
        while out.room() > 0 {
            if self.literal_next < self.pos {
                let n = (self.pos - self.literal_next).min(out.room());
                out.extend(&self.words[self.literal_next..self.literal_next + n]);
                self.literal_next += n;
            } else if self.pos < self.words.len() {
                self.emit_marker(out);
            } else {
                break;
            }
        }
    }

    /// Writes the marker at `pos` and as many of its literals as fit, scanning
    /// and copying the literals in one pass. Precondition: room for a word.
    fn emit_marker(&mut self, out: &mut impl Out) {
        debug_assert!(out.room() > 0 && self.literal_next == self.pos);
        let words = self.words;
        let slot = out.push(0);
        let first = words[self.pos];
        let mut marker = Marker {
            uniform_bit: first == !0,
            uniform_count: 0,
            literal_count: 0,
        };
        let mut start = self.pos;
        if is_uniform(first) {
            let cap = (words.len() - start).min(UNIFORM_COUNT_MAX as usize);
            let n = scan::uniform_run(&words[start..start + cap], first, cap);
            marker.uniform_count = n as u64;
            start += n;
        }
        let cap_end = start + (words.len() - start).min(LITERAL_COUNT_MAX as usize);
        let (literals, copied) = copy_literal_run(&words[start..cap_end], out);
        let end = start + literals;
        marker.literal_count = (end - start) as u64;
        out.set(slot, marker.to_word());
        self.last_marker = Some((slot, marker));
        debug_assert_eq!(marker, marker_at(words, self.pos));
        debug_assert!(end > self.pos);
        self.pos = end;
        self.literal_next = start + copied;
    }
}

/// Scans the run of literal words at the start of `words` and copies as much
/// of it as `out` has room for, in one pass: a block is copied right after it
/// is scanned, while it is in L1. Returns (run length, words copied); once
/// the output is full the scan goes on alone, and the copy waits for the next
/// chunk.
#[inline]
fn copy_literal_run(words: &[u64], out: &mut impl Out) -> (usize, usize) {
    let (mut end, mut copied) = (0, 0);
    loop {
        let block_end = (end + LITERAL_BLOCK).min(words.len());
        let n = scan::literal_run(&words[end..block_end], block_end - end);
        if copied == end {
            let fit = n.min(out.room());
            out.extend(&words[end..end + fit]);
            copied += fit;
        }
        end += n;
        if end < block_end || end == words.len() {
            return (end, copied);
        }
    }
}

/// Writes `words` into `bytes` (exactly `8 * words.len()` long) little-endian.
#[inline]
fn write_words(bytes: &mut [u8], words: &[u64]) {
    debug_assert_eq!(bytes.len(), words.len() * 8);
    if cfg!(target_endian = "little") {
        bytes.copy_from_slice(bytemuck::cast_slice(words));
    } else {
        for (dst, w) in bytes.chunks_exact_mut(8).zip(words) {
            dst.copy_from_slice(&w.to_le_bytes());
        }
    }
}

/// Reads little-endian `bytes` (exactly `8 * words.len()` long) into `words`.
#[inline]
fn read_words(words: &mut [u64], bytes: &[u8]) {
    debug_assert_eq!(bytes.len(), words.len() * 8);
    if cfg!(target_endian = "little") {
        bytemuck::cast_slice_mut(words).copy_from_slice(bytes);
    } else {
        for (dst, b) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *dst = u64::from_le_bytes(b.try_into().expect("chunks_exact(8)"));
        }
    }
}

/// Canonical encoding of all of `words` (no trailing trim).
///
/// ```
/// let bytes = freeset::ewah::encode(&[0]);
/// assert_eq!(bytes, [2, 0, 0, 0, 0, 0, 0, 0]); // one zero word
/// ```
pub fn encode(words: &[u64]) -> Vec<u8> {
    let mut bytes = Vec::new();
    Encoder::new(words).encode_to_end(&mut bytes);
    bytes
}

/// Canonical encoding of `words` without trailing zero-run markers.
pub fn encode_trimmed(words: &[u64]) -> Vec<u8> {
    let mut bytes = Vec::new();
    Encoder::trimmed(words).encode_to_end(&mut bytes);
    bytes
}

/// Streaming decoder: accepts an encoding cut into chunks at word boundaries
/// and writes the words into a target slice, never past its end.
///
/// ```
/// use freeset::ewah::{encode, Decoder};
/// let words = [5, 0, 0, !0];
/// let bytes = encode(&words);
/// let mut target = [0u64; 6];
/// let mut decoder = Decoder::new(&mut target);
/// for chunk in bytes.chunks(8) {
///     decoder.decode_chunk(chunk).unwrap();
/// }
/// assert_eq!(decoder.finish().unwrap(), 4); // words written before the zero tail
/// assert_eq!(target, [5, 0, 0, !0, 0, 0]);
/// ```
#[derive(Debug)]
pub struct Decoder<'a> {
    target: &'a mut [u64],
    /// Next word of `target` to write.
    out: usize,
    /// Bytes of the stream consumed so far.
    offset: u64,
    /// The marker whose literal words are being read: its byte offset and the
    /// number it declared. `literal_left` of them are still to come.
    marker_offset: u64,
    literal_declared: u64,
    literal_left: u64,
    /// The target was all zeros when the decoder was made, so zero runs and
    /// the tail need no writing.
    zeroed: bool,
}

impl<'a> Decoder<'a> {
    /// A decoder that writes into `target`; the target's length is the capacity.
    pub fn new(target: &'a mut [u64]) -> Self {
        Decoder {
            target,
            out: 0,
            offset: 0,
            marker_offset: 0,
            literal_declared: 0,
            literal_left: 0,
            zeroed: false,
        }
    }

    /// A decoder into a target that is all zeros already (a set that is not
    /// opened): zero runs and the tail are skipped rather than written, which
    /// saves a pass over the target. Debug builds check the precondition.
    pub(crate) fn onto_zeros(target: &'a mut [u64]) -> Self {
        debug_assert!(target.iter().all(|&w| w == 0));
        Decoder {
            zeroed: true,
            ..Decoder::new(target)
        }
    }

    /// Words written so far.
    pub fn words_written(&self) -> usize {
        self.out
    }

    /// Decodes the next chunk of the stream. On error the target holds a partial
    /// decoding and the decoder must be dropped.
    pub fn decode_chunk(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        // Errors come in stream order: the whole words first (a marker that
        // overflows), then a partial word at the end; missing literals only
        // show when the stream ends (`finish`).
        let whole = chunk.len() - chunk.len() % 8;
        self.decode_words(&chunk[..whole])?;
        if whole < chunk.len() {
            return Err(DecodeError::Length {
                offset: self.offset,
                trailing: (chunk.len() - whole) as u64,
            });
        }
        Ok(())
    }

    fn decode_words(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        debug_assert!(chunk.len().is_multiple_of(8));
        let mut at = 0;
        while at < chunk.len() {
            if self.literal_left > 0 {
                let n = self.literal_left.min(((chunk.len() - at) / 8) as u64) as usize;
                // The marker's overflow check guarantees `out + n <= capacity`.
                read_words(
                    &mut self.target[self.out..self.out + n],
                    &chunk[at..at + 8 * n],
                );
                self.out += n;
                self.literal_left -= n as u64;
                self.offset += 8 * n as u64;
                at += 8 * n;
            } else {
                let word = u64::from_le_bytes(chunk[at..at + 8].try_into().expect("8 bytes"));
                let marker = Marker::from_word(word);
                let capacity = self.target.len() as u64;
                let end = self.out as u64 + marker.uniform_count + marker.literal_count;
                if end > capacity {
                    return Err(DecodeError::Overflow {
                        offset: self.offset,
                        end,
                        capacity,
                    });
                }
                let uniform_end = self.out + marker.uniform_count as usize;
                if marker.uniform_bit || !self.zeroed {
                    self.target[self.out..uniform_end].fill(marker.uniform_word());
                }
                self.out = uniform_end;
                self.marker_offset = self.offset;
                self.literal_declared = marker.literal_count;
                self.literal_left = marker.literal_count;
                self.offset += 8;
                at += 8;
            }
        }
        Ok(())
    }

    /// Ends the stream: checks that no literal words are missing, zeroes the rest
    /// of the target and returns the number of words the stream described.
    pub fn finish(self) -> Result<usize, DecodeError> {
        if self.literal_left > 0 {
            return Err(DecodeError::Truncated {
                offset: self.marker_offset,
                declared: self.literal_declared,
                present: self.literal_declared - self.literal_left,
            });
        }
        if !self.zeroed {
            self.target[self.out..].fill(0);
        }
        Ok(self.out)
    }
}

/// Decodes `bytes` into `target` (its length is the capacity), zeroing the words
/// past the end of the stream. Returns the number of words the stream described.
pub fn decode_into(bytes: &[u8], target: &mut [u64]) -> Result<usize, DecodeError> {
    let mut decoder = Decoder::new(target);
    decoder.decode_chunk(bytes)?;
    decoder.finish()
}

/// Decodes `bytes` into a new vector of `capacity_words` words.
///
/// ```
/// use freeset::ewah::{decode, encode};
/// assert_eq!(decode(&encode(&[1, 2, 3]), 4).unwrap(), [1, 2, 3, 0]);
/// assert!(decode(&[1, 2, 3], 4).is_err()); // not a whole word
/// ```
pub fn decode(bytes: &[u8], capacity_words: usize) -> Result<Vec<u64>, DecodeError> {
    let mut words = vec![0u64; capacity_words];
    decode_into(bytes, &mut words)?;
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(decode(&bytes, 2).unwrap(), [!0, 0]);
    }

    #[test]
    fn size_max_bounds_the_worst_case() {
        for n in 0..100 {
            // alternating literal and uniform words make a marker per two words
            let words: Vec<u64> = (0..n).map(|i| if i % 2 == 0 { 3 } else { 0 }).collect();
            assert!(encode(&words).len() <= encode_size_max(n));
            let literals = vec![3u64; n];
            assert_eq!(encode(&literals).len(), encode_size_max(n));
        }
    }
}
