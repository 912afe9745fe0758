use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy, TenantId};

diesel::table! {
    notes (id) {
        id -> Int4,
        title -> Text,
    }
}

fn run(tenancy: &Tenancy, tenant: TenantId) -> Result<(), Error> {
    tenancy.transaction(tenant, |tx| {
        tx.insert_into(notes::table)
            .values((notes::id.eq(1), notes::title.eq("x")))
            .execute()?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
