//! What tenancy's own layer costs, side by side in one run.
//!
//! `cargo bench -p tenancy-schema --bench overhead`
//!
//! - `query-overhead`: the same queries through a tenant transaction (`tx.load`, ...) and as
//!   hand-written Diesel with the same explicit `tenant_id` filter, each inside one already
//!   open transaction with the same role and settings (so row level security applies to both
//!   and only the query path differs; two connections, because a tenant transaction does not
//!   hand out its own). Each sample runs the query 20 times. The writes (update, insert
//!   batch) touch disjoint rows on the two sides, so neither waits for the other's locks.
//! - `transaction-setup`: a tenant transaction that runs `SELECT 1` and commits, against a
//!   plain Diesel transaction doing the same, with the round trips each needs.
//!
//! Samples alternate between the two sides; the report gives medians, p95 and the ratio of
//! medians (tenancy / plain: 1.00 means no overhead).

#![allow(clippy::too_many_lines)] // reason: one linear benchmark script

use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use tenancy_foundation::ResourceId;
use tenancy_foundation::models::{ResourceKind, ResourceVisibility};
use tenancy_foundation::schema::{resources, workspaces};
use tenancy_foundation::seed::seed_personal_tenant;
use tenancy_schema::{Error, TenancyConfig};

mod support;
use support::{Row, Section};

const SAMPLES: usize = 300;
const REPEAT: usize = 20;

/// One query through a tenant transaction; `i` numbers the call, so writes can pick rows.
type Query = fn(&mut tenancy_schema::TenantTx<'_>, &QueryArgs, usize) -> Result<usize, Error>;
/// The same with plain Diesel and an explicit `tenant_id` filter.
type Plain = fn(&mut PgConnection, &QueryArgs, usize) -> QueryResult<usize>;

struct QueryArgs {
    tenant: tenancy_schema::TenantId,
    workspace: tenancy_foundation::WorkspaceId,
    principal: tenancy_schema::PrincipalId,
    probe: ResourceId,
    /// Rows only the tenancy side updates.
    ours_rows: Vec<ResourceId>,
    /// Rows only the plain side updates.
    plain_rows: Vec<ResourceId>,
}

const BATCH: usize = 10;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let support::Start {
        db,
        mut owner,
        app_url: url,
    } = support::start()?;
    let tenancy = db.tenancy(&url, 1)?;
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
    let ids: Vec<ResourceId> = resources::table
        .filter(resources::tenant_id.eq(me.tenant))
        .select(resources::id)
        .order(resources::id)
        .load::<uuid::Uuid>(&mut owner)?
        .into_iter()
        .map(ResourceId::from_uuid)
        .collect();
    let (ours_rows, plain_rows) = ids.split_at(ids.len() / 2);
    let probe = ids[0];
    let (t, ws) = (me.tenant, me.workspace);

    let mut report = support::report("overhead", &mut owner);
    let mut query_overhead = Section::new(
        "query-overhead",
        "query overhead: tenant transaction vs hand-written Diesel",
        &format!(
            "the same statements through `TenantTx` and as plain Diesel with the same explicit `tenant_id` filter, each side in one open \
             transaction with the same role and settings (row level security on both), {SAMPLES} alternating samples of {REPEAT} \
             statements; µs per sample of {REPEAT}. Throughput ratio = 1 / latency ratio."
        ),
    );
    // A tenant transaction does not hand out its Diesel connection (that is the point), so
    // the plain side runs on a second connection of the same server with the same role and
    // settings, inside its own open transaction; samples alternate between the two.
    // The superuser's session, `SET ROLE tenancy_app`: the plain settings stand in for an
    // entered context only in a session that could switch row level security off anyway.
    let mut plain_conn = PgConnection::establish(db.url())?;
    plain_conn.batch_execute(&format!(
        "SET ROLE tenancy_app; SET tenancy.tenant_id = '{}'; SET tenancy.principal_id = '{}'",
        t.as_uuid(),
        me.principal.as_uuid()
    ))?;
    let args = QueryArgs {
        tenant: t,
        workspace: ws,
        principal: me.principal,
        probe,
        ours_rows: ours_rows.to_vec(),
        plain_rows: plain_rows.to_vec(),
    };
    let cases: [(&str, Query, Plain); 5] = [
        (
            "point lookup by id",
            |tx, a, _| {
                tx.load(
                    resources::table
                        .filter(resources::id.eq(a.probe))
                        .select(resources::name),
                )
                .map(|v: Vec<String>| v.len())
            },
            |c, a, _| {
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
            |tx, a, _| {
                tx.load(
                    resources::table
                        .filter(resources::workspace_id.eq(a.workspace))
                        .order(resources::updated_at.desc())
                        .limit(50)
                        .select(resources::name),
                )
                .map(|v: Vec<String>| v.len())
            },
            |c, a, _| {
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
            |tx, a, _| {
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
            |c, a, _| {
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
        (
            "update one row by id",
            |tx, a, i| {
                tx.update(resources::table)
                    .filter(resources::id.eq(a.ours_rows[i % a.ours_rows.len()]))
                    .set(resources::name.eq("renamed"))
                    .execute()
            },
            |c, a, i| {
                diesel::update(
                    resources::table
                        .filter(resources::tenant_id.eq(a.tenant))
                        .filter(resources::id.eq(a.plain_rows[i % a.plain_rows.len()])),
                )
                .set(resources::name.eq("renamed"))
                .execute(c)
            },
        ),
        (
            "insert batch of 10 rows",
            |tx, a, _| {
                let rows: Vec<_> = (0..BATCH)
                    .map(|_| {
                        (
                            resources::id.eq(ResourceId::new_v7()),
                            resources::workspace_id.eq(a.workspace),
                            resources::kind.eq(ResourceKind::Prompt),
                            resources::name.eq("batch"),
                            resources::visibility.eq(ResourceVisibility::Tenant),
                            resources::owner_principal_id.eq(a.principal),
                        )
                    })
                    .collect();
                tx.insert_batch(resources::table, rows)
            },
            |c, a, _| {
                let rows: Vec<_> = (0..BATCH)
                    .map(|_| {
                        (
                            resources::tenant_id.eq(a.tenant),
                            resources::id.eq(ResourceId::new_v7()),
                            resources::workspace_id.eq(a.workspace),
                            resources::kind.eq(ResourceKind::Prompt),
                            resources::name.eq("batch"),
                            resources::visibility.eq(ResourceVisibility::Tenant),
                            resources::owner_principal_id.eq(a.principal),
                        )
                    })
                    .collect();
                diesel::insert_into(resources::table)
                    .values(rows)
                    .execute(c)
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
                for k in 0..REPEAT {
                    ours(tx, &args, i * REPEAT + k)?;
                }
                let ours_time = start.elapsed();
                let start = Instant::now();
                for k in 0..REPEAT {
                    plain(&mut plain_conn, &args, i * REPEAT + k)?;
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
        query_overhead.push(Row::latency(label, &a, &b).ratio_target(1.0 / 0.97));
    }
    report.sections.push(query_overhead);

    let mut setup = Section::new(
        "transaction-setup",
        "transaction set-up: tenant transaction vs plain Diesel transaction",
        &format!(
            "open + `SELECT 1` + commit, {SAMPLES} alternating transactions each side; µs per transaction. This benchmark's database has \
             no `tenancy_context` extension, so the tenant transaction uses the SQL context: BEGIN and `tenancy.enter(..)` (PL/pgSQL: the \
             MAC check through pgcrypto, the tenant status check) in one message; the statement; COMMIT with the session reset \
             (`RESET ALL; RESET ROLE; DISCARD TEMP`, advisory locks released, and Diesel's two connection settings) in one message. Plain Diesel: BEGIN; the \
             statement; COMMIT. `short-transactions` measures the native context."
        ),
    );
    let mut plain_tx = PgConnection::establish(db.url())?;
    plain_tx.batch_execute("SET ROLE tenancy_app")?;
    // The second tenancy side leaves out the tenant status check, to show its share of the
    // set-up (the role and settings remain).
    let unchecked = db
        .tenancy_builder(&url)?
        .config(TenancyConfig::default().check_tenant_status(false))
        .max_size(1)
        .build()?;
    for (label, side) in [
        ("open + SELECT 1 + commit", &tenancy),
        ("the same without the tenant status check", &unchecked),
    ] {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for i in 0..SAMPLES + 20 {
            let start = Instant::now();
            side.transaction(t, |tx| tx.execute(diesel::sql_query("SELECT 1")))?;
            let ours_time = start.elapsed();
            let start = Instant::now();
            plain_tx.transaction(|c| diesel::sql_query("SELECT 1").execute(c))?;
            let plain_time = start.elapsed();
            if i >= 20 {
                a.push(ours_time);
                b.push(plain_time);
            }
        }
        setup.push(Row::latency(label, &a, &b));
    }
    report.sections.push(setup);
    report.finish()
}
