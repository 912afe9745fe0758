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
        let _n: Vec<Option<i64>> = tx.load(diesel::select(
            posts::table.select(diesel::dsl::count_star()).single_value(),
        ))?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
