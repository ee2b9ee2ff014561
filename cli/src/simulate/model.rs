//! The model: the simulator's own account of the set, built from the
//! operations the engine performed and nothing the set says, and the
//! checkpoints as the model recorded them when they were written.
//!
//! What must never happen here: a question to the set (the model only
//! records; the engine compares).

use std::collections::BTreeSet;

use super::bits::Bits;

/// A checkpoint as the model recorded it when it was written: what it
/// references, and the state a restart from it must open.
#[derive(Debug, Clone)]
pub(super) struct Checkpoint {
    /// 0 for the empty grid the run starts from, then 1, 2, ... as written.
    pub(super) id: u64,
    pub(super) trailer_acquired: Vec<u64>,
    pub(super) trailer_released: Vec<u64>,
    // Recorded at encoding time (before the trailer existed).
    pub(super) acquired: Bits,
    pub(super) released: BTreeSet<u64>,
}

impl Checkpoint {
    /// The state `FreeSet::new` starts from: durable, nothing acquired.
    pub(super) fn empty(blocks: u64) -> Self {
        Checkpoint {
            id: 0,
            trailer_acquired: Vec::new(),
            trailer_released: Vec::new(),
            acquired: Bits::new(blocks),
            released: BTreeSet::new(),
        }
    }

    /// Whether a restart from this checkpoint needs the block: one of its live
    /// blocks (acquired and not released when it was encoded) or its trailer.
    pub(super) fn references(&self, address: u64) -> bool {
        self.trailer_acquired.binary_search(&address).is_ok()
            || self.trailer_released.binary_search(&address).is_ok()
            || (self.acquired.get(address) && !self.released.contains(&address))
    }

    /// Its trailer's blocks, acquired list then released list.
    pub(super) fn trailer(&self) -> Vec<u64> {
        let mut trailer = self.trailer_acquired.clone();
        trailer.extend_from_slice(&self.trailer_released);
        trailer
    }
}

/// The simulator's own account of the set, built from the operations the
/// engine performed and nothing the set says: acquired blocks as a bitset
/// (cheap to snapshot), released and pending ones as ordered sets.
#[derive(Debug, Clone)]
pub(super) struct Model {
    pub(super) acquired: Bits,
    /// Released while the checkpoint was durable: free at the next durable one.
    pub(super) released: BTreeSet<u64>,
    /// Released while it was not: released when it becomes durable.
    pub(super) pending: BTreeSet<u64>,
    pub(super) durable: bool,
    /// With immediate reuse, the acquired blocks as the last checkpoint
    /// written (its trailer acquired) or the last restart left them: a
    /// released block outside it is free at once (the rule of
    /// `FreeSet`'s `Options::immediate_reuse`, which the engine checks
    /// against the checkpoints themselves).
    pub(super) snapshot: Option<Bits>,
}

impl Model {
    pub(super) fn new(blocks: u64, immediate_reuse: bool) -> Self {
        Model {
            acquired: Bits::new(blocks),
            released: BTreeSet::new(),
            pending: BTreeSet::new(),
            durable: true,
            snapshot: immediate_reuse.then(|| Bits::new(blocks)),
        }
    }

    /// Releases a block; returns whether it is free at once.
    pub(super) fn release(&mut self, address: u64) -> bool {
        debug_assert!(
            self.acquired.get(address),
            "release of free block {address}"
        );
        if self.snapshot.as_ref().is_some_and(|s| !s.get(address)) {
            self.acquired.clear(address);
            return true;
        }
        let fresh = if self.durable {
            !self.pending.contains(&address) && self.released.insert(address)
        } else {
            !self.released.contains(&address) && self.pending.insert(address)
        };
        debug_assert!(fresh, "block {address} released twice");
        false
    }

    /// With immediate reuse: a checkpoint was written (its trailer
    /// acquired), or a restart opened one.
    pub(super) fn take_snapshot(&mut self) {
        if let Some(snapshot) = &mut self.snapshot {
            snapshot.clone_from(&self.acquired);
        }
    }

    pub(super) fn checkpoint_not_durable(&mut self) {
        debug_assert!(self.durable);
        self.durable = false;
    }

    pub(super) fn checkpoint_durable(&mut self) {
        debug_assert!(!self.durable);
        for &address in &self.released {
            self.acquired.clear(address);
        }
        self.released = std::mem::take(&mut self.pending);
        self.durable = true;
    }

    /// The state `open` must produce from `checkpoint`: its acquired and
    /// released blocks, plus its trailer acquired and pending.
    pub(super) fn restore(&mut self, checkpoint: &Checkpoint) {
        self.acquired = checkpoint.acquired.clone();
        self.released = checkpoint.released.clone();
        self.pending.clear();
        for &address in checkpoint
            .trailer_acquired
            .iter()
            .chain(&checkpoint.trailer_released)
        {
            self.acquired.set(address);
            self.pending.insert(address);
        }
        self.durable = false;
        self.take_snapshot();
    }

    pub(super) fn count_released(&self) -> u64 {
        (self.released.len() + self.pending.len()) as u64
    }

    pub(super) fn highest_released(&self) -> Option<u64> {
        self.released.last().max(self.pending.last()).copied()
    }
}
