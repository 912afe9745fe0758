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
        tx.execute(diesel::insert_into(posts::table).values((posts::id.eq(1), posts::title.eq("x"))))?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
