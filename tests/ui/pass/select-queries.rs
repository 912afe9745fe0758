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
