//! Typed errors of the free set and of the EWAH codec.
//!
//! Every error is a value that says what was wrong; an operation that returns
//! one has changed nothing. Nothing in this module may panic or allocate on the
//! error path beyond the message the caller asks for.

use thiserror::Error;

use crate::bitset::Bitset;

/// Misuse of a [`FreeSet`](crate::FreeSet) operation, or input it cannot
/// accept. The set is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// `FreeSet::new(0)`: a grid has at least one block.
    #[error("blocks_count must be at least 1")]
    ZeroBlocks,
    /// `blocks_count` so large that the bitsets cannot be addressed, or
    /// their memory cannot be allocated.
    #[error("blocks_count {0} is too large: its bitsets cannot be allocated")]
    TooManyBlocks(u64),
    /// A raw bitset whose length is not the capacity of the set.
    #[error("a bitset of {got} words given, the capacity is {expected} words")]
    WordCount {
        /// Words of the capacity.
        expected: usize,
        /// Words given.
        got: usize,
    },
    /// `reserve(0)`.
    #[error("reserve needs at least one block")]
    ReserveZero,
    /// An operation that needs an opened set was called after `reset` (or
    /// on a set from `unopened`).
    #[error("the free set is not opened: open it first (FreeSet::open or open_stream)")]
    NotOpened,
    /// `open` on a set that is already opened (call `reset` first).
    #[error("the free set is already opened; reset it before open")]
    AlreadyOpened,
    /// `reserve` after some, but not all, reservations of the session were forfeited.
    #[error(
        "reservations of this session are being forfeited; forfeit all before reserving again"
    )]
    Forfeiting,
    /// A reservation from an ended session (every reservation is, when none
    /// is active), or from another free set in another session (a clone,
    /// whose sessions start after its original's).
    #[error(
        "the reservation belongs to session {reservation}, not to the current session {current}: its session ended \
         (all its reservations were forfeited, or the set was opened or reset since), or another set issued it"
    )]
    StaleReservation {
        /// Session carried by the reservation.
        reservation: u64,
        /// The set's current session.
        current: u64,
    },
    /// A reservation that another free set issued in a session of the same
    /// number as this set's current one: say a set that a new set replaced,
    /// or one that an `open` into a new set replaced. Session numbers are
    /// per set; a reservation is accepted only by the session that issued it.
    #[error(
        "the reservation was issued by another free set, not by this one (both are in session {session})"
    )]
    ForeignReservation {
        /// Session number of the reservation, and of this set.
        session: u64,
    },
    /// `forfeit` of a reservation that was forfeited already (in its
    /// session, which is still going on: other reservations of it are
    /// active). Nothing changes.
    #[error(
        "the reservation at address {address} (session {session}) was forfeited already; forfeit each reservation once"
    )]
    AlreadyForfeited {
        /// Address of the reservation's first block.
        address: u64,
        /// Its session, the current one.
        session: u64,
    },
    /// Memory the operation needs could not be allocated. Nothing changed.
    #[error("could not allocate {bytes} bytes for {what}")]
    OutOfMemory {
        /// Bytes asked for.
        bytes: u64,
        /// What they were for.
        what: &'static str,
    },
    /// `Acquirer::cursor` of a reservation that has a cursor already in
    /// this scope (its first block is `address`).
    #[error("the reservation at address {address} has a cursor already")]
    CursorExists {
        /// Address of the reservation's first block.
        address: u64,
    },
    /// An address that is 0 or past the capacity.
    #[error("address {address} is out of range 1..={capacity}")]
    AddressOutOfRange {
        /// The address given.
        address: u64,
        /// The capacity of the set, in blocks.
        capacity: u64,
    },
    /// `release` of a block that is free.
    #[error("address {0} is not acquired")]
    NotAcquired(u64),
    /// `release` of a block that is already released or pending release.
    #[error("address {0} is already released")]
    AlreadyReleased(u64),
    /// `release` of a block of the last checkpoint's trailer (the blocks
    /// holding its encoding): the next [`FreeSet::checkpoint`] releases the
    /// trailer of the last commit itself, and `open` made a reopened
    /// trailer pending release already. Nothing changes.
    ///
    /// [`FreeSet::checkpoint`]: crate::FreeSet::checkpoint
    #[error(
        "address {address} holds the last checkpoint's trailer: FreeSet::checkpoint releases it \
         (and open made a reopened trailer pending release already); do not release it, or \
         take_last_trailer() first to take the trailer over (as a clone compared with a restart does)"
    )]
    TrailerBlock {
        /// The address given.
        address: u64,
    },
    /// `checkpoint_not_durable` while the checkpoint is not durable.
    #[error(
        "the checkpoint is already not durable: call checkpoint_durable() once it is, before writing the next"
    )]
    CheckpointNotDurable,
    /// `checkpoint_durable` while it already is.
    #[error(
        "the checkpoint is already durable: call checkpoint_not_durable() (or FreeSet::checkpoint) to write the next one first"
    )]
    CheckpointDurable,
    /// `encode` (or `encoder`, `encoded_size`) while the checkpoint is not
    /// durable.
    #[error(
        "encode needs a durable checkpoint: call checkpoint_durable() once the last checkpoint is durable, \
         and encode before checkpoint_not_durable() (FreeSet::checkpoint does both in that order)"
    )]
    EncodeNotDurable,
    /// A low-level checkpoint call (`encode`, `encode_with`, `encoder`,
    /// `encoded_size`, `checkpoint_not_durable`) on a set with immediate
    /// reuse: the set could not know what a checkpoint written that way
    /// holds, so it could free a block at once that the checkpoint
    /// references. [`FreeSet::checkpoint`] writes the checkpoint instead.
    ///
    /// [`FreeSet::checkpoint`]: crate::FreeSet::checkpoint
    #[error(
        "{operation} is refused with immediate reuse: write checkpoints with FreeSet::checkpoint, \
         which records what each holds so that no block it references is freed at once"
    )]
    ImmediateReuse {
        /// The operation refused.
        operation: &'static str,
    },
    /// `FreeSet::checkpoint` while the last checkpoint is not durable yet.
    #[error("a new checkpoint needs the last one durable: call checkpoint_durable() first")]
    CheckpointNotDurableYet,
    /// `checkpoint_durable`, `encode` or `checkpoint` with reservations
    /// active.
    #[error("{0} reservation(s) are active: forfeit every reservation first")]
    ReservationsActive(u64),
    /// `FreeSet::checkpoint` with a chunk size that is 0 or not a multiple
    /// of 8 (the encoding is whole 8-byte words).
    #[error("a chunk size of {0} bytes: it must be a positive multiple of 8")]
    ChunkBytes(usize),
    /// `Checkpoint::next_chunk` with a buffer shorter than the chunk size.
    #[error("a buffer of {len} bytes for chunks of {chunk_bytes} bytes: pass one of at least the chunk size")]
    ChunkBuffer {
        /// Length of the buffer given.
        len: usize,
        /// The chunk size of the checkpoint.
        chunk_bytes: usize,
    },
    /// `FreeSet::checkpoint` without enough free blocks for the trailer.
    #[error("the checkpoint's trailer needs {needed} free blocks, {free} are free")]
    NoRoomForTrailer {
        /// Chunks of both encodings: a block each.
        needed: u64,
        /// Free blocks below the limit.
        free: u64,
    },
    /// `FreeSet::checkpoint` could not release a block of the previous
    /// trailer (say the engine released it itself): the new checkpoint
    /// releases it. Why the release failed is the
    /// [`source`](std::error::Error::source), printed once in a chain.
    #[error("releasing block {address} of the previous checkpoint's trailer failed (FreeSet::checkpoint releases the previous trailer itself: do not release it)")]
    TrailerRelease {
        /// The trailer block.
        address: u64,
        /// Why its release failed.
        source: Box<Error>,
    },
    /// `Checkpoint::commit` before every chunk was handed out.
    #[error(
        "commit after {written} of {chunks} chunks: call Checkpoint::next_chunk until it returns None first"
    )]
    CheckpointIncomplete {
        /// Chunks handed out.
        written: usize,
        /// Chunks in all.
        chunks: usize,
    },
    /// `open`: an encoded bitset is invalid. The message names the
    /// bitset; what was wrong, and at which byte offset, is its
    /// [`source`](std::error::Error::source) (print the chain, as `anyhow`
    /// or a loop over `source()` does, to see both once).
    #[error("invalid encoding of the {bitset} bitset")]
    Decode {
        /// Which encoding.
        bitset: Bitset,
        /// What the decoder found.
        #[source]
        source: DecodeError,
    },
    /// A streaming open was given an acquired chunk after a released one.
    #[error("an acquired chunk after the released ones: push every acquired chunk first")]
    OpenOrder,
    /// `open`: a released block is not acquired.
    #[error("released address {0} is not acquired")]
    ReleasedNotAcquired(u64),
    /// `open`: a bad trailer address.
    #[error("trailer address {address} ({list} list, position {position}): {reason}")]
    Trailer {
        /// Which trailer list.
        list: Bitset,
        /// 0-based position in its list.
        position: usize,
        /// The address.
        address: u64,
        /// What is wrong with it.
        reason: TrailerReason,
    },
}

/// Why a trailer address was rejected by `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TrailerReason {
    /// Address 0.
    #[error("address 0 is not a block")]
    Zero,
    /// Past the limit of the set.
    #[error("past the limit of this set (open a set of the checkpoint's block count)")]
    PastLimit,
    /// Not strictly greater than the previous address of its list.
    #[error("not strictly increasing")]
    OutOfOrder,
    /// The block is acquired after decoding (or named in both lists).
    #[error("block is already acquired")]
    AlreadyAcquired,
}

/// Invalid EWAH input. `offset` is the byte offset in the whole stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The stream (or a streamed chunk) does not end on a word boundary.
    #[error("byte offset {offset}: length is not a multiple of 8 ({trailing} trailing bytes)")]
    Length {
        /// Offset of the incomplete word.
        offset: u64,
        /// Bytes of the incomplete word.
        trailing: u64,
    },
    /// The stream ends inside a marker's literal words.
    #[error("byte offset {offset}: marker declares {declared} literal words, stream ends after {present}")]
    Truncated {
        /// Offset of the marker.
        offset: u64,
        /// Literal words the marker declares.
        declared: u64,
        /// Literal words present.
        present: u64,
    },
    /// The marker's output would pass the target capacity.
    #[error("byte offset {offset}: marker writes up to word {end}, past the capacity of {capacity} words")]
    Overflow {
        /// Offset of the marker.
        offset: u64,
        /// Word index the marker would write up to (exclusive).
        end: u64,
        /// Target capacity in words.
        capacity: u64,
    },
    /// The stream is valid, but the words it describes cannot be allocated
    /// (only [`ewah::decode`](crate::ewah::decode), which allocates the
    /// words a stream describes; the capacity given bounds them).
    #[error(
        "byte offset {offset}: the stream describes {words} words, more than can be allocated"
    )]
    TooLarge {
        /// The end of the stream, where the words it describes are known.
        offset: u64,
        /// Words the stream describes.
        words: u64,
    },
}

impl DecodeError {
    /// Byte offset in the stream where the problem was found.
    pub fn offset(&self) -> u64 {
        match *self {
            DecodeError::Length { offset, .. }
            | DecodeError::Truncated { offset, .. }
            | DecodeError::Overflow { offset, .. }
            | DecodeError::TooLarge { offset, .. } => offset,
        }
    }
}

/// A streaming encoder could not make progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// [`Encoder::encode_chunk`](crate::ewah::Encoder::encode_chunk) was given
    /// a chunk with no room for a whole word while bytes remain.
    #[error("a chunk of {len} bytes has no room for an 8-byte word")]
    ChunkTooShort {
        /// Length of the chunk given.
        len: usize,
    },
}
