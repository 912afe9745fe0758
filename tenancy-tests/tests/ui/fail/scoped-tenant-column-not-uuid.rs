#[tenancy_schema::tenant_scoped]
diesel::table! {
    posts (tenant_id, id) {
        tenant_id -> Int4,
        id -> Int4,
        title -> Text,
    }
}

fn main() {}
