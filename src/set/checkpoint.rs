//! Writing a checkpoint in the one order that is right, through a typed
//! handle: [`FreeSet::checkpoint`] and [`Checkpoint`].
//!
//! An engine persists its free set in a *trailer*: grid blocks that hold the
//! EWAH encodings of both bitsets, chunk by chunk. The order of the calls is
//! what keeps a crash from reusing a block the last durable checkpoint
//! references, and from leaking one:
//!
//! 1. the previous trailer (the blocks holding the last checkpoint's
//!    encoding) is released *before* encoding, so that the new encoding
//!    carries it as released: it becomes free when the new checkpoint is
//!    durable, which is exactly when nobody can restart from the old one,
//!    and a restart from the new one frees it too;
//! 2. both bitsets are encoded while the checkpoint is durable and no
//!    reservation is active;
//! 3. the new trailer's blocks are acquired *after* encoding, so they are
//!    not in the bytes (a restart gets them from the trailer lists, and
//!    `open` makes them acquired and pending release);
//! 4. `checkpoint_not_durable()`; later, once the superblock naming the
//!    trailer is durable, `checkpoint_durable()`.
//!
//! [`FreeSet::checkpoint`] does 1 and 2 and works out, read-only, the blocks
//! of 3: the lowest free blocks, the ones `reserve(n)` and `n` acquires
//! would give. The [`Checkpoint`] handle borrows the set, so nothing else
//! can happen to it meanwhile; it hands out the chunks one at a time into
//! the engine's buffer with the address each goes to, and
//! [`Checkpoint::commit`] does 3 and 4 and returns the [`Trailer`] the
//! engine writes into its superblock. Dropped without a commit, it undoes 1:
//! the set is as it was.
//!
//! The set remembers the trailer of the last checkpoint committed (or the
//! trailer lists given to `open`, which `open` already made pending
//! release, so they are not released again), for step 1 of the next one.
//!
//! What must never happen here: an encoding that includes the new trailer,
//! a previous trailer released twice or not at all, or a handle dropped
//! without a commit that leaves anything changed.

use super::trailer::LastTrailer;
use super::{bit, Bitset, FreeSet};
use crate::error::Error;
use crate::ewah::{self, Encoder};
use crate::words;

/// Where the engine writes one chunk: see [`Checkpoint::next_chunk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// The trailer block (1-based address) that holds the chunk.
    pub address: u64,
    /// Which encoding the chunk belongs to.
    pub bitset: Bitset,
    /// Bytes of the chunk: the chunk size, or fewer for the last chunk of
    /// an encoding.
    pub len: usize,
}

/// What an engine keeps in its superblock to reopen the set: the trailer
/// lists (for [`FreeSet::open`]) and the length of each encoding. The
/// library adds no checksum: the engine computes its own over the chunks
/// it writes (it sees every byte) and keeps it beside these.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trailer {
    /// The blocks holding the encoding of the acquired bitset, in order.
    pub acquired: Vec<u64>,
    /// The blocks holding the encoding of the released bitset, in order.
    pub released: Vec<u64>,
    /// Bytes of the acquired encoding.
    pub acquired_len: u64,
    /// Bytes of the released encoding.
    pub released_len: u64,
}

/// A checkpoint being written: made by [`FreeSet::checkpoint`], which has
/// released the previous trailer and sized both encodings. Hand every chunk
/// to the disk with [`Checkpoint::next_chunk`], then [`Checkpoint::commit`].
/// Dropped before `commit`, it puts the set back as it was before
/// `checkpoint`.
///
/// ```
/// use freeset::FreeSet;
///
/// let mut set = FreeSet::new(100_000)?;
/// let job = set.reserve(5_000)?.expect("room");
/// while set.acquire(&job)?.is_some() {}
/// set.forfeit(&job)?;
/// set.release(42)?;
///
/// let mut disk = std::collections::BTreeMap::new(); // address -> block
/// let mut checkpoint = set.checkpoint(512)?;
/// let mut block = [0u8; 512];
/// while let Some(chunk) = checkpoint.next_chunk(&mut block)? {
///     disk.insert(chunk.address, block[..chunk.len].to_vec()); // the engine's write
/// }
/// let trailer = checkpoint.commit()?; // into the superblock, with a checksum
/// assert!(!set.is_checkpoint_durable());
/// // ... the superblock is durable:
/// set.checkpoint_durable()?;
/// assert!(set.is_free(42)?);
///
/// // A restart reads the chunks back from the trailer's blocks.
/// let mut reopened = FreeSet::unopened(100_000)?;
/// let mut open = reopened.open_stream()?;
/// for address in &trailer.acquired {
///     open.push_acquired(&disk[address])?;
/// }
/// for address in &trailer.released {
///     open.push_released(&disk[address])?;
/// }
/// open.finish(&trailer.acquired, &trailer.released)?;
/// assert_eq!(reopened.count_acquired(), 5_000 + trailer.acquired.len() as u64 + trailer.released.len() as u64);
/// # Ok::<(), freeset::Error>(())
/// ```
pub struct Checkpoint<'s> {
    set: &'s mut FreeSet,
    chunk_bytes: usize,
    /// Bytes of each encoding.
    lens: [u64; 2],
    /// The new trailer: the blocks for the acquired chunks, then those for
    /// the released chunks.
    addresses: Vec<u64>,
    /// Chunks of the acquired encoding (the first of `addresses`).
    acquired_chunks: usize,
    /// Chunks handed out so far.
    handed: usize,
    /// Where the encoder of the bitset being handed out stands: words of
    /// the trimmed bitset described, and literal words written.
    encoder: (usize, usize),
    /// Whether `checkpoint` released the previous trailer (to undo).
    released_previous: bool,
    /// Lists for the [`Trailer`], allocated up front so that `commit` does
    /// not allocate.
    lists: (Vec<u64>, Vec<u64>),
    committed: bool,
}

impl FreeSet {
    /// Starts writing a checkpoint whose encodings go into chunks of
    /// `chunk_bytes` bytes (one trailer block each; a positive multiple of
    /// 8): releases the previous trailer, sizes both encodings and works out
    /// the trailer's blocks. See [`Checkpoint`].
    ///
    /// The order it encodes: the previous trailer (the blocks of the last
    /// checkpoint's encoding) is released *before* encoding, so that the new
    /// encoding carries it as released and it becomes free exactly when no
    /// restart can need it (the new checkpoint is durable); both bitsets are
    /// encoded while the checkpoint is durable and no reservation is active;
    /// the new trailer's blocks are acquired *after* encoding (by
    /// [`Checkpoint::commit`]), so they are not in the bytes, and a restart
    /// gets them from the trailer lists; then the checkpoint is not durable
    /// until the engine calls [`FreeSet::checkpoint_durable`], once the
    /// superblock naming the trailer is durable.
    ///
    /// Needs an opened set, a durable checkpoint (call
    /// [`FreeSet::checkpoint_durable`] first) and no active reservation
    /// (forfeit them first), and enough free blocks for the trailer. On
    /// error nothing changed.
    pub fn checkpoint(&mut self, chunk_bytes: usize) -> Result<Checkpoint<'_>, Error> {
        if chunk_bytes == 0 || !chunk_bytes.is_multiple_of(8) {
            return Err(Error::ChunkBytes(chunk_bytes));
        }
        if !self.opened {
            return Err(Error::NotOpened);
        }
        if !self.durable {
            return Err(Error::CheckpointNotDurableYet);
        }
        if self.reservations.active() > 0 {
            return Err(Error::ReservationsActive(self.reservations.active()));
        }
        let released_previous = !self.trailer.released && !self.trailer.addresses.is_empty();
        if released_previous {
            self.release_previous_trailer()?;
        }
        let started = self.start_checkpoint(chunk_bytes);
        if started.is_err() && released_previous {
            self.unrelease_previous_trailer();
        }
        let (lens, addresses, acquired_chunks, lists) = started?;
        Ok(Checkpoint {
            set: self,
            chunk_bytes,
            lens,
            addresses,
            acquired_chunks,
            handed: 0,
            encoder: (0, 0),
            released_previous,
            lists,
            committed: false,
        })
    }

    /// Sizes both encodings and finds the trailer's blocks (read-only).
    #[allow(clippy::type_complexity)] // the parts of a `Checkpoint`, once
    fn start_checkpoint(
        &self,
        chunk_bytes: usize,
    ) -> Result<([u64; 2], Vec<u64>, usize, (Vec<u64>, Vec<u64>)), Error> {
        let lens = [Bitset::Acquired, Bitset::Released]
            .map(|bitset| ewah::encoded_len(self.trimmed(bitset)) as u64);
        let chunks = lens.map(|len| len.div_ceil(chunk_bytes as u64));
        let n = chunks[0] + chunks[1];
        if n > self.free_count {
            return Err(Error::NoRoomForTrailer {
                needed: n,
                free: self.free_count,
            });
        }
        // `n` is at most the free blocks, so it fits memory that exists.
        let (n, acquired_chunks) = (n as usize, chunks[0] as usize);
        let mut addresses = Vec::new();
        let mut lists = (Vec::new(), Vec::new());
        let out_of_memory = |_| Error::OutOfMemory {
            bytes: 16 * n as u64,
            what: "the trailer lists",
        };
        addresses.try_reserve_exact(n).map_err(out_of_memory)?;
        lists
            .0
            .try_reserve_exact(acquired_chunks)
            .map_err(out_of_memory)?;
        lists
            .1
            .try_reserve_exact(n - acquired_chunks)
            .map_err(out_of_memory)?;
        // The lowest free blocks, which `reserve(n)` (from 0: nothing is
        // reserved) and `n` acquires hand out.
        let mut from = 0;
        for _ in 0..n {
            let block = self
                .first_free(from, self.limit)
                .expect("`n` free blocks below the limit");
            addresses.push(block + 1);
            from = block + 1;
        }
        Ok((lens, addresses, acquired_chunks, lists))
    }

    /// Releases the trailer of the last checkpoint (step 1), or nothing
    /// changes.
    fn release_previous_trailer(&mut self) -> Result<(), Error> {
        let addresses = std::mem::take(&mut self.trailer.addresses);
        let mut result = Ok(());
        for (k, &address) in addresses.iter().enumerate() {
            if let Err(error) = self.release(address) {
                // Undo the ones released so far.
                self.unrelease(&addresses[..k]);
                result = Err(Error::TrailerRelease {
                    address,
                    source: Box::new(error),
                });
                break;
            }
        }
        self.trailer.addresses = addresses;
        result
    }

    fn unrelease_previous_trailer(&mut self) {
        let addresses = std::mem::take(&mut self.trailer.addresses);
        self.unrelease(&addresses);
        self.trailer.addresses = addresses;
    }

    /// Takes back the releases of `addresses`, made while the checkpoint was
    /// durable and in this order, with nothing in between: the released
    /// bits, count, shards and highest address are what they were.
    fn unrelease(&mut self, addresses: &[u64]) {
        debug_assert!(self.durable);
        for &address in addresses {
            let block = address - 1;
            let word = words::word_of(block);
            debug_assert!(bit(&self.released, block));
            self.released[word] &= !words::bit_mask(block);
            self.released_count -= 1;
            let shard = words::shard_of_word(word);
            let words = &self.released[words::shard_words(shard)];
            self.released_shards
                .assign(shard, words.iter().any(|&w| w != 0));
        }
        // A release only raises the highest released address.
        self.highest.released = super::highest(&self.released, &self.released_shards).unwrap_or(0);
        self.check_invariants();
    }

    /// The addresses of the blocks of the last checkpoint's trailer, which
    /// the next [`FreeSet::checkpoint`] releases (empty when it has none,
    /// or after [`FreeSet::reset`]); after `open`, its trailer lists, which
    /// `open` made pending release already.
    pub fn last_trailer(&self) -> &[u64] {
        &self.trailer.addresses
    }

    /// Forgets the last checkpoint's trailer and returns its addresses:
    /// the engine takes the blocks over, and the next
    /// [`FreeSet::checkpoint`] will not release them. A trailer `open` was
    /// given is pending release already; a trailer of the last commit is
    /// not, and may now be released with [`FreeSet::release`] (which
    /// refuses it while the set remembers it: released twice, a block could
    /// be freed, handed to new data, and released again under it).
    ///
    /// Two uses: an engine that writes its next checkpoint with the
    /// low-level calls (it releases the previous trailer itself, before it
    /// encodes), and the state a restart from the last commit gives, for a
    /// check after a reopen: a copy of the set right after `commit`, its
    /// trailer released (pending, as `open` makes it).
    ///
    /// ```
    /// use freeset::FreeSet;
    ///
    /// let mut set = FreeSet::new(10_000)?;
    /// let job = set.reserve(100)?.unwrap();
    /// while set.acquire(&job)?.is_some() {}
    /// set.forfeit(&job)?;
    ///
    /// let mut block = [0u8; 64];
    /// let mut chunks = Vec::new();
    /// let mut checkpoint = set.checkpoint(block.len())?;
    /// while let Some(chunk) = checkpoint.next_chunk(&mut block)? {
    ///     chunks.push(block[..chunk.len].to_vec());
    /// }
    /// let trailer = checkpoint.commit()?;
    ///
    /// // What a restart from this checkpoint must give.
    /// let mut expected = set.try_clone()?;
    /// for address in expected.take_last_trailer() {
    ///     expected.release(address)?; // pending: the checkpoint is not durable
    /// }
    /// let mut reopened = FreeSet::unopened(10_000)?;
    /// let mut open = reopened.open_stream()?;
    /// for bytes in &chunks[..trailer.acquired.len()] {
    ///     open.push_acquired(bytes)?;
    /// }
    /// for bytes in &chunks[trailer.acquired.len()..] {
    ///     open.push_released(bytes)?;
    /// }
    /// open.finish(&trailer.acquired, &trailer.released)?;
    /// assert!(reopened == expected);
    /// # Ok::<(), freeset::Error>(())
    /// ```
    pub fn take_last_trailer(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.trailer).addresses
    }

    /// Remembers the trailer lists given to `open` (pending release).
    pub(super) fn set_opened_trailer(
        &mut self,
        acquired: &[u64],
        released: &[u64],
    ) -> Result<(), Error> {
        let mut addresses = Vec::new();
        addresses
            .try_reserve_exact(acquired.len() + released.len())
            .map_err(|_| Error::OutOfMemory {
                bytes: 8 * (acquired.len() + released.len()) as u64,
                what: "the trailer lists",
            })?;
        addresses.extend_from_slice(acquired);
        addresses.extend_from_slice(released);
        self.trailer = LastTrailer {
            addresses,
            released: true,
        };
        Ok(())
    }
}

impl Checkpoint<'_> {
    /// Bytes of the encoding of `bitset`.
    pub fn encoded_len(&self, bitset: Bitset) -> u64 {
        match bitset {
            Bitset::Acquired => self.lens[0],
            Bitset::Released => self.lens[1],
        }
    }

    /// The trailer's blocks, one per chunk: those of the acquired encoding,
    /// then those of the released one. They are free until
    /// [`Checkpoint::commit`] acquires them.
    pub fn addresses(&self) -> &[u64] {
        &self.addresses
    }

    /// Chunks in all (both encodings).
    pub fn chunks(&self) -> usize {
        self.addresses.len()
    }

    /// Chunks handed out so far.
    pub fn chunks_written(&self) -> usize {
        self.handed
    }

    /// Encodes the next chunk into the start of `buffer` (at least the
    /// chunk size long) and says which trailer block it goes to and how
    /// long it is; `None` once every chunk was handed out. The acquired
    /// encoding's chunks come first, then the released one's.
    pub fn next_chunk(&mut self, buffer: &mut [u8]) -> Result<Option<Chunk>, Error> {
        if self.handed == self.addresses.len() {
            return Ok(None);
        }
        if buffer.len() < self.chunk_bytes {
            return Err(Error::ChunkBuffer {
                len: buffer.len(),
                chunk_bytes: self.chunk_bytes,
            });
        }
        let bitset = if self.handed < self.acquired_chunks {
            Bitset::Acquired
        } else {
            Bitset::Released
        };
        let words = self.set.trimmed(bitset);
        let mut encoder = Encoder::resume(words, self.encoder);
        let len = encoder
            .encode_chunk(&mut buffer[..self.chunk_bytes])
            .expect("a chunk size of 8 bytes or more");
        debug_assert!(len > 0);
        self.encoder = if encoder.is_done() {
            (0, 0) // the next chunk starts the next encoding
        } else {
            encoder.progress()
        };
        debug_assert_eq!(
            encoder.is_done(),
            self.handed + 1 == self.acquired_chunks || self.handed + 1 == self.addresses.len()
        );
        let chunk = Chunk {
            address: self.addresses[self.handed],
            bitset,
            len,
        };
        self.handed += 1;
        Ok(Some(chunk))
    }

    /// Acquires the trailer's blocks, marks the checkpoint not durable and
    /// returns what the engine writes into its superblock (with its own
    /// checksum). Every chunk must have been handed out
    /// ([`Error::CheckpointIncomplete`] otherwise: nothing changes, and the
    /// handle is dropped, which undoes `checkpoint`). Once the superblock is
    /// durable, call [`FreeSet::checkpoint_durable`].
    pub fn commit(mut self) -> Result<Trailer, Error> {
        if self.handed < self.addresses.len() {
            return Err(Error::CheckpointIncomplete {
                written: self.handed,
                chunks: self.addresses.len(),
            });
        }
        let set = &mut *self.set;
        let n = self.addresses.len() as u64;
        if n > 0 {
            // The blocks `reserve(n)` and its acquires give: those worked
            // out in `checkpoint`, which nothing has changed since.
            let reservation = set
                .reserve(n)?
                .expect("the trailer's blocks are free below the limit");
            for &address in &self.addresses {
                let got = set.acquire(&reservation)?;
                debug_assert_eq!(got, Some(address));
            }
            set.forfeit(&reservation)?;
        }
        // What the new checkpoint holds, trailer included: with immediate
        // reuse, releases from now on free at once only blocks outside it.
        set.take_snapshot();
        set.mark_not_durable()?;
        let (mut acquired, mut released) = std::mem::take(&mut self.lists);
        let (head, tail) = self.addresses.split_at(self.acquired_chunks);
        acquired.extend_from_slice(head);
        released.extend_from_slice(tail);
        debug_assert!(self.addresses.windows(2).all(|w| w[0] < w[1]));
        set.trailer = LastTrailer {
            addresses: std::mem::take(&mut self.addresses),
            released: false,
        };
        self.committed = true;
        Ok(Trailer {
            acquired,
            released,
            acquired_len: self.lens[0],
            released_len: self.lens[1],
        })
    }
}

impl Drop for Checkpoint<'_> {
    fn drop(&mut self) {
        if !self.committed && self.released_previous {
            self.set.unrelease_previous_trailer();
        }
    }
}

/// Sizes and progress, never the words.
impl std::fmt::Debug for Checkpoint<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("chunk_bytes", &self.chunk_bytes)
            .field("acquired_len", &self.lens[0])
            .field("released_len", &self.lens[1])
            .field("chunks", &self.addresses.len())
            .field("written", &self.handed)
            .finish()
    }
}
