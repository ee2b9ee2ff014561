//! The library's integration tests (`[[test]]` targets of this crate; see
//! `Cargo.toml`). This library is empty on purpose: the tests live in their
//! own files and share `support/`. Nothing here is published.
