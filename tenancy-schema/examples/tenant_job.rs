//! A background job that carries its tenant: `cargo run -p tenancy-schema --example tenant_job`.
//!
//! The request handler enqueues a `TenantJob` (serialised with serde, as any queue would
//! carry it); the worker deserialises it and `run`s it, which reopens a tenant transaction for
//! the job's tenant. There is no other way to get a transaction for the job, and no ambient
//! tenant to fall back on.

use diesel::prelude::*;
use tenancy_foundation::control::{self, NewTenantSpec};
use tenancy_foundation::envelope::{self, ListRequest, NewResourceSpec};
use tenancy_foundation::jobs::TenantJob;
use tenancy_foundation::models::{PlanTier, ResourceKind, ResourceVisibility};
use tenancy_foundation::run_migrations;
use tenancy_schema::Error;
use tenancy_testing::TestDatabase;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Reindex {
    kind: ResourceKind,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = TestDatabase::start()?;
    let mut owner = PgConnection::establish(db.url())?;
    run_migrations(&mut owner)?;
    let login_url = db.create_app_login("jobs_login", "jobs")?;
    let tenancy = db.tenancy(&login_url, 2)?;
    let acme = control::create_tenant(
        &tenancy,
        &NewTenantSpec {
            slug: "acme",
            name: "Acme",
            plan: PlanTier::Pro,
            data_region: None,
            owner_email: "ada@acme.test",
            owner_name: "Ada",
        },
    )?;

    // In a request handler: do the work that must happen now, enqueue the rest.
    let wire = tenancy.transaction_as(acme.tenant, acme.owner_principal, |tx| {
        envelope::create(
            tx,
            &NewResourceSpec {
                workspace: acme.workspace,
                kind: ResourceKind::Prompt,
                name: "greeting",
                visibility: ResourceVisibility::Tenant,
                data: &serde_json::json!({ "text": "hello" }),
            },
        )?;
        let job = TenantJob::acting_as(
            acme.tenant,
            acme.owner_principal,
            Reindex {
                kind: ResourceKind::Prompt,
            },
        );
        serde_json::to_string(&job).map_err(|e| Error::InvalidInput {
            field: "job",
            reason: e.to_string(),
        })
    })?;
    println!("enqueued: {wire}");

    // In a worker: the job names its tenant; `run` is the only way in.
    let job: TenantJob<Reindex> = serde_json::from_str(&wire)?;
    let reindexed = job.run(&tenancy, |tx, payload| {
        let page = envelope::list(tx, &ListRequest::first(100).of_kind(payload.kind))?;
        Ok::<_, Error>(page.items.len())
    })?;
    println!(
        "job for tenant {} reindexed {reindexed} resource(s)",
        job.tenant()
    );
    assert_eq!(reindexed, 1);
    Ok(())
}
