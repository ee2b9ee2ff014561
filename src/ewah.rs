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

use crate::error::DecodeError;

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
pub fn marker_at(words: &[u64], pos: usize) -> Marker {
    debug_assert!(pos < words.len());
    let first = words[pos];
    let mut end = pos;
    let (uniform_bit, uniform_count) = if is_uniform(first) {
        let cap = (words.len() - pos).min(UNIFORM_COUNT_MAX as usize);
        end = pos
            + words[pos..pos + cap]
                .iter()
                .take_while(|&&w| w == first)
                .count();
        (first == !0, (end - pos) as u64)
    } else {
        (false, 0)
    };
    let cap = (words.len() - end).min(LITERAL_COUNT_MAX as usize);
    let literal_count = words[end..end + cap]
        .iter()
        .take_while(|&&w| !is_uniform(w))
        .count() as u64;
    Marker {
        uniform_bit,
        uniform_count,
        literal_count,
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
}

impl<'a> Encoder<'a> {
    /// An encoder of all of `words`.
    pub fn new(words: &'a [u64]) -> Self {
        Encoder {
            words,
            pos: 0,
            literal_next: 0,
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
        let capacity = chunk.len() / 8;
        let mut written = 0;
        while written < capacity {
            if self.literal_next < self.pos {
                let n = (self.pos - self.literal_next).min(capacity - written);
                let source = &self.words[self.literal_next..self.literal_next + n];
                write_words(&mut chunk[written * 8..(written + n) * 8], source);
                self.literal_next += n;
                written += n;
            } else if self.pos < self.words.len() {
                let marker = marker_at(self.words, self.pos);
                chunk[written * 8..written * 8 + 8]
                    .copy_from_slice(&marker.to_word().to_le_bytes());
                written += 1;
                self.literal_next = self.pos + marker.uniform_count as usize;
                self.pos = self.literal_next + marker.literal_count as usize;
                debug_assert!(self.pos > self.literal_next || marker.uniform_count > 0);
            } else {
                break;
            }
        }
        written * 8
    }
}

/// Writes `words` into `bytes` (exactly `8 * words.len()` long) little-endian.
#[inline]
fn write_words(bytes: &mut [u8], words: &[u64]) {
    debug_assert_eq!(bytes.len(), words.len() * 8);
    for (dst, w) in bytes.chunks_exact_mut(8).zip(words) {
        dst.copy_from_slice(&w.to_le_bytes());
    }
}

/// Canonical encoding of all of `words` (no trailing trim).
///
/// ```
/// let bytes = freeset::ewah::encode(&[0]);
/// assert_eq!(bytes, [2, 0, 0, 0, 0, 0, 0, 0]); // one zero word
/// ```
pub fn encode(words: &[u64]) -> Vec<u8> {
    encode_with(Encoder::new(words), words.len())
}

/// Canonical encoding of `words` without trailing zero-run markers.
pub fn encode_trimmed(words: &[u64]) -> Vec<u8> {
    encode_with(Encoder::trimmed(words), words.len())
}

fn encode_with(mut encoder: Encoder<'_>, words: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; encode_size_max(words)];
    let n = encoder.encode_chunk(&mut bytes);
    debug_assert!(encoder.is_done(), "encode_size_max bounds every encoding");
    bytes.truncate(n);
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
        }
    }

    /// Words written so far.
    pub fn words_written(&self) -> usize {
        self.out
    }

    /// Decodes the next chunk of the stream. On error the target holds a partial
    /// decoding and the decoder must be dropped.
    pub fn decode_chunk(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        if !chunk.len().is_multiple_of(8) {
            return Err(DecodeError::Length {
                offset: self.offset + (chunk.len() - chunk.len() % 8) as u64,
                trailing: (chunk.len() % 8) as u64,
            });
        }
        let mut words = chunk
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("chunks_exact(8)")));
        let mut rest = chunk.len() / 8;
        while rest > 0 {
            if self.literal_left > 0 {
                let n = self.literal_left.min(rest as u64) as usize;
                // The marker's overflow check guarantees `out + n <= capacity`.
                for (dst, w) in self.target[self.out..self.out + n]
                    .iter_mut()
                    .zip(words.by_ref())
                {
                    *dst = w;
                }
                self.out += n;
                self.literal_left -= n as u64;
                self.offset += 8 * n as u64;
                rest -= n;
            } else {
                let marker = Marker::from_word(words.next().expect("rest > 0"));
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
                self.target[self.out..uniform_end].fill(marker.uniform_word());
                self.out = uniform_end;
                self.marker_offset = self.offset;
                self.literal_declared = marker.literal_count;
                self.literal_left = marker.literal_count;
                self.offset += 8;
                rest -= 1;
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
        self.target[self.out..].fill(0);
        Ok(self.out)
    }
}

/// Decodes `bytes` into `target` (its length is the capacity), zeroing the words
/// past the end of the stream. Returns the number of words the stream described.
pub fn decode_into(bytes: &[u8], target: &mut [u64]) -> Result<usize, DecodeError> {
    let mut decoder = Decoder::new(target);
    decoder.decode_chunk(&bytes[..bytes.len() - bytes.len() % 8])?;
    if !bytes.len().is_multiple_of(8) {
        // Reported after the whole words, so that a bad marker earlier wins.
        decoder.decode_chunk(&bytes[bytes.len() - bytes.len() % 8..])?;
    }
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
