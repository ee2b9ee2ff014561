//! The exit codes of every `freeset` command, and the failure that carries
//! one. One scheme for all of them (docs/cli.md says it to users, and
//! [`AFTER_HELP`] in `--help`):
//!
//! - **0**: the command did what it was asked and every check passed.
//! - **1**: a check failed, or an input's *contents* are wrong: a replay
//!   mismatch or malformed trace line, a simulation violation, an invalid
//!   encoding or `checkpoint.json`, a file longer than anything the library
//!   writes, a peer of `bench --peers` that disagrees with freeset.
//! - **2**: the command could not run as asked: bad flags or flag values
//!   (clap's own errors are 2 too), a `FREESET_KERNELS` that names no tier,
//!   a file that cannot be opened or read, an output that cannot be
//!   written (a missing directory, a picture name that is not .svg/.png).
//!
//! When both happen (a replay of several files, one missing and one
//! failing), 2 wins: the run was incomplete, so its checks say nothing.
//!
//! What must never happen here: a panic (Rust's exit code 101) standing in
//! for any of these, or an error printed on more than one line.

use std::fmt;
use std::process::ExitCode;

/// Every check passed.
pub const OK: u8 = 0;
/// A check failed, or an input's contents are wrong.
pub const CHECK_FAILED: u8 = 1;
/// Bad usage: flags, unreadable inputs, unwritable outputs.
pub const USAGE: u8 = 2;

/// What `--help` says after the options of every command.
pub const AFTER_HELP: &str = "\
Exit codes:
  0  ok
  1  a check failed, or an input's contents are invalid (a replay mismatch,
     a simulation violation, an invalid encoding or checkpoint.json)
  2  bad usage: bad flags, a file that cannot be opened or read, an output
     that cannot be written
Sizes (--blocks, --block-size, --chunk-bytes): 4096, 4K, 4KB, 4KiB, 1.5GiB;
  units K, M, G, T in any case, all binary (4KB = 4KiB = 4096 bytes);
  --blocks is a count (4096, 4K) or TOTAL/BLOCK (16TiB/512KiB).
Environment: FREESET_KERNELS=scalar|wide|avx2|avx512 forces a kernel tier
  (--kernels wins over it); FREESET_FONT=FILE.ttf is the pictures' font.
Manual: docs/cli.md";

/// Why a command stopped: one line for stderr and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Exit code 1: a check failed or an input's contents are invalid.
    Check(String),
    /// Exit code 2: bad usage, an unreadable input or an unwritable output.
    Usage(String),
}

impl Failure {
    /// The exit code: [`CHECK_FAILED`] or [`USAGE`].
    pub fn code(&self) -> u8 {
        match self {
            Failure::Check(_) => CHECK_FAILED,
            Failure::Usage(_) => USAGE,
        }
    }

    /// Prints `error: MESSAGE` on stderr and returns the exit code.
    pub fn report(&self) -> ExitCode {
        eprintln!("error: {self}");
        ExitCode::from(self.code())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Check(message) | Failure::Usage(message) => {
                debug_assert!(!message.contains('\n'), "one line: {message}");
                f.write_str(message)
            }
        }
    }
}

/// The exit code of a command that went through several inputs: [`USAGE`]
/// if any could not be used, else [`CHECK_FAILED`] if any failed, else
/// [`OK`].
pub fn worst(usage: bool, failed: bool) -> ExitCode {
    ExitCode::from(if usage {
        USAGE
    } else if failed {
        CHECK_FAILED
    } else {
        OK
    })
}

/// Announces a file a command wrote, on stderr, one line per file, so that
/// a user finds it whatever else the command prints (and whatever `--json`
/// sends to stdout).
pub fn wrote(path: &std::path::Path) {
    eprintln!("wrote {}", path.display());
}
