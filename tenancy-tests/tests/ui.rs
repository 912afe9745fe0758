//! Compile-fail and compile-pass suite (trybuild): every way of reaching another tenant's rows
//! that the type system can see must fail with tenancy's own diagnostic, and the normal API
//! must keep compiling. Regenerate the `.stderr` files with `TRYBUILD=overwrite`.
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui/pass/*.rs"));
    t.compile_fail(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui/fail/*.rs"));
}
