//! A pipelined tenant transaction whose opening was refused (the tenant suspended or unknown)
//! sends the opening again in front of its next statement, and that statement may open the
//! transaction after all (the tenant reactivated meanwhile). A future dropped while it is in
//! flight must not hand the pool a connection inside a transaction: the next tenant on that
//! connection would run inside it, commit what it wrote, and run what its SQL prepared.
//!
//! A first statement dropped before its opening was answered leaves the transaction in doubt:
//! it runs nothing more and cannot commit, and its connection is closed.
//!
//! The tests here change a tenant's status, so they hold one lock: they run one at a time, in
//! a binary of their own.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use common::schema::posts;
use common::{Rls, assert_async_sessions_clean, async_tenancy_with, async_titles};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use tenancy_schema::{Error, TenantId};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn set_status(rls: Rls, tenant: TenantId, status: &str) {
    rls.owner()
        .batch_execute(&format!(
            "UPDATE tenants SET status = '{status}' WHERE id = '{}'",
            tenant.as_uuid()
        ))
        .expect("set the tenant's status");
}

/// Polls `fut` until `reached` is set, leaving it unfinished.
async fn drive_until<F: Future + ?Sized>(mut fut: Pin<&mut F>, reached: &AtomicBool) {
    std::future::poll_fn(|cx| {
        assert!(
            fut.as_mut().poll(cx).is_pending(),
            "the transaction finished before it could be dropped"
        );
        if reached.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// Tenant B's post titles, as the table's owner reads them.
fn b_titles_as_owner(rls: Rls, b: TenantId) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Title {
        #[diesel(sql_type = Text)]
        title: String,
    }
    diesel::sql_query("SELECT title FROM posts WHERE tenant_id = $1::uuid ORDER BY id")
        .bind::<Text, _>(b.as_uuid().to_string())
        .load::<Title>(&mut rls.owner())
        .expect("read as the owner")
        .into_iter()
        .map(|t| t.title)
        .collect()
}

/// Still refused: the statement sent behind the opening again, dropped in flight, leaves no
/// aborted transaction on the pool's one connection for tenant B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_sent_again_behind_a_refused_opening_is_in_flight_until_answered() {
    let _one = ONE_AT_A_TIME.lock().await;
    for rls in Rls::all() {
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, true).await;
        async_titles(&t, b).await;
        set_status(rls, a, "suspended");
        let reached = Arc::new(AtomicBool::new(false));
        let mark = reached.clone();
        let mut fut = Box::pin(t.transaction(a, async move |tx| {
            let first = tx
                .load::<_, String>(posts::table.select(posts::title))
                .await;
            assert!(matches!(first, Err(Error::TenantSuspended(_))), "{first:?}");
            mark.store(true, Ordering::SeqCst);
            tx.execute(diesel::sql_query("SELECT pg_sleep(0.5)"))
                .await?;
            Ok::<_, Error>(())
        }));
        drive_until(fut.as_mut(), &reached).await;
        drop(fut);
        set_status(rls, a, "active");
        assert_eq!(async_titles(&t, b).await, ["b one", "b two"], "{rls:?}");
        assert_async_sessions_clean(&t, &format!("{rls:?}")).await;
    }
}

/// Reactivated meanwhile: the statement sent behind the opening again opens tenant A's
/// transaction, writes, sets a transaction-local setting and replaces the driver's prepared
/// statement of B's typed read with SQL of its own, and is dropped in flight. B's next
/// transaction on the connection runs in a transaction of its own: it sees its own rows and
/// settings, A's write is not committed by B's `COMMIT`, and B's rows are unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_opened_by_a_dropped_statement_reaches_no_later_tenant() {
    let _one = ONE_AT_A_TIME.lock().await;
    for rls in Rls::all() {
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, true).await;
        let read_b = async || {
            t.transaction(b, async |tx| {
                let titles = tx
                    .load::<_, String>(posts::table.order(posts::id).select(posts::title))
                    .await?;
                let setting = tx
                    .load_sql::<_, Setting>(diesel::sql_query(
                        "SELECT current_setting('application_name') AS value",
                    ))
                    .await?;
                Ok::<_, Error>((titles, setting[0].value.clone()))
            })
            .await
        };
        // Prepared on the connection by the driver.
        read_b().await.expect("B reads");
        set_status(rls, a, "suspended");
        let reached = Arc::new(AtomicBool::new(false));
        let mark = reached.clone();
        let mut fut = Box::pin(t.transaction(a, async move |tx| {
            let refused = tx.load::<_, String>(posts::table.select(posts::title)).await;
            assert!(matches!(refused, Err(Error::TenantSuspended(_))), "{refused:?}");
            set_status(rls, a, "active");
            mark.store(true, Ordering::SeqCst);
            tx.execute(diesel::sql_query(
                r#"DO $$ DECLARE r record; BEGIN
                     INSERT INTO posts (tenant_id, id, title, slug)
                       VALUES (tenancy.current_tenant(), 900, 'dropped write of a', 'dropped');
                     PERFORM set_config('application_name', 'left by a', true);
                     FOR r IN SELECT name FROM pg_prepared_statements
                              WHERE NOT from_sql AND statement ILIKE '%"posts"."title"%' LOOP
                       EXECUTE format('DEALLOCATE %I', r.name);
                       EXECUTE format('PREPARE %I(uuid) AS WITH u AS (UPDATE public.posts SET title = ''defaced by a'' WHERE $1 IS NOT NULL RETURNING title) SELECT title FROM u', r.name);
                     END LOOP;
                     PERFORM pg_sleep(1);
                   END $$"#,
            ))
            .await?;
            Ok::<_, Error>(())
        }));
        drive_until(fut.as_mut(), &reached).await;
        // The statement reaches the server, which sleeps in it; then the future goes. (With
        // the native context the extension refuses the `PREPARE` at once: it ends in an
        // error.)
        if let Ok(ended) = tokio::time::timeout(Duration::from_millis(300), fut.as_mut()).await {
            assert!(rls.native() && ended.is_err(), "{rls:?}: {ended:?}");
        }
        drop(fut);
        let (titles, setting) = read_b().await.expect("B's transaction");
        assert_eq!(titles, ["b one", "b two"], "{rls:?}");
        assert_ne!(
            setting, "left by a",
            "{rls:?}: B ran inside A's transaction"
        );
        assert!(
            !async_titles(&t, a)
                .await
                .iter()
                .any(|title| title == "dropped write of a"),
            "{rls:?}: the write of A's dropped transaction was committed"
        );
        assert_eq!(b_titles_as_owner(rls, b), ["b one", "b two"], "{rls:?}");
        assert_async_sessions_clean(&t, &format!("{rls:?}")).await;
    }
}

/// Refused, with its first statement dropped before the answer: the next statement does not
/// run (on extension 1.7 a refused `BEGIN` carrying the entry leaves no transaction open, so it
/// would run on its own, without a context, and be committed), and nothing is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_statement_dropped_behind_its_opening_leaves_the_transaction_in_doubt() {
    let _one = ONE_AT_A_TIME.lock().await;
    for rls in Rls::all() {
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, true).await;
        // The connection's first transaction loads the extension's library where there is one.
        async_titles(&t, a).await;
        set_status(rls, a, "suspended");
        // The native context keeps a tenant's status for up to a second.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        // On a busy machine the refusal can come back within the statement's first poll (the
        // driver's task runs on the other worker thread): then nothing was dropped before its
        // answer, and the transaction runs again.
        for attempt in 0.. {
            let answered_at_once = std::sync::atomic::AtomicBool::new(false);
            let r = t
                .transaction(a, async |tx| {
                    {
                        let mut first =
                            std::pin::pin!(tx.load::<_, String>(posts::table.select(posts::title)));
                        let polled = std::future::poll_fn(|cx| {
                            Poll::Ready(match first.as_mut().poll(cx) {
                                Poll::Ready(answer) => Some(answer),
                                Poll::Pending => None,
                            })
                        })
                        .await;
                        if let Some(answer) = polled {
                            assert!(answer.is_err(), "{rls:?}: {answer:?}");
                            answered_at_once.store(true, std::sync::atomic::Ordering::Relaxed);
                            return Ok(());
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let second = tx
                        .insert_into(posts::table)
                        .values((
                            posts::id.eq(9100),
                            posts::title.eq("after a drop"),
                            posts::slug.eq("after-a-drop"),
                        ))
                        .execute()
                        .await;
                    assert!(
                        matches!(second, Err(Error::AbortedTransaction)),
                        "{second:?}"
                    );
                    Ok::<_, Error>(())
                })
                .await;
            if answered_at_once.load(std::sync::atomic::Ordering::Relaxed) {
                assert!(
                    r.is_err(),
                    "{rls:?}: a refused transaction committed: {r:?}"
                );
                assert!(
                    attempt < 20,
                    "{rls:?}: every refusal came back within the first poll"
                );
                continue;
            }
            assert!(
                matches!(r, Err(Error::AbortedTransaction)),
                "{rls:?}: {r:?}"
            );
            break;
        }
        set_status(rls, a, "active");
        assert!(
            !async_titles(&t, a)
                .await
                .iter()
                .any(|title| title == "after a drop"),
            "{rls:?}"
        );
        assert_eq!(async_titles(&t, b).await, ["b one", "b two"], "{rls:?}");
        assert_async_sessions_clean(&t, &format!("{rls:?}")).await;
    }
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}
