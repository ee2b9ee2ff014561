//! How the engine writes a checkpoint's encodings into its trailer blocks,
//! chunk by chunk, through the library's checkpoint API, and reads them
//! back.
//!
//! What must never happen here: a read of a trailer block that is not one
//! of its chunks taken as one.

use freeset::{Bitset, FreeSet, Trailer};

use super::disk::{Content, Disk};
use super::model::Checkpoint;

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

/// Opens `set` from the trailer of `checkpoint`, pushing one block at a time
/// through one buffer (the trailer was read back and checked already).
pub(super) fn open_block_by_block(
    set: &mut FreeSet,
    disk: &Disk,
    checkpoint: &Checkpoint,
) -> Result<(), freeset::Error> {
    let mut stream = set.open_stream()?;
    let mut block = Vec::new();
    for (addresses, acquired) in [
        (&checkpoint.trailer_acquired, true),
        (&checkpoint.trailer_released, false),
    ] {
        for &address in addresses {
            block.clear();
            if let Content::Chunk(chunk) = disk.read(address) {
                block.extend_from_slice(chunk);
            }
            if acquired {
                stream.push_acquired(&block)?;
            } else {
                stream.push_released(&block)?;
            }
        }
    }
    stream.finish(&checkpoint.trailer_acquired, &checkpoint.trailer_released)
}

/// Concatenates the chunks stored at `trailer`, which must all be chunks.
pub(super) fn read_back(disk: &Disk, trailer: &[u64], id: u64) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    for &address in trailer {
        match disk.read(address) {
            Content::Chunk(chunk) => bytes.extend_from_slice(chunk),
            other => {
                return Err(format!(
                    "trailer block {address} of checkpoint #{id} holds {other}, not its chunk"
                ))
            }
        }
    }
    Ok(bytes)
}
