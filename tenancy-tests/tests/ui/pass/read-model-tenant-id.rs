use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy, TenantId};

include!("../schema.rs");

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
