#[tenancy_schema::tenant_scoped(unique())]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

fn main() {}
