#[tenancy_schema::tenant_scoped]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

#[tenancy_schema::tenant_scoped]
#[derive(diesel::Queryable, diesel::Insertable)]
#[diesel(table_name = posts)]
struct Post {
    id: i32,
    title: String,
}

fn main() {}
