//! How the engine writes a checkpoint's encodings into its trailer blocks,
//! chunk by chunk, through the library's checkpoint API, and reads them
//! back.
//!
//! What must never happen here: a block taken for a chunk of the trailer
//! without its checksum (but by the broken engine that skips it).

use freeset::{Bitset, FreeSet, Trailer};

use super::disk::{Content, Disk, Place};
use super::superblock::{chunk_checksum, Seal, Superblock};

/// One chunk of a checkpoint's encoding and the trailer block it goes to.
pub(super) struct Chunk {
    pub(super) address: u64,
    pub(super) bitset: Bitset,
    pub(super) bytes: Vec<u8>,
}

/// Writes a checkpoint of `set` through the library's checkpoint API
/// (`FreeSet::checkpoint`, which releases the previous trailer, then every
/// chunk, then `commit`, which acquires the trailer and calls
/// `checkpoint_not_durable`), and returns what the engine writes: the
/// trailer for its superblock and the chunks for their blocks. A trailer of
/// more than `trailer_max` blocks is refused before `commit`, and the
/// dropped handle undoes the release.
pub(super) fn write(
    set: &mut FreeSet,
    chunk_bytes: usize,
    trailer_max: u64,
) -> Result<(Trailer, Vec<Chunk>), String> {
    let mut checkpoint = set
        .checkpoint(chunk_bytes)
        .map_err(|e| format!("checkpoint({chunk_bytes}) failed: {e}"))?;
    let n = checkpoint.chunks() as u64;
    if n > trailer_max {
        return Err(format!(
            "the encoding takes {n} chunks, more than the {trailer_max} the size bound of \
             docs/format.md gives"
        ));
    }
    let mut buffer = vec![0; chunk_bytes];
    let mut chunks = Vec::with_capacity(checkpoint.chunks());
    while let Some(chunk) = checkpoint
        .next_chunk(&mut buffer)
        .map_err(|e| format!("next_chunk refused a buffer of the chunk size: {e}"))?
    {
        chunks.push(Chunk {
            address: chunk.address,
            bitset: chunk.bitset,
            bytes: buffer[..chunk.len].to_vec(),
        });
    }
    let trailer = checkpoint
        .commit()
        .map_err(|e| format!("commit of the checkpoint failed: {e}"))?;
    debug_assert!(trailer
        .acquired
        .iter()
        .chain(&trailer.released)
        .eq(chunks.iter().map(|c| &c.address)));
    Ok((trailer, chunks))
}

/// Reads back the trailer `superblock` names: both encodings, or the
/// blocks whose checksum fails (a block that holds no chunk among them).
/// `verify: false` takes every block as it reads (the broken engine of
/// `Variant::SkipChecksum`; a block holding no chunk reads as no bytes).
pub(super) fn read(
    disk: &Disk,
    superblock: &Superblock,
    verify: bool,
) -> Result<(Vec<u8>, Vec<u8>), Vec<Place>> {
    let mut bytes = (Vec::new(), Vec::new());
    let mut bad = Vec::new();
    let acquired = superblock.trailer_acquired.len();
    for (i, address) in superblock.trailer().enumerate() {
        let chunk = match disk.read(address) {
            Content::Chunk(chunk) => Some(chunk),
            Content::Nothing | Content::Data(_) => None,
        };
        let intact = chunk.is_some_and(|c| chunk_checksum(c) == superblock.checksums[i]);
        if verify && !intact {
            bad.push(Place::Block(address));
            continue;
        }
        let chunk = chunk.map_or(&[][..], |c| c.bytes.as_slice());
        if i < acquired {
            bytes.0.extend_from_slice(chunk);
        } else {
            bytes.1.extend_from_slice(chunk);
        }
    }
    if !bad.is_empty() {
        return Err(bad);
    }
    if verify
        && (Seal::of(&bytes.0) != superblock.acquired || Seal::of(&bytes.1) != superblock.released)
    {
        // Every chunk verified, so the engine wrote a wrong seal: no block
        // to blame, every one of them named.
        return Err(superblock.trailer().map(Place::Block).collect());
    }
    Ok(bytes)
}

/// Opens `set` from the trailer `superblock` names, pushing one block at a
/// time through one buffer (the trailer was read back and checked already).
pub(super) fn open_block_by_block(
    set: &mut FreeSet,
    disk: &Disk,
    superblock: &Superblock,
) -> Result<(), freeset::Error> {
    let mut stream = set.open_stream()?;
    let mut block = Vec::new();
    let acquired = superblock.trailer_acquired.len();
    for (i, address) in superblock.trailer().enumerate() {
        block.clear();
        if let Content::Chunk(chunk) = disk.read(address) {
            block.extend_from_slice(&chunk.bytes);
        }
        if i < acquired {
            stream.push_acquired(&block)?;
        } else {
            stream.push_released(&block)?;
        }
    }
    stream.finish(&superblock.trailer_acquired, &superblock.trailer_released)
}
