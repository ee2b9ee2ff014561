//! EWAH decoding: one-shot, streamed in chunks cut anywhere, and through
//! `std::io::Write`.
//!
//! Every path reads the stream through the one [`Walker`], so they agree on
//! the words, on the error and on its byte offset, whatever the chunking.
//!
//! What must never happen here: a write or an allocation past the target
//! capacity, or a panic, on any input.

use std::io::{self, Write};

use super::walk::{Step, Walker};
use super::Output;
use crate::error::DecodeError;

/// The state of a stream being decoded, apart from its target (so that a
/// free set can decode straight into its own bitsets).
#[derive(Debug, Clone)]
pub(crate) struct StreamState {
    walker: Walker,
    /// The start of a word cut by a chunk boundary: `partial[..partial_len]`.
    partial: [u8; 8],
    partial_len: usize,
    /// The target was all zeros to begin with: zero fills and the tail need
    /// no writing.
    zeroed: bool,
    /// The first error; every later call returns it again.
    failed: Option<DecodeError>,
}

impl StreamState {
    pub(crate) fn new(capacity: usize, zeroed: bool) -> Self {
        StreamState {
            walker: Walker::new(capacity),
            partial: [0; 8],
            partial_len: 0,
            zeroed,
            failed: None,
        }
    }

    /// Decodes the next `chunk` into `target` (the same target every call).
    pub(crate) fn push(&mut self, target: &mut [u64], mut chunk: &[u8]) -> Result<(), DecodeError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        if self.partial_len > 0 {
            let n = (8 - self.partial_len).min(chunk.len());
            self.partial[self.partial_len..self.partial_len + n].copy_from_slice(&chunk[..n]);
            self.partial_len += n;
            chunk = &chunk[n..];
            if self.partial_len < 8 {
                return Ok(());
            }
            self.partial_len = 0;
            let word = self.partial;
            self.words(target, &word)?;
        }
        let whole = chunk.len() - chunk.len() % 8;
        self.words(target, &chunk[..whole])?;
        self.partial_len = chunk.len() - whole;
        self.partial[..self.partial_len].copy_from_slice(&chunk[whole..]);
        Ok(())
    }

    fn words(&mut self, target: &mut [u64], words: &[u8]) -> Result<(), DecodeError> {
        let result = expand(
            &mut self.walker,
            words,
            target,
            self.zeroed,
            &mut Output::plain(),
        );
        if let Err(error) = result {
            self.failed = Some(error);
        }
        result
    }

    /// Ends the stream: the number of words it described. Without `zeroed`,
    /// the target past them is zeroed.
    pub(crate) fn finish(&mut self, target: &mut [u64]) -> Result<usize, DecodeError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let result = if self.partial_len > 0 {
            Err(DecodeError::Length {
                offset: self.walker.offset(),
                trailing: self.partial_len as u64,
            })
        } else {
            self.walker.finish()
        };
        match result {
            Ok(described) => {
                if !self.zeroed {
                    target[described..].fill(0);
                }
            }
            Err(error) => self.failed = Some(error),
        }
        result
    }

    /// Target words written so far.
    pub(crate) fn words_written(&self) -> usize {
        self.walker.out()
    }
}

/// Expands whole words of a stream into `target` from the walker's position.
#[inline]
pub(super) fn expand(
    walker: &mut Walker,
    words: &[u8],
    target: &mut [u64],
    zeroed: bool,
    output: &mut Output,
) -> Result<(), DecodeError> {
    if output.streams() {
        return super::stream::expand(walker, words, target, zeroed, output);
    }
    #[cfg(target_arch = "x86_64")]
    if output.counts_on_the_way() && std::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU has POPCNT, just detected.
        return unsafe { expand_with_popcnt(walker, words, target, zeroed, output) };
    }
    expand_words(walker, words, target, zeroed, output)
}

/// [`expand`] compiled with POPCNT, for an output that counts its short
/// literal runs a word at a time ([`Output::counts_on_the_way`]): the
/// baseline x86_64 target has no `popcnt`, and counts a word in a dozen
/// instructions without it.
///
/// # Safety
///
/// The CPU supports POPCNT.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn expand_with_popcnt(
    walker: &mut Walker,
    words: &[u8],
    target: &mut [u64],
    zeroed: bool,
    output: &mut Output,
) -> Result<(), DecodeError> {
    expand_words(walker, words, target, zeroed, output)
}

/// The body of [`expand`], inlined into each of its two compilations.
#[inline(always)]
fn expand_words(
    walker: &mut Walker,
    words: &[u8],
    target: &mut [u64],
    zeroed: bool,
    output: &mut Output,
) -> Result<(), DecodeError> {
    let mut at = 0;
    while at < words.len() {
        match walker.step(words, &mut at, usize::MAX)? {
            Step::Fill { out, count, ones } => output.fill(target, out, count, ones, zeroed),
            Step::Literals { out, bytes } => output.literals(target, out, bytes),
        }
    }
    output.report(target);
    walker.consumed(words.len());
    Ok(())
}

/// Streaming decoder: accepts an encoding cut into chunks anywhere (even
/// inside a word) and writes the words into a target slice, never past its
/// end. The chunks give the same words and the same error, at the same byte
/// offset, as the whole stream at once.
///
/// ```
/// use freeset::ewah::{encode, Decoder};
/// let words = [5, 0, 0, !0];
/// let bytes = encode(&words);
/// let mut target = [7u64; 6];
/// let mut decoder = Decoder::new(&mut target);
/// for chunk in bytes.chunks(3) {
///     decoder.decode_chunk(chunk)?;
/// }
/// assert_eq!(decoder.finish()?, 4); // words described; the tail is zeroed
/// assert_eq!(target, [5, 0, 0, !0, 0, 0]);
/// # Ok::<(), freeset::DecodeError>(())
/// ```
pub struct Decoder<'a> {
    target: &'a mut [u64],
    state: StreamState,
}

/// Sizes and positions, never the words.
impl std::fmt::Debug for Decoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("capacity", &self.target.len())
            .field("words_written", &self.state.words_written())
            .field("failed", &self.state.failed)
            .finish()
    }
}

impl<'a> Decoder<'a> {
    /// A decoder that writes into `target`; the target's length is the
    /// capacity.
    pub fn new(target: &'a mut [u64]) -> Self {
        let state = StreamState::new(target.len(), false);
        Decoder { target, state }
    }

    /// Words written so far.
    pub fn words_written(&self) -> usize {
        self.state.words_written()
    }

    /// Decodes the next chunk of the stream. On error the target holds a
    /// partial decoding, and every later call returns the same error.
    pub fn decode_chunk(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        self.state.push(self.target, chunk)
    }

    /// Ends the stream: checks that it ends on a word and that no literal
    /// word is missing, zeroes the rest of the target, and returns the number
    /// of words the stream described.
    pub fn finish(mut self) -> Result<usize, DecodeError> {
        self.state.finish(self.target)
    }
}

/// Bytes written into a [`Decoder`] are decoded; an invalid stream is an
/// [`io::ErrorKind::InvalidData`] error that wraps the [`DecodeError`].
/// Call [`Decoder::finish`] at the end, which `Write` cannot.
impl Write for Decoder<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.decode_chunk(buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
