use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy};

diesel::table! {
    things (id) {
        id -> Int4,
        name -> Text,
    }
}

fn run(tenancy: &Tenancy) -> Result<(), Error> {
    tenancy.system(|sys| {
        let _names: Vec<String> = sys.load(things::table.select(things::name))?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
