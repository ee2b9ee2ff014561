//! The synchronisation the concurrent pieces use, in one place, so that a
//! model checker and a race detector can be put under them: std's atomics
//! and `Mutex` and rayon's scope in normal builds (plain re-exports and
//! zero-sized no-ops: nothing changes in what an engine links), loom's under
//! `--cfg loom` (test builds of the library), and a `Mutex` that
//! ThreadSanitizer can see under `--cfg freeset_tsan`.
//!
//! Users: the concurrent acquire (`set/concurrent.rs`: the atomic view of
//! the bitset, the cursors' slots and their list) and the parallel codec
//! (`ewah/parallel.rs`: the encoder's compaction lock, claim and placement
//! counters, the decoder's hand-off of pieces, both scopes).
//!
//! **Under loom** (`RUSTFLAGS="--cfg loom" cargo test --release -p freeset
//! --lib loom`; see `docs/design.md`, "Checking the concurrency"):
//! - atomics and `Mutex` are loom's, so every interleaving of their
//!   operations (and every value a relaxed load may return) is explored;
//! - [`scope`] runs each spawned task on a loom thread instead of rayon's
//!   pool (rayon cannot run under loom), then joins them all, as rayon's
//!   scope does: the code that hands work out is the production code, only
//!   the threads under it change;
//! - [`AtomicWords`] copies the words into loom atomics for the scope and
//!   back when it ends (loom's atomics are not the size of a `u64`);
//! - [`WordCells`] models the memory of a buffer that several threads write
//!   through raw pointers: one loom cell per 8-byte word, so that an access
//!   that is not ordered after the last conflicting one (a move down without
//!   the lock, a window written while another thread reads it) fails the
//!   model. Streaming stores and `sfence` have no counterpart in the C++
//!   memory model that loom implements (a release there orders every
//!   earlier store; on x86 it does not order non-temporal ones). They are
//!   modelled by what the code relies on: a word written by a streamed
//!   window is *pending* until the writing thread's [`WordCells::fence`],
//!   and any access to a pending word, by any thread, fails the model; the
//!   release that publishes it to other threads is the lock (or the task's
//!   end) that follows the fence, which loom checks as any other.
//!
//! **Under ThreadSanitizer** (`--cfg freeset_tsan`, see `.ci/tsan.supp`):
//! the standard library is not instrumented (it cannot be rebuilt here), so
//! TSan does not see std's `Mutex` order anything, and would report every
//! access it guards. [`Mutex`] is then std's, with the lock and unlock told
//! to TSan (`__tsan_acquire` / `__tsan_release` on the mutex's address), and
//! the crate's hand-offs to rayon ([`scope`], [`install`], and [`Joined`]
//! for the others) tell TSan that the work they joined is done, which rayon
//! says through std's `Mutex` and `Condvar` when the caller is not one of
//! its threads.
//!
//! What must never happen here: a cost in normal builds (every item is a
//! re-export, a newtype the compiler sees through, or a zero-sized no-op),
//! or a behaviour that differs between the three builds other than the
//! checks.

#[cfg(not(all(loom, test)))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
#[cfg(not(any(all(loom, test), freeset_tsan)))]
pub(crate) use std::sync::Mutex;

#[cfg(all(loom, test))]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
#[cfg(all(loom, test))]
pub(crate) use loom::sync::Mutex;

#[cfg(all(freeset_tsan, not(all(loom, test))))]
pub(crate) use tsan::Mutex;

#[cfg(all(loom, test))]
pub(crate) use model::{model, scope};
#[cfg(not(all(loom, test)))]
pub(crate) use threads::scope;

#[cfg(all(loom, test))]
pub(crate) use model::{Access, AtomicWords, WordCells};
#[cfg(not(all(loom, test)))]
pub(crate) use words::{Access, AtomicWords, WordCells};

/// Normal builds: rayon's scope, std's atomics over the words, no model.
#[cfg(not(all(loom, test)))]
mod threads {
    use super::{Joined, Piece};

    /// Runs `f` with a [`Scope`] whose tasks all end before this returns:
    /// [`rayon::scope`] on the current pool.
    #[inline]
    pub(crate) fn scope<'scope, R: Send>(f: impl FnOnce(&Scope<'_, 'scope>) -> R + Send) -> R {
        let joined = Joined::new();
        let result = rayon::scope(|s| {
            let result = f(&Scope(s, joined.piece()));
            joined.done();
            result
        });
        joined.join();
        result
    }

    /// Spawns the tasks of a [`scope`].
    pub(crate) struct Scope<'a, 'scope>(&'a rayon::Scope<'scope>, Piece);

    impl<'scope> Scope<'_, 'scope> {
        /// Runs `task` on the pool, before the scope ends.
        #[inline]
        pub(crate) fn spawn(&self, task: impl FnOnce() + Send + 'scope) {
            let piece = self.1;
            self.0.spawn(move |_| {
                task();
                piece.done();
            });
        }
    }
}

/// `pool.install(f)`, with its end told to ThreadSanitizer (see
/// [`Joined`]).
#[inline]
pub(crate) fn install<R: Send>(pool: &rayon::ThreadPool, f: impl FnOnce() -> R + Send) -> R {
    let joined = Joined::new();
    let result = pool.install(|| {
        let result = f();
        joined.done();
        result
    });
    joined.join();
    result
}

/// A copy of a [`Joined`]'s address, for a task that cannot borrow it.
#[derive(Clone, Copy)]
pub(crate) struct Piece {
    #[cfg(freeset_tsan)]
    address: usize,
}

impl Piece {
    /// This piece of the work ends (on the thread that ran it).
    #[inline(always)]
    pub(crate) fn done(self) {
        #[cfg(freeset_tsan)]
        tsan::release(self.address as *const u8);
    }
}

/// Work handed to rayon from outside its pool, and joined: rayon wakes the
/// caller through std's `Mutex` and `Condvar` (its `LockLatch`), which
/// ThreadSanitizer does not see (std is not instrumented), so under
/// `--cfg freeset_tsan` each piece of the work releases this when it is
/// [`done`](Self::done) and the caller acquires it once it is joined
/// ([`join`](Self::join)): the edge rayon makes, told to TSan. Elsewhere a
/// zero-sized no-op.
#[derive(Default)]
pub(crate) struct Joined {
    #[cfg(freeset_tsan)]
    _address: u8,
}

impl Joined {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A piece of the work ends (on the thread that ran it).
    #[inline(always)]
    pub(crate) fn done(&self) {
        self.piece().done();
    }

    /// What a piece of the work that cannot borrow this needs to say it is
    /// done.
    #[inline(always)]
    pub(crate) fn piece(&self) -> Piece {
        Piece {
            #[cfg(freeset_tsan)]
            address: std::ptr::from_ref(self) as usize,
        }
    }

    /// Every piece of the work has ended: the caller goes on.
    #[inline(always)]
    pub(crate) fn join(&self) {
        #[cfg(freeset_tsan)]
        tsan::acquire(std::ptr::from_ref(self).cast());
    }
}

#[cfg(not(all(loom, test)))]
mod words {
    use std::marker::PhantomData;

    use super::AtomicU64;

    // The words are reinterpreted as atomics: same size, and (on every target
    // with 64-bit atomics) the same alignment.
    const _: () = assert!(std::mem::size_of::<AtomicU64>() == std::mem::size_of::<u64>());
    const _: () = assert!(std::mem::align_of::<AtomicU64>() == std::mem::align_of::<u64>());

    /// Words borrowed mutably and seen as atomics for as long as this lives.
    pub(crate) struct AtomicWords<'a>(&'a [AtomicU64]);

    impl<'a> AtomicWords<'a> {
        #[inline]
        pub(crate) fn new(words: &'a mut [u64]) -> Self {
            let len = words.len();
            // SAFETY: `AtomicU64` has the size and alignment of `u64`
            // (asserted above), and `words` is borrowed mutably for as long
            // as the atomic view lives, so no non-atomic access to it can
            // happen meanwhile.
            let atomic = unsafe { &*(std::ptr::from_mut(words) as *const [AtomicU64]) };
            debug_assert_eq!(atomic.len(), len);
            Self(atomic)
        }

        #[inline]
        pub(crate) fn words(&self) -> &[AtomicU64] {
            self.0
        }

        /// Ends the view: the words are theirs again (they already are).
        #[inline]
        pub(crate) fn finish(self) {}
    }

    /// The model of a buffer's memory, which only loom builds keep: here a
    /// zero-sized no-op, but for [`WordCells::fence`].
    #[derive(Debug)]
    pub(crate) struct WordCells;

    impl WordCells {
        #[inline(always)]
        pub(crate) fn new(_words: usize) -> Self {
            WordCells
        }

        /// Words `start..end` are written until the returned access is
        /// dropped (with streaming stores if `streamed`).
        #[inline(always)]
        pub(crate) fn write(&self, _start: usize, _end: usize, _streamed: bool) -> Access<'_> {
            Access(PhantomData)
        }

        /// Words `start..end` are read until the returned access is dropped.
        #[inline(always)]
        pub(crate) fn read(&self, _start: usize, _end: usize) -> Access<'_> {
            Access(PhantomData)
        }

        /// Fences this thread's streamed stores: `sfence`
        /// ([`crate::scan::stream_fence`]).
        #[inline(always)]
        pub(crate) fn fence(&self) {
            crate::scan::stream_fence();
        }

        /// [`Self::fence`] when the returned guard drops, if `streamed`
        /// (on every path out, unwinding too).
        #[inline(always)]
        pub(crate) fn fence_on_drop(&self, streamed: bool) -> Fence<'_> {
            Fence(self, streamed)
        }
    }

    /// Fences when dropped (see [`WordCells::fence_on_drop`]).
    pub(crate) struct Fence<'c>(&'c WordCells, bool);

    impl Drop for Fence<'_> {
        #[inline(always)]
        fn drop(&mut self) {
            if self.1 {
                self.0.fence();
            }
        }
    }

    /// An access in progress (nothing to track in normal builds).
    pub(crate) struct Access<'c>(PhantomData<&'c WordCells>);

    /// Ends the access: in loom builds the model records it there, and the
    /// callers drop it where the access ends in both builds.
    impl Drop for Access<'_> {
        #[inline(always)]
        fn drop(&mut self) {}
    }
}

/// A `Mutex` whose lock and unlock ThreadSanitizer sees (std is not
/// instrumented): the same lock, plus an acquire after taking it and a
/// release before giving it back, on the mutex's address.
#[cfg(freeset_tsan)]
mod tsan {
    use std::ffi::c_void;
    use std::sync::{LockResult, PoisonError};

    extern "C" {
        // The ThreadSanitizer runtime's annotations (tsan_interface.h).
        fn __tsan_acquire(addr: *mut c_void);
        fn __tsan_release(addr: *mut c_void);
    }

    pub(crate) fn acquire(at: *const u8) {
        // SAFETY: an annotation only: TSan records an acquire on `at`.
        unsafe { __tsan_acquire(at.cast_mut().cast()) }
    }

    pub(crate) fn release(at: *const u8) {
        // SAFETY: an annotation only: TSan records a release on `at`.
        unsafe { __tsan_release(at.cast_mut().cast()) }
    }

    pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

    pub(crate) struct MutexGuard<'a, T>(std::sync::MutexGuard<'a, T>, *mut c_void);

    fn address<T>(mutex: &std::sync::Mutex<T>) -> *mut c_void {
        std::ptr::from_ref(mutex).cast_mut().cast()
    }

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(std::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
            let locked = self.0.lock();
            let at = address(&self.0);
            // SAFETY: an annotation only: TSan records an acquire on `at`.
            unsafe { __tsan_acquire(at) };
            match locked {
                Ok(guard) => Ok(MutexGuard(guard, at)),
                Err(poisoned) => Err(PoisonError::new(MutexGuard(poisoned.into_inner(), at))),
            }
        }

        pub(crate) fn into_inner(self) -> LockResult<T> {
            // SAFETY: an annotation only, on the address of a mutex owned
            // here: every unlock released it.
            unsafe { __tsan_acquire(address(&self.0)) };
            self.0.into_inner()
        }
    }

    impl<T> std::ops::Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.0
        }
    }

    impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.0
        }
    }

    impl<T> Drop for MutexGuard<'_, T> {
        fn drop(&mut self) {
            // Before the std guard (a field) unlocks.
            // SAFETY: an annotation only: TSan records a release on the
            // mutex's address.
            unsafe { __tsan_release(self.1) };
        }
    }
}

/// Loom builds: loom threads under the scope, loom atomics over a copy of
/// the words, loom cells over a buffer's words.
#[cfg(all(loom, test))]
mod model {
    use std::any::Any;
    use std::cell::RefCell;
    use std::marker::PhantomData;
    use std::panic::{self, AssertUnwindSafe};

    use loom::cell::{ConstPtr, MutPtr, UnsafeCell};
    use loom::thread::{JoinHandle, ThreadId};

    use super::AtomicU64;

    /// Runs `f` under loom: every interleaving with at most
    /// `LOOM_MAX_PREEMPTIONS` preemptions when it is set, else `bound`
    /// (`None`: every interleaving). Prints how many executions it explored
    /// (`--nocapture` shows it).
    pub(crate) fn model(bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        use std::sync::Arc;

        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = bound;
        }
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        builder.check(move || {
            counted.fetch_add(1, Relaxed);
            f();
        });
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        println!(
            "{name}: {} executions (preemption bound {:?})",
            runs.load(Relaxed),
            builder.preemption_bound
        );
    }

    type Task<'scope> = Box<dyn FnOnce() + Send + 'scope>;
    type Joined = Result<(), Box<dyn Any + Send>>;

    /// Runs `f`, then joins every loom thread its [`Scope`] spawned; a
    /// panic in `f` or in a task goes on once all are joined (rayon's
    /// scope does the same).
    pub(crate) fn scope<'scope, R: Send>(f: impl FnOnce(&Scope<'_, 'scope>) -> R + Send) -> R {
        let scope = Scope {
            handles: RefCell::new(Vec::new()),
            _lifetimes: PhantomData,
        };
        let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
        let mut panicked = None;
        for handle in scope.handles.take() {
            if let Err(payload) = handle.join().expect("the task catches its panic") {
                panicked.get_or_insert(payload);
            }
        }
        match (result, panicked) {
            (Err(payload), _) | (Ok(_), Some(payload)) => panic::resume_unwind(payload),
            (Ok(result), None) => result,
        }
    }

    /// Spawns the tasks of a [`scope`] on loom threads.
    pub(crate) struct Scope<'a, 'scope> {
        handles: RefCell<Vec<JoinHandle<Joined>>>,
        _lifetimes: PhantomData<(&'a (), &'scope mut &'scope ())>,
    }

    impl<'scope> Scope<'_, 'scope> {
        pub(crate) fn spawn(&self, task: impl FnOnce() + Send + 'scope) {
            let task: Task<'scope> = Box::new(task);
            // SAFETY: only the lifetime changes; `scope` joins this thread
            // before it returns, and `'scope` outlives the call to `scope`
            // (it is a parameter of it), so nothing the task borrows ends
            // while it runs.
            let task: Task<'static> = unsafe { std::mem::transmute::<Task<'scope>, _>(task) };
            let handle = loom::thread::spawn(move || panic::catch_unwind(AssertUnwindSafe(task)));
            self.handles.borrow_mut().push(handle);
        }
    }

    /// The words, copied into loom atomics for the scope and back when it
    /// ends.
    pub(crate) struct AtomicWords<'a> {
        target: &'a mut [u64],
        atomic: Vec<AtomicU64>,
    }

    impl<'a> AtomicWords<'a> {
        pub(crate) fn new(words: &'a mut [u64]) -> Self {
            let atomic = words.iter().map(|&w| AtomicU64::new(w)).collect();
            Self {
                target: words,
                atomic,
            }
        }

        pub(crate) fn words(&self) -> &[AtomicU64] {
            &self.atomic
        }

        /// Copies the words back. Every thread that used them must have
        /// been joined: loom checks that each load here is ordered after
        /// every store.
        pub(crate) fn finish(self) {
            for (target, atomic) in self.target.iter_mut().zip(self.atomic) {
                // A plain read: loom fails the model unless every store to
                // the atomic happens before it.
                *target = atomic.into_inner();
            }
        }
    }

    /// One loom cell per word of a buffer, and the words streamed and not
    /// fenced yet (see the module doc).
    pub(crate) struct WordCells {
        cells: Vec<UnsafeCell<()>>,
        pending: std::sync::Mutex<Vec<(ThreadId, usize, usize)>>,
    }

    // SAFETY: the cells hold no data (`()`): they only let loom track the
    // accesses to the buffer's words, and loom runs one thread at a time.
    unsafe impl Sync for WordCells {}

    impl std::fmt::Debug for WordCells {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("WordCells")
                .field("words", &self.cells.len())
                .finish()
        }
    }

    /// An access in progress: loom sees the words accessed until it drops.
    pub(crate) enum Access<'c> {
        Read(#[allow(dead_code)] Vec<ConstPtr<()>>),
        Write {
            cells: &'c WordCells,
            guards: Vec<MutPtr<()>>,
            range: (usize, usize),
            streamed: bool,
        },
    }

    impl Drop for Access<'_> {
        fn drop(&mut self) {
            if let Access::Write {
                cells,
                guards,
                range,
                streamed,
            } = self
            {
                // The writes are done: loom records them now.
                guards.clear();
                if *streamed && range.0 < range.1 {
                    let me = loom::thread::current().id();
                    cells.pending().push((me, range.0, range.1));
                }
            }
        }
    }

    impl WordCells {
        pub(crate) fn new(words: usize) -> Self {
            Self {
                cells: (0..words).map(|_| UnsafeCell::new(())).collect(),
                pending: std::sync::Mutex::new(Vec::new()),
            }
        }

        fn pending(&self) -> std::sync::MutexGuard<'_, Vec<(ThreadId, usize, usize)>> {
            self.pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }

        /// Panics if a word of `start..end` was streamed and not fenced
        /// yet: the model's fault for a load (or store) of it.
        fn check_fenced(&self, start: usize, end: usize) {
            if let Some(&(thread, from, to)) = self
                .pending()
                .iter()
                .find(|&&(_, from, to)| from < end && start < to)
            {
                panic!(
                    "words {start}..{end} are accessed while words {from}..{to}, \
                     streamed by {thread:?}, are not fenced yet"
                );
            }
        }

        pub(crate) fn write(&self, start: usize, end: usize, streamed: bool) -> Access<'_> {
            self.check_fenced(start, end);
            Access::Write {
                cells: self,
                guards: self.cells[start..end]
                    .iter()
                    .map(UnsafeCell::get_mut)
                    .collect(),
                range: (start, end),
                streamed,
            }
        }

        pub(crate) fn read(&self, start: usize, end: usize) -> Access<'_> {
            self.check_fenced(start, end);
            Access::Read(self.cells[start..end].iter().map(UnsafeCell::get).collect())
        }

        /// This thread's streamed words are fenced: `sfence`, and they are
        /// no longer pending.
        pub(crate) fn fence(&self) {
            crate::scan::stream_fence();
            let me = loom::thread::current().id();
            self.pending().retain(|&(thread, _, _)| thread != me);
        }

        pub(crate) fn fence_on_drop(&self, streamed: bool) -> Fence<'_> {
            Fence(self, streamed)
        }
    }

    pub(crate) struct Fence<'c>(&'c WordCells, bool);

    impl Drop for Fence<'_> {
        fn drop(&mut self) {
            if self.1 {
                self.0.fence();
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    /// A data race planted on purpose, to show that the ThreadSanitizer
    /// step reports one: two threads write one `u64` with plain stores and
    /// nothing orders them. Only with `FREESET_PLANT_RACE=1` (CI never sets
    /// it): `FREESET_PLANT_RACE=1 RUSTFLAGS="-Zsanitizer=thread
    /// -Cunsafe-allow-abi-mismatch=sanitizer --cfg freeset_tsan" cargo
    /// +nightly test --release --target x86_64-unknown-linux-gnu -p freeset
    /// --lib sync::tests` must print "WARNING: ThreadSanitizer: data race"
    /// and fail.
    #[test]
    fn a_planted_data_race() {
        if std::env::var_os("FREESET_PLANT_RACE").is_none() {
            return;
        }
        struct Shared(std::cell::UnsafeCell<u64>);
        // SAFETY: not sound, on purpose: the race this test plants.
        unsafe impl Sync for Shared {}
        let shared = Shared(std::cell::UnsafeCell::new(0));
        std::thread::scope(|s| {
            for k in 1..=2u64 {
                let shared = &shared;
                s.spawn(move || {
                    // SAFETY: none: two threads write here unordered.
                    unsafe { std::ptr::write_volatile(shared.0.get(), k) };
                });
            }
        });
        // SAFETY: both writers have ended (the scope joined them).
        let value = unsafe { *shared.0.get() };
        assert!(value == 1 || value == 2);
    }
}
