use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy, TenantId};

include!("../schema.rs");

#[tenancy_schema::tenant_scoped]
#[derive(Insertable)]
#[diesel(table_name = posts)]
struct NewPost<'a> {
    id: i32,
    title: &'a str,
    slug: &'a str,
}

#[tenancy_schema::tenant_scoped]
#[derive(AsChangeset)]
#[diesel(table_name = posts)]
struct PostChanges<'a> {
    title: &'a str,
}

fn run(tenancy: &Tenancy, tenant: TenantId) -> Result<(), Error> {
    tenancy.transaction(tenant, |tx| {
        tx.insert(posts::table, NewPost { id: 1, title: "a", slug: "a" })?;
        tx.insert(posts::table, (posts::id.eq(2), posts::title.eq("b"), posts::slug.eq("b")))?;
        let batch = vec![NewPost { id: 3, title: "c", slug: "c" }, NewPost { id: 4, title: "d", slug: "d" }];
        tx.insert_batch(posts::table, &batch)?;
        let _: (TenantId, i32, String, String, Option<i32>) =
            tx.insert_returning(posts::table, (posts::id.eq(5), posts::title.eq("e"), posts::slug.eq("e")))?;
        tx.upsert(
            posts::table,
            NewPost { id: 1, title: "a2", slug: "a" },
            posts::id,
            posts::title.eq(diesel::upsert::excluded(posts::title)),
        )?;
        tx.update(posts::table).filter(posts::id.eq(2)).set(posts::title.eq("b2")).execute()?;
        tx.update(posts::table).filter(posts::id.eq(2)).set(&PostChanges { title: "b3" }).execute()?;
        tx.delete(posts::table).filter(posts::id.eq(3)).execute()?;
        tx.delete(comments::table).execute()?;
        tx.execute(diesel::sql_query("UPDATE posts SET title = 'x' WHERE id = 4"))?;
        Ok(())
    })
}

fn main() {
    let _ = run;
}
