// docs/guides/new-tenant-model.md, step 5: Diesel's own `.load` on the guide's model does not
// compile with a tenant transaction; `tx.load(query)` is the way.
include!("../../../../docs/guides/deployments.rs");

fn leak(tx: &mut TenantTx<'_>) -> Result<Vec<Deployment>, Error> {
    Ok(deployments::table.select(Deployment::as_select()).load(tx)?)
}

fn main() {
    let _ = (leak, start, in_state);
}
