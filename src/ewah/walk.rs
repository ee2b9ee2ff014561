//! The one marker walker: every reader of an EWAH stream goes through it.
//!
//! The streaming decoder, the parallel decoder's validation pass and its
//! expansion of pieces all read markers and literal words the same way, and
//! must agree error for error. [`Walker`] holds the state they share (byte
//! offset, target words described, literal words still due) and checks each
//! marker against the capacity as it is read; each reader decides what to do
//! with a step (fill and copy, or only count).
//!
//! What must never happen here: a step that describes words past the
//! capacity, or an error that names another offset than the sequential
//! decoder would.

use super::Marker;
use crate::error::DecodeError;

/// How far ahead of the marker it reads [`Walker::skip_markers`] prefetches
/// the stream: 1 KiB.
const SKIP_PREFETCH_BYTES: usize = 1024;

/// A reader's position in a stream of whole words.
#[derive(Debug, Clone)]
pub(crate) struct Walker {
    /// Target words; a marker that would describe more is an error.
    capacity: u64,
    /// Stream offset of the slice being walked (bytes of earlier slices).
    offset: u64,
    /// Target words described so far.
    out: u64,
    /// Literal words of the current marker still to come.
    literal_left: u64,
    /// The current marker's byte offset and literal count, for `Truncated`.
    marker_offset: u64,
    literal_declared: u64,
}

/// What the next words of the stream describe.
#[derive(Debug)]
pub(crate) enum Step<'s> {
    /// A marker: `count` uniform words at target word `out`, all ones if
    /// `ones`; its literal words come in the next steps.
    Fill {
        out: usize,
        count: usize,
        ones: bool,
    },
    /// Literal words (`bytes.len() / 8` of them) for target words `out..`.
    Literals { out: usize, bytes: &'s [u8] },
}

impl Walker {
    /// At the start of a stream, for a target of `capacity` words.
    pub(crate) fn new(capacity: usize) -> Self {
        Walker {
            capacity: capacity as u64,
            ..Walker::resume(0, 0)
        }
    }

    /// In the middle of a stream that was validated already: a piece that
    /// starts with `literal_left` literal words of a marker. Its markers are
    /// not checked against a capacity again (the last one's literal words
    /// may go on past the piece, into the next one).
    pub(crate) fn resume(offset: u64, literal_left: u64) -> Self {
        Walker {
            capacity: u64::MAX,
            offset,
            out: 0,
            literal_left,
            marker_offset: 0,
            literal_declared: literal_left,
        }
    }

    /// Moves the walker to target word `out` (tests that start a walker in
    /// the middle of a target).
    #[cfg(test)]
    pub(crate) fn set_out(&mut self, out: usize) {
        self.out = out as u64;
    }

    /// Bytes of the slices walked so far (call between slices).
    #[inline]
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Target words described so far.
    #[inline]
    pub(crate) fn out(&self) -> usize {
        self.out as usize
    }

    /// Literal words of the current marker still to come.
    #[inline]
    pub(crate) fn literal_left(&self) -> u64 {
        self.literal_left
    }

    /// The next step from `words[*at..]` (whole words of the stream, the
    /// walker's position at `*at`, which must be before the end), advancing
    /// `*at`. A literal step holds at most `literal_max` words (at least 1).
    #[inline(always)]
    pub(crate) fn step<'s>(
        &mut self,
        words: &'s [u8],
        at: &mut usize,
        literal_max: usize,
    ) -> Result<Step<'s>, DecodeError> {
        debug_assert!(words.len().is_multiple_of(8) && *at < words.len());
        if self.literal_left > 0 {
            let n = (self.literal_left as usize)
                .min((words.len() - *at) / 8)
                .min(literal_max.max(1));
            let bytes = &words[*at..*at + 8 * n];
            let out = self.out as usize;
            // The marker's check guarantees `out + n <= capacity`.
            *at += 8 * n;
            self.out += n as u64;
            self.literal_left -= n as u64;
            return Ok(Step::Literals { out, bytes });
        }
        let word = u64::from_le_bytes(words[*at..*at + 8].try_into().expect("8 bytes"));
        let marker = Marker::from_word(word);
        let end = self.out + marker.uniform_count + marker.literal_count;
        let offset = self.offset + *at as u64;
        if end > self.capacity {
            return Err(DecodeError::Overflow {
                offset,
                end,
                capacity: self.capacity,
            });
        }
        let out = self.out as usize;
        *at += 8;
        self.marker_offset = offset;
        self.literal_declared = marker.literal_count;
        self.literal_left = marker.literal_count;
        self.out += marker.uniform_count;
        Ok(Step::Fill {
            out,
            count: marker.uniform_count as usize,
            ones: marker.uniform_bit,
        })
    }

    /// The next marker of `words[*at..]` with all its literal words, in one
    /// step, advancing `*at` past them: `(out, marker)`, its words at target
    /// word `out` on and its literal words the last `8 * literal_count`
    /// bytes before the new `*at`. `None`, with nothing changed, when
    /// literal words of a marker are still due, when the bytes end before
    /// the marker's literal words do, or when the marker goes past the
    /// capacity: [`Walker::step`] takes those (and reports the error).
    #[inline(always)]
    pub(crate) fn take_marker(&mut self, words: &[u8], at: &mut usize) -> Option<(usize, Marker)> {
        debug_assert!(words.len().is_multiple_of(8) && *at <= words.len());
        if self.literal_left > 0 || words.len() - *at < 8 {
            return None;
        }
        let word = u64::from_le_bytes(words[*at..*at + 8].try_into().expect("8 bytes"));
        let marker = Marker::from_word(word);
        let end = self.out + marker.uniform_count + marker.literal_count;
        let next = *at as u64 + 8 + 8 * marker.literal_count;
        if end > self.capacity || next > words.len() as u64 {
            return None;
        }
        let out = self.out as usize;
        // No literal word is left due: `marker_offset` and
        // `literal_declared` (for `Truncated`) are not read until a marker
        // sets them again.
        self.out = end;
        *at = next as usize;
        Some((out, marker))
    }

    /// [`Walker::take_marker`] over and over, offering each marker to
    /// `take` (`(out, marker, literal bytes)`) until it declines one (left
    /// to the caller, unread) or one cannot be taken whole: the decoder's
    /// loop over a `runs` bitset's markers, with the position in registers.
    #[inline(always)]
    pub(crate) fn take_markers(
        &mut self,
        words: &[u8],
        at: &mut usize,
        mut take: impl FnMut(usize, Marker, &[u8]) -> bool,
    ) {
        debug_assert!(words.len().is_multiple_of(8) && *at <= words.len());
        if self.literal_left > 0 {
            return;
        }
        let (mut pos, mut out) = (*at, self.out);
        while words.len() - pos >= 8 {
            let word = u64::from_le_bytes(words[pos..pos + 8].try_into().expect("8 bytes"));
            let marker = Marker::from_word(word);
            let end = out + marker.uniform_count + marker.literal_count;
            let next = pos as u64 + 8 + 8 * marker.literal_count;
            if end > self.capacity || next > words.len() as u64 {
                break;
            }
            if !take(out as usize, marker, &words[pos + 8..next as usize]) {
                break;
            }
            (pos, out) = (next as usize, end);
        }
        // As after `take_marker`: no literal word is due.
        *at = pos;
        self.out = out;
    }

    /// Skips whole markers of `words[*at..]` (each with all its literal
    /// words, unread), advancing `*at`, while the next marker is valid, has
    /// its literal words in `words`, and ends before target word `before`:
    /// the validation pass between two resume points, without a step per
    /// marker and per literal run. The marker it stops at is left to
    /// [`Walker::step`], which reports any error in it as it always does.
    /// Needs no literal words due.
    #[inline]
    pub(crate) fn skip_markers(&mut self, words: &[u8], at: &mut usize, before: usize) {
        debug_assert!(self.literal_left == 0 && words.len().is_multiple_of(8));
        // Each skipped marker ends at most here: inside the capacity, and
        // short of the resume point.
        let end_max = self.capacity.min((before as u64).saturating_sub(1));
        let len = words.len() as u64;
        let (mut pos, mut out) = (*at as u64, self.out);
        while pos < len {
            let p = pos as usize;
            if let Some(ahead) = words.get(p + SKIP_PREFETCH_BYTES) {
                crate::scan::prefetch(ahead);
            }
            let word = u64::from_le_bytes(words[p..p + 8].try_into().expect("8 bytes"));
            let marker = Marker::from_word(word);
            let end = out + marker.uniform_count + marker.literal_count;
            let next = pos + 8 + 8 * marker.literal_count;
            if end > end_max || next > len {
                break;
            }
            (pos, out) = (next, end);
        }
        debug_assert!(out <= self.capacity && pos <= len);
        *at = pos as usize;
        self.out = out;
    }

    /// Done with a slice of `len` bytes given to [`Walker::step`]: byte
    /// offsets of later slices follow it.
    #[inline]
    pub(crate) fn consumed(&mut self, len: usize) {
        self.offset += len as u64;
    }

    /// The stream ended here: the number of words it described, or
    /// `Truncated` if the last marker's literal words are missing.
    pub(crate) fn finish(&self) -> Result<usize, DecodeError> {
        if self.literal_left > 0 {
            return Err(DecodeError::Truncated {
                offset: self.marker_offset,
                declared: self.literal_declared,
                present: self.literal_declared - self.literal_left,
            });
        }
        Ok(self.out as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(words: &[u64]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn steps_of_a_stream() {
        // 2 zero words and 2 literals, then 1 ones word and no literal.
        let stream = bytes(&[2 << 1 | 2 << 32, 5, 6, 1 << 1 | 1]);
        let mut walker = Walker::new(10);
        let mut at = 0;
        let mut steps = Vec::new();
        while at < stream.len() {
            steps.push(format!("{:?}", walker.step(&stream, &mut at, 1).unwrap()));
        }
        walker.consumed(stream.len());
        assert_eq!(steps.len(), 4, "{steps:?}"); // fill, literal, literal, fill
        assert!(steps[0].starts_with("Fill { out: 0, count: 2, ones: false"));
        assert!(steps[1].starts_with("Literals { out: 2"));
        assert!(steps[3].starts_with("Fill { out: 4, count: 1, ones: true"));
        assert_eq!(walker.finish(), Ok(5));
        assert_eq!(walker.offset(), 32);
    }

    #[test]
    fn overflow_and_truncation_name_the_marker() {
        let stream = bytes(&[1 << 32, 7, 4 << 1]);
        let mut walker = Walker::new(4);
        let mut at = 0;
        assert!(matches!(
            walker.step(&stream, &mut at, 9),
            Ok(Step::Fill { .. })
        ));
        assert!(matches!(
            walker.step(&stream, &mut at, 9),
            Ok(Step::Literals { .. })
        ));
        assert_eq!(
            walker.step(&stream, &mut at, 9).unwrap_err(),
            DecodeError::Overflow {
                offset: 16,
                end: 5,
                capacity: 4
            }
        );
        let stream = bytes(&[3 << 32, 7]);
        let mut walker = Walker::new(4);
        let mut at = 0;
        while at < stream.len() {
            walker.step(&stream, &mut at, 9).unwrap();
        }
        assert_eq!(
            walker.finish(),
            Err(DecodeError::Truncated {
                offset: 0,
                declared: 3,
                present: 1
            })
        );
    }

    #[test]
    fn skipping_stops_at_the_first_marker_it_must_not_take() {
        // Markers ending at words 4, 5, 10 and 12; the last has 1 of its
        // 2 literal words.
        let stream = bytes(&[2 << 1 | 2 << 32, 5, 6, 1 << 1 | 1, 5 << 1, 2 << 32, 8]);
        let skipped = |capacity: usize, before: usize| {
            let (mut walker, mut at) = (Walker::new(capacity), 0);
            walker.skip_markers(&stream, &mut at, before);
            (at, walker.out())
        };
        // Stops short of the resume point: a marker must end before it.
        assert_eq!(skipped(20, 5), (24, 4));
        assert_eq!(skipped(20, 6), (32, 5));
        assert_eq!(skipped(20, 11), (40, 10));
        // Stops at a marker past the capacity, and at one whose literal
        // words are missing, leaving each to `step` and its error.
        assert_eq!(skipped(9, usize::MAX), (32, 5));
        assert_eq!(skipped(20, usize::MAX), (40, 10));
        let (mut walker, mut at) = (Walker::new(9), 0);
        walker.skip_markers(&stream, &mut at, usize::MAX);
        assert!(matches!(
            walker.step(&stream, &mut at, 9),
            Err(DecodeError::Overflow { offset: 32, .. })
        ));
    }
}
