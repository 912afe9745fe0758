use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy};

#[tenancy_schema::tenant_scoped]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
    }
}

fn run(tenancy: &Tenancy) -> Result<(), Error> {
    tenancy.system(|sys| {
        let _rows: Vec<(i32, String)> = sys.load(posts::table.select((posts::id, posts::title)))?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
