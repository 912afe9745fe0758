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
        let _any: bool = tx.get_result(diesel::select(diesel::dsl::exists(posts::table.select(posts::id))))?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
