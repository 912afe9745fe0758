use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy, TenantId};

#[tenancy_schema::tenant_scoped]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

diesel::table! {
    things (id) {
        id -> Int4,
        name -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(posts, things);

fn run(tenancy: &Tenancy, tenant: TenantId) -> Result<(), Error> {
    tenancy.transaction(tenant, |tx| {
        let _rows: Vec<(String, String)> = tx.load(
            posts::table
                .inner_join(things::table.on(things::id.eq(posts::id)))
                .select((posts::title, things::name)),
        )?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
