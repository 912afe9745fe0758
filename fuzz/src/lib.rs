//! Fuzz targets for `tenancy`; each target in `fuzz_targets/` is one line. The checks live
//! where the normal `cargo test` replays the committed corpus through exactly the same
//! assertions without cargo-fuzz: the macro's in `tenancy-macros-parse` (`checks`), the typed
//! ids' and API keys' in `tenancy-tests` (`fuzz_checks`).

pub use tenancy_macros_parse::checks as macro_checks;
pub use tenancy_tests::fuzz_checks as checks;
