//! The database restarts in the middle of a run. Writers of several tenants
//! keep committing through one `Tenancy` pool (as the application role) while the private
//! cluster is stopped and started again, once as a planned restart (`pg_ctl stop -m fast`)
//! and once as a crash (`-m immediate`, recovered from the WAL). Checked: calls during the
//! outage return typed errors, the same pool recovers without being rebuilt, every commit
//! that returned `Ok` is still there, the transaction open at the stop left nothing behind,
//! every audit chain verifies, and no tenant context survives on a pooled connection.

#![allow(clippy::items_after_statements)] // reason: row structs next to their query

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use tenancy_foundation::ResourceId;
use tenancy_foundation::envelope::{self, NewResourceSpec};
use tenancy_foundation::models::{ResourceKind, ResourceVisibility};
use tenancy_foundation::schema::resources;
use tenancy_foundation::seed::{PersonalTenant, seed_personal_tenant};
use tenancy_schema::{Error, Tenancy};
use tenancy_testing::{StopMode, TestDatabase};

const LOGIN_ROLE: &str = "tenancy_faults_login";
const LOGIN_PASSWORD: &str = "faults-test-password";
const TENANTS: usize = 3;
const WRITERS: usize = 3;
/// Commits each writer makes before the fault, and again after the recovery.
const COMMITS_PER_PHASE: usize = 15;
/// Upper bound for every wait in the test, so that a hang fails instead of blocking CI.
const DEADLINE: Duration = Duration::from_secs(60);

/// When a writer's attempt started or ended, relative to the fault.
const BEFORE: u8 = 0;
const OUTAGE: u8 = 1;
const RECOVERED: u8 = 2;

/// One finished writer attempt.
struct Attempt {
    writer: usize,
    tenant: usize,
    name: String,
    started: u8,
    ended: u8,
    outcome: Result<ResourceId, String>,
}

/// An error seen while the server was down, kept as its variant and message.
fn classify(err: &Error) -> &'static str {
    match err {
        Error::Pool(_) => "pool",
        Error::Query(diesel::result::Error::DatabaseError(..)) => "database",
        Error::Query(_) => "query",
        Error::Setup { .. } => "setup",
        _ => "other",
    }
}

/// Messages a connection failure may carry (libpq, the server's shutdown notice, r2d2).
///
/// The last is Diesel's: on a connection's first use of a custom type (`resource_kind`), Diesel
/// looks the type's oid up with a query of its own, and reports any failure of that query, a
/// lost connection included, as this message without its cause. The callers only count
/// errors of attempts that overlapped the outage.
fn says_connection_failed(message: &str) -> bool {
    [
        "connection",
        "terminating",
        "shutting down",
        "server closed",
        "timed out waiting",
    ]
    .iter()
    .any(|needle| message.contains(needle))
        || message.starts_with("Failed to find a type oid for `")
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// The pool a service would configure: a short checkout timeout, so that callers get an
/// error during an outage instead of waiting r2d2's default 30 s.
fn app_tenancy(db: &TestDatabase, login_url: &str, size: u32) -> Tenancy {
    db.tenancy_builder(login_url)
        .expect("admin login")
        .max_size(size)
        .connection_timeout(Duration::from_secs(1))
        .build()
        .expect("pool")
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: uuid::Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    tenant_id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    name: String,
}

/// What the run did, for the assertions and the record.
#[derive(Default)]
struct Counts {
    transactions: u64,
    committed: u64,
    errors_during_fault: u64,
    recovery_attempts: u64,
    in_doubt_commits: u64,
}

#[allow(clippy::too_many_lines)] // reason: one scenario, read top to bottom
fn restart_mid_run(mode: StopMode) -> Counts {
    let db = TestDatabase::start_embedded().expect("start a private cluster");
    let mut owner = PgConnection::establish(db.url()).expect("connect as owner");
    tenancy_foundation::run_migrations(&mut owner).expect("migrations");
    let login_url = db
        .create_app_login(LOGIN_ROLE, LOGIN_PASSWORD)
        .expect("login role");
    if mode == StopMode::Immediate {
        // The throwaway cluster runs with synchronous_commit=off for speed; a crash may then
        // lose commits already acknowledged. Applications run with it on, so the login does.
        diesel::sql_query(format!(
            "ALTER ROLE {LOGIN_ROLE} SET synchronous_commit = on"
        ))
        .execute(&mut owner)
        .expect("synchronous_commit for the login");
    }
    drop(owner);

    let t = app_tenancy(&db, &login_url, u32::try_from(WRITERS).expect("small") + 2);
    // Built with the library's defaults (30 s checkout timeout); only used after the restart,
    // to show that a pool created before the outage recovers too.
    let default_pool = db.tenancy(&login_url, 2).expect("default pool");
    let tenants: Vec<PersonalTenant> = (0..TENANTS)
        .map(|i| {
            let email = format!("faults{i}-{}@example.test", uuid::Uuid::now_v7().simple());
            seed_personal_tenant(&t, &email, &format!("Faults {i}")).expect("seed")
        })
        .collect();

    let phase = AtomicU8::new(BEFORE);
    let finish = AtomicBool::new(false);
    let attempts: Mutex<Vec<Attempt>> = Mutex::new(Vec::new());
    let commits_of = |writer: usize, started: u8| {
        attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.writer == writer && a.started == started && a.outcome.is_ok())
            .count()
    };
    let mut counts = Counts::default();
    let mut outage_errors: Vec<(&'static str, String)> = Vec::new();
    let mut in_doubt_id = None;

    thread::scope(|s| {
        for writer in 0..WRITERS {
            let (t, tenants, phase, finish, attempts) = (&t, &tenants, &phase, &finish, &attempts);
            s.spawn(move || {
                let mut i = 0;
                while !finish.load(Ordering::SeqCst) {
                    let tenant = (writer + i) % tenants.len();
                    let name = format!("w{writer}-{i}");
                    let started = phase.load(Ordering::SeqCst);
                    let outcome = common::create_resource(t, tenants[tenant], &name)
                        .map(|r| r.id)
                        .map_err(|e| {
                            let class = classify(&e);
                            format!("{class}: {e}")
                        });
                    let ended = phase.load(Ordering::SeqCst);
                    let failed = outcome.is_err();
                    attempts.lock().unwrap().push(Attempt {
                        writer,
                        tenant,
                        name,
                        started,
                        ended,
                        outcome,
                    });
                    if failed {
                        thread::sleep(Duration::from_millis(50));
                    }
                    i += 1;
                }
            });
        }

        wait_until("every writer committed before the fault", || {
            (0..WRITERS).all(|w| commits_of(w, BEFORE) >= COMMITS_PER_PHASE)
        });

        // A transaction with an insert, still open when the server goes down.
        let (inserted_tx, inserted_rx) = mpsc::channel();
        let (proceed_tx, proceed_rx) = mpsc::channel::<()>();
        let victim = tenants[0];
        let t_ref = &t;
        let in_doubt = s.spawn(move || {
            t_ref.transaction_as(victim.tenant, victim.principal, |tx| {
                let r = envelope::create(
                    tx,
                    &NewResourceSpec {
                        workspace: victim.workspace,
                        kind: ResourceKind::Prompt,
                        name: "open at the stop",
                        visibility: ResourceVisibility::Tenant,
                        data: &serde_json::json!({}),
                    },
                )?;
                inserted_tx.send(r.id).expect("main thread waits");
                proceed_rx.recv().expect("main thread signals");
                Ok::<_, Error>(r.id)
            })
        });
        in_doubt_id = Some(
            inserted_rx
                .recv_timeout(DEADLINE)
                .expect("the open transaction inserted its row"),
        );

        phase.store(OUTAGE, Ordering::SeqCst);
        db.stop(mode).expect("stop the server");
        assert!(!db.is_running());
        proceed_tx.send(()).expect("open transaction waits");
        let commit = in_doubt.join().expect("no panic in the open transaction");
        let err = commit.expect_err("a commit after the stop must fail");
        assert!(
            matches!(err, Error::Query(_)),
            "the failed commit is a query error: {err:?}"
        );
        outage_errors.push((classify(&err), err.to_string()));

        // While the server is down: typed errors, no panics, no hangs.
        let victim = tenants[1];
        for _ in 0..2 {
            let probe = t.transaction(victim.tenant, |tx| {
                tx.execute(diesel::sql_query("SELECT 1"))
            });
            let err = probe.expect_err("no transaction while the server is down");
            assert!(matches!(err, Error::Pool(_)), "{err:?}");
            let message = err.to_string();
            assert!(
                message.starts_with("could not get a database connection from the pool"),
                "{message}"
            );
            outage_errors.push((classify(&err), message));
        }
        let seed = seed_personal_tenant(&t, "outage@example.test", "Outage");
        let err = seed.expect_err("no admin work while the server is down");
        assert!(matches!(err, Error::Pool(_)), "{err:?}");
        outage_errors.push((classify(&err), err.to_string()));
        wait_until("every writer saw the outage", || {
            let attempts = attempts.lock().unwrap();
            (0..WRITERS).all(|w| {
                attempts
                    .iter()
                    .any(|a| a.writer == w && a.ended == OUTAGE && a.outcome.is_err())
            })
        });

        db.start_again().expect("start the server again");
        assert!(db.is_running());
        // The same pool recovers by itself: dead connections fail r2d2's check-out test
        // and are replaced.
        let deadline = Instant::now() + DEADLINE;
        loop {
            counts.recovery_attempts += 1;
            let probe = t.transaction(victim.tenant, |tx| {
                tx.execute(diesel::sql_query("SELECT 1"))
            });
            if probe.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the pool did not recover: {probe:?}"
            );
            thread::sleep(Duration::from_millis(100));
        }
        phase.store(RECOVERED, Ordering::SeqCst);
        wait_until("every writer committed after the recovery", || {
            (0..WRITERS).all(|w| commits_of(w, RECOVERED) >= COMMITS_PER_PHASE)
        });
        finish.store(true, Ordering::SeqCst);
    });
    let in_doubt_id = in_doubt_id.expect("set in the scope");
    let attempts = attempts.into_inner().unwrap();

    // Errors only from the fault, and only typed connection errors.
    for a in &attempts {
        if let Err(message) = &a.outcome {
            assert!(
                a.ended >= OUTAGE,
                "w{} failed before the fault: {message}",
                a.writer
            );
            assert!(
                a.started <= OUTAGE,
                "w{} failed after the recovery: {message}",
                a.writer
            );
            let (class, text) = message.split_once(": ").unwrap_or(("other", message));
            assert!(
                matches!(class, "pool" | "database" | "query" | "setup"),
                "unexpected error kind: {message}"
            );
            let class = match class {
                "pool" => "pool",
                "database" => "database",
                "setup" => "setup",
                _ => "query",
            };
            outage_errors.push((class, text.to_owned()));
        }
    }
    for (class, message) in &outage_errors {
        assert!(
            says_connection_failed(message),
            "{class} error does not say the connection failed: {message}"
        );
    }
    let mut distinct: BTreeMap<&str, usize> = BTreeMap::new();
    for (class, _) in &outage_errors {
        *distinct.entry(class).or_default() += 1;
    }
    eprintln!("{mode:?}: errors during the fault by kind: {distinct:?}");
    for kind in distinct.keys() {
        if let Some((_, example)) = outage_errors.iter().find(|(c, _)| c == kind) {
            eprintln!(
                "{mode:?}: {kind} error, e.g.: {}",
                example.replace('\n', " ")
            );
        }
    }

    // As the owner: every acknowledged commit is there, in its tenant; the open
    // transaction's row is not; rows of failed commits are at most those attempts.
    let mut owner = PgConnection::establish(db.url()).expect("owner connects after restart");
    let rows: Vec<Row> = diesel::sql_query("SELECT id, tenant_id, name FROM resources")
        .load(&mut owner)
        .expect("all resources");
    let stored: BTreeMap<uuid::Uuid, &Row> = rows.iter().map(|r| (r.id, r)).collect();
    let acknowledged: Vec<(&Attempt, ResourceId)> = attempts
        .iter()
        .filter_map(|a| a.outcome.as_ref().ok().map(|id| (a, *id)))
        .collect();
    let mut lost = 0;
    for (a, id) in &acknowledged {
        match stored.get(id.as_uuid()) {
            Some(row) => {
                assert_eq!(
                    row.tenant_id,
                    *tenants[a.tenant].tenant.as_uuid(),
                    "{}",
                    a.name
                );
                assert_eq!(row.name, a.name);
            }
            None => lost += 1,
        }
    }
    assert_eq!(lost, 0, "acknowledged commits lost by the {mode:?} restart");
    assert!(
        !stored.contains_key(in_doubt_id.as_uuid()),
        "the uncommitted row of the open transaction is visible"
    );
    let acked_ids: BTreeSet<uuid::Uuid> =
        acknowledged.iter().map(|(_, id)| *id.as_uuid()).collect();
    let failed_names: BTreeSet<&str> = attempts
        .iter()
        .filter(|a| a.outcome.is_err())
        .map(|a| a.name.as_str())
        .collect();
    for row in rows.iter().filter(|r| !acked_ids.contains(&r.id)) {
        // A commit whose reply was lost with the connection: it is there although the client
        // saw an error. It must belong to a failed attempt, never appear from nowhere.
        assert!(
            failed_names.contains(row.name.as_str()),
            "row {:?} belongs to no attempt",
            row.name
        );
        counts.in_doubt_commits += 1;
    }

    // The audit chain survived: every resource has its audit row, nothing else does, and
    // each tenant's hash chain verifies.
    #[derive(QueryableByName)]
    struct Orphan {
        #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
        id: Option<uuid::Uuid>,
    }
    let orphans: Vec<Orphan> = diesel::sql_query(
        "SELECT r.id FROM resources r WHERE NOT EXISTS (SELECT FROM audit_log a
           WHERE a.tenant_id = r.tenant_id AND a.resource_id = r.id AND a.action = 'resource.create')
         UNION ALL
         SELECT a.resource_id FROM audit_log a WHERE a.action = 'resource.create' AND NOT EXISTS
           (SELECT FROM resources r WHERE r.tenant_id = a.tenant_id AND r.id = a.resource_id)",
    )
    .load(&mut owner)
    .expect("audit rows");
    assert!(
        orphans.is_empty(),
        "resources and audit rows disagree: {:?}",
        orphans.iter().map(|o| o.id).collect::<Vec<_>>()
    );
    for who in &tenants {
        let chain = tenancy_foundation::audit::verify_chain(&mut owner, who.tenant)
            .expect("verify audit chain");
        assert_eq!(chain.broken_at, None, "audit chain of {}", who.tenant);
    }

    // No tenant context leaks after the recovery: each tenant sees exactly its own rows,
    // through the pool that lived through the restart and through a default one.
    for (k, who) in tenants.iter().enumerate() {
        let own: BTreeSet<uuid::Uuid> = rows
            .iter()
            .filter(|r| r.tenant_id == *who.tenant.as_uuid())
            .map(|r| r.id)
            .collect();
        for pool in [&t, &default_pool] {
            let seen: BTreeSet<uuid::Uuid> = pool
                .transaction_as(who.tenant, who.principal, |tx| {
                    tx.load(resources::table.select(resources::id))
                })
                .expect("list after the restart")
                .into_iter()
                .map(|id: ResourceId| *id.as_uuid())
                .collect();
            assert_eq!(seen, own, "tenant {k} sees exactly its own rows");
        }
    }
    // Every connection of the pool at once, so the check covers reused ones.
    for session in t.inspect_sessions().expect("session state") {
        assert!(
            session.is_clean(),
            "state left outside a transaction: {session:?}"
        );
        assert_eq!(session.current_user, LOGIN_ROLE, "no role left switched");
    }
    if mode == StopMode::Immediate {
        #[derive(QueryableByName)]
        struct Sync {
            #[diesel(sql_type = Text)]
            sync: String,
        }
        let sync: Vec<Sync> = t
            .system(|c| {
                c.load_sql(diesel::sql_query(
                    "SELECT current_setting('synchronous_commit') AS sync",
                ))
            })
            .expect("synchronous_commit");
        assert_eq!(
            sync[0].sync, "on",
            "the crash test relies on synchronous commits"
        );
    }

    // Writers' attempts, the open transaction, the three outage probes and the recovery
    // probes; not the set-up and the checks.
    counts.transactions =
        u64::try_from(attempts.len()).expect("fits") + 1 + 3 + counts.recovery_attempts;
    counts.committed = u64::try_from(acknowledged.len()).expect("fits");
    counts.errors_during_fault = u64::try_from(outage_errors.len()).expect("fits");
    eprintln!(
        "{mode:?}: {} transactions, {} committed, {} errors during the fault, recovered after {} attempt(s), {} in-doubt commit(s), 0 lost, 0 uncommitted visible",
        counts.transactions,
        counts.committed,
        counts.errors_during_fault,
        counts.recovery_attempts,
        counts.in_doubt_commits
    );
    counts
}

fn record(test: &str, counts: &Counts) {
    common::record_counts(
        "database-restart",
        test,
        &[
            ("transactions", counts.transactions),
            ("committed", counts.committed),
            ("faults_injected", 1),
            ("errors_during_fault", counts.errors_during_fault),
            ("recovery_attempts", counts.recovery_attempts),
            ("in_doubt_commits", counts.in_doubt_commits),
            ("lost_writes", 0),
            ("uncommitted_visible", 0),
            ("cross_tenant_rows", 0),
        ],
    );
}

/// A planned restart (`pg_ctl stop -m fast`, then start) under write load.
#[test]
fn a_restart_mid_run_loses_no_commit_and_shows_nothing_uncommitted() {
    let counts = restart_mid_run(StopMode::Fast);
    record("restart", &counts);
}

/// A crash (`pg_ctl stop -m immediate`: no checkpoint, WAL replay on start) under
/// write load.
#[test]
fn a_crash_mid_run_loses_no_commit_and_shows_nothing_uncommitted() {
    let counts = restart_mid_run(StopMode::Immediate);
    record("crash", &counts);
}
