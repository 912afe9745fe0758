#[tenancy_schema::global_table]
diesel::table! {
    categories (id) {
        id -> Int4,
        #[sql_name = "tenant_id"]
        owner -> Uuid,
        name -> Text,
    }
}

fn main() {}
