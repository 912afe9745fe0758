#[tenancy_schema::global_table]
diesel::table! {
    categories (id) {
        id -> Int4,
        tenant_id -> Uuid,
        name -> Text,
    }
}

fn main() {}
