//! What a set is made with ([`Options`]) and what the one option there is,
//! immediate reuse, keeps besides the bitsets ([`Reuse`]). A leaf: the set
//! holds these, and the code that uses them (`reuse.rs`) imports the set.

/// How a [`FreeSet`](crate::FreeSet) behaves, chosen when it is made
/// ([`FreeSet::with_options`](crate::FreeSet::with_options),
/// [`FreeSet::unopened_with_options`](crate::FreeSet::unopened_with_options)). The
/// default is the reference's behaviour, which the conformance traces pin.
///
/// ```
/// use freeset::{FreeSet, Options};
///
/// let mut set = FreeSet::with_options(10_000, Options::new().immediate_reuse(true))?;
/// assert!(set.options().has_immediate_reuse());
///
/// // Acquired after the last checkpoint (there is none yet), released
/// // before the next: no checkpoint references it, so it is free at once.
/// let job = set.reserve(2)?.expect("room");
/// let scratch = set.acquire(&job)?.expect("a free block");
/// set.release(scratch)?;
/// assert!(set.is_free(scratch)?);
/// // The job's next acquire takes it again: the lowest free block of its range.
/// assert_eq!(set.acquire(&job)?, Some(scratch));
/// set.forfeit(&job)?;
///
/// // After a checkpoint, the blocks it holds wait for the next durable one.
/// let mut buffer = [0u8; 64];
/// let mut checkpoint = set.checkpoint(buffer.len())?;
/// while checkpoint.next_chunk(&mut buffer)?.is_some() {} // the engine writes each chunk
/// checkpoint.commit()?;
/// set.release(scratch)?;
/// assert!(!set.is_free(scratch)?);
/// assert!(set.is_released(scratch)?);
/// # Ok::<(), freeset::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Options {
    immediate_reuse: bool,
}

impl Options {
    /// The default options: the reference's behaviour.
    pub const fn new() -> Self {
        Options {
            immediate_reuse: false,
        }
    }

    /// With `on`, releasing a block that no checkpoint a restart could use
    /// holds (one acquired since the last checkpoint was committed, or the
    /// set opened) frees it at once; other releases wait for the next
    /// durable checkpoint, as always. Off by default.
    ///
    /// It is safe when:
    /// - every checkpoint of the set is written through
    ///   [`FreeSet::checkpoint`](crate::FreeSet::checkpoint) (the set refuses the low-level `encode`,
    ///   `encoder`, `encoded_size` and `checkpoint_not_durable` with
    ///   [`Error::ImmediateReuse`](crate::Error::ImmediateReuse)), and a restart opens the set with
    ///   [`FreeSet::open`](crate::FreeSet::open) (or `open_stream`, `open_from_readers`) from a
    ///   checkpoint so written;
    /// - the engine's own index never references a block it released (the
    ///   index of the next checkpoint included);
    /// - nothing still reads a block once it is released: with deferred
    ///   release a released block keeps its contents until the next
    ///   checkpoint is durable; with immediate reuse the next acquire may
    ///   hand it out, and its new owner overwrite it, at once.
    ///
    /// See `docs/behaviour.md` ("Immediate reuse") for the argument.
    pub const fn immediate_reuse(mut self, on: bool) -> Self {
        self.immediate_reuse = on;
        self
    }

    /// Whether [`Options::immediate_reuse`] is on.
    pub const fn has_immediate_reuse(&self) -> bool {
        self.immediate_reuse
    }
}

/// What a set with immediate reuse keeps besides its bitsets.
#[derive(Debug, Clone)]
pub(crate) struct Reuse {
    /// `acquired` as the last commit (its trailer acquired) or open left
    /// it: every block a checkpoint a restart could use holds unreleased
    /// is set here (see the module doc).
    pub(crate) snapshot: Vec<u64>,
    /// Words of `snapshot` that may hold a bit: all past it are zero.
    pub(crate) words: usize,
}

impl Reuse {
    /// An empty snapshot of `words` words, or `None` when it cannot be
    /// allocated.
    pub(crate) fn new(words: usize) -> Option<Self> {
        Some(Reuse {
            snapshot: crate::memory::zeroed_words(words)?,
            words: 0,
        })
    }

    pub(crate) fn try_clone(&self) -> Option<Self> {
        Some(Reuse {
            snapshot: crate::memory::copied_words(&self.snapshot)?,
            words: self.words,
        })
    }
}
