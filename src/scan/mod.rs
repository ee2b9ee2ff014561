//! Word-level scan kernels over bitsets of `u64` words.
//!
//! The free set asks a handful of questions of its bitsets: where is the first
//! zero bit in a range, where is the n-th zero bit, how many bits are set, which
//! is the highest set bit. This module answers them a word (or several words) at
//! a time. The functions here are the one place the rest of the crate calls; the
//! tiers underneath implement the same contract: `scalar` (plain `u64`, the
//! oracle every other tier is tested against), `wide` (portable SIMD whose width
//! is fixed when the crate is compiled) and, on x86_64, `avx2` and `avx512`
//! (`std::arch`, chosen at run time).
//!
//! Bit `b` of a bitset is bit `b % 64` of word `b / 64`. Ranges are half-open
//! `[from, to)` in bits and must lie inside the slice. Kernels never allocate;
//! only the codec's two copy kernels (`copy.rs`) write, and only into the
//! destination they are given.
//!
//! # Dispatch
//!
//! Each kernel is a `static` function pointer that starts out pointing at a
//! `detect` function. The first call of any kernel (or of [`active`]) picks the
//! fastest tier this CPU supports, stores all six pointers of that tier and
//! calls through; from then on a call is one relaxed load and an indirect call.
//! [`force`] stores another tier's pointers. A pointer is stored only for a
//! tier the CPU was checked to support, which is what makes calling the
//! `unsafe fn` pointers sound. The choice is the CPU's alone: the library reads
//! no environment variable (the command line maps `FREESET_KERNELS` onto
//! [`force`]).
//!
//! Only [`Tier`], its errors, [`active`], [`available`], [`force`] and
//! [`cpu_features`] are public (as `freeset::kernels`).

#![deny(unsafe_op_in_unsafe_fn)]

mod cache;
mod copy;
mod generic;
pub(crate) mod lines;
mod portable;
mod scalar;
pub(crate) mod streamed;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

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

    /// Whether this CPU can run the tier.
    pub(crate) fn supported(self) -> bool {
        match self {
            Tier::Scalar | Tier::Wide => true,
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2 => x86::has_avx2(),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512 => x86::has_avx512(),
            #[cfg(not(target_arch = "x86_64"))]
            Tier::Avx2 | Tier::Avx512 => false,
        }
    }

    /// The tier's kernels, if this CPU can run them. This is the only way to
    /// a [`Table`] outside the tiers, so a table in hand is one whose kernels
    /// may be called.
    pub(crate) fn table(self) -> Option<&'static Table> {
        if !self.supported() {
            return None;
        }
        match self {
            Tier::Scalar => Some(&SCALAR),
            Tier::Wide => Some(&WIDE),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2 => Some(&x86::AVX2),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512 => Some(&x86::AVX512),
            #[cfg(not(target_arch = "x86_64"))]
            Tier::Avx2 | Tier::Avx512 => None,
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
pub struct UnknownTier(String);

/// [`force`] was asked for a tier this CPU cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the CPU cannot run the {tier} kernels")]
pub struct TierUnavailable {
    /// The tier asked for.
    pub tier: Tier,
}

/// Declares the kernels once: each tier's [`Table`], the dispatch slots, the
/// `detect` functions they start with, and the dispatching functions the rest
/// of the crate calls.
macro_rules! kernels {
    ($(
        $(#[$doc:meta])*
        fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?;
    )*) => {
        /// One tier's kernels as `unsafe fn` pointers: calling one is sound
        /// only on a CPU that supports [`tier`](Table::tier). Outside the
        /// tiers, a table is reached only through [`Tier::table`], which
        /// checks the CPU.
        #[derive(Debug, Clone, Copy)]
        pub(crate) struct Table {
            /// The tier these kernels belong to.
            pub(crate) tier: Tier,
            $(
                $(#[$doc])*
                pub(crate) $name: unsafe fn($($ty),*) $(-> $ret)?,
            )*
        }

        /// The dispatch: one pointer per kernel, each holding either its
        /// `detect` function or that kernel of a tier the CPU supports (every
        /// store goes through the `unsafe` `store`, whose one caller,
        /// [`install`], checks), always a value of the kernel's `unsafe fn`
        /// type.
        struct Slots {
            $($name: AtomicPtr<()>,)*
        }

        static SLOTS: Slots = Slots {
            $($name: AtomicPtr::new(detect::$name as unsafe fn($($ty),*) $(-> $ret)? as *mut ()),)*
        };

        /// Stores all of `table`'s kernels in the dispatch slots.
        ///
        /// # Safety
        ///
        /// The CPU supports `table.tier`: every later call of a kernel
        /// relies on it.
        unsafe fn store(table: &'static Table) {
            $(SLOTS.$name.store(table.$name as *mut (), Ordering::Relaxed);)*
        }

        /// What each slot holds before the first call: detect the tier,
        /// install it, and call again through the slot, which now holds a
        /// kernel (nothing ever stores a `detect` function again).
        mod detect {
            $(
                pub(super) fn $name($($arg: $ty),*) $(-> $ret)? {
                    super::detect();
                    super::$name($($arg),*)
                }
            )*
        }

        $(
            $(#[$doc])*
            // No `#[inline]`: it would make `SLOTS` reachable from other
            // crates, hence exported and read through the GOT (two loads per
            // call instead of one). Release builds inline these across the
            // crate's codegen units anyway (ThinLTO).
            pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
                let kernel = SLOTS.$name.load(Ordering::Relaxed);
                // SAFETY: the slot only ever holds a value of exactly this
                // `unsafe fn` type, cast to `*mut ()` (the initial `detect`
                // function and the stores in `store`), so the transmute gives
                // it back. Calling it is sound: `detect` is a safe function,
                // and a tier's kernel is stored only by `store`, whose
                // contract is that the CPU supports the tier, and whose one
                // caller, `install`, checks that first: a pointer is only
                // ever stored for a tier the CPU was checked to support.
                unsafe {
                    let kernel =
                        std::mem::transmute::<*mut (), unsafe fn($($ty),*) $(-> $ret)?>(kernel);
                    kernel($($arg),*)
                }
            }
        )*
    };
}

kernels! {
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
}

pub(crate) use cache::last_level_bytes;
pub(crate) use copy::{prefetch, shards_spanned, stream_fence};

/// Index of the highest set bit in `words`, or `None`. Scalar in every tier:
/// it only ever runs over a shard or a summary (a few hundred words at most).
pub(crate) use scalar::last_one;

/// The `scalar` tier.
const SCALAR: Table = Table {
    tier: Tier::Scalar,
    count_ones: scalar::count_ones,
    count_ones_by_64: scalar::count_ones_by_64,
    first_zero: scalar::first_zero,
    nth_zero: scalar::nth_zero,
    uniform_run: scalar::uniform_run,
    literal_run: scalar::literal_run,
    classify: scalar::classify,
    copy_in: copy::copy_in,
    copy_out: copy::copy_out,
    fill: copy::fill,
    copy_literals: copy::copy_literals,
};

/// The `wide` tier. On x86_64 `wide` is SSE2 in a default build, which has
/// no 64-bit lane compare, and its emulated one loses to plain `u64` code on
/// the codec's run scans (`FREESET_KERNELS=wide freeset bench`:
/// `encode_random` 8.5 GB/s against 12.3 for scalar), so there the tier keeps
/// the scalar run kernels; its searches still win (`reserve_100k` 11.4 µs
/// against 30.5). Elsewhere (NEON) it is `wide` throughout.
const WIDE: Table = Table {
    tier: Tier::Wide,
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
    classify: if cfg!(target_arch = "x86_64") {
        scalar::classify
    } else {
        portable::classify
    },
    copy_in: copy::copy_in,
    copy_out: copy::copy_out,
    fill: copy::fill,
    copy_literals: copy::copy_literals,
};

/// The tier whose kernels the slots hold, as `Tier as u8`, or [`UNDETECTED`].
/// Written together with the slots, under [`LOCK`].
static ACTIVE: AtomicU8 = AtomicU8::new(UNDETECTED);

/// [`ACTIVE`] before the first detection.
const UNDETECTED: u8 = u8::MAX;

/// Serialises the writers of the slots (detection and [`force`]), so that
/// [`active`] names the tier the slots hold. Calls never take it.
static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    // Nothing panics while holding it; a poisoned lock guards no broken state.
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The tier the slots hold, if one has been installed.
fn installed() -> Option<Tier> {
    let active = ACTIVE.load(Ordering::Relaxed);
    Tier::ALL.into_iter().find(|&tier| tier as u8 == active)
}

/// Stores `tier`'s kernels in the slots, if this CPU can run them. Every
/// store of a kernel goes through here. The caller holds [`LOCK`].
fn install(tier: Tier) -> Result<(), TierUnavailable> {
    let table = tier.table().ok_or(TierUnavailable { tier })?;
    // SAFETY: `Tier::table` hands out a table only when the CPU supports it.
    unsafe { store(table) };
    ACTIVE.store(table.tier as u8, Ordering::Relaxed);
    Ok(())
}

/// Installs the fastest tier this CPU supports unless a tier is installed
/// already (by an earlier detection or by [`force`]), and returns the tier the
/// slots hold.
fn detect() -> Tier {
    let _guard = lock();
    if let Some(tier) = installed() {
        return tier;
    }
    let best = Tier::ALL
        .into_iter()
        .find(|tier| tier.supported())
        .unwrap_or(Tier::Scalar);
    install(best).expect("a supported tier installs");
    best
}

/// The tier in use. Detects the CPU (and picks the fastest tier it supports)
/// if no kernel has run yet and no tier has been forced.
pub fn active() -> Tier {
    installed().unwrap_or_else(detect)
}

/// Every tier this CPU can run, fastest first; [`Tier::Scalar`], which runs
/// everywhere, is last.
pub fn available() -> Vec<Tier> {
    Tier::ALL
        .into_iter()
        .filter(|tier| tier.supported())
        .collect()
}

/// Uses `tier`'s kernels from now on, in every thread, if this CPU can run
/// them; otherwise returns [`TierUnavailable`] and changes nothing.
///
/// For tests, benchmarks and the command line (`FREESET_KERNELS`): the
/// library itself always starts on the fastest tier. Calling it while other
/// threads work on free sets, or from several threads at once, is fine: every
/// tier gives exactly the same answers, so a call that runs on the old tier
/// while the new one is being installed is still correct. Only which tier
/// [`active`] reports afterwards depends on which `force` came last.
pub fn force(tier: Tier) -> Result<(), TierUnavailable> {
    let _guard = lock();
    install(tier)
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

/// Held by every test (of any module) that forces a tier or asserts what
/// [`active`] reports: tests run on parallel threads of one process. (Kernel
/// calls need no lock: every tier gives the same answers.)
#[cfg(test)]
pub(crate) fn test_dispatch_lock() -> std::sync::MutexGuard<'static, ()> {
    static DISPATCH: Mutex<()> = Mutex::new(());
    DISPATCH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    //! Every tier against the scalar oracle, on random words of every density,
    //! every length (so vector loops meet every remainder) and every range
    //! offset (ranges that start and end inside words, on word and vector
    //! boundaries, at the end of the slice). Each tier's kernels are called
    //! directly through its table, not through the dispatch; the dispatch has
    //! tests of its own.

    use super::*;
    use proptest::prelude::*;

    /// A tier's kernels, callable safely: built only from a table that
    /// [`Tier::table`] handed out, that is, for a tier this CPU supports.
    #[derive(Clone, Copy)]
    struct Kernels(&'static Table);

    impl Kernels {
        fn name(self) -> &'static str {
            self.0.tier.name()
        }

        fn count_ones(self, words: &[u64]) -> u64 {
            // SAFETY: the table came from `Tier::table`: the CPU supports it.
            unsafe { (self.0.count_ones)(words) }
        }

        fn count_ones_by_64(self, words: &[u64], counts: &mut [u32]) {
            // SAFETY: the table came from `Tier::table`: the CPU supports it.
            unsafe { (self.0.count_ones_by_64)(words, counts) }
        }

        fn first_zero(self, words: &[u64], from: usize, to: usize) -> Option<usize> {
            // SAFETY: the table came from `Tier::table`: the CPU supports it.
            unsafe { (self.0.first_zero)(words, from, to) }
        }

        fn nth_zero(self, words: &[u64], from: usize, to: usize, n: u64) -> Result<usize, u64> {
            // SAFETY: the table came from `Tier::table`: the CPU supports it.
            unsafe { (self.0.nth_zero)(words, from, to, n) }
        }

        fn uniform_run(self, words: &[u64], value: u64, max: usize) -> usize {
            // SAFETY: the table came from `Tier::table`: the CPU supports it.
            unsafe { (self.0.uniform_run)(words, value, max) }
        }

        fn literal_run(self, words: &[u64], max: usize) -> usize {
            // SAFETY: the table came from `Tier::table`: the CPU supports it.
            unsafe { (self.0.literal_run)(words, max) }
        }

        fn classify(self, words: &[u64]) -> (Vec<u64>, Vec<u64>) {
            let masks = words.len() / 64;
            let (mut zeros, mut ones) = (vec![7; masks], vec![7; masks]);
            // SAFETY: the table came from `Tier::table`: the CPU supports it.
            unsafe { (self.0.classify)(&words[..64 * masks], &mut zeros, &mut ones) };
            (zeros, ones)
        }

        fn copy_in(
            self,
            dst: &mut [u64],
            src: &[u8],
            first: usize,
            counts: &mut [u32],
            stream: bool,
        ) {
            // SAFETY: the table came from `Tier::table`: the CPU supports it.
            unsafe { (self.0.copy_in)(dst, src, first, counts, stream) }
        }

        fn copy_out(self, dst: &mut [std::mem::MaybeUninit<u8>], src: &[u64], stream: bool) {
            // SAFETY: the table came from `Tier::table`: the CPU supports it.
            unsafe { (self.0.copy_out)(dst, src, stream) }
        }

        fn fill(self, dst: &mut [u64], value: u64, stream: bool) {
            // SAFETY: the table came from `Tier::table`: the CPU supports it.
            unsafe { (self.0.fill)(dst, value, stream) }
        }

        fn copy_literals(
            self,
            dst: &mut [std::mem::MaybeUninit<u8>],
            src: &[u64],
            stream: bool,
        ) -> usize {
            // SAFETY: the table came from `Tier::table`: the CPU supports it.
            unsafe { (self.0.copy_literals)(dst, src, stream) }
        }
    }

    /// The kernels of every tier this CPU can run.
    fn tiers() -> Vec<Kernels> {
        available()
            .into_iter()
            .map(|tier| Kernels(tier.table().expect("an available tier has a table")))
            .collect()
    }

    fn dispatch_lock() -> MutexGuard<'static, ()> {
        super::test_dispatch_lock()
    }

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
        let _lock = dispatch_lock();
        let tiers = available();
        assert_eq!(tiers.last(), Some(&Tier::Scalar));
        assert!(tiers.contains(&Tier::Wide));
        // Nothing is forced outside the lock, and the tests that force
        // restore the fastest tier: the one detection picks.
        assert_eq!(active(), tiers[0]);
        for tier in Tier::ALL {
            assert_eq!(tiers.contains(&tier), tier.table().is_some(), "{tier}");
        }
        for (tier, table) in Tier::ALL.into_iter().filter_map(|t| Some((t, t.table()?))) {
            assert_eq!(table.tier, tier);
        }
    }

    #[test]
    fn tiers_parse_and_print_their_names() {
        for tier in Tier::ALL {
            assert_eq!(tier.to_string(), tier.name());
            assert_eq!(tier.name().parse::<Tier>(), Ok(tier));
            assert_eq!(tier.name().to_uppercase().parse::<Tier>(), Ok(tier));
        }
        let names: Vec<&str> = Tier::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["avx512", "avx2", "wide", "scalar"]);
        let err = "sse9".parse::<Tier>().unwrap_err();
        assert_eq!(err, UnknownTier("sse9".into()));
        assert_eq!(
            err.to_string(),
            "unknown kernel tier \"sse9\": expected scalar, wide, avx2 or avx512"
        );
        assert_eq!(
            TierUnavailable { tier: Tier::Avx512 }.to_string(),
            "the CPU cannot run the avx512 kernels"
        );
    }

    /// Random words of every density, from a fixed seed.
    fn sample_words(len: usize, seed: u64) -> Vec<u64> {
        let mut x = seed | 1;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match (x >> 60) % 4 {
                    0 => !0,
                    1 => 0,
                    2 if i % 3 == 0 => !(1 << (x % 64)),
                    _ => x,
                }
            })
            .collect()
    }

    /// The dispatched kernels (what the crate calls) against the scalar oracle.
    fn dispatch_matches_scalar() {
        for (len, seed) in [(0, 1), (1, 2), (3, 3), (17, 4), (128, 5), (301, 6)] {
            let words = sample_words(len, seed);
            let bits = len * 64;
            assert_eq!(count_ones(&words), scalar::count_ones(&words));
            let chunks = len / 64;
            let (mut counts, mut expected) = (vec![0; chunks], vec![0; chunks]);
            count_ones_by_64(&words[..chunks * 64], &mut counts);
            scalar::count_ones_by_64(&words[..chunks * 64], &mut expected);
            assert_eq!(counts, expected);
            for max in [0, 1, 5, 64, usize::MAX] {
                assert_eq!(literal_run(&words, max), scalar::literal_run(&words, max));
                for value in [0, !0] {
                    assert_eq!(
                        uniform_run(&words, value, max),
                        scalar::uniform_run(&words, value, max)
                    );
                }
            }
            for from in (0..=bits).step_by(61) {
                for to in (from..=bits).step_by(97) {
                    assert_eq!(
                        first_zero(&words, from, to),
                        scalar::first_zero(&words, from, to)
                    );
                    for n in [1, 7, 200] {
                        assert_eq!(
                            nth_zero(&words, from, to, n),
                            scalar::nth_zero(&words, from, to, n)
                        );
                    }
                }
            }
            assert_eq!(last_one(&words), scalar::last_one(&words));
        }
    }

    /// What the slots hold now.
    fn slots() -> [*mut (); 6] {
        [
            &SLOTS.count_ones,
            &SLOTS.count_ones_by_64,
            &SLOTS.first_zero,
            &SLOTS.nth_zero,
            &SLOTS.uniform_run,
            &SLOTS.literal_run,
        ]
        .map(|slot| slot.load(Ordering::Relaxed))
    }

    #[test]
    fn force_switches_every_kernel_and_refuses_what_the_cpu_lacks() {
        let _lock = dispatch_lock();
        let best = available()[0];
        dispatch_matches_scalar();
        for tier in available() {
            assert_eq!(force(tier), Ok(()));
            assert_eq!(active(), tier);
            dispatch_matches_scalar();
        }
        // Tiers this CPU lacks (AVX-512 on an AVX2 machine): refused, and
        // nothing changes.
        for tier in Tier::ALL {
            if available().contains(&tier) {
                continue;
            }
            let (before, pointers) = (active(), slots());
            assert_eq!(force(tier), Err(TierUnavailable { tier }));
            assert_eq!(active(), before);
            assert_eq!(slots(), pointers);
        }
        force(best).unwrap();
        assert_eq!(active(), best);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn tiers_agree_on_first_zero(words in words_strategy(), a: prop::sample::Index, b: prop::sample::Index) {
            let (from, to) = range(words.len() * 64, a, b);
            let expected = scalar::first_zero(&words, from, to);
            for tier in tiers() {
                prop_assert_eq!(tier.first_zero(&words, from, to), expected, "tier {}", tier.name());
            }
            prop_assert_eq!(first_zero(&words, from, to), expected, "dispatched");
        }

        #[test]
        fn tiers_agree_on_nth_zero(words in words_strategy(), a: prop::sample::Index, b: prop::sample::Index, n in prop_oneof![1u64..70, 1u64..5000]) {
            let (from, to) = range(words.len() * 64, a, b);
            let expected = scalar::nth_zero(&words, from, to, n);
            for tier in tiers() {
                prop_assert_eq!(tier.nth_zero(&words, from, to, n), expected, "tier {}", tier.name());
            }
            prop_assert_eq!(nth_zero(&words, from, to, n), expected, "dispatched");
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
            for tier in tiers() {
                prop_assert_eq!(tier.count_ones(words), scalar::count_ones(words), "tier {}", tier.name());
                let mut counts = vec![7u32; chunks];
                tier.count_ones_by_64(&words[..chunks * 64], &mut counts);
                prop_assert_eq!(&counts, &expected, "tier {}", tier.name());
                prop_assert_eq!(tier.literal_run(words, max), scalar::literal_run(words, max), "tier {}", tier.name());
                for value in [0, !0, words.first().copied().unwrap_or(5)] {
                    prop_assert_eq!(
                        tier.uniform_run(words, value, max),
                        scalar::uniform_run(words, value, max),
                        "tier {}", tier.name()
                    );
                }
            }
            // Masks of whole 64-word chunks, whatever the words' alignment.
            let masks = words.len() / 64;
            let naive_masks = |value: u64| -> Vec<u64> {
                words[..64 * masks]
                    .chunks_exact(64)
                    .map(|c| c.iter().enumerate().map(|(i, &w)| u64::from(w == value) << i).sum())
                    .collect()
            };
            let expected_masks = (naive_masks(0), naive_masks(!0));
            let (mut zeros, mut ones) = (vec![7; masks], vec![7; masks]);
            scalar::classify(&words[..64 * masks], &mut zeros, &mut ones);
            prop_assert_eq!((zeros.clone(), ones.clone()), expected_masks.clone(), "scalar");
            portable::classify(&words[..64 * masks], &mut zeros, &mut ones);
            prop_assert_eq!((zeros.clone(), ones.clone()), expected_masks.clone(), "portable");
            for tier in tiers() {
                prop_assert_eq!(tier.classify(words), expected_masks.clone(), "tier {}", tier.name());
            }
            classify(&words[..64 * masks], &mut zeros, &mut ones);
            prop_assert_eq!((zeros, ones), expected_masks, "dispatched");
            prop_assert_eq!(count_ones(words), scalar::count_ones(words), "dispatched");
            prop_assert_eq!(literal_run(words, max), scalar::literal_run(words, max), "dispatched");
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
                    for tier in tiers() {
                        assert_eq!(
                            tier.first_zero(&words, from, to),
                            first,
                            "tier {}",
                            tier.name()
                        );
                        for n in [1, 2, 64, 65, 300] {
                            assert_eq!(
                                tier.nth_zero(&words, from, to, n),
                                scalar::nth_zero(&words, from, to, n),
                                "tier {}",
                                tier.name()
                            );
                        }
                    }
                }
            }
        }
    }

    /// Every tier's copy kernels against the scalar twins (and those against
    /// a word-by-word oracle), at every destination alignment inside a cache
    /// line, source offsets inside words, bitset offsets inside shards, and
    /// lengths around lines and shards, streamed or not: the same words, the
    /// same counts, and nothing written outside the destination.
    #[test]
    fn tiers_agree_on_copies() {
        let words = sample_words(700, 11);
        let source: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        for len in [
            0, 1, 3, 7, 8, 9, 15, 16, 63, 64, 65, 127, 128, 129, 200, 513, 600,
        ] {
            for dst_at in 0..9 {
                for src_at in [0, 1, 8, 13] {
                    let src = &source[src_at..src_at + 8 * len];
                    let expected: Vec<u64> = src
                        .chunks_exact(8)
                        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
                        .collect();
                    for first in [0, 1, 6, 63, 64, 100, 130] {
                        let spanned = shards_spanned(first, len);
                        let mut oracle = vec![0u32; spanned + 1];
                        for (i, w) in expected.iter().enumerate() {
                            oracle[(first + i) / 64 - first / 64] += w.count_ones();
                        }
                        for tier in tiers() {
                            for stream in [false, true] {
                                let what = format!(
                                    "{} len {len} dst_at {dst_at} src_at {src_at} first {first} stream {stream}",
                                    tier.name()
                                );
                                let mut buffer = vec![0xdead_beefu64; len + 20];
                                // One extra count that must stay untouched.
                                let mut counts = vec![0u32; spanned + 1];
                                tier.copy_in(
                                    &mut buffer[dst_at..dst_at + len],
                                    src,
                                    first,
                                    &mut counts[..spanned],
                                    stream,
                                );
                                stream_fence();
                                assert_eq!(&buffer[dst_at..dst_at + len], &expected[..], "{what}");
                                assert!(
                                    buffer[..dst_at]
                                        .iter()
                                        .chain(&buffer[dst_at + len..])
                                        .all(|&w| w == 0xdead_beef),
                                    "{what}: outside"
                                );
                                assert_eq!(counts, oracle, "{what}");

                                let mut bytes =
                                    vec![std::mem::MaybeUninit::new(0xaau8); 8 * len + 160];
                                let at = 8 * dst_at + src_at % 8; // unaligned too
                                tier.copy_out(&mut bytes[at..at + 8 * len], &expected, stream);
                                stream_fence();
                                // SAFETY: every byte was initialised above.
                                let bytes: Vec<u8> =
                                    bytes.iter().map(|b| unsafe { b.assume_init() }).collect();
                                assert_eq!(&bytes[at..at + 8 * len], src, "{what}: copy_out");
                                assert!(
                                    bytes[..at]
                                        .iter()
                                        .chain(&bytes[at + 8 * len..])
                                        .all(|&b| b == 0xaa),
                                    "{what}: copy_out outside"
                                );

                                // A uniform word at every position (or none).
                                for stop in [0, 1, 5, 8, 9, 40, 64, len] {
                                    let mut literal = expected.clone();
                                    if stop < len {
                                        literal[stop] = if stop % 2 == 0 { 0 } else { !0 };
                                    }
                                    let literal: Vec<u64> = literal
                                        .iter()
                                        .enumerate()
                                        .map(|(i, &w)| {
                                            if i != stop && (w == 0 || w == !0) {
                                                3
                                            } else {
                                                w
                                            }
                                        })
                                        .collect();
                                    let mut bytes =
                                        vec![std::mem::MaybeUninit::new(0xaau8); 8 * len + 160];
                                    let copied = tier.copy_literals(
                                        &mut bytes[at..at + 8 * len],
                                        &literal,
                                        stream,
                                    );
                                    stream_fence();
                                    let oracle = scalar::literal_run(&literal, usize::MAX);
                                    assert_eq!(copied, oracle, "{what}: copy_literals stop {stop}");
                                    // SAFETY: every byte was initialised above.
                                    let bytes: Vec<u8> =
                                        bytes.iter().map(|b| unsafe { b.assume_init() }).collect();
                                    let want: Vec<u8> = literal[..copied]
                                        .iter()
                                        .flat_map(|w| w.to_le_bytes())
                                        .collect();
                                    assert_eq!(
                                        &bytes[at..at + 8 * copied],
                                        &want[..],
                                        "{what}: copy_literals stop {stop}"
                                    );
                                    assert!(
                                        bytes[..at]
                                            .iter()
                                            .chain(&bytes[at + 8 * copied..])
                                            .all(|&b| b == 0xaa),
                                        "{what}: copy_literals wrote past the run"
                                    );
                                }

                                let mut buffer = vec![7u64; len + 20];
                                tier.fill(
                                    &mut buffer[dst_at..dst_at + len],
                                    !0 - first as u64,
                                    stream,
                                );
                                stream_fence();
                                assert!(
                                    buffer[dst_at..dst_at + len]
                                        .iter()
                                        .all(|&w| w == !0 - first as u64),
                                    "{what}: fill"
                                );
                                assert!(
                                    buffer[..dst_at]
                                        .iter()
                                        .chain(&buffer[dst_at + len..])
                                        .all(|&w| w == 7),
                                    "{what}: fill outside"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
