#[tenancy_schema::tenant_scoped]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }

    comments (id) {
        id -> Int4,
        body -> Text,
    }
}

fn main() {}
