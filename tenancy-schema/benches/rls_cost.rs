//! What row level security itself costs at scale.
//!
//! `cargo bench -p tenancy-schema --bench rls_cost`
//!
//! 1,000,000 resources across 1,000 tenants, skewed: one tenant holds 100,000 rows (10 %),
//! the other 999 about 900 each. The same Diesel statements, with the same explicit
//! `tenant_id = $1` filter, run on two connections of the same server:
//! - "RLS": as `tenancy_app` in a transaction that entered the tenant's native context (the
//!   `tenancy_context` extension, as an application's tenant transaction does), so every tenant
//!   and visibility policy of `resources` applies;
//! - "no RLS": as the tables' owner (the superuser that ran the migrations), which row level
//!   security skips.
//!
//! The only difference is the policies. `resources` carries the tenant policies plus the
//! visibility rules (owner, workspace members, ACL grants); `resource_acl` (1,000,000 rows,
//! one grant per resource) carries only the tenant policies for reads, so its rows show what
//! tenant isolation alone costs. A last pair repeats the big tenant's `resources` list with
//! `plan_cache_mode = force_generic_plan` on both sides, which shows how much of the
//! difference is planning the policy-expanded statement on every execution, and another the
//! big tenant's point lookup with the SQL context's reader (the plain settings of a trusted
//! session, autocommit). Each sample is one statement, inside one open transaction per side and
//! tenant, and the two sides alternate sample by sample. The report gives p50/p95/p99 per side, the ratio of
//! medians, and `EXPLAIN (ANALYZE, BUFFERS)` of each statement on each side.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use tenancy_foundation::ResourceId;
use tenancy_foundation::schema::{resource_acl, resources};
use tenancy_foundation::seed::{PersonalTenant, seed_personal_tenant};
use tenancy_schema::__private_v0_1::executor::{ContextEntry, setup_sql};
use tenancy_schema::ContextKey;

mod support;
use support::{Row, Section, explain};

const TENANTS: usize = 1_000;
const BIG_TENANT_ROWS: usize = 100_000;
const TOTAL_ROWS: usize = 1_000_000;
const SAMPLES: usize = 3_000;
const WARMUP: usize = 100;

#[derive(Clone, Copy)]
struct Probe {
    who: PersonalTenant,
    resource: ResourceId,
}

fn list(conn: &mut PgConnection, p: Probe) -> QueryResult<usize> {
    resources::table
        .filter(resources::tenant_id.eq(p.who.tenant))
        .filter(resources::workspace_id.eq(p.who.workspace))
        .order(resources::updated_at.desc())
        .limit(50)
        .select(resources::name)
        .load::<String>(conn)
        .map(|v| v.len())
}

fn point(conn: &mut PgConnection, p: Probe) -> QueryResult<usize> {
    resources::table
        .filter(resources::tenant_id.eq(p.who.tenant))
        .filter(resources::id.eq(p.resource))
        .select(resources::name)
        .load::<String>(conn)
        .map(|v| v.len())
}

fn acl_list(conn: &mut PgConnection, p: Probe) -> QueryResult<usize> {
    resource_acl::table
        .filter(resource_acl::tenant_id.eq(p.who.tenant))
        .filter(resource_acl::principal_id.eq(p.who.principal))
        .limit(50)
        .select(resource_acl::resource_id)
        .load::<uuid::Uuid>(conn)
        .map(|v| v.len())
}

fn acl_point(conn: &mut PgConnection, p: Probe) -> QueryResult<usize> {
    resource_acl::table
        .filter(resource_acl::tenant_id.eq(p.who.tenant))
        .filter(resource_acl::resource_id.eq(p.resource))
        .select(resource_acl::principal_id)
        .load::<uuid::Uuid>(conn)
        .map(|v| v.len())
}

// By (tenant, resource), the primary key's prefix. With the principal as well, generic plans
// on both sides preferred the (tenant, principal) index and scanned the big tenant's 100,000
// grants: a planner choice on correlated columns, the same with and without RLS.

/// Alternates the two sides `SAMPLES` times after a warm-up; both must return the same
/// number of rows, or the comparison would be of different work.
fn measure(
    rls: &mut PgConnection,
    owner: &mut PgConnection,
    query: fn(&mut PgConnection, Probe) -> QueryResult<usize>,
    p: Probe,
) -> Result<(Vec<Duration>, Vec<Duration>), Box<dyn std::error::Error>> {
    let (mut a, mut b) = (Vec::with_capacity(SAMPLES), Vec::with_capacity(SAMPLES));
    for i in 0..WARMUP + SAMPLES {
        let start = Instant::now();
        let seen_rls = query(rls, p)?;
        let t_rls = start.elapsed();
        let start = Instant::now();
        let seen_owner = query(owner, p)?;
        let t_owner = start.elapsed();
        if seen_rls != seen_owner || seen_rls == 0 {
            return Err(
                format!("sides disagree: {seen_rls} rows under RLS, {seen_owner} without").into(),
            );
        }
        if i >= WARMUP {
            a.push(t_rls);
            b.push(t_owner);
        }
    }
    Ok((a, b))
}

/// The application's side of the native context on one connection: its session number and
/// the key. Each transaction opens with the message the library itself sends.
struct Entry {
    session: i64,
    key: ContextKey,
}

impl Entry {
    /// Opens a transaction on `conn` with `who`'s native context, as a tenant transaction does
    /// (without the status check, which is not what this measures).
    fn begin(&self, conn: &mut PgConnection, who: &PersonalTenant) -> QueryResult<()> {
        conn.batch_execute(&setup_sql(
            ("BEGIN", false),
            ContextEntry::Native,
            &self.key,
            self.session,
            Some(who.tenant),
            Some(who.principal),
            false,
        ))
    }
}

#[derive(QueryableByName)]
struct Session {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    session: i64,
}

#[derive(QueryableByName)]
struct Key {
    #[diesel(sql_type = diesel::sql_types::Text)]
    key: String,
}

fn set_tenant(conn: &mut PgConnection, who: &PersonalTenant) -> QueryResult<()> {
    conn.batch_execute(&format!(
        "SET tenancy.tenant_id = '{}'; SET tenancy.principal_id = '{}'",
        who.tenant.as_uuid(),
        who.principal.as_uuid()
    ))
}

#[allow(clippy::too_many_lines)] // reason: one linear benchmark script: load, measure, explain
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let support::Start {
        db,
        mut owner,
        app_url: url,
    } = support::start()?;
    let tenancy = db.tenancy(&url, 1)?;
    tenancy_testing::enable_native_context(&mut owner)?;

    let started = Instant::now();
    let tenants: Vec<PersonalTenant> = (0..TENANTS)
        .map(|i| seed_personal_tenant(&tenancy, &format!("t{i}@example.com"), "T"))
        .collect::<Result<_, _>>()?;
    println!(
        "seeded {TENANTS} tenants in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let small_rows = (TOTAL_ROWS - BIG_TENANT_ROWS) / (TENANTS - 1);
    let values: Vec<String> = tenants
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let rows = if i == 0 {
                TOTAL_ROWS - small_rows * (TENANTS - 1)
            } else {
                small_rows
            };
            format!(
                "('{}'::uuid, '{}'::uuid, '{}'::uuid, {rows})",
                t.tenant.as_uuid(),
                t.workspace.as_uuid(),
                t.principal.as_uuid()
            )
        })
        .collect();
    // Interleaved timestamps spread the big tenant's rows through the whole heap, as years of
    // mixed writes would, instead of one contiguous block.
    owner.batch_execute(&format!(
        "INSERT INTO resources (tenant_id, id, workspace_id, kind, name, visibility, owner_principal_id, updated_at)
         SELECT t.tenant, tenancy.uuid_v7(), t.ws, 'prompt', 'r' || g,
                (ARRAY['private', 'workspace', 'tenant'])[1 + g % 3]::resource_visibility,
                t.p, now() - (g * {TENANTS} + t.k) * interval '1 second'
         FROM (SELECT v.*, row_number() OVER () AS k FROM (VALUES {}) v(tenant, ws, p, n)) t
         CROSS JOIN LATERAL generate_series(1, t.n) g
         ORDER BY g, t.k",
        values.join(",")
    ))?;
    owner.batch_execute(
        "INSERT INTO resource_acl (tenant_id, resource_id, principal_id, permission)
         SELECT tenant_id, id, owner_principal_id, 'read' FROM resources",
    )?;
    // Its own statements: VACUUM cannot run inside the implicit transaction of a batch.
    owner.batch_execute("VACUUM ANALYZE resources")?;
    owner.batch_execute("VACUUM ANALYZE resource_acl")?;
    let loaded = started.elapsed();

    let mut report = support::report("rls_cost", &mut owner);
    let mut section = Section::new(
        "rls-statement-cost",
        "row level security cost at 1,000,000 resources",
        &format!(
            "{TOTAL_ROWS} resources across {TENANTS} tenants (one with {BIG_TENANT_ROWS}, the others {small_rows} each; loaded in {:.0} s). \
             The same statements with the same explicit `tenant_id` filter: as `tenancy_app` with the native context entered, under every policy of `resources` \
             (tenant isolation plus the visibility rules) vs as the owner, whom row level security skips. One statement per sample, \
             in one open transaction per side and tenant, sides alternating, {SAMPLES} samples each after {WARMUP} warm-up. Latency in µs.",
            loaded.as_secs_f64()
        ),
    );

    // The superuser's session as `tenancy_app`, entering native contexts as the application
    // does (the key read from the database, where the application has it from its admin login).
    // The plans are read with EXPLAIN, which the extension refuses on a tenancy connection
    // unless a superuser allowed it (before the session becomes `tenancy_app`).
    let mut rls = PgConnection::establish(db.url())?;
    rls.batch_execute(
        "LOAD 'tenancy_context'; SET tenancy_context.allow_explain = on; SET ROLE tenancy_app",
    )?;
    let key: Key = diesel::sql_query("SELECT encode(key, 'hex') AS key FROM tenancy.context_key")
        .get_result(&mut owner)?;
    let session: Session =
        diesel::sql_query("SELECT tenancy.open_session() AS session").get_result(&mut rls)?;
    let entry = Entry {
        session: session.session,
        key: ContextKey::from_hex(&key.key)?,
    };
    let mut bypass = PgConnection::establish(db.url())?;
    for (name, who) in [
        ("big tenant (10 %)", tenants[0]),
        ("small tenant", tenants[TENANTS / 2]),
    ] {
        entry.begin(&mut rls, &who)?;
        bypass.batch_execute("BEGIN")?;
        let newest: uuid::Uuid = resources::table
            .filter(resources::tenant_id.eq(who.tenant))
            .order(resources::updated_at.desc())
            .select(resources::id)
            .offset(7)
            .first(&mut bypass)?;
        let probe = Probe {
            who,
            resource: ResourceId::from_uuid(newest),
        };
        let (on, off) = measure(&mut rls, &mut bypass, list, probe)?;
        section.push(
            Row::latency(&format!("{name}: newest 50 of a workspace"), &on, &off)
                .ratio_target(1.05),
        );
        let (on, off) = measure(&mut rls, &mut bypass, point, probe)?;
        section.push(
            Row::latency(&format!("{name}: point lookup by id"), &on, &off).ratio_target(1.05),
        );
        let (on, off) = measure(&mut rls, &mut bypass, acl_list, probe)?;
        section.push(
            Row::latency(
                &format!("{name}: 50 ACL grants of a principal (tenant policy only)"),
                &on,
                &off,
            )
            .ratio_target(1.05),
        );
        let (on, off) = measure(&mut rls, &mut bypass, acl_point, probe)?;
        section.push(
            Row::latency(
                &format!("{name}: ACL grants of one resource (tenant policy only)"),
                &on,
                &off,
            )
            .ratio_target(1.05),
        );

        if name.starts_with("big") {
            let (tid, wid, rid) = (who.tenant.as_uuid(), who.workspace.as_uuid(), newest);
            let list_sql = format!(
                "SELECT name FROM resources WHERE tenant_id = '{tid}' AND workspace_id = '{wid}' ORDER BY updated_at DESC LIMIT 50"
            );
            let point_sql =
                format!("SELECT name FROM resources WHERE tenant_id = '{tid}' AND id = '{rid}'");
            for (label, sql) in [("newest 50", &list_sql), ("point lookup", &point_sql)] {
                for (side, conn) in [
                    ("as tenancy_app, RLS on", &mut rls),
                    ("as owner, RLS skipped", &mut bypass),
                ] {
                    let plan = explain(conn, sql)?;
                    section.note(format!(
                        "EXPLAIN (ANALYZE, BUFFERS), big tenant, {label}, {side}:\n{}",
                        plan.join("\n")
                    ));
                }
            }
        }
        for conn in [&mut rls, &mut bypass] {
            conn.batch_execute("COMMIT")?;
        }
    }
    entry.begin(&mut rls, &tenants[0])?;
    bypass.batch_execute("BEGIN")?;
    for conn in [&mut rls, &mut bypass] {
        conn.batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")?;
    }
    let probe = Probe {
        who: tenants[0],
        resource: ResourceId::new_v7(),
    };
    let (on, off) = measure(&mut rls, &mut bypass, list, probe)?;
    section.push(Row::latency(
        "big tenant: newest 50, generic plans on both sides (diagnostic)",
        &on,
        &off,
    ));
    for conn in [&mut rls, &mut bypass] {
        conn.batch_execute("COMMIT")?;
    }
    // The SQL context's reader on a session of its own: the plain settings of a trusted
    // session, which cost what the tag check of an entered SQL context costs.
    let mut sql_reader = PgConnection::establish(db.url())?;
    sql_reader.batch_execute("SET ROLE tenancy_app")?;
    set_tenant(&mut sql_reader, &tenants[0])?;
    let newest: uuid::Uuid = resources::table
        .filter(resources::tenant_id.eq(tenants[0].tenant))
        .order(resources::updated_at.desc())
        .select(resources::id)
        .offset(7)
        .first(&mut bypass)?;
    let probe = Probe {
        who: tenants[0],
        resource: ResourceId::from_uuid(newest),
    };
    let (on, off) = measure(&mut sql_reader, &mut bypass, point, probe)?;
    section.push(Row::latency(
        "big tenant: point lookup, the SQL context's reader, autocommit (diagnostic)",
        &on,
        &off,
    ));
    report.sections.push(section);
    report.finish()
}
