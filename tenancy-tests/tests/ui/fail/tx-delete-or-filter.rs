use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy, TenantId};

include!("../schema.rs");

fn run(tenancy: &Tenancy, tenant: TenantId) -> Result<usize, Error> {
    tenancy.transaction(tenant, |tx| {
        tx.delete(posts::table)
            .filter(posts::id.eq(1))
            .or_filter(posts::id.eq(2))
            .execute()
    })
}

fn main() {
    let _ = run;
}
