#[tenancy_schema::tenant_scoped]
diesel::table! {
    app.posts (id) {
        id -> Int4,
        title -> Text,
    }
}

fn main() {}
