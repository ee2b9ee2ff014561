//! Word-level scan kernels over bitsets of `u64` words.
//!
//! The free set asks a handful of questions of its bitsets: where is the first
//! zero bit in a range, where is the n-th zero bit, how many bits are set, which
//! is the highest set bit. This module answers them a word (or several words) at
//! a time. The functions here are the one place the rest of the crate calls; the
//! tiers underneath implement the same contract: `scalar` (plain `u64`, the
//! oracle every other tier is tested against), `wide` (portable SIMD whose width
//! is fixed when the crate is compiled) and, on x86_64, `avx2` and `avx512`
//! (`std::arch`, chosen at run time). [`active`] is the one place that chooses.
//!
//! Bit `b` of a bitset is bit `b % 64` of word `b / 64`. Ranges are half-open
//! `[from, to)` in bits and must lie inside the slice. Kernels never allocate and
//! never write.

mod generic;
mod portable;
pub mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::sync::OnceLock;

/// One tier's kernels. Every tier answers exactly as [`scalar`] does.
#[derive(Debug, Clone, Copy)]
pub struct Kernels {
    /// `scalar`, `wide`, `avx2` or `avx512`.
    pub name: &'static str,
    /// Number of set bits.
    pub count_ones: fn(&[u64]) -> u64,
    /// Number of set bits of each 64-word chunk.
    pub count_ones_by_64: fn(&[u64], &mut [u32]),
    /// First zero bit in `[from, to)`.
    pub first_zero: fn(&[u64], usize, usize) -> Option<usize>,
    /// `n`-th zero bit in `[from, to)`, or how many there are.
    pub nth_zero: fn(&[u64], usize, usize, u64) -> Result<usize, u64>,
    /// Leading words equal to a value, at most `max`.
    pub uniform_run: fn(&[u64], u64, usize) -> usize,
    /// Leading words that are neither 0 nor all ones, at most `max`.
    pub literal_run: fn(&[u64], usize) -> usize,
}

/// The environment variable that forces a tier: `scalar`, `wide`, `avx2` or
/// `avx512`. A tier this CPU cannot run falls back to the best one below it.
pub const KERNELS_VAR: &str = "FREESET_KERNELS";

const SCALAR: Kernels = Kernels {
    name: "scalar",
    count_ones: scalar::count_ones,
    count_ones_by_64: scalar::count_ones_by_64,
    first_zero: scalar::first_zero,
    nth_zero: scalar::nth_zero,
    uniform_run: scalar::uniform_run,
    literal_run: scalar::literal_run,
};

/// The `wide` tier. On x86_64 `wide` is SSE2 in a default build, which has
/// no 64-bit lane compare, and its emulated one loses to plain `u64` code on
/// the codec's run scans (`FREESET_KERNELS=wide freeset bench`:
/// `encode_random` 8.5 GB/s against 12.3 for scalar), so there the tier keeps
/// the scalar run kernels; its searches still win (`reserve_100k` 11.4 µs
/// against 30.5). Elsewhere (NEON) it is `wide` throughout.
const WIDE: Kernels = Kernels {
    name: "wide",
    count_ones: portable::count_ones,
    count_ones_by_64: portable::count_ones_by_64,
    first_zero: portable::first_zero,
    nth_zero: portable::nth_zero,
    uniform_run: if cfg!(target_arch = "x86_64") {
        scalar::uniform_run
    } else {
        portable::uniform_run
    },
    literal_run: if cfg!(target_arch = "x86_64") {
        scalar::literal_run
    } else {
        portable::literal_run
    },
};

/// Every tier this CPU can run, fastest first; the scalar oracle is last.
pub fn available() -> Vec<Kernels> {
    let mut tiers = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        tiers.extend(x86::avx512());
        tiers.extend(x86::avx2());
    }
    tiers.push(WIDE);
    tiers.push(SCALAR);
    tiers
}

/// The tier in use: chosen once, at the first call, from the CPU (and from
/// `FREESET_KERNELS` if set). This is the only place that chooses.
pub fn active() -> &'static Kernels {
    static ACTIVE: OnceLock<Kernels> = OnceLock::new();
    ACTIVE.get_or_init(|| {
        let tiers = available();
        let order = ["avx512", "avx2", "wide", "scalar"];
        let forced = std::env::var(KERNELS_VAR).ok();
        let start = forced
            .as_deref()
            .and_then(|f| order.iter().position(|&t| t == f))
            .unwrap_or(0);
        order[start..]
            .iter()
            .find_map(|name| tiers.iter().find(|t| t.name == *name))
            .copied()
            .unwrap_or(SCALAR)
    })
}

/// Number of set bits in `words`.
#[inline]
pub fn count_ones(words: &[u64]) -> u64 {
    (active().count_ones)(words)
}

/// Number of set bits of each 64-word chunk of `words` (a shard, to the free
/// set), into `counts`; `words.len()` must be `64 * counts.len()`.
#[inline]
pub fn count_ones_by_64(words: &[u64], counts: &mut [u32]) {
    (active().count_ones_by_64)(words, counts)
}

/// Index of the first zero bit in `[from, to)`, or `None`.
#[inline]
pub fn first_zero(words: &[u64], from: usize, to: usize) -> Option<usize> {
    (active().first_zero)(words, from, to)
}

/// Index of the `n`-th (1-based) zero bit in `[from, to)`; `Err` carries how
/// many zero bits the range holds when it holds fewer.
#[inline]
pub fn nth_zero(words: &[u64], from: usize, to: usize, n: u64) -> Result<usize, u64> {
    (active().nth_zero)(words, from, to, n)
}

/// Number of leading words of `words` equal to `value`, at most `max`.
#[inline]
pub fn uniform_run(words: &[u64], value: u64, max: usize) -> usize {
    (active().uniform_run)(words, value, max)
}

/// Number of leading words that are neither 0 nor all ones, at most `max`.
#[inline]
pub fn literal_run(words: &[u64], max: usize) -> usize {
    (active().literal_run)(words, max)
}

/// Index of the highest set bit in `words`, or `None`. Scalar in every tier:
/// it only ever runs over a shard or a summary (a few hundred words at most).
pub use scalar::last_one;

/// The name of the kernel tier in use, as `freeset bench` reports it.
pub fn kernels() -> &'static str {
    active().name
}

/// The CPU features the dispatch looks at, and whether this CPU has them.
pub fn cpu_features() -> Vec<(&'static str, bool)> {
    #[cfg(target_arch = "x86_64")]
    {
        vec![
            ("sse2", std::arch::is_x86_feature_detected!("sse2")),
            ("popcnt", std::arch::is_x86_feature_detected!("popcnt")),
            ("bmi2", std::arch::is_x86_feature_detected!("bmi2")),
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
            (
                "avx512vpopcntdq",
                std::arch::is_x86_feature_detected!("avx512vpopcntdq"),
            ),
        ]
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    //! Every tier against the scalar oracle, on random words of every density,
    //! every length (so vector loops meet every remainder) and every range
    //! offset (ranges that start and end inside words, on word and vector
    //! boundaries, at the end of the slice).

    use super::*;
    use proptest::prelude::*;

    fn words_strategy() -> impl Strategy<Value = Vec<u64>> {
        prop::collection::vec(
            prop_oneof![
                3 => Just(!0u64),
                2 => Just(0u64),
                2 => any::<u64>(),
                1 => (0u32..64).prop_map(|s| !(1u64 << s)),
                1 => (0u32..64).prop_map(|s| 1u64 << s),
            ],
            0..150,
        )
    }

    fn range(bits: usize, a: prop::sample::Index, b: prop::sample::Index) -> (usize, usize) {
        let (x, y) = (a.index(bits + 1), b.index(bits + 1));
        (x.min(y), x.max(y))
    }

    #[test]
    fn every_tier_of_this_cpu_is_listed() {
        let names: Vec<&str> = available().iter().map(|t| t.name).collect();
        assert_eq!(names.last(), Some(&"scalar"));
        assert!(names.contains(&"wide"));
        assert!(names.contains(&active().name));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn tiers_agree_on_first_zero(words in words_strategy(), a: prop::sample::Index, b: prop::sample::Index) {
            let (from, to) = range(words.len() * 64, a, b);
            let expected = scalar::first_zero(&words, from, to);
            for tier in available() {
                prop_assert_eq!((tier.first_zero)(&words, from, to), expected, "tier {}", tier.name);
            }
        }

        #[test]
        fn tiers_agree_on_nth_zero(words in words_strategy(), a: prop::sample::Index, b: prop::sample::Index, n in prop_oneof![1u64..70, 1u64..5000]) {
            let (from, to) = range(words.len() * 64, a, b);
            let expected = scalar::nth_zero(&words, from, to, n);
            for tier in available() {
                prop_assert_eq!((tier.nth_zero)(&words, from, to, n), expected, "tier {}", tier.name);
            }
        }

        #[test]
        fn tiers_agree_on_counts_and_runs(words in words_strategy(), skip: prop::sample::Index, max in 0usize..200) {
            let words = &words[skip.index(words.len() + 1)..];
            let chunks = words.len() / 64;
            let mut expected = vec![0u32; chunks];
            for (count, chunk) in expected.iter_mut().zip(words.chunks_exact(64)) {
                *count = chunk.iter().map(|w| w.count_ones()).sum();
            }
            // The portable run kernels, which the `wide` tier does not use on x86_64.
            prop_assert_eq!(portable::literal_run(words, max), scalar::literal_run(words, max));
            for value in [0, !0] {
                prop_assert_eq!(
                    portable::uniform_run(words, value, max),
                    scalar::uniform_run(words, value, max)
                );
            }
            for tier in available() {
                prop_assert_eq!((tier.count_ones)(words), scalar::count_ones(words), "tier {}", tier.name);
                let mut counts = vec![7u32; chunks];
                (tier.count_ones_by_64)(&words[..chunks * 64], &mut counts);
                prop_assert_eq!(&counts, &expected, "tier {}", tier.name);
                prop_assert_eq!((tier.literal_run)(words, max), scalar::literal_run(words, max), "tier {}", tier.name);
                for value in [0, !0, words.first().copied().unwrap_or(5)] {
                    prop_assert_eq!(
                        (tier.uniform_run)(words, value, max),
                        scalar::uniform_run(words, value, max),
                        "tier {}", tier.name
                    );
                }
            }
        }
    }

    #[test]
    fn tiers_agree_exhaustively_on_small_ranges() {
        // 20 words: room for two AVX-512 vectors plus remainders.
        let patterns: [u64; 4] = [!0, 0, 0x8000_0000_0000_0000, !1];
        for pattern in 0..64u32 {
            let words: Vec<u64> = (0..20)
                .map(|i| patterns[((pattern >> (i % 6)) & 3) as usize])
                .collect();
            for from in (0..=1280).step_by(7) {
                for to in (from..=1280).step_by(13) {
                    let first = scalar::first_zero(&words, from, to);
                    for tier in available() {
                        assert_eq!(
                            (tier.first_zero)(&words, from, to),
                            first,
                            "tier {}",
                            tier.name
                        );
                        for n in [1, 2, 64, 65, 300] {
                            assert_eq!(
                                (tier.nth_zero)(&words, from, to, n),
                                scalar::nth_zero(&words, from, to, n),
                                "tier {}",
                                tier.name
                            );
                        }
                    }
                }
            }
        }
    }
}
