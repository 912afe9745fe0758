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
        let _title: String = diesel::update(posts::table).set(posts::title.eq("x")).returning(posts::title).get_result(tx)?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
