//! How the engine writes a checkpoint's encodings into its trailer blocks,
//! chunk by chunk, and reads them back.
//!
//! What must never happen here: a read of a trailer block that is not one
//! of its chunks taken as one.

use freeset::{Bitset, FreeSet};

use super::disk::{Content, Disk};
use super::model::Checkpoint;

/// Streams one bitset of `set` into chunks of `chunk_size` bytes (the last one
/// shorter), as an engine writes it into grid blocks. The one place that calls
/// `encode_chunk`.
pub(super) fn encode_chunks(
    set: &FreeSet,
    bitset: Bitset,
    chunk_size: usize,
) -> Result<Vec<Vec<u8>>, String> {
    debug_assert!(chunk_size >= 8 && chunk_size.is_multiple_of(8));
    let mut encoder = set
        .encoder(bitset)
        .map_err(|e| format!("encoder({bitset:?}) failed: {e}"))?;
    let mut buffer = vec![0; chunk_size];
    let mut chunks = Vec::new();
    while !encoder.is_done() {
        let n = encoder
            .encode_chunk(&mut buffer)
            .map_err(|e| format!("the {bitset:?} encoder refused a chunk: {e}"))?;
        if n == 0 {
            return Err(format!(
                "the {bitset:?} encoder wrote nothing and is not done"
            ));
        }
        chunks.push(buffer[..n].to_vec());
    }
    Ok(chunks)
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
