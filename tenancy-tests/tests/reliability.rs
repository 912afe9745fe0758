//! Reliability: a backend killed in the middle of a tenant transaction,
//! and bad input of every kind, on real PostgreSQL as the application role.

#![allow(clippy::items_after_statements)] // reason: row structs next to their query

mod common;

use common::{owner, tenancy};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use tenancy_foundation::ResourceId;
use tenancy_foundation::envelope::{self, ListRequest, NewResourceSpec};
use tenancy_foundation::models::{Resource, ResourceKind, ResourceVisibility};
use tenancy_foundation::schema::resources;
use tenancy_foundation::seed::{PersonalTenant, seed_personal_tenant};
use tenancy_schema::{Error, ParseIdError, TenantId};

fn tenant(label: &str) -> PersonalTenant {
    let email = format!("{label}-{}@example.test", uuid::Uuid::now_v7().simple());
    seed_personal_tenant(&tenancy(1), &email, label).expect("seed")
}

fn names(t: &tenancy_schema::Tenancy, who: PersonalTenant) -> Vec<String> {
    let mut names: Vec<String> = t
        .transaction_as(who.tenant, who.principal, |tx| {
            envelope::list(tx, &ListRequest::first(500))
        })
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort();
    names
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

/// Idle pooled connections the server closes (`pg_terminate_backend`, a restart, an idle
/// timeout): the inspection of every pooled session answers for the connections that take
/// their place, where it failed on each closed one in turn.
#[test]
fn the_inspection_answers_after_the_server_closes_idle_pooled_connections() {
    let f = common::fixture();
    let name = format!("inspect{}", uuid::Uuid::now_v7().simple());
    let separator = if f.login_url.contains('?') { '&' } else { '?' };
    let t =
        f.db.tenancy_builder(&format!(
            "{}{separator}application_name={name}",
            f.login_url
        ))
        .expect("admin login")
        .max_size(2)
        .config(tenancy_foundation::config())
        .build()
        .expect("pool");
    assert_eq!(t.inspect_sessions().expect("inspect").len(), 2);
    #[derive(QueryableByName)]
    struct Killed {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let killed: Killed = diesel::sql_query(format!(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE application_name = '{name}'"
    ))
    .get_result(&mut owner())
    .expect("terminate");
    assert_eq!(killed.n, 2);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let sessions = t.inspect_sessions().expect("inspect after the kill");
    assert_eq!(sessions.len(), 2);
    assert!(
        sessions.iter().all(tenancy_schema::SessionState::is_clean),
        "{sessions:?}"
    );
}

/// Pool hygiene: `pg_terminate_backend` on the pool's only connection while a tenant transaction is
/// open: the transaction fails with an error (no panic), nothing of it is committed, the pool
/// replaces the connection, and the next transaction neither inherits a tenant nor loses what
/// was committed before.
#[test]
fn a_backend_killed_mid_transaction_loses_nothing_committed_and_leaks_nothing() {
    let a = tenant("kill-a");
    let b = tenant("kill-b");
    let t = tenancy(1);
    common::create_resource(&t, a, "committed before").unwrap();
    let killed = t.transaction_as(a.tenant, a.principal, |tx| {
        envelope::create(
            tx,
            &NewResourceSpec {
                workspace: a.workspace,
                kind: ResourceKind::Prompt,
                name: "uncommitted",
                visibility: ResourceVisibility::Tenant,
                data: &serde_json::json!({}),
            },
        )?;
        let me: Vec<Pid> = tx.load_sql(diesel::sql_query("SELECT pg_backend_pid() AS pid"))?;
        owner()
            .batch_execute(&format!("SELECT pg_terminate_backend({})", me[0].pid))
            .expect("terminate");
        // The next statement finds the connection gone.
        tx.execute(diesel::sql_query("SELECT 1"))
    });
    assert!(killed.is_err(), "{killed:?}");
    // The pool recovers: the broken connection is replaced.
    let mut recovered = false;
    for _ in 0..20 {
        if t.transaction(b.tenant, |tx| tx.execute(diesel::sql_query("SELECT 1")))
            .is_ok()
        {
            recovered = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(recovered, "the pool did not recover");
    assert_eq!(names(&t, a), ["committed before"]);
    assert!(names(&t, b).is_empty(), "b sees nothing of a");
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        tenant: String,
    }
    let setting: Vec<Setting> = t
        .transaction(b.tenant, |tx| {
            tx.load_sql(diesel::sql_query(
                "SELECT tenancy.current_tenant()::text AS tenant",
            ))
        })
        .unwrap();
    assert_eq!(setting[0].tenant, b.tenant.as_uuid().to_string());
    common::record_counts(
        "pool-hygiene",
        "backend killed mid-transaction",
        &[
            ("faults_injected", 1),
            ("lost_writes", 0),
            ("cross_tenant_rows", 0),
        ],
    );
}

/// Bad input: identifiers that are not ids are typed parse errors; the nil id is the `_default`
/// tenant, and an unknown tenant cannot open a transaction.
#[test]
fn bad_tenant_ids_are_typed_errors() {
    for bad in [
        "",
        " ",
        "ten_",
        "ten_zz",
        "00000000-0000-0000-0000-000000000000",
        "ten_'; DROP TABLE tenants; --",
        "ten_\u{0}",
    ] {
        assert!(bad.parse::<TenantId>().is_err(), "{bad:?}");
    }
    let nil: TenantId = "ten_00000000000000000000000000000000".parse().unwrap();
    assert!(nil.as_uuid().is_nil());
    assert!(matches!(
        "usr_00000000000000000000000000000000".parse::<TenantId>(),
        Err(ParseIdError::WrongPrefix { .. })
    ));
    let t = tenancy(1);
    let unknown = t.transaction(TenantId::new_v7(), |tx| {
        tx.execute(diesel::sql_query("SELECT 1"))
    });
    assert!(
        matches!(unknown, Err(Error::TenantNotFound(_))),
        "{unknown:?}"
    );
    common::record_counts(
        "bad-input",
        "bad tenant ids",
        &[("inputs", 9), ("panics", 0)],
    );
}

/// Bad input: hostile and oversized text is stored literally or refused with a typed error, never
/// a panic, and a refused write leaves nothing behind (not even the rows written before it
/// in the same transaction).
#[test]
fn injection_and_oversized_values_are_inert_or_refused_whole() {
    let a = tenant("input-a");
    let b = tenant("input-b");
    let t = tenancy(1);
    let hostile = [
        "'; DELETE FROM resources; --",
        "\") OR 1=1 --",
        "$1 $2 \\x00",
        "<script>alert(1)</script>",
        "ü🙂\u{202e}",
    ];
    for text in hostile {
        let r = common::create_resource(&t, a, text).unwrap();
        assert_eq!(r.name, text);
    }
    let before = names(&t, a);
    assert_eq!(before.len(), hostile.len());
    // Oversized: the whole transaction rolls back, the earlier insert of it included.
    let huge = "x".repeat(10_000);
    let result = t.transaction_as(a.tenant, a.principal, |tx| {
        envelope::create(
            tx,
            &NewResourceSpec {
                workspace: a.workspace,
                kind: ResourceKind::Tag,
                name: "first of two",
                visibility: ResourceVisibility::Tenant,
                data: &serde_json::json!({}),
            },
        )?;
        envelope::create(
            tx,
            &NewResourceSpec {
                workspace: a.workspace,
                kind: ResourceKind::Tag,
                name: &huge,
                visibility: ResourceVisibility::Tenant,
                data: &serde_json::json!({}),
            },
        )
    });
    assert!(
        matches!(result, Err(Error::InvalidInput { .. })),
        "{result:?}"
    );
    // The same through raw SQL: the database's CHECK refuses it.
    let raw = t.transaction_as(a.tenant, a.principal, |tx| {
        tx.execute(
            diesel::sql_query(
                "INSERT INTO resources (tenant_id, workspace_id, kind, name, owner_principal_id)
                 VALUES (tenancy.current_tenant(), $1, 'tag', $2, tenancy.current_principal())",
            )
            .into_boxed()
            .bind::<diesel::sql_types::Uuid, _>(*a.workspace.as_uuid())
            .bind::<Text, _>(&huge),
        )
    });
    assert!(matches!(raw, Err(Error::Query(_))), "{raw:?}");
    assert_eq!(
        names(&t, a),
        before,
        "nothing of the refused transactions remains"
    );
    assert!(names(&t, b).is_empty());
    // Hostile text in the tenant context is impossible: the context is a typed id.
    let count: i64 = diesel::sql_query("SELECT count(*) AS n FROM resources")
        .get_result::<N>(&mut owner())
        .unwrap()
        .n;
    assert!(count >= 5);
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    common::record_counts(
        "bad-input",
        "injection and oversized values",
        &[
            ("inputs", hostile.len() as u64 + 2),
            ("partial_writes", 0),
            ("panics", 0),
        ],
    );
}

/// Bad input: an enum value the Rust side does not know (added to the database later) is a typed
/// error when read, not a panic, and other rows stay readable.
#[test]
fn unknown_enum_values_are_typed_errors() {
    let shared = tenancy_testing::shared().expect("server");
    // Its own database: ALTER TYPE would change the enum for every other test.
    let db = tenancy_testing::TestDatabase::create_in(shared.url()).unwrap();
    let mut owner = PgConnection::establish(db.url()).unwrap();
    tenancy_foundation::run_migrations(&mut owner).unwrap();
    let login_url = db
        .create_app_login(common::LOGIN_ROLE, common::LOGIN_PASSWORD)
        .unwrap();
    let t = db.tenancy(&login_url, 1).unwrap();
    let a = seed_personal_tenant(&t, "enum@example.test", "Enum").unwrap();
    common::create_resource(&t, a, "known").unwrap();
    owner
        .batch_execute("ALTER TYPE resource_kind ADD VALUE 'workflow'")
        .unwrap();
    owner
        .batch_execute(&format!(
            "INSERT INTO resources (tenant_id, workspace_id, kind, name, visibility, owner_principal_id)
             VALUES ('{}', '{}', 'workflow', 'from the future', 'tenant', '{}')",
            a.tenant.as_uuid(),
            a.workspace.as_uuid(),
            a.principal.as_uuid()
        ))
        .unwrap();
    let all = t.transaction_as(a.tenant, a.principal, |tx| {
        tx.load(resources::table.select(Resource::as_select()))
    });
    assert!(
        matches!(
            all,
            Err(Error::Query(diesel::result::Error::DeserializationError(_)))
        ),
        "{all:?}"
    );
    let known: Vec<ResourceId> = t
        .transaction_as(a.tenant, a.principal, |tx| {
            tx.load(
                resources::table
                    .filter(resources::name.eq("known"))
                    .select(resources::id),
            )
        })
        .unwrap();
    assert_eq!(known.len(), 1);
    common::record_counts(
        "bad-input",
        "unknown enum values",
        &[("inputs", 1), ("panics", 0)],
    );
}

/// Load: `threads` threads, mixed tenants, `per_thread` transactions each (a resource created
/// with its audit row, or a raw update of the tenant's own rows): afterwards every committed
/// write is there, no row is in the wrong tenant, each tenant's list shows exactly its own
/// writes, and every audit chain verifies.
fn load(threads: usize, per_thread: usize) {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    let tenants: Vec<PersonalTenant> = (0..4).map(|i| tenant(&format!("load{i}"))).collect();
    let t = tenancy(8);
    let committed: Mutex<Vec<BTreeSet<ResourceId>>> =
        Mutex::new(vec![BTreeSet::new(); tenants.len()]);
    std::thread::scope(|s| {
        for thread in 0..threads {
            let (t, tenants, committed) = (&t, &tenants, &committed);
            s.spawn(move || {
                for i in 0..per_thread {
                    let k = (thread + i) % tenants.len();
                    let who = tenants[k];
                    if i % 5 == 4 {
                        t.transaction_as(who.tenant, who.principal, |tx| {
                            // Raw SQL with no tenant filter: RLS alone keeps it in the
                            // tenant. The newest 20 rows only, so the long run stays linear
                            // (all rows made 100,000 transactions quadratic), locked in one
                            // order so that two of these cannot deadlock each other.
                            tx.execute(diesel::sql_query(
                                "UPDATE resources SET data = '{\"touched\": true}' WHERE id IN \
                                 (SELECT id FROM resources WHERE deleted_at IS NULL \
                                  ORDER BY id DESC LIMIT 20 FOR UPDATE)",
                            ))
                        })
                        .expect("raw update");
                    } else {
                        let r = common::create_resource(t, who, &format!("t{thread}-{i}"))
                            .expect("create");
                        assert_eq!(r.tenant_id, who.tenant);
                        committed.lock().unwrap()[k].insert(r.id);
                    }
                }
            });
        }
    });
    let committed = committed.into_inner().unwrap();
    let total: usize = committed.iter().map(BTreeSet::len).sum();
    assert_eq!(total, threads * per_thread - threads * (per_thread / 5));
    for (k, who) in tenants.iter().enumerate() {
        let listed: BTreeSet<ResourceId> = t
            .transaction_as(who.tenant, who.principal, |tx| {
                tx.load(
                    resources::table
                        .filter(resources::deleted_at.is_null())
                        .select(resources::id),
                )
            })
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(listed, committed[k], "tenant {k}: lost or foreign rows");
        let chain = tenancy_foundation::audit::verify_chain(&mut owner(), who.tenant).unwrap();
        assert_eq!(chain.broken_at, None, "audit chain of tenant {k}");
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let owned: Count = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM resources WHERE tenant_id = '{}'",
            who.tenant.as_uuid()
        ))
        .get_result(&mut owner())
        .unwrap();
        assert_eq!(usize::try_from(owned.n).unwrap(), committed[k].len());
    }
    eprintln!(
        "load: {threads} threads, {} transactions, 0 cross-tenant rows, 0 lost writes",
        threads * per_thread
    );
    common::record_counts(
        "load",
        &format!("load {threads} threads x {per_thread}"),
        &[
            ("transactions", (threads * per_thread) as u64),
            ("committed_creates", total as u64),
            ("cross_tenant_rows", 0),
            ("lost_writes", 0),
            ("audit_chains_verified", tenants.len() as u64),
        ],
    );
}

#[test]
fn concurrent_mixed_tenant_load_keeps_every_write_in_its_tenant() {
    load(16, 125);
}

#[test]
#[ignore = "long run (100,000 transactions): cargo test -p tenancy-schema --test reliability -- --ignored"]
fn concurrent_mixed_tenant_load_100k() {
    load(16, 6_250);
}
