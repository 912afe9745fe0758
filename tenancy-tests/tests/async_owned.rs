//! The owned async transaction (`AsyncTenancy::begin`), against real PostgreSQL as the
//! application's login: it commits and rolls back like the closure API, carries its tenant
//! and principal, and, dropped without either, never returns its connection to the pool
//! inside a transaction or with a tenant context.

mod common;

use common::schema::posts;
use common::{Rls, assert_async_sessions_clean, async_tenancy, async_titles as titles};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use tenancy_schema::PrincipalId;

async fn insert(tx: &mut tenancy_async::OwnedTenantTx, id: i32, title: &str) {
    tx.tx()
        .insert_into(posts::table)
        .values((
            posts::id.eq(id),
            posts::title.eq(title.to_owned()),
            posts::slug.eq(format!("owned-{id}")),
        ))
        .execute()
        .await
        .expect("insert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_transaction_commits_rolls_back_and_is_closed_when_dropped() {
    let (a, b) = Rls::On.two_tenants();
    let t = async_tenancy(Rls::On, 2).await;

    let mut tx = t.begin(a, None).await.expect("begin");
    assert_eq!((tx.tenant(), tx.principal()), (a, None));
    insert(&mut tx, 10, "committed").await;
    // Scoped like any tenant transaction: only a's rows.
    let seen: Vec<String> = tx
        .tx()
        .load(posts::table.order(posts::id).select(posts::title))
        .await
        .expect("load");
    assert_eq!(seen, ["a one", "a two", "committed"]);
    tx.commit().await.expect("commit");

    let mut tx = t.begin(a, None).await.expect("begin");
    insert(&mut tx, 11, "rolled back").await;
    tx.rollback().await.expect("rollback");

    // Dropped open, as a cancelled request drops it: the pool closes the connection.
    let mut tx = t.begin(a, None).await.expect("begin");
    insert(&mut tx, 12, "dropped").await;
    let (open_before, _) = t.pool_state();
    drop(tx);
    let (open_after, _) = t.pool_state();
    assert_eq!(
        open_after,
        open_before - 1,
        "the dropped transaction's connection closed"
    );

    assert_async_sessions_clean(&t, "after commit, rollback and drop").await;
    assert_eq!(titles(&t, a).await, ["a one", "a two", "committed"]);
    assert_eq!(titles(&t, b).await, ["b one", "b two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_transaction_carries_its_principal_and_options() {
    #[derive(QueryableByName)]
    struct Principal {
        #[diesel(sql_type = Nullable<Text>)]
        principal: Option<String>,
    }
    let (a, _) = Rls::On.two_tenants();
    let t = async_tenancy(Rls::On, 2).await;
    let principal = PrincipalId::new_v7();

    let mut tx = t.begin(a, Some(principal)).await.expect("begin");
    let seen: Vec<Principal> = tx
        .tx()
        .load_sql(diesel::sql_query(
            "SELECT tenancy.current_principal()::text AS principal",
        ))
        .await
        .expect("principal");
    assert_eq!(
        seen[0].principal.as_deref(),
        Some(principal.as_uuid().to_string().as_str())
    );
    tx.commit().await.expect("commit");

    // The same through the closure API.
    let seen: Vec<Principal> = t
        .transaction_as(a, principal, async |tx| {
            tx.load_sql(diesel::sql_query(
                "SELECT tenancy.current_principal()::text AS principal",
            ))
            .await
        })
        .await
        .expect("principal");
    assert_eq!(
        seen[0].principal.as_deref(),
        Some(principal.as_uuid().to_string().as_str())
    );

    let mut tx = t
        .build_transaction(a)
        .read_only()
        .begin()
        .await
        .expect("begin read only");
    let write = tx
        .tx()
        .insert_into(posts::table)
        .values((
            posts::id.eq(20),
            posts::title.eq("read only".to_owned()),
            posts::slug.eq("read-only".to_owned()),
        ))
        .execute()
        .await;
    assert!(write.is_err(), "a read-only transaction refused the write");
    tx.rollback().await.expect("rollback");
    assert_async_sessions_clean(&t, "after a principal and a read-only transaction").await;
}
