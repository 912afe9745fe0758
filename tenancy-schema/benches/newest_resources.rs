//! The foundation schema's smoke benchmark (from the source designs): 10,000
//! resources in one tenant among 10,000 of other tenants; list the newest 50 of a workspace.
//!
//! `cargo bench -p tenancy-schema --bench newest_resources` prints p50/p95/p99 for
//! (a) a tenant transaction as `tenancy_app` (compile-time scoping + RLS + visibility policy),
//! (b) the same query in a plain Diesel transaction as the BYPASSRLS role, with an explicit
//! `tenant_id` filter,
//! measured interleaved in one run (each on its own connection), and their ratio. Each sample is one whole transaction
//! (BEGIN with the tenant settings, the query, COMMIT), the way an application runs it.

#![allow(clippy::too_many_lines)] // reason: one linear benchmark script

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use tenancy_foundation::schema::resources;
use tenancy_foundation::seed::seed_personal_tenant;
use tenancy_schema::Error;

const SAMPLES: usize = 400;

mod support;
use support::{Row, Section};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let support::Start {
        db,
        mut owner,
        app_url: login_url,
    } = support::start()?;
    let tenancy = db.tenancy(&login_url, 1)?;
    // The baseline on its own plain connection, as the BYPASSRLS role for the whole session
    // (PostgreSQL re-plans a cached statement when the role it was planned for changes).
    let mut admin = PgConnection::establish(db.url())?;
    admin.batch_execute("SET ROLE tenancy_admin")?;
    let admin = std::cell::RefCell::new(admin);
    let big = seed_personal_tenant(&tenancy, "big@example.com", "Big")?;
    owner.batch_execute(&format!(
        "INSERT INTO resources (tenant_id, id, workspace_id, kind, name, visibility, owner_principal_id, updated_at)
         SELECT '{t}', tenancy.uuid_v7(), '{w}', 'prompt', 'r' || g, (ARRAY['private', 'workspace', 'tenant'])[1 + g % 3]::resource_visibility,
                '{p}', now() - g * interval '1 second'
         FROM generate_series(1, 10000) g;",
        t = big.tenant.as_uuid(),
        w = big.workspace.as_uuid(),
        p = big.principal.as_uuid()
    ))?;
    for i in 0..5 {
        let other = seed_personal_tenant(&tenancy, &format!("other{i}@example.com"), "Other")?;
        owner.batch_execute(&format!(
            "INSERT INTO resources (tenant_id, id, workspace_id, kind, name, owner_principal_id)
             SELECT '{t}', tenancy.uuid_v7(), '{w}', 'prompt', 'r' || g, '{p}' FROM generate_series(1, 2000) g;",
            t = other.tenant.as_uuid(),
            w = other.workspace.as_uuid(),
            p = other.principal.as_uuid()
        ))?;
    }
    owner.batch_execute("ANALYZE")?;

    let scoped = || -> Result<Vec<String>, Error> {
        tenancy.transaction_as(big.tenant, big.principal, |tx| {
            tx.load(
                resources::table
                    .filter(resources::workspace_id.eq(big.workspace))
                    .order(resources::updated_at.desc())
                    .limit(50)
                    .select(resources::name),
            )
        })
    };
    let explicit = || -> Result<Vec<String>, Error> {
        admin.borrow_mut().transaction(|conn| {
            resources::table
                .filter(resources::tenant_id.eq(big.tenant))
                .filter(resources::workspace_id.eq(big.workspace))
                .order(resources::updated_at.desc())
                .limit(50)
                .select(resources::name)
                .load(conn)
                .map_err(Error::from)
        })
    };
    assert_eq!(scoped()?.len(), 50);
    assert_eq!(explicit()?.len(), 50);
    for _ in 0..50 {
        scoped()?;
        explicit()?;
    }
    let (mut a, mut b) = (Vec::with_capacity(SAMPLES), Vec::with_capacity(SAMPLES));
    for i in 0..SAMPLES {
        // Alternate which goes first so drift on a shared machine hits both alike.
        let time = |f: &dyn Fn() -> Result<Vec<String>, Error>| -> Result<Duration, Error> {
            let start = Instant::now();
            f()?;
            Ok(start.elapsed())
        };
        if i % 2 == 0 {
            a.push(time(&scoped)?);
            b.push(time(&explicit)?);
        } else {
            b.push(time(&explicit)?);
            a.push(time(&scoped)?);
        }
    }
    let mut report = support::report("newest_resources", &mut owner);
    let mut section = Section::new(
        "newest-resources",
        "smoke: newest 50 of 10,000 resources in one tenant",
        &format!(
            "10,000 resources in one tenant's workspace among 10,000 of 5 other tenants; each sample one whole transaction \
             (BEGIN with the tenant settings, the query, COMMIT). tenancy: tenant transaction as `tenancy_app` (scoping + RLS + \
             visibility policy); baseline: plain Diesel transaction as the BYPASSRLS role with an explicit `tenant_id` filter. \
             {SAMPLES} samples each, interleaved; µs. The source designs' target: p95 under 300 ms."
        ),
    );
    section
        .push(Row::latency("newest 50 (whole transaction)", &a, &b).value_target("p95", 300_000.0));
    report.sections.push(section);
    report.finish()
}
