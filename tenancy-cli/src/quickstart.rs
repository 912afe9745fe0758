//! `tenancy quickstart`: the README's first command.

use diesel::prelude::*;
use tenancy_cli::{audit, report};
use tenancy_foundation::ResourceId;
use tenancy_foundation::envelope::{self, NewResourceSpec};
use tenancy_foundation::models::{Resource, ResourceKind, ResourceVisibility};
use tenancy_foundation::schema::resources;
use tenancy_foundation::seed::{PersonalTenant, seed_personal_tenant};
use tenancy_schema::check::{self, CheckOptions};
use tenancy_schema::{Error, Tenancy};
use tenancy_testing::TestDatabase;

use crate::db::{self, embedded_failure};
use crate::redact::redact;
use crate::{Failure, outln};

/// The application's login role: a member of `tenancy_app` only (inherited), no superuser,
/// no BYPASSRLS, owns nothing, cannot become `tenancy_admin`; the admin path has a login of
/// its own. `Tenancy` checks all of that when it is built.
const LOGIN_ROLE: &str = "quickstart_login";
const LOGIN_PASSWORD: &str = "quickstart";

const STEPS: usize = 7;
const BUG: &str =
    "this is a bug in tenancy or in the database set-up; please report it with the output above";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn step(n: usize, text: &str) {
    outln!("[{n}/{STEPS}] {text}");
}

/// A failed expectation: exit status 1.
fn expect(ok: bool, what: impl FnOnce() -> String) -> Result<(), Failure> {
    if ok {
        Ok(())
    } else {
        Err(Failure::failed(
            format!("quickstart expectation failed: {}", what()),
            BUG,
        ))
    }
}

fn failed(what: &'static str) -> impl Fn(Error) -> Failure {
    move |e| Failure::failed(format!("{what}: {e}"), BUG)
}

/// Runs the quickstart; `url` is a superuser url of a server to create a fresh database on.
pub(crate) fn run(url: Option<&str>) -> Result<u8, Failure> {
    outln!("tenancy quickstart: two tenants in one database, kept apart by tenancy");
    let db = if let Some(url) = url {
        db::check_url(url)?;
        step(
            1,
            &format!(
                "creating a fresh database on {} (dropped at exit)",
                redact(url)
            ),
        );
        TestDatabase::create_in(url).map_err(|e| embedded_failure(e).scrubbed(url))?
    } else {
        step(
            1,
            "starting a throwaway PostgreSQL cluster (DATABASE_URL is unset; removed at exit)",
        );
        TestDatabase::start().map_err(embedded_failure)?
    };
    let outcome = demo(&db);
    drop(db);
    outcome
}

fn demo(db: &TestDatabase) -> Result<u8, Failure> {
    let mut owner = db::connect(db.url())?;
    let (tenancy, ada, bob, bob_resource) = set_up(db, &mut owner)?;
    let mut login = db::connect(&db.url_for(LOGIN_ROLE, LOGIN_PASSWORD))?;
    show_isolation(&tenancy, &mut login, ada, bob, bob_resource)?;
    verify(&mut owner, ada, bob)?;
    outln!();
    outln!(
        "ok: each tenant saw only its own rows, raw SQL without a tenant saw none, and the cross-tenant write was rejected."
    );
    outln!(
        "next: DATABASE_URL=postgres://... tenancy migrate, then tenancy check; add tables with tenancy new-table."
    );
    Ok(0)
}

/// Steps 2 to 4: migrations, login role and pool, two seeded tenants with resources.
fn set_up(
    db: &TestDatabase,
    owner: &mut PgConnection,
) -> Result<(Tenancy, PersonalTenant, PersonalTenant, ResourceId), Failure> {
    let applied = tenancy_foundation::run_migrations(owner).map_err(failed("migrating"))?;
    step(
        2,
        &format!(
            "applied {} migrations: tenant tables with ENABLE + FORCE row level security, roles tenancy_app and tenancy_admin",
            applied.len()
        ),
    );

    let login_url = db
        .create_app_login(LOGIN_ROLE, LOGIN_PASSWORD)
        .map_err(|e| Failure::failed(format!("creating the login role: {e}"), BUG))?;
    let tenancy = db
        .tenancy(&login_url, 2)
        .map_err(failed("connecting as the login role"))?;
    step(
        3,
        &format!(
            "the application logs in as {LOGIN_ROLE}, checked when the Tenancy was built: no superuser, no BYPASSRLS, owns nothing, cannot become tenancy_admin (the admin path has its own login)"
        ),
    );

    let ada =
        seed_personal_tenant(&tenancy, "ada@example.com", "Ada").map_err(failed("seeding ada"))?;
    let bob =
        seed_personal_tenant(&tenancy, "bob@example.com", "Bob").map_err(failed("seeding bob"))?;
    let again = seed_personal_tenant(&tenancy, "ADA@example.com", "Ada")
        .map_err(failed("seeding ada again"))?;
    expect(!again.created && again.tenant == ada.tenant, || {
        "seeding ada twice created a second tenant".to_owned()
    })?;
    let mut bob_resources = Vec::new();
    for (who, name) in [(ada, "ada"), (bob, "bob")] {
        let created = tenancy
            .transaction_as(who.tenant, who.principal, |tx| {
                ["roadmap", "payroll"]
                    .into_iter()
                    .map(|title| {
                        envelope::create(
                            tx,
                            &NewResourceSpec {
                                workspace: who.workspace,
                                kind: ResourceKind::Prompt,
                                name: &format!("{name}: {title}"),
                                visibility: ResourceVisibility::Private,
                                data: &serde_json::json!({ "title": title }),
                            },
                        )
                        .map(|r| r.id)
                    })
                    .collect::<Result<Vec<ResourceId>, Error>>()
            })
            .map_err(failed("creating resources"))?;
        if name == "bob" {
            bob_resources = created;
        }
    }
    step(
        4,
        &format!(
            "seeded tenant {} (ada) and tenant {} (bob), each with 2 resources",
            ada.tenant, bob.tenant
        ),
    );

    let bob_resource = bob_resources.first().copied().ok_or_else(|| {
        Failure::failed("quickstart expectation failed: bob has no resources", BUG)
    })?;
    Ok((tenancy, ada, bob, bob_resource))
}

/// Step 5: what each tenant, raw SQL and a cross-tenant write can do.
fn show_isolation(
    tenancy: &Tenancy,
    login: &mut PgConnection,
    ada: PersonalTenant,
    bob: PersonalTenant,
    bob_resource: ResourceId,
) -> Result<(), Failure> {
    step(5, "isolation:");
    for (who, name) in [(ada, "ada"), (bob, "bob")] {
        let seen = sees(tenancy, who)?;
        expect(
            seen.len() == 2
                && seen
                    .iter()
                    .all(|r| r.tenant_id == who.tenant && r.name.starts_with(name)),
            || format!("{name} should see exactly their own 2 resources, saw {seen:?}"),
        )?;
        let names: Vec<&str> = seen.iter().map(|r| r.name.as_str()).collect();
        outln!(
            "      {name} sees {} resources, all in their tenant: {names:?}",
            seen.len()
        );
    }
    let raw: Vec<Count> = tenancy
        .transaction_as(bob.tenant, bob.principal, |tx| {
            tx.load_sql(diesel::sql_query("SELECT count(*) AS n FROM resources"))
        })
        .map_err(failed("counting with raw SQL in bob's transaction"))?;
    let raw = raw.first().map_or(-1, |c| c.n);
    expect(raw == 2, || {
        format!("raw SQL in bob's transaction should count 2 resources, counted {raw}")
    })?;
    outln!("      raw SQL in bob's transaction counts {raw} resources (row level security)");
    let forged: Vec<Count> = tenancy
        .transaction_as(bob.tenant, bob.principal, |tx| {
            tx.execute(diesel::sql_query(format!(
                "SELECT set_config('tenancy.tenant_id', '{}', true)",
                ada.tenant.as_uuid()
            )))?;
            tx.load_sql(diesel::sql_query(
                "SELECT count(*) AS n FROM resources WHERE name LIKE 'ada%'",
            ))
        })
        .map_err(failed(
            "forging the tenant setting with raw SQL in bob's transaction",
        ))?;
    let forged = forged.first().map_or(-1, |c| c.n);
    expect(forged == 0, || {
        format!(
            "raw SQL that sets the tenant setting to ada's should still see none of ada's resources, saw {forged}"
        )
    })?;
    outln!(
        "      raw SQL in bob's transaction setting tenancy.tenant_id to ada's tenant then sees {forged} of ada's resources (the context is sealed)"
    );
    let stolen = tenancy.transaction_as(ada.tenant, ada.principal, |tx| {
        envelope::get(tx, bob_resource)
    });
    expect(matches!(stolen, Err(Error::NotFound { .. })), || {
        format!("ada reading bob's resource by id should be not found, got {stolen:?}")
    })?;
    outln!("      ada asking for bob's resource by its id: not found");
    show_no_tenant(tenancy, login)?;
    let moved = tenancy.transaction_as(ada.tenant, ada.principal, |tx| {
        tx.execute(diesel::sql_query(format!(
            "UPDATE resources SET tenant_id = '{}'",
            bob.tenant.as_uuid()
        )))
    });
    let Err(Error::Query(rejection)) = moved else {
        return Err(Failure::failed(
            format!(
                "quickstart expectation failed: moving ada's resources to bob's tenant was not rejected: {moved:?}"
            ),
            BUG,
        ));
    };
    let still = sees(tenancy, ada)?;
    expect(still.len() == 2, || {
        format!(
            "ada should still have 2 resources after the rejected write, has {}",
            still.len()
        )
    })?;
    outln!(
        "      moving ada's resources into bob's tenant with raw SQL: rejected ({})",
        db::one_line(&rejection.to_string())
    );
    Ok(())
}

/// Part of step 5: raw SQL without a tenant, through tenancy and around it.
fn show_no_tenant(tenancy: &Tenancy, login: &mut PgConnection) -> Result<(), Failure> {
    let refused = tenancy.system(|sys| {
        sys.load_sql::<_, Count>(diesel::sql_query("SELECT count(*) AS n FROM resources"))
    });
    expect(
        matches!(
            refused,
            Err(Error::UnsafeSql(
                tenancy_schema::SqlTextError::TenantTableOnSystemConnection(_)
            ))
        ),
        || {
            format!(
                "raw SQL naming resources on the system connection should be refused, got {:?}",
                refused.as_ref().map(Vec::len)
            )
        },
    )?;
    outln!(
        "      raw SQL naming resources on the system connection (no tenant): refused before it is sent"
    );
    // The login outside tenancy, as anyone holding its password would use it.
    let none = diesel::sql_query("SELECT count(*) AS n FROM resources")
        .get_result::<Count>(login)
        .map_err(|e| {
            Failure::failed(
                format!("counting with raw SQL on a plain connection of the login: {e}"),
                BUG,
            )
        })?
        .n;
    expect(none == 0, || {
        format!("raw SQL without a tenant should count 0 resources, counted {none}")
    })?;
    outln!(
        "      raw SQL on a plain connection of {LOGIN_ROLE}, outside tenancy and without a tenant, counts {none} resources (row level security)"
    );
    Ok(())
}

/// Steps 6 and 7: the audit chains verify and `tenancy check` finds no error.
fn verify(
    owner: &mut PgConnection,
    ada: PersonalTenant,
    bob: PersonalTenant,
) -> Result<(), Failure> {
    let mut chains = Vec::new();
    for (who, name) in [(ada, "ada"), (bob, "bob")] {
        let chain = audit::verify_chain(owner, who.tenant)
            .map_err(|e| Failure::failed(format!("verifying {name}'s audit chain: {e}"), BUG))?;
        expect(chain.broken_at.is_none() && chain.entries >= 2, || {
            format!("{name}'s audit chain should verify with 2 or more entries: {chain:?}")
        })?;
        chains.push(format!("{name} ok ({} entries)", chain.entries));
    }
    step(6, &format!("audit hash chains: {}", chains.join(", ")));

    let report = check::run(owner, &tenancy_schema::registry(), &CheckOptions::default())
        .map_err(failed("running tenancy check"))?;
    step(
        7,
        &format!("tenancy check: {}", report::summary_line(&report)),
    );
    if report.has_errors() {
        outln!("{}", report::render_human(&report).trim_end());
        return Err(Failure::failed(
            "quickstart expectation failed: `tenancy check` found errors in the freshly migrated database",
            BUG,
        ));
    }
    // Warnings are about the server rather than the database the quickstart made (its
    // other databases, which every role may connect to by default): shown, not failed on.
    for finding in &report.findings {
        outln!("      {}", finding.to_string().replace('\n', "\n      "));
    }
    Ok(())
}

/// Every resource `who` sees; `or_filter` cannot widen it, the tenant filter sits on the
/// table itself.
fn sees(tenancy: &Tenancy, who: PersonalTenant) -> Result<Vec<Resource>, Failure> {
    tenancy
        .transaction_as(who.tenant, who.principal, |tx| {
            tx.load(
                resources::table
                    .filter(resources::name.like("%roadmap"))
                    .or_filter(resources::name.like("%payroll"))
                    .select(Resource::as_select())
                    .order(resources::name),
            )
        })
        .map_err(failed("loading resources"))
}
