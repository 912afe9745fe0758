//! The README's first command: `cargo run -p tenancy-schema --example quickstart`.
//!
//! Starts a throwaway PostgreSQL cluster (or uses `DATABASE_URL`), applies the embedded
//! migrations, seeds two users with their personal tenants, and shows that each tenant sees
//! only its own resources, that raw SQL without a tenant sees nothing, and that a
//! cross-tenant write is rejected.

#![allow(clippy::items_after_statements)] // reason: row structs sit next to their query

use diesel::prelude::*;
use tenancy_foundation::ResourceId;
use tenancy_foundation::models::{NewResource, Resource, ResourceKind, ResourceVisibility};
use tenancy_foundation::run_migrations;
use tenancy_foundation::schema::resources;
use tenancy_foundation::seed::seed_personal_tenant;
use tenancy_schema::Error;
use tenancy_testing::TestDatabase;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "starting PostgreSQL (DATABASE_URL {})...",
        if std::env::var_os("DATABASE_URL").is_some() {
            "set"
        } else {
            "unset: throwaway cluster"
        }
    );
    let db = TestDatabase::start()?;
    let mut owner = PgConnection::establish(db.url())?;
    let applied = run_migrations(&mut owner)?;
    println!("applied {} migrations", applied.len());
    // The application logs in as its own role, a member of `tenancy_app` and `tenancy_admin`
    // without inheriting their rights: every transaction switches with `SET LOCAL ROLE`.
    let tenancy = db.tenancy(&db.create_app_login("quickstart_login", "quickstart")?, 2)?;

    let ada = seed_personal_tenant(&tenancy, "ada@example.com", "Ada")?;
    let bob = seed_personal_tenant(&tenancy, "bob@example.com", "Bob")?;
    let again = seed_personal_tenant(&tenancy, "ADA@example.com", "Ada")?;
    assert!(!again.created && again.tenant == ada.tenant);
    println!(
        "seeded tenants {} (ada) and {} (bob)",
        ada.tenant, bob.tenant
    );

    for (who, name) in [(ada, "ada"), (bob, "bob")] {
        tenancy.transaction_as(who.tenant, who.principal, |tx| {
            for title in ["roadmap", "payroll"] {
                tx.insert(
                    resources::table,
                    NewResource {
                        id: ResourceId::new_v7(),
                        workspace_id: who.workspace,
                        kind: ResourceKind::Prompt,
                        name: &format!("{name}: {title}"),
                        visibility: ResourceVisibility::Private,
                        owner_principal_id: who.principal,
                        data: &serde_json::json!({ "title": title }),
                    },
                )?;
            }
            Ok::<_, Error>(())
        })?;
    }

    let seen: Vec<Resource> = tenancy.transaction_as(ada.tenant, ada.principal, |tx| {
        // `or_filter` cannot widen the scope: the tenant filter sits on the table itself.
        tx.load(
            resources::table
                .filter(resources::name.like("%roadmap"))
                .or_filter(resources::name.like("%payroll"))
                .select(Resource::as_select())
                .order(resources::name),
        )
    })?;
    println!("ada sees {} resources:", seen.len());
    for r in &seen {
        println!("  {} {:?} (tenant {})", r.id, r.name, r.tenant_id);
    }
    assert!(
        seen.len() == 2
            && seen
                .iter()
                .all(|r| r.tenant_id == ada.tenant && r.name.starts_with("ada"))
    );

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let raw: Vec<Count> = tenancy.transaction_as(bob.tenant, bob.principal, |tx| {
        tx.load_sql(diesel::sql_query("SELECT count(*) AS n FROM resources"))
    })?;
    println!(
        "raw SQL in bob's transaction counts {} resources (row level security)",
        raw[0].n
    );
    let none: Vec<Count> = tenancy
        .system(|sys| sys.load_sql(diesel::sql_query("SELECT count(*) AS n FROM resources")))?;
    println!("raw SQL without a tenant counts {} resources", none[0].n);

    let moved = tenancy.transaction_as(ada.tenant, ada.principal, |tx| {
        tx.execute(diesel::sql_query(format!(
            "UPDATE resources SET tenant_id = '{}'",
            bob.tenant.as_uuid()
        )))
    });
    match moved {
        Err(Error::Query(e)) => println!("moving ada's resources to bob's tenant is rejected: {e}"),
        other => return Err(format!("cross-tenant write was not rejected: {other:?}").into()),
    }
    assert_eq!((raw[0].n, none[0].n), (2, 0));
    println!("ok: each tenant saw only its own rows");
    Ok(())
}
