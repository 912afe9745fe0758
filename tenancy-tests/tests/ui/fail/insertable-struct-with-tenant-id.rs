use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy, TenantId};

#[tenancy_schema::tenant_scoped]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

#[derive(Insertable)]
#[diesel(table_name = posts)]
struct NewPost<'a> {
    tenant_id: TenantId,
    id: i32,
    title: &'a str,
}

fn run(tenancy: &Tenancy, tenant: TenantId) -> Result<(), Error> {
    tenancy.transaction(tenant, |tx| {
        let row = NewPost { tenant_id: TenantId::new_v7(), id: 1, title: "x" };
        tx.insert(posts::table, row)?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
