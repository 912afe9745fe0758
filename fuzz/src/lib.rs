//! Fuzz targets for `tenancy`; each target in `fuzz_targets/` is one line. The checks are
//! shared with the normal `cargo test`, which replays the committed corpora through exactly the
//! same assertions without cargo-fuzz (`tenancy-tests/tests/fuzz_corpus.rs`): the macro's live
//! in `tenancy-macros-parse` (`checks`), the typed ids' and API keys' in `tenancy-tests`
//! (`fuzz_checks`).

pub use tenancy_macros_parse::checks as macro_checks;
pub use tenancy_tests::fuzz_checks as checks;
