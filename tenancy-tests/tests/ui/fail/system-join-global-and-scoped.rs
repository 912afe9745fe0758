use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy};

#[tenancy_schema::global_table]
diesel::table! {
    categories (id) {
        id -> Int4,
        name -> Text,
    }
}

#[tenancy_schema::tenant_scoped]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
        category_id -> Int4,
    }
}

diesel::allow_tables_to_appear_in_same_query!(categories, posts);

fn run(tenancy: &Tenancy) -> Result<(), Error> {
    tenancy.system(|sys| {
        let _rows: Vec<(String, String)> = sys.load(
            categories::table
                .inner_join(posts::table.on(posts::category_id.eq(categories::id)))
                .select((categories::name, posts::title)),
        )?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
