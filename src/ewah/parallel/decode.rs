//! The parallel decoder (see the parent module's doc, **Decode**): one
//! sequential pass over the markers validates and cuts the stream into
//! pieces at resume points, and the pool expands the pieces as they are
//! found, each with the sequential decoder's expansion.
//!
//! What must never happen here: results or errors that differ from the
//! sequential decoder's, or a piece written outside its target words.

use rayon::prelude::*;

use super::{wait_until, PIECE_WORDS};
use crate::error::DecodeError;
use crate::ewah::decode::expand;
use crate::ewah::walk::Walker;
use crate::ewah::{Counting, FenceOnDrop, OnCounts, Output, Stores};
use crate::parallelism::{Parallelism, Work};
use crate::sync::{self, AtomicUsize, Ordering, WordCells};

/// Where an expansion piece starts: a byte offset of the stream that is a
/// marker or a literal word, the target word it writes next, and how many
/// literal words of the current marker are still due there.
#[derive(Debug, Clone, Copy)]
pub(in crate::ewah) struct Resume {
    offset: usize,
    out: usize,
    literal_left: usize,
}

/// Decodes `bytes` into `target` on the threads `parallelism` names, with
/// the results and errors of the sequential decoder (including which byte
/// offset an error names). With `zeroed`, the target must be all zeros
/// already, and zero runs and the tail are not written. `on_counts` hears of
/// the set bits of every shard written as the words are copied (see
/// [`OnCounts`]): from several threads at once and in no particular order
/// (`open` counts the bits of each shard this way instead of in a second
/// pass). A large target may be written with streaming stores
/// ([`Stores`]), fenced before this returns. On error the
/// target holds a partial decoding, and parts of it may have been reported.
///
/// `*written` is set to a number of leading target words outside which
/// nothing was written: the words described on success (the whole target
/// when not `zeroed`, whose tail is zeroed), and on error the words of the
/// stream before it. A caller that must undo a failed decoding into a large
/// target clears only those, not the whole capacity.
pub(crate) fn decode(
    bytes: &[u8],
    target: &mut [u64],
    zeroed: bool,
    parallelism: Parallelism,
    on_counts: Option<OnCounts>,
    written: &mut usize,
) -> Result<usize, DecodeError> {
    let plan = parallelism.plan(target.len(), Work::Decode, bytes.len() / 8);
    let segments = plan.segments;
    let stores = Stores::for_bytes(8 * target.len());
    let counting = Counting::for_active_tier();
    let pieces = if segments <= 1 {
        1
    } else {
        // Enough pieces that, on 2 cores, the first is ready early in the
        // marker pass.
        segments.max(target.len() / PIECE_WORDS)
    };
    let capacity = target.len();
    let result = if pieces <= 1 {
        decode_pieces(
            bytes, target, zeroed, 1, stores, counting, on_counts, written,
        )
    } else {
        parallelism.install(|| {
            decode_pieces(
                bytes, target, zeroed, pieces, stores, counting, on_counts, written,
            )
        })
    };
    if result.is_ok() {
        plan.done();
        if !zeroed {
            // The tail past the words described was zeroed.
            *written = capacity;
        }
    }
    debug_assert!(*written <= capacity);
    result
}

/// The parallel decoder, with resume points about `capacity / pieces` words
/// apart, with the stores and the counting given. `*expanded_words` is set
/// to the number of leading target words the pieces expanded cover: the
/// words described on success, those before the error on error (nothing
/// past them was written).
#[allow(clippy::too_many_arguments)] // the decoder's settings, all of them used
pub(super) fn decode_pieces(
    bytes: &[u8],
    target: &mut [u64],
    zeroed: bool,
    pieces: usize,
    stores: Stores,
    counting: Counting,
    on_counts: Option<OnCounts>,
    expanded_words: &mut usize,
) -> Result<usize, DecodeError> {
    *expanded_words = 0;
    if pieces <= 1 {
        let _fence = FenceOnDrop(stores.stream());
        let mut output = Output::new(0, stores, counting, on_counts);
        return decode_sequential(bytes, target, zeroed, &mut output, expanded_words);
    }
    let capacity = target.len();
    // The marker pass runs on this thread; each piece is expanded (and
    // reported) on the pool as soon as the pass has found where it ends, so
    // the expansion overlaps the pass.
    let mut rest = target;
    // Pieces expanded, for the wait at the end.
    let expanded = AtomicUsize::new(0);
    // The model of the target's memory (loom builds only).
    let cells = WordCells::new(capacity);
    let result = sync::scope(|scope| {
        let mut start = Resume {
            offset: 0,
            out: 0,
            literal_left: 0,
        };
        let mut spawned = 0;
        let described = validate(bytes, capacity, capacity.div_ceil(pieces), |end| {
            *expanded_words = end.out;
            let (piece, tail) = std::mem::take(&mut rest).split_at_mut(end.out - start.out);
            rest = tail;
            let (from, stream_bytes) = (start, &bytes[start.offset..end.offset]);
            let (expanded, cells) = (&expanded, &cells);
            scope.spawn(move || {
                // Fenced before the task ends, so before the scope returns.
                let fence = cells.fence_on_drop(stores.stream());
                let written = cells.write(from.out, end.out, stores.stream());
                let mut output = Output::new(from.out, stores, counting, on_counts);
                expand_piece(from, stream_bytes, piece, zeroed, &mut output);
                drop(written);
                drop(fence);
                expanded.fetch_add(1, Ordering::Release);
            });
            spawned += 1;
            start = end;
        });
        // Expand pieces here too (those this thread spawned and no other
        // took), then wait for the last ones without sleeping: see
        // `wait_until`.
        wait_until(|| expanded.load(Ordering::Acquire) == spawned, true);
        described
    });
    // What the caller may read now: loom builds check that every piece's
    // stores are fenced and ordered before it.
    drop(cells.read(0, *expanded_words));
    let described = result?;
    if !zeroed {
        let joined = sync::Joined::new();
        rest.par_chunks_mut(1 << 16).for_each(|tail| {
            tail.fill(0);
            joined.done();
        });
        joined.join();
    }
    Ok(described)
}

/// The sequential decoder: the walker over the whole stream, through
/// `output`. Same results and errors as [`StreamState`], which it shares the
/// walker with.
pub(super) fn decode_sequential(
    bytes: &[u8],
    target: &mut [u64],
    zeroed: bool,
    output: &mut Output,
    expanded_words: &mut usize,
) -> Result<usize, DecodeError> {
    let whole = bytes.len() - bytes.len() % 8;
    let mut walker = Walker::new(target.len());
    let expanded = expand(&mut walker, &bytes[..whole], target, zeroed, output);
    // Every word written is among those the walker has described.
    *expanded_words = walker.out();
    expanded?;
    if whole < bytes.len() {
        return Err(DecodeError::Length {
            offset: whole as u64,
            trailing: (bytes.len() - whole) as u64,
        });
    }
    let described = walker.finish()?;
    if !zeroed {
        target[described..].fill(0);
    }
    Ok(described)
}

/// The marker pass: every check of the sequential decoder, in its order.
/// Calls `on_resume` with the end of each piece: a resume point about every
/// `spacing` target words, inside long literal sections too, and last the end
/// of the stream. Returns the number of words the stream describes.
pub(in crate::ewah) fn validate(
    bytes: &[u8],
    capacity: usize,
    spacing: usize,
    mut on_resume: impl FnMut(Resume),
) -> Result<usize, DecodeError> {
    let whole = bytes.len() - bytes.len() % 8;
    let words = &bytes[..whole];
    let mut walker = Walker::new(capacity);
    let mut next = spacing;
    let mut at = 0;
    loop {
        if walker.out() >= next && at < whole {
            on_resume(Resume {
                offset: at,
                out: walker.out(),
                literal_left: walker.literal_left() as usize,
            });
            next = walker.out().saturating_add(spacing);
        }
        if at == whole {
            break;
        }
        if walker.literal_left() == 0 {
            // Markers that end before the next resume point, in a tight
            // loop: this pass is the part of a parallel decode that does
            // not run in parallel.
            walker.skip_markers(words, &mut at, next);
            if at == whole {
                continue;
            }
        }
        // Literal steps stop at the next resume point; fills are skipped
        // whole, literals without being read.
        walker.step(words, &mut at, next.saturating_sub(walker.out()))?;
    }
    walker.consumed(whole);
    if whole < bytes.len() {
        return Err(DecodeError::Length {
            offset: whole as u64,
            trailing: (bytes.len() - whole) as u64,
        });
    }
    let described = walker.finish()?;
    on_resume(Resume {
        offset: whole,
        out: described,
        literal_left: 0,
    });
    Ok(described)
}

/// Expands one validated piece of the stream into its piece of the target.
fn expand_piece(
    resume: Resume,
    stream: &[u8],
    piece: &mut [u64],
    zeroed: bool,
    output: &mut Output,
) {
    let mut walker = Walker::resume(resume.offset as u64, resume.literal_left as u64);
    let expanded = expand(&mut walker, stream, piece, zeroed, output);
    debug_assert!(
        expanded.is_ok() && walker.out() == piece.len(),
        "a validated piece"
    );
}
