//! The peers' side of `acquire_extent`: the first run of `n` free blocks in
//! a `Vec<u64>` of acquired bits, found the way an engine author would
//! write it, and the bit-by-bit twin that `freeset`'s search is held to.
//!
//! - [`first_fit`] (the `cursor` peer): from the start block, each word's
//!   runs of zero bits in turn, their lengths by `trailing_zeros` and
//!   `trailing_ones`; a run that reaches a word's top carries into the next
//!   word, so whole zero words cost one step each.
//! - [`first_fit_bitwise`] (the `twin` row): one bit at a time, as
//!   `freeset`'s tests check every kernel tier against.
//!
//! What must never happen here: an extent other than the first fit at or
//! after the start block, or past the limit (both are checked against
//! `freeset` in the tests of `peers.rs`).

/// The first block `b >= from` with blocks `b..b + n` all free and `b + n
/// <= limit`, by runs of zero bits a word at a time.
pub(super) fn first_fit(acquired: &[u64], limit: u64, from: u64, n: u64) -> Option<u64> {
    debug_assert!(n >= 1);
    let (mut block, mut run_start, mut run) = (from, from, 0u64);
    while block < limit {
        let bit = block % 64;
        // The free bits from `block` on, in the low bits (what is shifted
        // in from the top counts as acquired).
        let free = !acquired[(block / 64) as usize] >> bit;
        let left = (64 - bit).min(limit - block);
        let zeros = u64::from(free.trailing_ones()).min(left);
        if zeros > 0 {
            if run == 0 {
                run_start = block;
            }
            run += zeros;
            if run >= n {
                return Some(run_start);
            }
            block += zeros;
            if zeros < left {
                // An acquired block ends the run.
                run = 0;
            }
        } else {
            run = 0;
            block += u64::from(free.trailing_zeros()).min(left);
        }
    }
    None
}

/// [`first_fit`], one bit at a time.
pub(super) fn first_fit_bitwise(acquired: &[u64], limit: u64, from: u64, n: u64) -> Option<u64> {
    let mut run = 0;
    for block in from..limit {
        if acquired[(block / 64) as usize] >> (block % 64) & 1 == 1 {
            run = 0;
        } else {
            run += 1;
            if run == n {
                return Some(block + 1 - n);
            }
        }
    }
    None
}

/// Marks blocks `start..start + n` acquired, a word at a time.
pub(super) fn take(acquired: &mut [u64], start: u64, n: u64) {
    let end = start + n;
    let mut block = start;
    while block < end {
        let bit = block % 64;
        let len = (64 - bit).min(end - block);
        let mask = if len == 64 {
            !0
        } else {
            ((1u64 << len) - 1) << bit
        };
        let word = &mut acquired[(block / 64) as usize];
        debug_assert_eq!(*word & mask, 0, "an extent's blocks are free");
        *word |= mask;
        block += len;
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Kind, Peer};
    use crate::workloads::{fill_random, set_of, Fill, Rng};

    /// Both peers hand out the extents `freeset`'s `reserve_extent` does,
    /// one session per length as in the workload, on fills of several
    /// densities and limits inside words and shards.
    #[test]
    fn the_peers_extents_are_freesets() {
        for (blocks, p) in [
            (10_000u64, 0.0),
            (10_000, 0.5),
            (20_001, 0.2),
            (4096 * 3 + 7, 0.05),
        ] {
            let words = blocks.div_ceil(freeset::SHARD_BLOCKS) as usize * 64;
            let mut acquired = vec![0; words];
            fill_random(&mut acquired, blocks, p, &mut Rng::new(blocks));
            let fill = Fill {
                blocks,
                released: vec![0; words],
                acquired,
            };
            let mut set = set_of(fill.clone());
            let mut peers = [Kind::Cursor.build(&fill), Kind::Twin.build(&fill)];
            for n in [1, 3, 8, 63, 64, 65, 200, 512, 5000] {
                let mut reservations = Vec::new();
                let mut from = 0;
                loop {
                    let expected = set.reserve_extent(n).unwrap();
                    for peer in &mut peers {
                        let got: &mut Box<dyn Peer> = peer;
                        assert_eq!(
                            got.acquire_extent(n, from),
                            expected.map(|r| r.block_base() + 1),
                            "{blocks} blocks, p = {p}, n = {n}"
                        );
                    }
                    let Some(r) = expected else { break };
                    set.acquire_extent(&r).unwrap();
                    from = r.block_base() + n;
                    reservations.push(r);
                }
                for r in &reservations {
                    set.forfeit(r).unwrap();
                }
            }
            for peer in &peers {
                assert_eq!(peer.count_acquired(), set.count_acquired());
            }
        }
    }
}
