//! The test suites of tenancy live in `tests/`; this crate has no code of its own.
