//! Migrations on fresh databases: run, run again (no-op), revert all (nothing left), redo;
//! the same with the real diesel CLI when it is installed; and `schema.rs` drift, checked
//! against the live catalog and, with the CLI, byte for byte against `diesel print-schema`.

#![allow(clippy::items_after_statements, clippy::too_many_lines)] // reason: row structs next to their catalog query read best

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
// The foundation's tables register themselves in the registry when its crate is linked.
use tenancy_foundation::migrations::{MIGRATIONS, revert_all_migrations, run_migrations};
use tenancy_schema::TableKind;
use tenancy_testing::TestDatabase;

/// Reverting drops the roles when no other database uses them: one test at a time here.
static SERIAL: Mutex<()> = Mutex::new(());

fn fresh() -> TestDatabase {
    let shared = tenancy_testing::shared().expect("test database server");
    TestDatabase::create_in(shared.url()).expect("fresh database")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
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

/// Objects of the foundation schema still in the database (diesel's own bookkeeping table
/// excluded).
fn leftovers(conn: &mut PgConnection) -> i64 {
    count(
        conn,
        "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'tenancy')
              + (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace
                   AND relname NOT LIKE '%diesel_schema_migrations%')
              + (SELECT count(*) FROM pg_type WHERE typnamespace = 'public'::regnamespace
                   AND typname NOT LIKE '%diesel_schema_migrations%')
              + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace) AS n",
    )
}

/// The roles are either gone or still used by another database of the cluster.
fn roles_dropped_unless_used_elsewhere(conn: &mut PgConnection) {
    let stray = count(
        conn,
        "SELECT count(*) AS n FROM pg_roles r
         WHERE r.rolname IN ('tenancy_app', 'tenancy_admin')
           AND shobj_description(r.oid, 'pg_authid') = 'tenancy: created by migrations'
           AND NOT EXISTS (SELECT 1 FROM pg_shdepend d
                           WHERE d.refobjid = r.oid AND d.dbid <> (SELECT oid FROM pg_database WHERE datname = current_database()))",
    );
    assert_eq!(
        stray, 0,
        "a role created by the migrations outlived revert --all unused"
    );
}

#[test]
fn migrations_run_revert_redo_and_rerun_cleanly() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let db = fresh();
    let mut conn = PgConnection::establish(db.url()).unwrap();
    let versions: Vec<String> = {
        use diesel::migration::MigrationSource;
        let mut v: Vec<String> = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
            .unwrap()
            .iter()
            .map(|m| m.name().version().to_string())
            .collect();
        v.sort();
        v
    };
    assert!(versions.len() >= 4, "{versions:?}");

    assert_eq!(run_migrations(&mut conn).unwrap(), versions, "fresh run");
    assert_eq!(
        run_migrations(&mut conn).unwrap(),
        Vec::<String>::new(),
        "second run is a no-op"
    );
    // The default tenant exists.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM tenants WHERE id = '00000000-0000-0000-0000-000000000000' AND slug = '_default'"
        ),
        1
    );

    let mut reverted = revert_all_migrations(&mut conn).unwrap();
    reverted.reverse();
    assert_eq!(reverted, versions, "revert all, newest first");
    assert_eq!(
        leftovers(&mut conn),
        0,
        "revert --all leaves no tenancy object"
    );
    roles_dropped_unless_used_elsewhere(&mut conn);

    // Redo: run again on the reverted database.
    assert_eq!(
        run_migrations(&mut conn).unwrap(),
        versions,
        "run after revert"
    );
    let roles = count(
        &mut conn,
        "SELECT count(*) AS n FROM pg_roles WHERE rolname IN ('tenancy_app', 'tenancy_admin')",
    );
    assert_eq!(roles, 2);
}

/// Each directory of the repository's `migrations/` (what the diesel CLI runs here) is in
/// exactly one embedded set, the core's or the foundation's, with the same files.
#[test]
fn every_migration_directory_is_embedded_in_exactly_one_set() {
    let mut on_disk: Vec<String> = std::fs::read_dir(repo().join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let core: Vec<&str> = tenancy_schema::migrations::CORE
        .iter()
        .map(|f| f.name)
        .collect();
    let foundation: Vec<&str> = tenancy_foundation::migrations::FOUNDATION
        .iter()
        .map(|f| f.name)
        .collect();
    assert!(
        core.iter().all(|c| !foundation.contains(c)),
        "in both sets: {core:?} / {foundation:?}"
    );
    let embedded: Vec<&str> = MIGRATIONS.files().iter().map(|f| f.name).collect();
    assert_eq!(
        embedded, on_disk,
        "migrations/ and the embedded sets differ"
    );
    for files in MIGRATIONS.files() {
        let dir = repo().join("migrations").join(files.name);
        assert_eq!(
            std::fs::read_to_string(dir.join("up.sql")).unwrap(),
            files.up
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("down.sql")).unwrap(),
            files.down
        );
    }
}

/// Personal tenants made before `tenants.personal_user_id` existed are recorded by the
/// migration that adds it, by the strictest form of the rule seeding used to find them: the
/// slug made from the tenant's id, and an active owner membership with a personal workspace,
/// created in the tenant's own transaction. A tenant that dressed up a membership of another
/// user that way afterwards (invited, turned active, given a personal workspace) is recorded
/// for its own user alone, and the other user for no tenant or its own.
#[test]
fn existing_personal_tenants_are_recorded_strictly() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let db = fresh();
    let mut conn = PgConnection::establish(db.url()).unwrap();
    run_migrations(&mut conn).unwrap();
    let added = tenancy_foundation::migrations::FOUNDATION
        .iter()
        .find(|f| {
            f.name
                .ends_with("_personal_tenant_recorded_and_invitations_held")
        })
        .expect("the migration");
    conn.batch_execute(added.down).unwrap();
    conn.batch_execute(&format!(
        "DELETE FROM __diesel_schema_migrations WHERE version = '{}'",
        added.version()
    ))
    .unwrap();

    // What seeding made: all of it in one transaction.
    let personal = |conn: &mut PgConnection, label: &str| {
        let (user, tenant, principal) = (
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
        );
        let slug = format!("personal-{}", &tenant.simple().to_string()[20..]);
        conn.batch_execute(&format!(
            "BEGIN;
             INSERT INTO users (id, email, display_name) VALUES ('{user}', '{label}-{user}@example.test', '{label}');
             INSERT INTO tenants (id, slug, name) VALUES ('{tenant}', '{slug}', 'Personal Org');
             INSERT INTO principals (tenant_id, id, kind, user_id, display_name)
               VALUES ('{tenant}', '{principal}', 'user', '{user}', '{label}');
             INSERT INTO org_members (tenant_id, user_id, principal_id, role, status)
               VALUES ('{tenant}', '{user}', '{principal}', 'owner', 'active');
             INSERT INTO workspaces (tenant_id, name, kind, owner_principal_id)
               VALUES ('{tenant}', 'Personal', 'personal', '{principal}');
             COMMIT;"
        ))
        .unwrap();
        (user, tenant)
    };
    // What another tenant's SQL could add afterwards, each step in a transaction of its own.
    let dress_up = |conn: &mut PgConnection, tenant: uuid::Uuid, user: uuid::Uuid| {
        let principal = uuid::Uuid::now_v7();
        conn.batch_execute(&format!(
            "INSERT INTO principals (tenant_id, id, kind, user_id, display_name)
               VALUES ('{tenant}', '{principal}', 'user', '{user}', 'Invited');
             INSERT INTO org_members (tenant_id, user_id, principal_id, role, status)
               VALUES ('{tenant}', '{user}', '{principal}', 'owner', 'invited');"
        ))
        .unwrap();
        conn.batch_execute(&format!(
            "UPDATE org_members SET status = 'active' WHERE principal_id = '{principal}'"
        ))
        .unwrap();
        conn.batch_execute(&format!(
            "INSERT INTO workspaces (tenant_id, name, kind, owner_principal_id)
               VALUES ('{tenant}', 'Personal', 'personal', '{principal}')"
        ))
        .unwrap();
    };
    let (attacker, attackers) = personal(&mut conn, "attacker");
    let (user, own) = personal(&mut conn, "user");
    let victim = uuid::Uuid::now_v7();
    conn.batch_execute(&format!(
        "INSERT INTO users (id, email, display_name) VALUES ('{victim}', 'victim-{victim}@example.test', 'Victim')"
    ))
    .unwrap();
    dress_up(&mut conn, attackers, victim);
    dress_up(&mut conn, attackers, user);

    assert_eq!(
        run_migrations(&mut conn).unwrap(),
        [added.version()],
        "the migration again"
    );
    #[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
    struct Recorded {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: uuid::Uuid,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        personal_user_id: uuid::Uuid,
    }
    let mut recorded: Vec<Recorded> = diesel::sql_query(
        "SELECT id, personal_user_id FROM tenants WHERE personal_user_id IS NOT NULL",
    )
    .load(&mut conn)
    .unwrap();
    recorded.sort();
    let mut expected = vec![
        Recorded {
            id: attackers,
            personal_user_id: attacker,
        },
        Recorded {
            id: own,
            personal_user_id: user,
        },
    ];
    expected.sort();
    assert_eq!(recorded, expected);
}

#[test]
fn a_pre_existing_privileged_app_role_is_refused() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let db = fresh();
    let mut conn = PgConnection::establish(db.url()).unwrap();
    // Make sure the role exists, then give it BYPASSRLS for the duration of the test.
    run_migrations(&mut conn).unwrap();
    revert_all_migrations(&mut conn).unwrap();
    conn.batch_execute(
        "DO $$ BEGIN
           IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenancy_app') THEN
             CREATE ROLE tenancy_app NOLOGIN;
           END IF;
         END $$;
         ALTER ROLE tenancy_app BYPASSRLS;",
    )
    .unwrap();
    let err = run_migrations(&mut conn).unwrap_err();
    conn.batch_execute("ALTER ROLE tenancy_app NOBYPASSRLS")
        .unwrap();
    assert!(err.to_string().contains("SUPERUSER or BYPASSRLS"), "{err}");
    assert_eq!(
        leftovers(&mut conn),
        0,
        "the failed migration left nothing behind"
    );
    run_migrations(&mut conn).unwrap();
}

/// A database whose tenancy migrations are older than the library is refused when the
/// `Tenancy` is built, with the fix, instead of failing the end of every transaction.
#[test]
fn migrations_older_than_the_library_are_refused_at_build() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let db = fresh();
    let mut conn = PgConnection::establish(db.url()).unwrap();
    run_migrations(&mut conn).unwrap();
    let login = db
        .create_app_login("tenancy_behind_login", "behind")
        .unwrap();
    db.tenancy_builder(&login)
        .unwrap()
        .max_size(1)
        .build()
        .expect("current migrations");
    // As before the migration that added it.
    conn.batch_execute("DROP FUNCTION tenancy.check_session()")
        .unwrap();
    let err = db
        .tenancy_builder(&login)
        .unwrap()
        .max_size(1)
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, tenancy_schema::Error::MigrationsBehind { missing } if missing == "tenancy.check_session()"),
        "{err}"
    );
    assert!(err.to_string().contains("apply the migrations"), "{err}");
}

/// `tenancy-foundation/src/schema.rs` against the catalog of a freshly migrated database: every
/// classified table, its columns in order with their Diesel types and nullability, its
/// primary key, and the indexes, unique keys and foreign keys the classification declares.
#[test]
fn schema_rs_matches_the_migrated_catalog() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let db = fresh();
    let mut conn = PgConnection::establish(db.url()).unwrap();
    run_migrations(&mut conn).unwrap();

    #[derive(QueryableByName)]
    struct Col {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        column_name: String,
        #[diesel(sql_type = Text)]
        diesel_type: String,
    }
    // The mapping `diesel print-schema` applies to the types the migrations use.
    let cols: Vec<Col> = diesel::sql_query(
        "SELECT c.relname::text AS table_name, a.attname::text AS column_name,
           CASE WHEN a.attnotnull THEN t ELSE 'Nullable<' || t || '>' END AS diesel_type
         FROM pg_class c
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         JOIN pg_type ty ON ty.oid = a.atttypid
         CROSS JOIN LATERAL (SELECT CASE
             WHEN ty.typtype = 'e' THEN replace(initcap(replace(ty.typname, '_', ' ')), ' ', '')
             WHEN ty.typname = '_text' THEN 'Array<Nullable<Text>>'
             ELSE CASE ty.typname
               WHEN 'uuid' THEN 'Uuid' WHEN 'text' THEN 'Text' WHEN 'int4' THEN 'Int4'
               WHEN 'int8' THEN 'Int8' WHEN 'bool' THEN 'Bool' WHEN 'bytea' THEN 'Bytea'
               WHEN 'jsonb' THEN 'Jsonb' WHEN 'timestamptz' THEN 'Timestamptz'
               WHEN 'varchar' THEN 'Varchar' ELSE 'unmapped:' || ty.typname END
           END AS t) AS m
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
           AND c.relname NOT LIKE '%diesel_schema_migrations%'
         ORDER BY c.relname, a.attnum",
    )
    .load(&mut conn)
    .unwrap();
    let mut live: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for c in cols {
        live.entry(c.table_name)
            .or_default()
            .push((c.column_name, c.diesel_type));
    }

    let compiled = tenancy_schema::registry();
    let compiled_names: Vec<&str> = compiled.iter().map(|m| m.table).collect();
    let live_names: Vec<&str> = live.keys().map(String::as_str).collect();
    assert_eq!(
        compiled_names, live_names,
        "tables in schema.rs vs the database"
    );

    for m in &compiled {
        let expected: Vec<(String, String)> = m
            .columns
            .iter()
            .zip(m.column_types)
            .map(|(c, t)| ((*c).to_owned(), (*t).to_owned()))
            .collect();
        assert_eq!(live[m.table], expected, "columns of {}", m.table);

        #[derive(QueryableByName)]
        struct Key {
            #[diesel(sql_type = Text)]
            kind: String,
            #[diesel(sql_type = Text)]
            columns: String,
            #[diesel(sql_type = Text)]
            target: String,
        }
        let keys: Vec<Key> = diesel::sql_query(format!(
            "SELECT CASE WHEN con.contype = 'p' THEN 'primary' WHEN con.contype = 'u' THEN 'unique' ELSE 'foreign' END AS kind,
                    (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS columns,
                    CASE WHEN con.contype = 'f' THEN con.confrelid::regclass::text ELSE '' END AS target
             FROM pg_constraint con
             WHERE con.conrelid = 'public.{}'::regclass AND con.contype IN ('p', 'u', 'f')
             UNION ALL
             SELECT CASE WHEN i.indisunique THEN 'unique' ELSE 'index' END,
                    coalesce((SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum), '(expression)'),
                    ''
             FROM pg_index i
             WHERE i.indrelid = 'public.{}'::regclass AND NOT i.indisprimary
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            m.table, m.table
        ))
        .load(&mut conn)
        .unwrap();
        let has = |kind: &str, cols: &[&str], target: &str| {
            keys.iter()
                .any(|k| k.kind == kind && k.columns == cols.join(",") && k.target == target)
        };
        assert!(
            has("primary", m.primary_key, ""),
            "primary key of {}",
            m.table
        );
        for u in m.uniques {
            assert!(
                has("unique", u, ""),
                "unique {u:?} of {} not in the database",
                m.table
            );
        }
        for i in m.indexes {
            assert!(
                has("index", i, "") || has("unique", i, ""),
                "index {i:?} of {} not in the database",
                m.table
            );
        }
        for fk in m.foreign_keys {
            assert!(
                has("foreign", fk.columns, fk.references),
                "foreign key {fk:?} of {} not in the database",
                m.table
            );
        }
        if m.kind == TableKind::TenantScoped {
            assert_eq!(m.primary_key[0], "tenant_id", "{}", m.table);
        }
    }

    // Every composite foreign key between tenant tables is declared in schema.rs, so the
    // manifest (and `tenancy check`) knows about it.
    #[derive(QueryableByName)]
    struct Fk {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        columns: String,
        #[diesel(sql_type = Bool)]
        composite: bool,
    }
    let fks: Vec<Fk> = diesel::sql_query(
        "SELECT con.conrelid::regclass::text AS table_name,
                (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS columns,
                cardinality(con.conkey) > 1 AS composite
         FROM pg_constraint con WHERE con.contype = 'f' AND con.connamespace = 'public'::regnamespace",
    )
    .load(&mut conn)
    .unwrap();
    for fk in fks.iter().filter(|f| f.composite) {
        let m = tenancy_schema::lookup(&fk.table_name).expect("classified");
        assert!(
            m.foreign_keys
                .iter()
                .any(|d| d.columns.join(",") == fk.columns),
            "composite foreign key {}({}) is not declared in schema.rs",
            fk.table_name,
            fk.columns
        );
    }
}

fn run_cli(cli: &Path, args: &[&str], url: &str, config: &Path) -> String {
    let out = Command::new(cli)
        .args(args)
        .arg("--database-url")
        .arg(url)
        .arg("--config-file")
        .arg(config)
        .current_dir(repo())
        .output()
        .expect("run diesel");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "diesel {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn diesel_cli_runs_redoes_and_reverts_and_print_schema_matches_schema_rs() {
    let Some(cli) = tenancy_testing::diesel_cli_for_test() else {
        eprintln!("diesel CLI not installed: skipped (the catalog drift test still ran)");
        return;
    };
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let db = fresh();
    // The repository's own diesel.toml, as users have one (print_schema with a file, which the
    // CLI regenerates after every run, redo and revert), except that the file is a scratch one:
    // the test never rewrites the repository's schema.rs.
    let dir = tempfile::tempdir().unwrap();
    let config = tenancy_testing::scratch_diesel_config(&repo(), dir.path()).unwrap();
    assert!(
        !std::fs::read_to_string(&config)
            .unwrap()
            .contains("patch_file"),
        "no patch to go stale"
    );
    run_cli(&cli, &["migration", "run"], db.url(), &config);
    run_cli(&cli, &["migration", "redo", "--all"], db.url(), &config);
    let again = run_cli(&cli, &["migration", "run"], db.url(), &config);
    assert!(
        !again.contains("Running migration"),
        "second run must be a no-op: {again}"
    );
    run_cli(&cli, &["migration", "revert", "--all"], db.url(), &config);
    let mut conn = PgConnection::establish(db.url()).unwrap();
    assert_eq!(leftovers(&mut conn), 0);
    run_cli(&cli, &["migration", "run"], db.url(), &config);

    let printed = run_cli(
        &cli,
        &["print-schema"],
        db.url(),
        &repo().join("diesel.toml"),
    );
    // `tenancy print-schema`: the printed schema, classified as the database implies.
    let derived = tenancy_schema::check::derive_classification(
        &mut conn,
        &tenancy_schema::check::CheckOptions::default(),
    )
    .unwrap();
    let printed = tenancy_cli::print_schema::classify(&printed, &derived);
    let committed =
        std::fs::read_to_string(repo().join("tenancy-foundation/src/schema.rs")).unwrap();
    assert!(
        printed == committed,
        "tenancy-foundation/src/schema.rs drifted from the migrations: run `diesel migration run`, \
         then `tenancy print-schema`, and commit the result"
    );
}
