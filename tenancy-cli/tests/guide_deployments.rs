//! docs/guides/new-tenant-model.md, run end to end: the guide quotes `deployments.rs`
//! verbatim, its `tenancy new-table` command (taken from the guide's text) writes a migration
//! that applies, `tenancy_schema::check` finds nothing wrong with the table as this binary's
//! model classifies it, and the model isolates two tenants.

#![allow(clippy::items_after_statements, missing_docs)] // reason: row structs next to their query; the guide's model is application code, documented by the guide

include!("../../docs/guides/deployments.rs");

use std::path::Path;
use std::process::Command;

use diesel::connection::SimpleConnection;
use tenancy_foundation::run_migrations;
use tenancy_foundation::seed::seed_personal_tenant;
use tenancy_testing::TestDatabase;

fn guide() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/guides/new-tenant-model.md"),
    )
    .expect("read the guide")
}

#[test]
fn the_guide_quotes_the_compiled_model_verbatim() {
    let code = include_str!("../../docs/guides/deployments.rs");
    assert!(
        guide().contains(code),
        "docs/guides/new-tenant-model.md must quote docs/guides/deployments.rs as is"
    );
}

/// The arguments of the guide's `tenancy new-table` command.
fn new_table_args() -> Vec<String> {
    let text = guide();
    let start = text
        .find("tenancy new-table")
        .expect("the guide runs tenancy new-table");
    let mut command = String::new();
    for line in text[start..].lines() {
        let (part, continues) = line.strip_suffix('\\').map_or((line, false), |l| (l, true));
        command.push_str(part);
        command.push(' ');
        if !continues {
            break;
        }
    }
    command
        .split_whitespace()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_guide_runs_end_to_end() {
    let shared = tenancy_testing::shared().expect("test database server");
    let db = TestDatabase::create_in(shared.url()).expect("fresh database");
    let mut owner = PgConnection::establish(db.url()).expect("connect");
    run_migrations(&mut owner).expect("migrate");

    // Step 2: the enum, then the table's migration exactly as the guide generates it.
    owner
        .batch_execute(
            "CREATE TYPE deployment_status AS ENUM ('pending', 'running', 'succeeded', 'failed')",
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tenancy"))
        .args(new_table_args())
        .arg("--migrations-dir")
        .arg(dir.path())
        .output()
        .expect("run tenancy new-table");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let migration = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let up = std::fs::read_to_string(migration.join("up.sql")).unwrap();
    // Step 3.
    owner
        .batch_execute(&up)
        .expect("apply the generated migration");

    // Step 4, with this binary's registry, which includes the guide's model.
    let report = tenancy_schema::check::run(
        &mut owner,
        &tenancy_schema::registry(),
        &tenancy_schema::check::CheckOptions::default(),
    )
    .unwrap();
    let about: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.object.contains("deployments"))
        .map(ToString::to_string)
        .collect();
    assert!(about.is_empty(), "{about:#?}");
    assert!(!report.has_errors(), "{:#?}", report.findings);

    // The model, as two tenants.
    let login_url = db.create_app_login("guide_login", "guide").unwrap();
    let tenancy = db.tenancy(&login_url, 2).unwrap();
    let a = seed_personal_tenant(&tenancy, "guide-a@example.test", "A").unwrap();
    let b = seed_personal_tenant(&tenancy, "guide-b@example.test", "B").unwrap();
    let config = serde_json::json!({ "replicas": 2 });
    for (who, name) in [(a, "api"), (b, "api")] {
        tenancy
            .transaction(who.tenant, |tx| start(tx, who.workspace, name, &config))
            .unwrap();
    }
    let seen = tenancy
        .transaction(a.tenant, |tx| in_state(tx, DeploymentStatus::Pending))
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].tenant_id, seen[0].name.as_str()),
        (a.tenant, "api")
    );
    // A deployment of A pointing at B's workspace: the composite foreign key refuses it.
    let err = tenancy
        .transaction(a.tenant, |tx| start(tx, b.workspace, "cross", &config))
        .unwrap_err();
    assert!(err.to_string().contains("foreign key"), "{err}");
    // The unique key is per tenant: A may not reuse a name, B already has its own "api".
    let err = tenancy
        .transaction(a.tenant, |tx| start(tx, a.workspace, "api", &config))
        .unwrap_err();
    assert!(err.to_string().contains("duplicate key"), "{err}");
}
