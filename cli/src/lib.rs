//! The tools around the `freeset` library: the standard benchmark workloads
//! and the conformance trace replayer. The `freeset` command (`src/main.rs`)
//! and the benches of the workspace build on them; an engine that links the
//! library never compiles any of this.

pub mod trace;
pub mod workloads;
