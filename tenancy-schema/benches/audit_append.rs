//! Audit log appends per second with the hash chain.
//!
//! `cargo bench -p tenancy-schema --bench audit_append`
//!
//! Each transaction is a tenant transaction that appends one row with [`audit::record`] and
//! commits; the chain trigger takes the tenant's advisory lock, reads the previous hash and
//! writes the next one. Measured for one tenant with 1 and 4 writers (appends to one chain
//! are serialised) and for 8 tenants with one writer each, over 5 rounds of 2 s per point;
//! the figure is appends per second with its spread over the rounds. Afterwards every chain
//! is verified with `tenancy.verify_audit_chain`.

use std::time::Duration;

use tenancy_foundation::audit::{self, AuditEvent};
use tenancy_foundation::seed::{PersonalTenant, seed_personal_tenant};
use tenancy_schema::{Error, Tenancy};

mod support;
use support::{Better, Row, Section, Stats};

const ROUND: Duration = Duration::from_secs(2);
const ROUNDS: usize = 5;

fn append(tenancy: &Tenancy, who: &PersonalTenant) -> Result<(), Error> {
    tenancy.transaction_as(who.tenant, who.principal, |tx| {
        let mut event = AuditEvent::new("bench.append");
        event.workspace = Some(who.workspace);
        audit::record(tx, &event).map(|_| ())
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let support::Start {
        db,
        mut owner,
        app_url: url,
    } = support::start()?;
    let tenancy = db.tenancy(&url, 8)?;
    let tenants: Vec<PersonalTenant> = (0..8)
        .map(|i| seed_personal_tenant(&tenancy, &format!("a{i}@example.com"), "A"))
        .collect::<Result<_, _>>()?;

    let mut report = support::report("audit_append", &mut owner);
    let mut section = Section::new(
        "audit-append",
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
            .map(|_| {
                // Writer `w` appends to tenant `w % n_tenants`.
                support::throughput(writers, ROUND, &|w, _| {
                    append(&tenancy, &tenants[w % n_tenants])
                })
            })
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
