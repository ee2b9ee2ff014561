//! The dispatch: which tier's kernels run, chosen once at run time, and the
//! functions the rest of the crate calls.
//!
//! Each kernel is a `static` function pointer that starts out pointing at a
//! `detect` function. The first call of any kernel (or of [`active`]) picks
//! the fastest tier this CPU supports, stores all the pointers of that tier
//! and calls through; from then on a call is one relaxed load and an indirect
//! call. [`force`] stores another tier's pointers. A pointer is stored only
//! for a tier the CPU was checked to support (here, in `install`, and
//! nowhere else), which is what makes calling the `unsafe fn` pointers
//! sound. The choice is the CPU's alone: the library reads no environment
//! variable (the command line maps `FREESET_KERNELS` onto [`force`]).
//!
//! This is the one file that looks at the CPU's features and the one that
//! knows every tier; the tiers never call back into it.

use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::table::{for_each_kernel, Table, Tier, TierUnavailable};
#[cfg(target_arch = "x86_64")]
use super::x86;
use super::{copy, portable, scalar, word};

/// Declares the dispatch slots, the `detect` functions they start with, and
/// the dispatching functions the rest of the crate calls, from the list of
/// kernels.
macro_rules! declare_dispatch {
    ($(
        $(#[$doc:meta])*
        fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?;
    )*) => {
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

        /// What every slot holds now, in the order of the list.
        #[cfg(test)]
        pub(super) fn slots() -> Vec<*mut ()> {
            vec![$(SLOTS.$name.load(Ordering::Relaxed),)*]
        }

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

for_each_kernel!(declare_dispatch);

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
    extents: word::extents,
    zero_run: word::zero_run,
};

/// The `wide` tier. On x86_64 `wide` is SSE2 in a default build, which has
/// no 64-bit lane compare, and its emulated one loses to plain `u64` code on
/// the codec's run scans (measured: `perf/notes.md`), so there the tier keeps
/// the scalar run kernels and uses `wide` for the searches, where it wins.
/// Elsewhere (NEON) it is `wide` throughout.
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
    extents: portable::extents,
    zero_run: portable::zero_run,
};

/// Whether this CPU can run `tier`.
fn supported(tier: Tier) -> bool {
    match tier {
        Tier::Scalar | Tier::Wide => true,
        #[cfg(target_arch = "x86_64")]
        Tier::Avx2 => x86::has_avx2(),
        #[cfg(target_arch = "x86_64")]
        Tier::Avx512 => x86::has_avx512(),
        #[cfg(not(target_arch = "x86_64"))]
        Tier::Avx2 | Tier::Avx512 => false,
    }
}

/// `tier`'s kernels, if this CPU can run them. This is the only way to
/// a [`Table`] outside the tiers, so a table in hand is one whose kernels
/// may be called.
pub(crate) fn table(tier: Tier) -> Option<&'static Table> {
    if !supported(tier) {
        return None;
    }
    match tier {
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
    let table = table(tier).ok_or(TierUnavailable { tier })?;
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
        .find(|&tier| supported(tier))
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
        .filter(|&tier| supported(tier))
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
