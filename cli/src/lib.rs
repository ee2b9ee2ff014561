//! The tools around the `freeset` library: the standard benchmark workloads,
//! their peers (other implementations, for same-run comparisons), the size
//! sweep and the conformance trace replayer. The `freeset` command
//! (`src/main.rs`) and the benches of the workspace build on them; an engine
//! that links the library never compiles any of this.

pub mod peers;
pub mod sweep;
pub mod trace;
pub mod workloads;
