//! The x86_64 tiers written with `std::arch`: AVX2 (`avx2.rs`, 4 lanes,
//! popcount by nibble table) and AVX-512 (`avx512.rs`, 8 lanes, `vpopcntq`).
//! They exist because `wide` chooses its width at compile time: a default
//! build would leave these units idle. This file holds what they share: the
//! CPU checks and the macro that makes a tier's `#[target_feature]` kernels
//! and its table from its lanes type.
//!
//! Soundness rests on types. The kernels are `#[target_feature] unsafe fn`s
//! whose contract is that the CPU supports their tier; the lanes types are
//! built only by the `unsafe` `Lanes::load` under the same contract, so a
//! value of one is the proof that its instructions run, and its methods are
//! safe. Only [`has_avx2`] and [`has_avx512`] look at the CPU; the dispatch
//! checks them before it stores a kernel.

/// Whether this CPU can run the AVX2 tier: AVX2 and POPCNT.
pub(in crate::scan) fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("popcnt")
}

/// Whether this CPU can run the AVX-512 tier: AVX-512F, VPOPCNTDQ and POPCNT,
/// and AVX2 for the copy kernels it shares with the AVX2 tier.
pub(in crate::scan) fn has_avx512() -> bool {
    has_avx2()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512vpopcntdq")
        && is_x86_feature_detected!("popcnt")
}

/// One tier: its kernels, `#[target_feature]` functions that instantiate
/// the generic algorithms with the tier's lanes, and its [`Table`].
macro_rules! tier {
    ($table:ident, $module:ident, $tier:ident, $lanes:ty, $features:literal) => {
        /// This tier's kernels.
        ///
        #[doc = concat!("Calling one is sound only on a CPU with `", $features, "`.")]
        pub(in crate::scan) const $table: $crate::scan::table::Table = $crate::scan::table::Table {
            tier: $crate::scan::table::Tier::$tier,
            count_ones: $module::count_ones,
            count_ones_by_64: $module::count_ones_by_64,
            first_zero: $module::first_zero,
            nth_zero: $module::nth_zero,
            uniform_run: $module::uniform_run,
            literal_run: $module::literal_run,
            classify: $module::classify,
            // Copies are bound by memory, not by vector width: both tiers
            // take the AVX2 ones (the AVX-512 tier checks for AVX2 too).
            copy_in: $crate::scan::copy::avx2::copy_in,
            copy_out: $crate::scan::copy::avx2::copy_out,
            fill: $crate::scan::copy::avx2::fill,
            copy_literals: $crate::scan::copy::avx2::copy_literals,
            extents: $module::extents,
            zero_run: $module::zero_run,
        };

        // Every kernel below has the same contract, and instantiates the generic
        // algorithm with lanes whose `load` has that very contract.
        mod $module {
            use super::*;

            /// Number of set bits in `words`.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn count_ones(words: &[u64]) -> u64 {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { $crate::scan::generic::count_ones::<$lanes>(words) }
            }

            /// Set bits of each 64-word chunk of `words` into `counts`.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn count_ones_by_64(words: &[u64], counts: &mut [u32]) {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { $crate::scan::generic::count_ones_by_64::<$lanes>(words, counts) }
            }

            /// Index of the first zero bit in `[from, to)`, or `None`.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn first_zero(
                words: &[u64],
                from: usize,
                to: usize,
            ) -> Option<usize> {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { $crate::scan::generic::first_zero::<$lanes>(words, from, to) }
            }

            /// Index of the `n`-th zero bit in `[from, to)`, or how many there are.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn nth_zero(
                words: &[u64],
                from: usize,
                to: usize,
                n: u64,
            ) -> Result<usize, u64> {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { $crate::scan::generic::nth_zero::<$lanes>(words, from, to, n) }
            }

            /// Number of leading words equal to `value`, at most `max`.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn uniform_run(words: &[u64], value: u64, max: usize) -> usize {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { $crate::scan::generic::uniform_run::<$lanes>(words, value, max) }
            }

            /// Which words are 0 and which are all ones, as masks of 64 words each.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn classify(words: &[u64], zeros: &mut [u64], ones: &mut [u64]) {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { $crate::scan::generic::classify::<$lanes>(words, zeros, ones) }
            }

            /// Number of leading words that are neither 0 nor all ones, at most `max`.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn literal_run(words: &[u64], max: usize) -> usize {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { $crate::scan::generic::literal_run::<$lanes>(words, max) }
            }

            /// The free extents of `words` then `tail`, and the zero bits of
            /// each 64-word chunk into `chunks`.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn extents(
                words: &[u64],
                tail: u64,
                chunks: &mut [u32],
            ) -> $crate::scan::extents::Extents {
                // SAFETY: the CPU has this tier's features (this function's
                // contract), which are also those of this tier's `uniform_run`.
                unsafe {
                    $crate::scan::extents::extents::<$lanes>(words, tail, chunks, uniform_run)
                }
            }

            /// The first run of `n` zero bits of `[from, to)`.
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU supports `", $features, "`.")]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn zero_run(
                words: &[u64],
                from: usize,
                to: usize,
                n: usize,
            ) -> Option<usize> {
                // SAFETY: the CPU has this tier's features (this function's contract).
                unsafe { $crate::scan::runs::zero_run::<$lanes>(words, from, to, n) }
            }
        }
    };
}

mod avx2;
mod avx512;

pub(in crate::scan) use avx2::{byte_popcounts, lanes_sum, AVX2};
pub(in crate::scan) use avx512::AVX512;
