//! The decoder's streamed target: a target large for the last-level cache
//! ([`Stores::Streamed`](super::Stores)) is decoded a window of
//! [`WINDOW_WORDS`] words at a time into a buffer that stays in L1, and each
//! window's 64-byte lines are then written to the target whole, each with
//! one streaming store, or not at all (lines of zeros over a zeroed target).
//!
//! Why: an ordinary store first reads the line it writes (read for
//! ownership), and a line written partly by streaming stores and partly by
//! ordinary ones is flushed half-written. A `runs` bitset has two run ends
//! per marker, so before this the decoder stored its short runs the
//! ordinary way, and prefetched the whole target to hide those reads: it
//! read as many bytes as it wrote. Through the window, a decoding reads
//! nothing of the target and writes only its lines that hold a bit (over a
//! zeroed target: about half of a `runs` bitset).
//!
//! A line a run covers whole goes to the target at once; only the lines
//! where runs meet are assembled in the buffer, which is kept at zero
//! wherever nothing was put, so a run of zeros over a zeroed target costs
//! nothing at all. A marker whose words end in the window takes one step
//! ([`Window::marker`]), its runs' ends put with masked stores and its bits
//! counted on the way.
//!
//! Only lines that lie wholly in the target are streamed. The target's words
//! before its first 64-byte boundary and after its last one share their line
//! with memory outside the target (a neighbour piece of a parallel decoding,
//! or another allocation): they are written with ordinary stores, and only
//! they.
//!
//! What must never happen here: a streaming store to a line not wholly in
//! the target, a word of the target written that the stream does not
//! describe, or a word the stream describes left unwritten.

use super::walk::{Step, Walker};
use super::{OnCounts, Output, REPORT_WORDS};
use crate::error::DecodeError;
use crate::scan;
use crate::scan::lines::{Job, Lines, LINE_WORDS};

mod buffer;

use buffer::{
    copy_words, count_words, line_at, line_bits, put_ones, short_line_bits, Buffer, BUFFER_PAD,
    STEP_LITERALS_MAX, WINDOW_WORDS,
};

/// Literal runs this long (16 KiB) or longer go to the target in pieces of
/// [`REPORT_WORDS`] (see [`Window::direct_literals`]).
const DIRECT_MIN_WORDS: usize = 2 * WINDOW_WORDS;

/// Expands whole words of a stream into a streamed target from the walker's
/// position, on the active kernel tier: [`expand`](super::decode::expand)
/// for [`Stores::Streamed`](super::Stores). The target's words are written
/// from word 0 on, in order, by this call alone (it holds the window).
pub(super) fn expand(
    walker: &mut Walker,
    words: &[u8],
    target: &mut [u64],
    zeroed: bool,
    output: &mut Output,
) -> Result<(), DecodeError> {
    scan::lines::run(Expand {
        walker,
        words,
        target,
        zeroed,
        output,
    })
}

/// [`expand`] as a job of the active kernel tier.
struct Expand<'c, 's, 'o> {
    walker: &'c mut Walker,
    words: &'s [u8],
    target: &'c mut [u64],
    zeroed: bool,
    output: &'c mut Output<'o>,
}

impl Job for Expand<'_, '_, '_> {
    type Output = Result<(), DecodeError>;

    #[inline(always)]
    fn run<L: Lines>(self, lines: L) -> Self::Output {
        let Expand {
            walker,
            words,
            target,
            zeroed,
            output,
        } = self;
        debug_assert_eq!(walker.out(), 0, "a target written from its first word");
        let mut window = Window::new(lines, target, zeroed, output.base, output.on_counts);
        prefetch_pages(&target[..target.len().min(2 * WINDOW_WORDS)]);
        let mut at = 0;
        let result = loop {
            // Whole markers with their literal words, in one step each;
            // the walker's steps for the rest (a marker whose literal words
            // go on past these bytes, and any error).
            window.run_markers(target, walker, words, &mut at);
            if let Some((out, marker)) = walker.take_marker(words, &mut at) {
                let (uniform, literal) =
                    (marker.uniform_count as usize, marker.literal_count as usize);
                window.fill(target, out, uniform, marker.uniform_bit);
                window.literals(target, out + uniform, &words[at - 8 * literal..at]);
                continue;
            }
            if at >= words.len() {
                break Ok(());
            }
            match walker.step(words, &mut at, usize::MAX) {
                Ok(Step::Fill { out, count, ones }) => window.fill(target, out, count, ones),
                Ok(Step::Literals { out, bytes }) => window.literals(target, out, bytes),
                Err(error) => break Err(error),
            }
        };
        // The words before an error are written too, as the other stores
        // write them.
        window.finish(target);
        result?;
        walker.consumed(words.len());
        Ok(())
    }
}

/// The target through a window: see the module doc. Positions are
/// *virtual* words, target words shifted by `head` so that lines start at
/// multiples of 8.
///
/// A line that a run covers whole goes to the target at once, streamed
/// (ones, literal words, zeros unless over a zeroed target). The lines where
/// runs meet are assembled in the buffer and written when the window ends:
/// streamed if wholly in the target, else (the target's first and last
/// lines, shared with memory outside it) word by word.
struct Window<'a, L: Lines> {
    lines: L,
    /// The words of the window's lines in assembly; zeros wherever nothing
    /// was put (zero runs over a zeroed target are not, nor whole lines).
    buffer: Buffer,
    /// The virtual word of buffer word 0, a multiple of 8.
    start: usize,
    /// The next virtual word to write; `start <= next < start + WINDOW_WORDS`
    /// between calls.
    next: usize,
    /// Virtual words before target word 0 (its position in its line).
    head: usize,
    /// Target words.
    len: usize,
    /// Lines of the buffer to write out (bit `k`: words `8k..8k + 8`).
    dirty: u128,
    /// The target is all zeros: zero runs need no store.
    zeroed: bool,
    /// Target word 0 is word `base` of the bitset.
    base: usize,
    on_counts: Option<OnCounts<'a>>,
    /// Set bits of each shard the window's words fall in, counted run by
    /// run, from the shard of the window's first target word.
    counts: [u32; WINDOW_WORDS / 64 + 2],
}

impl<'a, L: Lines> Window<'a, L> {
    fn new(
        lines: L,
        target: &[u64],
        zeroed: bool,
        base: usize,
        on_counts: Option<OnCounts<'a>>,
    ) -> Self {
        // Target word `lead` starts a line, so the `head` words of the line
        // before it are the target's first (and the rest lie outside it).
        let lead = (64 - target.as_ptr() as usize % 64) % 64 / 8;
        let head = (LINE_WORDS - lead) % LINE_WORDS;
        Window {
            lines,
            buffer: Buffer([0; WINDOW_WORDS + BUFFER_PAD]),
            start: 0,
            next: head,
            head,
            len: target.len(),
            dirty: 0,
            zeroed,
            base,
            on_counts,
            counts: [0; WINDOW_WORDS / 64 + 2],
        }
    }

    /// Bitset word of virtual word `v` (at least `head`).
    #[inline(always)]
    fn bitset_word(&self, v: usize) -> usize {
        self.base + v - self.head
    }

    /// The entry of [`Window::counts`] for bitset word `word` (of the
    /// window).
    #[inline(always)]
    fn shard_index(&self, word: usize) -> usize {
        word / 64 - self.bitset_word(self.start.max(self.head)) / 64
    }

    /// Marks the buffer's lines that words `[from, to)` (buffer words,
    /// `from < to`) touch to be written out.
    #[inline(always)]
    fn mark(&mut self, from: usize, to: usize) {
        self.dirty |= line_bits(from, to);
    }

    /// Takes the walker's next markers (see [`Walker::take_markers`]) while
    /// each fits one step: its literal words are at most two lines, and
    /// its words end in the window. A step puts the run's whole lines
    /// straight to the target and its ends, with the literal words, into
    /// the buffer with masked stores, and counts the bits; the window's
    /// state stays in registers meanwhile. A `runs` bitset's markers all
    /// take this path.
    #[inline(always)]
    fn run_markers(
        &mut self,
        target: &mut [u64],
        walker: &mut Walker,
        words: &[u8],
        at: &mut usize,
    ) {
        let lines = self.lines;
        let (start, head, zeroed) = (self.start, self.head, self.zeroed);
        let listening = self.on_counts.is_some();
        // Bitset word of virtual word 0 (wrapping: `head` may exceed
        // `base`), and the shard of the window's first word.
        let origin = self.base.wrapping_sub(head);
        let window_shard = self.bitset_word(start.max(head)) / 64;
        let (mut next, mut dirty) = (self.next, self.dirty);
        let (buffer, counts) = (&mut self.buffer.0, &mut self.counts);
        walker.take_markers(words, at, |out, marker, bytes| {
            debug_assert_eq!(out + head, next);
            let (uniform, literal) = (marker.uniform_count as usize, bytes.len() / 8);
            let i = next - start;
            if literal > STEP_LITERALS_MAX
                || uniform >= WINDOW_WORDS
                || i + uniform + literal >= WINDOW_WORDS
            {
                return false;
            }
            let ones = marker.uniform_bit;
            if uniform > 0 && (ones || !zeroed) {
                // The run's words in the buffer: ones put with plain
                // stores ([`put_ones`]); zeros need none (the buffer holds
                // zeros from `next` on), only their lines marked.
                let word = if ones { !0 } else { 0 };
                let (v, end) = (next, next + uniform);
                let (lines_from, lines_to) = (
                    v.next_multiple_of(LINE_WORDS),
                    end / LINE_WORDS * LINE_WORDS,
                );
                if lines_from < lines_to {
                    // Whole lines: `lines_from >= v >= head`, `lines_to <=
                    // end <= head + len`.
                    let dst = &mut target[lines_from - head..lines_to - head];
                    lines.stream_splat(word, dst);
                    scan::streamed::stored(dst);
                    if v < lines_from {
                        let j = lines_from - LINE_WORDS - start;
                        if ones {
                            put_ones(lines, buffer, i, lines_from - v);
                        }
                        dirty |= 1 << (j / LINE_WORDS);
                    }
                    if lines_to < end {
                        let j = lines_to - start;
                        if ones {
                            put_ones(lines, buffer, j, end - lines_to);
                        }
                        dirty |= 1 << (j / LINE_WORDS);
                    }
                } else {
                    // In one line, or two with no whole one between.
                    let (j, k) = (i, end - start);
                    if ones {
                        put_ones(lines, buffer, j, uniform.min(LINE_WORDS));
                        if uniform > LINE_WORDS {
                            put_ones(lines, buffer, j + LINE_WORDS, uniform - LINE_WORDS);
                        }
                    }
                    dirty |= short_line_bits(j, k);
                }
                if ones && listening {
                    let first = origin.wrapping_add(v);
                    let (mut at, mut k) = (first, first / 64 - window_shard);
                    while at < first + uniform {
                        let stop = (at / 64 * 64 + 64).min(first + uniform);
                        counts[k] += 64 * (stop - at) as u32;
                        (at, k) = (stop, k + 1);
                    }
                }
            }
            next += uniform;
            if literal > 0 {
                let j = next - start;
                let first = literal.min(LINE_WORDS);
                let (low, high) = bytes.split_at(8 * first);
                // Whole lines from word `j` on, with zeros in the lanes
                // past the literal words: the buffer holds zeros from
                // `next` on (nothing was put there yet), and the pad past
                // the window's end, so those lanes change nothing. A plain
                // store, where storing only the literal words' lanes was a
                // masked store, slow on some machines (AVX2 on AMD: the
                // most costly instruction of a `runs` decoding).
                debug_assert!(buffer[j..j + 2 * LINE_WORDS].iter().all(|&w| w == 0));
                let line = lines.load_lanes(lines.splat(0), 0, low);
                lines.store(line, line_at(&mut buffer[..], j));
                let mut bits = lines.count_ones(line);
                if !high.is_empty() {
                    let line = lines.load_lanes(lines.splat(0), 0, high);
                    lines.store(line, line_at(&mut buffer[..], j + first));
                    bits += lines.count_ones(line);
                }
                dirty |= short_line_bits(j, j + literal);
                if listening {
                    let first_word = origin.wrapping_add(next);
                    let k = first_word / 64 - window_shard;
                    if first_word % 64 + literal <= 64 {
                        counts[k] += bits;
                    } else {
                        // Across a shard's end: word by word.
                        count_words(bytes, first_word, &mut counts[k..]);
                    }
                }
                next += literal;
            }
            true
        });
        (self.next, self.dirty) = (next, dirty);
    }

    /// `n` uniform words from `next` on, ending in the window (or at its
    /// end, which the caller writes out): the lines the run covers whole
    /// straight to the target, the others' words into the buffer. Counts
    /// the ones, and moves `next` on.
    #[inline(always)]
    fn run_in_window(&mut self, target: &mut [u64], n: usize, ones: bool) {
        let v = self.next;
        let i = v - self.start;
        debug_assert!(n > 0 && i + n <= WINDOW_WORDS);
        if ones || !self.zeroed {
            let word = if ones { !0 } else { 0 };
            let line = self.lines.splat(word);
            let (lines_from, lines_to) = (
                v.next_multiple_of(LINE_WORDS),
                (v + n) / LINE_WORDS * LINE_WORDS,
            );
            if lines_from < lines_to {
                // Whole lines: `lines_from >= v >= head`, `lines_to <= v + n
                // <= head + len`.
                let dst = &mut target[lines_from - self.head..lines_to - self.head];
                self.lines.stream_splat(word, dst);
                scan::streamed::stored(dst);
                // The words before and after them, into the buffer (the
                // buffer holds zeros already).
                if v < lines_from {
                    if ones {
                        self.lines.store_lanes(
                            line,
                            0,
                            &mut self.buffer.0[i..lines_from - self.start],
                        );
                    }
                    self.mark(i, lines_from - self.start);
                }
                if lines_to < v + n {
                    let j = lines_to - self.start;
                    if ones {
                        self.lines
                            .store_lanes(line, 0, &mut self.buffer.0[j..i + n]);
                    }
                    self.mark(j, i + n);
                }
            } else {
                // Within one line, or two with no whole one between.
                if ones {
                    let first = n.min(LINE_WORDS);
                    self.lines
                        .store_lanes(line, 0, &mut self.buffer.0[i..i + first]);
                    if n > first {
                        self.lines
                            .store_lanes(line, 0, &mut self.buffer.0[i + first..i + n]);
                    }
                }
                self.mark(i, i + n);
            }
            if ones && self.on_counts.is_some() {
                self.count_ones(v, n);
            }
        }
        self.next = v + n;
    }

    /// Adds ones to the counts: `n` words from virtual word `v`.
    #[inline(always)]
    fn count_ones(&mut self, v: usize, n: usize) {
        let first = self.bitset_word(v);
        let (mut at, mut k) = (first, self.shard_index(first));
        while at < first + n {
            let stop = (at / 64 * 64 + 64).min(first + n);
            self.counts[k] += 64 * (stop - at) as u32;
            (at, k) = (stop, k + 1);
        }
    }

    /// Writes `count` words, all ones or all zeros, at target word `out`
    /// (the next one), window by window.
    #[inline(always)]
    fn fill(&mut self, target: &mut [u64], out: usize, count: usize, ones: bool) {
        debug_assert_eq!(out + self.head, self.next);
        let mut left = count;
        while left > 0 {
            let n = left.min(self.start + WINDOW_WORDS - self.next);
            self.run_in_window(target, n, ones);
            left -= n;
            self.end_window(target);
        }
    }

    /// Writes the little-endian literal words `bytes` at target word `out`
    /// (the next one), window by window: the lines they cover whole through
    /// the copy kernel (streamed, counted on the way), the others' words
    /// into the buffer.
    #[inline(always)]
    fn literals(&mut self, target: &mut [u64], out: usize, bytes: &[u8]) {
        debug_assert_eq!(out + self.head, self.next);
        if bytes.len() >= 8 * DIRECT_MIN_WORDS {
            self.direct_literals(target, bytes);
        } else {
            self.put_literals(target, bytes);
        }
    }

    /// [`Window::literals`] through the window.
    #[inline(always)]
    fn put_literals(&mut self, target: &mut [u64], bytes: &[u8]) {
        let mut from = 0;
        while from < bytes.len() {
            let v = self.next;
            let i = v - self.start;
            let n = ((bytes.len() - from) / 8).min(WINDOW_WORDS - i);
            let src = &bytes[from..from + 8 * n];
            let (lines_from, lines_to) = (
                v.next_multiple_of(LINE_WORDS).min(v + n),
                ((v + n) / LINE_WORDS * LINE_WORDS).max(v),
            );
            let (head, whole) = if lines_from < lines_to {
                (lines_from - v, lines_to - lines_from)
            } else {
                (n, 0)
            };
            if head > 0 {
                copy_words(&mut self.buffer.0[i..i + head], &src[..8 * head]);
                self.mark(i, i + head);
                if self.on_counts.is_some() {
                    let first = self.bitset_word(v);
                    let k = self.shard_index(first);
                    count_words(&src[..8 * head], first, &mut self.counts[k..]);
                }
            }
            if whole > 0 {
                let first = self.bitset_word(lines_from);
                let k = self.shard_index(first);
                let spanned = scan::shards_spanned(first, whole);
                let dst = &mut target[lines_from - self.head..lines_to - self.head];
                let whole_src = &src[8 * head..8 * (head + whole)];
                scan::copy_in(
                    dst,
                    whole_src,
                    first,
                    &mut self.counts[k..k + spanned],
                    true,
                );
                scan::streamed::stored(dst);
                let rest = n - head - whole;
                if rest > 0 {
                    let j = lines_to - self.start;
                    let tail = &src[8 * (head + whole)..];
                    copy_words(&mut self.buffer.0[j..j + rest], tail);
                    self.mark(j, j + rest);
                    if self.on_counts.is_some() {
                        let first = self.bitset_word(lines_to);
                        let k = self.shard_index(first);
                        count_words(tail, first, &mut self.counts[k..]);
                    }
                }
            }
            self.next = v + n;
            from += 8 * n;
            self.end_window(target);
        }
    }

    /// A literal run of [`DIRECT_MIN_WORDS`] words or more: its words up to
    /// a line boundary through the window, which is then written out; its
    /// whole lines straight to the target through the copy kernel, in
    /// pieces of [`REPORT_WORDS`] (each reported on its own); the rest
    /// through a window that starts after them. Pieces as long as that let
    /// the kernel's prefetching run ahead of its loads.
    #[inline(always)]
    fn direct_literals(&mut self, target: &mut [u64], bytes: &[u8]) {
        let (v, end) = (self.next, self.next + bytes.len() / 8);
        let (lines_from, lines_to) = (
            v.next_multiple_of(LINE_WORDS),
            end / LINE_WORDS * LINE_WORDS,
        );
        debug_assert!(lines_from < lines_to && lines_to <= self.len + self.head);
        let before = lines_from - v;
        self.put_literals(target, &bytes[..8 * before]);
        self.write_out(target, lines_from);
        let first = self.bitset_word(lines_from);
        let dst = &mut target[lines_from - self.head..lines_to - self.head];
        let src = &bytes[8 * before..8 * (before + dst.len())];
        for at in (0..dst.len()).step_by(REPORT_WORDS) {
            let n = (dst.len() - at).min(REPORT_WORDS);
            let mut counts = [0u32; REPORT_WORDS / 64 + 1];
            let spanned = scan::shards_spanned(first + at, n);
            let piece = &mut dst[at..at + n];
            prefetch_pages(piece);
            scan::copy_in(
                piece,
                &src[8 * at..8 * (at + n)],
                first + at,
                &mut counts[..spanned],
                true,
            );
            scan::streamed::stored(piece);
            if let Some(report) = self.on_counts {
                report(first + at, n, &counts[..spanned]);
            }
        }
        (self.start, self.next) = (lines_to, lines_to);
        self.put_literals(target, &bytes[8 * (lines_to - v)..]);
    }

    /// Writes the window out and starts the next, if `next` reached its end.
    #[inline(always)]
    fn end_window(&mut self, target: &mut [u64]) {
        if self.next == self.start + WINDOW_WORDS {
            self.write_out(target, self.next);
            self.start = self.next;
            self.prefetch_next_window(target);
        }
    }

    /// Prefetches a line of each page of the target the window after this
    /// one covers (see [`prefetch_pages`]).
    #[inline(always)]
    fn prefetch_next_window(&self, target: &[u64]) {
        let from = (self.start + WINDOW_WORDS)
            .saturating_sub(self.head)
            .min(self.len);
        let to = (from + WINDOW_WORDS).min(self.len);
        prefetch_pages(&target[from..to]);
    }

    /// Writes the window's lines in assembly up to virtual word `end` (at
    /// most `next`) to the target, reports the bits of the window's words,
    /// and empties the window: streamed, the lines wholly in the target
    /// and before `end`; with ordinary stores, the target's words of the
    /// others (the line before the target's first boundary, its last line,
    /// a line `end` cuts).
    #[inline(always)]
    fn write_out(&mut self, target: &mut [u64], end: usize) {
        let from = self.start.max(self.head);
        if let (Some(report), true) = (self.on_counts, end > from) {
            let first = self.bitset_word(from);
            let spanned = scan::shards_spanned(first, end - from);
            report(first, end - from, &self.counts[..spanned]);
        }
        self.counts = [0; WINDOW_WORDS / 64 + 2];
        // The buffer lines wholly in the target and before `end`.
        let (lines_from, lines_to) = (
            self.head.saturating_sub(self.start).div_ceil(LINE_WORDS),
            (end.min(self.len + self.head) - self.start) / LINE_WORDS,
        );
        let zero = self.lines.splat(0);
        for half in 0..2 {
            let mut dirty = (self.dirty >> (64 * half)) as u64;
            while dirty != 0 {
                let k = 64 * half + dirty.trailing_zeros() as usize;
                dirty &= dirty - 1;
                let v = self.start + LINE_WORDS * k;
                let line: &mut [u64; LINE_WORDS] = (&mut self.buffer.0
                    [LINE_WORDS * k..LINE_WORDS * k + LINE_WORDS])
                    .try_into()
                    .expect("a line");
                if (lines_from..lines_to).contains(&k) {
                    let t = v - self.head;
                    let dst: &mut [u64; LINE_WORDS] =
                        (&mut target[t..t + LINE_WORDS]).try_into().expect("a line");
                    self.lines
                        .stream(self.lines.load(bytemuck::cast_ref(line)), &mut *dst);
                    scan::streamed::stored(dst);
                } else {
                    // Only the line's words that are target words written.
                    let (a, b) = (v.max(self.head), (v + LINE_WORDS).min(end));
                    if a < b {
                        target[a - self.head..b - self.head].copy_from_slice(&line[a - v..b - v]);
                    }
                }
                // Zeros again, for the next window.
                self.lines.store(zero, line);
            }
        }
        self.dirty = 0;
    }

    /// Writes out what the window holds: the end of the stream, or an error.
    #[inline(always)]
    fn finish(&mut self, target: &mut [u64]) {
        let end = self.next;
        self.write_out(target, end);
        self.start = end / LINE_WORDS * LINE_WORDS;
    }
}

/// Words of a page (4 KiB, the smallest on x86 and most other targets).
const PAGE_WORDS: usize = 512;

/// Prefetches a line in each page of `words`: streaming stores go to pages
/// that are in no cache and, a target being larger than the TLB covers, in
/// no TLB either; a prefetch walks the page table ahead of them (a store
/// that finds no translation waits for the walk). One line a page is a
/// sixty-fourth of the bytes written.
#[inline(always)]
fn prefetch_pages(words: &[u64]) {
    for page in words.chunks(PAGE_WORDS) {
        scan::prefetch(&page[0]);
    }
}

#[cfg(test)]
mod tests;
