//! The foundation schema (`migrations/`) on real PostgreSQL: the isolation matrix over every
//! tenant-scoped table, composite foreign keys, the audit log, resource visibility, catalog
//! checks, shadow mode and the seed. Runs as `tenancy_app` unless a test says otherwise.

#![allow(
    clippy::many_single_char_names,
    clippy::items_after_statements,
    clippy::too_many_lines
)] // reason: tenants `a`/`b`, row structs next to their query and one matrix per test read best here

mod common;

use std::collections::BTreeSet;

use common::{LOGIN_PASSWORD, LOGIN_ROLE, fixture, owner, tenancy};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use tenancy_foundation::models::{NewResource, Resource, ResourceKind, ResourceVisibility};
use tenancy_foundation::schema::resources;
use tenancy_foundation::seed::{PersonalTenant, seed_personal_tenant};
use tenancy_foundation::{ResourceId, access};
use tenancy_schema::Error;
use tenancy_testing::TestDatabase;
use uuid::Uuid;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct OptUuid {
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    id: Option<Uuid>,
}

fn count(conn: &mut PgConnection, sql: &str) -> QueryResult<i64> {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .map(|c| c.n)
}

/// One tenant of the matrix, with one row in every tenant-scoped table.
#[derive(Clone, Copy, Debug)]
struct World {
    seed: PersonalTenant,
    spare_user: Uuid,
    team_principal: Uuid,
    team: Uuid,
    resource: Uuid,
    api_key: Uuid,
    audit: Uuid,
}

fn unique_email(label: &str) -> String {
    format!("{label}-{}@example.test", Uuid::now_v7().simple())
}

fn world(label: &str) -> World {
    let seed = seed_personal_tenant(&tenancy(1), &unique_email(label), label).expect("seed");
    let w = World {
        seed,
        spare_user: Uuid::now_v7(),
        team_principal: Uuid::now_v7(),
        team: Uuid::now_v7(),
        resource: Uuid::now_v7(),
        api_key: Uuid::now_v7(),
        audit: Uuid::now_v7(),
    };
    let (t, p, ws) = (
        seed.tenant.as_uuid(),
        seed.principal.as_uuid(),
        seed.workspace.as_uuid(),
    );
    // As the owner (a superuser here): RLS does not apply to seeding.
    owner()
        .batch_execute(&format!(
            "INSERT INTO users (id, email, display_name) VALUES ('{u2}', '{u2}@example.test', 'Spare');
             INSERT INTO principals (tenant_id, id, kind, display_name) VALUES ('{t}', '{tp}', 'team', 'Team');
             INSERT INTO teams (tenant_id, id, name, principal_id) VALUES ('{t}', '{team}', 'team', '{tp}');
             INSERT INTO team_members (tenant_id, team_id, principal_id) VALUES ('{t}', '{team}', '{p}');
             INSERT INTO resources (tenant_id, id, workspace_id, kind, name, owner_principal_id)
               VALUES ('{t}', '{r}', '{ws}', 'prompt', 'seeded', '{p}');
             INSERT INTO resource_acl (tenant_id, resource_id, principal_id, permission) VALUES ('{t}', '{r}', '{tp}', 'read');
             INSERT INTO api_keys (tenant_id, id, principal_id, name, prefix, secret_hash)
               VALUES ('{t}', '{key}', '{p}', 'k', 'pfx{keyhex}', sha256('s'));
             INSERT INTO audit_log (tenant_id, id, action) VALUES ('{t}', '{aud}', 'test.seed');
             INSERT INTO api_key_usage (tenant_id, api_key_id, window_start, requests)
               VALUES ('{t}', '{key}', '2026-01-01T00:00:00Z', 1);",
            u2 = w.spare_user,
            tp = w.team_principal,
            team = w.team,
            r = w.resource,
            key = w.api_key,
            keyhex = &w.api_key.simple().to_string()[16..],
            aud = w.audit,
        ))
        .expect("seed world");
    w
}

impl World {
    /// Fills `{t}`, `{p}`, `{u}`, `{u2}`, `{tp}`, `{team}`, `{w}`, `{r}`, `{key}`, `{aud}`,
    /// `{nid}` (a fresh id) and `{np}` (a fresh principal id) in `template`.
    fn fill(&self, template: &str, nid: Uuid, np: Uuid) -> String {
        template
            .replace("{t}", &self.seed.tenant.as_uuid().to_string())
            .replace("{p}", &self.seed.principal.as_uuid().to_string())
            .replace("{u2}", &self.spare_user.to_string())
            .replace("{u}", &self.seed.user.as_uuid().to_string())
            .replace("{tp}", &self.team_principal.to_string())
            .replace("{team}", &self.team.to_string())
            .replace("{w}", &self.seed.workspace.as_uuid().to_string())
            .replace("{r}", &self.resource.to_string())
            .replace("{key}", &self.api_key.to_string())
            .replace("{aud}", &self.audit.to_string())
            .replace("{nid}", &nid.to_string())
            .replace("{np}", &np.to_string())
            .replace("{nhex}", &nid.simple().to_string())
    }
}

/// How to exercise one table: SQL templates over [`World::fill`] placeholders.
struct Case {
    table: &'static str,
    /// Identifies the world's seeded row.
    existing: &'static str,
    /// Inserts a new row (principal `{np}` and id `{nid}` where needed).
    insert: &'static str,
    /// Identifies the row `insert` created.
    inserted: &'static str,
    /// Inserts the seeded row again with ON CONFLICT DO UPDATE.
    upsert: &'static str,
    /// The SET clause of an update.
    set: &'static str,
}

const CASES: &[Case] = &[
    Case {
        table: "principals",
        existing: "id = '{p}'",
        insert: "INSERT INTO principals (tenant_id, id, kind, display_name) VALUES ('{t}', '{nid}', 'service', 'svc')",
        inserted: "id = '{nid}'",
        upsert: "INSERT INTO principals (tenant_id, id, kind, display_name) VALUES ('{t}', '{p}', 'service', 'again') ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = EXCLUDED.display_name",
        set: "display_name = 'changed'",
    },
    Case {
        table: "org_members",
        existing: "user_id = '{u}'",
        insert: "INSERT INTO org_members (tenant_id, id, user_id, principal_id, role) VALUES ('{t}', '{nid}', '{u2}', '{p}', 'member')",
        inserted: "id = '{nid}'",
        upsert: "INSERT INTO org_members (tenant_id, id, user_id, principal_id, role) VALUES ('{t}', '{nid}', '{u}', '{p}', 'owner') ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = EXCLUDED.role",
        set: "role = 'customer'",
    },
    Case {
        table: "teams",
        existing: "id = '{team}'",
        insert: "WITH np AS (INSERT INTO principals (tenant_id, id, kind, display_name) VALUES ('{t}', '{np}', 'team', 't2') RETURNING id) INSERT INTO teams (tenant_id, id, name, principal_id) SELECT '{t}', '{nid}', 'team {nhex}', id FROM np",
        inserted: "id = '{nid}'",
        upsert: "INSERT INTO teams (tenant_id, id, name, principal_id) VALUES ('{t}', '{team}', 'team', '{tp}') ON CONFLICT (tenant_id, id) DO UPDATE SET name = EXCLUDED.name",
        set: "name = 'renamed'",
    },
    Case {
        table: "team_members",
        existing: "team_id = '{team}' AND principal_id = '{p}'",
        insert: "WITH np AS (INSERT INTO principals (tenant_id, id, kind, display_name) VALUES ('{t}', '{np}', 'service', 'svc') RETURNING id) INSERT INTO team_members (tenant_id, team_id, principal_id) SELECT '{t}', '{team}', id FROM np",
        inserted: "team_id = '{team}' AND principal_id = '{np}'",
        upsert: "INSERT INTO team_members (tenant_id, team_id, principal_id, role) VALUES ('{t}', '{team}', '{p}', 'maintainer') ON CONFLICT (tenant_id, team_id, principal_id) DO UPDATE SET role = EXCLUDED.role",
        set: "role = 'maintainer'",
    },
    Case {
        table: "workspaces",
        existing: "id = '{w}'",
        insert: "INSERT INTO workspaces (tenant_id, id, name, kind, owner_principal_id) VALUES ('{t}', '{nid}', 'org', 'org', '{p}')",
        inserted: "id = '{nid}'",
        upsert: "INSERT INTO workspaces (tenant_id, id, name, kind, owner_principal_id) VALUES ('{t}', '{w}', 'Personal', 'personal', '{p}') ON CONFLICT (tenant_id, id) DO UPDATE SET name = EXCLUDED.name",
        set: "name = 'renamed'",
    },
    Case {
        table: "resources",
        existing: "id = '{r}'",
        insert: "INSERT INTO resources (tenant_id, id, workspace_id, kind, name, owner_principal_id) VALUES ('{t}', '{nid}', '{w}', 'tag', 'new', '{p}')",
        inserted: "id = '{nid}'",
        upsert: "INSERT INTO resources (tenant_id, id, workspace_id, kind, name, owner_principal_id) VALUES ('{t}', '{r}', '{w}', 'prompt', 'again', '{p}') ON CONFLICT (tenant_id, id) DO UPDATE SET name = EXCLUDED.name",
        set: "name = 'renamed'",
    },
    Case {
        table: "resource_acl",
        existing: "resource_id = '{r}' AND principal_id = '{tp}'",
        insert: "WITH np AS (INSERT INTO principals (tenant_id, id, kind, display_name) VALUES ('{t}', '{np}', 'service', 'svc') RETURNING id) INSERT INTO resource_acl (tenant_id, resource_id, principal_id, permission) SELECT '{t}', '{r}', id, 'read' FROM np",
        inserted: "resource_id = '{r}' AND principal_id = '{np}'",
        upsert: "INSERT INTO resource_acl (tenant_id, resource_id, principal_id, permission) VALUES ('{t}', '{r}', '{tp}', 'write') ON CONFLICT (tenant_id, resource_id, principal_id) DO UPDATE SET permission = EXCLUDED.permission",
        set: "permission = 'write'",
    },
    Case {
        table: "api_keys",
        existing: "id = '{key}'",
        insert: "INSERT INTO api_keys (tenant_id, id, principal_id, name, prefix, secret_hash) VALUES ('{t}', '{nid}', '{p}', 'k2', 'new{nhex}', sha256('x'))",
        inserted: "id = '{nid}'",
        upsert: "INSERT INTO api_keys (tenant_id, id, principal_id, name, prefix, secret_hash) VALUES ('{t}', '{key}', '{p}', 'k', 'up{nhex}', sha256('s')) ON CONFLICT (tenant_id, id) DO UPDATE SET name = EXCLUDED.name",
        set: "name = 'renamed'",
    },
    Case {
        table: "api_key_usage",
        existing: "api_key_id = '{key}' AND window_start = '2026-01-01T00:00:00Z'",
        insert: "INSERT INTO api_key_usage (tenant_id, api_key_id, window_start, requests) VALUES ('{t}', '{key}', '2031-01-01T00:00:00Z', 1)",
        inserted: "api_key_id = '{key}' AND window_start = '2031-01-01T00:00:00Z'",
        upsert: "INSERT INTO api_key_usage (tenant_id, api_key_id, window_start, requests) VALUES ('{t}', '{key}', '2026-01-01T00:00:00Z', 1) ON CONFLICT (tenant_id, api_key_id, window_start) DO UPDATE SET requests = api_key_usage.requests + 1",
        set: "requests = 99",
    },
    Case {
        table: "audit_log",
        existing: "id = '{aud}'",
        insert: "INSERT INTO audit_log (tenant_id, id, action) VALUES ('{t}', '{nid}', 'test.insert')",
        inserted: "id = '{nid}'",
        upsert: "INSERT INTO audit_log (tenant_id, id, action) VALUES ('{t}', '{aud}', 'test.upsert') ON CONFLICT (tenant_id, id) DO UPDATE SET action = EXCLUDED.action",
        set: "action = 'test.changed'",
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Context {
    /// `tenancy.tenant_id` never set on this connection.
    Unset,
    /// Set to `''`, as a pooled connection reports it after its first transaction.
    Empty,
    /// Set to this world's tenant, with its principal acting.
    Tenant(World),
}

impl PartialEq for World {
    fn eq(&self, other: &Self) -> bool {
        self.seed.tenant == other.seed.tenant
    }
}
impl Eq for World {}

/// Runs `ops` as `tenancy_app` in `ctx`, then rolls back. The policies are what is tested
/// here, so the context is set with the plain settings, which only a session that could
/// switch row level security off anyway (here the superuser, `SET ROLE`d to `tenancy_app`)
/// may use; the application's login gets a context only through `tenancy.enter()` (tests in
/// `isolation.rs` and `tests/pgtap/06-context.sql`).
fn as_app<T>(
    ctx: Context,
    ops: impl FnOnce(&mut PgConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    let mut conn = PgConnection::establish(fixture().db.url()).expect("owner");
    let setup = match ctx {
        Context::Unset => "BEGIN; SET LOCAL ROLE tenancy_app".to_owned(),
        Context::Empty => "BEGIN; SET LOCAL ROLE tenancy_app; SET LOCAL tenancy.tenant_id = ''; SET LOCAL tenancy.principal_id = ''".to_owned(),
        Context::Tenant(w) => format!(
            "BEGIN; SET LOCAL ROLE tenancy_app; SET LOCAL tenancy.tenant_id = '{}'; SET LOCAL tenancy.principal_id = '{}'",
            w.seed.tenant.as_uuid(),
            w.seed.principal.as_uuid()
        ),
    };
    conn.batch_execute(&setup).expect("context");
    let out = ops(&mut conn);
    conn.batch_execute("ROLLBACK").expect("rollback");
    out
}

fn exec(conn: &mut PgConnection, sql: &str) -> QueryResult<usize> {
    diesel::sql_query(sql).execute(conn)
}

fn is_rejection(err: &diesel::result::Error) -> bool {
    let text = err.to_string();
    text.contains("row-level security") || text.contains("permission denied")
}

/// Asserts that `table`'s seeded row of `w` is still there, unchanged by `set`.
fn untouched(case: &Case, w: &World) {
    let mut conn = owner();
    let n = count(
        &mut conn,
        &format!(
            "SELECT count(*) AS n FROM {} WHERE tenant_id = '{}' AND {} AND NOT ({})",
            case.table,
            w.seed.tenant.as_uuid(),
            w.fill(case.existing, Uuid::nil(), Uuid::nil()),
            w.fill(
                &case.set.replace(" = ", " IS NOT DISTINCT FROM "),
                Uuid::nil(),
                Uuid::nil()
            ),
        ),
    )
    .unwrap();
    assert_eq!(
        n, 1,
        "{}: seeded row of the target tenant changed or vanished",
        case.table
    );
}

#[test]
fn matrix_every_tenant_table_every_operation_every_context() {
    let a = world("a");
    let b = world("b");
    let mut checked = 0;
    for case in CASES {
        let t = case.table;
        let sel = |w: &World| {
            format!(
                "SELECT count(*) AS n FROM {t} WHERE tenant_id = '{}' AND {}",
                w.seed.tenant.as_uuid(),
                w.fill(case.existing, Uuid::nil(), Uuid::nil())
            )
        };
        let upd = |w: &World| {
            format!(
                "UPDATE {t} SET {} WHERE tenant_id = '{}' AND {}",
                case.set,
                w.seed.tenant.as_uuid(),
                w.fill(case.existing, Uuid::nil(), Uuid::nil())
            )
        };
        let del = |w: &World, which: &str, nid: Uuid, np: Uuid| {
            format!(
                "DELETE FROM {t} WHERE tenant_id = '{}' AND {}",
                w.seed.tenant.as_uuid(),
                w.fill(which, nid, np)
            )
        };
        let append_only = t == "audit_log";
        // The control plane adds members, with the user an invitation names; a tenant changes
        // a membership's role and status only (or it could point one at any user, and read
        // that user's email through tenancy.member_directory()).
        let added_by_control_plane = t == "org_members";

        // Own tenant: everything works (audit_log: select and insert only).
        let own = Context::Tenant(a);
        assert_eq!(
            as_app(own, |c| count(c, &sel(&a))).unwrap(),
            1,
            "{t}: own select"
        );
        assert_eq!(
            as_app(own, |c| count(
                c,
                &format!(
                    "SELECT count(*) AS n FROM {t} WHERE tenant_id <> '{}'",
                    a.seed.tenant.as_uuid()
                )
            ))
            .unwrap(),
            0,
            "{t}: other tenants' rows visible"
        );
        let (nid, np) = (Uuid::now_v7(), Uuid::now_v7());
        let inserted = as_app(own, |c| exec(c, &a.fill(case.insert, nid, np)));
        if added_by_control_plane {
            assert!(
                inserted.as_ref().is_err_and(is_rejection),
                "{t}: own insert must be rejected: {inserted:?}"
            );
        } else {
            assert_eq!(inserted.unwrap(), 1, "{t}: own insert");
        }
        let updated = as_app(own, |c| exec(c, &upd(&a)));
        let upserted = as_app(own, |c| {
            exec(c, &a.fill(case.upsert, Uuid::now_v7(), Uuid::now_v7()))
        });
        let deleted = as_app(own, |c| {
            exec(c, &a.fill(case.insert, nid, np))?;
            exec(c, &del(&a, case.inserted, nid, np))
        });
        if append_only {
            for (op, r) in [
                ("update", &updated),
                ("upsert", &upserted),
                ("delete", &deleted),
            ] {
                assert!(
                    r.as_ref().is_err_and(is_rejection),
                    "{t}: own {op} must be rejected: {r:?}"
                );
            }
        } else if added_by_control_plane {
            assert_eq!(updated.unwrap(), 1, "{t}: own update");
            for (op, r) in [("upsert", &upserted), ("delete", &deleted)] {
                assert!(
                    r.as_ref().is_err_and(is_rejection),
                    "{t}: own {op} must be rejected: {r:?}"
                );
            }
        } else {
            assert_eq!(updated.unwrap(), 1, "{t}: own update");
            assert_eq!(upserted.unwrap(), 1, "{t}: own upsert");
            assert_eq!(deleted.unwrap(), 1, "{t}: own delete");
        }

        // Another tenant's rows from A's transaction, and no or empty context on A's rows.
        for (ctx, target) in [
            (Context::Tenant(a), b),
            (Context::Unset, a),
            (Context::Empty, a),
        ] {
            let label = format!("{t} in {ctx:?} on {:?}", target.seed.tenant);
            assert_eq!(
                as_app(ctx, |c| count(c, &sel(&target))).unwrap(),
                0,
                "{label}: select"
            );
            if ctx != Context::Tenant(a) {
                assert_eq!(
                    as_app(ctx, |c| count(c, &format!("SELECT count(*) AS n FROM {t}"))).unwrap(),
                    0,
                    "{label}: reads without context return no rows"
                );
            }
            let r = as_app(ctx, |c| {
                exec(c, &target.fill(case.insert, Uuid::now_v7(), Uuid::now_v7()))
            });
            assert!(
                r.as_ref().is_err_and(is_rejection),
                "{label}: insert must be rejected: {r:?}"
            );
            let r = as_app(ctx, |c| {
                exec(c, &target.fill(case.upsert, Uuid::now_v7(), Uuid::now_v7()))
            });
            assert!(
                r.as_ref().is_err_and(is_rejection),
                "{label}: upsert must be rejected: {r:?}"
            );
            for (op, sql) in [
                ("update", upd(&target)),
                (
                    "delete",
                    del(&target, case.existing, Uuid::nil(), Uuid::nil()),
                ),
            ] {
                match as_app(ctx, |c| exec(c, &sql)) {
                    Ok(n) => assert_eq!(n, 0, "{label}: {op} reached a row"),
                    Err(e) => assert!(is_rejection(&e), "{label}: {op}: {e}"),
                }
            }
            untouched(case, &target);
            checked += 1;
        }
    }
    assert_eq!(checked, CASES.len() * 3);
    // Every tenant-scoped table of the foundation schema is in the matrix.
    let scoped: BTreeSet<&str> = tenancy_schema::registry()
        .iter()
        .filter(|m| m.kind == tenancy_schema::TableKind::TenantScoped)
        .map(|m| m.table)
        .filter(|t| !["posts", "comments"].contains(t))
        .collect();
    let covered: BTreeSet<&str> = CASES.iter().map(|c| c.table).collect();
    assert_eq!(scoped, covered);
}

#[test]
fn tenants_table_shows_only_the_current_tenant() {
    let a = world("ta");
    let _b = world("tb");
    let visible = as_app(Context::Tenant(a), |c| {
        diesel::sql_query("SELECT id FROM tenants").load::<OptUuid>(c)
    })
    .unwrap();
    assert_eq!(
        visible.iter().map(|r| r.id).collect::<Vec<_>>(),
        [Some(*a.seed.tenant.as_uuid())]
    );
    assert_eq!(
        as_app(Context::Empty, |c| count(
            c,
            "SELECT count(*) AS n FROM tenants"
        ))
        .unwrap(),
        0
    );
    // users is not readable at all; the member directory shows the tenant's own members.
    let err = as_app(Context::Tenant(a), |c| {
        count(c, "SELECT count(*) AS n FROM users")
    })
    .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    #[derive(QueryableByName)]
    struct Member {
        #[diesel(sql_type = Text)]
        email: String,
    }
    let members = as_app(Context::Tenant(a), |c| {
        diesel::sql_query("SELECT email FROM tenancy.member_directory()").load::<Member>(c)
    })
    .unwrap();
    assert_eq!(members.len(), 1);
    assert!(members[0].email.starts_with("ta-"), "{}", members[0].email);
    let none = as_app(Context::Unset, |c| {
        diesel::sql_query("SELECT email FROM tenancy.member_directory()").load::<Member>(c)
    })
    .unwrap();
    assert!(none.is_empty());
}

#[test]
fn composite_foreign_key_rejects_a_workspace_of_another_tenant_even_for_admin() {
    let a = world("fa");
    let b = world("fb");
    let err = tenancy(1)
        .admin("test: cross-tenant reference", |conn| {
            conn.batch_execute(&format!(
                "INSERT INTO resources (tenant_id, id, workspace_id, kind, name, owner_principal_id)
                 VALUES ('{}', '{}', '{}', 'prompt', 'x', '{}')",
                a.seed.tenant.as_uuid(),
                Uuid::now_v7(),
                b.seed.workspace.as_uuid(),
                a.seed.principal.as_uuid()
            ))
            .map_err(Error::from)
        })
        .unwrap_err();
    assert!(err.to_string().contains("foreign key"), "{err}");
}

#[test]
fn audit_log_is_append_only_for_the_app_role_and_the_owner() {
    let a = world("au");
    for sql in [
        "UPDATE audit_log SET action = 'x.y'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = as_app(Context::Tenant(a), |c| exec(c, sql)).unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
    }
    // Even the owner (a superuser here, which bypasses every privilege) hits the triggers.
    let mut owner = owner();
    for sql in [
        format!(
            "UPDATE audit_log SET action = 'x.y' WHERE id = '{}'",
            a.audit
        ),
        format!("DELETE FROM audit_log WHERE id = '{}'", a.audit),
        "TRUNCATE audit_log".to_owned(),
    ] {
        let err = owner.batch_execute(&sql).unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

#[derive(QueryableByName)]
struct Seqs {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    max_seq: i64,
}

#[test]
fn audit_chain_survives_concurrent_inserts_and_reports_tampering() {
    let a = world("chain");
    let b = world("chain-b");
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let w = if i % 2 == 0 { a } else { b };
            std::thread::spawn(move || {
                let t = tenancy(1);
                for j in 0..20 {
                    t.transaction_as(w.seed.tenant, w.seed.principal, |tx| {
                        tx.execute(diesel::sql_query(format!(
                            "INSERT INTO audit_log (tenant_id, action, details) VALUES ('{}', 'test.concurrent', '{{\"i\": {i}, \"j\": {j}}}')",
                            w.seed.tenant.as_uuid()
                        )))
                    })
                    .expect("append");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread");
    }
    let t = tenancy(1);
    for w in [a, b] {
        let (seqs, broken) = t
            .transaction(w.seed.tenant, |tx| {
                let s: Vec<Seqs> = tx.load_sql(diesel::sql_query(
                    "SELECT count(*) AS n, max(seq) AS max_seq FROM audit_log",
                ))?;
                let v: Vec<OptUuid> = tx.load_sql(diesel::sql_query(format!(
                    "SELECT tenancy.verify_audit_chain('{}') AS id",
                    w.seed.tenant.as_uuid()
                )))?;
                Ok::<_, Error>((s, v))
            })
            .unwrap();
        // 1 seeded + 3 threads x 20: one gap-free chain.
        assert_eq!((seqs[0].n, seqs[0].max_seq), (61, 61));
        assert_eq!(
            broken[0].id, None,
            "chain of {:?} must verify",
            w.seed.tenant
        );
    }

    // Tamper as a superuser with the triggers switched off: the chain reports the row.
    let victim: Uuid = {
        let mut owner = owner();
        let rows = diesel::sql_query(format!(
            "SELECT id FROM audit_log WHERE tenant_id = '{}' AND seq = 30",
            a.seed.tenant.as_uuid()
        ))
        .load::<OptUuid>(&mut owner)
        .unwrap();
        let victim = rows[0].id.unwrap();
        owner
            .batch_execute(&format!(
                "BEGIN;
                 ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete;
                 UPDATE audit_log SET details = '{{\"i\": 99}}' WHERE id = '{victim}';
                 ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_update_delete;
                 COMMIT;"
            ))
            .unwrap();
        victim
    };
    let broken = tenancy(1)
        .admin("test: verify after tampering", |conn| {
            diesel::sql_query(format!(
                "SELECT tenancy.verify_audit_chain('{}') AS id",
                a.seed.tenant.as_uuid()
            ))
            .load::<OptUuid>(conn)
            .map_err(Error::from)
        })
        .unwrap();
    assert_eq!(broken[0].id, Some(victim));
}

#[test]
fn catalog_app_role_is_unprivileged_and_every_tenant_table_is_protected() {
    #[derive(QueryableByName, Debug)]
    struct Role {
        #[diesel(sql_type = Bool)]
        rolsuper: bool,
        #[diesel(sql_type = Bool)]
        rolbypassrls: bool,
        #[diesel(sql_type = BigInt)]
        owned: i64,
        #[diesel(sql_type = BigInt)]
        member_of_an_owner: i64,
    }
    let _ = fixture();
    let mut conn = owner();
    let role: Role = diesel::sql_query(
        "SELECT r.rolsuper, r.rolbypassrls,
           (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid) AS owned,
           (SELECT count(DISTINCT c.relowner) FROM pg_class c
             WHERE c.relnamespace = 'public'::regnamespace
               AND pg_has_role(r.oid, c.relowner, 'MEMBER')) AS member_of_an_owner
         FROM pg_roles r WHERE r.rolname = 'tenancy_app'",
    )
    .get_result(&mut conn)
    .unwrap();
    assert!(!role.rolsuper && !role.rolbypassrls, "{role:?}");
    assert_eq!((role.owned, role.member_of_an_owner), (0, 0), "{role:?}");

    #[derive(QueryableByName, Debug)]
    struct Table {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Bool)]
        enabled: bool,
        #[diesel(sql_type = Bool)]
        forced: bool,
        #[diesel(sql_type = BigInt)]
        permissive: i64,
        #[diesel(sql_type = BigInt)]
        restrictive: i64,
        #[diesel(sql_type = Nullable<Text>)]
        isolation_predicate: Option<String>,
    }
    let tables: Vec<Table> = diesel::sql_query(
        "SELECT c.relname::text AS name, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced,
           (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid AND p.polpermissive
              AND p.polname IN ('tenant_access', 'tenant_append')
              AND 'tenancy_app'::regrole = ANY (p.polroles)) AS permissive,
           (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid AND NOT p.polpermissive
              AND p.polname = 'tenant_isolation' AND p.polroles = '{0}') AS restrictive,
           (SELECT pg_get_expr(p.polqual, p.polrelid) FROM pg_policy p
              WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation') AS isolation_predicate
         FROM pg_class c
         WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
           AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
         ORDER BY 1",
    )
    .load(&mut conn)
    .unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    for expected in [
        "api_keys",
        "audit_log",
        "org_members",
        "principals",
        "resource_acl",
        "resources",
        "team_members",
        "teams",
        "workspaces",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    for t in &tables {
        assert!(t.enabled && t.forced, "{t:?}");
        if ["posts", "comments"].contains(&t.name.as_str()) {
            continue; // test tables (tests/common/mod.rs), policies written by hand
        }
        assert!(t.permissive >= 1 && t.restrictive == 1, "{t:?}");
        let predicate = t.isolation_predicate.as_deref().unwrap_or_default();
        // The context read once per statement, or (on tables other tables' policies read,
        // where an init plan would make PostgreSQL report policy recursion) once per scan.
        assert!(
            [
                "(tenant_id = ( SELECT tenancy.current_tenant() AS current_tenant))",
                "(tenant_id = tenancy.current_tenant())"
            ]
            .contains(&predicate),
            "{t:?}"
        );
        assert!(!predicate.contains(" OR "), "{t:?}");
    }
}

#[test]
fn seed_is_idempotent_and_rejects_bad_input() {
    let t = tenancy(1);
    let email = unique_email("seed");
    let first = seed_personal_tenant(&t, &email, "Seed").unwrap();
    let again = seed_personal_tenant(&t, &email.to_uppercase(), "Seed").unwrap();
    assert!(first.created && !again.created);
    assert_eq!(
        (first.user, first.tenant, first.principal, first.workspace),
        (again.user, again.tenant, again.principal, again.workspace)
    );
    let mut owner = owner();
    let users = count(
        &mut owner,
        &format!("SELECT count(*) AS n FROM users WHERE lower(email) = lower('{email}')"),
    )
    .unwrap();
    let tenants = count(
        &mut owner,
        &format!(
            "SELECT count(*) AS n FROM org_members WHERE user_id = '{}'",
            first.user.as_uuid()
        ),
    )
    .unwrap();
    assert_eq!((users, tenants), (1, 1));
    let name: String = diesel::sql_query(format!(
        "SELECT name AS email FROM tenants WHERE id = '{}'",
        first.tenant.as_uuid()
    ))
    .get_result::<Email>(&mut owner)
    .unwrap()
    .email;
    assert_eq!(name, "Personal Org");

    let before = count(&mut owner, "SELECT count(*) AS n FROM users").unwrap();
    for (email, name, field) in [
        ("no-at-sign", "X", "email"),
        ("x@y.z", "   ", "display_name"),
    ] {
        match seed_personal_tenant(&t, email, name) {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected InvalidInput for {field}, got {other:?}"),
        }
    }
    assert_eq!(
        count(&mut owner, "SELECT count(*) AS n FROM users").unwrap(),
        before
    );
}

#[derive(QueryableByName)]
struct Email {
    #[diesel(sql_type = Text)]
    email: String,
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

#[test]
fn resource_visibility_and_acls_hold_in_rls_and_in_the_rust_query() {
    let a = world("vis");
    let t = tenancy(1);
    let (tenant, owner_p) = (a.seed.tenant, a.seed.principal);
    // A second member `reader`, in the world's team; an org workspace.
    let reader = tenancy_schema::PrincipalId::new_v7();
    let org_ws = Uuid::now_v7();
    let ids: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
    let (tu, p, w, tp) = (
        tenant.as_uuid(),
        owner_p.as_uuid(),
        a.seed.workspace.as_uuid(),
        a.team_principal,
    );
    let r = reader.as_uuid();
    owner()
        .batch_execute(&format!(
            "INSERT INTO principals (tenant_id, id, kind, display_name) VALUES ('{tu}', '{r}', 'service', 'reader');
             INSERT INTO team_members (tenant_id, team_id, principal_id) VALUES ('{tu}', '{team}', '{r}');
             INSERT INTO workspaces (tenant_id, id, name, kind, owner_principal_id) VALUES ('{tu}', '{org_ws}', 'Org', 'org', '{p}');
             INSERT INTO resources (tenant_id, id, workspace_id, kind, name, visibility, owner_principal_id) VALUES
               ('{tu}', '{r0}', '{w}', 'prompt', 'private of owner', 'private', '{p}'),
               ('{tu}', '{r1}', '{w}', 'prompt', 'private, ACL to reader', 'private', '{p}'),
               ('{tu}', '{r2}', '{org_ws}', 'prompt', 'workspace vis in org workspace', 'workspace', '{p}'),
               ('{tu}', '{r3}', '{w}', 'prompt', 'workspace vis in personal workspace', 'workspace', '{p}'),
               ('{tu}', '{r4}', '{w}', 'prompt', 'tenant-wide', 'tenant', '{p}'),
               ('{tu}', '{r5}', '{w}', 'prompt', 'private, owned by the team', 'private', '{tp}');
             INSERT INTO resource_acl (tenant_id, resource_id, principal_id, permission) VALUES ('{tu}', '{r1}', '{r}', 'write');",
            team = a.team,
            r0 = ids[0], r1 = ids[1], r2 = ids[2], r3 = ids[3], r4 = ids[4], r5 = ids[5],
        ))
        .unwrap();
    let expected: BTreeSet<Uuid> = [ids[1], ids[2], ids[4], ids[5]].into();
    let mine = |rows: Vec<Uuid>| -> BTreeSet<Uuid> {
        rows.into_iter().filter(|id| ids.contains(id)).collect()
    };

    // 1. Row level security alone (raw SQL, no Rust-side rule).
    let by_rls = t
        .transaction_as(tenant, reader, |tx| {
            tx.load_sql(diesel::sql_query("SELECT id FROM resources"))
        })
        .map(|rows: Vec<Id>| mine(rows.into_iter().map(|r| r.id).collect()))
        .unwrap();
    assert_eq!(by_rls, expected, "RLS");

    // 2. The Rust query alone: as the admin role, which bypasses RLS.
    let callers = t
        .transaction_as(tenant, reader, access::caller_principals)
        .unwrap();
    assert_eq!(callers.len(), 2, "reader and its team");
    let by_query = t
        .admin("test: visibility without RLS", |conn| {
            access::readable_by(&callers)
                .filter(resources::tenant_id.eq(tenant))
                .select(resources::id)
                .load::<Uuid>(conn)
                .map_err(Error::from)
        })
        .map(mine)
        .unwrap();
    assert_eq!(by_query, expected, "Rust query");

    // 3. Both, through the tenant transaction.
    let both = t
        .transaction_as(tenant, reader, |tx| {
            let callers = access::caller_principals(tx)?;
            tx.load(access::readable_by(&callers).select(resources::id))
        })
        .map(mine)
        .unwrap();
    assert_eq!(both, expected, "both");

    // Writes: the ACL `write` grant allows an update; a resource without grant is not reached.
    let (granted, ungranted) = t
        .transaction_as(tenant, reader, |tx| {
            let g = tx.execute(diesel::sql_query(format!(
                "UPDATE resources SET name = 'edited' WHERE id = '{}'",
                ids[1]
            )))?;
            let u = tx.execute(diesel::sql_query(format!(
                "UPDATE resources SET name = 'edited' WHERE id = '{}'",
                ids[0]
            )))?;
            Ok::<_, Error>((g, u))
        })
        .unwrap();
    assert_eq!((granted, ungranted), (1, 0));
    // `write` does not allow delete; the owner may.
    let deleted = t
        .transaction_as(tenant, reader, |tx| {
            tx.execute(diesel::sql_query(format!(
                "DELETE FROM resources WHERE id = '{}'",
                ids[1]
            )))
        })
        .unwrap();
    assert_eq!(deleted, 0);
    // Inserting a resource owned by someone else is refused by RLS.
    let err = t
        .transaction_as(tenant, reader, |tx| {
            tx.insert(
                resources::table,
                NewResource {
                    id: ResourceId::new_v7(),
                    workspace_id: a.seed.workspace,
                    kind: ResourceKind::Prompt,
                    name: "not mine",
                    visibility: ResourceVisibility::Private,
                    owner_principal_id: owner_p,
                    data: &serde_json::json!({}),
                },
            )
        })
        .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    // The owner's own insert works through the Rust API and reads back typed.
    let id = ResourceId::new_v7();
    let row: Resource = t
        .transaction_as(tenant, owner_p, |tx| {
            tx.insert(
                resources::table,
                NewResource {
                    id,
                    workspace_id: a.seed.workspace,
                    kind: ResourceKind::Model,
                    name: "mine",
                    visibility: ResourceVisibility::Private,
                    owner_principal_id: owner_p,
                    data: &serde_json::json!({"k": 1}),
                },
            )?;
            tx.first(
                resources::table
                    .filter(resources::id.eq(id))
                    .select(Resource::as_select()),
            )
        })
        .unwrap();
    assert_eq!(
        (row.tenant_id, row.name.as_str(), row.kind),
        (tenant, "mine", ResourceKind::Model)
    );
}

#[test]
fn newest_fifty_in_a_workspace_uses_the_composite_index_under_rls() {
    let a = world("perf");
    let b = world("perf-b");
    // 10,000 resources in A's workspace among 2,000 of another tenant.
    owner()
        .batch_execute(&format!(
            "INSERT INTO resources (tenant_id, id, workspace_id, kind, name, visibility, owner_principal_id, updated_at)
             SELECT '{t}', tenancy.uuid_v7(), '{w}', 'prompt', 'r' || g, 'tenant', '{p}', now() - g * interval '1 second'
             FROM generate_series(1, 10000) g;
             INSERT INTO resources (tenant_id, id, workspace_id, kind, name, visibility, owner_principal_id)
             SELECT '{bt}', tenancy.uuid_v7(), '{bw}', 'prompt', 'r' || g, 'tenant', '{bp}'
             FROM generate_series(1, 2000) g;
             ANALYZE resources;",
            t = a.seed.tenant.as_uuid(),
            w = a.seed.workspace.as_uuid(),
            p = a.seed.principal.as_uuid(),
            bt = b.seed.tenant.as_uuid(),
            bw = b.seed.workspace.as_uuid(),
            bp = b.seed.principal.as_uuid(),
        ))
        .unwrap();
    #[derive(QueryableByName)]
    struct Plan {
        #[diesel(sql_type = Text)]
        #[diesel(column_name = "QUERY PLAN")]
        line: String,
    }
    let plan: Vec<Plan> = tenancy(1)
        .transaction_as(a.seed.tenant, a.seed.principal, |tx| {
            tx.load_sql(diesel::sql_query(format!(
                "EXPLAIN SELECT id, name FROM resources WHERE workspace_id = '{}' ORDER BY updated_at DESC LIMIT 50",
                a.seed.workspace.as_uuid()
            )))
        })
        .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|p| p.line).collect();
    assert!(
        plan.iter()
            .any(|l| l.contains("Index Scan Backward using resources_workspace_updated_idx")),
        "{plan:#?}"
    );
    let listed: Vec<String> = tenancy(1)
        .transaction_as(a.seed.tenant, a.seed.principal, |tx| {
            tx.load(
                resources::table
                    .filter(resources::workspace_id.eq(a.seed.workspace))
                    .order(resources::updated_at.desc())
                    .limit(50)
                    .select(resources::name),
            )
        })
        .unwrap();
    assert_eq!(listed.len(), 50);
}

/// A database of its own: shadow mode switches RLS off for the whole database, which would
/// disturb the other tests running in parallel.
#[test]
fn shadow_mode_keeps_policies_but_stops_enforcing_them() {
    let _ = fixture();
    let db = TestDatabase::create_in(fixture().db.url()).expect("database");
    let mut owner = PgConnection::establish(db.url()).unwrap();
    tenancy_foundation::run_migrations(&mut owner).unwrap();
    owner
        .batch_execute("INSERT INTO principals (tenant_id, id, kind, display_name) VALUES ('00000000-0000-0000-0000-000000000000', tenancy.uuid_v7(), 'service', 'svc')")
        .unwrap();
    let login = db.url_for(LOGIN_ROLE, LOGIN_PASSWORD);
    let visible_without_context = || {
        let mut c = PgConnection::establish(&login).unwrap();
        c.batch_execute("BEGIN; SET LOCAL ROLE tenancy_app")
            .unwrap();
        count(&mut c, "SELECT count(*) AS n FROM principals").unwrap()
    };
    let mode = |c: &mut PgConnection, m: &str| {
        diesel::sql_query(format!("SELECT tenancy.set_rls_mode('{m}') AS email"))
            .get_result::<Email>(c)
            .map(|e| e.email)
    };
    let isolation_policies =
        "SELECT count(*) AS n FROM pg_policy WHERE polname = 'tenant_isolation'";
    let before = count(&mut owner, isolation_policies).unwrap();
    assert!(before >= 10, "{before}");
    assert_eq!(visible_without_context(), 0);
    assert_eq!(mode(&mut owner, "shadow").unwrap(), "shadow");
    assert_eq!(visible_without_context(), 1, "shadow mode does not enforce");
    assert_eq!(
        count(&mut owner, isolation_policies).unwrap(),
        before,
        "policies stay in place"
    );
    assert_eq!(mode(&mut owner, "enforce").unwrap(), "enforce");
    assert_eq!(visible_without_context(), 0, "enforce again");
    let forced = count(&mut owner, "SELECT count(*) AS n FROM pg_class WHERE relname = 'principals' AND relrowsecurity AND relforcerowsecurity").unwrap();
    assert_eq!(forced, 1);
    let err = mode(&mut owner, "off").unwrap_err();
    assert!(err.to_string().contains("invalid rls mode"), "{err}");
    // The application role cannot switch modes.
    let mut c = PgConnection::establish(&login).unwrap();
    c.batch_execute("BEGIN; SET LOCAL ROLE tenancy_app")
        .unwrap();
    let err = mode(&mut c, "shadow").unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
}
