use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy, TenantId};

#[tenancy_schema::global_table]
diesel::table! {
    categories (id) {
        id -> Int4,
        name -> Text,
    }
}

#[tenancy_schema::tenant_scoped(index(category_id), unique(slug))]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
        slug -> Text,
        category_id -> Nullable<Int4>,
    }
}

// As `diesel print-schema` writes it: tenant_id and the composite key already exist.
#[tenancy_schema::tenant_scoped(foreign_key(post_id -> posts))]
diesel::table! {
    comments (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Int4,
        post_id -> Int4,
        body -> Text,
    }
}

diesel::joinable!(posts -> categories (category_id));
diesel::allow_tables_to_appear_in_same_query!(categories, posts, comments);

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
