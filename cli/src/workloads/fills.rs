//! The fills the workloads start from: the seeded generator, the random and
//! run patterns, and the [`Fill`] of each workload (the bits the peers of
//! `bench --peers` start from too). Bitsets are built directly, never through
//! millions of acquires.

use freeset::FreeSet;

use super::spec::{Name, Sizes};

/// A seeded generator (splitmix64): small, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A word whose bits are each set with probability `p`, independently.
    pub fn word_with_density(&mut self, p: f64) -> u64 {
        if p == 0.5 {
            return self.next_u64();
        }
        // Each bit compares a 16-bit draw with p; one 64-bit draw serves 4 bits.
        let threshold = (p * 65536.0).round() as u64;
        let mut word = 0u64;
        for group in 0..16 {
            let r = self.next_u64();
            for i in 0..4 {
                let bit = u64::from((r >> (16 * i)) & 0xffff < threshold);
                word |= bit << (group * 4 + i);
            }
        }
        word
    }
}

/// `random(p)`: each of the first `blocks` bits set with probability `p`.
pub fn fill_random(words: &mut [u64], blocks: u64, p: f64, rng: &mut Rng) {
    debug_assert!(blocks <= words.len() as u64 * 64);
    let full = (blocks / 64) as usize;
    for w in &mut words[..full] {
        *w = rng.word_with_density(p);
    }
    if !blocks.is_multiple_of(64) {
        words[full] = rng.word_with_density(p) & ((1 << (blocks % 64)) - 1);
    }
}

/// `runs`: until the words are full, a stretch of uniform words (all zeros or
/// all ones, equal chance) of length uniform in 0..=127, then a stretch of
/// random literal words (never 0, never all ones) of length uniform in 0..=15.
pub fn fill_runs(words: &mut [u64], rng: &mut Rng) {
    let mut pos = 0;
    while pos < words.len() {
        let uniform = if rng.next_u64() & 1 == 1 { !0 } else { 0 };
        let run = (rng.below(128) as usize).min(words.len() - pos);
        words[pos..pos + run].fill(uniform);
        pos += run;
        let literals = (rng.below(16) as usize).min(words.len() - pos);
        for w in &mut words[pos..pos + literals] {
            *w = loop {
                let candidate = rng.next_u64();
                if candidate != 0 && candidate != !0 {
                    break candidate;
                }
            };
        }
        pos += literals;
    }
}

/// The bits a workload starts from: its `acquired` and `released` bitsets
/// (`released` all zero but for `highest_released`), `capacity / 64` words
/// each. Other implementations (the peers of `freeset bench --peers`) are
/// built from the same `Fill`, so that they start from the same bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// Blocks of the set (its limit).
    pub blocks: u64,
    /// Set bit = block acquired (released blocks included).
    pub acquired: Vec<u64>,
    /// Set bit = block released while the checkpoint was durable.
    pub released: Vec<u64>,
}

impl Fill {
    /// Blocks below the limit that are not acquired.
    pub fn count_free(&self) -> u64 {
        self.blocks
            - self
                .acquired
                .iter()
                .map(|w| u64::from(w.count_ones()))
                .sum::<u64>()
    }
}

/// The fill of a workload that starts from bitsets (not `checkpoint_10pct`,
/// built by releases, nor `memcpy`), drawn exactly as [`prepare`] draws it.
pub fn fill(name: Name, sizes: Sizes, seed: u64) -> Option<Fill> {
    // `acquire_extent` runs on `acquire_fragmented`'s bits.
    let drawn = match name {
        Name::AcquireExtent => Name::AcquireFragmented,
        other => other,
    };
    let mut rng = Rng::new(seed ^ drawn as u64);
    let blocks = name.blocks(sizes);
    let mut acquired = vec![0u64; words_of(blocks)];
    match name {
        Name::AcquireFill
        | Name::AcquireInterleaved
        | Name::AcquireParallel
        | Name::AcquireParallelMutex => {}
        Name::AcquireFragmented
        | Name::AcquireExtent
        | Name::EncodeRandom
        | Name::OpenRandom
        | Name::CountFree
        | Name::Stats => fill_random(&mut acquired, blocks, 0.5, &mut rng),
        Name::Reserve100k => fill_random(&mut acquired, blocks, 0.9, &mut rng),
        Name::EncodeRuns | Name::OpenRuns => {
            // `runs` covers whole words: L is a multiple of 64.
            fill_runs(&mut acquired[..(blocks / 64) as usize], &mut rng);
        }
        Name::HighestAcquired | Name::HighestReleased => {
            fill_random(&mut acquired, 64_000.min(blocks), 0.5, &mut rng);
        }
        Name::Checkpoint10pct | Name::Memcpy => return None,
    }
    // Zeroed by the allocator (fresh pages at L): cheap where nothing is released.
    let mut released = vec![0u64; acquired.len()];
    if name == Name::HighestReleased {
        // About half of the acquired blocks, drawn after the acquired ones.
        let used = 64_000.min(blocks).div_ceil(64) as usize;
        for (r, a) in released[..used].iter_mut().zip(&acquired[..used]) {
            *r = a & rng.next_u64();
        }
    }
    Some(Fill {
        blocks,
        acquired,
        released,
    })
}

/// A set holding `fill`: its acquired words, then its released blocks
/// released one by one while the checkpoint is durable.
pub fn set_of(fill: Fill) -> FreeSet {
    let Fill {
        blocks,
        acquired,
        released,
    } = fill;
    let mut set = FreeSet::from_acquired_words(blocks, acquired).expect("words match the capacity");
    for (i, &word) in released.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let address = i as u64 * 64 + u64::from(bits.trailing_zeros()) + 1;
            set.release(address).expect("released blocks are acquired");
            bits &= bits - 1;
        }
    }
    set
}

pub(super) fn words_of(blocks: u64) -> usize {
    blocks.div_ceil(freeset::SHARD_BLOCKS) as usize * 64
}

#[cfg(test)]
/// A set of `blocks` blocks with `random(p)` acquired.
pub fn random_set(blocks: u64, p: f64, rng: &mut Rng) -> FreeSet {
    let mut words = vec![0u64; words_of(blocks)];
    fill_random(&mut words, blocks, p, rng);
    FreeSet::from_acquired_words(blocks, words).expect("words match the capacity")
}

#[cfg(test)]
/// A set of `blocks` blocks (a multiple of 64) with the `runs` pattern acquired.
pub fn runs_set(blocks: u64, rng: &mut Rng) -> FreeSet {
    let mut words = vec![0u64; words_of(blocks)];
    let used = (blocks / 64) as usize;
    fill_runs(&mut words[..used], rng);
    FreeSet::from_acquired_words(blocks, words).expect("words match the capacity")
}
