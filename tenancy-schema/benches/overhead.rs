//! Issue 6, B1 and B2: what tenancy's own layer costs, side by side in one run.
//!
//! `cargo bench -p tenancy-schema --bench overhead`
//!
//! - B1 query overhead: the same queries through a tenant transaction (`tx.load`, ...) and as
//!   hand-written Diesel with the same explicit `tenant_id` filter, each inside one already
//!   open transaction with the same role and settings (so row level security applies to both
//!   and only the query path differs; two connections, because a tenant transaction does not
//!   hand out its own). Each sample runs the query 20 times.
//! - B2 transaction set-up: a tenant transaction that runs `SELECT 1` and commits, against a
//!   plain Diesel transaction doing the same, with the round trips each needs.
//!
//! Samples alternate between the two sides; the report gives medians, p95 and the ratio of
//! medians (tenancy / plain: 1.00 means no overhead).

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::too_many_lines
)] // reason: percentile arithmetic; one linear benchmark script

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use tenancy_schema::embedded::TestDatabase;
use tenancy_schema::schema::{resources, workspaces};
use tenancy_schema::seed::seed_personal_tenant;
use tenancy_schema::{Error, Tenancy, run_migrations};

const SAMPLES: usize = 300;
const REPEAT: usize = 20;

type Query = fn(&mut tenancy_schema::TenantTx<'_>, B1) -> Result<usize, Error>;
type Plain = fn(&mut PgConnection, B1) -> QueryResult<usize>;

#[derive(Clone, Copy)]
struct B1 {
    tenant: tenancy_schema::TenantId,
    workspace: tenancy_schema::WorkspaceId,
    probe: tenancy_schema::ResourceId,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(label: &str, mut ours: Vec<Duration>, mut plain: Vec<Duration>) {
    ours.sort();
    plain.sort();
    println!(
        "{label:<34} tenancy p50 {:>10.1?} p95 {:>10.1?} | plain p50 {:>10.1?} p95 {:>10.1?} | ratio {:.3}",
        pct(&ours, 0.5),
        pct(&ours, 0.95),
        pct(&plain, 0.5),
        pct(&plain, 0.95),
        pct(&ours, 0.5).as_secs_f64() / pct(&plain, 0.5).as_secs_f64()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = TestDatabase::start()?;
    let mut owner = PgConnection::establish(db.url())?;
    run_migrations(&mut owner)?;
    let url = db.create_app_login("bench_login", "bench")?;
    let tenancy = Tenancy::connect(&url, 1)?;
    let me = seed_personal_tenant(&tenancy, "bench@example.com", "Bench")?;
    let other = seed_personal_tenant(&tenancy, "other@example.com", "Other")?;
    for who in [me, other] {
        owner.batch_execute(&format!(
            "INSERT INTO resources (tenant_id, id, workspace_id, kind, name, visibility, owner_principal_id)
             SELECT '{t}', tenancy.uuid_v7(), '{w}', 'prompt', 'r' || g, 'tenant', '{p}' FROM generate_series(1, 5000) g;
             ANALYZE;",
            t = who.tenant.as_uuid(),
            w = who.workspace.as_uuid(),
            p = who.principal.as_uuid()
        ))?;
    }
    let probe: uuid::Uuid = resources::table
        .filter(resources::tenant_id.eq(me.tenant))
        .select(resources::id)
        .first(&mut owner)?;
    let probe = tenancy_schema::ResourceId::from_uuid(probe);
    let (t, ws) = (me.tenant, me.workspace);

    println!(
        "B1 query overhead: {SAMPLES} samples x {REPEAT} queries, each side in one open transaction, same role and settings"
    );
    // A tenant transaction does not hand out its Diesel connection (that is the point), so
    // the plain side runs on a second connection of the same server with the same role and
    // settings, inside its own open transaction; samples alternate between the two.
    let mut plain_conn = PgConnection::establish(&url)?;
    plain_conn.batch_execute(&format!(
        "SET ROLE tenancy_app; SET tenancy.tenant_id = '{}'; SET tenancy.principal_id = '{}'",
        t.as_uuid(),
        me.principal.as_uuid()
    ))?;
    let args = B1 {
        tenant: t,
        workspace: ws,
        probe,
    };
    let cases: [(&str, Query, Plain); 3] = [
        (
            "point lookup by id",
            |tx, a| {
                tx.load(
                    resources::table
                        .filter(resources::id.eq(a.probe))
                        .select(resources::name),
                )
                .map(|v: Vec<String>| v.len())
            },
            |c, a| {
                resources::table
                    .filter(resources::tenant_id.eq(a.tenant))
                    .filter(resources::id.eq(a.probe))
                    .select(resources::name)
                    .load::<String>(c)
                    .map(|v| v.len())
            },
        ),
        (
            "filtered list (50 newest)",
            |tx, a| {
                tx.load(
                    resources::table
                        .filter(resources::workspace_id.eq(a.workspace))
                        .order(resources::updated_at.desc())
                        .limit(50)
                        .select(resources::name),
                )
                .map(|v: Vec<String>| v.len())
            },
            |c, a| {
                resources::table
                    .filter(resources::tenant_id.eq(a.tenant))
                    .filter(resources::workspace_id.eq(a.workspace))
                    .order(resources::updated_at.desc())
                    .limit(50)
                    .select(resources::name)
                    .load::<String>(c)
                    .map(|v| v.len())
            },
        ),
        (
            "two-table join (50 rows)",
            |tx, a| {
                tx.load(
                    resources::table
                        .inner_join(
                            workspaces::table.on(workspaces::id.eq(resources::workspace_id)),
                        )
                        .filter(resources::workspace_id.eq(a.workspace))
                        .limit(50)
                        .select((resources::name, workspaces::name)),
                )
                .map(|v: Vec<(String, String)>| v.len())
            },
            |c, a| {
                resources::table
                    .inner_join(
                        workspaces::table.on(workspaces::tenant_id
                            .eq(resources::tenant_id)
                            .and(workspaces::id.eq(resources::workspace_id))),
                    )
                    .filter(resources::tenant_id.eq(a.tenant))
                    .filter(workspaces::tenant_id.eq(a.tenant))
                    .filter(resources::workspace_id.eq(a.workspace))
                    .limit(50)
                    .select((resources::name, workspaces::name))
                    .load::<(String, String)>(c)
                    .map(|v| v.len())
            },
        ),
    ];
    for (label, ours, plain) in cases {
        let mut a = Vec::with_capacity(SAMPLES);
        let mut b = Vec::with_capacity(SAMPLES);
        tenancy.transaction_as(t, me.principal, |tx| {
            plain_conn.batch_execute("BEGIN")?;
            for i in 0..SAMPLES + 20 {
                let start = Instant::now();
                for _ in 0..REPEAT {
                    ours(tx, args)?;
                }
                let ours_time = start.elapsed();
                let start = Instant::now();
                for _ in 0..REPEAT {
                    plain(&mut plain_conn, args)?;
                }
                let plain_time = start.elapsed();
                if i >= 20 {
                    a.push(ours_time);
                    b.push(plain_time);
                }
            }
            plain_conn.batch_execute("COMMIT")?;
            Ok::<_, Error>(())
        })?;
        report(label, a, b);
    }

    println!("B2 transaction set-up: {SAMPLES} transactions each, alternating");
    println!(
        "  round trips: tenant transaction 2 (BEGIN + SET LOCALs + tenant check in one message; COMMIT), plain Diesel 2 (BEGIN; COMMIT), plus the statement in both"
    );
    let mut plain_tx = PgConnection::establish(&url)?;
    plain_tx.batch_execute("SET ROLE tenancy_app")?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES + 20 {
        let start = Instant::now();
        tenancy.transaction(t, |tx| tx.execute(diesel::sql_query("SELECT 1")))?;
        let ours_time = start.elapsed();
        let start = Instant::now();
        plain_tx.transaction(|c| diesel::sql_query("SELECT 1").execute(c))?;
        let plain_time = start.elapsed();
        if i >= 20 {
            a.push(ours_time);
            b.push(plain_time);
        }
    }
    report("open + SELECT 1 + commit", a, b);
    Ok(())
}
