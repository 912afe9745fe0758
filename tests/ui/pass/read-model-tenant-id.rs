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
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = posts, check_for_backend(diesel::pg::Pg))]
struct Post {
    id: i32,
    title: String,
    slug: String,
    category_id: Option<i32>,
}

fn run(tenancy: &Tenancy, tenant: TenantId) -> Result<(), Error> {
    tenancy.transaction(tenant, |tx| {
        let posts: Vec<Post> = tx.load(posts::table.select(Post::as_select()))?;
        for post in posts {
            let owner: TenantId = post.tenant_id;
            assert_eq!(owner, tx.tenant());
            let _ = (post.id, post.title, post.slug, post.category_id);
        }
        Ok(())
    })
}

fn main() {
    let _ = run;
}
