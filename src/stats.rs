//! Statistics of a free set: how much is free, in how many pieces, where the
//! largest piece is, how the pieces are sized, how full each shard is, and one
//! fragmentation score.
//!
//! What lives here: [`Stats`], [`FreeSet::stats`], [`stats_of`] over raw
//! words, the assembly of the totals and the score from the histograms, and
//! (for tests) `stats_naive`, the bit-by-bit twin that every property test
//! compares the pass with.
//!
//! What must never happen here: a write to the set (statistics only read the
//! `acquired` words through the public accessors), a second pass over the
//! words, a free block counted at or past the limit, or an answer that differs
//! from the bit-by-bit twin in anything, the score included (both compute it
//! from the same histogram with the same arithmetic).
//!
//! # How the pass works
//!
//! A free *extent* is a maximal run of free blocks below the limit. The pass
//! is one call of the `extents` scan kernel (`scan::extents`, written once
//! over the SIMD tiers' lanes like the other kernels, dispatched to the
//! fastest tier the CPU runs): over the words below the limit word and the
//! limit word masked (its blocks at or past the limit look acquired), it
//! counts the extents and their blocks by power of two, finds the longest,
//! and counts the free blocks of each shard. Its module documentation says
//! how: the extents of up to 15 blocks are counted from a few popcounts per
//! vector of words, without a look at any of them, and the longer ones are
//! measured one by one.

use crate::scan;
use crate::set::{FreeSet, SHARD_BLOCKS};
use crate::words;

/// Buckets of the extent histograms: bucket `k` holds lengths in
/// `[2^k, 2^(k+1))`, and a length is a `u64`.
pub const HISTOGRAM_BUCKETS: usize = scan::HISTOGRAM_BUCKETS;

/// A run of free blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extent {
    /// Address of its first block (1-based, like every address of the API).
    pub address: u64,
    /// Its length in blocks (at least 1).
    pub blocks: u64,
}

/// What [`FreeSet::stats`] (or [`stats_of`]) found, in one pass over the
/// `acquired` words. Only blocks below the limit count: blocks past it are
/// never free.
///
/// ```
/// use freeset::FreeSet;
///
/// let mut set = FreeSet::new(10_000)?;
/// let job = set.reserve(100)?.expect("room");
/// for _ in 0..100 {
///     set.acquire(&job)?;
/// }
/// set.forfeit(&job)?;
/// set.release(50)?; // a hole, once the checkpoint after it is durable
/// set.checkpoint_not_durable()?;
/// set.checkpoint_durable()?;
///
/// let stats = set.stats();
/// assert_eq!(stats.free_blocks, 9_901);
/// assert_eq!(stats.free_extents, 2); // block 50, and 101..=10000
/// let largest = stats.largest_free_extent.expect("some block is free");
/// assert_eq!((largest.address, largest.blocks), (101, 9_900));
/// assert_eq!(stats.extents_by_length[0], 1); // the 1-block hole
/// assert_eq!(stats.extents_by_length[13], 1); // 9900 is in [2^13, 2^14)
/// assert_eq!(stats.shard_free_blocks, [4_096 - 99, 4_096, 10_000 - 8_192]);
/// assert!(stats.fragmentation > 0.0 && stats.fragmentation < 0.001);
/// # Ok::<(), freeset::Error>(())
/// ```
///
/// # The fragmentation score
///
/// Put each free block in the size class of the extent it belongs to:
/// `floor(log2(len))`, the histogram bucket. The score is one minus the
/// average class of a free block over the class one extent of all the free
/// blocks would have:
///
/// ```text
/// fragmentation = 1 - (sum over extents of len * floor(log2 len))
///                     / (free_blocks * floor(log2 free_blocks))
/// ```
///
/// and 0 when fewer than two blocks are free. It is in `[0, 1]` (no extent is
/// longer than `free_blocks`) and
/// - it is **0 exactly when the free blocks form one extent** (or, more
///   generally, when every extent is in the top size class), and
/// - it is **1 exactly when every free extent is a single block**, and tends
///   to 1 as the free space turns to dust: the average class goes to 0.
///
/// It weighs extents by their size, like a block allocator should: one
/// one-block hole next to a million-block extent scores about 10^-6, not
/// 1/2 as a count of extents would; and it measures size on a log scale, so
/// that splitting a huge extent in two scores `1 / log2(free)`, not 1/2 as
/// `1 - largest / free` does (that measure, which `freeset simulate` reports
/// as its peak fragmentation, says 0.999 for 1024 extents of 1024 blocks,
/// where any allocation of up to 4 MiB at 4 KiB blocks still finds room; this
/// score says 0.5, halfway between one extent and dust on a log scale).
///
/// Ceph's BlueStore allocators, as we read their sources, offer the same
/// kinds of answers: `AvlAllocator::get_fragmentation()` is
/// `(extents - 1) / (free units - 1)`, a count in which every extent weighs
/// the same (0 for one extent, 1 for all single units, the same endpoints as
/// this score but blind to sizes); `BitmapAllocator::get_fragmentation()` is
/// the share of partially free bitmap slots among those with free space, a
/// count at a fixed granularity rather than over extents; and
/// `Allocator::get_fragmentation_score()` weighs each extent by
/// `len * 1.1^log2(len)` and maps the sum linearly between "one extent" (0)
/// and "all single units" (1). This score is that last idea with the weight
/// taken in the log domain: each block counts its extent's size class, which
/// makes the score computable exactly from the histogram the pass builds
/// anyway (no floating point per extent, nothing per extent at all for the
/// runs inside a word).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Blocks of the grid: the limit.
    pub blocks: u64,
    /// Blocks below the limit that are not acquired.
    pub free_blocks: u64,
    /// Maximal runs of free blocks below the limit.
    pub free_extents: u64,
    /// The longest free extent, the lowest one among equals; `None` when no
    /// block is free.
    pub largest_free_extent: Option<Extent>,
    /// `extents_by_length[k]`: free extents whose length is in
    /// `[2^k, 2^(k+1))`. They add up to `free_extents`.
    pub extents_by_length: [u64; HISTOGRAM_BUCKETS],
    /// `free_blocks_by_length[k]`: free blocks in those extents. They add up
    /// to `free_blocks`.
    pub free_blocks_by_length: [u64; HISTOGRAM_BUCKETS],
    /// Free blocks of each shard of [`SHARD_BLOCKS`] blocks, the last one
    /// counting only its blocks below the limit (see
    /// [`Stats::shard_blocks`]). One `u32` per shard: 128 KiB for 2^27
    /// blocks (32768 shards), 1/128 of the bitset it describes.
    pub shard_free_blocks: Vec<u32>,
    /// The fragmentation score in `[0, 1]`: see the type's documentation.
    pub fragmentation: f64,
}

impl Stats {
    /// Blocks of shard `shard` below the limit: [`SHARD_BLOCKS`], less for the
    /// last shard when the limit is inside it, 0 past the last.
    pub fn shard_blocks(&self, shard: usize) -> u64 {
        let first = words::shard_blocks(shard).start;
        self.blocks.saturating_sub(first).min(SHARD_BLOCKS)
    }
}

impl FreeSet {
    /// Statistics of the free space, in one pass over the `acquired` words
    /// (see [`Stats`]). Released blocks are still acquired, so they are not
    /// free here; [`FreeSet::count_released`] counts them.
    ///
    /// Its per-shard counts (4 bytes per 4096 blocks, a 256th of one
    /// bitset) are a new vector: like a std collection, it aborts the
    /// process if they cannot be allocated.
    pub fn stats(&self) -> Stats {
        let stats = stats_of(self.acquired_words(), self.limit());
        debug_assert_eq!(stats.free_blocks, self.count_free());
        stats
    }
}

/// [`Stats`] of a raw `acquired` bitset (bit `b % 64` of word `b / 64` set
/// when block `b` is acquired) of `limit` blocks. Bits at or past the limit
/// are ignored; there are `limit.div_ceil(4096)` shards.
///
/// # Panics
///
/// If `acquired` holds fewer than `limit` bits.
pub fn stats_of(acquired: &[u64], limit: u64) -> Stats {
    assert!(
        limit <= words::blocks_in(acquired.len()),
        "stats_of: {} words hold {} blocks, fewer than the limit {limit}",
        acquired.len(),
        words::blocks_in(acquired.len())
    );
    let shards = words::shards_for(limit) as usize;
    let mut shard_free_blocks = vec![0u32; shards];
    if limit == 0 {
        return assemble(
            0,
            [0; HISTOGRAM_BUCKETS],
            [0; HISTOGRAM_BUCKETS],
            None,
            shard_free_blocks,
        );
    }
    // The words below the limit word are whole; the limit word is masked so
    // that its blocks at or past the limit look acquired, and so do all the
    // blocks after it.
    let limit_word = words::word_of(limit - 1);
    let past_limit = !words::limit_mask(limit, limit_word);
    let extents = scan::extents(
        &acquired[..limit_word],
        acquired[limit_word] | past_limit,
        &mut shard_free_blocks,
    );
    let largest = extents.longest.map(|(start, blocks)| Extent {
        address: start + 1,
        blocks,
    });
    assemble(
        limit,
        extents.counts,
        extents.blocks,
        largest,
        shard_free_blocks,
    )
}

/// The stats from the histograms; the one place the totals and the score are
/// computed, so that the pass and its twin cannot differ in them.
fn assemble(
    blocks: u64,
    extents_by_length: [u64; HISTOGRAM_BUCKETS],
    free_blocks_by_length: [u64; HISTOGRAM_BUCKETS],
    largest_free_extent: Option<Extent>,
    shard_free_blocks: Vec<u32>,
) -> Stats {
    let free_blocks: u64 = free_blocks_by_length.iter().sum();
    let free_extents: u64 = extents_by_length.iter().sum();
    Stats {
        blocks,
        free_blocks,
        free_extents,
        largest_free_extent,
        extents_by_length,
        free_blocks_by_length,
        shard_free_blocks,
        fragmentation: fragmentation(free_blocks, &free_blocks_by_length),
    }
}

/// The score of [`Stats`]: `1 - sum(len * class) / (free * class(free))`.
fn fragmentation(free_blocks: u64, free_blocks_by_length: &[u64; HISTOGRAM_BUCKETS]) -> f64 {
    if free_blocks < 2 {
        return 0.0;
    }
    let top = bucket(free_blocks) as f64;
    let weighted: f64 = free_blocks_by_length
        .iter()
        .enumerate()
        .map(|(class, &blocks)| class as f64 * blocks as f64)
        .sum();
    (1.0 - weighted / (free_blocks as f64 * top)).clamp(0.0, 1.0)
}

/// The histogram bucket of a length (at least 1): `floor(log2(len))`.
#[inline(always)]
fn bucket(len: u64) -> usize {
    debug_assert!(len > 0);
    (63 - len.leading_zeros()) as usize
}

/// The bit-by-bit twin of [`stats_of`]: no kernel, no word trick. Every
/// property test compares the pass with it.
#[cfg(test)]
pub(crate) fn stats_naive(acquired: &[u64], limit: u64) -> Stats {
    assert!(limit <= acquired.len() as u64 * 64);
    let mut counts = [0u64; HISTOGRAM_BUCKETS];
    let mut blocks = [0u64; HISTOGRAM_BUCKETS];
    let mut shards = vec![0u32; limit.div_ceil(SHARD_BLOCKS) as usize];
    let mut largest: Option<Extent> = None;
    let mut run: Option<(u64, u64)> = None; // (first block, length)
    let mut end_run = |run: &mut Option<(u64, u64)>| {
        if let Some((first, len)) = run.take() {
            let mut class = 0;
            while len >> (class + 1) != 0 {
                class += 1;
            }
            counts[class] += 1;
            blocks[class] += len;
            if largest.is_none_or(|l| len > l.blocks) {
                largest = Some(Extent {
                    address: first + 1,
                    blocks: len,
                });
            }
        }
    };
    for block in 0..limit {
        let is_free = (acquired[(block / 64) as usize] >> (block % 64)) & 1 == 0;
        if is_free {
            shards[(block / SHARD_BLOCKS) as usize] += 1;
            run = Some(run.map_or((block, 1), |(first, len)| (first, len + 1)));
        } else {
            end_run(&mut run);
        }
    }
    end_run(&mut run);
    assemble(limit, counts, blocks, largest, shards)
}

#[cfg(test)]
mod tests {
    //! The pass against its bit-by-bit twin on random bitsets of every shape:
    //! limits inside a word, on a word or shard boundary, inside a shard, at
    //! the end of the capacity; fills of short and long runs that cross words
    //! and shards, random words, all free, all acquired; slices longer than
    //! the limit with garbage past it.
    //!
    //! The kernels are dispatched once per process (`FREESET_KERNELS`), so
    //! these tests cover the tier in use; CI-like runs under each tier are
    //! `FREESET_KERNELS=scalar cargo test stats` (and `wide`, `avx2`).

    use super::*;
    use proptest::prelude::*;

    /// Bits from runs: (free?, length) pairs, repeated until `bits` are set.
    fn from_runs(runs: &[(bool, u32)], bits: usize) -> Vec<u64> {
        let mut words = vec![!0u64; bits.div_ceil(64)];
        let (mut at, mut i) = (0usize, 0usize);
        while at < bits && !runs.is_empty() {
            let (free, len) = runs[i % runs.len()];
            let end = (at + len as usize).min(bits);
            if free {
                for b in at..end {
                    words[b / 64] &= !(1 << (b % 64));
                }
            }
            at = end;
            i += 1;
        }
        words
    }

    /// Words of one of several kinds of fill.
    fn fill(words: usize) -> impl Strategy<Value = Vec<u64>> {
        let bits = words * 64;
        let run = |max: u32| (any::<bool>(), 1..=max);
        prop_oneof![
            // Random words, with uniform and almost-uniform ones mixed in.
            prop::collection::vec(
                prop_oneof![
                    3 => any::<u64>(),
                    2 => Just(0u64),
                    2 => Just(!0u64),
                    1 => (0u32..64).prop_map(|s| 1u64 << s),
                    1 => (0u32..64).prop_map(|s| !(1u64 << s)),
                    1 => (1u32..64).prop_map(|s| !0u64 << s),
                    1 => (1u32..64).prop_map(|s| !0u64 >> s),
                ],
                words..=words
            ),
            // Short runs: many extents inside words and across their edges.
            prop::collection::vec(run(8), 1..64).prop_map(move |r| from_runs(&r, bits)),
            // Runs around the length where the largest stops being looked
            // for among the short runs (7) and the long ones start (8).
            prop::collection::vec(run(12), 1..64).prop_map(move |r| from_runs(&r, bits)),
            // Runs up to a few words.
            prop::collection::vec(run(300), 1..64).prop_map(move |r| from_runs(&r, bits)),
            // Runs around the length from which the pass measures runs one
            // by one (16).
            prop::collection::vec(run(40), 1..64).prop_map(move |r| from_runs(&r, bits)),
            // Long runs across words and shards.
            prop::collection::vec(run(10_000), 1..16).prop_map(move |r| from_runs(&r, bits)),
            // Free runs that grow (1 to 16 blocks) with used blocks between
            // them, a few or a shard's worth: the longest changes again and
            // again, at every offset, in one shard or from shard to shard.
            (
                1u32..=16,
                prop::collection::vec(prop_oneof![1u32..8, 1u32..6000], 17)
            )
                .prop_map(move |(first, gaps)| {
                    let mut runs = vec![];
                    for (len, gap) in (first..=16).zip(gaps) {
                        runs.extend([(false, gap), (true, len)]);
                    }
                    runs.push((false, bits as u32));
                    from_runs(&runs, bits)
                }),
            Just(vec![0u64; words]),
            Just(vec![!0u64; words]),
            Just(vec![0xaaaa_aaaa_aaaa_aaaa; words]),
            Just(vec![0x5555_5555_5555_5555; words]),
        ]
    }

    /// A limit in `1..=bits`, often on or next to a word or shard boundary
    /// and at the very end.
    fn limit(bits: u64) -> impl Strategy<Value = u64> {
        let near = move |edge: u64| {
            prop_oneof![Just(edge.saturating_sub(1)), Just(edge), Just(edge + 1)]
                .prop_map(move |l| l.clamp(1, bits))
        };
        prop_oneof![
            2 => 1..=bits,
            1 => Just(bits),
            1 => (1..=bits.div_ceil(64)).prop_flat_map(move |w| near(w * 64)),
            1 => (1..=bits.div_ceil(4096)).prop_flat_map(move |s| near(s * 4096)),
            1 => 1..=bits.min(200),
        ]
    }

    /// Words of 1 to 3 shards (sometimes not whole shards), now and then
    /// up to 12 (long runs across many shards), and a limit.
    fn bitset() -> impl Strategy<Value = (Vec<u64>, u64)> {
        prop_oneof![
            4 => (1usize..=3).prop_map(|s| s * 64),
            4 => 1usize..=200,
            1 => 1usize..=12 * 64,
        ]
        .prop_flat_map(|words| {
            fill(words).prop_flat_map(|w| {
                let bits = w.len() as u64 * 64;
                (Just(w), limit(bits))
            })
        })
    }

    fn check(words: &[u64], limit: u64) -> Result<(), TestCaseError> {
        let fast = stats_of(words, limit);
        let naive = stats_naive(words, limit);
        prop_assert_eq!(&fast, &naive);
        // What the twin does not check of itself: the sums and ranges.
        prop_assert_eq!(
            fast.shard_free_blocks
                .iter()
                .map(|&f| u64::from(f))
                .sum::<u64>(),
            fast.free_blocks
        );
        for (shard, &free) in fast.shard_free_blocks.iter().enumerate() {
            prop_assert!(u64::from(free) <= fast.shard_blocks(shard));
        }
        prop_assert!((0.0..=1.0).contains(&fast.fragmentation));
        Ok(())
    }

    /// The pass runs on the dispatched kernels: under each tier this CPU can
    /// run, it agrees with the bitwise twin.
    #[test]
    fn every_tier_agrees_with_the_bitwise_twin() {
        let _lock = crate::scan::test_dispatch_lock();
        let tiers = crate::kernels::available();
        for &tier in &tiers {
            crate::kernels::force(tier).unwrap();
            let mut runner =
                proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
            runner
                .run(&bitset(), |(words, limit)| check(&words, limit))
                .unwrap_or_else(|e| panic!("tier {tier}: {e}"));
        }
        crate::kernels::force(tiers[0]).unwrap();
    }

    /// Free runs that start before a shard and end at every bit around the
    /// next shard edges and vector edges (the pass skips the vectors inside
    /// a long run it has measured, and must stop at the right one), followed
    /// by short runs that must still be counted, under every tier.
    #[test]
    fn long_runs_end_anywhere() {
        let _lock = crate::scan::test_dispatch_lock();
        let tiers = crate::kernels::available();
        let blocks = 4 * 4096u64;
        let ends = (2 * 4096 - 70..2 * 4096 + 70)
            .chain(3 * 4096 - 530..3 * 4096 - 490)
            .chain(blocks - 40..=blocks);
        for end in ends {
            for start in [0u64, 5, 63, 64, 4090, 4096 + 17] {
                let mut words = vec![!0u64; (blocks / 64) as usize];
                let mut free = |b: u64| words[(b / 64) as usize] &= !(1 << (b % 64));
                (start..end).for_each(&mut free);
                // Short runs after the long one: 1, 2 and 3 blocks.
                [2u64, 5, 6, 9, 10, 11]
                    .iter()
                    .map(|d| end + d)
                    .filter(|&b| b < blocks)
                    .for_each(&mut free);
                let expected = stats_naive(&words, blocks);
                for &tier in &tiers {
                    crate::kernels::force(tier).unwrap();
                    assert_eq!(
                        stats_of(&words, blocks),
                        expected,
                        "tier {tier}, free {start}..{end}"
                    );
                }
            }
        }
        crate::kernels::force(tiers[0]).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn pass_agrees_with_the_bitwise_twin((words, limit) in bitset()) {
            check(&words, limit)?;
        }

        #[test]
        fn bits_past_the_limit_do_not_count((words, limit) in bitset(), junk: u64) {
            let mut noisy = words.clone();
            let limit_word = ((limit - 1) / 64) as usize;
            if limit % 64 != 0 {
                noisy[limit_word] ^= junk << (limit % 64);
            }
            for w in &mut noisy[limit_word + 1..] {
                *w ^= junk;
            }
            prop_assert_eq!(stats_of(&noisy, limit), stats_of(&words, limit));
        }

        #[test]
        fn free_set_stats_match(ones in prop::collection::vec(0u64..3 * 4096, 0..400), limit in 1u64..=3 * 4096) {
            let mut words = vec![0u64; limit.div_ceil(4096) as usize * 64];
            for b in ones.into_iter().filter(|&b| b < limit) {
                words[(b / 64) as usize] |= 1 << (b % 64);
            }
            let set = FreeSet::from_acquired_words(limit, words.clone()).unwrap();
            let stats = set.stats();
            prop_assert_eq!(stats.free_blocks, set.count_free());
            prop_assert_eq!(&stats, &stats_naive(&words, limit));
        }
    }

    #[test]
    fn empty_full_and_tiny() {
        let none = stats_of(&[], 0);
        assert_eq!((none.free_blocks, none.free_extents), (0, 0));
        assert_eq!(none.largest_free_extent, None);
        assert!(none.shard_free_blocks.is_empty());
        assert_eq!(none.fragmentation, 0.0);

        let full = stats_of(&[!0; 64], 4096);
        assert_eq!((full.free_blocks, full.free_extents), (0, 0));
        assert_eq!(full.largest_free_extent, None);
        assert_eq!(full.fragmentation, 0.0);

        let one = stats_of(&[0; 64], 1);
        assert_eq!(
            one.largest_free_extent,
            Some(Extent {
                address: 1,
                blocks: 1
            })
        );
        assert_eq!(one.shard_free_blocks, [1]);
        assert_eq!(one.fragmentation, 0.0);
    }

    #[test]
    fn score_endpoints() {
        // One extent: 0. Every other block free: 1. Two halves: 1 / log2(free).
        let one = stats_of(&vec![0; 1024], 1 << 16);
        assert_eq!(one.fragmentation, 0.0);
        assert_eq!(one.free_extents, 1);
        let dust = stats_of(&vec![0xaaaa_aaaa_aaaa_aaaa; 1024], 1 << 16);
        assert_eq!((dust.free_extents, dust.fragmentation), (1 << 15, 1.0));
        let mut halves = vec![0u64; 1024];
        halves[512] = 1;
        let halves = stats_of(&halves, 1 << 16);
        assert_eq!(halves.free_extents, 2);
        // 32767 and 32768 free blocks: classes 14 and 15, of 15.
        let expected = 1.0 - (14.0 * 32767.0 + 15.0 * 32768.0) / (65535.0 * 15.0);
        assert!((halves.fragmentation - expected).abs() < 1e-12);
    }

    #[test]
    fn short_runs_inside_words_can_be_the_largest() {
        // Runs of 1 to 7 blocks, each inside a word of its own, longest last:
        // the largest never reaches the runs of 8 the second loop counts one
        // by one, so the levels must find each new largest.
        let mut words = vec![!0u64; 64];
        for len in 1..=7u64 {
            let word = 3 * len as usize;
            words[word] &= !(((1u64 << len) - 1) << 20);
        }
        let stats = stats_of(&words, 4096);
        assert_eq!(
            stats.largest_free_extent,
            Some(Extent {
                address: 21 * 64 + 20 + 1,
                blocks: 7
            })
        );
        assert_eq!(stats, stats_naive(&words, 4096));
    }

    /// The longest run is one block longer than the longest before it, and
    /// comes in a later shard (the pass looks for it with the length of
    /// the longest fixed for a shard), at several offsets in a word and a
    /// vector, for every length up to past the one from which runs are
    /// measured one by one.
    #[test]
    fn a_run_one_longer_than_the_longest_wins() {
        let _lock = crate::scan::test_dispatch_lock();
        let tiers = crate::kernels::available();
        let blocks = 3 * 4096u64;
        for len in 1..=20u64 {
            for at in [4096 + 1, 4096 + 60, 2 * 4096 + 250, 2 * 4096 + 511] {
                let mut words = vec![!0u64; (blocks / 64) as usize];
                let mut free = |from: u64, len: u64| {
                    for b in from..from + len {
                        words[(b / 64) as usize] &= !(1 << (b % 64));
                    }
                };
                free(100, len - 1);
                free(300, len - 1);
                free(at, len);
                free(at + len + 1, len);
                let expected = stats_naive(&words, blocks);
                assert_eq!(
                    expected.largest_free_extent,
                    Some(Extent {
                        address: at + 1,
                        blocks: len
                    })
                );
                for &tier in &tiers {
                    crate::kernels::force(tier).unwrap();
                    assert_eq!(
                        stats_of(&words, blocks),
                        expected,
                        "tier {tier}, {len} blocks at {at}"
                    );
                }
            }
        }
        crate::kernels::force(tiers[0]).unwrap();
    }

    #[test]
    fn largest_is_the_lowest_among_equals() {
        // Free runs of 5 at 10, 100 (crossing a word), 5000 (next shard).
        let mut words = vec![!0u64; 128];
        for start in [10u64, 100, 5000] {
            for b in start..start + 5 {
                words[(b / 64) as usize] &= !(1 << (b % 64));
            }
        }
        let stats = stats_of(&words, 8192);
        assert_eq!(
            stats.largest_free_extent,
            Some(Extent {
                address: 11,
                blocks: 5
            })
        );
        assert_eq!(stats.extents_by_length[2], 3);
        assert_eq!(stats, stats_naive(&words, 8192));
    }
}
