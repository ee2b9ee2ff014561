//! Where the encoders write: one sink for every destination.
//!
//! A [`SliceOut`] fills a byte slice a word at a time from the front. The
//! streaming encoder gives it the caller's chunk (initialised bytes), the
//! parallel encoder a window of its output buffer, and the one-shot encoder
//! the spare capacity of a vector (both not initialised yet). The encoder
//! never asks for more than [`SliceOut::room`] words.
//!
//! What must never happen here: a read of a byte not written, or a write of
//! anything but initialised bytes (the chunk of a caller stays initialised).

use std::mem::MaybeUninit;

/// Literal runs this short are copied inline: the kernel call costs more
/// than the copy.
const SHORT_WORDS: usize = 16;

/// A byte slice, filled a little-endian word at a time from the front.
pub(crate) struct SliceOut<'b> {
    bytes: &'b mut [MaybeUninit<u8>],
    /// Words written from the front.
    written: usize,
    /// Literal words go out with streaming stores (a large output, see
    /// [`Stores`](super::Stores)); whoever made the sink
    /// fences them before handing the bytes on.
    stream: bool,
    /// Bytes past the written ones may be scribbled on (see
    /// [`SliceOut::extend_padded`]): true for bytes not initialised yet,
    /// false for a caller's chunk, whose bytes past what an encoder reports
    /// stay as they were.
    scratch_tail: bool,
}

impl<'b> SliceOut<'b> {
    /// A sink over bytes not initialised yet (spare capacity, a window),
    /// streaming its literal words when `stream`.
    pub(crate) fn uninit(bytes: &'b mut [MaybeUninit<u8>], stream: bool) -> Self {
        SliceOut {
            bytes,
            written: 0,
            stream,
            scratch_tail: true,
        }
    }

    /// A sink over a caller's chunk.
    pub(crate) fn init(bytes: &'b mut [u8]) -> Self {
        let len = bytes.len();
        // SAFETY: `MaybeUninit<u8>` has the size, alignment and validity of
        // `u8` (every `u8` is a valid `MaybeUninit<u8>`); the sink only ever
        // writes initialised bytes (`write_copy_of_slice`) and never
        // de-initialises one, so the caller's bytes stay initialised.
        let bytes = unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast(), len) };
        // A caller's chunk is theirs to reuse: it stays in cache.
        SliceOut {
            bytes,
            written: 0,
            stream: false,
            scratch_tail: false,
        }
    }

    /// Words written so far: the first `8 * written()` bytes are initialised.
    #[inline]
    pub(crate) fn written(&self) -> usize {
        self.written
    }

    /// Words that still fit.
    #[inline]
    pub(crate) fn room(&self) -> usize {
        self.bytes.len() / 8 - self.written
    }

    /// Appends one word; returns its position, for [`SliceOut::set`].
    #[inline]
    pub(crate) fn push(&mut self, word: u64) -> usize {
        debug_assert!(self.room() > 0);
        self.set(self.written, word);
        self.written += 1;
        self.written - 1
    }

    /// Overwrites the word at `position` (a marker written before its counts
    /// were known).
    #[inline]
    pub(crate) fn set(&mut self, position: usize, word: u64) {
        self.bytes[position * 8..position * 8 + 8].write_copy_of_slice(&word.to_le_bytes());
    }

    /// Appends the leading literal words of `words` (neither 0 nor all
    /// ones) up to the first uniform one or the end of the room, in one pass;
    /// returns how many.
    #[inline]
    pub(crate) fn copy_literals(&mut self, words: &[u64]) -> usize {
        let n = words.len().min(self.room());
        let start = self.written * 8;
        let bytes = &mut self.bytes[start..start + n * 8];
        let copied = crate::scan::copy_literals(bytes, &words[..n], self.stream);
        if self.stream {
            crate::scan::streamed::stored(&bytes[..8 * copied]);
        }
        self.written += copied;
        copied
    }

    /// Appends the first `len` of `words`. Over bytes not initialised yet
    /// it writes all `N` words, a copy of a fixed size with no branch on
    /// `len`: the words past `len` are overwritten by what comes next, or
    /// lie past [`SliceOut::written`] and are never read. A caller's chunk
    /// gets only the `len` words. Needs room for `N` words.
    #[inline(always)]
    pub(crate) fn extend_padded<const N: usize>(&mut self, words: &[u64; N], len: usize) {
        debug_assert!(len <= N && self.room() >= N);
        if !self.scratch_tail {
            self.extend(&words[..len]);
            return;
        }
        let start = self.written * 8;
        let bytes = &mut self.bytes[start..start + N * 8];
        if cfg!(target_endian = "little") {
            // The in-memory bytes of little-endian words are their encoding.
            bytes.write_copy_of_slice(bytemuck::cast_slice::<u64, u8>(words));
        } else {
            for (dst, w) in bytes.chunks_exact_mut(8).zip(words) {
                dst.write_copy_of_slice(&w.to_le_bytes());
            }
        }
        self.written += len;
    }

    /// Appends `words`.
    #[inline]
    pub(crate) fn extend(&mut self, words: &[u64]) {
        let start = self.written * 8;
        let bytes = &mut self.bytes[start..start + words.len() * 8];
        if self.stream && words.len() > SHORT_WORDS {
            crate::scan::copy_out(bytes, words, true);
            crate::scan::streamed::stored(bytes);
        } else if words.len() <= SHORT_WORDS || cfg!(target_endian = "big") {
            // A few literals between runs: inline, without a call.
            for (dst, w) in bytes.chunks_exact_mut(8).zip(words) {
                dst.write_copy_of_slice(&w.to_le_bytes());
            }
        } else {
            // The in-memory bytes of little-endian words are their encoding.
            super::copy_pieces(bytes, bytemuck::cast_slice(words));
        }
        self.written += words.len();
    }
}

/// Appends to `bytes` what `fill` writes into a sink of `max_words` words of
/// its spare capacity; returns the words written. A large output is written
/// with streaming stores, fenced before this returns. Writing into reserved
/// capacity does not zero the bytes first, which a `vec![0; max]` buffer
/// would (a pass over as many bytes as the input has).
pub(crate) fn append(
    bytes: &mut Vec<u8>,
    max_words: usize,
    fill: impl FnOnce(&mut SliceOut),
) -> usize {
    bytes.reserve(8 * max_words);
    try_append(bytes, max_words, fill).expect("reserved")
}

/// [`append`], or an error (and `bytes` unchanged) when the room for
/// `max_words` words cannot be allocated.
pub(crate) fn try_append(
    bytes: &mut Vec<u8>,
    max_words: usize,
    fill: impl FnOnce(&mut SliceOut),
) -> Result<usize, std::collections::TryReserveError> {
    bytes.try_reserve(8 * max_words)?;
    let len = bytes.len();
    let stream = super::Stores::for_bytes(8 * max_words).stream();
    let mut out = SliceOut::uninit(&mut bytes.spare_capacity_mut()[..8 * max_words], stream);
    fill(&mut out);
    if stream {
        crate::scan::stream_fence();
    }
    let written = out.written();
    // SAFETY: the sink wrote the first `8 * written` bytes of the spare
    // capacity (it fills from the front), which `reserve` made at least
    // `8 * max_words >= 8 * written` long.
    unsafe { bytes.set_len(len + 8 * written) };
    Ok(written)
}

/// `bytes` with a capacity within twice its length and a page: an encoder
/// reserves room for the worst case, which a compressible input leaves
/// mostly unused. A shrink is a `realloc` to less, which the allocator does
/// in place for the large blocks it maps (it returns the tail pages) and by
/// a copy of the bytes written for small ones.
pub(crate) fn fit(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.capacity() > 2 * bytes.len() + FIT_SLACK_BYTES {
        bytes.shrink_to_fit();
    }
    debug_assert!(bytes.capacity() <= 2 * bytes.len() + FIT_SLACK_BYTES);
    bytes
}

/// The capacity an encoding may have past twice its length: a page.
pub(crate) const FIT_SLACK_BYTES: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_sink_writes_words_and_patches() {
        let mut chunk = [0xaau8; 20];
        let mut out = SliceOut::init(&mut chunk);
        assert_eq!(out.room(), 2);
        let slot = out.push(1);
        out.extend(&[2]);
        out.set(slot, 3);
        assert_eq!(out.room(), 0);
        assert_eq!(out.written(), 2);
        assert_eq!(&chunk[..8], &3u64.to_le_bytes());
        assert_eq!(&chunk[8..16], &2u64.to_le_bytes());
        assert_eq!(&chunk[16..], &[0xaa; 4]);
    }

    #[test]
    fn a_padded_copy_appends_its_length_and_spares_a_callers_bytes() {
        let words: [u64; 4] = [1, 2, 3, 4];
        let mut chunk = [0xaau8; 40];
        let mut out = SliceOut::init(&mut chunk);
        out.extend_padded(&words, 2);
        assert_eq!(out.written(), 2);
        assert_eq!(&chunk[8..16], &2u64.to_le_bytes());
        assert_eq!(&chunk[16..], &[0xaa; 24], "past the two words: untouched");
        let mut bytes = Vec::new();
        let written = append(&mut bytes, 5, |out| {
            out.extend_padded(&words, 1);
            out.extend_padded(&[9, 9, 9, 9], 2);
        });
        assert_eq!(written, 3);
        assert_eq!(bytes.len(), 24);
        assert_eq!(&bytes[..8], &1u64.to_le_bytes());
        assert_eq!(&bytes[8..16], &9u64.to_le_bytes());
    }

    #[test]
    fn append_grows_a_vector_by_what_was_written() {
        let mut bytes = vec![9u8];
        let written = append(&mut bytes, 4, |out| {
            out.extend(&[5, 6]);
        });
        assert_eq!(written, 2);
        assert_eq!(bytes.len(), 17);
        assert_eq!(&bytes[1..9], &5u64.to_le_bytes());
    }
}
