use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy, TenantId};

#[tenancy_schema::tenant_scoped]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

#[tenancy_schema::tenant_scoped]
diesel::table! {
    comments (id) {
        id -> Int4,
    }
}

fn run(tenancy: &Tenancy, tenant: TenantId) -> Result<(), Error> {
    tenancy.transaction(tenant, |tx| {
        tx.insert_into(posts::table)
            .values((posts::id.eq(1), posts::title.eq("x")))
            .on_conflict(comments::id)
            .do_nothing()
            .execute()?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
