use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy, TenantId};

include!("../schema.rs");

fn run(tenancy: &Tenancy, tenant: TenantId) -> Result<(), Error> {
    tenancy.transaction(tenant, |tx| {
        let _: Vec<(i32, String)> = tx.load(posts::table.select((posts::id, posts::title)).filter(posts::id.gt(1)).order(posts::id.desc()))?;
        let _: Vec<(String, String)> = tx.load(posts::table.inner_join(comments::table.on(comments::post_id.eq(posts::id))).select((posts::title, comments::body)))?;
        let _: Vec<(String, Option<String>)> = tx.load(posts::table.left_join(categories::table).select((posts::title, categories::name.nullable())))?;
        let boxed = posts::table.select(posts::title).filter(posts::slug.eq("a")).into_boxed();
        let _: Vec<String> = tx.load(boxed)?;
        let parent = diesel::alias!(posts as parent);
        let _: Vec<String> = tx.load(parent.select(parent.field(posts::title)))?;
        let _: String = tx.get_result(posts::table.select(posts::title).filter(posts::id.eq(1)))?;
        let _: String = tx.first(posts::table.select(posts::title))?;
        let _: (TenantId, i32, String, String, Option<i32>) = tx.find(posts::table, 1)?;
        let _: i64 = tx.count(posts::table)?;
        let _: bool = tx.exists(posts::table.filter(posts::id.eq(1)))?;
        let _: Vec<i32> = tx.load(posts::table.select(posts::id).for_update())?;
        let _: Vec<String> = tx.load(categories::table.select(categories::name))?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
