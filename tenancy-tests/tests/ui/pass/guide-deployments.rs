// docs/guides/new-tenant-model.md: the worked example compiles as the guide shows it.
include!("../../../../docs/guides/deployments.rs");

fn main() {
    let _ = (start, in_state);
}
