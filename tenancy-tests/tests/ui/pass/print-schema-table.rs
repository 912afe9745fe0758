use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy, TenantId};

// As `diesel print-schema` writes it: the tenant column and the composite key exist already.
#[tenancy_schema::tenant_scoped(unique(slug))]
diesel::table! {
    use diesel::sql_types::*;

    articles (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Int8,
        slug -> Varchar,
    }
}

// Composite non-tenant key: looked up with `first`, not `find`.
#[tenancy_schema::tenant_scoped]
diesel::table! {
    memberships (user_id, group_id) {
        user_id -> Int4,
        group_id -> Int4,
    }
}

fn run(tenancy: &Tenancy, tenant: TenantId) -> Result<(), Error> {
    tenancy.transaction(tenant, |tx| {
        let _: (TenantId, i64, String) = tx.find(articles::table, 7_i64)?;
        tx.insert(articles::table, (articles::id.eq(1_i64), articles::slug.eq("a")))?;
        let _: (TenantId, i32, i32) = tx.first(memberships::table.filter(memberships::user_id.eq(1)).filter(memberships::group_id.eq(2)))?;
        Ok(())
    })
}

fn main() {
    if false {
        let _ = run;
    }
}
