//! Unit tests of the cluster, URL and binary-discovery helpers.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::thread;

use crate::*;
use crate::{binaries::*, database::*, error::*, process::*, run_as::*, sql::*, url::*};
use diesel::dsl::sql;
use diesel::sql_types::{Bool, Integer, Text};
use diesel::{Connection, PgConnection, RunQueryDsl};

#[test]
fn quoting_doubles_the_quote_character() {
    assert_eq!(quote_literal("it's"), "'it''s'");
    assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
}

fn select_one(url: &str) -> i32 {
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::select(sql::<Integer>("1"))
        .get_result(&mut conn)
        .expect("SELECT 1")
}

fn database_exists(admin_url: &str, name: &str) -> bool {
    let mut conn = PgConnection::establish(admin_url).expect("connect");
    diesel::select(
        sql::<Bool>("EXISTS (SELECT 1 FROM pg_database WHERE datname = ")
            .bind::<Text, _>(name)
            .sql(")"),
    )
    .get_result(&mut conn)
    .expect("query pg_database")
}

#[test]
fn embedded_cluster_answers_select_one() {
    let db = TestDatabase::start_embedded().expect("start embedded cluster");
    assert!(db.is_embedded());
    assert!(db.url().starts_with("postgres://postgres@127.0.0.1:"));
    assert!(db.url().ends_with("/tenancy"));
    assert_eq!(select_one(db.url()), 1);
}

#[test]
fn url_for_logs_in_as_another_role() {
    let db = TestDatabase::start_embedded().expect("start embedded cluster");
    let mut conn = PgConnection::establish(db.url()).expect("connect");
    diesel::sql_query("CREATE ROLE app_user LOGIN PASSWORD 'p@ss:w/rd?'")
        .execute(&mut conn)
        .expect("create role");
    let mut app = PgConnection::establish(&db.url_for("app_user", "p@ss:w/rd?"))
        .expect("connect as app_user");
    let (user, is_super): (String, bool) = diesel::select((
        sql::<Text>("current_user::text"),
        sql::<Bool>("(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"),
    ))
    .get_result(&mut app)
    .expect("current_user");
    assert_eq!(user, "app_user");
    assert!(!is_super);
}

#[test]
fn two_clusters_run_at_once_and_drop_cleans_up() {
    let first = thread::spawn(TestDatabase::start_embedded);
    let second = TestDatabase::start_embedded().expect("start second cluster");
    let first = first.join().expect("thread").expect("start first cluster");
    assert_ne!(first.url(), second.url());
    assert_eq!(select_one(first.url()), 1);
    assert_eq!(select_one(second.url()), 1);

    let Kind::Embedded(cluster) = &first.kind else {
        panic!("expected an embedded cluster");
    };
    let dir = cluster.root().to_path_buf();
    let url = first.url().to_owned();
    assert!(dir.exists());
    drop(first);
    assert!(!dir.exists(), "cluster directory removed on drop");
    assert!(
        PgConnection::establish(&url).is_err(),
        "server stopped on drop"
    );
    assert_eq!(select_one(second.url()), 1);
}

#[test]
fn create_in_makes_fresh_databases_and_drops_them() {
    let server = TestDatabase::start_embedded().expect("start embedded cluster");
    let admin = server.url();
    let a = TestDatabase::create_in(admin).expect("create first database");
    let b = TestDatabase::create_in(admin).expect("create second database");
    assert!(!a.is_embedded());
    assert_ne!(a.database_name(), b.database_name());
    assert!(a.database_name().starts_with("tenancy_test_"));
    assert!(a.url().ends_with(&format!("/{}", a.database_name())));
    assert_eq!(select_one(a.url()), 1);
    assert!(database_exists(admin, a.database_name()));
    assert!(database_exists(admin, b.database_name()));

    // An open connection must not prevent the drop (WITH (FORCE)).
    let _open = PgConnection::establish(a.url()).expect("connect");
    let (name_a, name_b) = (a.database_name().to_owned(), b.database_name().to_owned());
    drop(a);
    assert!(!database_exists(admin, &name_a));
    assert!(database_exists(admin, &name_b));
    drop(b);
    assert!(!database_exists(admin, &name_b));
}

#[test]
fn a_stopped_cluster_starts_again_on_the_same_url_with_its_data() {
    use diesel::connection::SimpleConnection;
    let db = TestDatabase::start_embedded().expect("start embedded cluster");
    let created = TestDatabase::create_in(db.url()).expect("create database");
    let err = created.restart(StopMode::Fast).expect_err("not embedded");
    assert!(
        matches!(err, EmbeddedError::NotEmbedded { action: "restart" }),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("cannot restart the database server")
    );
    assert!(matches!(
        created.stop(StopMode::Fast),
        Err(EmbeddedError::NotEmbedded { action: "stop" })
    ));
    assert!(created.is_running());
    drop(created);

    let count = || -> i64 {
        let mut conn = PgConnection::establish(db.url()).expect("connect");
        diesel::select(sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM kept)",
        ))
        .get_result(&mut conn)
        .expect("count")
    };
    PgConnection::establish(db.url())
        .expect("connect")
        .batch_execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1), (2)")
        .expect("write");
    db.stop(StopMode::Fast).expect("stop");
    assert!(!db.is_running());
    db.stop(StopMode::Fast)
        .expect("stopping a stopped server does nothing");
    assert!(PgConnection::establish(db.url()).is_err(), "server is down");
    db.start_again().expect("start again");
    db.start_again()
        .expect("starting a running server does nothing");
    assert!(db.is_running());
    assert_eq!(count(), 2);
    db.restart(StopMode::Immediate)
        .expect("restart after a crash");
    assert_eq!(count(), 2, "crash recovery kept the checkpointed rows");

    // Drop cleans up a stopped cluster too.
    db.stop(StopMode::Immediate).expect("stop");
    let Kind::Embedded(cluster) = &db.kind else {
        panic!("expected an embedded cluster");
    };
    let dir = cluster.root().to_path_buf();
    drop(db);
    assert!(!dir.exists(), "cluster directory removed on drop");
}

#[test]
fn create_in_rejects_non_postgres_urls() {
    let err = TestDatabase::create_in("mysql://localhost/db").expect_err("must fail");
    assert!(
        matches!(err, EmbeddedError::InvalidDatabaseUrl { .. }),
        "{err}"
    );
}

#[test]
fn shared_returns_one_instance() {
    let a = shared().expect("shared database");
    let b = shared().expect("shared database");
    assert!(std::ptr::eq(a, b));
    assert_eq!(select_one(a.url()), 1);
}

#[test]
fn missing_binaries_give_binaries_not_found() {
    let empty = tempfile::tempdir().expect("tempdir");
    let err = find_binaries(
        Some(empty.path().as_os_str()),
        &[empty.path().to_path_buf()],
    )
    .expect_err("nothing to find");
    assert!(matches!(err, EmbeddedError::BinariesNotFound));
    assert!(err.to_string().contains("apt-get install postgresql"));
    let err = find_binaries(None, &[]).expect_err("nothing to find");
    assert!(matches!(err, EmbeddedError::BinariesNotFound));
}

#[test]
fn too_old_binaries_are_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    for tool in ["initdb", "pg_ctl", "postgres"] {
        let path = dir.path().join(tool);
        fs::write(&path, "#!/bin/sh\necho 'postgres (PostgreSQL) 13.4'\n").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let err = find_binaries(Some(dir.path().as_os_str()), &[]).expect_err("too old");
    assert!(matches!(err, EmbeddedError::BinariesNotFound));
}

#[test]
fn installed_binaries_are_found() {
    let bins = PgBinaries::locate().expect("PostgreSQL installed");
    assert!(bins.major >= MIN_MAJOR);
    assert!(is_executable(&bins.tool("postgres")));
}

#[test]
fn run_as_switches_to_the_postgres_user_when_root() {
    if effective_uid().expect("uid") != 0 {
        return;
    }
    ensure_os_user(OS_USER).expect("postgres os user");
    let id = find_program("id").expect("id");
    let switchers = [
        find_program("runuser").map(RunAs::Runuser),
        find_program("su").map(RunAs::Su),
    ];
    for run_as in switchers.into_iter().flatten() {
        let output = run_checked(run_as.command(&id, &["-un".into()]), "id -un")
            .expect("run id as postgres");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            OS_USER,
            "{run_as:?}"
        );
    }
}

#[test]
fn parses_major_versions() {
    assert_eq!(
        parse_major("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
        Some(15)
    );
    assert_eq!(parse_major("pg_ctl (PostgreSQL) 16beta1"), Some(16));
    assert_eq!(parse_major("postgres (PostgreSQL) 9.6.24"), Some(9));
    assert_eq!(parse_major("no version here"), None);
}

#[test]
fn parses_and_renders_urls() {
    let url =
        PgUrl::parse("postgres://me:se%40cret@db.example:5433/app?sslmode=disable").expect("parse");
    assert_eq!(url.database(), "app");
    assert_eq!(
        url.with_database("other").render(),
        "postgres://me:se%40cret@db.example:5433/other?sslmode=disable"
    );
    assert_eq!(
        url.with_login("a b@c", "p:w/d?").render(),
        "postgres://a%20b%40c:p%3Aw%2Fd%3F@db.example:5433/app?sslmode=disable"
    );
    // A socket directory instead of a host: the login goes into the query.
    let socket = PgUrl::parse("postgresql:///app?host=/run/postgresql").expect("parse");
    assert_eq!(socket.database(), "app");
    assert_eq!(socket.render(), "postgresql:///app?host=/run/postgresql");
    assert_eq!(
        socket.with_login("u", "p&q").render(),
        "postgresql:///app?host=%2Frun%2Fpostgresql&user=u&password=p%26q"
    );
    assert!(matches!(
        PgUrl::parse("mysql://h/db"),
        Err(EmbeddedError::InvalidDatabaseUrl { .. })
    ));
    assert!(matches!(
        PgUrl::parse("not a url"),
        Err(EmbeddedError::InvalidDatabaseUrl { .. })
    ));
    assert_eq!(
        redact("postgres://me:secret@h/db"),
        "postgres://me:***@h/db"
    );
    assert_eq!(
        redact("postgres://me@h/db?password=x&sslmode=require"),
        "postgres://me@h/db?password=***&sslmode=require"
    );
    assert_eq!(redact("nonsense"), "<unparseable database url>");
    assert_eq!(sh_quote(OsStr::new("it's")), r"'it'\''s'");
}

#[test]
fn server_options_are_shell_quoted_c_options() {
    assert_eq!(crate::cluster::server_options(&[]), "");
    assert_eq!(
        crate::cluster::server_options(&[("shared_preload_libraries", "citus"), ("a", "it's")]),
        r" -c 'shared_preload_libraries=citus' -c 'a=it'\''s'"
    );
}

#[test]
fn citus_missing_says_where_it_looked_and_how_to_install() {
    let empty = tempfile::tempdir().expect("tempdir");
    let err = crate::citus::find_citus_control(&[empty.path().to_path_buf()], 15)
        .expect_err("no citus.control");
    assert!(
        matches!(err, EmbeddedError::CitusMissing { major: 15, .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains(&empty.path().join("extension").display().to_string()));
    assert!(
        message.contains("bash ../shared/citus/build.sh"),
        "{message}"
    );
}

#[test]
fn citus_cluster_distributes_a_table_over_both_workers() {
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::BigInt;
    let required = std::env::var("TENANCY_REQUIRE_CITUS").is_ok_and(|value| value == "1");
    if !citus_available() && !required {
        println!(
            "skipped: Citus is not installed (bash ../shared/citus/build.sh; set TENANCY_REQUIRE_CITUS=1 to fail instead)"
        );
        return;
    }
    // With Citus missing this fails with `CitusMissing`, saying how to install it.
    let citus = CitusCluster::start().expect("start a Citus cluster");
    let count = |conn: &mut PgConnection, query: &str| -> i64 {
        diesel::select(sql::<BigInt>(&format!("({query})")))
            .get_result(conn)
            .expect(query)
    };
    let mut conn = PgConnection::establish(citus.coordinator().url()).expect("connect");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM citus_get_active_worker_nodes()"
        ),
        2
    );
    conn.batch_execute(
        "CREATE TABLE t (tenant_id uuid, v int);
         SELECT create_distributed_table('t', 'tenant_id');
         INSERT INTO t SELECT gen_random_uuid(), n FROM generate_series(1, 20) AS n",
    )
    .expect("distribute and fill a table");
    assert_eq!(count(&mut conn, "SELECT count(*) FROM t"), 20);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(DISTINCT nodeport) FROM citus_shards WHERE table_name = 't'::regclass"
        ),
        2
    );
    let mut shard_ports: Vec<i32> = diesel::select(sql::<diesel::sql_types::Array<Integer>>(
        "(SELECT array_agg(DISTINCT nodeport ORDER BY nodeport) FROM citus_shards WHERE table_name = 't'::regclass)",
    ))
    .get_result(&mut conn)
    .expect("shard ports");
    shard_ports.sort_unstable();
    let mut worker_ports: Vec<i32> = citus.worker_ports().into_iter().map(i32::from).collect();
    worker_ports.sort_unstable();
    assert_eq!(shard_ports, worker_ports, "the shards live on the workers");

    // The coordinator's login helpers rely on Citus creating roles on the workers too.
    conn.batch_execute("CREATE ROLE citus_probe LOGIN")
        .expect("create role");
    let urls = citus.worker_urls();
    assert_eq!(urls.len(), 2);
    for url in &urls {
        let mut worker = PgConnection::establish(url).expect("connect to worker");
        assert_eq!(
            count(
                &mut worker,
                "SELECT count(*) FROM pg_roles WHERE rolname = 'citus_probe'"
            ),
            1,
            "role propagated to {url}"
        );
    }
    let coordinator_url = citus.coordinator().url().to_owned();
    drop(conn);
    drop(citus);
    for url in urls.iter().chain([&coordinator_url]) {
        assert!(
            PgConnection::establish(url).is_err(),
            "{url} stopped on drop"
        );
    }
}
