//! The README's first command: `cargo run -p tenancy-schema --example quickstart`.
//!
//! Starts a throwaway PostgreSQL cluster (or uses `DATABASE_URL`), creates a tenant-scoped
//! table with row level security, and shows two tenants that cannot see each other.

#![allow(missing_docs, clippy::items_after_statements)] // reason: `diesel::table!` generates undocumented public items; row structs sit next to their query
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use tenancy_schema::embedded::TestDatabase;
use tenancy_schema::{Error, Tenancy, TenantId};

#[tenancy_schema::tenant_scoped(unique(title))]
diesel::table! {
    notes (id) {
        id -> Int4,
        title -> Text,
    }
}

#[tenancy_schema::tenant_scoped]
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = notes)]
struct Note {
    id: i32,
    title: String,
}

#[tenancy_schema::tenant_scoped]
#[derive(Insertable)]
#[diesel(table_name = notes)]
struct NewNote<'a> {
    id: i32,
    title: &'a str,
}

const SETUP: &str = "
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenancy_app') THEN
    CREATE ROLE tenancy_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenancy_admin') THEN
    CREATE ROLE tenancy_admin NOLOGIN BYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'quickstart_login') THEN
    CREATE ROLE quickstart_login LOGIN PASSWORD 'quickstart' NOSUPERUSER NOBYPASSRLS NOINHERIT;
  END IF;
END $$;
GRANT tenancy_app, tenancy_admin TO quickstart_login;
CREATE TABLE notes (tenant_id uuid NOT NULL, id int NOT NULL, title text NOT NULL,
                    PRIMARY KEY (tenant_id, id), UNIQUE (tenant_id, title));
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON notes TO tenancy_app
  USING (tenant_id = NULLIF(current_setting('tenancy.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('tenancy.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO tenancy_app;
";

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
    PgConnection::establish(db.url())?.batch_execute(SETUP)?;
    let tenancy = Tenancy::connect(&db.url_for("quickstart_login", "quickstart"), 2)?;

    let (acme, globex) = (TenantId::new_v7(), TenantId::new_v7());
    for (tenant, name) in [(acme, "acme"), (globex, "globex")] {
        tenancy.transaction(tenant, |tx| {
            tx.insert_batch(
                notes::table,
                [
                    NewNote {
                        id: 1,
                        title: &format!("{name}: roadmap"),
                    },
                    NewNote {
                        id: 2,
                        title: &format!("{name}: payroll"),
                    },
                ],
            )
        })?;
    }

    let seen: Vec<Note> = tenancy.transaction(acme, |tx| {
        // `or_filter` cannot widen the scope: the tenant filter sits on the table itself.
        tx.load(
            notes::table
                .filter(notes::id.eq(1))
                .or_filter(notes::id.eq(2))
                .select(Note::as_select())
                .order(notes::id),
        )
    })?;
    println!("acme sees {} notes:", seen.len());
    for note in &seen {
        println!(
            "  #{} {:?} (tenant {})",
            note.id, note.title, note.tenant_id
        );
    }
    assert!(
        seen.iter()
            .all(|n| n.tenant_id == acme && n.title.starts_with("acme"))
    );

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let raw: Vec<Count> = tenancy.transaction(globex, |tx| {
        tx.load_sql(diesel::sql_query("SELECT count(*) AS n FROM notes"))
    })?;
    println!(
        "raw SQL in globex's transaction counts {} notes (row level security)",
        raw[0].n
    );
    let none: Vec<Count> =
        tenancy.system(|sys| sys.load_sql(diesel::sql_query("SELECT count(*) AS n FROM notes")))?;
    println!("raw SQL without a tenant counts {} notes", none[0].n);

    let moved = tenancy.transaction(acme, |tx| {
        tx.execute(diesel::sql_query(format!(
            "UPDATE notes SET tenant_id = '{}'",
            globex.as_uuid()
        )))
    });
    match moved {
        Err(Error::Query(e)) => println!("moving acme's notes to globex is rejected: {e}"),
        other => return Err(format!("cross-tenant write was not rejected: {other:?}").into()),
    }
    assert_eq!((raw[0].n, none[0].n), (2, 0));
    println!("ok: each tenant saw only its own rows");
    Ok(())
}
