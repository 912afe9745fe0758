#[tenancy_schema::tenant_scoped(index(slug))]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

fn main() {}
