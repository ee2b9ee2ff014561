//! Statistics of a free set: how much is free, in how many pieces, where the
//! largest piece is, how the pieces are sized, how full each shard is, and one
//! fragmentation score.
//!
//! What lives here: [`Stats`], [`FreeSet::stats`], [`stats_of`] over raw
//! words, the one-pass scan they share, and (for tests) `stats_naive`, its
//! bit-by-bit twin that every property test compares it with.
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
//! goes shard by shard (64 words, in cache while it looks at them). A shard
//! of uniform words is one `uniform_run` call: all ones end the extent in
//! progress, all zeros extend it. Any other shard takes two loops:
//! - The *levels*, with nothing carried from word to word (so the compiler
//!   vectorizes the loop), of `x`: a word's free bits less its bottom run
//!   (`f & (f + 1)`), which are the runs that start inside the word, the top
//!   one cut at bit 63. With `g1 = x` and `g2m = gm & (gm >> m)`, bit `i` of
//!   `gm` is set when blocks `i..i+m` are all free, so the runs of length at
//!   least `m` are `popcount(starts & gm)` (`starts = x & !(x << 1)`) and
//!   `popcount(gm)` adds up `len - m + 1` over them. Levels 1, 2 and 4 give
//!   the counts and blocks of buckets 0 to 2 (lengths 1 to 7), as
//!   differences of sums kept over the whole pass; the `count_ones` kernel
//!   adds up each row of masks, as popcounts are most of the work.
//! - The *edges*, scalar: each word's bottom run (`trailing_zeros`) ends the
//!   extent in progress, which gets its true length; its top run
//!   (`leading_zeros`) starts the next one, and is taken away from the counts
//!   where the levels counted it cut. The runs of 8 or more inside a word
//!   (`g8` not 0: a few per word at most, rare in scattered free space) are
//!   counted one by one, and are the only ones that can beat the largest
//!   once it is 7 long. Uniform stretches inside the shard are skipped with
//!   `uniform_run`.
//!
//! On `random(0.5)` at 2^27 blocks, where every word is mixed and holds ~16
//! extents, this runs at about 0.7-0.8 GB/s on one core of the development
//! machine (`freeset bench --only stats`); shards of uniform words go at
//! 10-40 GB/s. The kernels offer popcounts of slices, not of registers, so
//! each counted mask is stored and read back: a `stats` kernel in the SIMD
//! tiers would be the next step.

use crate::scan;
use crate::set::{FreeSet, SHARD_BLOCKS, SHARD_WORDS};

/// Buckets of the extent histograms: bucket `k` holds lengths in
/// `[2^k, 2^(k+1))`, and a length is a `u64`.
pub const HISTOGRAM_BUCKETS: usize = 64;

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
        let first = shard as u64 * SHARD_BLOCKS;
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
        limit <= acquired.len() as u64 * 64,
        "stats_of: {} words hold {} blocks, fewer than the limit {limit}",
        acquired.len(),
        acquired.len() as u64 * 64
    );
    let mut pass = Box::<Pass>::default();
    let shards = limit.div_ceil(SHARD_BLOCKS) as usize;
    let mut shard_free_blocks = Vec::with_capacity(shards);
    if limit > 0 {
        // Words below `limit_word` are whole; the limit word is masked so
        // that its blocks at or past the limit look acquired.
        let limit_word = ((limit - 1) / 64) as usize;
        let past_limit = match limit % 64 {
            0 => 0,
            bits => !0 << bits,
        };
        for shard in 0..shards {
            let first = shard * SHARD_WORDS;
            let end = (first + SHARD_WORDS).min(limit_word);
            let mut free = pass.words(&acquired[first..end], first);
            if shard + 1 == shards {
                free += pass.word(limit_word, acquired[limit_word] | past_limit);
            }
            shard_free_blocks.push(free);
        }
    }
    pass.finish(limit, shard_free_blocks)
}

/// The state of the pass between shards, and the rows of masks of the shard
/// being counted.
struct Pass {
    /// Length of the extent that reaches the end of the words seen so far.
    open_len: u64,
    /// Its first block. Always `open_start + open_len == 64 * words seen`, so
    /// that it is right without a branch when `open_len` is 0.
    open_start: u64,
    /// What the scalar path counts, by bucket: the extents that touch a
    /// word's end, added with their true length; the top runs the levels
    /// counted cut at their word's end, taken away; and the runs of 8 or
    /// more inside words, one by one.
    edge_counts: [i64; HISTOGRAM_BUCKETS],
    edge_blocks: [i64; HISTOGRAM_BUCKETS],
    /// Sums over the words of `popcount(x)` (`ones1`), `popcount(g2)`,
    /// `popcount(g4)` (`ones2`, `ones4`), and of the runs of length at least
    /// 2 and 4 (`runs2`, `runs4`).
    ones1: u64,
    ones2: u64,
    ones4: u64,
    runs2: u64,
    runs4: u64,
    /// Runs of 8 or more the scalar path counted, and their blocks: taken
    /// away from the levels' runs of 4 or more to leave bucket 2.
    long_runs: u64,
    long_blocks: u64,
    /// Largest extent so far: length and first block.
    best_len: u64,
    best_start: u64,
    /// The masks of the shard's words, one row per kind (see [`Row`]).
    rows: [[u64; SHARD_WORDS]; ROWS],
}

/// The rows of masks the first loop leaves: `x` itself and `g8` (read back
/// by the second loop), and the four the kernel counts: the starts of runs
/// of length 2 and 4 or more, and the levels `g2` and `g4`.
struct Row;
impl Row {
    const X: usize = 0;
    const G8: usize = 1;
    const COUNTED: [usize; 4] = [2, 3, 4, 5];
    const S2: usize = 2;
    const S4: usize = 3;
    const G2: usize = 4;
    const G4: usize = 5;
}
const ROWS: usize = 6;

impl Default for Pass {
    fn default() -> Self {
        Pass {
            open_len: 0,
            open_start: 0,
            edge_counts: [0; HISTOGRAM_BUCKETS],
            edge_blocks: [0; HISTOGRAM_BUCKETS],
            ones1: 0,
            ones2: 0,
            ones4: 0,
            runs2: 0,
            runs4: 0,
            long_runs: 0,
            long_blocks: 0,
            best_len: 0,
            best_start: 0,
            rows: [[0; SHARD_WORDS]; ROWS],
        }
    }
}

impl Pass {
    /// Whole words of one shard (at most [`SHARD_WORDS`]), the first of
    /// which is word `first` of the bitset; returns their free blocks.
    ///
    /// Two loops over the words, both in cache: the first computes every
    /// word's masks with nothing carried from word to word (so the compiler
    /// vectorizes it) and the kernel counts them; the second carries the
    /// extents across word ends, scalar, corrects what the first saw cut,
    /// and counts the rare long runs one by one.
    fn words(&mut self, words: &[u64], first: usize) -> u32 {
        let n = words.len();
        debug_assert!(n <= SHARD_WORDS);
        let Some(&w0) = words.first() else {
            return 0;
        };
        if (w0 == 0 || w0 == !0) && scan::uniform_run(words, w0, n) == n {
            return self.uniform(w0, n, first);
        }
        self.levels(words);
        let free = 64 * n as u64 - scan::count_ones(words);
        let bottoms = self.edges(words, first);
        // Free bits minus the bottom runs: the bits the levels looked at.
        self.ones1 += free - bottoms;
        let [runs2, runs4, ones2, ones4] =
            Row::COUNTED.map(|row| scan::count_ones(&self.rows[row][..n]));
        debug_assert_eq!(
            [Row::S2, Row::S4, Row::G2, Row::G4],
            Row::COUNTED,
            "the order above"
        );
        self.runs2 += runs2;
        self.runs4 += runs4;
        self.ones2 += ones2;
        self.ones4 += ones4;
        free as u32
    }

    /// `n` words all equal to `w` (0 or all ones), the first being word
    /// `first`; returns their free blocks.
    fn uniform(&mut self, w: u64, n: usize, first: usize) -> u32 {
        if w == 0 {
            // The extent in progress (or a new one, here) goes on.
            self.open_len += 64 * n as u64;
            64 * n as u32
        } else {
            self.close(self.open_len, self.open_start);
            self.open_len = 0;
            self.open_start = (first + n) as u64 * 64;
            0
        }
    }

    /// The first loop: for every word, the free bits less its bottom run
    /// (`x`: the runs that start inside the word, the top one cut at bit 63),
    /// the starts of its runs of 2 and 4 or more, and its levels, into the
    /// rows.
    fn levels(&mut self, words: &[u64]) {
        let [x_row, g8_row, s2_row, s4_row, g2_row, g4_row] = &mut self.rows;
        for (j, &w) in words.iter().enumerate() {
            let free = !w;
            // `f & (f + 1)` clears the trailing ones: the bottom run.
            let x = free & free.wrapping_add(1);
            let starts = x & !(x << 1);
            let g2 = x & (x >> 1);
            let g4 = g2 & (g2 >> 2);
            x_row[j] = x;
            g8_row[j] = g4 & (g4 >> 4);
            s2_row[j] = starts & g2;
            s4_row[j] = starts & g4;
            g2_row[j] = g2;
            g4_row[j] = g4;
        }
    }

    /// The second loop: closes the extent in progress at each word's bottom
    /// run (or extends it over uniform words), opens one at each top run,
    /// takes away the top runs the levels counted cut, counts the runs of 8
    /// or more one by one, and keeps the largest. Returns the free blocks of
    /// the bottom runs.
    fn edges(&mut self, words: &[u64], first: usize) -> u64 {
        let (mut open_len, mut open_start) = (self.open_len, self.open_start);
        let mut bottoms = 0u64;
        let mut i = 0;
        while i < words.len() {
            let w = words[i];
            let base = (first + i) as u64 * 64;
            if w == 0 || w == !0 {
                let run = scan::uniform_run(&words[i..], w, words.len() - i);
                if w == 0 {
                    // A free word is all bottom run: the levels saw none of it.
                    bottoms += 64 * run as u64;
                }
                (self.open_len, self.open_start) = (open_len, open_start);
                self.uniform(w, run, first + i);
                (open_len, open_start) = (self.open_len, self.open_start);
                i += run;
                continue;
            }
            // Both in 0..=63: the word has an acquired bit, which separates them.
            let bottom = w.trailing_zeros();
            let top = w.leading_zeros();
            bottoms += u64::from(bottom);
            // The bottom run ends the open extent (or is one of its own, which
            // starts at `base` = `open_start` when `open_len` is 0).
            let closed = open_len + u64::from(bottom);
            self.add(closed, 1);
            self.largest(closed, open_start);
            // The top run starts the next one; the levels saw it cut.
            self.add(u64::from(top), -1);
            open_len = u64::from(top);
            open_start = base + 64 - u64::from(top);

            let g8 = self.rows[Row::G8][i];
            if g8 != 0 {
                // Runs of 8 or more: a few per word at most, and rare where
                // the free space is scattered.
                self.long(self.rows[Row::X][i], g8, base);
            }
            if self.best_len < 7 {
                // Until the largest is 7 long, a shorter run can beat it:
                // one of `m = best_len + 1` is present exactly when
                // `g_p & (g_p >> (m - p))` has a bit set (`p = 2^level <= m
                // < 2p`). Past that, only the runs of 8 or more can, and
                // `long` sees each of them.
                let x = self.rows[Row::X][i];
                let m = self.best_len as u32 + 1;
                let level = 31 - m.leading_zeros();
                let gp = match level {
                    0 => x,
                    1 => self.rows[Row::G2][i],
                    _ => self.rows[Row::G4][i],
                };
                let inner = x & (!0u64 >> top);
                if gp & (gp >> (m - (1 << level))) != 0 && inner != 0 {
                    let (len, at) = longest_run(inner);
                    self.largest(u64::from(len), base + u64::from(at));
                }
            }
            i += 1;
        }
        (self.open_len, self.open_start) = (open_len, open_start);
        bottoms
    }

    /// The runs of 8 or more of a word's `x` (`g8` not 0), one by one. The
    /// top run counts with its cut length, as in the levels: the second loop
    /// takes it away again when its extent is closed whole.
    #[inline(never)]
    fn long(&mut self, x: u64, g8: u64, base: u64) {
        let mut starts = x & !(x << 1) & g8;
        while starts != 0 {
            let at = starts.trailing_zeros();
            let len = u64::from((!(x >> at)).trailing_zeros());
            self.add(len, 1);
            self.long_runs += 1;
            self.long_blocks += len;
            self.largest(len, base + u64::from(at));
            starts &= starts - 1;
        }
    }

    /// An extent ends: into the scalar counts, and maybe the largest.
    fn close(&mut self, len: u64, start: u64) {
        self.add(len, 1);
        self.largest(len, start);
    }

    /// Adds (or takes away, `sign` -1) a run of `len` blocks to the scalar
    /// counts, without a branch; a length of 0 changes nothing.
    #[inline(always)]
    fn add(&mut self, len: u64, sign: i64) {
        let bucket = bucket(len | 1);
        self.edge_counts[bucket] += sign * i64::from(len != 0);
        self.edge_blocks[bucket] += sign * len as i64;
    }

    /// The largest extent so far, or the one given if it is longer.
    #[inline(always)]
    fn largest(&mut self, len: u64, start: u64) {
        if len > self.best_len {
            self.best_len = len;
            self.best_start = start;
        }
    }

    /// One word of any kind (the limit word); returns its free blocks.
    fn word(&mut self, index: usize, w: u64) -> u32 {
        self.words(&[w], index)
    }

    fn finish(mut self, limit: u64, shard_free_blocks: Vec<u32>) -> Stats {
        self.close(self.open_len, self.open_start);
        // The levels' runs of at least 1, 2 and 4 blocks, and the blocks in
        // them: each run of length L adds L to `ones1` and L - 1 to `ones2`
        // (so the runs are `ones1 - ones2`), and `popcount(g_m)` adds up
        // `L - m + 1` over the runs of at least m.
        let runs1 = self.ones1 - self.ones2;
        let in_runs1 = self.ones1;
        let in_runs2 = self.ones2 + self.runs2;
        let in_runs4 = self.ones4 + 3 * self.runs4;
        let levels: [(u64, u64); 3] = [
            (runs1 - self.runs2, in_runs1 - in_runs2),
            (self.runs2 - self.runs4, in_runs2 - in_runs4),
            // Runs of 8 or more are in the scalar counts, by their bucket.
            (self.runs4 - self.long_runs, in_runs4 - self.long_blocks),
        ];
        let mut counts = [0u64; HISTOGRAM_BUCKETS];
        let mut blocks = [0u64; HISTOGRAM_BUCKETS];
        for k in 0..HISTOGRAM_BUCKETS {
            let (runs, in_runs) = levels.get(k).copied().unwrap_or((0, 0));
            // The scalar path never takes away more than the levels counted:
            // every top run taken away was counted by them.
            counts[k] = runs.wrapping_add_signed(self.edge_counts[k]);
            blocks[k] = in_runs.wrapping_add_signed(self.edge_blocks[k]);
        }
        let largest = (self.best_len > 0).then_some(Extent {
            address: self.best_start + 1,
            blocks: self.best_len,
        });
        assemble(limit, counts, blocks, largest, shard_free_blocks)
    }
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

/// The longest run of ones in `x` (not 0) and where the first such run starts,
/// by binary search over the run lengths (`h(m)`: bit `i` set when bits
/// `i..i+m` all are; `h(a + b) = h(a) & (h(b) >> a)`).
fn longest_run(x: u64) -> (u32, u32) {
    debug_assert!(x != 0);
    let mut levels = [x; 7];
    for k in 1..7 {
        levels[k] = levels[k - 1] & (levels[k - 1] >> (1 << (k - 1)));
    }
    let (mut len, mut at) = (0u32, !0u64);
    for k in (0..7).rev() {
        let candidate = at & levels[k].checked_shr(len).unwrap_or(0);
        if candidate != 0 {
            at = candidate;
            len += 1 << k;
        }
    }
    // The lowest bit of `h(len)` starts a run of exactly `len` (a longer one
    // would make `h(len + 1)` non-zero), and it is the first.
    (len, at.trailing_zeros())
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
            // Long runs across words and shards.
            prop::collection::vec(run(10_000), 1..16).prop_map(move |r| from_runs(&r, bits)),
            Just(vec![0u64; words]),
            Just(vec![!0u64; words]),
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

    /// Words of 1 to 3 shards (sometimes not whole shards), and a limit.
    fn bitset() -> impl Strategy<Value = (Vec<u64>, u64)> {
        prop_oneof![(1usize..=3).prop_map(|s| s * 64), 1usize..=200,].prop_flat_map(|words| {
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
    fn longest_run_finds_the_first_longest() {
        assert_eq!(longest_run(1), (1, 0));
        assert_eq!(longest_run(!0), (64, 0));
        assert_eq!(longest_run(0b0111_0111_0011), (3, 4));
        assert_eq!(longest_run(!0 << 1), (63, 1));
        assert_eq!(longest_run(0x8000_0000_0000_0000), (1, 63));
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
