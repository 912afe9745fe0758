#[tenancy_schema::tenant_scoped(indexes(title))]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

fn main() {}
