#[tenancy_schema::global_table(index(name))]
diesel::table! {
    categories (id) {
        id -> Int4,
        name -> Text,
    }
}

fn main() {}
