//! Throughput with 1, 2, 4, 8 and 16 workers over a pool, mixed tenants.
//!
//! `cargo bench -p tenancy-schema --bench concurrency`
//!
//! Each worker runs short transactions for a fixed time, alternating between four tenants:
//! read the 20 newest resources of the tenant's workspace, then insert one. "tenancy" runs them
//! as tenant transactions (compile-time scoping, row level security, tenant status check, the
//! native context of the `tenancy_context` extension);
//! "plain" runs the same statements as plain Diesel transactions with an explicit `tenant_id`
//! filter, as the BYPASSRLS role, over an r2d2 pool of the same size. The two alternate,
//! three rounds each per worker count, and the report gives transactions per second (median
//! and spread over the rounds) and the ratio of medians.

#![allow(clippy::cast_possible_truncation)] // reason: worker indexes from counters

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use tenancy_foundation::ResourceId;
use tenancy_foundation::schema::resources;
use tenancy_foundation::seed::{PersonalTenant, seed_personal_tenant};
use tenancy_schema::{Error, Tenancy};

const RUN: Duration = Duration::from_secs(2);
const ROUNDS: usize = 3;

mod support;
use support::{Better, Row, Section, Stats};

#[derive(Debug)]
struct AsAdmin;

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for AsAdmin {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute("SET ROLE tenancy_admin")
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

fn new_row(n: u64) -> (ResourceId, String) {
    (ResourceId::new_v7(), format!("w{n}"))
}

fn tenancy_tx(t: &Tenancy, who: &PersonalTenant, n: u64) -> Result<(), Error> {
    t.transaction_as(who.tenant, who.principal, |tx| {
        let _: Vec<String> = tx.load(
            resources::table
                .filter(resources::workspace_id.eq(who.workspace))
                .order(resources::updated_at.desc())
                .limit(20)
                .select(resources::name),
        )?;
        let (id, name) = new_row(n);
        tx.insert(
            resources::table,
            (
                resources::id.eq(id),
                resources::workspace_id.eq(who.workspace),
                resources::kind.eq(tenancy_foundation::models::ResourceKind::Prompt),
                resources::name.eq(name),
                resources::visibility.eq(tenancy_foundation::models::ResourceVisibility::Tenant),
                resources::owner_principal_id.eq(who.principal),
            ),
        )?;
        Ok(())
    })
}

fn plain_tx(
    pool: &Pool<ConnectionManager<PgConnection>>,
    who: &PersonalTenant,
    n: u64,
) -> Result<(), Error> {
    let mut conn = pool.get()?;
    conn.transaction(|c| {
        let _: Vec<String> = resources::table
            .filter(resources::tenant_id.eq(who.tenant))
            .filter(resources::workspace_id.eq(who.workspace))
            .order(resources::updated_at.desc())
            .limit(20)
            .select(resources::name)
            .load(c)?;
        let (id, name) = new_row(n);
        diesel::insert_into(resources::table)
            .values((
                resources::tenant_id.eq(who.tenant),
                resources::id.eq(id),
                resources::workspace_id.eq(who.workspace),
                resources::kind.eq(tenancy_foundation::models::ResourceKind::Prompt),
                resources::name.eq(name),
                resources::visibility.eq(tenancy_foundation::models::ResourceVisibility::Tenant),
                resources::owner_principal_id.eq(who.principal),
            ))
            .execute(c)?;
        Ok::<_, Error>(())
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let support::Start {
        db,
        mut owner,
        app_url: url,
    } = support::start()?;
    tenancy_testing::enable_native_context(&mut owner)?;
    let setup = db.tenancy(&url, 1)?;
    let tenants: Vec<PersonalTenant> = (0..4)
        .map(|i| seed_personal_tenant(&setup, &format!("c{i}@example.com"), "C"))
        .collect::<Result<_, _>>()?;
    let mut report = support::report("concurrency", &mut owner);
    let mut section = Section::new(
        "concurrent-writers",
        "concurrency: transactions per second over a pool",
        &format!(
            "1-16 workers over a pool of the same size, 4 tenants mixed; each transaction reads the 20 newest resources and inserts one. \
             tenancy: tenant transactions with the native context (the `tenancy_context` extension); baseline: plain Diesel transactions with explicit `tenant_id` as the BYPASSRLS role. \
             {ROUNDS} alternating rounds of {} s per side and point; tx/s.",
            RUN.as_secs()
        ),
    );
    for workers in [1usize, 2, 4, 8, 16] {
        let size = u32::try_from(workers)?;
        let tenancy = db.tenancy(&url, size)?;
        let pool = Pool::builder()
            .max_size(size)
            .connection_customizer(Box::new(AsAdmin))
            .build(ConnectionManager::<PgConnection>::new(db.url()))?;
        let (mut ours, mut plain) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            ours.push(support::throughput(workers, RUN, &|w, n| {
                tenancy_tx(&tenancy, &tenants[(w + n as usize) % tenants.len()], n)
            })?);
            plain.push(support::throughput(workers, RUN, &|w, n| {
                plain_tx(&pool, &tenants[(w + n as usize) % tenants.len()], n)
            })?);
        }
        section.push(
            Row::compared(
                &format!("workers: {workers}"),
                "tx/s",
                Better::Higher,
                Stats::of(&ours).ok_or("no rounds")?,
                Stats::of(&plain).ok_or("no rounds")?,
            )
            .ratio_target(0.95),
        );
    }
    report.sections.push(section);
    report.finish()
}
