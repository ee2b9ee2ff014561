//! The Roaring peers of `freeset bench --peers`: [`Roaring`] and
//! [`RoaringFree`] (crate `roaring`) and [`Croaring`] (crate `croaring`),
//! each a bitmap built from the same fill as `freeset`'s workload (the
//! module doc of `peers` says what each call is and why).
//!
//! What must never happen here: a peer that hands out other blocks than
//! `freeset` on the same fill, or one measured doing work (or skipping
//! work) that `freeset`'s figure does not have.

use croaring::bitmap::Deserializer;
use croaring::{Bitmap, Portable};
use roaring::RoaringBitmap;

use super::{check_u32, for_each_block, le_bytes, Peer};
use crate::workloads::Fill;

/// `roaring`: a bitmap of acquired blocks, a `contains()` walk from a cursor.
pub struct Roaring {
    limit: u64,
    acquired: RoaringBitmap,
    released: RoaringBitmap,
    /// Every block below it is acquired.
    cursor: u64,
    /// Open with `deserialize_unchecked_from`.
    unchecked: bool,
}

impl Roaring {
    /// The fill's bits through `from_lsb0_bytes` (the crate's constructor
    /// from a raw bitmap).
    pub fn new(fill: &Fill, unchecked: bool) -> Self {
        check_u32(fill);
        Roaring {
            limit: fill.blocks,
            acquired: RoaringBitmap::from_lsb0_bytes(0, &le_bytes(&fill.acquired)),
            released: RoaringBitmap::from_lsb0_bytes(0, &le_bytes(&fill.released)),
            cursor: 0,
            unchecked,
        }
    }

    fn serialize(bitmap: &RoaringBitmap) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(bitmap.serialized_size());
        bitmap
            .serialize_into(&mut bytes)
            .expect("a Vec takes every byte");
        bytes
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<RoaringBitmap, String> {
        let bitmap = if self.unchecked {
            RoaringBitmap::deserialize_unchecked_from(bytes)
        } else {
            RoaringBitmap::deserialize_from(bytes)
        };
        bitmap.map_err(|e| e.to_string())
    }
}

impl Peer for Roaring {
    fn acquire(&mut self) -> Option<u64> {
        while self.cursor < self.limit {
            let block = self.cursor as u32;
            self.cursor += 1;
            if !self.acquired.contains(block) {
                self.acquired.insert(block);
                return Some(u64::from(block) + 1);
            }
        }
        None
    }

    fn highest_acquired(&self) -> Option<u64> {
        self.acquired.max().map(|b| u64::from(b) + 1)
    }

    fn highest_released(&self) -> Option<u64> {
        self.released.max().map(|b| u64::from(b) + 1)
    }

    fn encode(&mut self) -> (Vec<u8>, Vec<u8>) {
        (
            Self::serialize(&self.acquired),
            Self::serialize(&self.released),
        )
    }

    fn open(&mut self, acquired: &[u8], released: &[u8]) -> Result<(), String> {
        self.acquired = self.deserialize(acquired)?;
        self.released = self.deserialize(released)?;
        self.cursor = 0;
        Ok(())
    }

    fn count_acquired(&self) -> u64 {
        self.acquired.len()
    }

    fn clear(&mut self) {
        self.acquired = RoaringBitmap::new();
        self.released = RoaringBitmap::new();
    }
}

/// `roaring`, the other design: a bitmap of free blocks.
pub struct RoaringFree {
    limit: u64,
    free: RoaringBitmap,
}

impl RoaringFree {
    /// The complement of the fill's acquired bits below the limit,
    /// `optimize()`d.
    pub fn new(fill: &Fill) -> Self {
        check_u32(fill);
        let free: Vec<u64> = fill
            .acquired
            .iter()
            .enumerate()
            .map(|(i, &word)| {
                let first = i as u64 * 64;
                let below_limit = match fill.blocks.saturating_sub(first) {
                    0 => 0,
                    n if n >= 64 => !0,
                    n => (1 << n) - 1,
                };
                !word & below_limit
            })
            .collect();
        let mut free = RoaringBitmap::from_lsb0_bytes(0, &le_bytes(&free));
        free.optimize();
        RoaringFree {
            limit: fill.blocks,
            free,
        }
    }
}

impl Peer for RoaringFree {
    fn acquire(&mut self) -> Option<u64> {
        let block = self.free.min()?;
        self.free.remove(block);
        Some(u64::from(block) + 1)
    }

    fn highest_acquired(&self) -> Option<u64> {
        unimplemented!("roaring-free takes part in the acquire workloads only")
    }

    fn highest_released(&self) -> Option<u64> {
        unimplemented!("roaring-free takes part in the acquire workloads only")
    }

    fn encode(&mut self) -> (Vec<u8>, Vec<u8>) {
        unimplemented!("roaring-free takes part in the acquire workloads only")
    }

    fn open(&mut self, _: &[u8], _: &[u8]) -> Result<(), String> {
        unimplemented!("roaring-free takes part in the acquire workloads only")
    }

    fn count_acquired(&self) -> u64 {
        self.limit - self.free.len()
    }

    fn clear(&mut self) {
        self.free = RoaringBitmap::new();
    }
}

/// `croaring`: a CRoaring bitmap of acquired blocks.
pub struct Croaring {
    limit: u64,
    acquired: Bitmap,
    released: Bitmap,
    /// Every block below it is acquired.
    cursor: u64,
    /// `run_optimize()` before each serialize.
    run: bool,
    /// Open with `Portable::try_deserialize_unchecked`.
    unchecked: bool,
}

impl Croaring {
    /// The fill's bits through `add_many`, a word's worth of sorted values at
    /// a time (the crate has no constructor from raw words).
    pub fn new(fill: &Fill, run: bool, unchecked: bool) -> Self {
        check_u32(fill);
        let bitmap = |words: &[u64]| {
            let mut bitmap = Bitmap::new();
            let mut values = Vec::with_capacity(1 << 16);
            for (i, chunk) in words.chunks(1024).enumerate() {
                let first = i as u64 * 1024 * 64;
                values.clear();
                for_each_block(chunk, fill.blocks.saturating_sub(first), |b| {
                    values.push(first as u32 + b)
                });
                bitmap.add_many(&values);
            }
            if run {
                bitmap.run_optimize();
            }
            bitmap
        };
        Croaring {
            limit: fill.blocks,
            acquired: bitmap(&fill.acquired),
            released: bitmap(&fill.released),
            cursor: 0,
            run,
            unchecked,
        }
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Bitmap, String> {
        if self.unchecked {
            // SAFETY: the bytes are this process's own `serialize::<Portable>`
            // of a valid bitmap (`PeerWorkload` encodes them before any open),
            // which is what the unchecked deserializer requires.
            Ok(unsafe { Portable::try_deserialize_unchecked(bytes) })
        } else {
            Bitmap::try_deserialize::<Portable>(bytes)
                .ok_or_else(|| "not a valid portable Roaring bitmap".to_string())
        }
    }
}

impl Peer for Croaring {
    fn acquire(&mut self) -> Option<u64> {
        while self.cursor < self.limit {
            let block = self.cursor as u32;
            self.cursor += 1;
            if !self.acquired.contains(block) {
                self.acquired.add(block);
                return Some(u64::from(block) + 1);
            }
        }
        None
    }

    fn highest_acquired(&self) -> Option<u64> {
        self.acquired.maximum().map(|b| u64::from(b) + 1)
    }

    fn highest_released(&self) -> Option<u64> {
        self.released.maximum().map(|b| u64::from(b) + 1)
    }

    fn encode(&mut self) -> (Vec<u8>, Vec<u8>) {
        if self.run {
            self.acquired.run_optimize();
            self.released.run_optimize();
        }
        (
            self.acquired.serialize::<Portable>(),
            self.released.serialize::<Portable>(),
        )
    }

    fn open(&mut self, acquired: &[u8], released: &[u8]) -> Result<(), String> {
        self.acquired = self.deserialize(acquired)?;
        self.released = self.deserialize(released)?;
        self.cursor = 0;
        Ok(())
    }

    fn count_acquired(&self) -> u64 {
        self.acquired.cardinality()
    }

    fn clear(&mut self) {
        self.acquired = Bitmap::new();
        self.released = Bitmap::new();
    }
}
