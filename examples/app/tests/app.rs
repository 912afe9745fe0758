//! The example application end to end, on a throwaway database migrated from its own
//! `migrations/` (tenancy's, written by `tenancy init`, and its own, interleaved), as its
//! application login: each tenant sees only its own rows, `tenancy check` knows its tables and
//! catches a weakened database, and its files are what the commands would write today.

use std::path::Path;
use std::sync::OnceLock;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use tenancy_example_app::{
    OpenTask, add_task, create_project, finish_task, open_tasks, plan_names, seed_plans,
};
use tenancy_foundation::seed::{PersonalTenant, seed_personal_tenant};
use tenancy_schema::check::{self, CheckOptions};
use tenancy_schema::{Error, Tenancy};
use tenancy_testing::TestDatabase;

fn app_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct Fixture {
    db: TestDatabase,
    tenancy: Tenancy,
}

/// One database for the binary, migrated with the diesel migrations in `migrations/`, as
/// `diesel migration run` would.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let db = TestDatabase::start().expect("database");
        let mut owner = PgConnection::establish(db.url()).expect("connect as owner");
        let migrations =
            FileBasedMigrations::from_path(app_dir().join("migrations")).expect("migrations");
        owner
            .run_pending_migrations(migrations)
            .expect("run the application's migrations");
        let login = db
            .create_app_login("example_app_login", "example")
            .expect("login");
        let tenancy = db
            .tenancy_builder(&login)
            .expect("builder")
            .config(tenancy_foundation::config())
            .max_size(2)
            .build()
            .expect("tenancy");
        Fixture { db, tenancy }
    })
}

fn tenant(t: &Tenancy, email: &str, name: &str) -> PersonalTenant {
    seed_personal_tenant(t, email, name).expect("seed a tenant")
}

#[test]
fn each_tenant_sees_only_its_own_projects_and_tasks() {
    let f = fixture();
    let t = &f.tenancy;
    let (ada, bob) = (
        tenant(t, "ada@example.com", "Ada"),
        tenant(t, "bob@example.com", "Bob"),
    );
    let plan = seed_plans(t, "example app: seed the plans").expect("plans");
    assert_eq!(t.system(plan_names).expect("plans"), ["free", "team"]);

    let alpha = t
        .transaction_as(ada.tenant, ada.principal, |tx| {
            let project = create_project(tx, "alpha", plan, ada.principal)?;
            add_task(tx, project, "write the spec")?;
            let done = add_task(tx, project, "ship")?;
            assert!(finish_task(tx, done)?);
            Ok::<_, Error>(project)
        })
        .expect("ada's project");
    t.transaction_as(bob.tenant, bob.principal, |tx| {
        let project = create_project(tx, "beta", plan, bob.principal)?;
        add_task(tx, project, "hire")
    })
    .expect("bob's project");

    let ada_open = t.transaction(ada.tenant, open_tasks).expect("ada's tasks");
    assert_eq!(
        ada_open,
        [OpenTask {
            project: "alpha".into(),
            task: "write the spec".into(),
            owner: "Ada".into(),
            plan: "team".into(),
        }]
    );
    let bob_open = t.transaction(bob.tenant, open_tasks).expect("bob's tasks");
    assert_eq!(bob_open.len(), 1);
    assert_eq!(bob_open[0].project, "beta");

    // Bob cannot hang a task on Ada's project: the composite foreign key refuses it.
    let cross = t.transaction(bob.tenant, |tx| add_task(tx, alpha, "sneak in"));
    assert!(cross.is_err(), "{cross:?}");
    // Nor finish one of hers.
    let ada_task: Vec<uuid::Uuid> = t
        .transaction(ada.tenant, |tx| {
            tx.load(
                tenancy_example_app::schema::tasks::table
                    .select(tenancy_example_app::schema::tasks::id),
            )
        })
        .expect("ids");
    for id in ada_task {
        let finished = t
            .transaction(bob.tenant, |tx| finish_task(tx, id))
            .expect("no error, nothing found");
        assert!(!finished);
    }
}

fn app_registry() -> Vec<&'static tenancy_schema::TableManifest> {
    let classified = tenancy_cli::app_schema::classified_tables(&app_dir().join("src/schema.rs"))
        .expect("schema.rs");
    let mut registry = tenancy_schema::registry();
    registry.retain(|m| !classified.iter().any(|c| c.table == m.table));
    registry.extend(classified);
    registry
}

#[test]
fn check_knows_the_applications_tables_and_catches_a_weakened_copy() {
    // A copy of the schema to weaken, so the other tests keep theirs.
    let copy = TestDatabase::start().expect("database");
    let mut conn = PgConnection::establish(copy.url()).expect("connect");
    conn.run_pending_migrations(
        FileBasedMigrations::from_path(app_dir().join("migrations")).expect("migrations"),
    )
    .expect("migrate");
    let registry = app_registry();
    let options = CheckOptions::default();
    let clean = check::run(&mut conn, &registry, &options).expect("check");
    assert!(!clean.has_errors(), "{:#?}", clean.findings);
    for table in ["plans", "projects", "tasks"] {
        assert!(
            !clean
                .findings
                .iter()
                .any(|x| x.id == "TEN050" && x.object.contains(table)),
            "{table} is classified: {:#?}",
            clean.findings
        );
    }
    conn.batch_execute(
        "DROP POLICY tenant_isolation ON tasks; REVOKE SELECT ON plans FROM tenancy_app",
    )
    .expect("weaken");
    let weakened = check::run(&mut conn, &registry, &options).expect("check");
    assert!(weakened.has_errors());
    assert!(
        weakened
            .with_id("TEN013")
            .any(|x| x.object.contains("tasks"))
    );
    assert!(
        weakened
            .with_id("TEN052")
            .any(|x| x.object.contains("plans"))
    );
}

#[test]
fn its_files_are_what_the_commands_write_today() {
    // `tenancy init` would write nothing: every tenancy migration is there, unchanged.
    for files in tenancy_foundation::migrations::MIGRATIONS.files() {
        let up =
            std::fs::read_to_string(app_dir().join("migrations").join(files.name).join("up.sql"))
                .unwrap_or_else(|e| panic!("{}: {e} (run `tenancy init`)", files.name));
        assert_eq!(
            up, files.up,
            "{} differs from tenancy's (run `tenancy init`)",
            files.name
        );
    }
    // `tenancy print-schema` would write the committed schema.rs.
    let Some(cli) = tenancy_testing::diesel_cli_for_test() else {
        eprintln!("diesel CLI not installed: the schema.rs comparison is skipped");
        return;
    };
    let f = fixture();
    let out = std::process::Command::new(cli)
        .args(["print-schema", "--database-url", f.db.url()])
        .current_dir(app_dir())
        .output()
        .expect("diesel print-schema");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).expect("utf-8");
    let mut conn = PgConnection::establish(f.db.url()).expect("connect");
    let derived =
        check::derive_classification(&mut conn, &CheckOptions::default()).expect("derive");
    let regenerated = tenancy_cli::print_schema::classify(&printed, &derived);
    let committed = std::fs::read_to_string(app_dir().join("src/schema.rs")).expect("schema.rs");
    assert!(
        regenerated == committed,
        "src/schema.rs drifted: run `diesel migration run` and `tenancy print-schema` in examples/app"
    );
}
