//! The trailer of the last checkpoint, as the set keeps it between two
//! checkpoints: which blocks hold it, and whether they are released yet.
//! `checkpoint.rs` makes it (at `commit` and at `open`) and releases it (at
//! the next checkpoint); `release` asks it which blocks it must refuse. It
//! knows nothing of the set, so that the set can hold one without importing
//! the checkpoint's code.

/// The trailer of the last checkpoint, kept by the set for the next one.
#[derive(Debug, Clone, Default)]
pub(crate) struct LastTrailer {
    /// Its blocks' addresses (acquired list, then released list): strictly
    /// increasing when a commit made them (the lowest free blocks, in
    /// order), in the engine's order when `open` was given them.
    pub(crate) addresses: Vec<u64>,
    /// Already released or pending release: an `open` made them pending.
    pub(crate) released: bool,
}

impl LastTrailer {
    /// Whether `address` is a block of the trailer that no one has released
    /// yet: the next `checkpoint` releases it, so `release` must not (a
    /// block released twice could be freed and handed to new data before
    /// the checkpoint releases it again).
    #[inline]
    pub(crate) fn holds_unreleased(&self, address: u64) -> bool {
        // A committed trailer is strictly increasing: see the field.
        !self.released && self.addresses.binary_search(&address).is_ok()
    }

    /// Whether `address` is a block of a trailer `open` made pending (for
    /// the message of a release that fails anyway; a linear search, on the
    /// error path only).
    pub(crate) fn holds_opened(&self, address: u64) -> bool {
        self.released && self.addresses.contains(&address)
    }
}
