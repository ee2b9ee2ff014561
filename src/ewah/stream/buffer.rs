//! The window's buffer and the small pieces a marker's step uses on it:
//! the window's size, the buffer's lines and the pad of zeros after them,
//! a line's view of it, ones put with plain stores, the masks of the lines
//! a span touches, and word copies and counts from the stream's bytes.
//!
//! What must never happen here: a store to anything but the buffer, or a
//! store that leaves a word past the window's `next` other than zero (the
//! window relies on those zeros: see `put_ones`).

use crate::scan::lines::{Lines, LINE_WORDS, ONES_PREFIX};

/// Words a window holds: 8 KiB, 128 lines (one bit each in a `u128` mask).
pub(super) const WINDOW_WORDS: usize = 1024;

/// Literal words a marker's one step (`Window::run_markers`) copies at
/// most: two lines.
pub(super) const STEP_LITERALS_MAX: usize = 2 * LINE_WORDS;

/// A window's buffer: whole lines, and [`BUFFER_PAD`] words of zeros after
/// them.
#[repr(C, align(64))]
pub(super) struct Buffer(pub(super) [u64; WINDOW_WORDS + BUFFER_PAD]);

/// Words of zeros after a window's lines: a marker's step stores its
/// literal words as whole lines from wherever they start (see
/// `Window::run_markers`), and those stores may reach this far past the
/// window's last word. They put zeros there, so these stay zeros, and no
/// line of theirs is ever marked or written out.
pub(super) const BUFFER_PAD: usize = STEP_LITERALS_MAX;

/// Puts `n` (`1..=8`) words of ones at buffer word `j`, where the buffer
/// holds zeros from `j` on: one plain store of a whole line from `j`, ones
/// in its first `n` words and zeros in the others, which changes nothing
/// there. (The buffer's pad takes a line that reaches past the window.)
/// Why not a store of the `n` words alone: it is a masked store, slow on
/// some machines (AVX2 on AMD).
#[inline(always)]
pub(super) fn put_ones<L: Lines>(lines: L, buffer: &mut [u64], j: usize, n: usize) {
    debug_assert!((1..=LINE_WORDS).contains(&n));
    debug_assert!(buffer[j..j + LINE_WORDS].iter().all(|&w| w == 0));
    lines.store(
        lines.load(bytemuck::cast_ref(&ONES_PREFIX[n])),
        line_at(buffer, j),
    );
}

/// The line-long view of `buffer` from word `j`, up to the window's last
/// word (the pad takes a line that starts in the window's last line).
#[inline(always)]
pub(super) fn line_at(buffer: &mut [u64], j: usize) -> &mut [u64; LINE_WORDS] {
    (&mut buffer[j..j + LINE_WORDS]).try_into().expect("a line")
}

/// The lines of a window that buffer words `[from, to)` (`from < to <=
/// WINDOW_WORDS`) touch, as bits.
#[inline(always)]
pub(super) fn line_bits(from: usize, to: usize) -> u128 {
    const { assert!(WINDOW_WORDS == 128 * LINE_WORDS) };
    debug_assert!(from < to && to <= WINDOW_WORDS);
    let (first, last) = (from / LINE_WORDS, (to - 1) / LINE_WORDS);
    (!0u128 >> (127 - last)) & (!0u128 << first)
}

/// [`line_bits`] of a span of at most [`STEP_LITERALS_MAX`] + 8 words (at
/// most three lines), as a marker's step puts them: one shift of a `u128`
/// instead of two, which were 5% of a `runs` decoding's instructions.
#[inline(always)]
pub(super) fn short_line_bits(from: usize, to: usize) -> u128 {
    debug_assert!(from < to && to <= WINDOW_WORDS && to - from <= STEP_LITERALS_MAX + LINE_WORDS);
    let (first, last) = (from / LINE_WORDS, (to - 1) / LINE_WORDS);
    u128::from((2u32 << (last - first)) - 1) << first
}

/// Little-endian `src` (8 bytes a word) into `dst`.
#[inline(always)]
pub(super) fn copy_words(dst: &mut [u64], src: &[u8]) {
    if cfg!(target_endian = "little") {
        bytemuck::cast_slice_mut::<u64, u8>(dst).copy_from_slice(src);
    } else {
        for (word, bytes) in dst.iter_mut().zip(src.chunks_exact(8)) {
            *word = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        }
    }
}

/// Adds the set bits of the little-endian words `bytes` (bitset words from
/// `first` on) to `counts`, whose entry 0 is the shard of `first`.
#[inline(always)]
pub(super) fn count_words(bytes: &[u8], first: usize, counts: &mut [u32]) {
    let n = bytes.len() / 8;
    let (mut i, mut k) = (0, 0);
    while i < n {
        // The words of this shard.
        let stop = n.min(i + 64 - (first + i) % 64);
        let ones: u32 = bytes[8 * i..8 * stop]
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")).count_ones())
            .sum();
        counts[k] += ones;
        (i, k) = (stop, k + 1);
    }
}
