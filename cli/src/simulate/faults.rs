//! Storage faults: the [`Injector`] that stands between the engine's
//! checkpoint writes and the disk, and the [`Truth`] it keeps of what it
//! damaged, against which the engine's checksums are judged.
//!
//! What must never happen here: a fault on a block that a durable or
//! in-flight checkpoint references other than the one being written (a
//! misdirected write lands on a block the caller vouches is unreferenced),
//! a fault on a job's write, or a judgement that asks the engine's checksum
//! what is true (the truth is what the injector did, byte for byte).

use std::collections::{BTreeMap, BTreeSet};

use super::config::{FaultKind, FaultRates};
use super::disk::{ChunkBlock, Disk, Held, Place, SLOTS};
use super::report::FaultCounts;
use super::rng::Rng;

/// What a superblock copy holds, as the injector knows it: a copy whose
/// checksum holds (of the checkpoint `seq`), or bytes no checksum accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SlotClass {
    Valid(u64),
    Garbage,
}

/// A fault not resolved yet, on the place it damaged.
#[derive(Debug, Clone, Copy)]
struct Damage {
    kind: FaultKind,
    /// Detected or abandoned already: counted once.
    resolved: bool,
}

/// The injector's account: which places hold something else than what was
/// last written to them (and by which fault), what each superblock copy
/// holds, and the counts per kind.
#[derive(Debug)]
pub(super) struct Truth {
    damaged: BTreeMap<Place, Damage>,
    slots: [SlotClass; SLOTS],
    pub(super) counts: [FaultCounts; 4],
}

impl Truth {
    pub(super) fn new() -> Self {
        Truth {
            damaged: BTreeMap::new(),
            slots: [SlotClass::Garbage; SLOTS],
            counts: [FaultCounts::default(); 4],
        }
    }

    pub(super) fn is_damaged(&self, place: Place) -> bool {
        self.damaged.contains_key(&place)
    }

    /// The fault that damaged `place`, if any.
    pub(super) fn damage(&self, place: Place) -> Option<FaultKind> {
        self.damaged.get(&place).map(|d| d.kind)
    }

    fn inject(&mut self, place: Place, kind: FaultKind) {
        self.forget(place);
        self.counts[kind.index()].injected += 1;
        self.damaged.insert(
            place,
            Damage {
                kind,
                resolved: false,
            },
        );
    }

    /// `place` holds what was last written to it: a fault there, not
    /// resolved, was overwritten before anything read it.
    fn written(&mut self, place: Place) {
        self.forget(place);
    }

    fn forget(&mut self, place: Place) {
        if let Some(damage) = self.damaged.remove(&place) {
            if !damage.resolved {
                self.counts[damage.kind.index()].abandoned += 1;
            }
        }
    }

    /// The engine's checksum caught the fault at `place`.
    pub(super) fn detect(&mut self, place: Place) {
        if let Some(damage) = self.damaged.get_mut(&place) {
            if !damage.resolved {
                damage.resolved = true;
                self.counts[damage.kind.index()].detected += 1;
            }
        }
    }

    /// A restart is done: faults nothing read are abandoned, and trailer
    /// blocks are no longer tracked (those of the checkpoint the engine
    /// restarted from verified; those of a checkpoint it left are free).
    pub(super) fn restarted(&mut self) {
        for damage in self.damaged.values_mut().filter(|d| !d.resolved) {
            damage.resolved = true;
            self.counts[damage.kind.index()].abandoned += 1;
        }
        self.damaged
            .retain(|place, _| matches!(place, Place::Slot(_)));
    }

    /// What a correct engine finds at a restart: every copy no checksum
    /// accepts, every copy older than its pair's other copy (a lost or torn
    /// write: the pair was written together), and, newest valid copy first,
    /// every damaged block of each checkpoint's trailer until one has none,
    /// the one it restarts from. `trailers` gives the blocks of the
    /// checkpoints a restart may need (the in-flight one and the durable
    /// one). Returns the expected bad places, the checkpoint, and whether
    /// it is a fallback.
    pub(super) fn expect_restart(
        &self,
        trailers: &[(u64, Vec<u64>)],
    ) -> Result<(BTreeSet<Place>, u64, bool), String> {
        let mut bad = BTreeSet::new();
        for (slot, class) in self.slots.iter().enumerate() {
            if *class == SlotClass::Garbage {
                bad.insert(Place::Slot(slot));
            }
        }
        for pair in [0, 2] {
            if let (SlotClass::Valid(a), SlotClass::Valid(b)) =
                (self.slots[pair], self.slots[pair + 1])
            {
                if a != b {
                    bad.insert(Place::Slot(if a < b { pair } else { pair + 1 }));
                }
            }
        }
        let mut seqs: Vec<u64> = self
            .slots
            .iter()
            .filter_map(|class| match class {
                SlotClass::Valid(seq) => Some(*seq),
                SlotClass::Garbage => None,
            })
            .collect();
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        seqs.dedup();
        let mut fallback = false;
        for seq in seqs {
            let Some((_, trailer)) = trailers.iter().find(|(id, _)| *id == seq) else {
                return Err(format!(
                    "a restart would reach superblock copy #{seq}, neither the durable \
                     checkpoint nor the one in flight ({:?})",
                    trailers.iter().map(|t| t.0).collect::<Vec<_>>()
                ));
            };
            let damaged: Vec<Place> = trailer
                .iter()
                .map(|&a| Place::Block(a))
                .filter(|&p| self.is_damaged(p))
                .collect();
            if damaged.is_empty() {
                return Ok((bad, seq, fallback));
            }
            bad.extend(damaged);
            fallback = true;
        }
        Err("no superblock copy names a checkpoint whose trailer is intact".into())
    }
}

/// A write of the checkpoint in flight, kept until it is verified: what a
/// crash may tear.
#[derive(Debug)]
enum Entry {
    Block {
        intended: ChunkBlock,
        /// Where it landed (another block if misdirected).
        actual: u64,
        before: Held,
        written: ChunkBlock,
    },
    Slot {
        slot: usize,
        seq: u64,
        before: Option<Vec<u8>>,
        before_class: SlotClass,
        intended: Vec<u8>,
        written: Vec<u8>,
    },
}

/// Applies the engine's checkpoint writes to the disk, faulty at the
/// configured rates, recording each fault in [`Truth`].
#[derive(Debug)]
pub(super) struct Injector {
    rng: Rng,
    rates: FaultRates,
    /// The writes of the checkpoint in flight, in order (lost ones left out:
    /// they wrote nothing).
    batch: Vec<Entry>,
}

/// Stirs the seed into the injector's own stream, so that the engine's
/// choices do not depend on how many faults were drawn.
const FAULT_STREAM: u64 = 0x5eed_fa17_0000_0001;

impl Injector {
    pub(super) fn new(seed: u64, rates: FaultRates) -> Self {
        Injector {
            rng: Rng::new(seed ^ FAULT_STREAM),
            rates,
            batch: Vec::new(),
        }
    }

    /// The fault of the next write, if any (misdirection only for blocks).
    fn draw(&mut self, block: bool) -> Option<FaultKind> {
        if self.rates.per_write() == 0.0 {
            return None;
        }
        let mut r = self.rng.unit();
        for kind in [FaultKind::Lost, FaultKind::Misdirected, FaultKind::Flip] {
            let rate = self.rates.rate(kind);
            if r < rate {
                return (block || kind != FaultKind::Misdirected).then_some(kind);
            }
            r -= rate;
        }
        None
    }

    fn flip(&mut self, bytes: &mut [u8]) {
        let bit = self.rng.below(8 * bytes.len() as u64);
        bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
    }

    /// Writes a trailer block. `elsewhere` picks the block a misdirected
    /// write lands on (one nothing durable or in flight references), if any.
    /// `batch`: part of the checkpoint in flight (a crash may tear it).
    pub(super) fn write_block(
        &mut self,
        disk: &mut Disk,
        truth: &mut Truth,
        chunk: ChunkBlock,
        elsewhere: impl FnOnce(&mut Rng) -> Option<u64>,
        batch: bool,
    ) {
        let place = Place::Block(chunk.address);
        let mut written = chunk.clone();
        let mut actual = chunk.address;
        match self.draw(true) {
            Some(FaultKind::Lost) => return truth.inject(place, FaultKind::Lost),
            Some(FaultKind::Misdirected) => match elsewhere(&mut self.rng) {
                Some(target) => {
                    actual = target;
                    truth.inject(place, FaultKind::Misdirected);
                }
                None => truth.written(place),
            },
            Some(FaultKind::Flip) => {
                self.flip(&mut written.bytes);
                truth.inject(place, FaultKind::Flip);
            }
            _ => truth.written(place),
        }
        if batch {
            self.batch.push(Entry::Block {
                intended: chunk,
                actual,
                before: disk.held(actual),
                written: written.clone(),
            });
        }
        disk.write_chunk(actual, written);
    }

    /// Writes superblock copy `slot` of checkpoint `seq`.
    pub(super) fn write_slot(
        &mut self,
        disk: &mut Disk,
        truth: &mut Truth,
        slot: usize,
        seq: u64,
        bytes: &[u8],
        batch: bool,
    ) {
        let place = Place::Slot(slot);
        let mut written = bytes.to_vec();
        let class = match self.draw(false) {
            Some(FaultKind::Lost) => return truth.inject(place, FaultKind::Lost),
            Some(FaultKind::Flip) => {
                self.flip(&mut written);
                truth.inject(place, FaultKind::Flip);
                SlotClass::Garbage
            }
            _ => {
                truth.written(place);
                SlotClass::Valid(seq)
            }
        };
        if batch {
            self.batch.push(Entry::Slot {
                slot,
                seq,
                before: disk.slot(slot).map(<[u8]>::to_vec),
                before_class: truth.slots[slot],
                intended: bytes.to_vec(),
                written: written.clone(),
            });
        }
        truth.slots[slot] = class;
        disk.write_slot(slot, Some(written));
    }

    /// The checkpoint in flight was verified (or left by a restart): its
    /// writes can no longer be torn.
    pub(super) fn settle(&mut self) {
        self.batch.clear();
    }

    /// A crash: with the torn rate, while a checkpoint's writes are in
    /// flight, only a prefix of them reached the disk, the last one half.
    /// Returns whether it tore them.
    pub(super) fn crash(&mut self, disk: &mut Disk, truth: &mut Truth) -> bool {
        let batch = std::mem::take(&mut self.batch);
        if batch.is_empty() || self.rates.torn == 0.0 || !self.rng.chance(self.rates.torn) {
            return false;
        }
        let cut = self.rng.below(batch.len() as u64) as usize;
        for (i, entry) in batch.into_iter().enumerate().rev() {
            if i > cut {
                undo(disk, truth, entry);
            } else if i == cut {
                halve(disk, truth, entry);
            }
        }
        true
    }
}

/// Puts back what a write of the batch overwrote.
fn undo(disk: &mut Disk, truth: &mut Truth, entry: Entry) {
    match entry {
        Entry::Block {
            intended,
            actual,
            before,
            ..
        } => {
            disk.put_back(actual, before);
            if actual == intended.address {
                truth.inject(Place::Block(actual), FaultKind::Torn);
            }
        }
        Entry::Slot {
            slot,
            before,
            before_class,
            ..
        } => {
            disk.write_slot(slot, before);
            truth.slots[slot] = before_class;
            truth.inject(Place::Slot(slot), FaultKind::Torn);
        }
    }
}

/// Leaves a write of the batch half done: its first half new, the rest as
/// it was.
fn halve(disk: &mut Disk, truth: &mut Truth, entry: Entry) {
    let mix = |new: &[u8], old: &[u8]| -> Vec<u8> {
        let half = new.len() / 2;
        let mut mixed = new[..half].to_vec();
        mixed.extend((half..new.len()).map(|i| old.get(i).copied().unwrap_or(0)));
        mixed
    };
    match entry {
        Entry::Block {
            intended,
            actual,
            before,
            written,
        } => {
            let old = match &before {
                Held::Chunk(chunk) => chunk.bytes.as_slice(),
                Held::Nothing | Held::Data(_) => &[],
            };
            let half = ChunkBlock {
                bytes: mix(&written.bytes, old),
                ..written
            };
            if actual == intended.address {
                if half == intended {
                    truth.written(Place::Block(actual));
                } else {
                    truth.inject(Place::Block(actual), FaultKind::Torn);
                }
            }
            disk.write_chunk(actual, half);
        }
        Entry::Slot {
            slot,
            seq,
            before,
            intended,
            written,
            ..
        } => {
            let half = mix(&written, before.as_deref().unwrap_or(&[]));
            if half == intended {
                truth.written(Place::Slot(slot));
                truth.slots[slot] = SlotClass::Valid(seq);
            } else {
                truth.inject(Place::Slot(slot), FaultKind::Torn);
                truth.slots[slot] = SlotClass::Garbage;
            }
            disk.write_slot(slot, Some(half));
        }
    }
}
