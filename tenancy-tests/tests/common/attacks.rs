//! The attacks the synchronous and the async adversarial suites both run, and what they check
//! afterwards: one list of each, so that the two APIs face the same attacks.

use diesel::prelude::*;
use diesel::sql_types::Text;
use tenancy_schema::{Error, SqlTextError, TenantId};

use super::Rls;

/// Raw filter fragments that name a tenant table qualified by its schema, which the shadowing
/// CTE does not reach: refused before sending (`SqlTextError::QualifiedTenantTable`).
pub const SCHEMA_QUALIFIED: &[&str] = &[
    "EXISTS (SELECT 1 FROM public.posts p WHERE p.title LIKE 'b%')",
    r#"EXISTS (SELECT 1 FROM "public"."posts" WHERE title LIKE 'b%')"#,
    "EXISTS (SELECT 1 FROM PUBLIC.Comments)",
    // To the server a comment is white space, and a line comment ends at a carriage return.
    "EXISTS (SELECT 1 FROM public/**/.posts p WHERE p.title LIKE 'b%')",
    "EXISTS (SELECT 1 FROM public. -- x\n posts p WHERE p.title LIKE 'b%')",
    "EXISTS (SELECT 1 -- x\rFROM public.posts p WHERE p.title LIKE 'b%')",
    // `$é$` is a dollar-quote tag to the server: `$é$'$é$` is a string holding a quote, and
    // the sub-select after it is code.
    "$é$'$é$ || (SELECT max(title) FROM public.posts) LIKE chr(39) || chr(98) || chr(37) -- '\n",
];

/// Raw filter fragments that run SQL from text, name a table in an escaped form, or read the
/// planner's statistics: refused before sending (`SqlTextError::DynamicSql`,
/// `EscapedIdentifier`, `StatisticsView`).
pub const RUN_FROM_TEXT: &[&str] = &[
    "EXISTS (SELECT 1 FROM unnest(xpath('//title/text()', query_to_xml('SELECT title FROM posts', true, false, ''))) x WHERE x::text LIKE 'b%')",
    "EXISTS (SELECT 1 FROM unnest(xpath('//title/text()', pg_catalog.table_to_xml('posts', true, false, ''))) x WHERE x::text LIKE 'b%')",
    r#"EXISTS (SELECT 1 FROM U&"\0070osts" WHERE title LIKE 'b%')"#,
    "EXISTS (SELECT 1 FROM unnest(xpath('//title/text()', query_to_xml/**/('SELECT title FROM posts', true, false, ''))) x WHERE x::text LIKE 'b%')",
    "ts_rewrite('x'::tsquery, 'SELECT ''x''::tsquery, plainto_tsquery(title) FROM posts')::text LIKE '%b%'",
    // The planner's statistics hold sample values of every tenant's rows, shown wherever row
    // level security is off.
    "EXISTS (SELECT 1 FROM pg_catalog.pg_stats s WHERE s.tablename = 'posts' AND s.most_common_vals::text LIKE '%b one%')",
    r#"EXISTS (SELECT 1 FROM "pg_stats_ext" WHERE tablename = 'posts')"#,
];

/// Relations that hold or show tenant rows under another name: views (run with their
/// owner's rights, or the caller's), a view of a view, a view over a global table that reads a
/// tenant table in a sub-query, a materialized view, an inheritance child (a partition is one
/// too), a table the tenant table inherits from, foreign tables on a loopback server naming
/// it; and functions whose body reads a tenant
/// table ([`READING_FUNCTIONS`]). [`REACHING`] names the relations; `category_names`, a view
/// of a global table only, `notices`, another child of that parent, `shout`, which reads no
/// table, and `reviewed_count`, commented `tenancy: reviewed`, are not refused.
pub const REACHING_SETUP: &str = "
    CREATE OR REPLACE VIEW posts_everywhere AS SELECT * FROM posts;
    CREATE OR REPLACE VIEW titles_everywhere WITH (security_invoker = true) AS SELECT title FROM posts;
    CREATE OR REPLACE VIEW b_titles AS SELECT p.title FROM posts_everywhere p WHERE p.title LIKE 'b%';
    CREATE OR REPLACE VIEW bodies_by_category AS
      SELECT x.name, (SELECT max(c.body) FROM comments c) AS body FROM categories x;
    CREATE MATERIALIZED VIEW IF NOT EXISTS comment_bodies AS SELECT tenant_id, body FROM comments;
    CREATE TABLE IF NOT EXISTS posts_archive () INHERITS (posts);
    CREATE TABLE IF NOT EXISTS texts (body text);
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = 'comments'::regclass) THEN
        ALTER TABLE comments INHERIT texts;
      END IF;
    END $$;
    CREATE TABLE IF NOT EXISTS notices () INHERITS (texts);
    CREATE EXTENSION IF NOT EXISTS postgres_fdw;
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_foreign_server WHERE srvname = 'loopback_reach') THEN
        EXECUTE format('CREATE SERVER loopback_reach FOREIGN DATA WRAPPER postgres_fdw
                        OPTIONS (dbname %L)', current_database());
      END IF;
    END $$;
    CREATE FOREIGN TABLE IF NOT EXISTS remote_posts (tenant_id uuid, title text)
      SERVER loopback_reach OPTIONS (table_name 'posts');
    CREATE FOREIGN TABLE IF NOT EXISTS comments_elsewhere (tenant_id uuid, body text)
      SERVER loopback_reach OPTIONS (schema_name 'public', table_name 'comments');
    CREATE OR REPLACE FUNCTION post_count() RETURNS bigint LANGUAGE sql STABLE
      AS 'SELECT count(*) FROM posts';
    CREATE OR REPLACE FUNCTION newest_body() RETURNS text LANGUAGE plpgsql STABLE
      AS $f$ BEGIN RETURN (SELECT max(body) FROM Comments); END $f$;
    CREATE OR REPLACE FUNCTION everywhere_count() RETURNS bigint LANGUAGE sql STABLE
      BEGIN ATOMIC SELECT count(*) FROM posts_everywhere; END;
    CREATE OR REPLACE FUNCTION reviewed_count() RETURNS bigint LANGUAGE sql STABLE
      AS 'SELECT count(*) FROM posts WHERE tenant_id = tenancy.current_tenant()';
    COMMENT ON FUNCTION reviewed_count() IS 'tenancy: reviewed: counts the current tenant''s rows';
    CREATE OR REPLACE FUNCTION shout(word text) RETURNS text LANGUAGE sql IMMUTABLE
      AS 'SELECT upper(word)';
    CREATE OR REPLACE VIEW category_names AS SELECT name FROM categories;
    GRANT SELECT ON posts_everywhere, titles_everywhere, b_titles, bodies_by_category,
      comment_bodies, posts_archive, texts, notices, remote_posts, comments_elsewhere,
      category_names TO tenancy_app;
";

/// Each relation of [`REACHING_SETUP`] that reaches tenant rows, with the tenant table whose
/// rows it reaches and what it is to that table.
pub const REACHING: &[(&str, &str, &str)] = &[
    ("posts_everywhere", "posts", "view"),
    ("titles_everywhere", "posts", "view"),
    ("b_titles", "posts", "view"),
    ("bodies_by_category", "comments", "view"),
    ("comment_bodies", "comments", "materialized view"),
    ("posts_archive", "posts", "inheritance child"),
    ("texts", "comments", "parent table"),
    ("remote_posts", "posts", "foreign table"),
    ("comments_elsewhere", "comments", "foreign table"),
];

/// Calls, as raw filter fragments, of the functions of [`REACHING_SETUP`] whose body reads a
/// tenant table (SQL, PL/pgSQL, an SQL-standard body through a view), with the function and
/// the table.
pub const READING_FUNCTIONS: &[(&str, &str, &str)] = &[
    ("post_count() > 0", "post_count", "posts"),
    ("newest_body() LIKE 'b%'", "newest_body", "comments"),
    (
        "public.everywhere_count () > 0",
        "everywhere_count",
        "posts",
    ),
];

/// The raw filter fragments that read one of [`REACHING`]: bare, schema-qualified, quoted,
/// behind a comment.
pub fn reaching_fragments(name: &str) -> [String; 4] {
    [
        format!("EXISTS (SELECT 1 FROM {name})"),
        format!("EXISTS (SELECT 1 FROM public.{name} r)"),
        format!(r#"(SELECT count(*) FROM "{name}") > 0"#),
        format!("EXISTS (SELECT 1 FROM/**/{name})"),
    ]
}

/// Whether `e` refuses the relation `name`, a `kind` of the tenant table `table` ([`REACHING`]).
pub fn refused_as_reaching(e: &SqlTextError, (name, table, kind): (&str, &str, &str)) -> bool {
    matches!(e, SqlTextError::ReachesTenantRows { name: named, kind: what, table: of }
        if named == name && *what == kind && *of == table)
}

/// Whether `e` refuses a call of `function`, whose body reads `table` ([`READING_FUNCTIONS`]).
pub fn refused_as_reading_function(e: &SqlTextError, function: &str, table: &str) -> bool {
    matches!(e, SqlTextError::FunctionReadsTenantRows { function: f, table: of }
        if f == function && *of == table)
}

/// An `UPDATE … SET` value that reads the relation `name`.
pub fn reaching_value(name: &str) -> String {
    format!("(SELECT count(*) FROM {name})::text")
}

/// A raw filter on `categories` that [`REACHING_SETUP`] leaves accepted and true: a view of a
/// global table, another child of the table `comments` inherit from, a function that reads no
/// table and one commented `tenancy: reviewed`.
pub const NOT_REACHING: &str = "name IN (SELECT name FROM category_names) \
     AND NOT EXISTS (SELECT 1 FROM notices) \
     AND reviewed_count() >= 0 AND shout(name) <> ''";

/// Whether `e` is how a [`RUN_FROM_TEXT`] fragment is refused.
pub fn refused_as_run_from_text(e: &SqlTextError) -> bool {
    matches!(
        e,
        SqlTextError::DynamicSql(_)
            | SqlTextError::EscapedIdentifier
            | SqlTextError::StatisticsView(_)
    )
}

/// A value that reads the newest comment starting with `b` (another tenant's, unless scoped).
pub const STEAL: &str =
    "coalesce((SELECT max(body) FROM comments WHERE body LIKE 'b%'), 'nothing')";

/// Raw write filters that try to close their parentheses, or end the statement.
pub const BREAKOUTS: &[&str] = &[
    "true) OR (true",
    "true -- ",
    "true /* ) OR (true */",
    "true; DELETE FROM posts",
];

/// Value fragments that add an assignment of the tenant column (to tenant `b`), quoted or not.
pub fn tenant_column_assignments(b: TenantId) -> [String; 3] {
    [
        format!("'x', tenant_id = '{}'", b.as_uuid()),
        format!(r#"'x', "tenant_id" = '{}'"#, b.as_uuid()),
        format!("'x', TENANT_ID = '{}'", b.as_uuid()),
    ]
}

/// What tenancy refused `r` with; a panic naming `context` when it was not refused as unsafe
/// SQL.
pub fn unsafe_sql(r: Result<impl std::fmt::Debug, Error>, context: &str) -> SqlTextError {
    match r {
        Err(Error::UnsafeSql(e)) => e,
        other => panic!("{context}: expected Error::UnsafeSql, got {other:?}"),
    }
}

/// Tenant B's rows, read as the owner: nothing an attack did may have changed them.
pub fn assert_b_untouched(rls: Rls, b: TenantId, context: &str) {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        title: String,
        #[diesel(sql_type = Text)]
        slug: String,
    }
    let rows: Vec<Row> = diesel::sql_query(format!(
        "SELECT title, slug FROM posts WHERE tenant_id = '{}' ORDER BY id",
        b.as_uuid()
    ))
    .load(&mut rls.owner())
    .unwrap();
    let got: Vec<(String, String)> = rows.into_iter().map(|r| (r.title, r.slug)).collect();
    assert_eq!(
        got,
        [
            ("b one".to_owned(), "first".to_owned()),
            ("b two".to_owned(), "second".to_owned())
        ],
        "{context}: tenant B changed"
    );
}

/// The replays of an opening seen in `pg_stat_activity` (`observed`: a session's last
/// statement), as raw SQL: on the native context the `BEGIN` comment's entry through both of
/// the extension's entry points, on the SQL context the `tenancy.enter(..)` call. None when the
/// statement shows no entry (a connection's first, prepared opening, or a statement sent
/// behind a pipelined one).
pub fn replays_of(observed: &str) -> Vec<String> {
    if let Some((_, rest)) = observed.split_once("/*tenancy_context.entry:") {
        let entry = rest.trim_end_matches("*/");
        vec![
            format!("CALL tenancy_context.enter('{entry}')"),
            format!("SELECT tenancy_context.enter_block('{entry}')"),
        ]
    } else if let Some((_, call)) = observed.split_once("SELECT tenancy.enter") {
        vec![format!("SELECT tenancy.enter{call}")]
    } else {
        Vec::new()
    }
}
