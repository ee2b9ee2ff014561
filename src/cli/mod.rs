//! The subcommands of the `freeset` binary. Library code lives in the crate;
//! these modules only parse, drive and print.

pub mod bench;
pub mod replay;
