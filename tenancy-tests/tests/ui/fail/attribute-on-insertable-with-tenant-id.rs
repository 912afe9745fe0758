#[tenancy_schema::tenant_scoped]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

#[tenancy_schema::tenant_scoped]
#[derive(diesel::Insertable)]
#[diesel(table_name = posts)]
struct NewPost {
    tenant_id: tenancy_schema::TenantId,
    id: i32,
    title: String,
}

fn main() {}
