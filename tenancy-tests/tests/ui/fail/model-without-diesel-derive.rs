#[tenancy_schema::tenant_scoped]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

#[tenancy_schema::tenant_scoped]
#[derive(Debug)]
struct Post {
    id: i32,
    title: String,
}

fn main() {}
