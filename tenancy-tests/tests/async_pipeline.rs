//! Async tenant transactions whose opening is pipelined with their first statement
//! (`AsyncTenancyBuilder::pipeline(true)`), against real PostgreSQL as the application's login:
//! no statement ever runs without its opening in front of it (a refused opening also refuses
//! every later statement, and nothing they would have written is kept, even with row level
//! security off; on extension 1.7 also behind a refused `BEGIN` that carries the entry), the
//! first statement runs inside the transaction, a transaction without
//! statements is still checked, and a connection the server closed is not used.
//!
//! The isolation and cancellation suites (`async_isolation.rs`) run every case with the opening
//! pipelined as well.

mod common;

use std::time::Duration;

use common::schema::posts;
use common::{
    Rls, assert_async_sessions_clean, async_tenancy_named, async_tenancy_with,
    async_titles as titles,
};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use tenancy_schema::{Error, TenantId};

fn suspend(rls: Rls, tenant: TenantId) {
    rls.owner()
        .batch_execute(&format!(
            "UPDATE tenants SET status = 'suspended' WHERE id = '{}'",
            tenant.as_uuid()
        ))
        .expect("suspend the tenant");
}

/// Rows of `tenant` in `posts`, counted by the table's owner (no policy applies to it).
fn rows_of(rls: Rls, tenant: TenantId) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    diesel::sql_query("SELECT count(*) AS n FROM posts WHERE tenant_id = $1::uuid")
        .bind::<Text, _>(tenant.as_uuid().to_string())
        .get_result::<Count>(&mut rls.owner())
        .expect("count as owner")
        .n
}

#[derive(QueryableByName)]
struct Terminated {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn insert(tx: &mut tenancy_async::AsyncTenantTx<'_>, id: i32) -> Result<usize, Error> {
    tx.insert_into(posts::table)
        .values((
            posts::id.eq(id),
            posts::title.eq("written"),
            posts::slug.eq(format!("written-{id}")),
        ))
        .execute()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_statement_runs_without_its_opening() {
    for rls in Rls::all() {
        let (a, _) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, true).await;
        suspend(rls, a);
        let before = rows_of(rls, a);
        // Every statement is refused with the opening's error, even when the closure ignores
        // the refusals and carries on; the transaction reports it too.
        let mut seen = Vec::new();
        let result = t
            .transaction(a, async |tx| {
                for id in [500, 501, 502] {
                    seen.push(insert(tx, id).await);
                }
                Ok::<_, Error>(())
            })
            .await;
        assert!(
            matches!(result, Err(Error::TenantSuspended(t)) if t == a),
            "{rls:?}: {result:?}"
        );
        assert_eq!(seen.len(), 3);
        for r in &seen {
            assert!(
                matches!(r, Err(Error::TenantSuspended(t)) if *t == a),
                "{rls:?}: {seen:?}"
            );
        }
        // Nothing was written, also where only tenancy stands between the statement and the
        // table (row level security off): no statement ran outside a transaction.
        assert_eq!(rows_of(rls, a), before, "{rls:?}");
        assert_async_sessions_clean(&t, &format!("{rls:?}: after a refused opening")).await;
    }
}

/// On extension 1.7, a pipelined opening is, from a connection's second transaction on, the
/// `BEGIN` that carries the entry in its comment (the prepared entry no longer runs). A refused
/// entry fails that `BEGIN`, which leaves no transaction open; the extension then fails the
/// statement sent behind it, so that statement writes nothing, also where only tenancy stands
/// between it and the table (row level security off), and the connection goes back clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_begin_carrying_the_entry_refuses_the_statement_behind_it() {
    #[derive(QueryableByName)]
    struct Runs {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let entry_runs = "SELECT coalesce(sum(generic_plans + custom_plans), 0)::int8 AS n \
                      FROM pg_prepared_statements \
                      WHERE statement = 'SELECT WHERE tenancy_context.enter_block($1) IS NULL'";
    let native: Vec<Rls> = Rls::all().into_iter().filter(|r| r.native()).collect();
    if native.is_empty() {
        eprintln!("skipped: the tenancy_context extension is not installed");
        return;
    }
    for rls in native {
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, true).await;
        // The connection's first transaction loads the library: BEGIN and the prepared entry.
        t.transaction(a, async |tx| insert(tx, 700).await)
            .await
            .unwrap();
        let runs: Vec<Runs> = t
            .transaction(a, async |tx| {
                tx.load_sql(diesel::sql_query(entry_runs)).await
            })
            .await
            .unwrap();
        assert_eq!(
            runs[0].n, 1,
            "{rls:?}: the later opening ran the prepared entry"
        );

        suspend(rls, a);
        let before = rows_of(rls, a);
        let result = t.transaction(a, async |tx| insert(tx, 701).await).await;
        assert!(
            matches!(result, Err(Error::TenantSuspended(t)) if t == a),
            "{rls:?}: {result:?}"
        );
        assert_eq!(
            rows_of(rls, a),
            before,
            "{rls:?}: the statement behind the refusal ran"
        );
        assert_async_sessions_clean(&t, &format!("{rls:?}: after a refused BEGIN")).await;
        // The same connection serves the next transaction.
        t.transaction(b, async |tx| insert(tx, 702).await)
            .await
            .unwrap();
        assert_eq!(
            titles(&t, b).await,
            ["b one", "b two", "written"],
            "{rls:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_statement_runs_inside_the_transaction() {
    #[derive(QueryableByName)]
    struct Seen {
        #[diesel(sql_type = Text)]
        tenant: String,
        #[diesel(sql_type = Text)]
        xact: String,
    }
    for rls in Rls::all() {
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, true).await;
        // The first statement sees the context and the transaction the second one sees.
        let (first, second) = t
            .transaction(a, async |tx| {
                let sql = "SELECT tenancy.current_tenant()::text AS tenant, \
                           pg_current_xact_id()::text AS xact";
                let first: Vec<Seen> = tx.load_sql(diesel::sql_query(sql)).await?;
                let second: Vec<Seen> = tx.load_sql(diesel::sql_query(sql)).await?;
                Ok::<_, Error>((first, second))
            })
            .await
            .unwrap();
        assert_eq!(first[0].tenant, a.as_uuid().to_string(), "{rls:?}");
        assert_eq!(first[0].xact, second[0].xact, "{rls:?}");
        // On the native context the connection's first transaction (above) sent the entry as
        // a prepared statement behind a textual BEGIN, where the statement had to wait for its
        // Parse; the later ones carry it in BEGIN's comment (extension 1.7). Each first
        // statement still sees its own tenant's context, whichever tenant the connection
        // served before.
        for (round, tenant) in [a, b, a, b].into_iter().enumerate() {
            #[derive(QueryableByName)]
            struct Prepared {
                #[diesel(sql_type = Text)]
                tenant: String,
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let seen: Vec<Prepared> = t
                .transaction(tenant, async |tx| {
                    tx.load_sql(diesel::sql_query(
                        "SELECT tenancy.current_tenant()::text AS tenant, \
                         (SELECT count(*) FROM pg_prepared_statements \
                           WHERE statement = 'SELECT WHERE tenancy_context.enter_block($1) IS NULL') AS n",
                    ))
                    .await
                })
                .await
                .unwrap();
            assert_eq!(
                seen[0].tenant,
                tenant.as_uuid().to_string(),
                "{rls:?} {round}"
            );
            assert_eq!(seen[0].n, i64::from(rls.native()), "{rls:?} {round}");
        }
        // A first statement that writes is rolled back with its transaction.
        let before = rows_of(rls, a);
        let result = t
            .transaction(a, async |tx| {
                insert(tx, 600).await?;
                Err::<(), _>(Error::MissingAdminReason)
            })
            .await;
        assert!(
            matches!(result, Err(Error::MissingAdminReason)),
            "{result:?}"
        );
        assert_eq!(rows_of(rls, a), before, "{rls:?}");
        // And one that commits is there, in its own tenant only.
        t.transaction(a, async |tx| insert(tx, 601).await)
            .await
            .unwrap();
        assert_eq!(rows_of(rls, a), before + 1, "{rls:?}");
        assert_eq!(titles(&t, b).await, ["b one", "b two"], "{rls:?}");
        assert_async_sessions_clean(&t, &format!("{rls:?}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_without_statements_is_still_checked() {
    let rls = Rls::On;
    let (a, b) = rls.two_tenants();
    let t = async_tenancy_with(rls, 1, true).await;
    t.transaction(a, async |_tx| Ok::<_, Error>(()))
        .await
        .unwrap();
    let unknown = TenantId::new_v7();
    let r = t.transaction(unknown, async |_tx| Ok::<_, Error>(())).await;
    assert!(
        matches!(r, Err(Error::TenantNotFound(t)) if t == unknown),
        "{r:?}"
    );
    suspend(rls, b);
    let r = t.transaction(b, async |_tx| Ok::<_, Error>(())).await;
    assert!(
        matches!(r, Err(Error::TenantSuspended(t)) if t == b),
        "{r:?}"
    );
    // The same through a transaction held as a value.
    let owned = t.begin(b, None).await.expect("nothing is sent yet");
    let r = owned.commit().await;
    assert!(
        matches!(r, Err(Error::TenantSuspended(t)) if t == b),
        "{r:?}"
    );
    // A transaction that fails before its first statement sent nothing: its connection is
    // kept (the pool of one still has it open), and clean.
    let (open_before, _) = t.pool_state();
    let r = t
        .transaction(a, async |_tx| Err::<(), _>(Error::MissingAdminReason))
        .await;
    assert!(matches!(r, Err(Error::MissingAdminReason)), "{r:?}");
    let dropped = t.begin(a, None).await.expect("nothing is sent yet");
    drop(dropped);
    assert_eq!(t.pool_state().0, open_before);
    assert_async_sessions_clean(&t, "after transactions without statements").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_closed_is_not_used() {
    let rls = Rls::On;
    let (a, _) = rls.two_tenants();
    // The pool's sessions carry their own application name, so that only they are terminated,
    // not those of the tests running beside this one on the same login. The sub-query (kept
    // apart by `OFFSET 0`) filters before anything is terminated: in one WHERE, PostgreSQL may
    // evaluate the terminate first.
    let name = "tenancy-test-server-closed";
    let t = async_tenancy_named(rls, 2, true, Some(name)).await;
    // Both connections open and idle.
    assert_async_sessions_clean(&t, "before").await;
    assert_eq!(t.pool_state(), (2, 2));
    let mut owner = rls.owner();
    let terminated: i64 = diesel::sql_query(format!(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n \
         FROM (SELECT pid FROM pg_stat_activity WHERE application_name = '{name}' OFFSET 0) AS pool"
    ))
    .get_result::<Terminated>(&mut owner)
    .expect("terminate the pool's sessions")
    .n;
    // At least the pool's two (the build's own checks may still hold a session of theirs).
    assert!(terminated >= 2, "terminated {terminated} sessions");
    // The client sees the socket close once its connection task has read the server's
    // goodbye; give it the time to.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        assert_eq!(titles(&t, a).await, ["a one", "a two"]);
    }
    assert_async_sessions_clean(&t, "after the server closed the idle connections").await;
}

/// With extension 1.6, an async pool (not pipelined) opens a connection's first tenant
/// transaction with the prepared `tenancy_context.begin(..)`, which loads the library, and the
/// later ones with the entry in `BEGIN`'s comment, isolation level or not: what the server last
/// ran for the connection, seen from another session while the transaction is open and has run
/// nothing yet. Pipelined openings do the same from extension 1.7 on
/// (`a_refused_begin_carrying_the_entry_refuses_the_statement_behind_it`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_openings_carry_the_entry_in_begin() {
    #[derive(QueryableByName)]
    struct Activity {
        #[diesel(sql_type = Text)]
        query: String,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    if !tenancy_testing::native_context_available().expect("look for the extension") {
        eprintln!("skipped: the tenancy_context extension is not installed");
        return;
    }
    let rls = Rls::OnNative;
    let (a, _) = rls.two_tenants();
    let name = "tenancy-test-begin-comment";
    let t = async_tenancy_named(rls, 1, false, Some(name)).await;
    let mut seen = Vec::new();
    for serializable in [false, false, true] {
        let builder = t.build_transaction(a);
        let builder = if serializable {
            builder.serializable()
        } else {
            builder
        };
        let (query, n) = builder
            .run(async |tx| {
                let seen: Activity = diesel::sql_query(
                    "SELECT query FROM pg_stat_activity \
                     WHERE application_name = $1 AND state = 'idle in transaction'",
                )
                .bind::<Text, _>(name)
                .get_result(&mut rls.owner())
                .expect("the pool's session");
                let n: Vec<Count> = tx
                    .load_sql(diesel::sql_query("SELECT count(*) AS n FROM posts"))
                    .await?;
                Ok::<_, Error>((seen.query, n[0].n))
            })
            .await
            .expect("a tenant transaction");
        assert_eq!(n, 2);
        seen.push(query);
    }
    assert_eq!(
        seen[0], "SELECT WHERE tenancy_context.begin($1, $2) IS NULL",
        "{seen:?}"
    );
    assert!(
        seen[1].starts_with("BEGIN /*tenancy_context.entry:"),
        "{seen:?}"
    );
    assert!(
        seen[2].starts_with("BEGIN ISOLATION LEVEL SERIALIZABLE /*tenancy_context.entry:"),
        "{seen:?}"
    );
    assert_async_sessions_clean(&t, "after").await;
}
