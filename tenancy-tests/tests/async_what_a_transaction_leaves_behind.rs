//! What an async tenant transaction can leave on its connection: session state left by raw SQL and ended every way
//! (commit, rollback, cancel), statement failures followed by more work, panics, aborted tasks
//! holding owned transactions, server-side timeouts and killed backends. Each probe asserts the
//! property: no pooled connection carries anything, no tenant sees another's rows, nothing a
//! cancelled or failed transaction wrote is kept.
#![allow(
    clippy::items_after_statements,
    clippy::too_many_lines,
    clippy::many_single_char_names
)] // reason: probes read top to bottom; tenants `a`, `b` and the tenancy `t` as in the async suites

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::schema::posts;
use common::{
    Rls, assert_async_sessions_clean, async_tenancy_named, async_tenancy_with,
    async_titles as titles,
};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use tenancy_async::AsyncTenancy;
use tenancy_schema::{Error, TenantId};

/// What a connection carries that raw SQL could have left: read inside a tenant transaction.
#[derive(QueryableByName, Debug, PartialEq, Eq, Clone)]
struct Leftovers {
    #[diesel(sql_type = Text)]
    leak: String,
    #[diesel(sql_type = Text)]
    temp: String,
    #[diesel(sql_type = Text)]
    search_path: String,
    #[diesel(sql_type = Text)]
    statement_timeout: String,
    #[diesel(sql_type = Text)]
    read_only: String,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = BigInt)]
    locks: i64,
    #[diesel(sql_type = BigInt)]
    held: i64,
}

const LEFTOVERS_SQL: &str = "SELECT coalesce(current_setting('app.leak', true), '') AS leak,
    coalesce(to_regclass('pg_temp.stash')::text, '') || coalesce(to_regclass('pg_temp.stash2')::text, '') AS temp,
    current_setting('search_path') AS search_path,
    current_setting('statement_timeout') AS statement_timeout,
    current_setting('default_transaction_read_only') AS read_only,
    current_user::text AS role,
    (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks,
    (SELECT count(*) FROM pg_prepared_statements WHERE from_sql)
      + (SELECT count(*) FROM pg_cursors WHERE is_holdable)
      + (SELECT count(*) FROM pg_listening_channels()) AS held";

async fn leftovers(t: &AsyncTenancy, tenant: TenantId) -> Result<Leftovers, Error> {
    let mut rows: Vec<Leftovers> = t
        .transaction(tenant, async |tx| {
            tx.load_sql(diesel::sql_query(LEFTOVERS_SQL)).await
        })
        .await?;
    Ok(rows.remove(0))
}

#[derive(Debug, Clone, Copy)]
enum End {
    Commit,
    Rollback,
    Cancel,
}

/// Raw SQL that changes the session, one list per attempt (run in order in one transaction).
const ATTEMPTS: &[&[&str]] = &[
    &["SET SESSION search_path TO pg_catalog"],
    &["SELECT set_config('app.leak', 'x', false)"],
    &["SELECT set_config('search_path', 'pg_temp, public', false)"],
    &["SET SESSION statement_timeout = 12345"],
    &["SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"],
    &["SELECT set_config('tenancy.context', 'x', false)"],
    &["SELECT pg_advisory_lock(77)"],
    &["SELECT pg_advisory_lock_shared(78)"],
    &["LISTEN zz_channel"],
    &["PREPARE zz_planted AS SELECT 1"],
    &["DECLARE zz_held CURSOR WITH HOLD FOR SELECT 1"],
    &["CREATE TEMP TABLE stash AS SELECT title FROM posts"],
    &["CREATE TEMP TABLE stash2 (t text) ON COMMIT PRESERVE ROWS"],
    &["SET ROLE NONE"],
    // A raw COMMIT or ROLLBACK would end the tenant transaction, and what follows would run
    // in autocommit: tenancy refuses it before it is sent, and what follows runs inside.
    &["COMMIT", "SELECT set_config('app.leak', 'y', false)"],
    &["COMMIT", "SELECT pg_advisory_lock(79)"],
    &["COMMIT", "CREATE TEMP TABLE stash (t text)"],
    &["COMMIT", "SET SESSION search_path TO pg_catalog"],
    &["COMMIT", "BEGIN", "SET SESSION search_path TO pg_catalog"],
    &["ROLLBACK", "SELECT set_config('app.leak', 'z', false)"],
    &[
        "SAVEPOINT zz",
        "SELECT set_config('app.leak', 's', false)",
        "RELEASE SAVEPOINT zz",
    ],
];

/// Runs `attempt` in tenant `a`'s transaction on a one-connection pool, ends it as `end`, and
/// checks the next checkout: clean, and tenant `b`'s transaction sees B's rows and no leftovers.
async fn attempt_then_inspect(rls: Rls, pipeline: bool, attempt: &[&str], end: End) {
    let label = format!("{rls:?} pipelined={pipeline} {attempt:?} {end:?}");
    let (a, b) = rls.two_tenants();
    let t = async_tenancy_with(rls, 1, pipeline).await;
    let baseline = leftovers(&t, b).await.expect("baseline");
    // Typed statements cached on the connection.
    assert_eq!(titles(&t, b).await, ["b one", "b two"], "{label}");
    let run = t.transaction(a, async |tx| {
        for sql in attempt {
            let _ = tx.execute(diesel::sql_query(*sql)).await;
        }
        match end {
            End::Commit => Ok::<_, Error>(()),
            End::Rollback => Err(Error::MissingAdminReason),
            End::Cancel => {
                std::future::pending::<()>().await;
                Ok(())
            }
        }
    });
    let outcome = tokio::time::timeout(Duration::from_millis(300), run).await;
    if matches!(end, End::Cancel) {
        assert!(outcome.is_err(), "{label}: not cancelled");
    }
    assert_async_sessions_clean(&t, &label).await;
    let after = leftovers(&t, b).await.expect("leftovers after");
    assert_eq!(after, baseline, "{label}");
    assert_eq!(titles(&t, b).await, ["b one", "b two"], "{label}");
    assert_eq!(titles(&t, a).await, ["a one", "a two"], "{label}");
    assert_async_sessions_clean(&t, &label).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_sql_session_changes_never_reach_the_next_checkout() {
    for (rls, pipeline) in Rls::all_async() {
        for attempt in ATTEMPTS {
            for end in [End::Commit, End::Rollback, End::Cancel] {
                attempt_then_inspect(rls, pipeline, attempt, end).await;
            }
        }
    }
}

/// Reads tenant `b`'s titles three times on `t`; how many of the reads failed (those that
/// succeed must show exactly `b`'s rows).
async fn failed_reads_of_b(t: &AsyncTenancy, b: TenantId, label: &str) -> usize {
    let mut failures = 0;
    for _ in 0..3 {
        let seen: Result<Vec<String>, Error> = t
            .transaction(b, async |tx| {
                tx.load(posts::table.order(posts::id).select(posts::title))
                    .await
            })
            .await;
        match seen {
            Ok(seen) => assert_eq!(seen, ["b one", "b two"], "{label}"),
            Err(e) => {
                eprintln!("{label}: {e}");
                failures += 1;
            }
        }
    }
    failures
}

/// `DEALLOCATE ALL` (refused by the native context's guard) removes the driver's prepared
/// statements: the next tenant's typed statements on that connection must still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deallocate_all_does_not_break_the_next_tenant() {
    for (rls, pipeline) in Rls::all_async() {
        let label = format!("{rls:?} pipelined={pipeline}");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        assert_eq!(titles(&t, b).await, ["b one", "b two"], "{label}");
        let r = t
            .transaction(a, async |tx| {
                tx.execute(diesel::sql_query("DEALLOCATE ALL")).await
            })
            .await;
        eprintln!("{label}: DEALLOCATE ALL -> {r:?}");
        assert_eq!(failed_reads_of_b(&t, b, &label).await, 0, "{label}");
        assert_async_sessions_clean(&t, &label).await;
    }
}

/// A failed statement, more statements after it, then `Ok`: nothing is committed and the
/// caller gets an error, pipelined or not, whether the failure was the first statement or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statement_followed_by_more_work_commits_nothing() {
    for (rls, pipeline) in Rls::all_async() {
        let label = format!("{rls:?} pipelined={pipeline}");
        let (a, _) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        for first_fails in [true, false] {
            let r = t
                .transaction(a, async |tx| {
                    if !first_fails {
                        insert(tx, 500, "before failure").await?;
                    }
                    // Duplicate key: fails on the server.
                    let dup = insert(tx, 1, "dup").await;
                    assert!(dup.is_err(), "{label}");
                    let more = insert(tx, 501, "after failure").await;
                    assert!(more.is_err(), "{label}: ran in an aborted transaction");
                    let read: Result<Vec<String>, Error> =
                        tx.load(posts::table.select(posts::title)).await;
                    assert!(read.is_err(), "{label}");
                    Ok::<_, Error>(())
                })
                .await;
            assert!(
                matches!(r, Err(Error::AbortedTransaction)),
                "{label}: {r:?}"
            );
            assert_eq!(titles(&t, a).await, ["a one", "a two"], "{label}");
            assert_async_sessions_clean(&t, &label).await;
        }
        // The same through an owned transaction.
        let mut owned = t.begin(a, None).await.expect("begin");
        assert!(insert(&mut owned.tx(), 1, "dup").await.is_err());
        let committed = owned.commit().await;
        assert!(
            matches!(committed, Err(Error::AbortedTransaction)),
            "{label}: {committed:?}"
        );
        assert_async_sessions_clean(&t, &label).await;
        // A statement timeout on the server, ignored by the closure.
        let r = t
            .transaction(a, async |tx| {
                insert(tx, 502, "before timeout").await?;
                tx.execute(diesel::sql_query("SET LOCAL statement_timeout = '50ms'"))
                    .await?;
                let slept = tx.execute(diesel::sql_query("SELECT pg_sleep(2)")).await;
                assert!(slept.is_err(), "{label}");
                Ok::<_, Error>(())
            })
            .await;
        assert!(
            matches!(r, Err(Error::AbortedTransaction)),
            "{label}: {r:?}"
        );
        assert_eq!(titles(&t, a).await, ["a one", "a two"], "{label}");
        assert_async_sessions_clean(&t, &label).await;
    }
}

async fn insert(
    tx: &mut tenancy_async::AsyncTenantTx<'_>,
    id: i32,
    title: &str,
) -> Result<usize, Error> {
    tx.insert_into(posts::table)
        .values((
            posts::id.eq(id),
            posts::title.eq(title.to_owned()),
            posts::slug.eq(format!("r2-{id}-{}", uuid::Uuid::now_v7().simple())),
        ))
        .execute()
        .await
}

/// A panic inside the closure after a write, caught by the caller: the connection is closed,
/// the write is not kept, and the pool goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_inside_the_closure_leaves_nothing_behind() {
    use std::panic::AssertUnwindSafe;
    for (rls, pipeline) in Rls::all_async() {
        let label = format!("{rls:?} pipelined={pipeline}");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        for before in [false, true] {
            let run = t.transaction(a, async |tx| {
                if before {
                    insert(tx, 600, "panicked").await?;
                }
                tx.execute(diesel::sql_query(
                    "SELECT set_config('tenancy.tenant_id', 'leak', false)",
                ))
                .await?;
                panic!("probe panic");
                #[allow(unreachable_code)]
                Ok::<_, Error>(())
            });
            let caught = futures_catch(AssertUnwindSafe(run)).await;
            assert!(caught.is_err(), "{label}");
            assert_async_sessions_clean(&t, &label).await;
            assert_eq!(titles(&t, a).await, ["a one", "a two"], "{label}");
            assert_eq!(titles(&t, b).await, ["b one", "b two"], "{label}");
        }
        // A panic in a spawned task holding an owned transaction.
        let t2 = t.clone();
        let handle = tokio::spawn(async move {
            let mut tx = t2.begin(a, None).await.expect("begin");
            insert(&mut tx.tx(), 601, "panicked owned")
                .await
                .expect("insert");
            panic!("probe panic in a task");
        });
        assert!(handle.await.is_err_and(|e| e.is_panic()));
        assert_async_sessions_clean(&t, &label).await;
        assert_eq!(titles(&t, a).await, ["a one", "a two"], "{label}");
    }
}

/// `catch_unwind` for a future, without the futures crate.
async fn futures_catch<F: Future + std::panic::UnwindSafe>(
    fut: F,
) -> Result<F::Output, Box<dyn std::any::Any + Send>> {
    let mut fut = Box::pin(fut);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    })
    .await
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Owned transactions held across awaits in tasks that are aborted (`JoinHandle::abort`) at
/// random times, some while committing, on a pool smaller than the tasks: afterwards every
/// pooled connection is clean, nothing of another tenant is visible, and only transactions
/// that reached their commit may have committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owned_transactions_in_aborted_tasks_leave_nothing_behind() {
    for (rls, pipeline) in Rls::all_async() {
        let label = format!("{rls:?} pipelined={pipeline}");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 3, pipeline).await;
        let mut rng = Rng(0xA11C_E5ED_0000_0001 ^ u64::from(pipeline));
        let reached_commit = Arc::new(AtomicU64::new(0));
        let committed_ok = Arc::new(AtomicU64::new(0));
        let mut handles = Vec::new();
        const TASKS: u64 = 60;
        for i in 0..TASKS {
            let t = t.clone();
            let (tenant, label) = if rng.below(2) == 0 {
                (a, "a")
            } else {
                (b, "b")
            };
            let hold = Duration::from_micros(rng.below(20_000));
            let reached = Arc::clone(&reached_commit);
            let ok = Arc::clone(&committed_ok);
            let id = 2000 + i32::try_from(i).unwrap();
            let handle = tokio::spawn(async move {
                let mut tx = t.begin(tenant, None).await.expect("begin");
                tx.tx()
                    .execute(diesel::sql_query(
                        "SELECT set_config('tenancy.tenant_id', 'leak', false)",
                    ))
                    .await
                    .ok();
                insert(&mut tx.tx(), id, &format!("{label} owned"))
                    .await
                    .ok();
                tokio::time::sleep(hold).await;
                tx.tx()
                    .execute(diesel::sql_query(
                        "SELECT set_config('tenancy.tenant_id', '', false)",
                    ))
                    .await
                    .ok();
                if id % 2 == 0 {
                    reached.fetch_add(1, Ordering::SeqCst);
                    if tx.commit().await.is_ok() {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                } else {
                    // Held, then dropped open.
                    tokio::time::sleep(hold).await;
                    drop(tx);
                }
            });
            let abort_after = Duration::from_micros(rng.below(40_000));
            let abort = handle.abort_handle();
            tokio::spawn(async move {
                tokio::time::sleep(abort_after).await;
                abort.abort();
            });
            handles.push(handle);
        }
        for handle in handles {
            let _ = handle.await;
        }
        assert_async_sessions_clean(&t, &label).await;
        for (tenant, l) in [(a, "a"), (b, "b")] {
            let seen = titles(&t, tenant).await;
            assert!(seen.iter().all(|s| s.starts_with(l)), "{label}: {seen:?}");
        }
        let kept =
            u64::try_from(titles(&t, a).await.len() + titles(&t, b).await.len() - 4).unwrap();
        let (ok, reached) = (
            committed_ok.load(Ordering::SeqCst),
            reached_commit.load(Ordering::SeqCst),
        );
        assert!(
            ok <= kept && kept <= reached,
            "{label}: {ok} acknowledged, {kept} kept, {reached} reached commit"
        );
        eprintln!("{label}: {ok} acknowledged, {kept} kept, {reached} reached commit");
    }
}

/// Whole transactions under `tokio::time::timeout` on a pool of 2 with many tasks: the
/// timed-out ones waiting for a connection, opening, or mid-statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_on_a_small_pool_leave_nothing_behind() {
    for (rls, pipeline) in Rls::all_async() {
        let label = format!("{rls:?} pipelined={pipeline}");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 2, pipeline).await;
        let mut rng = Rng(0x7137_0000_0000_0003);
        let mut handles = Vec::new();
        for i in 0..80_u64 {
            let t = t.clone();
            let (tenant, l) = if rng.below(2) == 0 {
                (a, "a")
            } else {
                (b, "b")
            };
            let deadline = Duration::from_micros(rng.below(25_000));
            let id = 3000 + i32::try_from(i).unwrap();
            handles.push(tokio::spawn(async move {
                let run = t.transaction(tenant, async |tx| {
                    insert(tx, id, &format!("{l} timed")).await?;
                    tx.execute(diesel::sql_query("SELECT pg_sleep(0.002)"))
                        .await?;
                    tx.execute(diesel::sql_query(
                        "SELECT set_config('tenancy.tenant_id', 'x', false)",
                    ))
                    .await
                    .ok();
                    Err::<(), _>(Error::MissingAdminReason)
                });
                let _ = tokio::time::timeout(deadline, run).await;
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_async_sessions_clean(&t, &label).await;
        assert_eq!(titles(&t, a).await, ["a one", "a two"], "{label}");
        assert_eq!(titles(&t, b).await, ["b one", "b two"], "{label}");
    }
}

/// The server kills a transaction's session (`idle_in_transaction_session_timeout`), and
/// kills pooled connections between checkouts (`pg_terminate_backend`): the transaction fails,
/// later ones work, the pool stays clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_the_server_kills_leave_nothing_behind() {
    #[derive(QueryableByName)]
    struct Killed {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    for (rls, pipeline) in Rls::all_async() {
        let label = format!("{rls:?} pipelined={pipeline}");
        let (a, b) = rls.two_tenants();
        let name = format!("zzr2{}", uuid::Uuid::now_v7().simple());
        let t = async_tenancy_named(rls, 2, pipeline, Some(&name)).await;
        // Killed mid-transaction by the server.
        let r = t
            .transaction(a, async |tx| {
                insert(tx, 700, "killed").await?;
                tx.execute(diesel::sql_query(
                    "SET LOCAL idle_in_transaction_session_timeout = '100ms'",
                ))
                .await?;
                tokio::time::sleep(Duration::from_millis(400)).await;
                let after = insert(tx, 701, "after kill").await;
                assert!(after.is_err(), "{label}");
                Ok::<_, Error>(())
            })
            .await;
        assert!(r.is_err(), "{label}: {r:?}");
        assert_async_sessions_clean(&t, &label).await;
        assert_eq!(titles(&t, a).await, ["a one", "a two"], "{label}");
        // Both pooled connections killed between checkouts.
        let kill_idle_pool = async || {
            let killed: Killed = diesel::sql_query(format!(
                "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
                 WHERE application_name = '{name}'"
            ))
            .get_result(&mut rls.owner())
            .expect("terminate");
            assert!(killed.n >= 1, "{label}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_async_sessions_clean(&t, &label).await;
        kill_idle_pool().await;
        // The inspection right after answers for the connections that take their place (it
        // failed on the first killed one).
        assert_async_sessions_clean(&t, &label).await;
        kill_idle_pool().await;
        let mut failures = Vec::new();
        for _ in 0..4 {
            match t
                .transaction(b, async |tx| {
                    tx.load::<_, String>(posts::table.order(posts::id).select(posts::title))
                        .await
                })
                .await
            {
                Ok(seen) => assert_eq!(seen, ["b one", "b two"], "{label}"),
                Err(e) => failures.push(e.to_string()),
            }
        }
        eprintln!("{label}: after pg_terminate_backend: {failures:?}");
        assert!(failures.is_empty(), "{label}: {failures:?}");
        assert_async_sessions_clean(&t, &label).await;
        // Killed while a transaction holds the connection: its next statement fails.
        let owner_name = name.clone();
        let r = t
            .transaction(a, async |tx| {
                insert(tx, 702, "killed while held").await?;
                let mut owner = rls.owner();
                owner
                    .batch_execute(&format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = '{owner_name}' AND state LIKE 'idle in%'"
                    ))
                    .expect("terminate");
                tokio::time::sleep(Duration::from_millis(100)).await;
                insert(tx, 703, "after kill").await?;
                Ok::<_, Error>(())
            })
            .await;
        assert!(r.is_err(), "{label}: {r:?}");
        assert_async_sessions_clean(&t, &label).await;
        assert_eq!(titles(&t, a).await, ["a one", "a two"], "{label}");
    }
}

/// `DEALLOCATE` hidden from the statement's text (PL/pgSQL `EXECUTE` of a built string).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deallocate_hidden_in_plpgsql_does_not_break_the_next_tenant() {
    for (rls, pipeline) in Rls::all_async() {
        let label = format!("{rls:?} pipelined={pipeline}");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        assert_eq!(titles(&t, b).await, ["b one", "b two"], "{label}");
        let r = t
            .transaction(a, async |tx| {
                tx.execute(diesel::sql_query(
                    "DO $$ BEGIN EXECUTE 'DEALLOC' || 'ATE ALL'; END $$",
                ))
                .await
            })
            .await;
        eprintln!("{label}: hidden DEALLOCATE ALL -> {r:?}");
        let failures = failed_reads_of_b(&t, b, &label).await;
        assert_eq!(failures, 0, "{label}");
        assert_async_sessions_clean(&t, &label).await;
    }
}

/// `DEALLOCATE` reached without raw SQL in the transaction (a trigger of the schema's, fired by
/// a typed insert): the next tenant's statement on that connection may fail once, and the
/// connection is then closed, not pooled; later transactions work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deallocate_from_a_trigger_costs_at_most_one_statement() {
    for (rls, pipeline) in Rls::all_async() {
        let label = format!("{rls:?} pipelined={pipeline}");
        rls.owner()
            .batch_execute(
                "CREATE OR REPLACE FUNCTION zz_dealloc() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                   IF NEW.title = 'zz-dealloc' THEN EXECUTE 'DEALLOCATE ALL'; END IF;
                   RETURN NEW;
                 END $$;
                 DROP TRIGGER IF EXISTS zz_dealloc ON posts;
                 CREATE TRIGGER zz_dealloc BEFORE INSERT ON posts
                   FOR EACH ROW EXECUTE FUNCTION zz_dealloc();",
            )
            .expect("trigger");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        assert_eq!(titles(&t, b).await, ["b one", "b two"], "{label}");
        let r = t
            .transaction(a, async |tx| insert(tx, 900, "zz-dealloc").await)
            .await;
        eprintln!("{label}: trigger DEALLOCATE ALL -> {r:?}");
        let failures = failed_reads_of_b(&t, b, &label).await;
        assert!(failures <= 1, "{label}: {failures} failures");
        assert_async_sessions_clean(&t, &label).await;
    }
}

/// Raw SQL through the system connection that changes the session or drops the driver's
/// prepared statements: the next tenant transaction on the connection is clean and works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_sql_on_the_system_connection_reaches_no_later_transaction() {
    #[derive(QueryableByName)]
    struct One {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)]
        one: i32,
    }
    for (rls, pipeline) in Rls::all_async() {
        let (_, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        let baseline = leftovers(&t, b).await.expect("baseline");
        for sql in [
            "SELECT 1 AS one, set_config('app.leak', 'x', false)",
            "SELECT 1 AS one, pg_advisory_lock(91)",
            "SELECT 1 AS one FROM (SELECT set_config('search_path', 'pg_catalog', false)) s",
            "DEALLOCATE ALL",
        ] {
            let label = format!("{rls:?} pipelined={pipeline} {sql}");
            assert_eq!(titles(&t, b).await, ["b one", "b two"], "{label}");
            for end_ok in [true, false] {
                let r: Result<Vec<One>, Error> = t
                    .system(async |sys| {
                        let rows = sys.load_sql(diesel::sql_query(sql)).await;
                        if end_ok {
                            rows
                        } else {
                            Err(Error::MissingAdminReason)
                        }
                    })
                    .await;
                eprintln!("{label}: {}", r.is_ok());
                assert_async_sessions_clean(&t, &label).await;
                assert_eq!(leftovers(&t, b).await.expect("after"), baseline, "{label}");
                assert_eq!(titles(&t, b).await, ["b one", "b two"], "{label}");
            }
        }
    }
}

/// A statement dropped by a timeout of the caller's inside the closure, one that fails on the
/// server once it runs: nothing after it commits, pipelined or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_dropped_inside_the_closure_cannot_commit_an_aborted_transaction() {
    for (rls, pipeline) in Rls::all_async() {
        let label = format!("{rls:?} pipelined={pipeline}");
        let (a, _) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        for first in [true, false] {
            let r = t
                .transaction(a, async |tx| {
                    if !first {
                        insert(tx, 800, "before the dropped one").await?;
                    }
                    let dropped = tokio::time::timeout(
                        Duration::from_millis(50),
                        tx.execute(diesel::sql_query("SELECT 1 / length(pg_sleep(0.3)::text)")),
                    )
                    .await;
                    assert!(dropped.is_err(), "{label}");
                    // Its answer ignored: more work, then `Ok`.
                    let _ = insert(tx, 801, "after the dropped one").await;
                    Ok::<_, Error>(())
                })
                .await;
            assert!(r.is_err(), "{label} first={first}: {r:?}");
            assert_eq!(titles(&t, a).await, ["a one", "a two"], "{label}");
            assert_async_sessions_clean(&t, &label).await;
        }
    }
}

/// A sequence's `currval` is session state: tenant B's SQL on the connection tenant A used
/// would read the last value A drew, an id of A's rows in a schema whose tenant tables number
/// their rows with a sequence. The native context forgets it when each transaction ends; the
/// SQL context keeps its own proof in sequence state and cannot (the README says so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_value_drawn_by_one_tenant_is_not_readable_by_the_next() {
    #[derive(QueryableByName, Debug)]
    struct Val {
        #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
        v: Option<i64>,
    }
    let mut leaked = Vec::new();
    let mut checked = Vec::new();
    for (rls, pipeline) in Rls::all_async().into_iter().filter(|(rls, _)| rls.native()) {
        let label = format!("{rls:?} pipelined={pipeline}");
        rls.owner()
            .batch_execute(
                "CREATE SEQUENCE IF NOT EXISTS zz_ids;
                 GRANT USAGE, SELECT ON SEQUENCE zz_ids TO tenancy_app;",
            )
            .expect("sequence");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        let drawn: Vec<Val> = t
            .transaction(a, async |tx| {
                tx.load_sql(diesel::sql_query("SELECT nextval('zz_ids') AS v"))
                    .await
            })
            .await
            .expect("draw");
        let seen: Result<Vec<Val>, Error> = t
            .transaction(b, async |tx| {
                tx.load_sql(diesel::sql_query("SELECT currval('zz_ids') AS v"))
                    .await
            })
            .await;
        eprintln!("{label}: A drew {drawn:?}, B sees {seen:?}");
        checked.push(label.clone());
        if seen.as_ref().is_ok_and(|rows| rows[0].v == drawn[0].v) {
            leaked.push(label);
        }
    }
    assert!(leaked.is_empty(), "B read A's sequence value: {leaked:?}");
    assert!(
        !checked.is_empty() || !tenancy_testing::native_context_available().expect("look"),
        "no native fixture ran"
    );
}

/// Tenant `tenant`'s rows among `ids`, read as the table's owner.
fn kept(rls: Rls, tenant: TenantId, ids: &[i32]) -> Vec<i32> {
    posts::table
        .filter(posts::tenant_id.eq(tenant))
        .filter(posts::id.eq_any(ids))
        .select(posts::id)
        .order(posts::id)
        .load(&mut rls.owner())
        .expect("read as the owner")
}

/// A transaction reported as failed kept nothing, whatever failed at its end. Raw SQL the end
/// refuses (a prepared statement, a cursor `WITH HOLD`) fails it before its `COMMIT`; a
/// `LISTEN`, which the SQL context can only find once committed, is undone and the
/// transaction commits; the native context refuses all three when they run. And another
/// session of the same login cancelling every statement of the tenant's pool it finds running
/// (`pg_cancel_backend`, which any tenant's raw SQL may call) fails transactions, but never
/// turns a kept write into an error, nor an error into a kept write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reported_as_failed_kept_nothing() {
    let mut cancels_sent = 0;
    for (rls, pipeline) in Rls::all_async() {
        let label = format!("{rls:?} pipelined={pipeline}");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        let attempts = [
            "PREPARE zz_end AS SELECT 1",
            "DECLARE zz_end CURSOR WITH HOLD FOR SELECT 1",
            "LISTEN zz_end",
        ];
        for (id, attempt) in (70_000..).step_by(2).zip(attempts) {
            let undone = attempt.starts_with("LISTEN") && !rls.native();
            let closure = t
                .transaction(a, async |tx| {
                    insert(tx, id, "kept only if committed").await?;
                    let _ = tx.execute(diesel::sql_query(attempt)).await;
                    Ok::<_, Error>(())
                })
                .await;
            let mut owned = t.begin(a, None).await.expect("begin");
            insert(&mut owned.tx(), id + 1, "kept only if committed")
                .await
                .expect("insert");
            let _ = owned.tx().execute(diesel::sql_query(attempt)).await;
            let committed = owned.commit().await;
            let expected: Vec<i32> = if undone { vec![id, id + 1] } else { vec![] };
            assert_eq!(kept(rls, a, &[id, id + 1]), expected, "{label} {attempt}");
            assert_eq!(closure.is_ok(), undone, "{label} {attempt}: {closure:?}");
            assert_eq!(
                committed.is_ok(),
                undone,
                "{label} {attempt}: {committed:?}"
            );
            assert_async_sessions_clean(&t, &label).await;
        }
        cancels_sent += cancelled_ends(rls, pipeline, a, b, &label).await;
    }
    assert!(
        cancels_sent > 0,
        "no statement was ever cancelled: the test proved nothing"
    );
}

/// Runs tenant `b`'s inserts on a pool of two while tenant `a`'s raw SQL cancels every
/// statement of that pool it finds running; checks each outcome against what was kept and
/// returns how many cancels were sent.
async fn cancelled_ends(rls: Rls, pipeline: bool, a: TenantId, b: TenantId, label: &str) -> u64 {
    #[derive(QueryableByName)]
    struct Sent {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let name = format!("zz_end_{}", uuid::Uuid::now_v7().simple());
    let victim = async_tenancy_named(rls, 2, pipeline, Some(&name)).await;
    let attacker = async_tenancy_with(rls, 1, false).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cancel = format!(
        "SELECT count(pg_cancel_backend(pid)) AS n FROM pg_stat_activity \
         WHERE application_name = '{name}' AND state = 'active'"
    );
    let attack = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut sent = 0;
            while !stop.load(Ordering::SeqCst) {
                let round = attacker
                    .transaction(a, async |tx| {
                        let mut n = 0;
                        for _ in 0..20 {
                            let rows: Vec<Sent> =
                                tx.load_sql(diesel::sql_query(cancel.clone())).await?;
                            n += rows[0].n;
                        }
                        Ok::<_, Error>(n)
                    })
                    .await;
                sent += round.map_or(0, |n| u64::try_from(n).unwrap_or(0));
            }
            sent
        })
    };
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let victim = victim.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for i in 0..60 {
                    let id = 80_000 + w * 1_000 + i;
                    let r = victim
                        .transaction(b, async |tx| insert(tx, id, "under cancels").await)
                        .await;
                    outcomes.push((id, r.is_ok()));
                }
                outcomes
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(worker.await.expect("worker"));
    }
    stop.store(true, Ordering::SeqCst);
    let sent = attack.await.expect("attacker");
    assert_outcomes_kept(rls, b, &outcomes, label);
    assert_async_sessions_clean(&victim, label).await;
    sent
}

/// A cancel that lands on a pipelined opening after its message arrived but before its
/// `BEGIN` ran leaves no transaction open, and the statement sent behind the opening (with a
/// `Sync` of its own) then runs on its own. On a pipelining pool it finds the session read
/// only and cannot write, so a transaction reported as failed kept nothing. With row level
/// security off nothing else refuses that write. Another session cancels the pool's only
/// connection in a loop, whatever it runs, while it runs one-insert transactions; the window
/// is narrow (before the pool's connections were read only outside transactions it was hit
/// about twice in 20,000 such transactions), so the run is long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_pipelined_opening_keeps_no_write_of_the_statement_behind_it() {
    #[derive(QueryableByName)]
    struct Modes {
        #[diesel(sql_type = Text)]
        session: String,
        #[diesel(sql_type = Text)]
        transaction: String,
        #[diesel(sql_type = Text)]
        lock_timeout: String,
    }
    const TRANSACTIONS: i32 = 20_000;
    for rls in Rls::all().into_iter().filter(|rls| !rls.enforced()) {
        let label = format!("{rls:?}");
        let (_, b) = rls.two_tenants();
        let name = format!("storm_{}", uuid::Uuid::now_v7().simple());
        // Start-up options of the URL's own are kept beside the pool's.
        let with_options = format!("{name}&options=-c%20lock_timeout%3D12345");
        let victim = async_tenancy_named(rls, 1, true, Some(&with_options)).await;
        // Raw SQL that turns the session's default off reaches no later transaction; refused
        // or not, the transaction's outcome does not matter here.
        let _ = victim
            .transaction(b, async |tx| {
                tx.execute(diesel::sql_query(
                    "SET SESSION default_transaction_read_only = off",
                ))
                .await
            })
            .await;
        let modes: Vec<Modes> = victim
            .transaction(b, async |tx| {
                tx.load_sql(diesel::sql_query(
                    "SELECT current_setting('default_transaction_read_only') AS session, \
                            current_setting('transaction_read_only') AS transaction, \
                            current_setting('lock_timeout') AS lock_timeout",
                ))
                .await
            })
            .await
            .expect("modes");
        assert_eq!(
            (
                modes[0].session.as_str(),
                modes[0].transaction.as_str(),
                modes[0].lock_timeout.as_str()
            ),
            ("on", "off", "12345ms"),
            "{label}: read only outside the transaction, read-write inside, the URL's options kept"
        );
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let storm = {
            let stop = Arc::clone(&stop);
            // Not while the pool connects: a connection cancelled as it opens is never used.
            let cancel = format!(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = '{name}' \
                   AND backend_start < clock_timestamp() - interval '300 ms'"
            );
            std::thread::spawn(move || {
                let mut owner = rls.owner();
                while !stop.load(Ordering::SeqCst) {
                    owner.batch_execute(&cancel).expect("cancel");
                }
            })
        };
        let mut outcomes = Vec::new();
        for i in 0..TRANSACTIONS {
            let id = 200_000 + i;
            let r = victim
                .transaction(b, async |tx| {
                    insert(tx, id, "under a storm of cancels").await
                })
                .await;
            outcomes.push((id, r.is_ok()));
        }
        stop.store(true, Ordering::SeqCst);
        storm.join().expect("storm");
        let failed = outcomes.iter().filter(|(_, ok)| !ok).count();
        assert!(
            failed > 0,
            "{label}: no transaction was cancelled: the run proved nothing"
        );
        assert_outcomes_kept(rls, b, &outcomes, &label);
        assert_async_sessions_clean(&victim, &label).await;
    }
}

/// Each transaction of `tenant` in `outcomes` (its post's id, whether it was reported as
/// committed) was reported committed exactly when its write was kept.
fn assert_outcomes_kept(rls: Rls, tenant: TenantId, outcomes: &[(i32, bool)], label: &str) {
    let ids: Vec<i32> = outcomes.iter().map(|(id, _)| *id).collect();
    let kept = kept(rls, tenant, &ids);
    for (id, ok) in outcomes {
        assert_eq!(
            *ok,
            kept.contains(id),
            "{label}: transaction {id} reported {} but its write was {}",
            if *ok { "committed" } else { "failed" },
            if kept.contains(id) {
                "kept"
            } else {
                "not kept"
            },
        );
    }
}

/// A statement dropped inside the closure after it was written but before its answer (a
/// timeout of the caller's): the server prepared it under a name the driver never learned, so
/// no end of the transaction closes it, and tenant B's raw SQL on the next checkout would read
/// its text, literals included, in `pg_prepared_statements`. The transaction still commits the
/// work after it; the connection is closed instead of pooled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_dropped_before_its_answer_leaves_its_text_to_no_later_checkout() {
    #[derive(QueryableByName, Debug)]
    struct Named {
        #[diesel(sql_type = Text)]
        statement: String,
    }
    /// Polls `statement` once, which writes it on the connection, and drops it.
    async fn written_then_dropped<F: Future>(statement: F) -> bool {
        let mut statement = std::pin::pin!(statement);
        std::future::poll_fn(|cx| std::task::Poll::Ready(statement.as_mut().poll(cx).is_ready()))
            .await
    }
    for (rls, pipeline) in Rls::all_async() {
        let label = format!("{rls:?} pipelined={pipeline}");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        for dropped in [false, true] {
            let secret = format!("of tenant a {}", uuid::Uuid::now_v7().simple());
            let sql = format!("SELECT '{secret}'::text AS statement");
            // On a busy machine a statement's answer can come back within its first poll (the
            // driver's task runs on the other worker thread): then nothing was dropped before
            // its answer, and the transaction runs again.
            for attempt in 0.. {
                let answered_at_once = t
                    .transaction(a, async |tx| {
                        // Opened first (pipelined or not), so the dropped statement is a plain one.
                        titles_in(tx).await?;
                        let at_once = if dropped {
                            written_then_dropped(tx.load_sql::<_, Named>(diesel::sql_query(&sql)))
                                .await
                        } else {
                            tx.load_sql::<_, Named>(diesel::sql_query(&sql)).await?;
                            false
                        };
                        titles_in(tx).await?;
                        Ok::<_, Error>(at_once)
                    })
                    .await
                    .unwrap_or_else(|e| panic!("{label} dropped={dropped}: {e}"));
                if !answered_at_once {
                    break;
                }
                assert!(
                    attempt < 20,
                    "{label}: every statement was answered within its first poll"
                );
            }
            let seen: Vec<Named> = t
                .transaction(b, async |tx| {
                    // A typed statement of B's own, which the listing must show.
                    titles_in(tx).await?;
                    tx.load_sql(diesel::sql_query(
                        "SELECT statement FROM pg_prepared_statements",
                    ))
                    .await
                })
                .await
                .expect("B lists the connection's prepared statements");
            assert!(
                seen.iter().any(|s| s.statement.contains("\"posts\"")),
                "{label}: B's own statement is listed: {seen:?}"
            );
            assert!(
                seen.iter().all(|s| !s.statement.contains(&secret)),
                "{label} dropped={dropped}: {seen:?}"
            );
            assert_async_sessions_clean(&t, &label).await;
        }
    }
}

/// A's titles inside its transaction, to open it before what the test drops.
async fn titles_in(tx: &mut tenancy_async::AsyncTenantTx<'_>) -> Result<(), Error> {
    tx.load::<_, String>(posts::table.select(posts::title))
        .await
        .map(drop)
}

/// Requests dropped while their statement runs (a client gone, a timeout): PostgreSQL sees a
/// closed socket only once the statement ends, so without a cancel the statement would run on
/// with its row locks, on a server connection the pool no longer counts, and a client dropping
/// requests in a loop would fill the server's connection slots for every tenant. Each dropped
/// request's statement is cancelled as its connection is closed, and, where the cancel
/// arrives while the session still reads the statement (dropped within a few milliseconds),
/// the server's own look for its client (`client_connection_check_interval`) ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_requests_statement_ends_with_its_connection() {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    for rls in [Rls::On, Rls::OnNative] {
        for pipeline in [false, true] {
            let label = format!("{rls:?} pipelined={pipeline}");
            let name = format!("dropped{}", uuid::Uuid::now_v7().simple());
            let (a, _) = rls.two_tenants();
            let size = 2;
            let t = async_tenancy_named(rls, size, pipeline, Some(&name)).await;
            // A request that locks A's post, then sleeps in the server.
            let request = || {
                t.transaction(a, async |tx| {
                    tx.update(posts::table)
                        .filter(posts::id.eq(1))
                        .set(posts::title.eq("a one"))
                        .execute()
                        .await?;
                    tx.execute(diesel::sql_query("SELECT pg_sleep(30)")).await?;
                    Ok::<_, Error>(())
                })
            };
            for _ in 0..8 {
                assert!(
                    tokio::time::timeout(Duration::from_millis(150), request())
                        .await
                        .is_err()
                );
            }
            // Dropped anywhere in their first milliseconds, eight at a time.
            for round in 0..40_u64 {
                let requests = (0..8_u64).map(|i| {
                    tokio::time::timeout(
                        Duration::from_micros((round * 8 + i) * 757 % 6000),
                        request(),
                    )
                });
                let mut pending: Vec<_> = requests.map(Box::pin).collect();
                std::future::poll_fn(|cx| {
                    pending.retain_mut(|request| match request.as_mut().poll(cx) {
                        std::task::Poll::Ready(dropped) => {
                            assert!(dropped.is_err(), "{label}: a request ran to its end");
                            false
                        }
                        std::task::Poll::Pending => true,
                    });
                    if pending.is_empty() {
                        std::task::Poll::Ready(())
                    } else {
                        std::task::Poll::Pending
                    }
                })
                .await;
            }
            // Cancels travel on connections of their own: wait for the backends to go.
            let mut owner = rls.owner();
            let mut running = i64::MAX;
            for _ in 0..50 {
                running = diesel::sql_query(format!(
                    "SELECT count(*) AS n FROM pg_stat_activity
                     WHERE application_name = '{name}' AND query LIKE '%pg_sleep(30)%' AND state = 'active'"
                ))
                .get_result::<Count>(&mut owner)
                .expect("pg_stat_activity")
                .n;
                if running == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(running, 0, "{label}: dropped statements still running");
            // The row the dropped requests updated is free again at once.
            let next = tokio::time::timeout(
                Duration::from_secs(5),
                t.transaction(a, async |tx| {
                    tx.update(posts::table)
                        .filter(posts::id.eq(1))
                        .set(posts::title.eq("a one"))
                        .execute()
                        .await
                }),
            )
            .await;
            assert!(matches!(next, Ok(Ok(1))), "{label}: {next:?}");
            assert_async_sessions_clean(&t, &label).await;
        }
    }
}
