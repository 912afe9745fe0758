//! Replays the committed fuzz corpora (`fuzz/corpus/{typed_id,api_key,macro_args}`) through
//! the same checks as the cargo-fuzz targets, so every input the fuzzer ever kept stays a
//! regression test of the normal `cargo test`, without nightly or cargo-fuzz.

mod common;

use tenancy_tests::fuzz_checks as checks;

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Runs `check` on every file of `fuzz/corpus/<target>`; returns how many files there were.
/// Panics listing every file that failed, not just the first.
fn replay(target: &str, check: fn(&[u8])) -> u64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        if panic::catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} corpus files fail (reproduce with `cargo fuzz run {target} <file>`):\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    assert!(
        !files.is_empty(),
        "{target}: no corpus files in {}",
        dir.display()
    );
    files.len() as u64
}

#[test]
fn typed_id_corpus_replays() {
    let files = replay("typed_id", checks::typed_id);
    common::record_counts(
        "fuzz-corpus",
        "typed_id",
        &[("corpus_files", files), ("failures", 0)],
    );
}

#[test]
fn api_key_corpus_replays() {
    let files = replay("api_key", checks::api_key);
    common::record_counts(
        "fuzz-corpus",
        "api_key",
        &[("corpus_files", files), ("failures", 0)],
    );
}

#[test]
fn macro_args_corpus_replays() {
    replay("macro_args", tenancy_macros_parse::checks::macro_args);
}
