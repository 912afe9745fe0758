//! PostgreSQL answers the `COMMIT` of a transaction a failed statement aborted with a
//! rollback, and no error. A closure that sets a statement's error aside and returns `Ok` must
//! not be told that its transaction committed: it gets `Error::AbortedTransaction`, and the
//! connection goes back to the pool clean. So does one whose statement was dropped before its
//! answer (a timeout of its own around one query), whatever the server made of it. A failure
//! undone inside the transaction (a savepoint rolled back to) commits as usual, and so does the
//! next transaction on the connection. Sync and async (pipelined or not), tenant transactions
//! and the system connection, row level security on and off.

mod common;

use std::time::Duration;

use common::schema::posts;
use common::{Rls, assert_async_sessions_clean, async_tenancy_with};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use tenancy_async::AsyncTenantTx;
use tenancy_schema::{Error, TenantId, TenantTx};

/// A row of raw SQL.
#[derive(QueryableByName, Debug)]
struct Number {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    #[allow(dead_code)] // reason: the statement fails before any row is read
    n: i32,
}

/// Whether `tenant` has a post with `slug`, as the table's owner sees it.
fn has_post(rls: Rls, tenant: TenantId, slug: &str) -> bool {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    diesel::sql_query("SELECT count(*) AS n FROM posts WHERE tenant_id = $1::uuid AND slug = $2")
        .bind::<Text, _>(tenant.as_uuid().to_string())
        .bind::<Text, _>(slug)
        .get_result::<Count>(&mut rls.owner())
        .expect("count as the owner")
        .n
        == 1
}

type NewPost = (
    diesel::dsl::Eq<posts::id, i32>,
    diesel::dsl::Eq<posts::title, &'static str>,
    diesel::dsl::Eq<posts::slug, String>,
);

fn post(id: i32, slug: &str) -> NewPost {
    (
        posts::id.eq(id),
        posts::title.eq("written"),
        posts::slug.eq(slug.to_owned()),
    )
}

/// Inserts a post with the slug `first`, which is taken: the unique violation aborts the
/// transaction, and its error is set aside as a careless closure would.
fn fail_unique(tx: &mut TenantTx<'_>, id: i32) {
    let dup = tx
        .insert_into(posts::table)
        .values(post(id, "first"))
        .execute();
    assert!(dup.is_err());
}

/// Writes the post `slug`.
async fn write_async(tx: &mut AsyncTenantTx<'_>, id: i32, slug: &str) -> Result<(), Error> {
    tx.insert_into(posts::table)
        .values(post(id, slug))
        .execute()
        .await
        .map(drop)
}

/// [`fail_unique`], async.
async fn fail_unique_async(tx: &mut AsyncTenantTx<'_>, id: i32) {
    let dup = tx
        .insert_into(posts::table)
        .values(post(id, "first"))
        .execute()
        .await;
    assert!(dup.is_err());
}

/// A statement that fails on the server after 200 ms.
const LATE_FAILURE: &str = "SELECT 1 / (pg_sleep(0.2) IS NULL)::int";

/// Sends `sql` and drops it 50 ms later, before its answer, as a timeout of the caller's
/// around one query would.
async fn drop_before_answer(tx: &mut AsyncTenantTx<'_>, sql: &str) {
    let dropped = tokio::time::timeout(
        Duration::from_millis(50),
        tx.execute(diesel::sql_query(sql)),
    )
    .await;
    assert!(dropped.is_err(), "the statement was still running");
}

#[test]
fn a_failed_statement_set_aside_is_never_reported_committed() {
    for rls in Rls::all() {
        let (a, _) = rls.two_tenants();
        let t = rls.tenancy(1);
        let slug = format!("sync-lost-{}", rls.native());
        let r = t.transaction(a, |tx| {
            tx.insert_into(posts::table)
                .values(post(800, &slug))
                .execute()?;
            fail_unique(tx, 801);
            Ok::<_, Error>(())
        });
        assert!(
            matches!(r, Err(Error::AbortedTransaction)),
            "{rls:?}: {r:?}"
        );
        assert!(!has_post(rls, a, &slug), "{rls:?}");
        // Undone by a savepoint of the closure's own: committed.
        let slug = format!("sync-kept-{}", rls.native());
        t.transaction(a, |tx| {
            tx.insert_into(posts::table)
                .values(post(802, &slug))
                .execute()?;
            tx.execute(diesel::sql_query("SAVEPOINT retry"))?;
            fail_unique(tx, 803);
            tx.execute(diesel::sql_query("ROLLBACK TO SAVEPOINT retry"))?;
            Ok::<_, Error>(())
        })
        .expect("committed");
        assert!(has_post(rls, a, &slug), "{rls:?}");
        // The system connection too.
        let r = t.system(|sys| {
            let failed = sys.load_sql::<_, Number>(diesel::sql_query("SELECT 1 / 0 AS n"));
            assert!(failed.is_err());
            Ok::<_, Error>(())
        });
        assert!(
            matches!(r, Err(Error::AbortedTransaction)),
            "{rls:?}: {r:?}"
        );
        // The pool's one connection serves the next transaction.
        assert_eq!(
            t.transaction(a, |tx| tx.count(posts::table))
                .map(|n| n > 0)
                .ok(),
            Some(true)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statement_set_aside_is_never_reported_committed_async() {
    for (rls, pipeline) in Rls::all_async() {
        let (a, _) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        let tag = format!("{}-{pipeline}", rls.native());
        let lost = format!("async-lost-{tag}");
        let r = t
            .transaction(a, async |tx| {
                write_async(tx, 810, &lost).await?;
                fail_unique_async(tx, 811).await;
                Ok::<_, Error>(())
            })
            .await;
        assert!(
            matches!(r, Err(Error::AbortedTransaction)),
            "{rls:?} {pipeline}: {r:?}"
        );
        assert!(!has_post(rls, a, &lost), "{rls:?} {pipeline}");
        // An owned transaction's commit, which the axum layer calls on a 2xx answer.
        let owned_lost = format!("async-owned-lost-{tag}");
        let mut owned = t.begin(a, None).await.expect("begin");
        write_async(&mut owned.tx(), 812, &owned_lost)
            .await
            .expect("write");
        fail_unique_async(&mut owned.tx(), 813).await;
        let r = owned.commit().await;
        assert!(
            matches!(r, Err(Error::AbortedTransaction)),
            "{rls:?} {pipeline}: {r:?}"
        );
        assert!(!has_post(rls, a, &owned_lost), "{rls:?} {pipeline}");
        // Undone by a savepoint of the closure's own: committed.
        let kept = format!("async-kept-{tag}");
        t.transaction(a, async |tx| {
            write_async(tx, 814, &kept).await?;
            tx.execute(diesel::sql_query("SAVEPOINT retry")).await?;
            fail_unique_async(tx, 815).await;
            tx.execute(diesel::sql_query("ROLLBACK TO SAVEPOINT retry"))
                .await?;
            Ok::<_, Error>(())
        })
        .await
        .expect("committed");
        assert!(has_post(rls, a, &kept), "{rls:?} {pipeline}");
        let r = t
            .system(async |sys| {
                let failed = sys
                    .load_sql::<_, Number>(diesel::sql_query("SELECT 1 / 0 AS n"))
                    .await;
                assert!(failed.is_err());
                Ok::<_, Error>(())
            })
            .await;
        assert!(
            matches!(r, Err(Error::AbortedTransaction)),
            "{rls:?} {pipeline}: {r:?}"
        );
        assert_async_sessions_clean(&t, &format!("{rls:?} {pipeline}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_dropped_before_its_answer_is_never_reported_committed() {
    for (rls, pipeline) in Rls::all_async() {
        let (a, _) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        let tag = format!("{}-{pipeline}", rls.native());
        let lost = format!("dropped-lost-{tag}");
        let r = t
            .transaction(a, async |tx| {
                write_async(tx, 820, &lost).await?;
                drop_before_answer(tx, LATE_FAILURE).await;
                Ok::<_, Error>(())
            })
            .await;
        assert!(
            matches!(r, Err(Error::AbortedTransaction)),
            "{rls:?} {pipeline}: {r:?}"
        );
        assert!(!has_post(rls, a, &lost), "{rls:?} {pipeline}");
        // Held as a value, as the axum layer holds it.
        let owned_lost = format!("dropped-owned-lost-{tag}");
        let mut owned = t.begin(a, None).await.expect("begin");
        write_async(&mut owned.tx(), 821, &owned_lost)
            .await
            .expect("write");
        drop_before_answer(&mut owned.tx(), LATE_FAILURE).await;
        let r = owned.commit().await;
        assert!(
            matches!(r, Err(Error::AbortedTransaction)),
            "{rls:?} {pipeline}: {r:?}"
        );
        assert!(!has_post(rls, a, &owned_lost), "{rls:?} {pipeline}");
        // A statement after the dropped one that succeeds shows the transaction alive. (Not
        // the first statement: dropped, that one leaves a pipelined opening in doubt.)
        let kept = format!("dropped-kept-{tag}");
        t.transaction(a, async |tx| {
            tx.execute(diesel::sql_query("SELECT 1")).await?;
            drop_before_answer(tx, "SELECT pg_sleep(0.2)").await;
            write_async(tx, 822, &kept).await?;
            Ok::<_, Error>(())
        })
        .await
        .expect("committed");
        assert!(has_post(rls, a, &kept), "{rls:?} {pipeline}");
        assert_async_sessions_clean(&t, &format!("{rls:?} {pipeline}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_transaction_on_the_connection_commits() {
    for (rls, pipeline) in Rls::all_async() {
        let (a, _) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        let failed = t
            .transaction(a, async |tx| {
                tx.execute(diesel::sql_query("SELECT 1 / 0")).await?;
                Ok::<_, Error>(())
            })
            .await;
        assert!(failed.is_err());
        t.transaction(a, async |_| Ok::<_, Error>(()))
            .await
            .unwrap_or_else(|e| panic!("{rls:?} {pipeline}: an empty transaction: {e}"));
        t.begin(a, None)
            .await
            .expect("begin")
            .commit()
            .await
            .unwrap_or_else(|e| panic!("{rls:?} {pipeline}: an empty held transaction: {e}"));
    }
}

/// `r`, the end of a transaction that set a failure aside, reported the rollback, and the post
/// `slug` it wrote was not kept.
fn assert_lost<T: std::fmt::Debug>(
    r: &Result<T, Error>,
    rls: Rls,
    tenant: TenantId,
    slug: &str,
    case: &str,
) {
    assert!(matches!(r, Err(Error::AbortedTransaction)), "{case}: {r:?}");
    assert!(!has_post(rls, tenant, slug), "{case}");
}

/// A value that refuses to be sent: its statement fails before anything reaches the server.
#[derive(Debug, Clone, Copy, diesel::expression::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Integer)]
struct Unsendable;

impl diesel::serialize::ToSql<diesel::sql_types::Integer, diesel::pg::Pg> for Unsendable {
    fn to_sql<'b>(
        &'b self,
        _out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
    ) -> diesel::serialize::Result {
        Err("this value is never sent".into())
    }
}

/// A statement refused before it was sent, after one the server refused: the transaction is
/// still aborted, and its commit is still an error. Async (pipelined or not: the closure and an
/// owned transaction) and sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_refused_before_it_was_sent_does_not_hide_an_earlier_failure() {
    for (rls, pipeline) in Rls::all_async() {
        let (a, _) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        let tag = format!("{}-{pipeline}", rls.native());
        let unsent = async |tx: &mut AsyncTenantTx<'_>| {
            let r: Result<Vec<i32>, Error> = tx
                .load(
                    posts::table
                        .filter(posts::id.eq(Unsendable))
                        .select(posts::id),
                )
                .await;
            assert!(matches!(r, Err(Error::Query(_))), "{r:?}");
        };
        let lost = format!("unsent-lost-{tag}");
        let r = t
            .transaction(a, async |tx| {
                write_async(tx, 830, &lost).await?;
                fail_unique_async(tx, 831).await;
                unsent(tx).await;
                Ok::<_, Error>(())
            })
            .await;
        assert_lost(&r, rls, a, &lost, &format!("{rls:?} {pipeline}"));
        let owned_lost = format!("unsent-owned-lost-{tag}");
        let mut owned = t.begin(a, None).await.expect("begin");
        write_async(&mut owned.tx(), 832, &owned_lost)
            .await
            .expect("write");
        fail_unique_async(&mut owned.tx(), 833).await;
        unsent(&mut owned.tx()).await;
        let r = owned.commit().await;
        assert_lost(&r, rls, a, &owned_lost, &format!("{rls:?} {pipeline}"));
        // Refused before it was sent, in a transaction nothing aborted: it commits.
        let kept = format!("unsent-kept-{tag}");
        t.transaction(a, async |tx| {
            write_async(tx, 834, &kept).await?;
            unsent(tx).await;
            Ok::<_, Error>(())
        })
        .await
        .expect("committed");
        assert!(has_post(rls, a, &kept), "{rls:?} {pipeline}");
        assert_async_sessions_clean(&t, &format!("{rls:?} {pipeline}")).await;
    }
    for rls in Rls::all() {
        let (a, _) = rls.two_tenants();
        let t = rls.tenancy(1);
        let lost = format!("sync-unsent-lost-{}", rls.native());
        let r = t.transaction(a, |tx| {
            tx.insert_into(posts::table)
                .values(post(835, &lost))
                .execute()?;
            fail_unique(tx, 836);
            let unsent: Result<Vec<i32>, Error> = tx.load(
                posts::table
                    .filter(posts::id.eq(Unsendable))
                    .select(posts::id),
            );
            assert!(unsent.is_err());
            Ok::<_, Error>(())
        });
        assert_lost(&r, rls, a, &lost, &format!("{rls:?}"));
    }
}

/// The admin path hands out the connection itself, so nothing watches its statements: a
/// failure its closure sets aside is still never reported committed, sync or async, and the
/// next admin transaction on the connection commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_set_aside_on_the_admin_path_is_never_reported_committed() {
    let insert = |tenant: TenantId, id: i32, slug: &str| {
        format!(
            "INSERT INTO posts (tenant_id, id, title, slug) VALUES ('{}', {id}, 'admin', '{slug}')",
            tenant.as_uuid()
        )
    };
    for rls in Rls::all() {
        let (a, _) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, false).await;
        let lost = format!("admin-lost-{}", rls.native());
        let r = t
            .admin("a failure set aside", async |conn| {
                diesel_async::RunQueryDsl::execute(diesel::sql_query(insert(a, 840, &lost)), conn)
                    .await?;
                let failed =
                    diesel_async::RunQueryDsl::execute(diesel::sql_query("SELECT 1 / 0"), conn)
                        .await;
                assert!(failed.is_err());
                Ok::<_, Error>(())
            })
            .await;
        assert_lost(&r, rls, a, &lost, &format!("{rls:?}"));
        let kept = format!("admin-kept-{}", rls.native());
        t.admin("the next one", async |conn| {
            diesel_async::RunQueryDsl::execute(diesel::sql_query(insert(a, 841, &kept)), conn)
                .await?;
            Ok::<_, Error>(())
        })
        .await
        .expect("committed");
        assert!(has_post(rls, a, &kept), "{rls:?}");

        let sync = rls.tenancy(1);
        let lost = format!("sync-admin-lost-{}", rls.native());
        let r = sync.admin("a failure set aside", |conn| {
            diesel::RunQueryDsl::execute(diesel::sql_query(insert(a, 842, &lost)), conn)?;
            let failed = diesel::RunQueryDsl::execute(diesel::sql_query("SELECT 1 / 0"), conn);
            assert!(failed.is_err());
            Ok::<_, Error>(())
        });
        assert_lost(&r, rls, a, &lost, &format!("{rls:?}"));
    }
}

/// Raw SQL that would end the transaction tenancy opened, or open another. Ended by the
/// server, the transaction's writes were gone while the closure went on outside any
/// transaction, and diesel-async, which does not follow the server's transaction status,
/// reported the commit as made.
const ENDING_THE_TRANSACTION: [&str; 8] = [
    "ROLLBACK",
    "COMMIT",
    "END",
    "ABORT",
    "COMMIT AND CHAIN",
    "/* set aside */ ROLLBACK WORK",
    "PREPARE TRANSACTION 'tenancy_test'",
    "BEGIN",
];

fn refused_as_transaction_control<T: std::fmt::Debug>(r: &Result<T, Error>, what: &str) {
    assert!(common::ended_refused(r), "{what}: {r:?}");
}

#[test]
fn raw_sql_cannot_end_the_transaction_it_runs_in() {
    for (k, rls) in Rls::all().into_iter().enumerate() {
        let (a, _) = rls.two_tenants();
        let t = rls.tenancy(1);
        for (i, statement) in ENDING_THE_TRANSACTION.into_iter().enumerate() {
            let what = format!("{rls:?} {statement}");
            let id = i32::try_from(900 + 20 * k + i).expect("small");
            let slug = format!("sync-ended-{rls:?}-{i}");
            t.transaction(a, |tx| {
                tx.insert_into(posts::table)
                    .values(post(id, &slug))
                    .execute()?;
                refused_as_transaction_control(&tx.execute(diesel::sql_query(statement)), &what);
                refused_as_transaction_control(
                    &tx.load_sql::<_, Number>(diesel::sql_query(statement)),
                    &what,
                );
                // Still inside the tenant's transaction: its own row is there.
                assert_eq!(
                    tx.count(posts::table.filter(posts::slug.eq(&slug)))?,
                    1,
                    "{what}"
                );
                Ok::<_, Error>(())
            })
            .expect("committed");
            assert!(has_post(rls, a, &slug), "{what}");
            let r = t.system(|sys| {
                refused_as_transaction_control(
                    &sys.load_sql::<_, Number>(diesel::sql_query(statement)),
                    &what,
                );
                Ok::<_, Error>(())
            });
            assert!(r.is_ok(), "{what}: {r:?}");
        }
        // A failure set aside stays one when raw SQL tries to end the transaction after it.
        let slug = format!("sync-failed-then-ended-{rls:?}");
        let r = t.transaction(a, |tx| {
            tx.insert_into(posts::table)
                .values(post(i32::try_from(919 + 20 * k).expect("small"), &slug))
                .execute()?;
            fail_unique(tx, 899);
            refused_as_transaction_control(&tx.execute(diesel::sql_query("COMMIT")), "COMMIT");
            Ok::<_, Error>(())
        });
        assert!(
            matches!(r, Err(Error::AbortedTransaction)),
            "{rls:?}: {r:?}"
        );
        assert!(!has_post(rls, a, &slug), "{rls:?}");
        // A `COMMIT` behind another statement: tenancy reads the first, and the server refuses
        // a second command in one prepared statement, which fails the transaction.
        let slug = format!("sync-second-command-{rls:?}");
        let r = t.transaction(a, |tx| {
            tx.insert_into(posts::table)
                .values(post(i32::try_from(918 + 20 * k).expect("small"), &slug))
                .execute()?;
            let second = tx.execute(diesel::sql_query("SELECT 1; COMMIT"));
            assert!(matches!(second, Err(Error::Query(_))), "{second:?}");
            Ok::<_, Error>(())
        });
        assert!(
            matches!(r, Err(Error::AbortedTransaction)),
            "{rls:?}: {r:?}"
        );
        assert!(!has_post(rls, a, &slug), "{rls:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_sql_cannot_end_the_transaction_it_runs_in_async() {
    for (k, (rls, pipeline)) in Rls::all_async().into_iter().enumerate() {
        let (a, _) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        for (i, statement) in ENDING_THE_TRANSACTION.into_iter().enumerate() {
            let what = format!("{rls:?} {pipeline} {statement}");
            let id = i32::try_from(1100 + 20 * k + i).expect("small");
            let slug = format!("async-ended-{rls:?}-{pipeline}-{i}");
            t.transaction(a, async |tx| {
                write_async(tx, id, &slug).await?;
                refused_as_transaction_control(
                    &tx.execute(diesel::sql_query(statement)).await,
                    &what,
                );
                refused_as_transaction_control(
                    &tx.load_sql::<_, Number>(diesel::sql_query(statement)).await,
                    &what,
                );
                assert_eq!(
                    tx.count(posts::table.filter(posts::slug.eq(&slug))).await?,
                    1,
                    "{what}"
                );
                Ok::<_, Error>(())
            })
            .await
            .expect("committed");
            assert!(has_post(rls, a, &slug), "{what}");
            let r = t
                .system(async |sys| {
                    refused_as_transaction_control(
                        &sys.load_sql::<_, Number>(diesel::sql_query(statement))
                            .await,
                        &what,
                    );
                    Ok::<_, Error>(())
                })
                .await;
            assert!(r.is_ok(), "{what}: {r:?}");
        }
        let slug = format!("async-failed-then-ended-{rls:?}-{pipeline}");
        let r = t
            .transaction(a, async |tx| {
                write_async(tx, i32::try_from(1119 + 20 * k).expect("small"), &slug).await?;
                fail_unique_async(tx, 1099).await;
                refused_as_transaction_control(
                    &tx.execute(diesel::sql_query("COMMIT")).await,
                    "COMMIT",
                );
                Ok::<_, Error>(())
            })
            .await;
        assert!(
            matches!(r, Err(Error::AbortedTransaction)),
            "{rls:?} {pipeline}: {r:?}"
        );
        assert!(!has_post(rls, a, &slug), "{rls:?} {pipeline}");
        let slug = format!("async-second-command-{rls:?}-{pipeline}");
        let r = t
            .transaction(a, async |tx| {
                write_async(tx, i32::try_from(1118 + 20 * k).expect("small"), &slug).await?;
                let second = tx.execute(diesel::sql_query("SELECT 1; COMMIT")).await;
                assert!(matches!(second, Err(Error::Query(_))), "{second:?}");
                Ok::<_, Error>(())
            })
            .await;
        assert!(
            matches!(r, Err(Error::AbortedTransaction)),
            "{rls:?} {pipeline}: {r:?}"
        );
        assert!(!has_post(rls, a, &slug), "{rls:?} {pipeline}");
        assert_async_sessions_clean(&t, &format!("{rls:?} {pipeline}")).await;
    }
}
