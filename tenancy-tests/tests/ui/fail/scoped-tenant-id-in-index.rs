#[tenancy_schema::tenant_scoped(index(tenant_id, title))]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

fn main() {}
