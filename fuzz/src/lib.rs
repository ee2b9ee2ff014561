//! Shared pieces of the fuzz targets of `freeset` (see `fuzz/README.md`).
//!
//! - [`input`]: the byte layouts of the `decode`, `open` and `roundtrip`
//!   inputs (parsed here, written by the seeder `examples/seed.rs`, so a
//!   corpus file is easy to read and to turn into a regression test);
//! - [`naive`]: a naive EWAH codec written from `docs/format.md` alone (no
//!   code of `freeset::ewah`), the oracle the targets judge the crate by;
//! - [`ops`]: the operation enum of the `ops` target (derived `Arbitrary`),
//!   and its byte writer for the seeder;
//! - [`parallel`]: a 2-thread rayon pool with `min_words(1)`, so that the
//!   parallel codec runs on the small inputs a fuzzer makes.

pub mod input;
pub mod naive;
pub mod ops;

use std::sync::OnceLock;

use freeset::{FreeSet, Parallelism};

/// Blocks per shard (`docs/behaviour.md`).
pub const SHARD_BLOCKS: u64 = 4096;

/// The largest limit the `open`, `ops` and `roundtrip` targets use: three
/// shards and a few blocks, so that sets have up to four shards and every
/// shard and word boundary is within reach.
pub const LIMIT_MAX: u64 = 3 * SHARD_BLOCKS + 5;

/// Capacity in blocks of a set of `limit` blocks: whole shards, at least one.
pub fn capacity_of(limit: u64) -> u64 {
    limit.div_ceil(SHARD_BLOCKS).max(1) * SHARD_BLOCKS
}

/// `1..=LIMIT_MAX` from a raw `u16` (raw values `1..=LIMIT_MAX` map to
/// themselves, so a seed can name a limit exactly).
pub fn limit_of(raw: u16) -> u64 {
    1 + (u64::from(raw).max(1) - 1) % LIMIT_MAX
}

/// The inverse of [`limit_of`] for limits up to [`LIMIT_MAX`] (larger ones
/// are clamped to it).
pub fn raw_of_limit(limit: u64) -> u16 {
    limit.clamp(1, LIMIT_MAX) as u16
}

/// A pool of two threads, built once per process.
pub fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a pool of 2 threads")
    })
}

/// The parallel codec on [`pool`], from one word on: forces the parallel
/// code paths (segments, pieces, resume points) on fuzzer-sized inputs.
pub fn parallel() -> Parallelism<'static> {
    Parallelism::pool(pool()).min_words(1)
}

/// Lengths of chunks to cut a stream into, cycling through `cuts`. A zero
/// length is an empty chunk, on the first pass through `cuts` only (so the
/// number of chunks stays within the stream length plus `cuts.len()`). An
/// empty `cuts`, or one that is all zeros, gives the whole stream at once
/// (after the empty chunks it names).
pub fn chunks<'a>(bytes: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    if cuts.iter().all(|&c| c == 0) {
        out.extend(cuts.iter().map(|_| &bytes[..0]));
        out.push(bytes);
        return out;
    }
    let mut at = 0;
    let mut i = 0;
    while at < bytes.len() {
        let n = usize::from(cuts[i % cuts.len()]).min(bytes.len() - at);
        if n > 0 || i < cuts.len() {
            out.push(&bytes[at..at + n]);
        }
        at += n;
        i += 1;
    }
    out
}

/// The three bitsets of a set, as words: `(acquired, released, pending)`,
/// read through `acquired_words`, `released_words` and `pending_words`.
pub fn bitsets(set: &FreeSet) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
    (
        set.acquired_words().to_vec(),
        set.released_words().to_vec(),
        set.pending_words().to_vec(),
    )
}

/// [`bitsets`] found through what a set does instead of its accessors:
/// a clone is moved on, opened if it is not (from empty input, which must
/// succeed), then a durable checkpoint frees the `released` blocks (they
/// are the acquired blocks that become free) and turns `pending` into
/// `released`, which `encode` then shows. (Several times the work of
/// [`bitsets`]: the targets ask it once per input, and check that the two
/// agree.)
pub fn bitsets_through_checkpoint(set: &FreeSet) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
    let mut copy = set.clone();
    if !copy.is_opened() {
        assert_eq!(
            copy.open(&[], &[], &[], &[]),
            Ok(()),
            "an unopened set opens from nothing"
        );
    } else if copy.is_checkpoint_durable() {
        assert_eq!(copy.checkpoint_not_durable(), Ok(()));
    }
    let acquired = copy.acquired_words().to_vec();
    assert_eq!(
        copy.checkpoint_durable(),
        Ok(()),
        "a clone has no reservation"
    );
    let kept = copy.acquired_words().to_vec();
    let released: Vec<u64> = acquired.iter().zip(&kept).map(|(a, k)| a & !k).collect();
    assert!(
        acquired.iter().zip(&kept).all(|(a, k)| k & !a == 0),
        "a durable checkpoint acquired blocks"
    );
    let (_, pending_bytes) = copy.encode().expect("a durable checkpoint encodes");
    let mut pending = naive::decode(&pending_bytes, acquired.len()).expect("an encoding decodes");
    pending.resize(acquired.len(), 0);
    (acquired, released, pending)
}

/// Little-endian words as bytes.
pub fn bytes_of(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Lowercase hex, for messages and regression tests.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_stream() {
        let bytes: Vec<u8> = (0..50).collect();
        for cuts in [&[][..], &[0], &[0, 0], &[3], &[0, 7, 1], &[255]] {
            let pieces = chunks(&bytes, cuts);
            assert_eq!(pieces.concat(), bytes, "{cuts:?}");
        }
        assert_eq!(chunks(&bytes, &[0, 0]).len(), 3);
        // Zeros give empty chunks on the first pass only.
        let mut cuts = vec![0u8; 254];
        cuts.push(1);
        assert_eq!(chunks(&bytes, &cuts).len(), 254 + 50);
    }

    #[test]
    fn limits_round_trip() {
        for limit in [1, 2, 63, 64, 4096, 4097, LIMIT_MAX] {
            assert_eq!(limit_of(raw_of_limit(limit)), limit);
        }
        assert_eq!(limit_of(0), 1);
        assert!((0..=u16::MAX).all(|r| (1..=LIMIT_MAX).contains(&limit_of(r))));
    }
}
