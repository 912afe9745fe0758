//! Shared fixture: one database per test binary, the test schema with RLS, and a login role
//! that is not superuser, has no BYPASSRLS and owns nothing.
#![allow(dead_code, missing_docs)] // reason: each test binary uses a different subset

use std::sync::OnceLock;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use tenancy_schema::{Tenancy, TenantId};
use tenancy_testing::TestDatabase;

pub mod attacks;

pub mod schema {
    // A subset of the foundation schema's `tenants` (created by `run_migrations`), declared
    // here because Diesel's `allow_tables_to_appear_in_same_query!` only joins tables of
    // one crate.
    #[tenancy_schema::global_table]
    diesel::table! {
        tenants (id) {
            id -> Uuid,
            slug -> Text,
            name -> Text,
        }
    }

    // The tables the compile-pass cases build (`categories`, `posts`, `comments`), so the
    // runtime tests exercise exactly what the UI suite compiles.
    include!("../ui/schema.rs");

    diesel::allow_tables_to_appear_in_same_query!(tenants, categories);
    diesel::allow_tables_to_appear_in_same_query!(tenants, posts);
    diesel::allow_tables_to_appear_in_same_query!(tenants, comments);
}

pub const LOGIN_ROLE: &str = "tenancy_test_login";
pub const LOGIN_PASSWORD: &str = "test-only-password";

/// Test tables on top of the foundation schema (which `run_migrations` creates, with the
/// `tenancy_app`/`tenancy_admin` roles and `tenancy.current_tenant()`).
const SCHEMA_SQL: &str = r"
CREATE TABLE categories (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE posts (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id int NOT NULL,
  title text NOT NULL,
  slug text NOT NULL,
  category_id int REFERENCES categories (id),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, slug)
);
CREATE INDEX posts_tenant_category ON posts (tenant_id, category_id);
CREATE TABLE comments (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id int NOT NULL,
  post_id int NOT NULL,
  body text NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, post_id) REFERENCES posts (tenant_id, id)
);

";

/// Grants and rows after the tenant policies, which come from `tenancy_schema::policy` (the
/// source the scaffold and `tenancy check` use).
const GRANTS_SQL: &str = r"
CREATE POLICY admin_all ON posts TO tenancy_admin USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON comments TO tenancy_admin USING (true) WITH CHECK (true);

GRANT USAGE ON SCHEMA public TO tenancy_app, tenancy_admin;
GRANT SELECT ON categories TO tenancy_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON posts, comments TO tenancy_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON categories, posts, comments TO tenancy_admin;
INSERT INTO categories VALUES (1, 'news'), (2, 'howto');
";

pub struct Fixture {
    pub db: &'static TestDatabase,
    pub login_url: String,
}

/// Which database a test runs against: the normal one, or its twin with row level security
/// switched off on every tenant table (`tenancy.set_rls_mode('shadow')`), where whatever
/// stays isolated is isolated by tenancy's own scoping; each of the two with the SQL tenant
/// context, or with the native one of the `tenancy_context` extension (`extension/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rls {
    On,
    Off,
    OnNative,
    OffNative,
}

impl Rls {
    /// Every fixture a suite runs its cases against: row level security on and off, each
    /// with the SQL context and, where the extension is installed, with the native context.
    pub fn all() -> Vec<Rls> {
        if tenancy_testing::native_context_available().expect("look for the extension") {
            vec![Rls::On, Rls::Off, Rls::OnNative, Rls::OffNative]
        } else {
            vec![Rls::On, Rls::Off]
        }
    }

    /// Every fixture, each with the opening of async tenant transactions sent on its own and
    /// pipelined with the first statement.
    pub fn all_async() -> Vec<(Rls, bool)> {
        Rls::all()
            .into_iter()
            .flat_map(|rls| [(rls, false), (rls, true)])
            .collect()
    }

    /// Whether row level security is enforced on the tenant tables.
    pub fn enforced(self) -> bool {
        matches!(self, Rls::On | Rls::OnNative)
    }

    /// Whether the policies read the native context.
    pub fn native(self) -> bool {
        matches!(self, Rls::OnNative | Rls::OffNative)
    }

    pub fn fixture(self) -> &'static Fixture {
        match self {
            Rls::On => fixture(),
            Rls::Off => fixture_without_rls(),
            Rls::OnNative | Rls::OffNative => native_fixture(self),
        }
    }

    /// A `Tenancy` as an application on the foundation schema builds it (its configuration
    /// audits the escape hatch).
    pub fn tenancy(self, size: u32) -> Tenancy {
        let f = self.fixture();
        f.db.tenancy_builder(&f.login_url)
            .expect("admin login")
            .max_size(size)
            .config(tenancy_foundation::config())
            .build()
            .expect("pool")
    }

    pub fn owner(self) -> PgConnection {
        PgConnection::establish(self.fixture().db.url()).expect("connect as owner")
    }

    pub fn two_tenants(self) -> (TenantId, TenantId) {
        seed_two_tenants(&mut self.owner())
    }
}

fn build_fixture(db: &'static TestDatabase, rls: Rls) -> Fixture {
    let mut owner = PgConnection::establish(db.url()).expect("connect as owner");
    tenancy_foundation::run_migrations(&mut owner).expect("run the tenancy migrations");
    let login_url = db
        .create_app_login(LOGIN_ROLE, LOGIN_PASSWORD)
        .expect("create the login role");
    let policies = ["posts", "comments"]
        .map(|table| tenancy_schema::policy::tenant_policies(table, "tenant_id", "tenancy_app"))
        .concat();
    owner
        .batch_execute(&format!("{SCHEMA_SQL}\n{policies}\n{GRANTS_SQL}"))
        .expect("create test schema");
    if !rls.enforced() {
        owner
            .batch_execute("SELECT tenancy.set_rls_mode('shadow')")
            .expect("switch row level security off");
    }
    if rls.native() {
        tenancy_testing::enable_native_context(&mut owner).expect("switch to the native context");
    }
    Fixture { db, login_url }
}

/// An async tenancy on the fixture's database (RLS on or off), built as an application on the
/// foundation schema builds it (its configuration audits the escape hatch).
pub async fn async_tenancy(rls: Rls, size: u32) -> tenancy_async::AsyncTenancy {
    async_tenancy_with(rls, size, false).await
}

/// [`async_tenancy`], with the opening of tenant transactions pipelined with their first
/// statement when `pipeline` is set.
pub async fn async_tenancy_with(
    rls: Rls,
    size: u32,
    pipeline: bool,
) -> tenancy_async::AsyncTenancy {
    async_tenancy_named(rls, size, pipeline, None).await
}

/// [`async_tenancy_with`], whose sessions carry `application_name` when given, so that a test
/// can find its own pool's sessions in `pg_stat_activity` among those of the tests beside it.
pub async fn async_tenancy_named(
    rls: Rls,
    size: u32,
    pipeline: bool,
    application_name: Option<&str>,
) -> tenancy_async::AsyncTenancy {
    let f = rls.fixture();
    let admin_url =
        f.db.create_admin_login("tenancy_test_admin", "test-admin-password")
            .expect("admin login");
    let login_url = match application_name {
        None => f.login_url.clone(),
        Some(name) => {
            let separator = if f.login_url.contains('?') { '&' } else { '?' };
            format!("{}{separator}application_name={name}", f.login_url)
        }
    };
    tenancy_async::AsyncTenancy::builder(&login_url)
        .admin_url(&admin_url)
        .max_size(size)
        .connection_timeout(std::time::Duration::from_secs(20))
        .config(tenancy_foundation::config())
        .pipeline(pipeline)
        .build()
        .await
        .expect("async tenancy")
}

/// Every connection of `t`'s application pool is the login's own and carries nothing between
/// transactions (`AsyncTenancy::inspect_sessions`).
pub async fn assert_async_sessions_clean(t: &tenancy_async::AsyncTenancy, context: &str) {
    let sessions = t.inspect_sessions().await.expect("inspect sessions");
    assert!(!sessions.is_empty());
    for session in sessions {
        assert_eq!(session.current_user, LOGIN_ROLE, "{context}");
        assert!(session.is_clean(), "{context}: {session:?}");
    }
}

/// The titles of `posts` a tenant sees, oldest id first, through a typed async query.
pub async fn async_titles(t: &tenancy_async::AsyncTenancy, tenant: TenantId) -> Vec<String> {
    use diesel::prelude::*;
    t.transaction(tenant, async |tx| {
        tx.load(
            schema::posts::table
                .order(schema::posts::id)
                .select(schema::posts::title),
        )
        .await
    })
    .await
    .expect("titles")
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let db = tenancy_testing::shared().expect("start test database");
        build_fixture(db, Rls::On)
    })
}

/// A second database of the same cluster, with row level security off on every tenant
/// table (the policies stay, unenforced).
pub fn fixture_without_rls() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    static DB: OnceLock<TestDatabase> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let shared = tenancy_testing::shared().expect("start test database");
        let db = DB.get_or_init(|| TestDatabase::create_in(shared.url()).expect("second database"));
        build_fixture(db, Rls::Off)
    })
}

/// The databases of the same cluster whose policies read the native context, with row level
/// security on or off.
fn native_fixture(rls: Rls) -> &'static Fixture {
    static ON: OnceLock<Fixture> = OnceLock::new();
    static OFF: OnceLock<Fixture> = OnceLock::new();
    static ON_DB: OnceLock<TestDatabase> = OnceLock::new();
    static OFF_DB: OnceLock<TestDatabase> = OnceLock::new();
    let (fixture, db) = if rls.enforced() {
        (&ON, &ON_DB)
    } else {
        (&OFF, &OFF_DB)
    };
    fixture.get_or_init(|| {
        let shared = tenancy_testing::shared().expect("start test database");
        let db = db.get_or_init(|| TestDatabase::create_in(shared.url()).expect("native database"));
        build_fixture(db, rls)
    })
}

/// A `Tenancy` over its own pool of `size` connections, logging in as the test login role.
pub fn tenancy(size: u32) -> Tenancy {
    Rls::On.tenancy(size)
}

pub fn owner() -> PgConnection {
    Rls::On.owner()
}

/// Two fresh tenants, each with posts 1 and 2 (slugs `first`/`second`) and comments on
/// post 1, inserted as the owner. Both tenants use the same ids on purpose: a missing tenant
/// filter shows up as rows of the other tenant.
pub fn two_tenants() -> (TenantId, TenantId) {
    seed_two_tenants(&mut owner())
}

fn seed_two_tenants(owner: &mut PgConnection) -> (TenantId, TenantId) {
    let a = TenantId::new_v7();
    let b = TenantId::new_v7();
    for (tenant, label) in [(a, "a"), (b, "b")] {
        let tenant = tenant.as_uuid();
        let slug = tenant.simple();
        owner
            .batch_execute(&format!(
                "INSERT INTO tenants (id, slug, name) VALUES ('{tenant}', 'test-{slug}', 'tenant {label}');
                 INSERT INTO posts VALUES ('{tenant}', 1, '{label} one', 'first', 1), ('{tenant}', 2, '{label} two', 'second', NULL);
                 INSERT INTO comments VALUES ('{tenant}', 1, 1, '{label} comment');"
            ))
            .expect("seed tenant");
    }
    (a, b)
}

/// Records what a reliability test did (cases run, transactions, faults injected, ...) for
/// `RELIABILITY.md`. Written only when `TENANCY_RELIABILITY_DIR` is set, which the report
/// command (`cargo run -p xtask -- reliability`) does; a plain `cargo test` writes nothing.
/// Call it after the test's assertions, so that a failed test records nothing and the
/// report counts it from the test harness's own summary instead.
///
/// `id` is the suite's name (`"pool-hygiene"`), `test` a short name unique within it.
pub fn record_counts(id: &str, test: &str, counts: &[(&str, u64)]) {
    let Some(dir) = std::env::var_os("TENANCY_RELIABILITY_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("create TENANCY_RELIABILITY_DIR");
    let counts: serde_json::Map<String, serde_json::Value> = counts
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    let record = serde_json::json!({ "id": id, "test": test, "counts": counts });
    let file: String = format!("{id}-{test}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::fs::write(dir.join(format!("{file}.json")), record.to_string())
        .expect("write reliability record");
}

/// Creates a tenant-visible prompt named `name` in `who`'s personal workspace, through the
/// public API as `who`: the write the reliability suites repeat and then look for.
pub fn create_resource(
    t: &Tenancy,
    who: tenancy_foundation::seed::PersonalTenant,
    name: &str,
) -> Result<tenancy_foundation::models::Resource, tenancy_schema::Error> {
    use tenancy_foundation::envelope::{self, NewResourceSpec};
    use tenancy_foundation::models::{ResourceKind, ResourceVisibility};
    t.transaction_as(who.tenant, who.principal, |tx| {
        envelope::create(
            tx,
            &NewResourceSpec {
                workspace: who.workspace,
                kind: ResourceKind::Prompt,
                name,
                visibility: ResourceVisibility::Tenant,
                data: &serde_json::json!({}),
            },
        )
    })
}

/// Whether raw SQL was refused, before it was sent, for ending the transaction tenancy opened
/// or opening another (`SqlTextError::TransactionControl`).
pub fn ended_refused<T>(r: &Result<T, tenancy_schema::Error>) -> bool {
    matches!(
        r,
        Err(tenancy_schema::Error::UnsafeSql(
            tenancy_schema::SqlTextError::TransactionControl(_)
        ))
    )
}
