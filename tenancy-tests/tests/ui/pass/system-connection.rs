use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy};

include!("../schema.rs");

fn run(tenancy: &Tenancy) -> Result<(), Error> {
    tenancy.system(|sys| {
        let _: Vec<(i32, String)> = sys.load(categories::table.select((categories::id, categories::name)))?;
        let _: String = sys.get_result(categories::table.select(categories::name).filter(categories::id.eq(1)))?;
        sys.execute(diesel::insert_into(categories::table).values((categories::id.eq(1), categories::name.eq("x"))))?;
        sys.execute(diesel::update(categories::table).set(categories::name.eq("y")))?;
        sys.execute(diesel::delete(categories::table.filter(categories::id.eq(1))))?;
        Ok::<_, Error>(())
    })?;
    tenancy.admin("ui test: cross-tenant report", |conn| {
        let _: i64 = posts::table.count().get_result(conn).map_err(Error::from)?;
        Ok::<_, Error>(())
    })
}

fn main() {
    let _ = run;
}
