//! The Citus rules that need more than one table's catalog rows: what a coordinator and its
//! shards say about the tenant context, the policies Citus copied and the logins its worker
//! connections use. The per-table readiness rules (keys, sub-query policies, the tenant
//! predicate) sit with the isolation rules in `tables.rs`.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::CheckOptions;
use super::report::Findings;

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
}

#[derive(QueryableByName)]
struct Distributed {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    method: String,
}

#[derive(QueryableByName)]
struct ShardPolicies {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = BigInt)]
    shards: i64,
    /// Shards whose policies differ from the coordinator's in number, or of which one lacks
    /// the tenant predicate.
    #[diesel(sql_type = BigInt)]
    short: i64,
}

#[derive(QueryableByName)]
struct WorkerKey {
    #[diesel(sql_type = Text)]
    node: String,
    #[diesel(sql_type = Bool)]
    same_key: bool,
    /// What the worker answered when the key could not be read there (unreachable, no table).
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    error: Option<String>,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// What a Citus coordinator says about itself, loaded only with `--citus` on a database with
/// the `citus` extension.
pub(super) struct CitusState {
    propagate_set_commands: Option<String>,
    /// Distributed or reference tables of the checked schema, by name: `h` hash-distributed,
    /// `n` reference (or a local table Citus tracks).
    distributed: BTreeMap<String, String>,
    shard_policies: Vec<ShardPolicies>,
    worker_keys: Vec<WorkerKey>,
    policy_guard: bool,
    /// SQL-language functions with parameters that read a distributed or reference table.
    sql_functions: Vec<String>,
    /// Trigger functions of distributed tables that query a distributed table by name.
    shard_triggers: Vec<String>,
    /// Functions taking a distributed table's row type that such a trigger function calls.
    row_type_functions: Vec<String>,
    /// Logins that reach the admin role only through `SET ROLE` (a `NOINHERIT` membership,
    /// or no `BYPASSRLS` of their own): Citus would log in to the workers as `tenancy_admin`.
    set_role_admins: Vec<String>,
    /// Per node, Citus's functions and views the migrations take from `PUBLIC` that the
    /// application role or one of its logins may still use there ([`CLOSED_SQL`]).
    reopened: Vec<Reopened>,
}

#[derive(QueryableByName)]
struct Reopened {
    #[diesel(sql_type = Text)]
    node: String,
    #[diesel(sql_type = Nullable<Text>)]
    objects: Option<String>,
}

/// The Citus functions and views `tenancy.hide_worker_activity()` takes from `PUBLIC` on
/// every node, that the application role (`%1$L`) or a login member of it may use on the node
/// this runs on: they run SQL on other nodes, show other sessions' statements or distributed
/// transaction numbers (with one, a tenant's SQL read another tenant's intermediate results),
/// change a worker's metadata (`citus_internal`), or size one tenant's shard.
const CLOSED_SQL: &str = "
WITH app AS (
  SELECT r.oid FROM pg_roles r
   WHERE r.rolname = %1$L
      OR (r.rolcanlogin AND NOT r.rolsuper
          AND pg_has_role(r.oid, (SELECT oid FROM pg_roles WHERE rolname = %1$L), 'MEMBER'))),
objects AS (
  SELECT p.oid::regprocedure::text AS name FROM pg_proc p
   WHERE ((p.pronamespace = 'pg_catalog'::regnamespace
           AND (p.proname IN ('run_command_on_workers', 'run_command_on_shards',
                              'run_command_on_placements', 'run_command_on_colocated_placements',
                              'run_command_on_all_nodes', 'run_command_on_coordinator',
                              'master_run_on_worker', 'citus_stat_activity',
                              'citus_dist_stat_activity', 'citus_worker_stat_activity',
                              'get_global_active_transactions', 'get_all_active_transactions',
                              'get_current_transaction_id', 'dump_local_wait_edges',
                              'dump_global_wait_edges', 'citus_shard_sizes',
                              'citus_run_local_command')
                OR p.proname LIKE 'citus\\_internal\\_%'))
          OR p.pronamespace = to_regnamespace('citus_internal'))
     AND EXISTS (SELECT FROM app WHERE has_function_privilege(app.oid, p.oid, 'EXECUTE'))
  UNION ALL
  SELECT c.oid::regclass::text FROM pg_class c
   WHERE c.relnamespace = 'pg_catalog'::regnamespace
     AND c.relname IN ('citus_stat_activity', 'citus_dist_stat_activity',
                       'citus_worker_stat_activity', 'citus_lock_waits',
                       'pg_dist_transaction', 'citus_shards')
     AND EXISTS (SELECT FROM app WHERE has_table_privilege(app.oid, c.oid, 'SELECT')))
SELECT string_agg(name, ', ' ORDER BY name) FROM objects";

/// Loads [`CitusState`], or `None` without the `citus` extension.
pub(super) fn load_citus(
    conn: &mut PgConnection,
    o: &CheckOptions,
    tenant_tables: &BTreeMap<String, String>,
) -> QueryResult<Option<CitusState>> {
    let citus: Setting = diesel::sql_query(
        "SELECT extversion::text AS value FROM pg_extension WHERE extname = 'citus'
         UNION ALL SELECT NULL LIMIT 1",
    )
    .get_result(conn)?;
    if citus.value.is_none() {
        return Ok(None);
    }
    let propagate: Setting =
        diesel::sql_query("SELECT current_setting('citus.propagate_set_commands', true) AS value")
            .get_result(conn)?;
    let distributed: Vec<Distributed> = diesel::sql_query(
        "SELECT c.relname::text AS table_name, d.partmethod::text AS method
           FROM pg_dist_partition d JOIN pg_class c ON c.oid = d.logicalrelid
          WHERE c.relnamespace = to_regnamespace(quote_ident($1))",
    )
    .bind::<Text, _>(&o.schema)
    .load(conn)?;
    let distributed: BTreeMap<String, String> = distributed
        .into_iter()
        .map(|d| (d.table_name, d.method))
        .collect();
    let mut shard_policies = Vec::new();
    for (table, col) in tenant_tables {
        if distributed.get(table).map(String::as_str) != Some("h") {
            continue;
        }
        // On each shard: how many policies, and how many carry the tenant predicate. A shard
        // agrees when both equal the coordinator's number of policies.
        shard_policies.push(
            diesel::sql_query(
                "WITH coordinator AS (
                   SELECT count(*) AS n FROM pg_policy
                    WHERE polrelid = format('%I.%I', $1, $2)::regclass),
                 shards AS (
                   SELECT result FROM run_command_on_shards(format('%I.%I', $1, $2), format(
                     $$SELECT count(*) || '/' || count(*) FILTER (WHERE tenancy.carries_tenant_predicate(
                              pg_get_expr(polqual, polrelid), %L)
                            AND tenancy.carries_tenant_predicate(pg_get_expr(polwithcheck, polrelid), %L))
                         FROM pg_policy WHERE polrelid = '%%s'::regclass$$, $3, $3)))
                 SELECT $2::text AS table_name, count(*) AS shards,
                        count(*) FILTER (WHERE s.result IS DISTINCT FROM c.n || '/' || c.n) AS short
                   FROM shards s, coordinator c",
            )
            .bind::<Text, _>(&o.schema)
            .bind::<Text, _>(table)
            .bind::<Text, _>(col)
            .get_result(conn)?,
        );
    }
    let worker_keys: Vec<WorkerKey> = diesel::sql_query(
        "SELECT w.nodename || ':' || w.nodeport AS node,
                coalesce(w.success AND w.result = (SELECT encode(sha256(key), 'hex')
                                                     FROM tenancy.context_key WHERE id = 1),
                         false) AS same_key,
                CASE WHEN NOT w.success THEN w.result END AS error
           FROM run_command_on_workers(
                  $$SELECT encode(sha256(key), 'hex') FROM tenancy.context_key WHERE id = 1$$) w
          WHERE to_regclass('tenancy.context_key') IS NOT NULL",
    )
    .load(conn)?;
    let policy_guard: Setting = diesel::sql_query(
        "SELECT CASE WHEN EXISTS (SELECT FROM pg_event_trigger
                                  WHERE evtname = 'tenancy_distributed_policies' AND evtenabled <> 'D')
                THEN 'yes' END AS value",
    )
    .get_result(conn)?;
    let (sql_functions, shard_triggers, row_type_functions) = load_function_rules(conn, o)?;
    let set_role_admins: Vec<Name> = diesel::sql_query(
        "SELECT r.rolname::text AS name
           FROM pg_auth_members m
           JOIN pg_roles a ON a.oid = m.roleid AND a.rolname = 'tenancy_admin'
           JOIN pg_roles r ON r.oid = m.member
          WHERE r.rolcanlogin AND NOT r.rolsuper
            AND NOT (r.rolbypassrls AND pg_has_role(r.oid, a.oid, 'USAGE'))
          ORDER BY 1",
    )
    .load(conn)?;
    let reopened = load_reopened(conn, &o.app_role)?;
    Ok(Some(CitusState {
        propagate_set_commands: propagate.value,
        distributed,
        shard_policies,
        worker_keys,
        policy_guard: policy_guard.value.is_some(),
        sql_functions,
        shard_triggers,
        row_type_functions,
        set_role_admins: set_role_admins.into_iter().map(|n| n.name).collect(),
        reopened,
    }))
}

/// [`CLOSED_SQL`] on the coordinator and on each worker, for the application role `app_role`.
fn load_reopened(conn: &mut PgConnection, app_role: &str) -> QueryResult<Vec<Reopened>> {
    let closed = CLOSED_SQL
        .trim()
        .replace("%1$L", &format!("'{}'", app_role.replace('\'', "''")));
    let here: Setting =
        diesel::sql_query(format!("SELECT ({closed}) AS value")).get_result(conn)?;
    diesel::sql_query(
        "SELECT 'coordinator' AS node, ($1::text) AS objects
         UNION ALL
         SELECT 'worker ' || w.nodename || ':' || w.nodeport,
                CASE WHEN w.success THEN NULLIF(w.result, '') ELSE 'unknown: ' || w.result END
           FROM run_command_on_workers($2) w",
    )
    .bind::<Nullable<Text>, _>(here.value)
    .bind::<Text, _>(&closed)
    .load(conn)
}

/// CIT015 for each node where [`CLOSED_SQL`] found something.
fn check_reopened(f: &mut Findings, state: &CitusState) {
    for r in &state.reopened {
        let Some(objects) = &r.objects else { continue };
        f.add(
            "CIT015",
            r.node.clone(),
            format!(
                "the application role or one of its logins may use Citus functions or views the migrations take from PUBLIC: {objects}. They run SQL on other nodes, show other sessions' statements or distributed transaction numbers (with one, a tenant's SQL reads another tenant's intermediate results), change a worker's metadata or size one tenant's shard"
            ),
            "SELECT tenancy.prepare_citus() on the coordinator as the migrations' role, and revoke what was granted to the application role or its logins on that node",
        );
    }
}

/// The functions Citus cannot run where they are used: SQL functions with parameters that
/// read a distributed or reference table, the trigger functions of distributed tables that
/// query one, and functions taking a distributed table's row type that such a trigger calls
/// (on a shard the row is of the shard's type).
fn load_function_rules(
    conn: &mut PgConnection,
    o: &CheckOptions,
) -> QueryResult<(Vec<String>, Vec<String>, Vec<String>)> {
    // A function's body names a table when it depends on it (SQL-standard bodies) or when its
    // text reads it (`FROM`/`JOIN`/`INTO`/`UPDATE` the name).
    let reads_distributed = concat!(
        "EXISTS (
        SELECT FROM pg_dist_partition d JOIN pg_class c ON c.oid = d.logicalrelid
         WHERE EXISTS (SELECT FROM pg_depend dep WHERE dep.objid = p.oid AND dep.refobjid = c.oid)
            OR p.prosrc ~* ('(from|join|into|update)\\s+(\\w+\\.)?' || ",
        regex_escaped!("c.relname"),
        " || '\\M'))"
    );
    let sql_functions: Vec<Name> = diesel::sql_query(format!(
        "SELECT p.oid::regprocedure::text AS name
           FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'sql'
          WHERE p.pronargs > 0
            AND p.pronamespace IN (to_regnamespace('tenancy'), to_regnamespace(quote_ident($1)))
            AND {reads_distributed}
          ORDER BY 1"
    ))
    .bind::<Text, _>(&o.schema)
    .load(conn)?;
    let shard_triggers: Vec<Name> = diesel::sql_query(format!(
        "SELECT DISTINCT t.tgrelid::regclass::text || ': ' || p.oid::regprocedure::text AS name
           FROM pg_trigger t
           JOIN pg_dist_partition dp ON dp.logicalrelid = t.tgrelid AND dp.partmethod = 'h'
           JOIN pg_proc p ON p.oid = t.tgfoid
          WHERE NOT t.tgisinternal AND {reads_distributed}
          ORDER BY 1"
    ))
    .load(conn)?;
    let row_type_functions: Vec<Name> = diesel::sql_query(concat!(
        "SELECT DISTINCT f.oid::regprocedure::text AS name
           FROM pg_proc f
           JOIN pg_dist_partition d ON d.partmethod = 'h'
           JOIN pg_class c ON c.oid = d.logicalrelid
          WHERE c.reltype = ANY (f.proargtypes::oid[])
            AND EXISTS (
              SELECT FROM pg_trigger t
                JOIN pg_dist_partition td ON td.logicalrelid = t.tgrelid AND td.partmethod = 'h'
                JOIN pg_proc tf ON tf.oid = t.tgfoid
               WHERE NOT t.tgisinternal AND tf.prosrc ~* ('\\m' || ",
        regex_escaped!("f.proname"),
        " || '\\s*\\('))
          ORDER BY 1"
    ))
    .load(conn)?;
    Ok((
        sql_functions.into_iter().map(|n| n.name).collect(),
        shard_triggers.into_iter().map(|n| n.name).collect(),
        row_type_functions.into_iter().map(|n| n.name).collect(),
    ))
}

/// The rules that need [`CitusState`].
pub(super) fn check_citus(
    f: &mut Findings,
    state: &CitusState,
    tenant_tables: &BTreeMap<String, String>,
) {
    if state.propagate_set_commands.as_deref() != Some("local") {
        f.add(
            "CIT006",
            "setting citus.propagate_set_commands",
            format!(
                "is {}: tenancy's transactions set it to 'local' themselves, but no other SET LOCAL (statement_timeout, lock_timeout, your own settings) reaches the workers",
                state.propagate_set_commands.as_deref().unwrap_or("unset")
            ),
            "ALTER SYSTEM SET citus.propagate_set_commands = 'local' on the coordinator, then SELECT pg_reload_conf()",
        );
    }
    for table in tenant_tables.keys() {
        if !state.distributed.contains_key(table) {
            f.add(
                "CIT007",
                format!("table {table}"),
                format!("tenant table `{table}` is not distributed: its rows stay on the coordinator"),
                format!("SELECT tenancy.distribute('{table}') in a migration, after its policies and its parent tables' distribution"),
            );
        }
    }
    for s in &state.shard_policies {
        if s.short > 0 {
            f.add(
                "CIT008",
                format!("table {}", s.table_name),
                format!(
                    "{} of {} shards have other policies than the coordinator, or one without the tenant predicate",
                    s.short, s.shards
                ),
                "recreate the policies on the coordinator (Citus copies them to the shards), each beginning with the tenant predicate",
            );
        }
    }
    for w in state.worker_keys.iter().filter(|w| !w.same_key) {
        let message = match &w.error {
            None => {
                "has no copy of the coordinator's context key: tenant queries fail there".to_owned()
            }
            Some(error) => format!(
                "could not be asked for its copy of the context key ({error}): tenant queries fail there unless it has one"
            ),
        };
        f.add(
            "CIT009",
            format!("worker {}", w.node),
            message,
            "SELECT tenancy.prepare_citus() on the coordinator (after adding a worker, too)",
        );
    }
    if !state.policy_guard {
        f.add(
            "CIT010",
            "event trigger tenancy_distributed_policies",
            "is missing: a policy without the tenant predicate can be added to a distributed table",
            "SELECT tenancy.prepare_citus() on the coordinator, as a superuser",
        );
    }
    for function in &state.sql_functions {
        f.add(
            "CIT012",
            format!("function {function}"),
            "a SQL function with parameters reads a distributed or reference table: Citus cannot plan it when it runs",
            "write it in PL/pgSQL (the same query inside RETURN QUERY)",
        );
    }
    for trigger in &state.shard_triggers {
        f.add(
            "CIT013",
            format!("trigger {trigger}"),
            "a trigger of a distributed table queries a distributed table: on the shards that is a distributed query inside a shard's, which Citus refuses",
            "read the shard the trigger fires on (EXECUTE format('... FROM %I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME)) or keep the work in the application",
        );
    }
    for function in &state.row_type_functions {
        f.add(
            "CIT014",
            format!("function {function}"),
            "takes a distributed table's row type and a trigger of a distributed table calls it: on a shard the trigger's row is of the shard's type, so the call fails there",
            "take the row as jsonb (to_jsonb(NEW)) or the columns it needs",
        );
    }
    check_reopened(f, state);
    for login in &state.set_role_admins {
        f.add(
            "CIT011",
            format!("role {login}"),
            "reaches tenancy_admin through SET ROLE: Citus opens worker connections as tenancy_admin, which cannot log in",
            format!("ALTER ROLE {login} BYPASSRLS INHERIT: the admin path then needs no SET ROLE"),
        );
    }
}
