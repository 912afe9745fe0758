#[tenancy_schema::tenant_scoped]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

#[tenancy_schema::tenant_scoped]
#[derive(diesel::AsChangeset)]
#[diesel(table_name = posts)]
struct PostChanges {
    tenant_id: tenancy_schema::TenantId,
    title: String,
}

fn main() {}
