//! Parallel EWAH encode and decode on the current rayon pool, byte for byte
//! (and error for error) the same as the sequential codec.
//!
//! **Encode.** The words are cut into equal segments at arbitrary points. A
//! segment begins with a *continuation* of the marker that the segment before
//! it left open: uniform words equal to the word before the cut (they extend
//! that marker's uniform count, and are only possible when the marker has no
//! literals yet), then literal words (they extend its literal count and are
//! copied as they are). From the first word that is not a continuation, which
//! is a point where the sequential encoder starts a fresh marker (a uniform word
//! after a literal or after a different uniform word), the segment is encoded
//! on its own. Every segment writes into its own window of one output buffer,
//! sized for its worst case. Threads take segments in order, and as soon as a
//! segment and all before it are done, it slides down to where its bytes
//! belong (still in cache) and the marker it continued gets its final counts.
//! A segment taken when all before it are done is encoded where it belongs,
//! and for literal-heavy sets the windows are already in place: neither
//! moves. Once the placed segments show that the set compresses, a segment
//! that cannot be encoded where it belongs goes to one of a few scratch
//! slots instead of its window: reused, they stay in cache. Markers never
//! reach their count caps below [`UNIFORM_COUNT_MAX`] words, so merged
//! counts stay valid; larger inputs (a bitset of 16 GiB) go to the
//! sequential encoder.
//!
//! **Decode** (`parallel/decode.rs`). One sequential pass reads the markers
//! only, skipping literals: it does all the validation (same errors, same byte offsets as the
//! sequential decoder) and cuts the stream into pieces at *resume points*
//! (byte offset, output word, literal words still due) every few hundred
//! kilobytes of output, inside long literal sections too. Between two resume
//! points the expansion (fills and literal copies) is independent, so each
//! piece is expanded on the pool as soon as the pass has found its end, while
//! the pass goes on; a caller's hook then sees the piece while it is in cache
//! (`open` counts the bits of each shard there).
//!
//! **The end of a call.** A thread with nothing left to take spins for a
//! while instead of letting rayon put it to sleep: waking it again when the
//! last part ends costs more than the wait (see [`wait_until`]).
//!
//! **Synchronisation.** Segments and pieces are handed out through
//! [`sync::scope`] (rayon's scope; loom's threads in the model), the
//! compaction's lock, counters and buffers' memory model come from
//! [`crate::sync`], and a streamed window is fenced ([`Buffer::fence`])
//! before the lock that lets another thread move or patch it. Loom checks
//! that protocol with 2 and 3 threads (`parallel/loom_tests.rs`), TSan the
//! tests on real threads (`docs/design.md`, "Checking the concurrency").
//!
//! Below [`PARALLEL_ENCODE_MIN_WORDS`] / [`PARALLEL_DECODE_MIN_WORDS`] words,
//! or on a pool of one thread, both run the sequential code: no pool overhead
//! on small sets.
//!
//! What must never happen here: output that differs from the sequential
//! codec's, a write past the target, an allocation that grows with the input.

use std::collections::TryReserveError;
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

#[cfg(test)]
use super::decode::StreamState;
use super::encode::{copy_literal_run, encode_sequential, Encoder};
use super::sink::SliceOut;
use super::{is_uniform, Marker, Stores, UNIFORM_COUNT_MAX};
use crate::parallelism::{Parallelism, Work};
use crate::scan;
use crate::sync::{self, Access, AtomicUsize, Mutex, Ordering, WordCells};

mod decode;
#[cfg(all(loom, test))]
mod loom_tests;

pub(crate) use decode::decode;
#[cfg(test)]
use decode::decode_pieces;
pub(super) use decode::validate;

/// Target input words per segment of a parallel encoding: 512 KiB.
const SEGMENT_WORDS: usize = 1 << 16;

/// Target words per piece of a parallel decoding: 256 KiB.
const PIECE_WORDS: usize = 1 << 15;

/// Canonical encoding of `words` (no trailing trim) on the threads
/// `parallelism` names: the bytes of the sequential encoder.
pub(super) fn encode(words: &[u64], parallelism: Parallelism) -> Result<Vec<u8>, TryReserveError> {
    let plan = parallelism.plan(words.len(), Work::Encode, words.len());
    let encoded = if plan.segments <= 1 {
        encode_sequential(words)
    } else {
        // Segments small enough that one's output is still in cache when it
        // slides into place.
        let segments = plan.segments.max(words.len() / SEGMENT_WORDS);
        parallelism.install(|| {
            let threads = rayon::current_num_threads();
            encode_segments(words, segments, true, SLOTS_PER_THREAD * threads, threads)
        })
    };
    if encoded.is_ok() {
        plan.done();
    }
    encoded
}

/// Scratch slots per thread for segments that cannot be encoded where they
/// belong yet (see [`Place::Slot`]): one being encoded, one waiting for the
/// segment before it.
const SLOTS_PER_THREAD: usize = 2;

/// The parallel encoder with `segments` segments (at most one per word);
/// with `in_place`, a segment taken when all before it are placed is encoded
/// where it belongs (the tests also run it without, so that every segment
/// goes through a window and a move whatever the timing); with up to
/// `slots` scratch slots, on up to `threads` threads of the current scope
/// ([`sync::scope`]: rayon's, or loom's threads in the model).
fn encode_segments(
    words: &[u64],
    segments: usize,
    in_place: bool,
    slots: usize,
    threads: usize,
) -> Result<Vec<u8>, TryReserveError> {
    let segments = segments.min(words.len());
    if segments <= 1 || words.len() >= UNIFORM_COUNT_MAX as usize {
        return encode_sequential(words);
    }
    let n = words.len();
    let cuts: Vec<usize> = (0..=segments).map(|c| c * n / segments).collect();
    // Window `c` starts where segment `c` would if every word before it were
    // a literal of one marker: then literal-heavy sets need no compaction.
    // Only segment 0 can take a word more than its input (a leading marker of
    // literals alone); every later marker stands for at least one uniform word,
    // which takes no output word of its own.
    let window_start = |c: usize| 8 * (cuts[c] + usize::from(c > 0));
    let total = 8 * (n + 1);
    let stream = Stores::for_bytes(total).stream();
    // The model's inputs are too small to stream: its tests ask for it.
    #[cfg(all(loom, test))]
    let stream = stream || loom_tests::STREAM.with(std::cell::Cell::get);
    let mut bytes: Vec<u8> = Vec::new();
    bytes.try_reserve_exact(total)?;
    let buffer = Buffer::new(bytes.spare_capacity_mut()[..total].as_mut_ptr(), total);
    // Scratch slots, each the size of the largest window. A slot's point is
    // to stay in cache, so it is written with ordinary stores even when
    // the output streams; and a segment of a set that compresses writes a
    // few lines of a reused slot rather than the first page of a window of
    // its own (a window the compaction then leaves unused: an all-free set
    // would fault in a page per segment for an encoding of 8 bytes).
    let slot_bytes = (0..segments)
        .map(|c| window_start(c + 1) - window_start(c))
        .max()
        .unwrap_or(0);
    let slots = slots.min(segments);
    let mut scratch_bytes: Vec<u8> = Vec::new();
    scratch_bytes.try_reserve_exact(slots * slot_bytes)?;
    let scratch = Buffer::new(
        scratch_bytes.spare_capacity_mut()[..slots * slot_bytes].as_mut_ptr(),
        slots * slot_bytes,
    );
    // Threads claim segments in order, so that segment `c` is usually
    // finished soon after `c - 1` and slides into place while its bytes are
    // still in cache.
    let next = AtomicUsize::new(0);
    let compaction = Mutex::new(Compaction {
        finished: (0..segments).map(|_| None).collect(),
        next: 0,
        len: 0,
        open: None,
        free_slots: (0..slots).collect(),
    });
    // Segments placed, for threads waiting for the last ones.
    let placed = AtomicUsize::new(0);
    // Segments encoded in a window of their own (not where they belong, nor
    // in a slot): what the tests count.
    let windows = AtomicUsize::new(0);
    // Claims and encodes segments until none is left, then waits for the
    // others to be placed.
    let work = || loop {
        let c = next.fetch_add(1, Ordering::Relaxed);
        if c >= segments {
            // Rather than end the task (and sleep) while another thread
            // finishes its last segment: see `wait_until`.
            wait_until(|| placed.load(Ordering::Acquire) == segments, false);
            break;
        }
        let size = window_start(c + 1) - window_start(c);
        // When every segment before `c` is placed, `c` is encoded where its
        // bytes belong, right after them, and never moves: on a thread that
        // the others have not joined yet (a pool still waking) the encoding
        // costs what the sequential one does. Else in a scratch slot if the
        // set compresses, or in its own window of the output, to be moved
        // down later.
        let place = compaction
            .lock()
            .expect("no thread panics holding the lock")
            .place(c, in_place, window_start);
        let streamed = stream && matches!(place, Place::Output(_));
        let mut window = match place {
            // SAFETY: `start..start + size` lies inside the buffer, below
            // `window_start(c + 1)` (`start <= window_start(c)`), so it
            // meets no window of a later segment; `c` is claimed once; in
            // place, every segment before `c` is placed below `start` and
            // nothing is placed until `c` is; in its window, the compaction
            // touches it only after this borrow has ended (`finish` below),
            // and before that only bytes below `window_start(c)` (see
            // `Compaction`).
            Place::Output(start) => unsafe { buffer.window(start, start + size, streamed) },
            // SAFETY: the slot is this segment's from `place` until it is
            // placed, after this borrow ends (`finish` below).
            Place::Slot(k) => unsafe {
                scratch.window(k * slot_bytes, k * slot_bytes + size, false)
            },
        };
        if c > 0 && place == Place::Output(window_start(c)) {
            windows.fetch_add(1, Ordering::Relaxed);
        }
        let segment = encode_segment(words, cuts[c], cuts[c + 1], &mut window, streamed);
        drop(window);
        if stream {
            // Before another thread may move or patch these bytes: the
            // lock below publishes them only once they are fenced.
            buffer.fence();
        }
        let mut compaction = compaction
            .lock()
            .expect("no thread panics holding the lock");
        compaction.finish(c, place, segment, &buffer, &scratch, slot_bytes);
        placed.store(compaction.next, Ordering::Release);
    };
    sync::scope(|scope| {
        // One task per other thread; this thread works too, at once: the
        // spawn that wakes a sleeping thread is paid once, not per thread.
        for _ in 1..threads.min(segments) {
            scope.spawn(work);
        }
        work();
    });
    let compaction = compaction.into_inner().expect("no thread panicked");
    assert_eq!(compaction.next, segments, "every segment was placed");
    // SAFETY: `len <= total <= capacity`, and bytes `0..len` are initialized:
    // each segment wrote its first `words` words into its window, and
    // `finish` moved exactly those bytes, in segment order, to tile `0..len`
    // (patched markers lie inside them).
    unsafe { bytes.set_len(compaction.len) };
    debug_assert_eq!(Ok(&bytes), encode_sequential(words).as_ref());
    #[cfg(test)]
    WINDOWS_USED.with(|w| w.set(windows.into_inner()));
    #[cfg(not(test))]
    let _ = windows;
    Ok(super::sink::fit(bytes))
}

#[cfg(test)]
thread_local! {
    /// Segments the last `encode_segments` of this thread encoded in a
    /// window of their own.
    static WINDOWS_USED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How long a thread with nothing left to take in a parallel call spins
/// for the others before it lets rayon put it to sleep: several times the
/// last part of a call (a segment or a piece, at memory speed).
/// Longer, the other thread is most likely not running (preempted), and
/// sleeping costs less than spinning.
const SPIN_BUDGET: Duration = Duration::from_micros(250);

/// Waits, spinning, until `done` or for [`SPIN_BUDGET`]; with `help`, runs
/// the tasks on this thread's own rayon queue meanwhile (a task run here
/// starts the budget again). The caller's rayon scope still waits for
/// every task after this returns: this only decides how.
///
/// Why: a rayon thread that ends its last task while another is still
/// working goes to sleep almost at once, and waking it again when the
/// scope ends costs far more on a VM (a wake-up interrupt to an idle
/// vCPU): a 2-thread `encode` of the `runs` fill lost that at every call
/// (`perf/notes.md`).
fn wait_until(done: impl Fn() -> bool, help: bool) {
    // The model (loom threads, no rayon): the budget may run out at any
    // time, so one look is one of the behaviours; the scope's join is the
    // wait that orders.
    #[cfg(all(loom, test))]
    if !done() {
        return;
    }
    let mut since = None;
    while !done() {
        if help && rayon::yield_local() == Some(rayon::Yield::Executed) {
            since = None;
            continue;
        }
        if since.get_or_insert_with(Instant::now).elapsed() > SPIN_BUDGET {
            return;
        }
        std::hint::spin_loop();
    }
}

/// The encoder's output buffer, written by several threads at once: segments
/// into their disjoint windows, and the compaction below the lowest window
/// still being written. Offsets and lengths are whole words (multiples of
/// 8), for the model of its memory (loom builds: one cell per word, see
/// [`WordCells`]; nothing in other builds).
struct Buffer(*mut MaybeUninit<u8>, usize, WordCells);

/// A window of a [`Buffer`]: loom builds see its words written until it
/// drops.
struct Window<'b> {
    bytes: &'b mut [MaybeUninit<u8>],
    _access: Access<'b>,
}

impl Deref for Window<'_> {
    type Target = [MaybeUninit<u8>];
    #[inline]
    fn deref(&self) -> &Self::Target {
        self.bytes
    }
}

impl DerefMut for Window<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.bytes
    }
}

// SAFETY: the pointer is only used through the methods below, whose callers
// guarantee that no byte is accessed by two threads at once.
unsafe impl Sync for Buffer {}

impl Buffer {
    fn new(start: *mut MaybeUninit<u8>, len: usize) -> Self {
        debug_assert!(len.is_multiple_of(8));
        Buffer(start, len, WordCells::new(len / 8))
    }

    /// # Safety
    /// No other access to `start..end` while the window lives.
    unsafe fn window(&self, start: usize, end: usize, streamed: bool) -> Window<'_> {
        assert!(start <= end && end <= self.1);
        let access = self.2.write(start / 8, end / 8, streamed);
        // SAFETY: in bounds (asserted); exclusive by the caller's contract.
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.0.add(start), end - start) };
        Window {
            bytes,
            _access: access,
        }
    }

    /// Fences this thread's streamed stores (into this buffer).
    fn fence(&self) {
        self.2.fence();
    }

    /// Copies `len` bytes from `from` in `source` to `to` in this buffer.
    ///
    /// # Safety
    /// No other access to either range meanwhile; the source is initialized.
    unsafe fn copy_from(&self, source: &Buffer, from: usize, to: usize, len: usize) {
        assert!(from + len <= source.1 && to + len <= self.1);
        let _read = source.2.read(from / 8, (from + len) / 8);
        let _written = self.2.write(to / 8, (to + len) / 8, false);
        // SAFETY: in bounds (asserted); two allocations, so no overlap;
        // exclusive by the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(source.0.add(from), self.0.add(to), len) }
    }

    /// Moves `len` bytes from `from` down to `to` (the ranges may overlap).
    ///
    /// # Safety
    /// No other access to either range meanwhile; the source is initialized.
    unsafe fn move_down(&self, from: usize, to: usize, len: usize) {
        assert!(to <= from && from + len <= self.1);
        // Read and written: the two ranges may overlap.
        let _moved = self.2.write(to / 8, (from + len) / 8, false);
        // SAFETY: in bounds (asserted); read only for the address range.
        scan::streamed::check_read(unsafe { std::slice::from_raw_parts(self.0.add(from), len) });
        // SAFETY: in bounds (asserted); exclusive by the caller's contract;
        // `ptr::copy` allows the two ranges to overlap.
        unsafe { std::ptr::copy(self.0.add(from), self.0.add(to), len) }
    }
}

/// The in-order placement of finished segments. Segment `next` is placed once
/// it and every segment before it have finished: its bytes move down to
/// `len`, and the marker it continued is patched where it now lies.
///
/// Everything placed lies below `len`, and `len <= window_start(next)`,
/// because no segment writes more than its window; a placement writes only
/// below `window_start(next + 1)`. Threads still encoding own windows above
/// that, so placing never meets their bytes. A segment claimed when every
/// one before it was placed is encoded at `len` itself
/// ([`Compaction::place`]), inside the same bound, and is placed without a
/// move; one in a scratch slot is copied to `len`, inside the same bound.
struct Compaction {
    finished: Vec<Option<(Place, Segment)>>,
    next: usize,
    len: usize,
    /// The marker later continuations extend: where it lies and its counts.
    open: Option<(usize, Marker)>,
    /// Scratch slots no segment holds.
    free_slots: Vec<usize>,
}

/// Where a segment is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In the output at this byte offset: where it belongs, or its window.
    Output(usize),
    /// In this scratch slot, to be copied where it belongs. A window of the
    /// output lies in memory no other write of the call touches: its lines
    /// are read for ownership, written, read again by the move, and the
    /// place they move to is read for ownership too. A slot is reused as
    /// soon as its segment is placed, so its lines stay in cache.
    Slot(usize),
}

impl Compaction {
    /// Where segment `c` is encoded: where it belongs if every segment
    /// before it is placed (and `in_place`); else in a free slot, if the
    /// segments placed so far compressed to less than 7/8 of their input
    /// (a literal-heavy set's windows lie where its segments belong, and
    /// move by a word or not at all); else in its window of the output.
    fn place(&mut self, c: usize, in_place: bool, window_start: impl Fn(usize) -> usize) -> Place {
        if self.next == c && in_place {
            return Place::Output(self.len);
        }
        let compressed = self.next > 0 && 8 * self.len < 7 * window_start(self.next);
        match self.free_slots.pop() {
            Some(k) if compressed => Place::Slot(k),
            taken => {
                self.free_slots.extend(taken);
                Place::Output(window_start(c))
            }
        }
    }

    /// Segment `c` is encoded at `place`; place what can be.
    fn finish(
        &mut self,
        c: usize,
        place: Place,
        segment: Segment,
        buffer: &Buffer,
        scratch: &Buffer,
        slot_bytes: usize,
    ) {
        self.finished[c] = Some((place, segment));
        while let Some((from, segment)) = self.finished.get_mut(self.next).and_then(Option::take) {
            if segment.uniform + segment.literal > 0 {
                let (at, marker) = self.open.as_mut().expect("segment 0 has no continuation");
                debug_assert!(segment.uniform == 0 || marker.literal_count == 0);
                marker.uniform_count += segment.uniform as u64;
                marker.literal_count += segment.literal as u64;
                // SAFETY: the marker lies below `len` (placed); see the type doc.
                let mut target = unsafe { buffer.window(*at, *at + 8, false) };
                target.write_copy_of_slice(&marker.to_word().to_le_bytes());
            }
            let bytes = 8 * segment.words;
            match from {
                Place::Output(from) if from != self.len => {
                    // SAFETY: the segment's own finished window and the space
                    // below it, above `len`: see the type doc.
                    unsafe { buffer.move_down(from, self.len, bytes) };
                }
                Place::Output(_) => {}
                Place::Slot(k) => {
                    // SAFETY: the slot holds this finished segment, and no
                    // other; its bytes go to `len..len + bytes`, below
                    // `window_start(next + 1)`: see the type doc.
                    unsafe { buffer.copy_from(scratch, k * slot_bytes, self.len, bytes) };
                    self.free_slots.push(k);
                }
            }
            if let Some((slot, marker)) = segment.last_marker {
                self.open = Some((self.len + 8 * slot, marker));
            }
            self.len += bytes;
            self.next += 1;
        }
    }
}

/// What one segment wrote into its window.
struct Segment {
    /// Continuation of the marker left open before the cut.
    uniform: usize,
    literal: usize,
    /// Words written (continuation literals, then the segment's own encoding).
    words: usize,
    /// The segment's last marker (word position in the window, counts), which
    /// the segments after it may continue.
    last_marker: Option<(usize, Marker)>,
}

fn encode_segment(
    words: &[u64],
    from: usize,
    to: usize,
    window: &mut [MaybeUninit<u8>],
    stream: bool,
) -> Segment {
    let mut out = SliceOut::uninit(window, stream);
    let mut start = from;
    let (mut uniform, mut literal) = (0, 0);
    if from > 0 {
        let before = words[from - 1];
        if is_uniform(before) {
            uniform = scan::uniform_run(&words[from..to], before, to - from);
            start += uniform;
        }
        let copied;
        (literal, copied) = copy_literal_run(&words[start..to], &mut out);
        debug_assert_eq!(copied, literal, "the window holds the worst case");
        start += literal;
    }
    // `start` is a fresh marker of the sequential encoding, or the segment end.
    debug_assert!(
        start == to
            || start == 0
            || (is_uniform(words[start])
                && (!is_uniform(words[start - 1]) || words[start - 1] != words[start]))
    );
    let mut encoder = Encoder::part_of(&words[start..to], words.len());
    encoder.encode_to(&mut out);
    debug_assert!(encoder.is_done(), "the window holds the worst case");
    Segment {
        uniform,
        literal,
        words: out.written(),
        last_marker: encoder.last_marker,
    }
}

#[cfg(test)]
mod tests;
