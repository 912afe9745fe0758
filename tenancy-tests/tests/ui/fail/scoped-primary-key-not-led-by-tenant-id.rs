#[tenancy_schema::tenant_scoped]
diesel::table! {
    posts (id) {
        tenant_id -> Uuid,
        id -> Int4,
        title -> Text,
    }
}

fn main() {}
