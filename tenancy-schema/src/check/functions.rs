//! The rule about tenancy's own functions: the ones that enter, verify and read the tenant
//! context, and the others its migrations create in schema `tenancy`, must be exactly what
//! those migrations made. A one-line `CREATE OR REPLACE` of `tenancy.verified_context` or
//! `tenancy.trusted_session` would make the context forgeable while every policy, role and
//! privilege still looks right.
//!
//! The comparison is made by the server: each definition of a function in the migrations the
//! database has applied (the last top-level one, and any that a function of the migrations
//! creates later, such as the Citus forms) is created again as a temporary function, in a
//! transaction that is rolled back, and the installed function must match one of them as
//! PostgreSQL stored it (source or parsed body, arguments, result, SECURITY DEFINER,
//! volatility, settings). No SQL is deparsed here.

use std::collections::{BTreeMap, BTreeSet};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text};

use super::CheckOptions;
use super::expr::has_word;
use super::report::Findings;
use crate::migrations::MigrationFiles;
use crate::sql_lexer::{dollar_quoted_bodies, statements};

/// Functions tenancy itself replaces after its migrations ran, checked elsewhere: the context
/// readers (rewritten by `tenancy.enable_native_context()`, TEN067/TEN068) and the tenant
/// status hook, which applications replace on purpose.
const REPLACED_AT_RUN_TIME: &[&str] = &["current_tenant", "current_principal", "tenant_refusal"];

/// What PostgreSQL stored for one function, in a form two copies can be compared by.
#[derive(QueryableByName, Debug)]
struct Stored {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    shape: String,
    /// Whether a role the application role belongs to owns it (and so may replace it).
    #[diesel(sql_type = Bool)]
    app_owned: bool,
    /// How it runs, apart from what it does: volatility, SECURITY DEFINER and `SET` options.
    #[diesel(sql_type = Text)]
    runs: String,
    /// Someone reviewed it (`COMMENT ON FUNCTION .. IS 'tenancy: reviewed: ..'`).
    #[diesel(sql_type = Bool)]
    reviewed: bool,
}

/// How every version of the context readers runs (`STABLE`, as the invoker, no planner support
/// function, no `SET`): each statement reads the context afresh. Declared `IMMUTABLE`, a
/// reader is folded into a constant when a statement is planned, and a plan cached on a pooled
/// connection keeps one tenant's id for the next tenant's transactions; a support function
/// may put any expression (another tenant's id) in place of a call.
const READER_RUNS: &str = "s | false | - | ";

#[derive(QueryableByName)]
struct Applied {
    #[diesel(sql_type = Text)]
    version: String,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Nullable<Text>)]
    found: Option<String>,
}

/// Everything that decides what a function does, as one text: its identity arguments, result,
/// language, source (a `$$` body) or parsed body (`RETURN`, `BEGIN ATOMIC`), SECURITY DEFINER,
/// volatility, strictness and `SET` options; and how the planner treats it: whether it may
/// run in a parallel worker, its cost and rows, and its planner support function (which may
/// put any expression in place of a call).
const SHAPE: &str = "concat_ws(' | ', pg_get_function_identity_arguments(p.oid),
    pg_get_function_result(p.oid), l.lanname,
    regexp_replace(btrim(p.prosrc), '\\s+', ' ', 'g'),
    regexp_replace(btrim(coalesce(pg_get_function_sqlbody(p.oid), '')), '\\s+', ' ', 'g'),
    p.prosecdef::text, p.provolatile::text, p.proisstrict::text, p.proleakproof::text,
    coalesce(p.proconfig::text, ''), p.proparallel::text, p.procost::text, p.prorows::text,
    p.prosupport::text)";

/// What of a function's shape no version of the context readers changes ([`READER_RUNS`]):
/// volatility, SECURITY DEFINER, planner support function (`-`, none) and `SET` options.
const RUNS: &str = "concat_ws(' | ', p.provolatile::text, p.prosecdef::text, p.prosupport::text,
    coalesce(p.proconfig::text, ''))";

/// The definitions of each `tenancy` function in `migrations` (in order), keyed by name: the
/// last top-level `CREATE [OR REPLACE] FUNCTION tenancy.<name>(`, and the ones a function of
/// the migrations runs later, which replace it where they apply (on Citus, say).
fn shipped<'a>(migrations: &[&'a MigrationFiles]) -> BTreeMap<String, Vec<&'a str>> {
    let mut out = every_definition(migrations);
    out.retain(|name, _| !REPLACED_AT_RUN_TIME.contains(&name.as_str()));
    out
}

/// Every definition of each `tenancy` function in `migrations`, by name.
fn every_definition<'a>(migrations: &[&'a MigrationFiles]) -> BTreeMap<String, Vec<&'a str>> {
    let mut out: BTreeMap<String, Vec<&'a str>> = BTreeMap::new();
    for m in migrations {
        for statement in statements(m.up) {
            if let Some(name) = created_function(statement) {
                out.insert(name, vec![statement]);
            }
            for body in dollar_quoted_bodies(statement) {
                for inner in statements(body) {
                    if let Some(name) = created_function(inner) {
                        out.entry(name).or_default().push(inner);
                    }
                }
            }
        }
    }
    out
}

/// The name of the `tenancy` function `statement` creates, if it creates one.
fn created_function(statement: &str) -> Option<String> {
    // Leading comments belong to the statement the splitter returned.
    let code = &statement[crate::sql_lexer::code_start(statement)..];
    // Inside a PL/pgSQL body, the first statement follows the block's BEGIN.
    let mut words: Vec<&str> = code.split_whitespace().take(6).collect();
    if words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("begin"))
    {
        words.remove(0);
    }
    let target = match words.as_slice() {
        [create, function, target, ..]
            if create.eq_ignore_ascii_case("create")
                && function.eq_ignore_ascii_case("function") =>
        {
            *target
        }
        [create, or, replace, function, target, ..]
            if create.eq_ignore_ascii_case("create")
                && or.eq_ignore_ascii_case("or")
                && replace.eq_ignore_ascii_case("replace")
                && function.eq_ignore_ascii_case("function") =>
        {
            *target
        }
        _ => return None,
    };
    let name = target.strip_prefix("tenancy.")?;
    let name = name.split('(').next()?;
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .then(|| name.to_owned())
}

/// The migrations of `migrations` the database behind `conn` has applied, by diesel's record.
/// Without the record, the migrations it has are unknown: none, rather than compare it with
/// migrations it never ran. (Read directly: diesel's `MigrationHarness::applied_migrations`
/// would create the table; check leaves nothing behind.)
pub(super) fn applied<'m>(
    conn: &mut PgConnection,
    migrations: &[&'m MigrationFiles],
) -> QueryResult<Vec<&'m MigrationFiles>> {
    let applied = applied_versions(conn)?;
    Ok(migrations
        .iter()
        .copied()
        .filter(|m| applied.contains(&m.version()))
        .collect())
}

/// The versions of every migration the database ran; none without the record.
fn applied_versions(conn: &mut PgConnection) -> QueryResult<BTreeSet<String>> {
    let table: Found =
        diesel::sql_query("SELECT to_regclass('__diesel_schema_migrations')::text AS found")
            .get_result(conn)?;
    if table.found.is_none() {
        return Ok(BTreeSet::new());
    }
    Ok(
        diesel::sql_query("SELECT version::text AS version FROM __diesel_schema_migrations")
            .load::<Applied>(conn)?
            .into_iter()
            .map(|a| a.version)
            .collect(),
    )
}

/// Whether the database ran migrations besides `known` (the applied ones check was given).
fn ran_others(conn: &mut PgConnection, known: &[&MigrationFiles]) -> QueryResult<bool> {
    let known: BTreeSet<String> = known.iter().map(|m| m.version()).collect();
    Ok(applied_versions(conn)?.iter().any(|v| !known.contains(v)))
}

/// TEN072 on the `tenancy` functions, compared with those of `migrations` (the applied ones,
/// oldest first).
pub(super) fn check_functions(
    f: &mut Findings,
    conn: &mut PgConnection,
    o: &CheckOptions,
    migrations: &[&MigrationFiles],
    known: &[&MigrationFiles],
    protected: &BTreeSet<String>,
) -> QueryResult<()> {
    let installed = load(conn, "to_regnamespace('tenancy')", o)?;
    check_readers(f, &installed, o);
    check_pending(f, migrations, o);
    // The comparison creates temporary functions, DDL that would run such a trigger with this
    // connection's rights (which read the context key); TEN109 reports it instead.
    if !super::event_triggers::foreign_event_triggers(conn)?.is_empty() {
        return Ok(());
    }
    let shipped = shipped(migrations);
    if shipped.is_empty() {
        check_against_every_version(f, conn, &installed, known, o)?;
        // What a function does cannot be compared then, but who may replace it can: any
        // function of schema `tenancy` owned by a role the application role belongs to.
        let owned: BTreeSet<&str> = installed
            .iter()
            .filter(|s| s.app_owned && !REPLACED_AT_RUN_TIME.contains(&s.name.as_str()))
            .map(|s| s.name.as_str())
            .collect();
        for name in owned {
            add_finding(
                f,
                name,
                &replaceable_by(o),
                "give it back to the role that ran the migrations (ALTER FUNCTION .. OWNER TO)",
            );
        }
        return Ok(());
    }
    check_status_hook(f, conn, &installed, migrations, o, protected)?;
    let expected = expected(conn, &shipped, o)?;
    for (name, error) in &expected.failed {
        let have = installed.iter().filter(|s| &s.name == name).count();
        let problem = if have == 0 {
            "missing".to_owned()
        } else {
            format!(
                "not comparable with the function tenancy's migrations create: creating that definition here fails ({error}), so something it calls or names is missing or changed"
            )
        };
        add_finding(
            f,
            name,
            &problem,
            "run tenancy's migrations again on a database that has schema tenancy as they create it (`tenancy init` writes them out), and create the function as the migration that last defines it does",
        );
    }
    for (name, wanted) in &expected.shapes {
        let have: Vec<&Stored> = installed.iter().filter(|s| &s.name == name).collect();
        let problem = match have.as_slice() {
            [] => Some("missing".to_owned()),
            [one] if wanted.contains(&one.shape) && !one.app_owned => None,
            [one] if wanted.contains(&one.shape) => Some(replaceable_by(o)),
            [_] => Some("not the function tenancy's migrations create".to_owned()),
            more => Some(format!(
                "defined {} times: an overload may be what SQL reaches",
                more.len()
            )),
        };
        if let Some(problem) = problem {
            add_finding(
                f,
                name,
                &problem,
                "create it again as the migration that last defines it does (`tenancy init` writes them out), owned by the role that ran the migrations, and drop any other version",
            );
        }
    }
    Ok(())
}

/// TEN072 for each of tenancy's migrations that the database's record says it has not run
/// (`applied` are those it lists), from a set (tenancy's core, or `o.migrations`) of which it
/// ran some: the functions such a migration creates or replaces are missing there, or older
/// versions. A migration reverted with its `down.sql` puts back the version it had fixed (the
/// session opening whose nonce starts at zero, whose context anyone can then forge), and the
/// functions match the migrations the record lists.
fn check_pending(f: &mut Findings, applied: &[&MigrationFiles], o: &CheckOptions) {
    let ran = |m: &MigrationFiles| applied.iter().any(|a| a.name == m.name);
    for set in [crate::migrations::CORE, o.migrations] {
        if !set.iter().any(ran) {
            continue;
        }
        for m in set.iter().filter(|m| !ran(m)) {
            f.add(
                "TEN072",
                format!("migration {}", m.name),
                format!(
                    "tenancy's migration `{}` has not run here, though the database ran others of its set: the functions it creates or replaces are missing or older versions, whose flaws it fixed",
                    m.name
                ),
                "run the pending migrations (`diesel migration run`, or `tenancy migrate`); never revert tenancy's own",
            );
        }
    }
}

/// TEN072 where the database does not say which migrations it ran (diesel's record dropped,
/// say): each function of schema `tenancy` that some migration of `known` creates must be one
/// of the versions any of them ever created. Which one cannot be told, but a version no
/// migration wrote is not tenancy's.
fn check_against_every_version(
    f: &mut Findings,
    conn: &mut PgConnection,
    installed: &[Stored],
    known: &[&MigrationFiles],
    o: &CheckOptions,
) -> QueryResult<()> {
    let mut versions = all_versions(known);
    versions.retain(|name, _| !REPLACED_AT_RUN_TIME.contains(&name.as_str()));
    versions.retain(|name, _| installed.iter().any(|s| &s.name == name));
    if versions.is_empty() {
        return Ok(());
    }
    let shapes = expected_leniently(conn, &versions, o)?;
    for s in installed {
        let Some(wanted) = shapes.get(&s.name) else {
            continue;
        };
        if !wanted.contains(&s.shape) {
            add_finding(
                f,
                &s.name,
                "none of the versions tenancy's migrations ever created (the database keeps no record of the migrations it ran, so every version is accepted, and this is none of them)",
                "create it again as the migration that last defines it does (`tenancy init` writes them out), owned by the role that ran the migrations",
            );
        }
    }
    Ok(())
}

/// Which functions of schema `tenancy` are tenancy's own, compared with its migrations by
/// TEN072 rather than read like anyone's code.
pub(super) struct Tenancys {
    /// The names some migration check knows creates in schema `tenancy`.
    names: BTreeSet<String>,
    /// The database ran migrations check was not given, which may create others there.
    unknown_migrations: bool,
}

impl Tenancys {
    /// The functions of schema `tenancy` the migrations of `known` create, and whether the
    /// database behind `conn` ran others besides `applied`.
    pub(super) fn new(
        conn: &mut PgConnection,
        known: &[&MigrationFiles],
        applied: &[&MigrationFiles],
    ) -> QueryResult<Self> {
        Ok(Self {
            names: all_versions(known).into_keys().collect(),
            unknown_migrations: ran_others(conn, applied)?,
        })
    }

    /// tenancy's own functions, as [`super::catalog::VettedDefiners`] takes them.
    pub(super) fn vetted(&self) -> super::catalog::VettedDefiners {
        super::catalog::VettedDefiners {
            names: self.names.iter().cloned().collect(),
            whole_schema: self.unknown_migrations,
        }
    }

    /// Whether a function named `name` (in lower case), of schema `tenancy` or not
    /// (`in_schema`), is tenancy's own: a function of that schema by a name no migration
    /// creates is no more tenancy's than one of any other schema.
    pub(super) fn owns(&self, in_schema: bool, name: &str) -> bool {
        in_schema && (self.unknown_migrations || self.names.contains(name))
    }
}

/// Every definition of each `tenancy` function in `migrations`, every version of it, by name.
fn all_versions<'a>(migrations: &[&'a MigrationFiles]) -> BTreeMap<String, Vec<&'a str>> {
    let mut out: BTreeMap<String, Vec<&'a str>> = BTreeMap::new();
    for m in migrations {
        for statement in statements(m.up) {
            if let Some(name) = created_function(statement) {
                out.entry(name).or_default().push(statement);
            }
            for body in dollar_quoted_bodies(statement) {
                for inner in statements(body) {
                    if let Some(name) = created_function(inner) {
                        out.entry(name).or_default().push(inner);
                    }
                }
            }
        }
    }
    out
}

/// TEN072 for the functions tenancy replaces at run time, whose body is checked elsewhere:
/// whoever may replace them, and how they run, which no version of them changes.
fn check_readers(f: &mut Findings, installed: &[Stored], o: &CheckOptions) {
    for s in installed
        .iter()
        .filter(|s| REPLACED_AT_RUN_TIME.contains(&s.name.as_str()))
    {
        if s.app_owned {
            add_finding(
                f,
                &s.name,
                &replaceable_by(o),
                "give it back to the role that ran the migrations (ALTER FUNCTION .. OWNER TO)",
            );
        } else if s.name != "tenant_refusal" && s.runs != READER_RUNS {
            add_finding(
                f,
                &s.name,
                &format!(
                    "declared to run otherwise than STABLE, as its caller, with no planner support function and no SET option ({}): declared IMMUTABLE, it is folded into a constant when a statement is planned, and a plan cached on a pooled connection keeps one tenant's id for the next tenant; a support function may put any expression in place of its calls",
                    s.runs
                ),
                &format!(
                    "ALTER FUNCTION tenancy.{}() STABLE SECURITY INVOKER RESET ALL (a SUPPORT function goes only with CREATE OR REPLACE FUNCTION, as the migration that last defines it writes it)",
                    s.name
                ),
            );
        }
    }
}

/// TEN072 for the tenant status hook when it is none of the versions the migrations create
/// and nobody marked it reviewed, where the database ran no migration check was not given. Applications replace it on purpose (a table of tenants of
/// their own); it runs inside `tenancy.enter()`, a SECURITY DEFINER function, so whatever a
/// replacement reads or sets, it does with the rights of the migrations' role, for every
/// tenant (a copy of every tenant's rows into a setting the caller then reads, say).
fn check_status_hook(
    f: &mut Findings,
    conn: &mut PgConnection,
    installed: &[Stored],
    migrations: &[&MigrationFiles],
    o: &CheckOptions,
    protected: &BTreeSet<String>,
) -> QueryResult<()> {
    const HOOK: &str = "tenant_refusal";
    let Some(hook) = installed.iter().find(|s| s.name == HOOK) else {
        return Ok(());
    };
    if hook.reviewed {
        return Ok(());
    }
    let mut definitions = every_definition(migrations);
    definitions.retain(|name, _| name == HOOK);
    if definitions.is_empty() {
        return Ok(());
    }
    let shapes = expected(conn, &definitions, o)?.shapes;
    if shapes.get(HOOK).is_some_and(|s| s.contains(&hook.shape)) {
        return Ok(());
    }
    // A migration check was not given (the application's own, or the foundation's when its
    // set was not passed) may have replaced it on purpose, but a replacement that does more
    // than read the tenants' status is still no hook.
    if ran_others(conn, migrations)? {
        if let Some(what) = beyond_a_status_read(&hook.shape, protected, &o.tenants_table) {
            add_finding(
                f,
                HOOK,
                &format!(
                    "not marked reviewed, and it {what}; it runs inside tenancy.enter() with the rights of the role that ran the migrations, so it does so for every tenant"
                ),
                "make it read the tenants' status and nothing else, then COMMENT ON FUNCTION tenancy.tenant_refusal(uuid) IS 'tenancy: reviewed: <what it reads>'",
            );
        }
        return Ok(());
    }
    add_finding(
        f,
        HOOK,
        "none of the versions tenancy's migrations create, and not marked reviewed; it runs inside tenancy.enter() with the rights of the role that ran the migrations, so whatever it reads or sets, it does for every tenant",
        "review it (it should read the tenants' status and nothing else, change no setting and call nothing that does), then COMMENT ON FUNCTION tenancy.tenant_refusal(uuid) IS 'tenancy: reviewed: <what it reads>'",
    );
    Ok(())
}

/// What a replaced status hook (`shape`, its stored form) does beyond reading the tenants'
/// status: a setting it changes, a row it writes, SQL built at run time, a message sent out,
/// or a protected table other than the tenants table that it names.
fn beyond_a_status_read(
    shape: &str,
    protected: &BTreeSet<String>,
    tenants_table: &str,
) -> Option<String> {
    let lower = shape.to_ascii_lowercase();
    let acts = [
        ("set_config", "changes a setting (set_config)"),
        ("pg_notify", "sends rows out (pg_notify)"),
        ("execute", "runs statements built at run time (EXECUTE)"),
        ("insert", "writes rows (INSERT)"),
        ("update", "writes rows (UPDATE)"),
        ("delete", "writes rows (DELETE)"),
        ("merge", "writes rows (MERGE)"),
        ("copy", "copies rows (COPY)"),
        ("raise", "sends messages (RAISE)"),
        ("dblink", "connects elsewhere (dblink)"),
    ];
    if let Some((_, what)) = acts.iter().find(|(w, _)| has_word(&lower, w)) {
        return Some((*what).to_owned());
    }
    if let Some(called) = own_function_called(shape) {
        return Some(format!(
            "calls {called}, which runs with the hook's rights and may do any of that"
        ));
    }
    let read: Vec<&str> = protected
        .iter()
        .map(String::as_str)
        .filter(|t| *t != tenants_table && has_word(&lower, t))
        .collect();
    (!read.is_empty()).then(|| format!("reads {}", read.join(", ")))
}

/// The first function `shape` calls by a schema-qualified name outside PostgreSQL's own and
/// tenancy's (`public.note_tenant(tenant)`): what it does is not in the hook's text.
fn own_function_called(shape: &str) -> Option<String> {
    use crate::sql_lexer::Token;
    let tokens = crate::sql_lexer::tokenize(shape).ok()?;
    tokens.windows(4).find_map(|w| match w {
        [
            Token::Ident { name: schema, .. },
            Token::Punct('.'),
            Token::Ident { name, .. },
            Token::Punct('('),
        ] if !matches!(schema.as_str(), "pg_catalog" | "tenancy") => {
            Some(format!("{schema}.{name}()"))
        }
        _ => None,
    })
}

/// TEN072 for `tenancy.<name>()`, which is `problem`.
fn add_finding(f: &mut Findings, name: &str, problem: &str, hint: &str) {
    f.add(
        "TEN072",
        format!("function tenancy.{name}"),
        format!("tenancy.{name}() is {problem}: tenancy's context and checks rely on it doing exactly what the migrations wrote"),
        hint,
    );
}

/// The problem of a function owned by a role the application role belongs to.
fn replaceable_by(o: &CheckOptions) -> String {
    format!(
        "owned by a role `{}` belongs to, which may replace it",
        o.app_role
    )
}

/// The stored form of every function of `namespace` named in `o`'s sense.
fn load(conn: &mut PgConnection, namespace: &str, o: &CheckOptions) -> QueryResult<Vec<Stored>> {
    diesel::sql_query(format!(
        "SELECT p.proname::text AS name, {SHAPE} AS shape, {RUNS} AS runs,
                coalesce((SELECT pg_has_role(r.oid, p.proowner, 'MEMBER') FROM pg_roles r
                          WHERE r.rolname = $1), false) AS app_owned,
                coalesce(obj_description(p.oid, 'pg_proc') LIKE 'tenancy: reviewed%', false) AS reviewed
         FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         WHERE p.pronamespace = {namespace}"
    ))
    .bind::<Text, _>(&o.app_role)
    .load(conn)
}

/// `definition` (a `CREATE [OR REPLACE] FUNCTION tenancy.<name>(..)` statement, maybe with
/// leading comments, which may name the function too) creating the function in `pg_temp`.
fn in_temp_schema(definition: &str, name: &str) -> String {
    let (comments, code) = definition.split_at(crate::sql_lexer::code_start(definition));
    format!(
        "{comments}{}",
        code.replacen(&format!("tenancy.{name}("), &format!("pg_temp.{name}("), 1)
    )
}

/// [`expected`] for definitions some of which may no longer be created (an old version
/// naming a type since dropped): each in a savepoint of its own, and those that fail left out.
fn expected_leniently(
    conn: &mut PgConnection,
    versions: &BTreeMap<String, Vec<&str>>,
    o: &CheckOptions,
) -> QueryResult<BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let result = conn.transaction::<(), diesel::result::Error, _>(|conn| {
        conn.batch_execute("SET LOCAL check_function_bodies = off")?;
        for (name, definitions) in versions {
            for definition in definitions {
                // A definition that fails is left out with its savepoint.
                let _ = conn.transaction::<(), diesel::result::Error, _>(|conn| {
                    conn.batch_execute(&in_temp_schema(definition, name))?;
                    for stored in load(conn, "pg_my_temp_schema()", o)? {
                        out.entry(stored.name).or_default().insert(stored.shape);
                    }
                    Err(diesel::result::Error::RollbackTransaction)
                });
            }
        }
        Err(diesel::result::Error::RollbackTransaction)
    });
    match result {
        Ok(()) | Err(diesel::result::Error::RollbackTransaction) => Ok(out),
        Err(e) => Err(e),
    }
}

/// What [`expected`] found: the shapes each function may have, by name, and for a name none
/// of whose definitions could be created here, why (what it needs is missing or changed).
struct Expected {
    shapes: BTreeMap<String, BTreeSet<String>>,
    failed: BTreeMap<String, String>,
}

/// Creates each shipped definition as a temporary function and reads what PostgreSQL stored,
/// in a transaction rolled back afterwards: the shapes each function may have, by name.
/// (`name` is a plain lower-case identifier: [`created_function`] accepts no other.)
fn expected(
    conn: &mut PgConnection,
    shipped: &BTreeMap<String, Vec<&str>>,
    o: &CheckOptions,
) -> QueryResult<Expected> {
    let mut shapes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    let result = conn.transaction::<(), diesel::result::Error, _>(|conn| {
        // Bodies are stored as written: nothing they name needs to resolve now.
        conn.batch_execute("SET LOCAL check_function_bodies = off")?;
        for (name, definitions) in shipped {
            // The same name, since a parsed body spells parameters with it; one definition at
            // a time, each in a savepoint of its own, since the alternatives may differ in ways
            // `CREATE OR REPLACE` refuses. A body in standard SQL is resolved even so: with
            // schema `tenancy` or a function it calls dropped, creating it fails.
            for definition in definitions {
                let created = conn.transaction::<(), diesel::result::Error, _>(|conn| {
                    conn.batch_execute(&in_temp_schema(definition, name))?;
                    for stored in load(conn, "pg_my_temp_schema()", o)? {
                        shapes.entry(stored.name).or_default().insert(stored.shape);
                    }
                    Err(diesel::result::Error::RollbackTransaction)
                });
                match created {
                    Ok(()) | Err(diesel::result::Error::RollbackTransaction) => {}
                    Err(e) => {
                        failed.entry(name.clone()).or_insert_with(|| e.to_string());
                    }
                }
            }
        }
        Err(diesel::result::Error::RollbackTransaction)
    });
    failed.retain(|name, _| !shapes.contains_key(name));
    match result {
        Ok(()) | Err(diesel::result::Error::RollbackTransaction) => Ok(Expected { shapes, failed }),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_hook_that_calls_a_function_of_its_own_does_more_than_read() {
        let none = BTreeSet::new();
        let calls = "SELECT CASE WHEN x.status <> 'active' THEN 'suspended' END \
            FROM public.tenants x WHERE x.id = tenant AND public.note_tenant(tenant)";
        assert_eq!(
            beyond_a_status_read(calls, &none, "tenants").as_deref(),
            Some(
                "calls public.note_tenant(), which runs with the hook's rights and may do any of that"
            )
        );
        for reads in [
            "SELECT CASE WHEN x.status <> 'active' THEN 'suspended' END FROM public.tenants x WHERE x.id = tenant",
            "SELECT pg_catalog.lower(x.status::text) FROM public.tenants x WHERE x.id = tenant",
        ] {
            assert_eq!(
                beyond_a_status_read(reads, &none, "tenants"),
                None,
                "{reads}"
            );
        }
    }

    #[test]
    fn a_definition_is_moved_to_the_temporary_schema_past_its_comments() {
        assert_eq!(
            in_temp_schema(
                "-- Run by tenancy.prepare_citus().\nCREATE FUNCTION tenancy.prepare_citus() RETURNS void",
                "prepare_citus"
            ),
            "-- Run by tenancy.prepare_citus().\nCREATE FUNCTION pg_temp.prepare_citus() RETURNS void"
        );
    }

    #[test]
    fn the_functions_the_migrations_create_are_found() {
        assert_eq!(
            created_function("-- why\nCREATE OR REPLACE FUNCTION tenancy.enter(\n  tenant uuid)"),
            Some("enter".to_owned())
        );
        assert_eq!(
            created_function("CREATE FUNCTION tenancy.trusted_session() RETURNS boolean"),
            Some("trusted_session".to_owned())
        );
        assert_eq!(
            created_function("CREATE FUNCTION public.f() RETURNS int"),
            None
        );
        assert_eq!(
            created_function("COMMENT ON FUNCTION tenancy.enter(uuid) IS 'x'"),
            None
        );
        let names: Vec<String> = shipped(&crate::migrations::CORE.iter().collect::<Vec<_>>())
            .into_keys()
            .collect();
        for name in [
            "enter",
            "verified_context",
            "trusted_session",
            "check_session",
            "open_session",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        assert!(!names.iter().any(|n| n == "current_tenant"));
    }
}
