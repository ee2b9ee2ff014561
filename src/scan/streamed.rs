//! A debug-build tracker of streamed stores that are not fenced yet, so
//! that a test fails where the codec would load one.
//!
//! The rule it checks: every line written with streaming (non-temporal)
//! stores is fenced ([`stream_fence`](super::stream_fence), by the thread
//! that streamed it) before any load of it, by this thread or another.
//! Streaming stores are weakly ordered and pass through write-combining
//! buffers, so nothing short of the fence says when they are in memory for
//! everyone; the codec never relies on more than the fence.
//!
//! The callers that stream note the range they streamed with [`stored`]
//! (only its whole 64-byte lines: the kernels write the partial lines at
//! either end with ordinary stores); the fence forgets the ranges of its
//! thread; the places that read back what a call wrote (a decoder's
//! deferred count, the parallel encoder's moves) ask [`check_read`] first,
//! which panics if the range holds a line streamed and not fenced yet by
//! any thread. Release builds compile all of it to nothing.
//!
//! What must never happen here: a cost in release builds, or a change to
//! what the codec writes.

#[cfg(debug_assertions)]
mod tracked {
    use std::sync::Mutex;
    use std::thread::{self, ThreadId};

    /// Ranges of whole lines `[start, end)` (addresses) streamed and not
    /// fenced yet, with the thread that streamed them.
    static UNFENCED: Mutex<Vec<(ThreadId, usize, usize)>> = Mutex::new(Vec::new());

    fn unfenced() -> std::sync::MutexGuard<'static, Vec<(ThreadId, usize, usize)>> {
        UNFENCED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn stored(start: usize, len: usize) {
        let (start, end) = (start.next_multiple_of(64), (start + len) & !63);
        if start >= end {
            return;
        }
        let me = thread::current().id();
        let mut ranges = unfenced();
        // Streams go forward: extend the last range of this thread when it
        // ends where this one starts.
        if let Some(last) = ranges
            .iter_mut()
            .rev()
            .find(|r| r.0 == me)
            .filter(|r| r.2 == start)
        {
            last.2 = end;
        } else {
            ranges.push((me, start, end));
        }
    }

    pub(crate) fn fenced() {
        let me = thread::current().id();
        let mut ranges = unfenced();
        if !ranges.is_empty() {
            ranges.retain(|r| r.0 != me);
        }
    }

    pub(crate) fn check_read(start: usize, len: usize) {
        let end = start + len;
        let ranges = unfenced();
        if let Some(r) = ranges.iter().find(|r| r.1 < end && start < r.2) {
            panic!(
                "a load of bytes {start:#x}..{end:#x} meets lines {:#x}..{:#x} streamed by {:?} and not fenced yet",
                r.1, r.2, r.0
            );
        }
    }
}

/// Notes that `bytes` were just written with streaming stores (their whole
/// lines: see the module doc). Debug builds only.
#[inline(always)]
pub(crate) fn stored<T>(bytes: &[T]) {
    #[cfg(debug_assertions)]
    tracked::stored(bytes.as_ptr() as usize, std::mem::size_of_val(bytes));
    #[cfg(not(debug_assertions))]
    let _ = bytes;
}

/// This thread fenced its streamed stores. Debug builds only.
#[inline(always)]
pub(crate) fn fenced() {
    #[cfg(debug_assertions)]
    tracked::fenced();
}

/// Panics (debug builds) if `bytes` hold a line streamed and not fenced
/// yet: a load of them now would break the rule of the module doc.
#[inline(always)]
pub(crate) fn check_read<T>(bytes: &[T]) {
    #[cfg(debug_assertions)]
    tracked::check_read(bytes.as_ptr() as usize, std::mem::size_of_val(bytes));
    #[cfg(not(debug_assertions))]
    let _ = bytes;
}

#[cfg(all(test, debug_assertions))]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_line_read_before_the_fence_panics_and_after_it_does_not() {
        #[repr(align(64))]
        struct Lines([u64; 32]);
        let lines = Lines([0; 32]);
        let words = &lines.0;
        // Words 0..12: line 0 whole, line 1 in part (an ordinary store).
        stored(&words[..12]);
        check_read(&words[8..16]); // only the partial line
        check_read(&words[16..]);
        let read = std::panic::catch_unwind(|| check_read(&words[7..9]));
        assert!(read.is_err(), "line 0 is streamed and not fenced");
        // Another thread's load is checked too.
        let other = std::thread::scope(|s| {
            s.spawn(|| std::panic::catch_unwind(|| check_read(&words[..1])).is_err())
                .join()
                .unwrap()
        });
        assert!(other);
        fenced();
        check_read(&words[..]);
    }
}
