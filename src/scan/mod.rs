//! Word-level scan kernels over bitsets of `u64` words.
//!
//! The free set asks a handful of questions of its bitsets: where is the first
//! zero bit in a range, where is the n-th zero bit, how many bits are set, which
//! is the highest set bit. This module answers them a word (or several words) at
//! a time. The functions here are the one place the rest of the crate calls; the
//! tiers underneath (`scalar` today, SIMD tiers beside it later) implement the
//! same contract, and the scalar tier is the oracle every other tier is tested
//! against.
//!
//! Bit `b` of a bitset is bit `b % 64` of word `b / 64`. Ranges are half-open
//! `[from, to)` in bits and must lie inside the slice. Kernels never allocate and
//! never write.

pub mod scalar;

pub use scalar::{count_ones, first_zero, last_one, nth_zero};

/// The name of the kernel tier in use, as `freeset bench` reports it.
pub fn kernels() -> &'static str {
    "scalar"
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
