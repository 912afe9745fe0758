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
        let other = diesel::alias!(things as other);
        let _names: Vec<String> = tx.load(other.select(other.field(things::name)))?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
