use diesel::prelude::*;
use tenancy_async::AsyncTenancy;
use tenancy_schema::{Error, TenantId};

include!("../schema.rs");

#[tenancy_schema::tenant_scoped]
#[derive(Queryable, Selectable)]
#[diesel(table_name = posts)]
struct Post {
    id: i32,
    title: String,
}

async fn run(tenancy: &AsyncTenancy, tenant: TenantId) -> Result<(), Error> {
    tenancy
        .transaction(tenant, async |tx| {
            tx.insert_into(posts::table)
                .values((posts::id.eq(1), posts::title.eq("a"), posts::slug.eq("a")))
                .execute()
                .await?;
            tx.update(posts::table).filter(posts::id.eq(1)).set(posts::title.eq("b")).execute().await?;
            let _: Vec<Post> = tx.load(posts::table.select(Post::as_select())).await?;
            let _: Post = tx.first(posts::table.select(Post::as_select())).await?;
            let _: String = tx.get_result(posts::table.filter(posts::id.eq(1)).select(posts::title)).await?;
            let _: Vec<(String, Option<String>)> = tx
                .load(posts::table.left_join(categories::table).select((posts::title, categories::name.nullable())))
                .await?;
            tx.delete(posts::table).filter(posts::id.eq(1)).execute().await?;
            tx.execute(diesel::sql_query("SELECT 1")).await?;
            Ok::<_, Error>(())
        })
        .await?;
    let _: Vec<String> = tenancy
        .system(async |sys| sys.load(categories::table.select(categories::name)).await)
        .await?;
    Ok(())
}

// The futures are `Send`: a transaction runs in `tokio::spawn`.
fn spawnable(tenancy: AsyncTenancy, tenant: TenantId) -> impl std::future::Future<Output = ()> + Send + 'static {
    async move {
        let _ = run(&tenancy, tenant).await;
    }
}

fn main() {
    let _ = spawnable;
}
