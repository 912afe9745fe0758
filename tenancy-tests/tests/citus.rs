//! tenancy on Citus: a coordinator and two workers started from the installed binaries, the
//! core's migrations run on the coordinator, an application's two tenant tables distributed by
//! `tenancy.distribute`, and two tenants whose rows live on different workers.
//!
//! Everything tenant-facing runs as the application's login (not a superuser, not the owner,
//! no BYPASSRLS), through the library: the typed API, raw SQL inside a tenant transaction, and
//! the attacks raw SQL could try on the context the workers verify.
//!
//! Without Citus installed the suite says so and passes, unless `TENANCY_REQUIRE_CITUS=1`
//! (set by `.ci/run`, which builds Citus first), where it fails instead.

#![allow(missing_docs)] // reason: the items `diesel::table!` generates in a test binary

use diesel::connection::SimpleConnection;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use tenancy_schema::{Error, Tenancy, TenantId};
use tenancy_testing::CitusCluster;

#[tenancy_schema::tenant_scoped]
diesel::table! {
    notes (id) {
        id -> Int4,
        body -> Text,
    }
}

#[tenancy_schema::tenant_scoped]
diesel::table! {
    comments (id) {
        id -> Int4,
        note_id -> Int4,
        body -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(notes, comments);

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName, Debug)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

#[derive(QueryableByName)]
struct Port {
    #[diesel(sql_type = Integer)]
    port: i32,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

fn lines(conn: &mut PgConnection, sql: &str) -> Vec<String> {
    diesel::sql_query(sql)
        .load::<Line>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|l| l.line)
        .collect()
}

/// The cluster, or `None` when Citus is not installed and the run does not require it.
fn cluster() -> Option<CitusCluster> {
    let required = std::env::var("TENANCY_REQUIRE_CITUS").is_ok_and(|v| v == "1");
    if !tenancy_testing::citus_available() && !required {
        eprintln!(
            "skipped: Citus is not installed (bash ../shared/citus/build.sh installs it; \
             TENANCY_REQUIRE_CITUS=1 makes this a failure)"
        );
        return None;
    }
    Some(CitusCluster::start().expect("Citus cluster"))
}

/// Two tenants whose rows live on different workers.
fn tenants_on_two_workers(owner: &mut PgConnection) -> (TenantId, TenantId) {
    let a = TenantId::from_uuid(uuid::Uuid::new_v4());
    let worker_a = worker_of_in(owner, "notes", a);
    loop {
        let b = TenantId::from_uuid(uuid::Uuid::new_v4());
        if worker_of_in(owner, "notes", b) != worker_a {
            return (a, b);
        }
    }
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

/// The tasks of the distributed plan of a statement the library writes (as
/// [`diesel::debug_query`] prints it: SQL, then its binds), prepared and explained with those
/// binds as the owner: a router plan has one.
fn task_count(owner: &mut PgConnection, shape: &str) -> usize {
    let (sql, binds) = shape.split_once(" -- binds: ").expect("debug_query output");
    // The binds here are UUIDs, integers and one string without commas.
    let args: Vec<String> = binds
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(", ")
        .map(|b| {
            if let Some(text) = b.strip_prefix('"').and_then(|b| b.strip_suffix('"')) {
                format!("'{text}'")
            } else if uuid::Uuid::parse_str(b).is_ok() {
                format!("'{b}'::uuid")
            } else {
                b.to_owned()
            }
        })
        .collect();
    owner.batch_execute("DEALLOCATE ALL").unwrap();
    owner
        .batch_execute(&format!("PREPARE shape AS {sql}"))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let plan: Vec<String> =
        diesel::sql_query(format!("EXPLAIN EXECUTE shape({})", args.join(", ")))
            .load::<PlanLine>(owner)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .into_iter()
            .map(|l| l.line)
            .collect();
    let tasks = plan
        .iter()
        .find_map(|l| l.trim().strip_prefix("Task Count: "))
        .unwrap_or_else(|| panic!("no distributed plan for {sql}:\n{}", plan.join("\n")));
    tasks.parse().expect("task count")
}

/// The core's migrations on the coordinator, as an application runs them, and the
/// application's own tables: created, granted and given the tenant policies as on one node,
/// then distributed, parent first, so that the child's composite foreign key is between
/// co-located shards. Returns the owner's connection.
fn migrate_and_distribute(db: &tenancy_testing::TestDatabase) -> PgConnection {
    let mut owner = PgConnection::establish(db.url()).unwrap();
    tenancy_schema::run_migrations(&mut owner).unwrap();

    owner
        .batch_execute(&format!(
            "CREATE TABLE notes (tenant_id uuid NOT NULL, id int NOT NULL, body text NOT NULL,
                                 deleted_at timestamptz, PRIMARY KEY (tenant_id, id));
             GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO tenancy_app, tenancy_admin;
             {}
             SELECT tenancy.distribute('notes');
             CREATE TABLE comments (tenant_id uuid NOT NULL, id int NOT NULL, note_id int NOT NULL,
                                    body text NOT NULL, PRIMARY KEY (tenant_id, id),
                                    FOREIGN KEY (tenant_id, note_id) REFERENCES notes (tenant_id, id));
             GRANT SELECT, INSERT, UPDATE, DELETE ON comments TO tenancy_app, tenancy_admin;
             {}
             SELECT tenancy.distribute('comments');",
            tenancy_schema::policy::tenant_policies("notes", "tenant_id", "tenancy_app"),
            tenancy_schema::policy::tenant_policies("comments", "tenant_id", "tenancy_app"),
        ))
        .unwrap();
    owner
}

/// An admin login `name` of `db`, and its URL. On Citus the admin login is an admin by itself
/// (BYPASSRLS, inheriting the admin role): worker connections log in as the role a `SET ROLE`
/// names, and `tenancy_admin` has no LOGIN.
fn admin_login(owner: &mut PgConnection, db: &tenancy_testing::TestDatabase, name: &str) -> String {
    owner
        .batch_execute(&format!(
            "CREATE ROLE {name} LOGIN PASSWORD 'citus-admin-password' BYPASSRLS INHERIT;
             GRANT tenancy_admin TO {name};"
        ))
        .unwrap();
    db.url_for(name, "citus-admin-password")
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one cluster, started once, walked through in order"
)]
fn two_tenants_on_two_workers_see_only_their_rows() {
    let Some(cluster) = cluster() else { return };
    let db = cluster.coordinator();
    let mut owner = migrate_and_distribute(db);
    assert_eq!(
        lines(
            &mut owner,
            "SELECT logicalrelid::text || ' ' || partmethod::text || ' ' || column_to_column_name(logicalrelid, partkey) AS line
               FROM pg_dist_partition ORDER BY 1"
        ),
        ["comments h tenant_id", "notes h tenant_id"],
        "both tenant tables are distributed by their tenant column"
    );
    assert_eq!(
        count(
            &mut owner,
            "SELECT count(DISTINCT colocationid) AS n FROM pg_dist_partition"
        ),
        1,
        "co-located"
    );
    // Every shard has every policy, each with the tenant predicate of its own.
    for table in ["notes", "comments"] {
        let per_shard = lines(
            &mut owner,
            &format!(
                "SELECT result AS line FROM run_command_on_shards('{table}', $$
                   SELECT count(*) FILTER (WHERE tenancy.carries_tenant_predicate(
                            pg_get_expr(polqual, polrelid), 'tenant_id')
                          AND tenancy.carries_tenant_predicate(
                            pg_get_expr(polwithcheck, polrelid), 'tenant_id'))
                          || '/' || count(*)
                     FROM pg_policy WHERE polrelid = '%s'::regclass $$)"
            ),
        );
        assert!(!per_shard.is_empty());
        assert!(
            per_shard.iter().all(|l| l == "2/2"),
            "{table}: {per_shard:?}"
        );
    }

    let app_url = db
        .create_app_login("citus_app", "citus-app-password")
        .unwrap();
    let admin_url = admin_login(&mut owner, db, "citus_admin");
    let tenancy = Tenancy::builder(&app_url)
        .admin_url(&admin_url)
        .max_size(2)
        .build()
        .unwrap();

    let (a, b) = tenants_on_two_workers(&mut owner);
    for (tenant, text) in [(a, "a"), (b, "b")] {
        tenancy
            .transaction(tenant, |tx| {
                tx.insert_into(notes::table)
                    .values((notes::id.eq(1), notes::body.eq(format!("{text}'s note"))))
                    .execute()?;
                tx.insert_into(comments::table)
                    .values((
                        comments::id.eq(1),
                        comments::note_id.eq(1),
                        comments::body.eq(format!("{text}'s comment")),
                    ))
                    .execute()?;
                tx.update(notes::table)
                    .filter(notes::id.eq(1))
                    .set(notes::body.eq(format!("{text}'s note, edited")))
                    .execute()
            })
            .unwrap();
    }
    // The rows are where Citus routed them: each tenant's on its own worker only.
    for (tenant, url) in [(a, 0usize), (b, 1usize)] {
        let port = worker_of_in(&mut owner, "notes", tenant);
        for (i, worker_url) in cluster.worker_urls().iter().enumerate() {
            let mut worker = PgConnection::establish(worker_url).unwrap();
            // Citus hides shards from other clients' catalog queries.
            worker
                .batch_execute("SET citus.show_shards_for_app_name_prefixes = '*'")
                .unwrap();
            let shard_rows = lines(
                &mut worker,
                &format!(
                    "SELECT coalesce(string_agg(n::text, ','), '') AS line FROM (
                       SELECT (xpath('/row/c/text()', query_to_xml(format(
                                 'SELECT count(*) AS c FROM %I WHERE tenant_id = %L',
                                 c.relname, '{}'), false, true, '')))[1]::text::int AS n
                         FROM pg_class c
                        WHERE c.relname ~ '^notes_[0-9]+$' AND c.relkind = 'r') s WHERE n > 0",
                    tenant.as_uuid()
                ),
            );
            let here = cluster.worker_ports()[i] == u16::try_from(port).unwrap();
            assert_eq!(shard_rows, [if here { "1" } else { "" }], "tenant {url}");
        }
    }

    // Through the library, with row level security on and (for the compile-time layer) off:
    // each tenant reads its own rows of both tables, joined.
    for mode in ["enforce", "shadow"] {
        owner
            .batch_execute(&format!("SELECT tenancy.set_rls_mode('{mode}')"))
            .unwrap();
        for (tenant, text) in [(a, "a"), (b, "b")] {
            let seen: Vec<(String, String)> = tenancy
                .transaction(tenant, |tx| {
                    tx.load(
                        notes::table
                            .inner_join(comments::table.on(comments::note_id.eq(notes::id)))
                            .select((notes::body, comments::body)),
                    )
                })
                .unwrap();
            assert_eq!(
                seen,
                [(
                    format!("{text}'s note, edited"),
                    format!("{text}'s comment")
                )],
                "{mode}"
            );
            let read_only: i64 = tenancy
                .build_transaction(tenant)
                .read_only()
                .run(|tx| tx.count(notes::table))
                .unwrap();
            assert_eq!(read_only, 1, "{mode}");
        }
    }
    owner
        .batch_execute("SELECT tenancy.set_rls_mode('enforce')")
        .unwrap();

    // Raw SQL in a tenant transaction reaches every shard on both workers; row level security
    // there, fed by the context the workers verified, keeps it to the tenant's rows.
    let raw = |tenant| {
        tenancy
            .transaction(tenant, |tx| {
                tx.load_sql::<_, Line>(diesel::sql_query(
                    "SELECT body AS line FROM notes UNION ALL SELECT body FROM comments ORDER BY 1",
                ))
            })
            .unwrap()
            .into_iter()
            .map(|l| l.line)
            .collect::<Vec<_>>()
    };
    assert_eq!(raw(a), ["a's comment", "a's note, edited"]);
    assert_eq!(raw(b), ["b's comment", "b's note, edited"]);

    // The async executor enters the same way (it takes the detection from the sync build),
    // pipelined or not, and its read-only transactions too.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let async_tenancy = tenancy_async::AsyncTenancy::builder(&app_url)
            .admin_url(&admin_url)
            .max_size(2)
            .build()
            .await
            .unwrap();

        // Pipelined: the opening goes out in one write with the first statement, here one
        // Citus routes to a worker or fans out to every shard, on connections that are read
        // only outside a transaction. A write and a raw statement over every shard keep to
        // the tenant; the write is put back before the transaction commits.
        let pipelined = tenancy_async::AsyncTenancy::builder(&app_url)
            .admin_url(&admin_url)
            .max_size(2)
            .pipeline(true)
            .build()
            .await
            .unwrap();
        for (tenant, text) in [(a, "a"), (b, "b")] {
            let (changed, seen, raw) = pipelined
                .transaction(tenant, async |tx| {
                    let changed = tx
                        .update(notes::table)
                        .filter(notes::id.eq(1))
                        .set(notes::body.eq(format!("{text}'s note, pipelined")))
                        .execute()
                        .await?;
                    let seen: Vec<String> = tx.load(notes::table.select(notes::body)).await?;
                    let raw: Vec<Line> = tx
                        .load_sql(diesel::sql_query(
                            "SELECT body AS line FROM notes UNION ALL SELECT body FROM comments ORDER BY 1",
                        ))
                        .await?;
                    tx.update(notes::table)
                        .filter(notes::id.eq(1))
                        .set(notes::body.eq(format!("{text}'s note, edited")))
                        .execute()
                        .await?;
                    Ok::<_, Error>((changed, seen, raw))
                })
                .await
                .unwrap();
            assert_eq!(changed, 1, "{text}");
            assert_eq!(seen, [format!("{text}'s note, pipelined")]);
            assert_eq!(
                raw.into_iter().map(|l| l.line).collect::<Vec<_>>(),
                [
                    format!("{text}'s comment"),
                    format!("{text}'s note, pipelined")
                ]
            );
        }
        for pool in [&async_tenancy, &pipelined] {
            for (tenant, text) in [(a, "a"), (b, "b")] {
                let seen: Vec<String> = pool
                    .build_transaction(tenant)
                    .read_only()
                    .run(async |tx| tx.load(notes::table.select(notes::body)).await)
                    .await
                    .unwrap();
                assert_eq!(seen, [format!("{text}'s note, edited")]);
            }
        }
    });

    // The context reaches the workers whatever the server's citus.propagate_set_commands:
    // the entry sets it for its transaction.
    owner
        .batch_execute("ALTER ROLE citus_app SET citus.propagate_set_commands = 'none'")
        .unwrap();
    let mut login = PgConnection::establish(&app_url).unwrap();
    assert_eq!(
        lines(
            &mut login,
            "SELECT current_setting('citus.propagate_set_commands') AS line"
        ),
        ["none"]
    );
    let without_propagation = Tenancy::builder(&app_url)
        .admin_url(&admin_url)
        .max_size(1)
        .build()
        .unwrap();
    assert_eq!(
        without_propagation
            .transaction(a, |tx| {
                tx.load_sql::<_, Line>(diesel::sql_query("SELECT body AS line FROM notes"))
            })
            .unwrap()
            .into_iter()
            .map(|l| l.line)
            .collect::<Vec<_>>(),
        ["a's note, edited"]
    );
    owner
        .batch_execute("ALTER ROLE citus_app RESET citus.propagate_set_commands")
        .unwrap();

    // What raw SQL could try on the context: b's context, observed, replayed in a's
    // transaction; a context set by `set_config` (never sent to the workers); choosing the
    // distributed transaction id a context was bound to.
    let observed: Vec<Line> = tenancy
        .transaction(b, |tx| {
            tx.load_sql(diesel::sql_query(
                "SELECT current_setting('tenancy.context') AS line",
            ))
        })
        .unwrap();
    let observed = observed[0].line.clone();
    assert_eq!(observed.split('|').count(), 4, "{observed}");
    // Each is refused, or leaves a's transaction with a's rows or none, never b's.
    let a_only = || Some(vec!["a's note, edited".to_owned()]);
    for (attack, expected) in [
        (format!("SET LOCAL tenancy.context = '{observed}'"), None),
        (
            format!("SELECT set_config('tenancy.context', '{observed}', true)"),
            None,
        ),
        (
            format!("SET LOCAL tenancy.tenant_id = '{}'", b.as_uuid()),
            a_only(),
        ),
        ("RESET tenancy.context".to_owned(), Some(vec![])),
        (
            "SELECT assign_distributed_transaction_id(0, 1, now())".to_owned(),
            None,
        ),
    ] {
        let outcome = tenancy.transaction(a, |tx| {
            tx.execute(diesel::sql_query(&attack))?;
            tx.load_sql::<_, Line>(diesel::sql_query("SELECT body AS line FROM notes"))
        });
        match (outcome, expected) {
            (Err(Error::Query(_)), None) => {}
            (Ok(rows), Some(expected)) => assert_eq!(
                rows.into_iter().map(|l| l.line).collect::<Vec<_>>(),
                expected,
                "{attack}"
            ),
            (outcome, expected) => panic!(
                "{attack}: expected {expected:?}, got {:?}",
                outcome.map(|rows| rows.into_iter().map(|l| l.line).collect::<Vec<_>>())
            ),
        }
    }

    // A restrictive policy that does not carry the tenant predicate would be copied to the
    // shards as a permissive one and show every tenant's rows: it is refused.
    let sabotage = owner
        .batch_execute("CREATE POLICY live_only ON notes AS RESTRICTIVE USING (deleted_at IS NULL)")
        .unwrap_err()
        .to_string();
    assert!(
        sabotage.contains("does not begin with the tenant predicate"),
        "{sabotage}"
    );
    assert_eq!(raw(a), ["a's comment", "a's note, edited"]);
    // One that does carry it is accepted, also as PostgreSQL prints it written the other way
    // round and with a CASE after its AND, which goes on the next line.
    owner
        .batch_execute(
            "CREATE POLICY live_only ON notes AS RESTRICTIVE
               USING (tenant_id = tenancy.current_tenant() AND deleted_at IS NULL)",
        )
        .unwrap();
    owner
        .batch_execute(
            "CREATE POLICY live_only_too ON notes AS RESTRICTIVE
               USING (tenancy.current_tenant() = tenant_id
                      AND CASE WHEN deleted_at IS NULL THEN true ELSE false END)",
        )
        .unwrap();
    owner
        .batch_execute("DROP POLICY live_only_too ON notes")
        .unwrap();
    assert_eq!(raw(a), ["a's comment", "a's note, edited"]);

    // Every query shape the library writes is a router plan: one task, on a's worker.
    let shapes: Vec<String> = {
        use tenancy_schema::__private_v0_1::executor::{
            and_filter, delete_statement, tenant_predicate, update_statement,
        };
        // What `tx.update(..).filter(..).set(..)` and `tx.delete(..).filter(..)` run.
        let predicate = || and_filter(tenant_predicate::<notes::table>(), notes::id.eq(1));
        let update = update_statement(a, notes::table, predicate(), notes::body.eq("x")).unwrap();
        let delete = delete_statement(a, notes::table, predicate()).unwrap();
        // `debug_query` of a tenant statement lists the tenant it binds first; the
        // statement's own values are those of the Diesel statement it was made from.
        let with_values_of = |sent: String, statement: String| {
            let values = statement
                .split_once(" -- binds: [")
                .expect("debug_query output")
                .1;
            format!("{}, {values}", sent.trim_end_matches(']'))
        };
        let update = with_values_of(
            diesel::debug_query::<Pg, _>(&update).to_string(),
            diesel::debug_query::<Pg, _>(
                &diesel::update(notes::table.filter(predicate())).set(notes::body.eq("x")),
            )
            .to_string(),
        );
        let delete = with_values_of(
            diesel::debug_query::<Pg, _>(&delete).to_string(),
            diesel::debug_query::<Pg, _>(&diesel::delete(notes::table.filter(predicate())))
                .to_string(),
        );
        tenancy
            .transaction(a, |tx| {
                Ok::<_, Error>(vec![
                    diesel::debug_query::<Pg, _>(&tx.scope(notes::table.select(notes::body))?)
                        .to_string(),
                    diesel::debug_query::<Pg, _>(
                        &tx.scope(
                            notes::table
                                .inner_join(comments::table.on(comments::note_id.eq(notes::id)))
                                .select((notes::body, comments::body)),
                        )?,
                    )
                    .to_string(),
                    diesel::debug_query::<Pg, _>(
                        &tx.scope(notes::table.select(notes::body).for_update())?,
                    )
                    .to_string(),
                    update,
                    delete,
                ])
            })
            .unwrap()
    };
    for shape in &shapes {
        assert_eq!(task_count(&mut owner, shape), 1, "{shape}");
    }

    // One large tenant on a shard of its own: every co-located table follows, the new shards
    // get the policies, and both tenants still see only their rows.
    owner
        .batch_execute(&format!(
            "SELECT isolate_tenant_to_new_shard('notes', '{}'::uuid, 'CASCADE',
                                                shard_transfer_mode => 'block_writes')",
            a.as_uuid()
        ))
        .unwrap();
    assert_eq!(
        count(
            &mut owner,
            &format!(
                "SELECT count(*) AS n FROM pg_dist_shard
                  WHERE logicalrelid = 'notes'::regclass
                    AND shardid = get_shard_id_for_distribution_column('notes', '{0}'::uuid)
                    AND shardminvalue = shardmaxvalue",
                a.as_uuid()
            )
        ),
        1,
        "a's shard holds a's hash value only"
    );
    assert_eq!(raw(a), ["a's comment", "a's note, edited"]);
    assert_eq!(raw(b), ["b's comment", "b's note, edited"]);
    assert_eq!(citus_findings(&mut owner), Vec::<String>::new());

    // The admin path reads across tenants (its login bypasses row level security itself).
    let all: i64 = tenancy
        .admin("citus suite: count every tenant's notes", |conn| {
            Ok::<_, Error>(count(conn, "SELECT count(*) AS n FROM notes"))
        })
        .unwrap();
    assert_eq!(all, 2);
}

/// `tenancy check --citus` on the coordinator, with the foundation's migrations.
fn citus_report(owner: &mut PgConnection) -> tenancy_schema::check::Report {
    let options = tenancy_schema::check::CheckOptions {
        citus: true,
        migrations: tenancy_foundation::migrations::FOUNDATION,
        ..tenancy_schema::check::CheckOptions::default()
    };
    tenancy_schema::check::run(owner, &tenancy_schema::registry(), &options).expect("check runs")
}

fn citus_findings(owner: &mut PgConnection) -> Vec<String> {
    let report = citus_report(owner);
    // Shown when an assertion on the ids fails: what each finding said.
    for f in &report.findings {
        eprintln!("{} {}: {}", f.id, f.object, f.message);
    }
    let mut ids: Vec<String> = report
        .findings
        .iter()
        // tenancy's own functions, the schemas the application role may create in and the audit
        // log's guards are checked on a coordinator as anywhere: distributing must leave them
        // as they were.
        .filter(|f| f.id.starts_with("CIT") || ["TEN072", "TEN073", "TEN080"].contains(&f.id))
        .map(|f| format!("{} {}", f.id, f.object))
        .collect();
    ids.dedup();
    ids
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one cluster, each breakage made, reported and undone in turn"
)]
fn check_citus_reports_what_breaks_isolation_on_the_shards() {
    let Some(cluster) = cluster() else { return };
    let mut owner = migrate_and_distribute(cluster.coordinator());
    assert_eq!(citus_findings(&mut owner), Vec::<String>::new());

    // A function that lists distributed transaction numbers given back to PUBLIC on the
    // workers, a per-shard size view to the application role on the coordinator.
    owner
        .batch_execute(
            "SELECT tenancy.run_on_workers('SET LOCAL citus.enable_ddl_propagation TO off; \
               GRANT EXECUTE ON FUNCTION dump_local_wait_edges() TO PUBLIC', 'test');
             SET citus.enable_ddl_propagation TO off;
             GRANT SELECT ON citus_shards TO tenancy_app;
             RESET citus.enable_ddl_propagation;",
        )
        .unwrap();
    let reopened = citus_findings(&mut owner);
    assert_eq!(reopened.len(), 3, "{reopened:?}");
    assert_eq!(reopened[0], "CIT015 coordinator");
    assert!(
        reopened[1..]
            .iter()
            .all(|f| f.starts_with("CIT015 worker ")),
        "{reopened:?}"
    );
    owner
        .batch_execute(
            "SELECT tenancy.run_on_workers('SET LOCAL citus.enable_ddl_propagation TO off; \
               REVOKE EXECUTE ON FUNCTION dump_local_wait_edges() FROM PUBLIC', 'test');
             SET citus.enable_ddl_propagation TO off;
             REVOKE SELECT ON citus_shards FROM tenancy_app;
             RESET citus.enable_ddl_propagation;",
        )
        .unwrap();
    assert_eq!(citus_findings(&mut owner), Vec::<String>::new());

    // The context not reaching the workers.
    owner
        .batch_execute("SET citus.propagate_set_commands = 'none'")
        .unwrap();
    assert_eq!(
        citus_findings(&mut owner),
        ["CIT006 setting citus.propagate_set_commands"]
    );
    owner
        .batch_execute("RESET citus.propagate_set_commands")
        .unwrap();

    // A SQL function with a parameter reading a distributed table; a trigger of one that
    // queries it.
    // (Citus sends a DDL statement to the workers as the text of the whole message: one each.)
    for statement in [
        "CREATE FUNCTION note_count(t uuid) RETURNS bigint LANGUAGE sql STABLE
           RETURN (SELECT count(*) FROM public.notes WHERE tenant_id = t)",
        "CREATE FUNCTION comment_guard() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           PERFORM 1 FROM notes WHERE tenant_id = NEW.tenant_id AND id = NEW.note_id;
           RETURN NEW;
         END $$",
        "SET citus.enable_unsafe_triggers = on",
        "CREATE TRIGGER comment_guard BEFORE INSERT ON comments
           FOR EACH ROW EXECUTE FUNCTION comment_guard()",
        "CREATE FUNCTION note_digest(n notes) RETURNS text LANGUAGE sql IMMUTABLE
           RETURN md5(n.body)",
        "CREATE FUNCTION note_digest_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           NEW.body := NEW.body || note_digest(NEW);
           RETURN NEW;
         END $$",
        "CREATE TRIGGER note_digest BEFORE INSERT ON notes
           FOR EACH ROW EXECUTE FUNCTION note_digest_trigger()",
    ] {
        owner.batch_execute(statement).unwrap();
    }
    let found = citus_findings(&mut owner);
    assert!(
        found.contains(&"CIT012 function note_count(uuid)".to_owned()),
        "{found:?}"
    );
    assert!(
        found.contains(&"CIT013 trigger comments: comment_guard()".to_owned()),
        "{found:?}"
    );
    assert!(
        found.contains(&"CIT014 function note_digest(notes)".to_owned()),
        "{found:?}"
    );
    for statement in [
        "DROP TRIGGER note_digest ON notes",
        "DROP FUNCTION note_digest_trigger()",
        "DROP FUNCTION note_digest(notes)",
        "DROP TRIGGER comment_guard ON comments",
        "DROP FUNCTION comment_guard()",
        "DROP FUNCTION note_count(uuid)",
        "RESET citus.enable_unsafe_triggers",
    ] {
        owner.batch_execute(statement).unwrap();
    }
    assert_eq!(citus_findings(&mut owner), Vec::<String>::new());

    // A tenant table left on the coordinator; an admin login that needs SET ROLE.
    owner
        .batch_execute(&format!(
            "CREATE TABLE drafts (tenant_id uuid NOT NULL, id int NOT NULL, PRIMARY KEY (tenant_id, id));
             {}
             CREATE ROLE set_role_admin LOGIN NOINHERIT IN ROLE tenancy_admin;",
            tenancy_schema::policy::tenant_policies("drafts", "tenant_id", "tenancy_app")
        ))
        .unwrap();
    let found = citus_findings(&mut owner);
    assert!(
        found.contains(&"CIT007 table drafts".to_owned()),
        "{found:?}"
    );
    assert!(
        found.contains(&"CIT011 role set_role_admin".to_owned()),
        "{found:?}"
    );
    owner
        .batch_execute("DROP TABLE drafts; DROP ROLE set_role_admin")
        .unwrap();

    // The policy guard gone, a policy that widens access added, one shard's policy dropped,
    // a worker's key gone: each is reported.
    owner
        .batch_execute(
            "DROP EVENT TRIGGER tenancy_distributed_policies;
             CREATE POLICY live_only ON notes AS RESTRICTIVE USING (deleted_at IS NULL);",
        )
        .unwrap();
    let mut worker = PgConnection::establish(&cluster.worker_urls()[0]).unwrap();
    worker
        .batch_execute(
            "SET citus.show_shards_for_app_name_prefixes = '*';
             DO $$ BEGIN
               EXECUTE format('DROP POLICY tenant_access ON %I', (
                 SELECT relname FROM pg_class WHERE relname ~ '^comments_[0-9]+$' AND relkind = 'r'
                 ORDER BY 1 LIMIT 1));
             END $$;
             DELETE FROM tenancy.context_key;",
        )
        .unwrap();
    let found = citus_findings(&mut owner);
    let worker_port = cluster.worker_ports()[0];
    for expected in [
        "CIT005 policy live_only on notes".to_owned(),
        "CIT008 table notes".to_owned(),
        "CIT008 table comments".to_owned(),
        format!("CIT009 worker 127.0.0.1:{worker_port}"),
        "CIT010 event trigger tenancy_distributed_policies".to_owned(),
    ] {
        assert!(found.contains(&expected), "{expected}: {found:?}");
    }

    // `tenancy.prepare_citus()` puts the key and the guard back.
    // (Citus sends a policy's DDL to the shards as the text of the whole message: one each.)
    owner
        .batch_execute("DROP POLICY live_only ON notes")
        .unwrap();
    owner
        .batch_execute("SELECT tenancy.prepare_citus()")
        .unwrap();
    assert_eq!(
        citus_findings(&mut owner),
        ["CIT008 table comments"],
        "only the shard whose policy was dropped by hand remains"
    );
    // A new context key reaches the workers as well.
    owner
        .batch_execute("SELECT tenancy.install_context_key(decode(repeat('ab', 32), 'hex'))")
        .unwrap();
    assert_eq!(citus_findings(&mut owner), ["CIT008 table comments"]);
    assert_eq!(
        lines(
            &mut worker,
            "SELECT encode(key, 'hex') AS line FROM tenancy.context_key"
        ),
        ["ab".repeat(32)]
    );
    // A worker that cannot be asked is reported with what it answered.
    worker
        .batch_execute("ALTER TABLE tenancy.context_key RENAME TO context_key_elsewhere")
        .unwrap();
    let report = citus_report(&mut owner);
    let unasked: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.id == "CIT009")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(unasked.len(), 1, "{unasked:?}");
    assert!(
        unasked[0].starts_with("could not be asked for its copy of the context key (")
            && unasked[0].contains("context_key\" does not exist"),
        "{unasked:?}"
    );
    worker
        .batch_execute("ALTER TABLE tenancy.context_key_elsewhere RENAME TO context_key")
        .unwrap();
    assert_eq!(citus_findings(&mut owner), ["CIT008 table comments"]);

    // A command of several statements reaches every worker whole. Citus's
    // `run_command_on_workers` takes the first result that arrives and closes the connection.
    // A notice makes the worker send what it has, the first statement's result among it, and
    // a worker still running used to fail on its next notice and abort the rest. That is how
    // the key (`CREATE ... IF NOT EXISTS` notices) or a role's grants went missing under load;
    // the sleep makes it certain here.
    owner
        .batch_execute(
            "SELECT tenancy.run_on_workers(
               'SET citus.enable_ddl_propagation TO off;
                CREATE TABLE whole_first ();
                DO $$ BEGIN
                  RAISE NOTICE ''sent with the first result'';
                  PERFORM pg_sleep(0.5);
                  RAISE NOTICE ''after the coordinator closed'';
                  PERFORM pg_sleep(0.1);
                  RAISE NOTICE ''after the coordinator closed'';
                END $$;
                CREATE TABLE whole_last ();', 'run a command of several statements')",
        )
        .unwrap();
    assert_eq!(
        lines(
            &mut owner,
            "SELECT success || ' ' || result AS line FROM run_command_on_workers(
               $$SELECT count(*) FROM pg_class WHERE relname IN ('whole_first', 'whole_last')$$)"
        ),
        ["true 2", "true 2"]
    );
}

/// The worker port that holds `tenant`'s shard of `table`.
fn worker_of_in(owner: &mut PgConnection, table: &str, tenant: TenantId) -> i32 {
    diesel::sql_query(format!(
        "SELECT nodeport AS port FROM citus_shards
          WHERE shardid = get_shard_id_for_distribution_column('{table}', $1)"
    ))
    .bind::<diesel::sql_types::Uuid, _>(*tenant.as_uuid())
    .get_result::<Port>(owner)
    .expect("shard placement")
    .port
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one cluster, started once, walked through in order"
)]
fn the_foundation_schema_runs_distributed() {
    use tenancy_foundation::control::{self, Actor, NewTenantSpec};
    use tenancy_foundation::envelope::{self, NewResourceSpec, ResourceChanges};
    use tenancy_foundation::models::{
        AclPermission, MemberRole, PlanTier, ResourceKind, ResourceVisibility,
    };

    let Some(cluster) = cluster() else { return };
    let db = cluster.coordinator();
    let mut owner = PgConnection::establish(db.url()).unwrap();
    // The project's migrations, core and foundation, as `tenancy migrate` runs them: on Citus
    // the foundation's tables end up distributed by the last of them.
    tenancy_foundation::run_migrations(&mut owner).unwrap();
    assert_eq!(
        lines(
            &mut owner,
            "SELECT partmethod::text || ' ' || string_agg(logicalrelid::text, ',' ORDER BY logicalrelid::text)
                    || ' ' || count(DISTINCT colocationid) AS line
               FROM pg_dist_partition GROUP BY partmethod ORDER BY 1"
        ),
        [
            "h api_key_usage,api_keys,audit_log,org_members,principals,resource_acl,resources,team_members,teams,workspaces 1",
            "n role_permissions,tenants,users 1",
        ]
    );
    assert_eq!(citus_findings(&mut owner), Vec::<String>::new());

    // A table `tenancy new-table` writes, pointing at the foundation's tables, applies on
    // Citus as one message, the way the diesel CLI runs a migration file.
    let mut spec = tenancy_cli::new_table::TableSpec::new("deployments");
    for column in ["workspace_id:uuid", "name:text", "owner_id:uuid:null"] {
        spec.columns.push(column.parse().unwrap());
    }
    spec.references
        .push("workspace_id:workspaces".parse().unwrap());
    spec.references.push("owner_id:users".parse().unwrap());
    let migration = tenancy_cli::new_table::render(&spec).unwrap();
    owner.batch_execute(&migration.up).unwrap();
    assert_eq!(
        lines(
            &mut owner,
            "SELECT d.partmethod::text || ' ' || (d.colocationid = w.colocationid)::text AS line
               FROM pg_dist_partition d, pg_dist_partition w
              WHERE d.logicalrelid = 'deployments'::regclass AND w.logicalrelid = 'workspaces'::regclass"
        ),
        ["h true"]
    );
    assert_eq!(
        count(
            &mut owner,
            "SELECT count(*) AS n FROM pg_constraint WHERE conrelid = 'deployments'::regclass AND contype = 'f'"
        ),
        3,
        "tenants, workspaces, users"
    );
    assert_eq!(citus_findings(&mut owner), Vec::<String>::new());

    let app_url = db
        .create_app_login("citus_foundation_app", "citus-app-password")
        .unwrap();
    owner
        .batch_execute(
            "CREATE ROLE citus_foundation_admin LOGIN PASSWORD 'citus-admin-password' BYPASSRLS INHERIT;
             GRANT tenancy_admin TO citus_foundation_admin;",
        )
        .unwrap();
    let t = Tenancy::builder(&app_url)
        .admin_url(&db.url_for("citus_foundation_admin", "citus-admin-password"))
        .max_size(2)
        .build()
        .unwrap();

    // The control plane creates tenants until two live on different workers.
    let mut created = Vec::new();
    let (a, b) = loop {
        let slug = format!("citus-{}", created.len());
        let c = control::create_tenant(
            &t,
            &NewTenantSpec {
                slug: &slug,
                name: &slug,
                plan: PlanTier::Pro,
                data_region: None,
                owner_email: &format!("{slug}@example.test"),
                owner_name: "Owner",
            },
        )
        .unwrap();
        let port = worker_of_in(&mut owner, "principals", c.tenant);
        if let Some(first) = created.iter().find(|(_, p)| *p != port) {
            break (first.0, c);
        }
        created.push((c, port));
    };
    let invitation = control::invite_member(
        &t,
        a.tenant,
        Actor::Principal(a.owner_principal),
        "reader@example.test",
        "Reader",
        MemberRole::Member,
    )
    .unwrap();
    control::accept_invitation(&t, a.tenant, invitation.principal).unwrap();
    let reader = invitation.principal;

    let data = serde_json::json!({ "text": "hi" });
    let spec = |ws, name, visibility| NewResourceSpec {
        workspace: ws,
        kind: ResourceKind::Prompt,
        name,
        visibility,
        data: &data,
    };
    let (private, shared) = t
        .transaction_as(a.tenant, a.owner_principal, |tx| {
            let private = envelope::create(
                tx,
                &spec(a.workspace, "private", ResourceVisibility::Private),
            )?;
            let shared =
                envelope::create(tx, &spec(a.workspace, "shared", ResourceVisibility::Tenant))?;
            Ok::<_, Error>((private.id, shared.id))
        })
        .unwrap();
    let b_resource = t
        .transaction_as(b.tenant, b.owner_principal, |tx| {
            envelope::create(tx, &spec(b.workspace, "b's", ResourceVisibility::Tenant))
        })
        .unwrap()
        .id;

    // The visibility and ACL rules hold on Citus, applied in the query: read and write paths.
    let as_reader = |f: &dyn Fn(&mut tenancy_schema::TenantTx<'_>) -> Result<(), Error>| {
        t.transaction_as(a.tenant, reader, |tx| f(tx))
    };
    let rename = ResourceChanges {
        name: Some("renamed"),
        ..ResourceChanges::default()
    };
    assert!(matches!(
        as_reader(&|tx| envelope::get(tx, private).map(drop)),
        Err(Error::NotFound { entity: "resource" })
    ));
    assert!(as_reader(&|tx| envelope::get(tx, shared).map(drop)).is_ok());
    assert!(matches!(
        as_reader(&|tx| envelope::update(tx, shared, &rename).map(drop)),
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        as_reader(&|tx| envelope::delete(tx, shared)),
        Err(Error::Forbidden { .. })
    ));
    for r in [
        as_reader(&|tx| envelope::get(tx, b_resource).map(drop)),
        as_reader(&|tx| envelope::update(tx, b_resource, &rename).map(drop)),
        t.transaction_as(a.tenant, a.owner_principal, |tx| {
            envelope::get(tx, b_resource).map(drop)
        }),
    ] {
        assert!(
            matches!(r, Err(Error::NotFound { entity: "resource" })),
            "{r:?}"
        );
    }
    t.transaction_as(a.tenant, a.owner_principal, |tx| {
        envelope::grant(tx, private, reader, AclPermission::Write)
    })
    .unwrap();
    let edited = t
        .transaction_as(a.tenant, reader, |tx| {
            envelope::update(tx, private, &rename)
        })
        .unwrap();
    assert_eq!(edited.name, "renamed");
    t.transaction_as(a.tenant, a.owner_principal, |tx| {
        envelope::revoke(tx, private, reader)
    })
    .unwrap();
    assert!(matches!(
        as_reader(&|tx| envelope::get(tx, private).map(drop)),
        Err(Error::NotFound { .. })
    ));

    // Raw SQL across the workers: the tenant's rows only (the resource rules are the query's
    // on Citus; the tenant policies are every shard's).
    let raw_names = |tenant, principal| {
        t.transaction_as(tenant, principal, |tx| {
            tx.load_sql::<_, Line>(diesel::sql_query(
                "SELECT name AS line FROM resources ORDER BY 1",
            ))
        })
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
    };
    assert_eq!(raw_names(a.tenant, reader), ["renamed", "shared"]);
    assert_eq!(raw_names(b.tenant, b.owner_principal), ["b's"]);
    let members: Vec<Line> = t
        .transaction(a.tenant, |tx| {
            tx.load_sql(diesel::sql_query(
                "SELECT email AS line FROM tenancy.member_directory() ORDER BY 1",
            ))
        })
        .unwrap();
    let slug_of = |owner: &mut PgConnection, tenant: TenantId| {
        lines(
            owner,
            &format!(
                "SELECT slug AS line FROM tenants WHERE id = '{}'",
                tenant.as_uuid()
            ),
        )
        .remove(0)
    };
    let a_owner_email = format!("{}@example.test", slug_of(&mut owner, a.tenant));
    assert_eq!(
        members.into_iter().map(|l| l.line).collect::<Vec<_>>(),
        [a_owner_email, "reader@example.test".to_owned()]
    );

    // API keys: looked up across the shards, by prefix, before the tenant is known.
    let issued = t
        .transaction_as(b.tenant, b.owner_principal, |tx| {
            tenancy_foundation::api_keys::issue(
                tx,
                tenancy_foundation::api_keys::NewKeySpec::new(b.owner_principal, "citus key"),
            )
        })
        .unwrap();
    let limiter = tenancy_foundation::api_keys::MemoryRateLimiter::default();
    let verified =
        tenancy_foundation::api_keys::verify(&t, issued.key.expose_secret(), &limiter).unwrap();
    assert_eq!(verified.tenant, b.tenant);

    // The audit chain is kept on each tenant's shard and verifies.
    for tenant in [a.tenant, b.tenant] {
        let status = tenancy_foundation::audit::verify_chain(&mut owner, tenant).unwrap();
        assert!(status.broken_at.is_none(), "{status:?}");
        assert!(
            count(
                &mut owner,
                &format!(
                    "SELECT count(*) AS n FROM audit_log WHERE tenant_id = '{}'",
                    tenant.as_uuid()
                )
            ) > 0
        );
    }
}

mod property;

/// The property-based isolation suite (`property/mod.rs`: random operations by random tenants,
/// through the foundation's API and raw SQL, checked against a model) on the foundation schema
/// distributed over the cluster, with tenants on both workers. Fewer cases than on one node:
/// each transaction here is a distributed one.
#[test]
fn random_operations_never_cross_tenants_across_workers() {
    const CASES: u32 = 150;
    let Some(cluster) = cluster() else { return };
    let db = cluster.coordinator();
    let mut owner = PgConnection::establish(db.url()).unwrap();
    // On Citus the foundation's migrations distribute its tables themselves.
    tenancy_foundation::run_migrations(&mut owner).unwrap();
    let app_url = db
        .create_app_login("citus_prop_app", "citus-app-password")
        .unwrap();
    // The admin login is an admin by itself on Citus (see the first test).
    // (Citus sends a DDL statement to the workers as the text of the whole message: one each.)
    for statement in [
        "CREATE ROLE citus_prop_admin LOGIN PASSWORD 'citus-admin-password' BYPASSRLS INHERIT",
        "GRANT tenancy_admin TO citus_prop_admin",
    ] {
        owner.batch_execute(statement).unwrap();
    }
    let tenancy = Tenancy::builder(&app_url)
        .admin_url(&db.url_for("citus_prop_admin", "citus-admin-password"))
        .config(tenancy_foundation::config())
        .max_size(2)
        .build()
        .unwrap();

    // Three tenants or more, seeded until their resources are placed on both workers.
    let mut tenants = Vec::new();
    let mut ports = std::collections::BTreeSet::new();
    while tenants.len() < 3 || ports.len() < 2 {
        assert!(tenants.len() < 32, "every tenant landed on one worker");
        let t = property::seed_tenant(&tenancy);
        ports.insert(worker_of_in(&mut owner, "resources", t.tenant));
        tenants.push(t);
    }
    let ids: Vec<String> = tenants
        .iter()
        .map(|t| format!("'{}'", t.tenant.as_uuid()))
        .collect();
    // How many workers hold the rows a case left.
    let spread = format!(
        "WITH t AS (SELECT DISTINCT tenant_id FROM resources WHERE tenant_id IN ({}))
         SELECT count(DISTINCT s.nodeport) AS n
           FROM t JOIN citus_shards s
             ON s.shardid = get_shard_id_for_distribution_column('resources', t.tenant_id)",
        ids.join(", ")
    );
    let world = property::World {
        tenancy,
        tenants,
        owner_url: db.url().to_owned(),
    };
    let on_both_workers = std::sync::atomic::AtomicU32::new(0);
    let started = std::time::Instant::now();
    let operations = property::run(&world, CASES, &|owner| {
        let workers = diesel::sql_query(&spread)
            .get_result::<Count>(owner)
            .map_err(|e| proptest::test_runner::TestCaseError::fail(format!("spread: {e}")))?
            .n;
        if workers == 2 {
            on_both_workers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    });
    let on_both_workers = on_both_workers.into_inner();
    eprintln!(
        "property isolation on Citus: {CASES} cases, {operations} operations, {} tenants, \
         {on_both_workers} cases with rows on both workers, {:.1?}",
        world.tenants.len(),
        started.elapsed()
    );
    assert!(
        on_both_workers > 0,
        "no case left rows on both workers: the run did not exercise the cluster"
    );
}

/// How many tables Citus distributes (`h`) and replicates (`n`).
fn distribution(owner: &mut PgConnection) -> Vec<String> {
    lines(
        owner,
        "SELECT partmethod::text || ' ' || count(*) AS line FROM pg_dist_partition
          GROUP BY partmethod ORDER BY 1",
    )
}

/// The repository's root directory.
fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

#[test]
fn the_diesel_cli_runs_the_migrations_on_citus() {
    let Some(cluster) = cluster() else { return };
    let Some(cli) = tenancy_testing::diesel_cli_for_test() else {
        eprintln!("diesel CLI not installed: skipped (the other Citus tests ran the migrations)");
        return;
    };
    // The repository's diesel.toml, with schema.rs written to a scratch file: the CLI sends
    // each migration file as one message, which is what this test is about.
    let dir = tempfile::tempdir().unwrap();
    let config = tenancy_testing::scratch_diesel_config(&repo(), dir.path()).unwrap();
    let out = std::process::Command::new(cli)
        .args(["migration", "run", "--database-url"])
        .arg(cluster.coordinator().url())
        .arg("--config-file")
        .arg(&config)
        .current_dir(repo())
        .output()
        .expect("run diesel");
    assert!(
        out.status.success(),
        "diesel migration run failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut owner = PgConnection::establish(cluster.coordinator().url()).unwrap();
    assert_eq!(distribution(&mut owner), ["h 10", "n 3"]);
    assert_eq!(citus_findings(&mut owner), Vec::<String>::new());
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one deployment, walked from one node to Citus"
)]
fn an_existing_deployment_moves_to_citus() {
    use tenancy_foundation::control::{self, NewTenantSpec};
    use tenancy_foundation::envelope::{self, NewResourceSpec};
    use tenancy_foundation::models::{PlanTier, ResourceKind, ResourceVisibility};

    let Some(cluster) = cluster() else { return };
    // The application's database as it ran on one node: in the same servers, but without the
    // citus extension, migrated and holding two tenants' data.
    let in_db = |url: &str| format!("{}/moving", url.rsplit_once('/').expect("a url").0);
    let coordinator_url = in_db(cluster.coordinator().url());
    let worker_urls: Vec<String> = cluster.worker_urls().iter().map(|u| in_db(u)).collect();
    for server in
        std::iter::once(cluster.coordinator().url().to_owned()).chain(cluster.worker_urls())
    {
        PgConnection::establish(&server)
            .unwrap()
            .batch_execute("CREATE DATABASE moving")
            .unwrap();
    }
    let mut owner = PgConnection::establish(&coordinator_url).unwrap();
    tenancy_foundation::run_migrations(&mut owner).unwrap();
    owner
        .batch_execute(
            "CREATE ROLE moving_app LOGIN PASSWORD 'moving-app' INHERIT;
             GRANT tenancy_app TO moving_app;
             CREATE ROLE moving_admin LOGIN PASSWORD 'moving-admin' BYPASSRLS INHERIT;
             GRANT tenancy_admin TO moving_admin;",
        )
        .unwrap();
    let url_as = |user: &str, password: &str| {
        coordinator_url.replacen("postgres@", &format!("{user}:{password}@"), 1)
    };
    let build = || {
        Tenancy::builder(&url_as("moving_app", "moving-app"))
            .admin_url(&url_as("moving_admin", "moving-admin"))
            .max_size(2)
            .build()
            .unwrap()
    };
    let data = serde_json::json!({ "text": "hi" });
    let before = build();
    let mut tenants = Vec::new();
    for slug in ["moving-a", "moving-b"] {
        let created = control::create_tenant(
            &before,
            &NewTenantSpec {
                slug,
                name: slug,
                plan: PlanTier::Pro,
                data_region: None,
                owner_email: &format!("{slug}@example.test"),
                owner_name: "Owner",
            },
        )
        .unwrap();
        before
            .transaction_as(created.tenant, created.owner_principal, |tx| {
                envelope::create(
                    tx,
                    &NewResourceSpec {
                        workspace: created.workspace,
                        kind: ResourceKind::Prompt,
                        name: slug,
                        visibility: ResourceVisibility::Tenant,
                        data: &data,
                    },
                )
            })
            .unwrap();
        tenants.push(created);
    }
    drop(before);

    // Moving: Citus on every node of this database, the workers added, then tenancy's two
    // calls, as the README says.
    for url in std::iter::once(&coordinator_url).chain(&worker_urls) {
        PgConnection::establish(url)
            .unwrap()
            .batch_execute("CREATE EXTENSION citus")
            .unwrap();
    }
    let port = diesel::sql_query("SELECT inet_server_port() AS port")
        .get_result::<Port>(&mut owner)
        .unwrap()
        .port;
    owner
        .batch_execute(&format!(
            "SELECT citus_set_coordinator_host('127.0.0.1', {port})"
        ))
        .unwrap();
    for worker in cluster.worker_ports() {
        owner
            .batch_execute(&format!("SELECT citus_add_node('127.0.0.1', {worker})"))
            .unwrap();
    }
    owner
        .batch_execute("SELECT tenancy.prepare_citus()")
        .unwrap();
    owner
        .batch_execute("SELECT tenancy.distribute_foundation()")
        .unwrap();
    assert_eq!(distribution(&mut owner), ["h 10", "n 3"]);
    assert_eq!(citus_findings(&mut owner), Vec::<String>::new());

    // The rows moved to the workers, and each tenant reads its own through the library.
    let after = build();
    for created in &tenants {
        let names: Vec<Line> = after
            .transaction(created.tenant, |tx| {
                tx.load_sql(diesel::sql_query("SELECT name AS line FROM resources"))
            })
            .unwrap();
        let slug = lines(
            &mut owner,
            &format!(
                "SELECT slug AS line FROM tenants WHERE id = '{}'",
                created.tenant.as_uuid()
            ),
        );
        assert_eq!(names.into_iter().map(|l| l.line).collect::<Vec<_>>(), slug);
        let status = tenancy_foundation::audit::verify_chain(&mut owner, created.tenant).unwrap();
        assert!(status.broken_at.is_none(), "{status:?}");
    }
}

/// SQL for a `DO` block that, on a worker (and nowhere else), waits up to three seconds for a
/// session there whose text shows a context other than `own`'s with its distributed
/// transaction's id, takes that id and that context, and raises every row of `notes` it then
/// reads on that worker; it returns quietly when it saw none.
fn context_thief(own: TenantId) -> String {
    format!(
        r"DO $w$
DECLARE q text; m text[]; c text[]; res text := ''; r record; s text;
  deadline timestamptz := clock_timestamp() + interval '3 s';
BEGIN
  IF NOT EXISTS (SELECT FROM pg_dist_local_group WHERE groupid <> 0) THEN RETURN; END IF;
  LOOP
    PERFORM pg_stat_clear_snapshot();
    SELECT a.query INTO q FROM pg_stat_activity a
     WHERE a.pid <> pg_backend_pid() AND a.query LIKE '%assign_distributed_transaction_id%'
       AND a.query LIKE '%tenancy.context%' AND a.query NOT LIKE '%{own}%' LIMIT 1;
    EXIT WHEN q IS NOT NULL OR clock_timestamp() > deadline;
    PERFORM pg_sleep(0.001);
  END LOOP;
  IF q IS NULL THEN RETURN; END IF;
  m := regexp_match(q, 'assign_distributed_transaction_id\((\d+), (\d+), ''([^'']+)''\)');
  c := regexp_match(q, 'tenancy\.context\s*(?:TO|=)\s*''([^'']+)''');
  PERFORM assign_distributed_transaction_id(m[1]::int, m[2]::bigint, m[3]::timestamptz);
  PERFORM set_config('tenancy.context', c[1], true);
  FOR r IN SELECT logicalrelid::regclass::text || '_' || shardid AS n FROM pg_dist_shard
            WHERE logicalrelid = 'notes'::regclass LOOP
    IF to_regclass(r.n) IS NOT NULL THEN
      EXECUTE format('SELECT string_agg(body, '','') FROM %I', r.n) INTO s;
      res := res || coalesce(s, '');
    END IF;
  END LOOP;
  RAISE EXCEPTION 'read on the worker: [%]', res;
END $w$",
        own = own.as_uuid()
    )
}

/// What `a`'s transaction gets from SQL that Citus replays on each worker it opens (the whole
/// message of a `SET LOCAL`, here a `DO` block that reads another session's context there), run
/// while `b`'s transactions keep the workers busy.
fn replayed_on_the_workers(t: &Tenancy, a: TenantId, b: TenantId) -> String {
    let replayed = format!(
        "DO $o$ BEGIN EXECUTE $e$SET LOCAL tenancy_test.x = 1; {}$e$; END $o$",
        context_thief(a)
    );
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _: Result<Vec<String>, Error> =
                    t.transaction(b, |tx| tx.load(notes::table.select(notes::body)));
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        let got = t.transaction(a, |tx| {
            tx.execute(diesel::sql_query(&replayed))?;
            tx.load_sql::<_, Line>(diesel::sql_query(
                "SELECT string_agg(body, ',') AS line FROM notes",
            ))
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        format!("{got:?}")
    })
}

/// The context a worker accepts travels in the text the coordinator sends it, bound to the
/// distributed transaction's id, which a session on a worker may assign itself. SQL of tenant
/// A's transaction that Citus replays on the workers could read tenant B's context in the
/// workers' `pg_stat_activity`, take B's transaction id and read B's rows; it could read the
/// same text from the coordinator (`citus_stat_activity`) and replay it on a worker later
/// (`run_command_on_workers`). The workers' sessions report no text, and those functions are
/// not the application's. Shown against the same attack with the workers' text back on.
#[test]
fn another_tenants_worker_context_cannot_be_observed_or_replayed() {
    let Some(cluster) = cluster() else { return };
    let db = cluster.coordinator();
    let mut owner = migrate_and_distribute(db);
    let app_url = db
        .create_app_login("citus_watch_app", "citus-app-password")
        .unwrap();
    // The admin login reads the context key.
    let admin_url = admin_login(&mut owner, db, "citus_watch_admin");
    let pool = || {
        Tenancy::builder(&app_url)
            .admin_url(&admin_url)
            .max_size(3)
            .build()
            .unwrap()
    };
    let (a, b) = tenants_on_two_workers(&mut owner);
    let t = pool();
    for (tenant, text) in [(a, "a's note"), (b, "b's SECRET note")] {
        t.transaction(tenant, |tx| {
            tx.insert_into(notes::table)
                .values((notes::id.eq(1), notes::body.eq(text)))
                .execute()
        })
        .unwrap();
    }
    drop(t);
    let mut switch_text = |on: bool| {
        owner
            .batch_execute(&format!(
                "SELECT tenancy.run_on_workers('SET LOCAL citus.enable_ddl_propagation TO off; \
                 ALTER DATABASE ' || quote_ident(current_database()) || ' {}', 'test')",
                if on {
                    "RESET track_activities"
                } else {
                    "SET track_activities = off"
                }
            ))
            .unwrap();
    };

    // The attack works where the workers show the text: the test can see a leak.
    switch_text(true);
    let seen = replayed_on_the_workers(&pool(), a, b);
    assert!(seen.contains("b's SECRET note"), "{seen}");

    // As the migrations leave it: nothing of B, and A's own statement runs on.
    switch_text(false);
    let t = pool();
    let seen = replayed_on_the_workers(&t, a, b);
    assert!(!seen.contains("SECRET"), "{seen}");
    assert!(seen.contains("a's note"), "{seen}");
    // Nor the numbers (and timestamps) of running distributed transactions, on any node: with
    // one, SQL that makes Citus run a statement on a worker outside a transaction block
    // (`citus.select_opens_transaction_block = off`) takes that number there, and reads the
    // transaction's intermediate results, or its rows with its context.
    let on_a_worker = |expression: &str| {
        format!(
            "SELECT count(*)::text || {expression} AS line FROM notes WHERE tenant_id = '{}'",
            b.as_uuid()
        )
    };
    for sql in [
        "SELECT string_agg(result, ',') AS line FROM run_command_on_workers('SELECT 1')",
        "SELECT string_agg(query, ',') AS line FROM citus_stat_activity",
        "SELECT string_agg(result, ',') AS line FROM run_command_on_shards('notes', 'SELECT count(*) FROM %s')",
        "SELECT string_agg(transaction_number::text, ',') AS line FROM get_all_active_transactions()",
        "SELECT (get_current_transaction_id()).transaction_number::text AS line",
        "SELECT string_agg(gid, ',') AS line FROM pg_dist_transaction",
        &on_a_worker("(get_current_transaction_id()).transaction_number::text"),
        &on_a_worker(
            "(SELECT string_agg(transaction_number::text, ',') FROM get_all_active_transactions())",
        ),
    ] {
        let in_a = t.transaction(a, |tx| tx.load_sql::<_, Line>(diesel::sql_query(sql)));
        assert!(
            matches!(&in_a, Err(Error::Query(e)) if e.to_string().contains("permission denied")),
            "{sql}: {in_a:?}"
        );
        // The system connection refuses a tenant table itself, before the server's refusal.
        let on_system = t.system(|sys| sys.load_sql::<_, Line>(diesel::sql_query(sql)));
        assert!(
            match &on_system {
                Err(Error::Query(e)) => e.to_string().contains("permission denied"),
                Err(Error::UnsafeSql(
                    tenancy_schema::SqlTextError::TenantTableOnSystemConnection(table),
                )) => table == "notes",
                _ => false,
            },
            "{sql}: {on_system:?}"
        );
    }
    let b_sees: Vec<String> = t
        .transaction(b, |tx| tx.load(notes::table.select(notes::body)))
        .unwrap();
    assert_eq!(b_sees, ["b's SECRET note"]);
}

/// Large objects are outside row level security and belong to the login every tenant's
/// transactions share; a router query runs the functions it calls on the worker, as the
/// session's role. The large-object functions are the application's on no node, also after
/// `prepare_citus` ran again (as it does for a worker added later).
#[test]
fn large_objects_are_closed_on_every_node() {
    let Some(cluster) = cluster() else { return };
    let db = cluster.coordinator();
    let mut owner = migrate_and_distribute(db);
    let app_url = db
        .create_app_login("citus_lo_app", "citus-app-password")
        .unwrap();
    // The admin login reads the context key.
    let admin_url = admin_login(&mut owner, db, "citus_lo_admin");
    let t = Tenancy::builder(&app_url)
        .admin_url(&admin_url)
        .max_size(1)
        .build()
        .unwrap();
    let (a, _) = tenants_on_two_workers(&mut owner);
    t.transaction(a, |tx| {
        tx.insert_into(notes::table)
            .values((notes::id.eq(1), notes::body.eq("a's note")))
            .execute()
    })
    .unwrap();
    for round in 0..2 {
        for sql in [
            "SELECT lo_from_bytea(0, convert_to(body, 'UTF8'))::text AS line FROM notes",
            "SELECT lo_from_bytea(0, convert_to('a', 'UTF8'))::text AS line",
        ] {
            let r = t.transaction(a, |tx| tx.load_sql::<_, Line>(diesel::sql_query(sql)));
            assert!(
                matches!(&r, Err(Error::Query(e)) if e.to_string().contains("permission denied for function")),
                "round {round}, {sql}: {r:?}"
            );
        }
        let on_workers: Line = diesel::sql_query(
            "SELECT string_agg(result, ',') AS line FROM run_command_on_workers(
               $$SELECT count(*) FROM pg_proc p WHERE p.proname IN ('lo_get', 'lo_from_bytea', 'lo_put')
                   AND has_function_privilege('tenancy_app', p.oid, 'EXECUTE')$$)",
        )
        .get_result(&mut owner)
        .unwrap();
        assert_eq!(on_workers.line, "0,0", "round {round}");
        owner
            .batch_execute("SELECT tenancy.prepare_citus()")
            .unwrap();
    }
}

/// A worker keys a multi-shard statement's intermediate results by the login and the
/// distributed transaction's number, and every tenant's transactions share the login: with
/// another tenant's running number, SQL of one tenant's transaction read that tenant's
/// intermediate results on the workers. Numbers came from a sequence (one's own told the
/// neighbours'), and the wait-edge functions listed other sessions' numbers whenever one
/// waited on another. Now the numbers are a keyed permutation of the sequence, and those
/// functions, Citus's internal ones (one of which deleted a shard placement's metadata on a
/// worker) and the per-shard sizes (a shard can hold one tenant) are the application's on no
/// node. A tenant's own work runs on.
#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one cluster: the numbers, then each closed function on each path, then the work"
)]
fn transaction_numbers_cannot_be_worked_out_and_citus_internals_are_closed() {
    let Some(cluster) = cluster() else { return };
    let db = cluster.coordinator();
    let mut owner = migrate_and_distribute(db);
    let app_url = db
        .create_app_login("citus_numbers_app", "citus-app-password")
        .unwrap();
    let admin_url = admin_login(&mut owner, db, "citus_numbers_admin");
    let t = Tenancy::builder(&app_url)
        .admin_url(&admin_url)
        .max_size(2)
        .build()
        .unwrap();
    let (a, b) = tenants_on_two_workers(&mut owner);

    // Distinct, in tenancy's range, and no number follows from the one before.
    let numbers: Vec<i64> = (0..200)
        .map(|_| {
            count(
                &mut owner,
                "SELECT tenancy.next_distributed_txn_number() AS n",
            )
        })
        .collect();
    let distinct: std::collections::BTreeSet<i64> = numbers.iter().copied().collect();
    assert_eq!(distinct.len(), numbers.len());
    assert!(numbers.iter().all(|n| *n >= 1 << 62), "{numbers:?}");
    let steps: std::collections::BTreeSet<i64> = numbers
        .windows(2)
        .map(|w| w[1].wrapping_sub(w[0]))
        .collect();
    assert!(steps.len() > 190, "{steps:?}");

    for (tenant, text) in [(a, "a's note"), (b, "b's SECRET note")] {
        t.transaction(tenant, |tx| {
            tx.insert_into(notes::table)
                .values((notes::id.eq(1), notes::body.eq(text)))
                .execute()
        })
        .unwrap();
    }
    let placement = count(
        &mut owner,
        &format!(
            "SELECT p.placementid AS n FROM pg_dist_placement p
              WHERE p.shardid = get_shard_id_for_distribution_column('notes', '{}'::uuid)",
            b.as_uuid()
        ),
    );
    // The same statements on the coordinator, and on the worker holding A's shard through a
    // router statement of A's (where Citus's internal functions took the worker session for one
    // of Citus's own).
    let on_a_worker = |expression: &str| {
        format!(
            "SELECT count(*)::text || ({expression})::text AS line FROM notes WHERE tenant_id = '{}'",
            a.as_uuid()
        )
    };
    let statements = [
        "SELECT tenancy.next_distributed_txn_number()::text AS line".to_owned(),
        "SELECT string_agg(waiting_transaction_num::text, ',') AS line FROM dump_local_wait_edges()"
            .to_owned(),
        "SELECT string_agg(waiting_transaction_num::text, ',') AS line FROM dump_global_wait_edges()"
            .to_owned(),
        "SELECT count(*)::text AS line FROM citus_internal.local_blocked_processes()".to_owned(),
        "SELECT count(*)::text AS line FROM citus_internal.global_blocked_processes()".to_owned(),
        "SELECT count(*)::text AS line FROM citus_internal_local_blocked_processes()".to_owned(),
        "SELECT count(*)::text AS line FROM citus_lock_waits".to_owned(),
        "SELECT string_agg(size::text, ',') AS line FROM citus_shard_sizes()".to_owned(),
        "SELECT string_agg(shard_size::text, ',') AS line FROM citus_shards".to_owned(),
        on_a_worker("SELECT count(*) FROM dump_local_wait_edges()"),
        on_a_worker(&format!(
            "SELECT citus_internal.delete_placement_metadata({placement})"
        )),
        on_a_worker(&format!(
            "SELECT citus_internal_delete_placement_metadata({placement})"
        )),
        on_a_worker("SELECT string_agg(size::text, ',') FROM citus_shard_sizes()"),
    ];
    for sql in &statements {
        let in_a = t.transaction(a, |tx| tx.load_sql::<_, Line>(diesel::sql_query(sql)));
        assert!(
            matches!(&in_a, Err(Error::Query(e)) if e.to_string().contains("permission denied")),
            "{sql}: {in_a:?}"
        );
        // The system connection refuses a tenant table itself, before the server's refusal.
        let on_system = t.system(|sys| sys.load_sql::<_, Line>(diesel::sql_query(sql)));
        assert!(
            match &on_system {
                Err(Error::Query(e)) => e.to_string().contains("permission denied"),
                Err(Error::UnsafeSql(
                    tenancy_schema::SqlTextError::TenantTableOnSystemConnection(table),
                )) => table == "notes",
                _ => false,
            },
            "{sql}: {on_system:?}"
        );
    }
    // On every node, and for every function of Citus's internal schema.
    let on_workers: Line = diesel::sql_query(
        "SELECT string_agg(result, ',') AS line FROM run_command_on_workers(
           $$SELECT count(*) FROM pg_proc p
              WHERE (p.pronamespace = 'citus_internal'::regnamespace
                     OR p.proname IN ('dump_local_wait_edges', 'dump_global_wait_edges',
                                      'citus_shard_sizes', 'citus_run_local_command')
                     OR p.proname LIKE 'citus\\_internal\\_%')
                AND has_function_privilege('tenancy_app', p.oid, 'EXECUTE')$$)",
    )
    .get_result(&mut owner)
    .unwrap();
    assert_eq!(on_workers.line, "0,0");
    // Citus's functions that run a statement given as text are refused before they are sent,
    // which also holds where row level security is off.
    let r: Result<Vec<String>, _> = t.transaction(a, |tx| {
        tx.load(notes::table.select(diesel::dsl::sql::<Text>(
            "citus_run_local_command('SELECT 1')::text",
        )))
    });
    assert!(matches!(&r, Err(Error::UnsafeSql(_))), "{r:?}");

    // The placement is still there, and both tenants' work runs on.
    assert_eq!(
        count(
            &mut owner,
            &format!("SELECT count(*) AS n FROM pg_dist_placement WHERE placementid = {placement}")
        ),
        1
    );
    for (tenant, text) in [(a, "a's note"), (b, "b's SECRET note")] {
        let seen: Vec<String> = t
            .transaction(tenant, |tx| tx.load(notes::table.select(notes::body)))
            .unwrap();
        assert_eq!(seen, [text]);
    }
}
