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
        sys.execute(diesel::update(posts::table).set(posts::title.eq("x")))?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
