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
        let other = TenantId::new_v7();
        tx.insert_into(posts::table)
            .values((posts::tenant_id.eq(other), posts::id.eq(1), posts::title.eq("x")))
            .execute()?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
