//! The tools around the `freeset` library: the standard benchmark workloads,
//! their peers (other implementations, for same-run comparisons), the size
//! sweep, the conformance trace replayer, the size syntax of the command
//! line, and the choice of kernel tier. The `freeset` command
//! (`src/main.rs`) and the benches of the workspace build on them; an engine
//! that links the library never compiles any of this.
//!
//! ```
//! use freeset_cli::trace;
//!
//! // A conformance trace replays line by line; no problem means it passed.
//! let problems = trace::check("new 10\nreserve 2 => r0 0 2\nacquire r0 => 1\n");
//! assert!(problems.is_empty());
//! ```

pub mod peers;
pub mod size;
pub mod sweep;
pub mod trace;
pub mod workloads;

use freeset::kernels::{Tier, UnknownTier};

/// The environment variable the tools map onto [`freeset::kernels::force`]:
/// `scalar`, `wide`, `avx2` or `avx512` (the library itself reads none).
/// The `freeset` command's `--kernels TIER` wins over it.
pub const KERNELS_VAR: &str = "FREESET_KERNELS";

/// Forces the kernel tier that `FREESET_KERNELS` names, if it is set. A tier
/// this CPU cannot run falls back to the next one below it that it can, with
/// a note on stderr. The benches call it first; the `freeset` command calls
/// [`force_kernels`].
pub fn force_kernels_from_env() -> Result<(), UnknownTier> {
    let value = std::env::var(KERNELS_VAR).unwrap_or_default();
    if value.is_empty() {
        return Ok(());
    }
    let wanted: Tier = value.parse()?;
    force_with_fallback(wanted, &format!("{KERNELS_VAR}={value}"));
    Ok(())
}

/// Forces `flag`'s tier (the `--kernels TIER` of the `freeset` command) if
/// it is given, and otherwise the tier `FREESET_KERNELS` names, if that is
/// set: the flag wins, and the variable is then not read at all. Both fall
/// back as [`force_kernels_from_env`] does.
pub fn force_kernels(flag: Option<Tier>) -> Result<(), UnknownTier> {
    match flag {
        Some(wanted) => {
            force_with_fallback(wanted, &format!("--kernels {wanted}"));
            Ok(())
        }
        None => force_kernels_from_env(),
    }
}

/// Forces `wanted`, or the fastest tier below it that this CPU runs, with a
/// note naming `source` (where the tier was asked for) when it falls back.
fn force_with_fallback(wanted: Tier, source: &str) {
    let forced = fallback(wanted, |tier| freeset::kernels::force(tier).is_ok());
    if let Some(tier) = forced.filter(|&tier| tier != wanted) {
        eprintln!("note: {source}: the CPU cannot run the {wanted} kernels, using {tier}");
    }
}

/// The first tier, from `wanted` down to `scalar`, that `install` accepts
/// (it is called on each in turn until one is).
fn fallback(wanted: Tier, mut install: impl FnMut(Tier) -> bool) -> Option<Tier> {
    let fastest_first = [Tier::Avx512, Tier::Avx2, Tier::Wide, Tier::Scalar];
    fastest_first
        .into_iter()
        .skip_while(|&tier| tier != wanted)
        .find(|&tier| install(tier))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_falls_back_to_the_next_one_down() {
        let runs = |supported: &'static [Tier]| move |tier| supported.contains(&tier);
        let all = &[Tier::Avx512, Tier::Avx2, Tier::Wide, Tier::Scalar];
        assert_eq!(fallback(Tier::Avx512, runs(all)), Some(Tier::Avx512));
        assert_eq!(fallback(Tier::Wide, runs(all)), Some(Tier::Wide));
        let no_avx512 = &[Tier::Avx2, Tier::Wide, Tier::Scalar];
        assert_eq!(fallback(Tier::Avx512, runs(no_avx512)), Some(Tier::Avx2));
        let portable = &[Tier::Wide, Tier::Scalar];
        assert_eq!(fallback(Tier::Avx512, runs(portable)), Some(Tier::Wide));
        assert_eq!(fallback(Tier::Avx2, runs(portable)), Some(Tier::Wide));
        // Never up: a wanted scalar stays scalar, even where more runs.
        assert_eq!(fallback(Tier::Scalar, runs(all)), Some(Tier::Scalar));
        // The tiers are tried fastest first, from the wanted one.
        let mut tried = Vec::new();
        fallback(Tier::Avx2, |tier| {
            tried.push(tier);
            tier == Tier::Scalar
        });
        assert_eq!(tried, [Tier::Avx2, Tier::Wide, Tier::Scalar]);
    }
}
