//! An application on the core alone: the core's migrations, its own tenant table with the
//! tenant policies, and tenant transactions without the foundation schema (no `tenants`
//! table, so the core's status hook refuses no tenant). Then the foundation joins the same
//! database later, out of version order as `tenancy init --foundation` brings it to an
//! application that started without it, and its status hook takes over.

#![allow(missing_docs)] // reason: the items `diesel::table!` generates in a test binary

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use tenancy_schema::{Error, TenantId};
use tenancy_testing::TestDatabase;

#[tenancy_schema::tenant_scoped]
diesel::table! {
    notes (id) {
        id -> Int4,
        body -> Text,
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

fn versions(files: &[tenancy_schema::migrations::MigrationFiles]) -> Vec<String> {
    let mut v: Vec<String> = files
        .iter()
        .map(tenancy_schema::migrations::MigrationFiles::version)
        .collect();
    v.sort();
    v
}

#[test]
fn an_application_runs_on_the_core_alone_and_takes_the_foundation_later() {
    let shared = tenancy_testing::shared().expect("test database server");
    let db = TestDatabase::create_in(shared.url()).expect("fresh database");
    let mut owner = PgConnection::establish(db.url()).unwrap();

    let applied = tenancy_schema::run_migrations(&mut owner).unwrap();
    assert_eq!(applied, versions(tenancy_schema::migrations::CORE));
    assert_eq!(
        count(
            &mut owner,
            "SELECT count(*) AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace
               AND relname NOT LIKE '%diesel_schema_migrations%'"
        ),
        0,
        "the core creates nothing in public"
    );

    owner
        .batch_execute(&format!(
            "CREATE TABLE notes (tenant_id uuid NOT NULL, id int NOT NULL, body text NOT NULL,
                                 PRIMARY KEY (tenant_id, id));
             GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO tenancy_app;
             {}",
            tenancy_schema::policy::tenant_policies("notes", "tenant_id", "tenancy_app")
        ))
        .unwrap();
    let app_url = db
        .create_app_login("core_alone_login", "core-alone-password")
        .unwrap();
    let tenancy = db.tenancy(&app_url, 2).unwrap();
    let (a, b) = (TenantId::new_v7(), TenantId::new_v7());
    for (tenant, body) in [(a, "a's note"), (b, "b's note")] {
        tenancy
            .transaction(tenant, |tx| {
                tx.insert_into(notes::table)
                    .values((notes::id.eq(1), notes::body.eq(body)))
                    .execute()
            })
            .unwrap();
    }
    // With row level security on, and again with it off on the table: tenancy's own scoping
    // keeps each tenant to its rows.
    for mode in ["enforce", "shadow"] {
        owner
            .batch_execute(&format!("SELECT tenancy.set_rls_mode('{mode}')"))
            .unwrap();
        for (tenant, body) in [(a, "a's note"), (b, "b's note")] {
            let seen: Vec<String> = tenancy
                .transaction(tenant, |tx| tx.load(notes::table.select(notes::body)))
                .unwrap();
            assert_eq!(seen, vec![body.to_owned()], "{mode}");
        }
    }
    owner
        .batch_execute("SELECT tenancy.set_rls_mode('enforce')")
        .unwrap();

    // The foundation's migrations are older than some of the core's: they run after them
    // here, and its status hook then refuses a tenant its `tenants` table does not have.
    let applied = tenancy_foundation::run_migrations(&mut owner).unwrap();
    assert_eq!(
        applied,
        versions(tenancy_foundation::migrations::FOUNDATION)
    );
    let err = tenancy
        .transaction(a, |tx| {
            tx.load::<_, String>(notes::table.select(notes::body))
        })
        .unwrap_err();
    assert!(matches!(err, Error::TenantNotFound(t) if t == a), "{err}");

    owner.batch_execute("DROP TABLE notes").unwrap();
    let reverted = tenancy_foundation::migrations::revert_all_migrations(&mut owner).unwrap();
    assert_eq!(
        reverted.len(),
        tenancy_foundation::migrations::MIGRATIONS.files().len()
    );
}
