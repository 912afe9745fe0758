//! The help of every command and the usage errors, as committed snapshots (`tests/cmd/`):
//! a changed flag or message shows up in review. Regenerate with `TRYCMD=overwrite`.

#[test]
fn help_and_usage_errors() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}
