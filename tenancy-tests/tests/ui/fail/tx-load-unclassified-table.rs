use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy, TenantId};

diesel::table! {
    things (id) {
        id -> Int4,
        name -> Text,
    }
}

fn run(tenancy: &Tenancy, tenant: TenantId) -> Result<(), Error> {
    tenancy.transaction(tenant, |tx| {
        let _names: Vec<String> = tx.load(things::table.select(things::name))?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
