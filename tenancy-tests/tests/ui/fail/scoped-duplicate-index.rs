#[tenancy_schema::tenant_scoped(index(title), index(title))]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

fn main() {}
