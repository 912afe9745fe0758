use tenancy_schema::{Error, Tenancy, TenantId};

#[tenancy_schema::tenant_scoped]
diesel::table! {
    memberships (user_id, group_id) {
        user_id -> Int4,
        group_id -> Int4,
        role -> Text,
    }
}

fn run(tenancy: &Tenancy, tenant: TenantId) -> Result<(), Error> {
    tenancy.transaction(tenant, |tx| {
        let _row: (tenancy_schema::TenantId, i32, i32, String) = tx.find(memberships::table, 1)?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
