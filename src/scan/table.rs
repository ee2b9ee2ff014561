//! What the tiers and the dispatch share, and nothing else: the [`Tier`]
//! names, their errors, the list of kernels (written once, in
//! [`for_each_kernel`]) and the [`Table`] of one tier's kernels. It imports
//! no tier and no dispatch, so that both can import it.
//!
//! A table holds `unsafe fn` pointers: calling one is sound only on a CPU that
//! supports its tier. Tables are built by the tiers and handed out only by
//! the dispatch's `table`, which checks the CPU.

use std::fmt;
use std::str::FromStr;

/// A tier of kernels. Every tier gives exactly the answers of `Scalar`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Plain `u64` code: the oracle every other tier is tested against. Runs
    /// everywhere.
    Scalar,
    /// Portable SIMD (the `wide` crate), as wide as the crate is compiled for:
    /// SSE2 in a default x86_64 build, NEON on aarch64. Runs everywhere.
    Wide,
    /// x86_64 AVX2 and POPCNT, chosen at run time.
    Avx2,
    /// x86_64 AVX-512F, AVX-512 VPOPCNTDQ and POPCNT, chosen at run time.
    Avx512,
}

impl Tier {
    /// Every tier, fastest first.
    pub(crate) const ALL: [Tier; 4] = [Tier::Avx512, Tier::Avx2, Tier::Wide, Tier::Scalar];

    /// The tier's name: `scalar`, `wide`, `avx2` or `avx512` (what
    /// [`FromStr`] parses and [`Display`](fmt::Display) prints).
    pub fn name(self) -> &'static str {
        match self {
            Tier::Scalar => "scalar",
            Tier::Wide => "wide",
            Tier::Avx2 => "avx2",
            Tier::Avx512 => "avx512",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Tier {
    type Err = UnknownTier;

    /// Parses a tier's [name](Tier::name), ignoring ASCII case.
    fn from_str(s: &str) -> Result<Tier, UnknownTier> {
        Tier::ALL
            .into_iter()
            .find(|tier| tier.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownTier(s.to_owned()))
    }
}

/// A string that names no [`Tier`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kernel tier {0:?}: expected scalar, wide, avx2 or avx512")]
pub struct UnknownTier(pub(super) String);

/// [`force`](super::force) was asked for a tier this CPU cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the CPU cannot run the {tier} kernels")]
pub struct TierUnavailable {
    /// The tier asked for.
    pub tier: Tier,
}

/// Calls `$then!` with the list of kernels: every kernel's doc, name and
/// signature, written here once. The [`Table`] below and the dispatch's slots
/// and functions are both made from it.
macro_rules! for_each_kernel {
    ($then:ident) => {
        $then! {
        /// Number of set bits in `words`.
        fn count_ones(words: &[u64]) -> u64;
        /// Number of set bits of each 64-word chunk of `words` (a shard, to the
        /// free set), into `counts`; `words.len()` must be `64 * counts.len()`.
        fn count_ones_by_64(words: &[u64], counts: &mut [u32]);
        /// Index of the first zero bit in `[from, to)`, or `None`.
        fn first_zero(words: &[u64], from: usize, to: usize) -> Option<usize>;
        /// Index of the `n`-th (1-based) zero bit in `[from, to)`; `Err` carries
        /// how many zero bits the range holds when it holds fewer.
        fn nth_zero(words: &[u64], from: usize, to: usize, n: u64) -> Result<usize, u64>;
        /// Number of leading words of `words` equal to `value`, at most `max`.
        fn uniform_run(words: &[u64], value: u64, max: usize) -> usize;
        /// Number of leading words that are neither 0 nor all ones, at most `max`.
        fn literal_run(words: &[u64], max: usize) -> usize;
        /// Which words of `words` are 0 (bit `i % 64` of `zeros[i / 64]` for
        /// word `i`) and which are all ones (`ones`); `words.len()` must be
        /// `64 * zeros.len()`: the encoder's look at a window's runs, with no
        /// branch on where they end.
        fn classify(words: &[u64], zeros: &mut [u64], ones: &mut [u64]);
        /// Copies the little-endian words `src` (`8 * dst.len()` bytes) into
        /// `dst`, which is word `first` on of a bitset, and adds the set bits of
        /// each shard (64 words of the bitset) they fall in to `counts` (one
        /// entry per shard spanned, [`shards_spanned`]). With `stream`, stores
        /// bypass the caches: [`stream_fence`] before another thread reads `dst`.
        fn copy_in(dst: &mut [u64], src: &[u8], first: usize, counts: &mut [u32], stream: bool);
        /// Copies `src` into `dst` (`8 * src.len()` bytes) as little-endian
        /// words; `stream` as for `copy_in`.
        fn copy_out(dst: &mut [std::mem::MaybeUninit<u8>], src: &[u64], stream: bool);
        /// Sets every word of `dst` to `value`; `stream` as for `copy_in`.
        fn fill(dst: &mut [u64], value: u64, stream: bool);
        /// Copies the leading words of `src` that are neither 0 nor all ones
        /// into `dst` (`8 * src.len()` bytes) as little-endian words, up to the
        /// first uniform word, and returns how many: the encoder's scan and copy
        /// of a literal run in one pass. `stream` as for `copy_in`.
        fn copy_literals(dst: &mut [std::mem::MaybeUninit<u8>], src: &[u64], stream: bool) -> usize;
        /// The free extents (runs of zero bits) of the stream `words` then
        /// `tail`, with used blocks before and after it, and the zero bits of
        /// each 64-word chunk of the stream into `chunks` (one per chunk, the
        /// last holding the tail): the one pass of `FreeSet::stats`.
        fn extents(words: &[u64], tail: u64, chunks: &mut [u32]) -> crate::scan::extents::Extents;
        /// The first bit `i` of `[from, to)` with bits `i..i + n` all zero and
        /// `i + n <= to` (`n >= 1`), or `None`: the search of the extent calls
        /// (`runs.rs`).
        fn zero_run(words: &[u64], from: usize, to: usize, n: usize) -> Option<usize>;
            }
    };
}
pub(super) use for_each_kernel;

/// Declares [`Table`] from the list of kernels.
macro_rules! declare_table {
    ($(
        $(#[$doc:meta])*
        fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?;
    )*) => {
        /// One tier's kernels as `unsafe fn` pointers: calling one is sound
        /// only on a CPU that supports [`tier`](Table::tier). Outside the
        /// tiers, a table is reached only through the dispatch's `table`,
        /// which checks the CPU.
        #[derive(Debug, Clone, Copy)]
        pub(crate) struct Table {
            /// The tier these kernels belong to.
            pub(crate) tier: Tier,
            $(
                $(#[$doc])*
                pub(crate) $name: unsafe fn($($ty),*) $(-> $ret)?,
            )*
        }
    };
}

for_each_kernel!(declare_table);
