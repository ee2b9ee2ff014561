//! Which of the two bitsets of a free set a call, a chunk or an error names.
//! A leaf: errors and the set both use it, so it imports neither.

use std::fmt;

/// One of the two bitsets a free set persists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bitset {
    /// Blocks in use or waiting to be freed.
    Acquired,
    /// Blocks released and waiting for the next durable checkpoint (both the
    /// `released` and the `pending` bits: after a durable checkpoint only the
    /// former exist).
    Released,
}

impl fmt::Display for Bitset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bitset::Acquired => "acquired",
            Bitset::Released => "released",
        })
    }
}
