#[tenancy_schema::tenant_scoped(tenant_column = org_id)]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

fn main() {}
