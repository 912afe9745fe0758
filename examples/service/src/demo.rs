//! A database for the service to run on without any set-up (`cargo run`, and the tests): a
//! throwaway PostgreSQL from `tenancy-testing`, the example application's migrations, the
//! service's logins, the plans, and tenants with API keys.

use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tenancy_foundation::api_keys::{self, NewKeySpec};
use tenancy_foundation::seed::{PersonalTenant, seed_personal_tenant};
use tenancy_schema::{Error, Tenancy};
use tenancy_testing::TestDatabase;
use uuid::Uuid;

/// The example application's migrations: tenancy's core and foundation schema, then plans,
/// projects and tasks.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../app/migrations");

/// What went wrong setting up the demo database.
pub type SetupError = Box<dyn std::error::Error + Send + Sync>;

/// A migrated throwaway database with the service's two logins. Dropping it removes it.
#[derive(Debug)]
pub struct DemoDatabase {
    db: TestDatabase,
    /// The application login (a member of `tenancy_app` only): what the service runs as.
    pub app_url: String,
    /// The admin login (a member of `tenancy_admin` only): the context key and the escape
    /// hatch.
    pub admin_url: String,
}

impl DemoDatabase {
    /// Starts the database (a private cluster, or a fresh database on `DATABASE_URL`; see
    /// `tenancy-testing`), applies [`MIGRATIONS`] as its owner and creates the logins.
    ///
    /// # Errors
    /// No PostgreSQL binaries and no `DATABASE_URL`, a failed migration, a failed login.
    pub fn start() -> Result<Self, SetupError> {
        let db = TestDatabase::start()?;
        let mut owner = PgConnection::establish(db.url())?;
        owner.run_pending_migrations(MIGRATIONS)?;
        let app_url = db.create_app_login("example_service_login", "example-service")?;
        let admin_url = db.create_admin_login("example_service_admin", "example-service-admin")?;
        Ok(Self {
            db,
            app_url,
            admin_url,
        })
    }

    /// [`DemoDatabase::start`], then switched to the native tenant context: the
    /// `tenancy_context` extension (`extension/` in the repository) is created and
    /// `tenancy.enable_native_context()` run, as an application whose server has the extension
    /// does. Pools built afterwards find it and use it.
    ///
    /// # Errors
    /// As [`DemoDatabase::start`]; the server does not have the extension.
    pub fn start_native() -> Result<Self, SetupError> {
        let demo = Self::start()?;
        let mut owner = PgConnection::establish(demo.db.url())?;
        tenancy_testing::enable_native_context(&mut owner)?;
        Ok(demo)
    }

    /// The owner's URL (a superuser): for looking at everything, in tests.
    #[must_use]
    pub fn owner_url(&self) -> &str {
        self.db.url()
    }
}

/// Creates the plans `free` and `team` unless they exist (through the audited escape hatch:
/// `plans` is a global table only the admin role writes) and returns the `team` plan's id.
///
/// # Errors
/// Database errors.
pub fn seed_plans(tenancy: &Tenancy) -> Result<Uuid, Error> {
    tenancy_example_app::seed_plans(tenancy, "example service: seed the plans")
}

/// A tenant of the demo, and the text of an API key acting as its owner.
#[derive(Debug)]
pub struct DemoTenant {
    /// The user, tenant, principal and workspace.
    pub seeded: PersonalTenant,
    /// An API key of the tenant's principal (`tk_…`), to send as `Authorization: Bearer`.
    pub key: String,
}

/// Creates the user `email` with a personal tenant (or finds it) and issues a key for its
/// principal with `scopes`.
///
/// # Errors
/// Database errors.
pub fn seed_tenant(tenancy: &Tenancy, email: &str, scopes: &[&str]) -> Result<DemoTenant, Error> {
    let seeded = seed_personal_tenant(tenancy, email, email)?;
    let key = issue_key(tenancy, &seeded, scopes)?;
    Ok(DemoTenant { seeded, key })
}

/// Issues another key for `tenant`'s principal, with `scopes`, and returns its text.
///
/// # Errors
/// Database errors.
pub fn issue_key(
    tenancy: &Tenancy,
    tenant: &PersonalTenant,
    scopes: &[&str],
) -> Result<String, Error> {
    let issued = tenancy.transaction_as(tenant.tenant, tenant.principal, |tx| {
        api_keys::issue(
            tx,
            NewKeySpec::new(tenant.principal, "example service").scopes(scopes.iter().copied()),
        )
    })?;
    Ok(issued.key.expose_secret().to_owned())
}
