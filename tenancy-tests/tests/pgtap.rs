//! The policy and privilege tests written with pgTAP (`tests/pgtap/*.sql`), run by
//! `pg_prove` against a throwaway database with the tenancy migrations applied.
//!
//! Needs the pgTAP extension of the server's major version and `pg_prove` (Debian/Ubuntu:
//! `postgresql-<major>-pgtap` and `libtap-parser-sourcehandler-pgtap-perl`). Without them the
//! test prints a notice and passes, unless `TENANCY_REQUIRE_PGTAP=1` (set by `.ci/run`), which
//! turns a missing tool into a failure.

mod common;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use tenancy_testing::TestDatabase;

/// Set to `1` to fail, instead of skip, when pgTAP or `pg_prove` is missing.
const REQUIRE_ENV: &str = "TENANCY_REQUIRE_PGTAP";
/// What to install when something is missing.
const INSTALL_HINT: &str = "install pgTAP and pg_prove: on Debian/Ubuntu `apt-get install \
     postgresql-<major>-pgtap libtap-parser-sourcehandler-pgtap-perl`, with <major> the \
     PostgreSQL server's major version (see /usr/lib/postgresql/)";

fn pgtap_required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v.trim() == "1")
}

/// Fails when pgTAP is required, otherwise prints why the suite is skipped.
fn skip_or_fail(reason: &str) {
    assert!(
        !pgtap_required(),
        "{REQUIRE_ENV}=1 but {reason}; {INSTALL_HINT}"
    );
    eprintln!(
        "SKIPPED: the pgTAP suite did not run: {reason}; {INSTALL_HINT} \
         (set {REQUIRE_ENV}=1 to make this a failure)"
    );
}

/// The pgTAP test files, sorted by name (their numbers give the order).
fn test_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pgtap");
    let dir = dir.canonicalize().unwrap_or(dir);
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the pgTAP test folder {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("read a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    files
}

/// The `N` of the file's `SELECT plan(N);`.
fn planned_tests(file: &Path) -> u64 {
    let text =
        fs::read_to_string(file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let plans: Vec<u64> = text
        .lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("SELECT plan(")?
                .strip_suffix(");")?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(
        plans.len(),
        1,
        "{} must contain exactly one `SELECT plan(N);` line",
        file.display()
    );
    plans[0]
}

/// Runs `pg_prove --version`; `None` when it is not installed.
fn pg_prove_version() -> Option<String> {
    match Command::new("pg_prove").arg("--version").output() {
        Ok(output) if output.status.success() => {
            Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        }
        Ok(output) => {
            eprintln!(
                "`pg_prove --version` failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            None
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => panic!("cannot run pg_prove: {e}"),
    }
}

#[derive(QueryableByName)]
struct Available {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    available: bool,
}

/// `Files=N, Tests=M` and the `Result:` line of pg_prove's summary.
#[derive(Debug, PartialEq)]
struct Summary {
    files: u64,
    tests: u64,
    result: String,
}

fn parse_summary(output: &str) -> Option<Summary> {
    let counts = output.lines().rev().find_map(|line| {
        let rest = line.trim().strip_prefix("Files=")?;
        let (files, rest) = rest.split_once(", Tests=")?;
        let tests: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some((files.parse().ok()?, tests.parse().ok()?))
    })?;
    let result = output
        .lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("Result: "))?;
    Some(Summary {
        files: counts.0,
        tests: counts.1,
        result: result.trim().to_owned(),
    })
}

fn describe(output: &Output) -> String {
    format!(
        "pg_prove exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Creates the pgTAP extension in the database of `conn` (a superuser's); without it on the
/// server, skips or fails as [`skip_or_fail`] does and returns false.
fn install_pgtap(conn: &mut PgConnection) -> bool {
    let available = diesel::sql_query(
        "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pgtap') AS available",
    )
    .get_result::<Available>(conn)
    .expect("look up the pgtap extension")
    .available;
    if !available {
        skip_or_fail("the server has no `pgtap` extension");
        return false;
    }
    conn.batch_execute("CREATE EXTENSION IF NOT EXISTS pgtap")
        .expect("CREATE EXTENSION pgtap (needs a superuser)");
    true
}

#[test]
fn pgtap_policy_and_privilege_suite_passes() {
    let files = test_files();
    assert!(!files.is_empty(), "no tests/pgtap/*.sql files found");
    let planned: u64 = files.iter().map(|f| planned_tests(f)).sum();

    let Some(version) = pg_prove_version() else {
        skip_or_fail("`pg_prove` is not on PATH");
        return;
    };

    let db = TestDatabase::start().expect("start a throwaway database");
    let mut conn = PgConnection::establish(db.url()).expect("connect as the superuser");
    tenancy_foundation::run_migrations(&mut conn).expect("run the tenancy migrations");
    if !install_pgtap(&mut conn) {
        return;
    }
    drop(conn);

    let output = Command::new("pg_prove")
        .arg("--verbose")
        .arg("--nocolor")
        .arg("--dbname")
        .arg(db.url())
        .args(&files)
        .output()
        .expect("run pg_prove");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", describe(&output));
    let summary = parse_summary(&text)
        .unwrap_or_else(|| panic!("no summary in pg_prove's output\n{}", describe(&output)));
    assert_eq!(summary.result, "PASS", "{}", describe(&output));
    let file_count = u64::try_from(files.len()).expect("file count fits in u64");
    assert_eq!(
        summary.files,
        file_count,
        "pg_prove ran a different number of files\n{}",
        describe(&output)
    );
    assert!(
        summary.tests > 0,
        "pg_prove ran no test\n{}",
        describe(&output)
    );
    assert_eq!(
        summary.tests,
        planned,
        "pg_prove ran a different number of tests than the files plan\n{}",
        describe(&output)
    );
    eprintln!(
        "{version}: {} files, {} pgTAP tests passed",
        summary.files, summary.tests
    );

    common::record_counts(
        "pgtap",
        "pg_prove",
        &[
            ("files", summary.files),
            ("tests", summary.tests),
            ("failures", 0),
        ],
    );
}

#[test]
fn parses_the_pg_prove_summary() {
    let output = "t/01.sql .. ok\nAll tests successful.\n\
                  Files=6, Tests=363,  1 wallclock secs ( 0.06 usr  0.02 sys)\nResult: PASS\n";
    assert_eq!(
        parse_summary(output),
        Some(Summary {
            files: 6,
            tests: 363,
            result: "PASS".to_owned()
        })
    );
    let failed = "Files=2, Tests=10,  0 wallclock secs\nResult: FAIL\n";
    assert_eq!(
        parse_summary(failed).map(|s| s.result),
        Some("FAIL".to_owned())
    );
    assert_eq!(parse_summary("Result: PASS\n"), None);
    assert_eq!(parse_summary("Files=x, Tests=1\nResult: PASS\n"), None);
}

/// An extension's functions that run SQL given as text (pgTAP's `is_empty`, which `EXECUTE`s
/// its argument) are refused in raw fragments like PostgreSQL's own: with row level security
/// off, `is_empty('SELECT string_agg(title, ..)::int FROM posts ..')` put another tenant's
/// titles into the error of a tenant transaction and of the system connection.
#[test]
fn extension_functions_that_run_sql_from_text_are_refused() {
    use common::Rls;
    use common::schema::categories;
    use diesel::dsl::sql;
    use diesel::prelude::*;
    use diesel::sql_types::Bool;
    use tenancy_schema::{Error, SqlTextError};

    const FRAGMENT: &str =
        "is_empty('SELECT string_agg(title, $$,$$)::int FROM posts') IS NOT NULL";
    for rls in Rls::all() {
        let (a, _) = rls.two_tenants();
        if !install_pgtap(&mut rls.owner()) {
            return;
        }
        let t = rls.tenancy(1);
        let in_tenant = t.transaction(a, |tx| {
            tx.load::<_, String>(
                categories::table
                    .filter(sql::<Bool>(FRAGMENT))
                    .select(categories::name),
            )
        });
        let on_system = t.system(|sys| {
            sys.load::<_, String>(
                categories::table
                    .filter(sql::<Bool>(FRAGMENT))
                    .select(categories::name),
            )
        });
        for r in [in_tenant, on_system] {
            assert!(
                matches!(&r, Err(Error::UnsafeSql(SqlTextError::FunctionRunsHiddenSql(f))) if f == "is_empty"),
                "{rls:?}: {r:?}"
            );
        }
    }
}
