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
        let _row: (i32, String) = tx.find(categories::table, 1)?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
