use diesel::prelude::*;
use tenancy_async::AsyncTenancy;
use tenancy_schema::{Error, TenantId};

#[tenancy_schema::tenant_scoped]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

async fn run(tenancy: &AsyncTenancy, tenant: TenantId) -> Result<(), Error> {
    tenancy
        .transaction(tenant, async |tx| {
            let query = posts::table.select(posts::title);
            let _titles: Vec<String> = diesel_async::RunQueryDsl::load(query, tx).await?;
            Ok(())
        })
        .await
}

fn main() {
    let _ = run;
}
