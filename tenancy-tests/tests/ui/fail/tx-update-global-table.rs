use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy, TenantId};

#[tenancy_schema::global_table]
diesel::table! {
    categories (id) {
        id -> Int4,
        name -> Text,
    }
}

fn run(tenancy: &Tenancy, tenant: TenantId) -> Result<(), Error> {
    tenancy.transaction(tenant, |tx| {
        tx.update(categories::table).filter(categories::id.eq(1)).set(categories::name.eq("x")).execute()?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
