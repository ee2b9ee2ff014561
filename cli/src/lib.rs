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
pub const KERNELS_VAR: &str = "FREESET_KERNELS";

/// Forces the kernel tier that `FREESET_KERNELS` names, if it is set. A tier
/// this CPU cannot run falls back to the next one below it that it can, with
/// a note on stderr. `freeset bench` and the benches call it first.
pub fn force_kernels_from_env() -> Result<(), UnknownTier> {
    let value = std::env::var(KERNELS_VAR).unwrap_or_default();
    if value.is_empty() {
        return Ok(());
    }
    let wanted: Tier = value.parse()?;
    let fastest_first = [Tier::Avx512, Tier::Avx2, Tier::Wide, Tier::Scalar];
    let forced = fastest_first
        .into_iter()
        .skip_while(|&tier| tier != wanted)
        .find(|&tier| freeset::kernels::force(tier).is_ok());
    if let Some(tier) = forced.filter(|&tier| tier != wanted) {
        eprintln!(
            "note: {KERNELS_VAR}={value}: the CPU cannot run the {wanted} kernels, using {tier}"
        );
    }
    Ok(())
}
