//! Canonical EWAH encoding: one-shot, streamed into chunks, through
//! `std::io`, and its exact length without encoding.
//!
//! The one-shot encoder *is* the streaming one run on one large chunk, so
//! chunks of any size concatenate to the one-shot bytes. The literal words
//! are scanned and copied in one pass (the `copy_literals` kernel).
//!
//! What must never happen here: bytes that depend on how the output was cut,
//! or a call that returns without progress while bytes remain (a chunk too
//! short for a word is an error).

use std::io::{self, Read, Write};

use super::sink::{self, SliceOut};
use super::{
    encode_size_max, is_uniform, trimmed_len, Marker, LITERAL_COUNT_MAX, UNIFORM_COUNT_MAX,
};
use crate::error::EncodeError;
use crate::scan;

/// Streaming encoder: writes the canonical encoding of a word slice into
/// caller-provided chunks. The chunks, concatenated, are the one-shot bytes.
///
/// ```
/// use freeset::ewah::{encode, Encoder};
/// let words = [0, 0, 7, !0, !0, 9];
/// let mut encoder = Encoder::new(&words);
/// let mut bytes = Vec::new();
/// let mut chunk = [0u8; 16];
/// while !encoder.is_done() {
///     let n = encoder.encode_chunk(&mut chunk)?;
///     bytes.extend_from_slice(&chunk[..n]);
/// }
/// assert_eq!(bytes, encode(&words));
/// # Ok::<(), freeset::EncodeError>(())
/// ```
#[derive(Clone)]
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
    pub(super) last_marker: Option<(usize, Marker)>,
    /// Words up to here have been prefetched; `usize::MAX` when the words
    /// are too few to prefetch (see [`Encoder::prefetch`]).
    prefetched: usize,
    /// A word encoded already, of which only part was handed out (a read of
    /// less than a word, or a write that failed inside one):
    /// `staged[staged_at..]` comes next. `staged_at == 8`: none.
    staged: [u8; 8],
    staged_at: usize,
}

/// Sizes and positions, never the words.
impl std::fmt::Debug for Encoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("words", &self.words.len())
            .field("pos", &self.pos)
            .field("literal_next", &self.literal_next)
            .field("staged_bytes", &(8 - self.staged_at))
            .field("done", &self.is_done())
            .finish()
    }
}

impl<'a> Encoder<'a> {
    /// An encoder of all of `words`.
    pub fn new(words: &'a [u64]) -> Self {
        Encoder::part_of(words, words.len())
    }

    /// An encoder of `words`, a part of an input of `input_words` words:
    /// it prefetches if the whole input is large, so that a segment of a
    /// parallel encoding reads memory as the sequential encoder does (a
    /// segment is 512 KiB, below the size from which an input is taken to
    /// come from memory; without prefetching, a 2-thread encode of the
    /// `runs` fill spent most of its time in the classifier's loads, and
    /// two sequential encodes of its halves did not: see `perf/notes.md`).
    pub(super) fn part_of(words: &'a [u64], input_words: usize) -> Self {
        debug_assert!(words.len() <= input_words);
        Encoder {
            words,
            pos: 0,
            literal_next: 0,
            last_marker: None,
            prefetched: if super::Stores::for_bytes(8 * input_words).large() {
                0
            } else {
                usize::MAX
            },
            staged: [0; 8],
            staged_at: 8,
        }
    }

    /// An encoder of `words` that goes on from `progress` (what
    /// [`Encoder::progress`] said of an encoder of the same words, at a
    /// word boundary of the output).
    pub(crate) fn resume(words: &'a [u64], progress: (usize, usize)) -> Self {
        let mut encoder = Encoder::new(words);
        (encoder.pos, encoder.literal_next) = progress;
        debug_assert!(encoder.literal_next <= encoder.pos && encoder.pos <= words.len());
        encoder
    }

    /// Where the encoder stands, for [`Encoder::resume`]: words described by
    /// the markers written, and literal words written. Nothing may be staged.
    pub(crate) fn progress(&self) -> (usize, usize) {
        debug_assert_eq!(self.staged_at, 8);
        (self.pos, self.literal_next)
    }

    /// An encoder of `words` without its trailing zero words: the encoding a
    /// free set persists, whose bytes do not depend on the capacity.
    pub fn trimmed(words: &'a [u64]) -> Self {
        Encoder::new(&words[..trimmed_len(words)])
    }

    /// True once every byte has been written.
    pub fn is_done(&self) -> bool {
        self.staged_at == 8 && self.words_done()
    }

    /// Every word was encoded (some bytes may still be staged).
    fn words_done(&self) -> bool {
        self.literal_next == self.pos && self.pos == self.words.len()
    }

    /// Fills `chunk` with the next bytes of the encoding, whole words only,
    /// and returns how many bytes it wrote: `8 * (chunk.len() / 8)` unless
    /// the encoding ends first, and 0 once it is done. (After a read of
    /// less than a word through [`Encoder::into_reader`]'s reader, or a
    /// [`Encoder::write_to`] that failed inside a word, the rest of that
    /// word comes first, and whole words after it.)
    ///
    /// A chunk shorter than 8 bytes while bytes remain is an error (it could
    /// never make progress); nothing is written and the encoder is unchanged.
    pub fn encode_chunk(&mut self, chunk: &mut [u8]) -> Result<usize, EncodeError> {
        let mut staged = 0;
        if self.staged_at < 8 {
            staged = (8 - self.staged_at).min(chunk.len());
            chunk[..staged].copy_from_slice(&self.staged[self.staged_at..self.staged_at + staged]);
            self.staged_at += staged;
            if self.staged_at < 8 {
                return Ok(staged);
            }
        }
        let rest = &mut chunk[staged..];
        if rest.len() < 8 && !self.words_done() {
            if staged > 0 {
                return Ok(staged);
            }
            return Err(EncodeError::ChunkTooShort { len: chunk.len() });
        }
        let mut out = SliceOut::init(rest);
        self.encode_to(&mut out);
        Ok(staged + out.written() * 8)
    }

    /// Encodes the next word aside, for a caller with room for less than a
    /// word. Nothing may be staged, and words must remain.
    fn stage_word(&mut self) {
        debug_assert!(self.staged_at == 8 && !self.words_done());
        let mut word = [0u8; 8];
        let n = self.encode_chunk(&mut word).expect("8 bytes hold a word");
        debug_assert_eq!(n, 8);
        self.staged = word;
        self.staged_at = 0;
    }

    /// Moves on by `bytes` bytes of the encoding, written elsewhere already
    /// (`scratch`, at least `bytes` long, is overwritten): a write that took
    /// only part of a chunk. Fewer bytes may remain than asked only if the
    /// encoding ends.
    fn skip(&mut self, bytes: usize, scratch: &mut [u8]) {
        let mut left = bytes;
        while left > 0 && !self.is_done() {
            if self.staged_at == 8 && left < 8 {
                self.stage_word();
            }
            let n = self
                .encode_chunk(&mut scratch[..left])
                .expect("a word of room, or the rest of a staged word");
            left -= n;
        }
    }

    /// Appends the rest of the encoding to `bytes`.
    pub fn encode_to_end(&mut self, bytes: &mut Vec<u8>) {
        let max = encode_size_max(self.words.len() - self.literal_next) / 8;
        sink::append(bytes, max, |out| self.encode_to(out));
        debug_assert!(self.is_done());
    }

    /// Writes the rest of the encoding to `writer`, 64 KiB at a time, and
    /// returns the number of bytes written.
    ///
    /// Retry-safe: when `writer` fails, the encoder stands exactly after the
    /// bytes the writer took (each `write` says how many), so calling
    /// `write_to` again after the error goes on with the first byte not
    /// written, and the bytes written over all calls are the encoding. A
    /// write that takes no byte is an [`io::ErrorKind::WriteZero`] error;
    /// [`io::ErrorKind::Interrupted`] is retried here.
    ///
    /// ```
    /// use freeset::ewah::{encode, Encoder};
    /// let words: Vec<u64> = (0..10_000).map(|i| i * 7 % 5).collect();
    /// let mut file = Vec::new(); // any `std::io::Write`
    /// let n = Encoder::new(&words).write_to(&mut file)?;
    /// assert_eq!(file, encode(&words));
    /// assert_eq!(n, file.len() as u64);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_to(&mut self, mut writer: impl Write) -> io::Result<u64> {
        let mut chunk = [0u8; 64 << 10];
        let mut total = 0;
        while !self.is_done() {
            // Where this chunk starts: a failed write goes back here, then
            // on by what the writer took.
            let start = self.clone();
            let n = self
                .encode_chunk(&mut chunk)
                .expect("a 64 KiB chunk has room for a word");
            let mut taken = 0;
            while taken < n {
                let error = match writer.write(&chunk[taken..n]) {
                    Ok(0) => io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the writer took no byte of the encoding",
                    ),
                    Ok(k) => {
                        taken += k.min(n - taken);
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => e,
                };
                *self = start;
                self.skip(taken, &mut chunk);
                return Err(error);
            }
            total += n as u64;
        }
        Ok(total)
    }

    /// A [`Read`] of the rest of the encoding, for `std::io::copy` and
    /// readers of any buffer size (a read may end inside a word).
    pub fn into_reader(self) -> EncodeReader<'a> {
        EncodeReader { encoder: self }
    }

    pub(super) fn encode_to(&mut self, out: &mut SliceOut) {
        while out.room() > 0 {
            if self.literal_next < self.pos {
                let n = (self.pos - self.literal_next).min(out.room());
                out.extend(&self.words[self.literal_next..self.literal_next + n]);
                self.literal_next += n;
            } else if self.pos < self.words.len() {
                if !self.emit_window(out) {
                    self.emit_marker(out);
                }
            } else {
                break;
            }
        }
    }

    /// Writes every marker that starts and ends in the [`WINDOW_WORDS`] words
    /// from `pos`, with their literals, and returns true; false (nothing
    /// written) when the marker at `pos` does not end inside them, when
    /// fewer words are left, or when the room is short.
    ///
    /// The window is classified in one branch-free pass; marker `k` spans the
    /// words from its start to the next, and its literals are the literal
    /// words among them (they come last), so its counts are differences of
    /// prefix counts: no branch depends on where a run ends. The scanners
    /// ([`Encoder::emit_marker`]) mispredict one at nearly every run end,
    /// which on short runs costs more than the scans.
    fn emit_window(&mut self, out: &mut SliceOut) -> bool {
        let words = self.words;
        let pos = self.pos;
        debug_assert!(self.literal_next == pos);
        // Room for every word of the window (markers are at most one per
        // word, and a marker and its literals never outnumber the words they
        // describe by more than the first marker) and the padding of the
        // last literal copy; the words after the window feed that padding.
        if words.len() - pos < WINDOW_WORDS + PADDED_WORDS
            || out.room() < WINDOW_WORDS + 1 + PADDED_WORDS
        {
            return false;
        }
        let window = &words[pos..pos + WINDOW_WORDS];
        let (mut zeros, mut ones) = ([0u64; WINDOW_MASKS], [0u64; WINDOW_MASKS]);
        if self.prefetched == usize::MAX {
            scan::classify(window, &mut zeros, &mut ones);
        } else {
            // A large input: a few lines prefetched before each 64 words
            // (see `prefetch`), for a kernel call per 64 words instead of
            // one per window.
            for (k, chunk) in window.chunks_exact(64).enumerate() {
                self.prefetch(pos + 64 * (k + 1));
                scan::classify(chunk, &mut zeros[k..=k], &mut ones[k..=k]);
            }
        }
        // A marker starts where a uniform run starts: a uniform word whose
        // predecessor is not of its kind (a literal, or the other kind).
        // Word 0 is where this marker starts, whatever precedes it.
        let mut starts = [0u64; WINDOW_MASKS];
        let (mut zero_carry, mut one_carry) = (1, 1);
        for ((start, &z), &o) in starts.iter_mut().zip(&zeros).zip(&ones) {
            *start = (z & !(z << 1 | zero_carry)) | (o & !(o << 1 | one_carry));
            (zero_carry, one_carry) = (z >> 63, o >> 63);
        }
        // The literal words, and how many come before each mask's first word.
        let literals: [u64; WINDOW_MASKS] = std::array::from_fn(|k| !(zeros[k] | ones[k]));
        let mut literals_before = [0u32; WINDOW_MASKS];
        let mut sum = 0;
        for (before, literal) in literals_before.iter_mut().zip(&literals) {
            *before = sum;
            sum += literal.count_ones();
        }
        let literals_to = |i: usize| {
            let (k, bit) = (i / 64, i % 64);
            literals_before[k] + (literals[k] & ((1 << bit) - 1)).count_ones()
        };
        let (mut from, mut literals_from) = (0, 0);
        for (k, &mask) in starts.iter().enumerate() {
            let mut mask = mask;
            while mask != 0 {
                let to = 64 * k + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let literals_at = literals_to(to);
                let literal = (literals_at - literals_from) as usize;
                let marker = Marker {
                    uniform_bit: ones[from / 64] >> (from % 64) & 1 == 1,
                    uniform_count: (to - from - literal) as u64,
                    literal_count: literal as u64,
                };
                debug_assert_eq!(marker, super::marker_at(words, pos + from));
                let slot = out.push(marker.to_word());
                let first = pos + to - literal;
                let padded = words[first..first + PADDED_WORDS]
                    .try_into()
                    .expect("16 words");
                out.extend_padded::<PADDED_WORDS>(padded, literal.min(PADDED_WORDS));
                if literal > PADDED_WORDS {
                    out.extend(&words[first + PADDED_WORDS..pos + to]);
                }
                self.last_marker = Some((slot, marker));
                (from, literals_from) = (to, literals_at);
            }
        }
        // Word 0 is never in `starts` (its carry is 1): a marker was written
        // exactly when `from` moved.
        self.pos = pos + from;
        self.literal_next = self.pos;
        from > 0
    }

    /// Prefetches the words up to a window past `from`, on inputs large
    /// enough to come from memory ([`Stores::Large`](super::Stores), 4 MiB
    /// and more, whether or not the output streams; `prefetched` is
    /// `usize::MAX` for others): the next window's lines are on their way
    /// while this one is classified.
    ///
    /// [`Encoder::emit_window`] calls it before each 64 words it classifies,
    /// so that it asks for 8 lines at a time, a window ahead, rather than
    /// the 55 or so lines a window advances in one burst before it. A burst
    /// holds the line fill buffers while the loads of the window classified
    /// next wait for them. With the input out of cache (the interleaved
    /// loop of `--peers`) this measured faster than bursts and than no
    /// prefetching; with the input in cache, level (figures in
    /// `perf/notes.md`).
    #[inline]
    fn prefetch(&mut self, from: usize) {
        super::prefetch_ahead(self.words, from, &mut self.prefetched);
    }

    /// Writes the marker at `pos` and as many of its literals as fit, scanning
    /// and copying the literals in one pass. Precondition: room for a word.
    fn emit_marker(&mut self, out: &mut SliceOut) {
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
        debug_assert_eq!(marker, super::marker_at(words, self.pos));
        debug_assert!(end > self.pos);
        self.pos = end;
        self.literal_next = start + copied;
    }
}

/// Words [`Encoder::emit_window`] classifies at once: 4 KiB, a page, and
/// some 7 markers of the `runs` fill.
const WINDOW_WORDS: usize = 512;

/// Masks of 64 words in a window.
const WINDOW_MASKS: usize = WINDOW_WORDS / 64;

/// Literal words a marker of a window copies with one fixed-size copy; a
/// longer run copies the rest with a second.
const PADDED_WORDS: usize = 16;

/// The encoding as a [`Read`]: see [`Encoder::into_reader`].
///
/// ```
/// use std::io::Read;
/// use freeset::ewah::{encode, Encoder};
/// let words = [3, 0, !0, 5];
/// let mut bytes = Vec::new();
/// let mut small = [0u8; 3]; // reads that end inside words
/// let mut reader = Encoder::new(&words).into_reader();
/// loop {
///     let n = reader.read(&mut small)?;
///     if n == 0 { break; }
///     bytes.extend_from_slice(&small[..n]);
/// }
/// assert_eq!(bytes, encode(&words));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct EncodeReader<'a> {
    /// A read with room for less than a word stages the word in it.
    encoder: Encoder<'a>,
}

impl Read for EncodeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if buf.len() < 8 && self.encoder.staged_at == 8 && !self.encoder.is_done() {
            // Less than a word of room: encode one word aside.
            self.encoder.stage_word();
        }
        let n = self
            .encoder
            .encode_chunk(buf)
            .expect("a chunk of 8 bytes or more, a staged word, or a finished encoder");
        Ok(n)
    }
}

/// Scans the run of literal words at the start of `words` and copies as much
/// of it as `out` has room for, in one pass (the copy kernel stops at the
/// first uniform word). Returns (run length, words copied); once the output
/// is full the scan goes on alone, and the copy waits for the next chunk.
#[inline(always)] // the hot loop of the encoder: kept inline in every build
pub(super) fn copy_literal_run(words: &[u64], out: &mut SliceOut) -> (usize, usize) {
    let room = out.room().min(words.len());
    let copied = out.copy_literals(&words[..room]);
    if copied < room || room == words.len() {
        // Stopped at a uniform word, or at the end of the words.
        return (copied, copied);
    }
    let rest = scan::literal_run(&words[copied..], words.len() - copied);
    (copied + rest, copied)
}

/// The sequential encoder, into a new vector of a capacity near its length.
pub(super) fn encode_sequential(
    words: &[u64],
) -> Result<Vec<u8>, std::collections::TryReserveError> {
    let mut bytes = Vec::new();
    let mut encoder = Encoder::new(words);
    sink::try_append(&mut bytes, encode_size_max(words.len()) / 8, |out| {
        encoder.encode_to(out)
    })?;
    debug_assert!(encoder.is_done());
    Ok(sink::fit(bytes))
}

/// The exact length in bytes of [`encode`](super::encode)`(words)`, found by the encoder's
/// scans without writing anything: an engine sizes its trailer with it
/// before encoding.
///
/// ```
/// use freeset::ewah::{encode, encoded_len};
/// let words = [0, 0, 7, !0, 9, 0];
/// assert_eq!(encoded_len(&words), encode(&words).len());
/// ```
pub fn encoded_len(words: &[u64]) -> usize {
    let (mut pos, mut markers, mut literals) = (0, 0, 0);
    while pos < words.len() {
        let first = words[pos];
        if is_uniform(first) {
            let cap = (words.len() - pos).min(UNIFORM_COUNT_MAX as usize);
            pos += scan::uniform_run(&words[pos..pos + cap], first, cap);
        }
        let cap = (words.len() - pos).min(LITERAL_COUNT_MAX as usize);
        let n = scan::literal_run(&words[pos..pos + cap], cap);
        pos += n;
        literals += n;
        markers += 1;
    }
    8 * (markers + literals)
}

#[cfg(test)]
mod tests;
