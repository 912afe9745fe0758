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
        diesel::delete(posts::table.filter(posts::id.eq(1))).execute(tx)?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
