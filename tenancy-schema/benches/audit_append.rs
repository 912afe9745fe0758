//! Issue 6, B8: audit log appends per second with the hash chain.
//!
//! `cargo bench -p tenancy-schema --bench audit_append`
//!
//! Each transaction is a tenant transaction that appends one row with [`audit::record`] and
//! commits; the chain trigger takes the tenant's advisory lock, reads the previous hash and
//! writes the next one. Measured for one tenant with 1 and 4 writers (appends to one chain
//! are serialised) and for 8 tenants with one writer each, over 5 rounds of 2 s per point;
//! the figure is appends per second with its spread over the rounds. Afterwards every chain
//! is verified with `tenancy.verify_audit_chain`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use tenancy_schema::audit::{self, AuditEvent};
use tenancy_schema::embedded::TestDatabase;
use tenancy_schema::seed::{PersonalTenant, seed_personal_tenant};
use tenancy_schema::{Error, Tenancy, run_migrations};

mod support;
use support::{Better, Report, Row, Section, Stats};

const ROUND: Duration = Duration::from_secs(2);
const ROUNDS: usize = 5;

fn append(tenancy: &Tenancy, who: &PersonalTenant) -> Result<(), Error> {
    tenancy.transaction_as(who.tenant, who.principal, |tx| {
        let mut event = AuditEvent::new("bench.append");
        event.workspace = Some(who.workspace);
        audit::record(tx, &event).map(|_| ())
    })
}

/// Appends per second of `writers` threads for one round; writer `w` writes to
/// `tenants[w % tenants.len()]`.
fn round(
    tenancy: &Tenancy,
    tenants: &[PersonalTenant],
    writers: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (done, stop) = (&done, &stop);
                let who = tenants[w % tenants.len()];
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        append(tenancy, &who).map_err(|e| e.to_string())?;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                })
            })
            .collect();
        std::thread::sleep(ROUND);
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a writer panicked".to_owned()))
            })
            .collect()
    });
    results.into_iter().collect::<Result<(), String>>()?;
    #[allow(clippy::cast_precision_loss)] // reason: counts far below 2^52
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = TestDatabase::start()?;
    let mut owner = PgConnection::establish(db.url())?;
    run_migrations(&mut owner)?;
    let url = db.create_app_login("bench_login", "bench")?;
    let tenancy = Tenancy::connect(&url, 8)?;
    let tenants: Vec<PersonalTenant> = (0..8)
        .map(|i| seed_personal_tenant(&tenancy, &format!("a{i}@example.com"), "A"))
        .collect::<Result<_, _>>()?;

    let mut report = Report::new("audit_append", &mut owner);
    let mut section = Section::new(
        "B8",
        "audit log append throughput (hash chain)",
        &format!(
            "one `audit::record` per tenant transaction; {ROUNDS} rounds of {} s per point; appends per second (median and spread over rounds)",
            ROUND.as_secs()
        ),
    );
    for (label, n_tenants, writers) in [
        ("1 tenant, 1 writer", 1, 1),
        ("1 tenant, 4 writers (one chain)", 1, 4),
        ("8 tenants, 8 writers (one each)", 8, 8),
    ] {
        let rates: Vec<f64> = (0..ROUNDS)
            .map(|_| round(&tenancy, &tenants[..n_tenants], writers))
            .collect::<Result<_, _>>()?;
        section.push(Row::single(
            label,
            "appends/s",
            Better::Higher,
            Stats::of(&rates).ok_or("no rounds")?,
        ));
    }
    let mut entries = 0i64;
    for who in &tenants {
        let chain = audit::verify_chain(&mut owner, who.tenant)?;
        if let Some(at) = chain.broken_at {
            return Err(format!("audit chain of {} broken at {at}", who.tenant).into());
        }
        entries += chain.entries;
    }
    section.note(format!(
        "all 8 chains verified intact afterwards ({entries} entries)"
    ));
    report.sections.push(section);
    report.finish()
}
