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
//! The window's buffer is kept at zero wherever nothing was written, so a
//! run of zeros over a zeroed target costs nothing at all; the other runs
//! are written a line at a time, their last words with a masked store, and
//! a mask of the lines that hold anything says which to write out. A marker
//! whose run and literal words fit in the window takes one step with no
//! loop ([`Window::marker`]); runs longer than [`DIRECT_MIN_WORDS`] go
//! straight to the target (their whole lines; the ends through the window).
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
use super::{count_by_shard, Counting, Marker, OnCounts, Output, REPORT_WORDS};
use crate::error::DecodeError;
use crate::scan;
use crate::scan::lines::{Job, Lines, LINE_WORDS};

/// Words a window holds: 8 KiB, 128 lines (one bit each in a `u128` mask).
const WINDOW_WORDS: usize = 1024;

/// Literal words a marker's one step ([`Window::marker`]) copies at most:
/// two lines.
const STEP_LITERALS_MAX: usize = 2 * LINE_WORDS;

/// Runs this long (16 KiB) or longer bypass the window: their whole lines
/// go straight to the target.
const DIRECT_MIN_WORDS: usize = 2048;

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
        let report = Report {
            base: output.base,
            on_counts: output.on_counts,
            bulk: output.counting == Counting::Bulk,
        };
        let mut window = Window::new(lines, target, zeroed, report);
        let mut at = 0;
        let result = loop {
            // Whole markers with their literal words, in one step each;
            // the walker's steps for the rest (a marker whose literal words
            // go on past these bytes, and any error).
            walker.take_markers(words, &mut at, |out, marker, bytes| {
                window.try_marker(target, out, marker, bytes)
            });
            if let Some((out, marker)) = walker.take_marker(words, &mut at) {
                let (uniform, literal) =
                    (marker.uniform_count as usize, marker.literal_count as usize);
                let bytes = &words[at - 8 * literal..at];
                window.marker(target, out, uniform, marker.uniform_bit, bytes);
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

/// Who hears of the bits written, and how they are counted.
#[derive(Clone, Copy)]
struct Report<'a> {
    /// Target word 0 is word `base` of the bitset.
    base: usize,
    on_counts: Option<OnCounts<'a>>,
    /// Counted from the window when it is written ([`Counting::Bulk`]),
    /// rather than run by run.
    bulk: bool,
}

/// A window's buffer: whole lines.
#[repr(C, align(64))]
struct Buffer([u64; WINDOW_WORDS]);

/// The target through a window: see the module doc. Positions are
/// *virtual* words, target words shifted by `head` so that lines start at
/// multiples of 8.
struct Window<'a, L: Lines> {
    lines: L,
    /// The words written since `start`; zeros past them, and wherever
    /// nothing was written (zero runs over a zeroed target are not).
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
    /// Lines of the buffer to write to the target (bit `k`: words `8k..8k + 8`).
    dirty: u128,
    /// The target is all zeros: zero runs need no store.
    zeroed: bool,
    report: Report<'a>,
    /// Set bits of each shard the window's words fall in, counted run by
    /// run (not [`Report::bulk`]), from the shard of the window's first
    /// target word.
    counts: [u32; WINDOW_WORDS / 64 + 2],
}

impl<'a, L: Lines> Window<'a, L> {
    fn new(lines: L, target: &[u64], zeroed: bool, report: Report<'a>) -> Self {
        // Target word `lead` starts a line; `head` words of the line hold
        // the target's first words... and the `8 - head` before them lie
        // outside it.
        let lead = (64 - target.as_ptr() as usize % 64) % 64 / 8;
        let head = (LINE_WORDS - lead) % LINE_WORDS;
        Window {
            lines,
            buffer: Buffer([0; WINDOW_WORDS]),
            start: 0,
            next: head,
            head,
            len: target.len(),
            dirty: 0,
            zeroed,
            report,
            counts: [0; WINDOW_WORDS / 64 + 2],
        }
    }

    /// Bitset word of virtual word `v` (at least `head`).
    #[inline(always)]
    fn bitset_word(&self, v: usize) -> usize {
        self.report.base + v - self.head
    }

    /// Bitset word of the window's first target word.
    #[inline(always)]
    fn first_word(&self) -> usize {
        self.bitset_word(self.start.max(self.head))
    }

    /// [`Window::marker`] if the marker takes one step (see there): true
    /// if it did; false, with nothing written, if not.
    #[inline(always)]
    fn try_marker(&mut self, target: &mut [u64], out: usize, marker: Marker, bytes: &[u8]) -> bool {
        let (uniform, literal) = (marker.uniform_count as usize, bytes.len() / 8);
        let i = self.next - self.start;
        if literal > STEP_LITERALS_MAX || i + uniform + literal > WINDOW_WORDS || self.counted() {
            return false;
        }
        self.marker(target, out, uniform, marker.uniform_bit, bytes);
        true
    }

    /// Whether bits are counted run by run (someone listens, and the
    /// counting is not [`Report::bulk`]).
    #[inline(always)]
    fn counted(&self) -> bool {
        !self.report.bulk && self.report.on_counts.is_some()
    }

    /// Writes a marker's words at target word `out` (the next one):
    /// `uniform` words of ones (or zeros), then the little-endian literal
    /// words `bytes`. In one step, without a loop or a branch on where the
    /// runs end, when they fit in the window and the literal words are few
    /// (a `runs` bitset's markers); through [`Window::fill`] and
    /// [`Window::literals`] otherwise.
    #[inline(always)]
    fn marker(&mut self, target: &mut [u64], out: usize, uniform: usize, ones: bool, bytes: &[u8]) {
        debug_assert_eq!(out + self.head, self.next);
        let i = self.next - self.start;
        let literal = bytes.len() / 8;
        let counted = !self.report.bulk && self.report.on_counts.is_some();
        if literal > STEP_LITERALS_MAX || i + uniform + literal > WINDOW_WORDS || counted {
            if uniform > 0 {
                self.fill(target, out, uniform, ones);
            }
            if literal > 0 {
                self.literals(target, out + uniform, bytes);
            }
            return;
        }
        let end = i + uniform + literal;
        if ones {
            self.store_ones(i, uniform);
        }
        // The literal words, a line and a masked line.
        let j = i + uniform;
        let first = literal.min(LINE_WORDS);
        let (low, high) = bytes.split_at(8 * first);
        let line = self.lines.load_lanes(self.lines.splat(0), 0, low);
        self.lines
            .store_lanes(line, 0, &mut self.buffer.0[j..j + first]);
        if !high.is_empty() {
            let line = self.lines.load_lanes(self.lines.splat(0), 0, high);
            let rest = literal - first;
            self.lines
                .store_lanes(line, 0, &mut self.buffer.0[j + first..j + first + rest]);
        }
        // Lines to write out: the fill's too unless it is zeros over a
        // zeroed target.
        let dirty_from = if ones || !self.zeroed { i } else { j };
        if dirty_from < end {
            self.dirty |= lines_mask(dirty_from, end);
        }
        self.advance(target, uniform + literal);
    }

    /// `count` words of ones into the buffer from word `i` (within it): a
    /// line at a time, the last with a masked store.
    #[inline(always)]
    fn store_ones(&mut self, i: usize, count: usize) {
        let line = self.lines.splat(!0);
        let whole = count / LINE_WORDS * LINE_WORDS;
        for at in (i..i + whole).step_by(LINE_WORDS) {
            let dst = (&mut self.buffer.0[at..at + LINE_WORDS])
                .try_into()
                .expect("a line");
            self.lines.store(line, dst);
        }
        self.lines
            .store_lanes(line, 0, &mut self.buffer.0[i + whole..i + count]);
    }

    /// Writes `count` words, all ones or all zeros, at target word `out`
    /// (the next one).
    #[inline(always)]
    fn fill(&mut self, target: &mut [u64], out: usize, count: usize, ones: bool) {
        debug_assert_eq!(out + self.head, self.next);
        if count >= DIRECT_MIN_WORDS {
            self.direct_fill(target, count, ones);
        } else {
            self.put_fill(target, count, ones);
        }
    }

    /// [`Window::fill`] through the window.
    #[inline(always)]
    fn put_fill(&mut self, target: &mut [u64], count: usize, ones: bool) {
        let mut left = count;
        while left > 0 {
            let i = self.next - self.start;
            let n = left.min(WINDOW_WORDS - i);
            // Zeros are in the buffer already.
            if ones {
                self.store_ones(i, n);
            }
            if ones || !self.zeroed {
                self.dirty |= lines_mask(i, i + n);
            }
            if ones && !self.report.bulk && self.report.on_counts.is_some() {
                self.count_ones(self.next, n);
            }
            self.advance(target, n);
            left -= n;
        }
    }

    /// Writes the little-endian literal words `bytes` at target word `out`
    /// (the next one).
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
            let i = self.next - self.start;
            let n = ((bytes.len() - from) / 8).min(WINDOW_WORDS - i);
            let src = &bytes[from..from + 8 * n];
            copy_words(&mut self.buffer.0[i..i + n], src);
            self.dirty |= lines_mask(i, i + n);
            if !self.report.bulk && self.report.on_counts.is_some() {
                let first = self.bitset_word(self.next);
                let k = first / 64 - self.first_word() / 64;
                count_words(src, first, &mut self.counts[k..]);
            }
            self.advance(target, n);
            from += 8 * n;
        }
    }

    /// Adds ones to the counts: `n` words from virtual word `v`.
    #[inline(always)]
    fn count_ones(&mut self, v: usize, n: usize) {
        let (first, window_first) = (self.bitset_word(v), self.first_word());
        let (mut at, mut k) = (first, first / 64 - window_first / 64);
        while at < first + n {
            let stop = (at / 64 * 64 + 64).min(first + n);
            self.counts[k] += 64 * (stop - at) as u32;
            (at, k) = (stop, k + 1);
        }
    }

    /// Moves on by `n` words just put in the buffer, writing the window out
    /// when it is full.
    #[inline(always)]
    fn advance(&mut self, target: &mut [u64], n: usize) {
        self.next += n;
        if self.next == self.start + WINDOW_WORDS {
            self.write_out(target, self.next);
            self.start = self.next;
        }
    }

    /// Writes the window's words up to virtual word `end` (at most `next`)
    /// to the target, reports their bits, and empties the window: streamed,
    /// the dirty lines wholly in the target and before `end`; with ordinary
    /// stores, the target's words of the others (the line before the
    /// target's first boundary, and the last, partly written or past the
    /// target).
    #[inline(always)]
    fn write_out(&mut self, target: &mut [u64], end: usize) {
        let from = self.start.max(self.head);
        if end > from {
            if let Some(report) = self.report.on_counts {
                let first = self.bitset_word(from);
                let words = &self.buffer.0[from - self.start..end - self.start];
                let spanned = scan::shards_spanned(first, words.len());
                if self.report.bulk {
                    count_by_shard(words, first, &mut self.counts[..spanned]);
                }
                report(first, words.len(), &self.counts[..spanned]);
            }
        }
        self.counts = [0; WINDOW_WORDS / 64 + 2];
        // The lines wholly in the target and before `end`: streamed.
        let lines_in = {
            let (from_line, to_line) = (
                (self.head.saturating_sub(self.start)).div_ceil(LINE_WORDS),
                ((end.min(self.len + self.head)) - self.start) / LINE_WORDS,
            );
            if from_line < to_line {
                lines_mask(LINE_WORDS * from_line, LINE_WORDS * to_line)
            } else {
                0
            }
        };
        let zero = self.lines.splat(0);
        let mut dirty = self.dirty & lines_in;
        while dirty != 0 {
            let k = dirty.trailing_zeros() as usize;
            dirty &= dirty - 1;
            let t = self.start + LINE_WORDS * k - self.head;
            let line: &mut [u64; LINE_WORDS] = (&mut self.buffer.0
                [LINE_WORDS * k..LINE_WORDS * k + LINE_WORDS])
                .try_into()
                .expect("a line");
            let dst: &mut [u64; LINE_WORDS] =
                (&mut target[t..t + LINE_WORDS]).try_into().expect("a line");
            self.lines
                .stream(self.lines.load(bytemuck::cast_ref(line)), &mut *dst);
            scan::streamed::stored(dst);
            // Zeros again, for the next window.
            self.lines.store(zero, line);
        }
        // The others, of the words written: the target's first and last
        // lines (shared with memory outside it), a line `end` cuts.
        let mut dirty = self.dirty & !lines_in;
        while dirty != 0 {
            let k = dirty.trailing_zeros() as usize;
            dirty &= dirty - 1;
            let v = self.start + LINE_WORDS * k;
            let line: &mut [u64; LINE_WORDS] = (&mut self.buffer.0
                [LINE_WORDS * k..LINE_WORDS * k + LINE_WORDS])
                .try_into()
                .expect("a line");
            let (a, b) = (v.max(self.head), (v + LINE_WORDS).min(end));
            if a < b {
                target[a - self.head..b - self.head].copy_from_slice(&line[a - v..b - v]);
            }
            self.lines.store(zero, line);
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

    /// A fill of [`DIRECT_MIN_WORDS`] or more: its whole lines straight to
    /// the target, its ends through the window.
    #[inline(always)]
    fn direct_fill(&mut self, target: &mut [u64], count: usize, ones: bool) {
        let word = if ones { !0 } else { 0 };
        let end = self.next + count;
        let (from, to) = self.direct_begin(target, end, |window, target, n| {
            window.put_fill(target, n, ones);
        });
        let dst = &mut target[from - self.head..to - self.head];
        if word != 0 || !self.zeroed {
            self.lines.stream_splat(word, dst);
            scan::streamed::stored(dst);
        }
        if let (Some(report), true) = (self.report.on_counts, word != 0) {
            let first = self.bitset_word(from);
            for at in (0..to - from).step_by(REPORT_WORDS) {
                let (first, n) = (first + at, (to - from - at).min(REPORT_WORDS));
                let mut counts = [0u32; REPORT_WORDS / 64 + 1];
                let spanned = scan::shards_spanned(first, n);
                for (k, c) in counts[..spanned].iter_mut().enumerate() {
                    let shard = (first / 64 + k) * 64;
                    *c = 64 * ((shard + 64).min(first + n) - shard.max(first)) as u32;
                }
                report(first, n, &counts[..spanned]);
            }
        }
        (self.start, self.next) = (to, to);
        self.put_fill(target, end - to, ones);
    }

    /// A literal run of [`DIRECT_MIN_WORDS`] words or more (`count` words
    /// at byte `from` of `stream`): its whole lines straight to the target
    /// (through the copy kernel, which counts them on the way), its ends
    /// through the window.
    #[inline(always)]
    fn direct_literals(&mut self, target: &mut [u64], bytes: &[u8]) {
        let end = self.next + bytes.len() / 8;
        let begin = self.next;
        let (lines_from, to) = self.direct_begin(target, end, |window, target, n| {
            window.put_literals(target, &bytes[..8 * n]);
        });
        let src_at = 8 * (lines_from - begin);
        let first = self.bitset_word(lines_from);
        let dst = &mut target[lines_from - self.head..to - self.head];
        for at in (0..dst.len()).step_by(REPORT_WORDS) {
            let n = (dst.len() - at).min(REPORT_WORDS);
            let mut counts = [0u32; REPORT_WORDS / 64 + 1];
            let spanned = scan::shards_spanned(first + at, n);
            let piece = &mut dst[at..at + n];
            let src = &bytes[src_at + 8 * at..src_at + 8 * (at + n)];
            scan::copy_in(piece, src, first + at, &mut counts[..spanned], true);
            scan::streamed::stored(piece);
            if let Some(report) = self.report.on_counts {
                report(first + at, n, &counts[..spanned]);
            }
        }
        (self.start, self.next) = (to, to);
        self.put_literals(target, &bytes[src_at + 8 * (to - lines_from)..]);
    }

    /// The start of a direct run from `next` to virtual word `end`: the
    /// words up to the next line boundary through the window (`put` them:
    /// they complete the line in assembly), then the window written out.
    /// Returns the run's whole lines, `[from, to)`.
    #[inline(always)]
    fn direct_begin(
        &mut self,
        target: &mut [u64],
        end: usize,
        put: impl FnOnce(&mut Self, &mut [u64], usize),
    ) -> (usize, usize) {
        let from = self.next.next_multiple_of(LINE_WORDS);
        let to = end / LINE_WORDS * LINE_WORDS;
        debug_assert!(from < to && to <= self.len + self.head);
        put(self, target, from - self.next);
        debug_assert_eq!(self.next, from);
        self.write_out(target, from);
        (from, to)
    }
}

/// The lines of a window that words `[from, to)` (`from < to <=
/// WINDOW_WORDS`) touch, as bits.
#[inline(always)]
fn lines_mask(from: usize, to: usize) -> u128 {
    debug_assert!(from < to && to <= WINDOW_WORDS);
    let (first, end) = (from / LINE_WORDS, to.div_ceil(LINE_WORDS));
    (!0u128 >> (128 - end)) & (!0u128 << first)
}

/// Little-endian `src` (8 bytes a word) into `dst`.
#[inline(always)]
fn copy_words(dst: &mut [u64], src: &[u8]) {
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
fn count_words(bytes: &[u8], first: usize, counts: &mut [u32]) {
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

#[cfg(test)]
mod tests {
    //! The window on every tier against a word-by-word write, at every
    //! alignment of the target, zeroed or not, counted either way, with
    //! runs of every length around line, window and direct-run edges.

    use super::*;
    use crate::scan::lines::Scalar;
    use proptest::prelude::*;
    use std::sync::Mutex;

    /// A run of words to write: `count` zeros or ones, literal words, or
    /// both as one marker.
    #[derive(Debug, Clone)]
    enum Run {
        Fill(bool, usize),
        Words(Vec<u64>, ()),
        Marker(bool, usize, Vec<u64>),
    }

    impl Run {
        fn words(&self) -> Vec<u64> {
            match self {
                Run::Fill(ones, count) => vec![if *ones { !0 } else { 0 }; *count],
                Run::Words(words, ()) => words.clone(),
                Run::Marker(ones, count, words) => {
                    let mut all = vec![if *ones { !0 } else { 0 }; *count];
                    all.extend(words);
                    all
                }
            }
        }
    }

    /// Guard words around the target, which no write may touch.
    const GUARD: u64 = 0xa5a5_5a5a_a5a5_5a5a;

    /// Writes `runs` through a window of tier `lines` into a target of
    /// `len` words that starts `shift` words past a 64-byte boundary (word
    /// `base` of its bitset), and returns the target with a line of guard
    /// words on either side, and the bits reported for each shard.
    fn written<L: Lines>(
        lines: L,
        shift: usize,
        len: usize,
        zeroed: bool,
        bulk: bool,
        base: usize,
        runs: &[Run],
    ) -> (Vec<u64>, Vec<u64>) {
        let mut buffer = vec![GUARD; len + 32];
        let aligned = (0..8)
            .find(|&i| (buffer[i..].as_ptr() as usize).is_multiple_of(64))
            .expect("a line boundary among 8 words");
        let start = aligned + 8 + shift;
        buffer[start..start + len].fill(if zeroed { 0 } else { 0x5555 });
        let reported = Mutex::new((
            vec![false; base + len],
            vec![0u64; (base + len).div_ceil(64)],
        ));
        let on_counts = |first: usize, n: usize, counts: &[u32]| {
            let mut reported = reported.lock().unwrap();
            assert_eq!(counts.len(), scan::shards_spanned(first, n));
            for seen in &mut reported.0[first..first + n] {
                assert!(!*seen, "a word reported twice");
                *seen = true;
            }
            for (k, &count) in counts.iter().enumerate() {
                reported.1[first / 64 + k] += u64::from(count);
            }
        };
        let report = Report {
            base,
            on_counts: Some(&on_counts),
            bulk,
        };
        let target = &mut buffer[start..start + len];
        let mut window = Window::new(lines, target, zeroed, report);
        let mut out = 0;
        for run in runs {
            match run {
                Run::Fill(ones, count) => window.fill(target, out, *count, *ones),
                Run::Words(words, _) => {
                    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                    window.literals(target, out, &bytes);
                }
                Run::Marker(ones, count, words) => {
                    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                    window.marker(target, out, *count, *ones, &bytes);
                }
            }
            out += run.words().len();
        }
        window.finish(target);
        scan::stream_fence();
        let counts = reported.into_inner().unwrap().1;
        (buffer[start - 8..start + len + 8].to_vec(), counts)
    }

    /// What [`written`] must give: the runs' words, then what was there;
    /// the bits of each shard.
    fn expected(len: usize, zeroed: bool, base: usize, runs: &[Run]) -> (Vec<u64>, Vec<u64>) {
        let words: Vec<u64> = runs.iter().flat_map(Run::words).collect();
        let mut counts = vec![0u64; (base + len).div_ceil(64)];
        for (i, w) in words.iter().enumerate() {
            counts[(base + i) / 64] += u64::from(w.count_ones());
        }
        let mut target = vec![GUARD; 8];
        target.extend(words);
        target.resize(8 + len, if zeroed { 0 } else { 0x5555 });
        target.extend([GUARD; 8]);
        (target, counts)
    }

    fn run() -> impl Strategy<Value = Run> {
        // Lengths around lines, windows and direct runs.
        let len = prop_oneof![
            4 => 0usize..=40,
            1 => 500usize..530,
            1 => 1010usize..1040,
            1 => 2040usize..2060,
        ];
        let words = |seed: u64, n: usize| -> Vec<u64> {
            // Mostly literals, some uniform words (a stream may hold them).
            (0..n as u64)
                .map(|i| match (seed.wrapping_add(i)) % 11 {
                    0 => 0,
                    1 => !0,
                    _ => (seed ^ i).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                })
                .collect()
        };
        prop_oneof![
            (any::<bool>(), len.clone()).prop_map(|(ones, n)| Run::Fill(ones, n)),
            (any::<u64>(), len.clone()).prop_map(move |(seed, n)| Run::Words(words(seed, n), ())),
            (any::<bool>(), len, any::<u64>(), 0usize..=20)
                .prop_map(move |(ones, n, seed, l)| Run::Marker(ones, n, words(seed, l))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn every_tier_writes_and_counts_runs_word_for_word(
            shift in 0usize..8,
            runs in prop::collection::vec(run(), 0..12),
            slack in 0usize..10,
            zeroed: bool,
            bulk: bool,
            base in prop_oneof![Just(0usize), 0usize..200],
        ) {
            let described: usize = runs.iter().map(|r| r.words().len()).sum();
            let len = described + slack;
            let expected = expected(len, zeroed, base, &runs);
            prop_assert_eq!(&written(Scalar, shift, len, zeroed, bulk, base, &runs), &expected);
            #[cfg(target_arch = "x86_64")]
            {
                use crate::scan::lines::{Avx2, Avx512};
                if crate::scan::Tier::Avx2.supported() {
                    // SAFETY: the CPU supports the AVX2 tier, just checked.
                    let avx2 = unsafe { Avx2::new() };
                    prop_assert_eq!(&written(avx2, shift, len, zeroed, bulk, base, &runs), &expected);
                }
                if crate::scan::Tier::Avx512.supported() {
                    // SAFETY: the CPU supports the AVX-512 tier, just checked.
                    let avx512 = unsafe { Avx512::new() };
                    prop_assert_eq!(&written(avx512, shift, len, zeroed, bulk, base, &runs), &expected);
                }
            }
        }
    }

    #[test]
    fn the_lines_of_a_window_cover_the_words_given() {
        assert_eq!(lines_mask(0, 1), 1);
        assert_eq!(lines_mask(7, 9), 0b11);
        assert_eq!(lines_mask(8, 16), 0b10);
        assert_eq!(lines_mask(0, WINDOW_WORDS), !0);
        assert_eq!(lines_mask(WINDOW_WORDS - 1, WINDOW_WORDS), 1 << 127);
    }

    #[test]
    fn shard_counts_of_literals_split_at_shard_ends() {
        let words: Vec<u64> = (0..150u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        for first in [0, 1, 63, 64, 100] {
            for n in [0, 1, 5, 64, 65, 150] {
                let mut counts = vec![3u32; 4];
                count_words(&bytes[..8 * n], first, &mut counts);
                let mut naive = vec![3u32; 4];
                for (i, w) in words[..n].iter().enumerate() {
                    naive[(first + i) / 64 - first / 64] += w.count_ones();
                }
                assert_eq!(counts, naive, "first {first}, n {n}");
            }
        }
    }
}
