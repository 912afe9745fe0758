//! The test suites of tenancy live in `tests/`. The library holds only what the fuzz targets
//! share with them: the properties of the typed-id and API key parsers.

pub mod fuzz_checks;
