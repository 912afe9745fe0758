//! Fuzz checks for `tenancy`; the targets in `fuzz_targets/` are one line each.
//!
//! The check bodies live in plain files so that the normal `cargo test` replays the committed
//! corpus through exactly the same assertions without cargo-fuzz:
//! `tenancy-tests/tests/fuzz_corpus.rs` includes [`checks`], `tenancy-macros/src/args.rs` includes
//! [`macro_checks`] in a unit test.

// Under `cfg(test)` `args.rs` mounts `macro_checks.rs` a second time for its corpus replay.
#![cfg_attr(test, allow(clippy::duplicate_mod))]

pub mod checks;

/// The attribute parser of `#[tenant_scoped(...)]`, compiled from the macro crate's source:
/// a proc-macro crate cannot export it, and `args.rs` only depends on `syn` and `proc_macro2`.
#[path = "../../tenancy-macros/src/args.rs"]
#[allow(dead_code)]
pub mod args;

pub mod macro_checks;
