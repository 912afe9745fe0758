#[tenancy_schema::tenant_scoped(foreign_key(author_id -> authors))]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

fn main() {}
