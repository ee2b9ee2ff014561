//! Persistence of a free set: encode its bitsets for a checkpoint, size them
//! first, and open a set from them, one-shot, in chunks pushed one at a time,
//! or through `std::io`.
//!
//! What must never happen here: a failed `open` that leaves anything behind
//! (the set goes back to empty and not opened), an encode of a state that is
//! not the durable one, or a decode that writes past the capacity.

use std::io::{self, Read};

use super::derive::ShardCounts;
use super::{bit, Bitset, FreeSet, SHARD_WORDS};
use crate::error::{DecodeError, Error, TrailerReason};
use crate::ewah::{self, Encoder, StreamState};
use crate::parallelism::Parallelism;
use crate::words::{self, shard_words};

impl FreeSet {
    fn check_encodable(&self, operation: &'static str) -> Result<(), Error> {
        self.refuse_with_reuse(operation)?;
        if !self.opened {
            return Err(Error::NotOpened);
        }
        if !self.durable {
            return Err(Error::EncodeNotDurable);
        }
        if self.reservations.active() > 0 {
            return Err(Error::ReservationsActive(self.reservations.active()));
        }
        // With a durable checkpoint nothing is pending, so `released` alone is
        // the released bitset.
        debug_assert_eq!(self.pending_count, 0);
        Ok(())
    }

    /// A streaming encoder of one bitset, for writing the encoding into
    /// fixed-size chunks (for example grid blocks) or to a
    /// [`std::io::Write`]. Same conditions as [`FreeSet::encode`].
    ///
    /// ```
    /// use freeset::{Bitset, FreeSet};
    /// let set = FreeSet::new(10_000)?;
    /// let mut file = Vec::new(); // any `std::io::Write`
    /// set.encoder(Bitset::Acquired)?.write_to(&mut file).expect("a Vec takes every byte");
    /// assert_eq!(file, set.encode()?.0);
    /// # Ok::<(), freeset::Error>(())
    /// ```
    pub fn encoder(&self, bitset: Bitset) -> Result<Encoder<'_>, Error> {
        self.check_encodable("encoder")?;
        Ok(Encoder::new(self.trimmed(bitset)))
    }

    /// The exact number of bytes [`FreeSet::encode`] gives for `bitset` now,
    /// found by one read-only scan (no bytes are made): an engine reserves
    /// its trailer blocks with it before encoding. Same conditions as
    /// `encode`.
    pub fn encoded_size(&self, bitset: Bitset) -> Result<u64, Error> {
        self.check_encodable("encoded_size")?;
        Ok(ewah::encoded_len(self.trimmed(bitset)) as u64)
    }

    /// The EWAH encodings of `acquired` and `released`, trailing zero runs
    /// trimmed. Needs a durable checkpoint and no active reservation, and
    /// default [`Options`](super::Options): with immediate reuse it is
    /// [`Error::ImmediateReuse`], as are [`FreeSet::encoder`] and
    /// [`FreeSet::encoded_size`] (write checkpoints with
    /// [`FreeSet::checkpoint`] then). Large
    /// sets are encoded on the current rayon pool (see [`Parallelism`]).
    pub fn encode(&self) -> Result<(Vec<u8>, Vec<u8>), Error> {
        self.encode_with(Parallelism::default())
    }

    /// [`FreeSet::encode`] on the threads `parallelism` names: the same bytes.
    pub fn encode_with(&self, parallelism: Parallelism) -> Result<(Vec<u8>, Vec<u8>), Error> {
        self.check_encodable("encode")?;
        let encode = |bitset| {
            let words = self.trimmed(bitset);
            ewah::try_encode_with(words, parallelism).map_err(|_| Error::OutOfMemory {
                bytes: ewah::encode_size_max(words.len()) as u64,
                what: "an encoding",
            })
        };
        Ok((encode(Bitset::Acquired)?, encode(Bitset::Released)?))
    }

    /// The words of a bitset up to its last non-zero word: the summary names
    /// the last shard with a set bit, so only that shard is scanned.
    pub(super) fn trimmed(&self, bitset: Bitset) -> &[u64] {
        let (words, summary) = match bitset {
            Bitset::Acquired => (&self.acquired, &self.acquired_shards),
            Bitset::Released => (&self.released, &self.released_shards),
        };
        let len = summary.last_set().map_or(0, |shard| {
            shard_words(shard).start + ewah::trimmed_len(&words[shard_words(shard)])
        });
        debug_assert_eq!(len, ewah::trimmed_len(words));
        &words[..len]
    }

    /// Opens a set that is not opened (fresh from `unopened`, or `reset`) from
    /// its encoded bitsets and the addresses of the blocks holding the encoding
    /// (`trailer_acquired`, `trailer_released`: each strictly increasing, the two
    /// disjoint). Trailer blocks become acquired and pending release. The
    /// checkpoint is then not durable. On error the set stays empty and not
    /// opened. Large sets are decoded on the current rayon pool.
    pub fn open(
        &mut self,
        acquired: &[u8],
        released: &[u8],
        trailer_acquired: &[u64],
        trailer_released: &[u64],
    ) -> Result<(), Error> {
        self.open_with(
            acquired,
            released,
            trailer_acquired,
            trailer_released,
            Parallelism::default(),
        )
    }

    /// [`FreeSet::open`] on the threads `parallelism` names: the same set,
    /// and the same errors.
    pub fn open_with(
        &mut self,
        acquired: &[u8],
        released: &[u8],
        trailer_acquired: &[u64],
        trailer_released: &[u64],
        parallelism: Parallelism,
    ) -> Result<(), Error> {
        self.check_openable()?;
        // The set is not opened, so its bitsets are all zeros: the decoders
        // skip zero runs and tails, and everything past the words a stream
        // described is known to be zero without looking. The acquired decoder
        // counts each shard's bits while they are in cache.
        let mut counts = ShardCounts::new(self.shards())?;
        // Leading words of each bitset the decoders may have written: all a
        // failed open has to clear.
        let (mut acquired_written, mut released_written) = (0, 0);
        let result = ewah::decode_parallel(
            acquired,
            &mut self.acquired,
            true,
            parallelism,
            Some(&|first, len, shard_counts| counts.add_counts(first, len, shard_counts)),
            &mut acquired_written,
        )
        .map_err(|source| decode_error(Bitset::Acquired, source))
        .and_then(|_| {
            ewah::decode_parallel(
                released,
                &mut self.released,
                true,
                parallelism,
                None,
                &mut released_written,
            )
            .map_err(|source| decode_error(Bitset::Released, source))
        })
        .and_then(|released_words| {
            self.complete_open(
                &mut counts,
                released_words,
                trailer_acquired,
                trailer_released,
                parallelism,
            )
        });
        self.end_open(result, acquired_written, released_written)
    }

    /// Starts opening a set that is not opened from chunks pushed one at a
    /// time, as an engine reads its checkpoint trailer block by block into
    /// one reused buffer: see [`OpenStream`].
    pub fn open_stream(&mut self) -> Result<OpenStream<'_>, Error> {
        self.check_openable()?;
        let counts = ShardCounts::new(self.shards())?;
        let capacity = self.acquired.len();
        Ok(OpenStream {
            set: self,
            counts,
            acquired: StreamState::new(capacity, true),
            released: None,
            done: false,
        })
    }

    /// [`FreeSet::open`] from two readers (files, sockets, a trailer reader
    /// of the engine), read 64 KiB at a time into one buffer. A reader's
    /// error is [`OpenReadError::Io`]; an invalid encoding or trailer, or
    /// misuse (a set already opened), is [`OpenReadError::Open`]. A reader
    /// that says it read more bytes than the buffer holds is an
    /// [`OpenReadError::Io`] error of kind [`io::ErrorKind::InvalidData`]. On
    /// any error the set stays empty and not opened.
    ///
    /// ```
    /// use freeset::{Bitset, FreeSet, OpenReadError};
    ///
    /// let set = FreeSet::new(10_000)?;
    /// let (acquired, released) = set.encode()?;
    /// let mut reopened = FreeSet::unopened(10_000)?;
    /// reopened
    ///     .open_from_readers(&acquired[..], &released[..], &[], &[])
    ///     .expect("slices read without error");
    /// assert_eq!(reopened, { let mut s = set.clone(); s.checkpoint_not_durable()?; s });
    ///
    /// // Bytes that are not a whole word: the open error, with its source.
    /// let mut bad = FreeSet::unopened(10_000)?;
    /// let error = bad.open_from_readers(&[1u8, 2, 3][..], &[][..], &[], &[]).unwrap_err();
    /// assert!(matches!(error, OpenReadError::Open(freeset::Error::Decode { bitset: Bitset::Acquired, .. })));
    /// # Ok::<(), freeset::Error>(())
    /// ```
    pub fn open_from_readers(
        &mut self,
        mut acquired: impl Read,
        mut released: impl Read,
        trailer_acquired: &[u64],
        trailer_released: &[u64],
    ) -> Result<(), OpenReadError> {
        let mut stream = self.open_stream()?;
        let mut buffer = vec![0u8; 64 << 10];
        for (bitset, reader) in [
            (Bitset::Acquired, &mut acquired as &mut dyn Read),
            (Bitset::Released, &mut released),
        ] {
            loop {
                let n = match reader.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) if n > buffer.len() => {
                        return Err(OpenReadError::Io(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "the {bitset} reader says it read {n} bytes into a buffer of {}",
                                buffer.len()
                            ),
                        )))
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(OpenReadError::Io(e)),
                };
                match bitset {
                    Bitset::Acquired => stream.push_acquired(&buffer[..n])?,
                    Bitset::Released => stream.push_released(&buffer[..n])?,
                }
            }
        }
        Ok(stream.finish(trailer_acquired, trailer_released)?)
    }

    fn check_openable(&self) -> Result<(), Error> {
        if self.opened {
            return Err(Error::AlreadyOpened);
        }
        debug_assert_eq!(
            self.count_acquired() + self.released_count + self.pending_count,
            0
        );
        Ok(())
    }

    /// The end of every open: on error, nothing half-built stays (back to
    /// the empty, not opened state). Only the leading `acquired_written` and
    /// `released_written` words can hold a bit then (the decoders wrote
    /// nothing past them, and a failed open sets no trailer bit): a bad
    /// stream of a few bytes costs nothing like a pass over the capacity, and
    /// faults in none of the pages of a large set it never reached.
    fn end_open(
        &mut self,
        result: Result<(), Error>,
        acquired_written: usize,
        released_written: usize,
    ) -> Result<(), Error> {
        if result.is_err() {
            self.acquired[..acquired_written].fill(0);
            self.released[..released_written].fill(0);
            self.opened = false;
        }
        self.check_invariants();
        result
    }

    /// What every open does once both bitsets are decoded (`counts` holds
    /// the bits of every shard of `acquired`, `released_words` is the number
    /// of words the released stream described): check the released bits and
    /// the trailer, set the trailer blocks, derive the rest.
    fn complete_open(
        &mut self,
        counts: &mut ShardCounts,
        released_words: usize,
        trailer_acquired: &[u64],
        trailer_released: &[u64],
        parallelism: Parallelism,
    ) -> Result<(), Error> {
        if let Some(word) = (0..released_words).find(|&i| self.released[i] & !self.acquired[i] != 0)
        {
            let stray = self.released[word] & !self.acquired[word];
            return Err(Error::ReleasedNotAcquired(
                words::block_at(word, stray.trailing_zeros()) + 1,
            ));
        }
        let lists = [
            (Bitset::Acquired, trailer_acquired),
            (Bitset::Released, trailer_released),
        ];
        for (list, addresses) in lists {
            let mut previous = 0;
            for (position, &address) in addresses.iter().enumerate() {
                let reason = if address == 0 {
                    Some(TrailerReason::Zero)
                } else if address > self.limit {
                    Some(TrailerReason::PastLimit)
                } else if address <= previous {
                    Some(TrailerReason::OutOfOrder)
                } else if bit(&self.acquired, address - 1) {
                    Some(TrailerReason::AlreadyAcquired)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    return Err(Error::Trailer {
                        list,
                        position,
                        address,
                        reason,
                    });
                }
                previous = address;
            }
        }
        // Both lists are valid on their own. An address in both is already
        // acquired (by the acquired list) when the released list comes to
        // it: found before any bit is set, so that an error leaves none.
        if let Some(position) = first_common(trailer_acquired, trailer_released) {
            return Err(Error::Trailer {
                list: Bitset::Released,
                position,
                address: trailer_released[position],
                reason: TrailerReason::AlreadyAcquired,
            });
        }
        // The next checkpoint must not release them again.
        self.set_opened_trailer(trailer_acquired, trailer_released)?;
        for &address in trailer_acquired.iter().chain(trailer_released) {
            let (word, bit) = (words::word_of(address - 1), words::bit_mask(address - 1));
            debug_assert!(self.acquired[word] & bit == 0);
            self.acquired[word] |= bit;
            self.pending[word] |= bit;
        }
        for &address in trailer_acquired.iter().chain(trailer_released) {
            counts.add_block(address - 1);
        }
        self.derive(0, released_words.div_ceil(SHARD_WORDS), 0, parallelism);
        self.derive_acquired_from(&counts.take(), parallelism);
        for &address in trailer_acquired.iter().chain(trailer_released) {
            self.pending_shards.set(words::shard_of(address - 1));
        }
        self.pending_count = (trailer_acquired.len() + trailer_released.len()) as u64;
        self.highest = self.scan_highest();
        self.reservations.end_session();
        self.opened = true;
        self.durable = false;
        // With immediate reuse: everything decoded and the trailer.
        self.take_snapshot();
        Ok(())
    }
}

/// The first position in `b` of an address that is in `a` too (both
/// strictly increasing): a merge, one pass over each.
fn first_common(a: &[u64], b: &[u64]) -> Option<usize> {
    let mut i = 0;
    for (position, &address) in b.iter().enumerate() {
        while i < a.len() && a[i] < address {
            i += 1;
        }
        if i < a.len() && a[i] == address {
            return Some(position);
        }
    }
    None
}

fn decode_error(bitset: Bitset, source: DecodeError) -> Error {
    Error::Decode { bitset, source }
}

/// Why [`FreeSet::open_from_readers`] failed: a reader's error, or the
/// open's own. Either way the set is empty and not opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenReadError {
    /// A reader failed (or misbehaved: said it read more than the buffer).
    #[error("reading the checkpoint failed")]
    Io(#[source] io::Error),
    /// The bytes or the trailer were invalid, or the set could not be
    /// opened (already opened, memory).
    #[error("opening the set failed")]
    Open(#[source] Error),
}

impl From<Error> for OpenReadError {
    fn from(error: Error) -> Self {
        OpenReadError::Open(error)
    }
}

/// An open in progress, fed chunk by chunk: every acquired chunk, then every
/// released chunk, then the trailer addresses. Chunks may be cut anywhere,
/// even inside a word, and one buffer can be reused for all of them: the
/// stream keeps nothing of a chunk once it returns.
///
/// It gives the same set, and the same errors with the same byte offsets, as
/// [`FreeSet::open`] of the concatenated chunks. The first error in the
/// bytes ends the open: later calls return it again, and the set goes back to
/// empty and not opened when the stream is dropped or finished (as it does if
/// the stream is dropped before [`OpenStream::finish`]). An acquired chunk
/// pushed after a released one is misuse ([`Error::OpenOrder`]) that changes
/// nothing: the stream goes on as if it had not been pushed.
///
/// Memory: the chunks are decoded straight into the set's own bitsets; the
/// stream itself holds a bit count per shard (4 bytes per 4096 blocks: 128
/// KiB for a 16 TiB grid of 512 KiB blocks) and at most one cut word.
/// Single-threaded: an engine that has all the bytes at hand should call
/// [`FreeSet::open`], which decodes large sets on the rayon pool.
///
/// ```
/// use freeset::{Bitset, FreeSet};
///
/// let mut set = FreeSet::new(100_000)?;
/// let r = set.reserve(1000)?.expect("room");
/// while set.acquire(&r)?.is_some() {}
/// set.forfeit(&r)?;
/// let acquired = set.encode()?.0;
///
/// // Restart: read the trailer block by block into one buffer.
/// let mut restarted = FreeSet::unopened(100_000)?;
/// let mut open = restarted.open_stream()?;
/// let mut block = [0u8; 100];
/// for piece in acquired.chunks(100) {
///     block[..piece.len()].copy_from_slice(piece); // the engine's read
///     open.push_acquired(&block[..piece.len()])?;
/// }
/// open.finish(&[2000], &[])?; // no released bytes; one trailer block
/// assert_eq!(restarted.count_acquired(), 1001);
/// # Ok::<(), freeset::Error>(())
/// ```
pub struct OpenStream<'s> {
    set: &'s mut FreeSet,
    /// Bits per shard of `acquired`, counted when its stream ends.
    counts: ShardCounts,
    acquired: StreamState,
    /// Present once the first released chunk (or `finish`) ended the
    /// acquired stream.
    released: Option<StreamState>,
    /// `finish` ran: the set is opened, or was cleared after an error.
    done: bool,
}

impl std::fmt::Debug for OpenStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenStream")
            .field("set", &self.set)
            .field("acquired_words", &self.acquired.words_written())
            .field("released_started", &self.released.is_some())
            .finish()
    }
}

impl OpenStream<'_> {
    /// The next chunk of the encoded acquired bitset.
    pub fn push_acquired(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if self.released.is_some() {
            return Err(Error::OpenOrder);
        }
        self.acquired
            .push(&mut self.set.acquired, chunk)
            .map_err(|source| decode_error(Bitset::Acquired, source))
    }

    /// The next chunk of the encoded released bitset; the first one ends the
    /// acquired bitset (an error in its end, such as missing literal words,
    /// shows here).
    pub fn push_released(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.end_acquired()?;
        let set = &mut *self.set;
        let released = self
            .released
            .get_or_insert_with(|| StreamState::new(set.released.len(), true));
        released
            .push(&mut set.released, chunk)
            .map_err(|source| decode_error(Bitset::Released, source))
    }

    /// Ends the acquired stream once, and counts its bits per shard.
    fn end_acquired(&mut self) -> Result<(), Error> {
        if self.released.is_some() {
            return Ok(());
        }
        let described = self
            .acquired
            .finish(&mut self.set.acquired)
            .map_err(|source| decode_error(Bitset::Acquired, source))?;
        self.counts.add(0, &self.set.acquired[..described]);
        self.released = Some(StreamState::new(self.set.released.len(), true));
        Ok(())
    }

    /// Ends both streams and opens the set with the trailer addresses, as
    /// [`FreeSet::open`] does. On error the set is empty and not opened.
    pub fn finish(
        mut self,
        trailer_acquired: &[u64],
        trailer_released: &[u64],
    ) -> Result<(), Error> {
        self.done = true;
        let result = self.end_acquired().and_then(|()| {
            let set = &mut *self.set;
            let released = self.released.as_mut().expect("the acquired stream ended");
            let released_words = released
                .finish(&mut set.released)
                .map_err(|source| decode_error(Bitset::Released, source))?;
            set.complete_open(
                &mut self.counts,
                released_words,
                trailer_acquired,
                trailer_released,
                Parallelism::SEQUENTIAL,
            )
        });
        let written = self.written();
        self.set.end_open(result, written.0, written.1)
    }

    /// Leading words of the acquired and the released bitset that the
    /// streams may have written so far.
    fn written(&self) -> (usize, usize) {
        (
            self.acquired.words_written(),
            self.released.as_ref().map_or(0, StreamState::words_written),
        )
    }
}

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Abandoned: nothing half-built stays.
            let written = self.written();
            let _ = self
                .set
                .end_open(Err(Error::NotOpened), written.0, written.1);
        }
    }
}
