use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy, TenantId};

#[tenancy_schema::tenant_scoped]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

fn run(tenancy: &Tenancy, tenant: TenantId) -> Result<(), Error> {
    tenancy.transaction(tenant, |tx| {
        let query = tx.scope(posts::table.select(posts::title))?;
        let _titles: Vec<String> = query.load(tx)?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
