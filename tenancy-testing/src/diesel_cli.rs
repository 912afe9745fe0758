//! Where the diesel CLI is: the tests that run it (migrations, `tenancy init`,
//! `tenancy print-schema`, the example application) and the `tenancy` command itself look it
//! up the same way.

use std::path::{Path, PathBuf};

/// The `diesel` binary on `PATH`, or in `~/.cargo/bin` (where `cargo install` puts it).
#[must_use]
pub fn find_diesel_cli() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("diesel"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        std::env::var_os("HOME")
            .map(|h| Path::new(&h).join(".cargo/bin/diesel"))
            .filter(|p| p.is_file())
    })
}

/// [`find_diesel_cli`] for a test that skips its diesel CLI part when the CLI is missing,
/// unless `TENANCY_REQUIRE_DIESEL_CLI` is set (as CI sets it): then a missing CLI fails the
/// test instead of letting it pass untested.
///
/// # Panics
/// When `TENANCY_REQUIRE_DIESEL_CLI` is set and no `diesel` binary is found.
#[must_use]
pub fn diesel_cli_for_test() -> Option<PathBuf> {
    let found = find_diesel_cli();
    assert!(
        found.is_some() || std::env::var_os("TENANCY_REQUIRE_DIESEL_CLI").is_none(),
        "TENANCY_REQUIRE_DIESEL_CLI is set but no `diesel` binary was found: cargo install diesel_cli --no-default-features --features postgres"
    );
    found
}

/// Writes into `dir` a copy of the repository's `diesel.toml` (at `repo`) for a test that runs
/// the diesel CLI: the migrations directory made absolute, and the `schema.rs` the CLI
/// regenerates after every run written into `dir` too, so that a test never rewrites the
/// repository's. Returns the copy's path, for `--config-file`.
///
/// # Errors
/// Reading the repository's file or writing the copy.
pub fn scratch_diesel_config(repo: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    let config = dir.join("diesel.toml");
    let repo_config = std::fs::read_to_string(repo.join("diesel.toml"))?;
    std::fs::write(
        &config,
        repo_config
            .replace(
                "file = \"tenancy-foundation/src/schema.rs\"",
                &format!("file = {:?}", dir.join("schema.rs").display().to_string()),
            )
            .replace(
                "dir = \"migrations\"",
                &format!("dir = {:?}", repo.join("migrations").display().to_string()),
            ),
    )?;
    Ok(config)
}
