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
    // Attribute notation: `(text).ts_stat` is `ts_stat(text)`.
    "EXISTS (SELECT 1 FROM (SELECT ('SELECT to_tsvector(title) FROM posts'::text).ts_stat AS s) x WHERE (s).word LIKE 'b%')",
    // dblink's statement builders read the row of a table named in text, by key.
    "dblink_build_sql_insert('posts', '1 2', 2, ARRAY['00000000-0000-0000-0000-000000000000', '1'], ARRAY['00000000-0000-0000-0000-000000000000', '1']) LIKE '%b one%'",
    "public.dblink_build_sql_update('posts', '1 2', 2, ARRAY['x', '1'], ARRAY['x', '1']) IS NOT NULL",
    // The planner's statistics hold sample values of every tenant's rows, shown wherever row
    // level security is off.
    "EXISTS (SELECT 1 FROM pg_catalog.pg_stats s WHERE s.tablename = 'posts' AND s.most_common_vals::text LIKE '%b one%')",
    r#"EXISTS (SELECT 1 FROM "pg_stats_ext" WHERE tablename = 'posts')"#,
    // Follows a row version of a table named in text to its newest one, past row level
    // security: whether, and where, another tenant updated a row.
    "currtid2('posts', '(0,1)'::tid) <> '(0,1)'::tid",
];

/// A select list and a filter, on `posts` under a row lock, that would put the derived table
/// tenancy writes between them (the table's rows of the tenant) inside a comment, a string or
/// a dollar quote that the first opens and the second closes, and read `posts` itself after
/// it: refused before sending (`SqlTextError::ChangedAfterPlanning`). The last one also
/// comments out the lock, so that it can read an aggregate.
pub const HIDING_THE_LOCKED_FROM: &[(&str, &str)] = &[
    ("title /*", "*/ FROM posts WHERE true"),
    ("title --", "\n FROM posts WHERE true"),
    ("title || '", "' FROM posts WHERE true"),
    ("title || $q$", "$q$ FROM posts WHERE true"),
    (
        "s /*",
        "*/ FROM (SELECT string_agg(title, ',') AS s FROM posts) x --",
    ),
];

/// Filters that close one parenthesis more than they open, so that the rest of the statement
/// would stand outside tenancy's `SELECT EXISTS (..)` and the tables it shadows: refused
/// before sending (`SqlTextError::Unbalanced`). The second reads every tenant's titles
/// through an error message.
pub const CLOSING_THE_WRAPPER: &[&str] = &[
    "true) AND EXISTS (SELECT 1 FROM posts WHERE title LIKE 'b%'",
    "true) AND (SELECT string_agg(title, ',') FROM posts)::int > 0 AND EXISTS (SELECT 1",
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
    CREATE FOREIGN TABLE IF NOT EXISTS remote_everywhere (title text)
      SERVER loopback_reach OPTIONS (table_name 'titles_everywhere');
    CREATE FOREIGN TABLE IF NOT EXISTS remote_archive (tenant_id uuid, title text)
      SERVER loopback_reach OPTIONS (table_name 'posts_archive');
    CREATE OR REPLACE VIEW titles_as_xml WITH (security_invoker = true) AS
      SELECT query_to_xml('SELECT title FROM posts', true, false, '') AS x;
    CREATE OR REPLACE VIEW sampled_titles WITH (security_invoker = true) AS
      SELECT most_common_vals::text AS v FROM pg_stats WHERE tablename = 'posts';
    CREATE OR REPLACE VIEW sampled_again WITH (security_invoker = true) AS
      SELECT v FROM sampled_titles;
    CREATE OR REPLACE FUNCTION sampled() RETURNS text LANGUAGE sql STABLE
      AS $f$SELECT string_agg(most_common_vals::text, ',') FROM pg_stats WHERE tablename = 'po' || 'sts'$f$;
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
      category_names, remote_everywhere, remote_archive, titles_as_xml, sampled_titles,
      sampled_again TO tenancy_app;
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
    // Foreign tables naming a view, and an inheritance child, of a tenant table.
    ("remote_everywhere", "posts", "foreign table"),
    ("remote_archive", "posts", "foreign table"),
];

/// The views of [`REACHING_SETUP`] whose rows come from SQL no text shows or from the
/// planner's samples, with what each uses: a function running SQL given as text, a statistics
/// view, or a view that does.
pub const HIDDEN_VIEWS: &[(&str, &str)] = &[
    ("titles_as_xml", "query_to_xml"),
    ("sampled_titles", "pg_stats"),
    ("sampled_again", "sampled_titles"),
];

/// Whether `e` refuses the view `name`, which uses `via` ([`HIDDEN_VIEWS`]).
pub fn refused_as_hidden_view(e: &SqlTextError, (name, via): (&str, &str)) -> bool {
    matches!(e, SqlTextError::HiddenView { view, via: used } if view == name && used == via)
}

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

/// A tenant table no test binary declares, as a table a newer migration added (or another
/// service owns) is to a running program: tenancy's tenant policies on it, and a view of it.
pub const UNDECLARED: &str = "undeclared_notes";

/// The view of [`UNDECLARED`] that [`add_undeclared_tenant_table`] creates.
pub const UNDECLARED_VIEW: &str = "undeclared_notes_everywhere";

/// Creates [`UNDECLARED`] with the tenant policies and one row per tenant (`a secret`,
/// `b secret`), and [`UNDECLARED_VIEW`] over it; row level security on it is off where the
/// fixture runs without it.
pub fn add_undeclared_tenant_table(rls: Rls, (a, b): (TenantId, TenantId)) {
    use diesel::connection::SimpleConnection;
    let mut owner = rls.owner();
    owner
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {UNDECLARED} (
               tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
               id int NOT NULL,
               body text NOT NULL,
               PRIMARY KEY (tenant_id, id));
             GRANT SELECT, INSERT, UPDATE, DELETE ON {UNDECLARED} TO tenancy_app;
             CREATE OR REPLACE VIEW {UNDECLARED_VIEW} AS SELECT * FROM {UNDECLARED};
             GRANT SELECT ON {UNDECLARED_VIEW} TO tenancy_app;
             DROP POLICY IF EXISTS tenant_access ON {UNDECLARED};
             DROP POLICY IF EXISTS tenant_isolation ON {UNDECLARED};
             {policies}
             INSERT INTO {UNDECLARED} VALUES ('{a}', 1, 'a secret'), ('{b}', 1, 'b secret')
               ON CONFLICT DO NOTHING;",
            policies =
                tenancy_schema::policy::tenant_policies(UNDECLARED, "tenant_id", "tenancy_app"),
            a = a.as_uuid(),
            b = b.as_uuid(),
        ))
        .expect("create the undeclared tenant table");
    if !rls.enforced() {
        owner
            .batch_execute(&format!(
                "ALTER TABLE {UNDECLARED} DISABLE ROW LEVEL SECURITY"
            ))
            .expect("switch row level security off on it");
    }
}

/// Whether `e` refuses [`UNDECLARED`] as a tenant table the program does not declare.
pub fn refused_as_undeclared(e: &SqlTextError) -> bool {
    matches!(e, SqlTextError::UndeclaredTenantTable(name) if name == UNDECLARED)
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

/// Routines that read tenant rows without a tenant table's name in the text that runs them,
/// on top of [`REACHING_SETUP`] (whose `post_count()` reads `posts`): a function called in
/// attribute notation, one that calls a reading function, a view over one, an aggregate, an
/// operator, a cast and a domain check that run one, and functions whose SQL no text shows
/// (PL/pgSQL's `EXECUTE`, a `U&"…"` name). Not refused: an operator, a domain and a PL/pgSQL
/// function that read nothing, and an operator whose function is commented `tenancy:
/// reviewed` ([`NOT_ROUTINES`]).
pub const ROUTINES_SETUP: &str = r#"
    CREATE OR REPLACE FUNCTION reviewed_sum(int, int) RETURNS int LANGUAGE sql STABLE
      AS 'SELECT $1 + $2 + (SELECT count(*) FROM posts WHERE tenant_id = tenancy.current_tenant())::int * 0';
    COMMENT ON FUNCTION reviewed_sum(int, int) IS 'tenancy: reviewed: counts the current tenant''s rows';
    CREATE OR REPLACE FUNCTION category_posts(categories) RETURNS bigint LANGUAGE sql STABLE
      AS 'SELECT count(*) FROM posts';
    CREATE OR REPLACE FUNCTION wrapped_count() RETURNS bigint LANGUAGE sql STABLE
      AS 'SELECT post_count()';
    CREATE OR REPLACE VIEW counted_posts AS SELECT post_count() AS n;
    CREATE OR REPLACE FUNCTION max_title(text, int) RETURNS text LANGUAGE sql STABLE
      AS 'SELECT max(title) FROM posts';
    CREATE OR REPLACE FUNCTION steal_via_op(int, int) RETURNS text LANGUAGE sql STABLE
      AS 'SELECT max(title) FROM posts';
    CREATE OR REPLACE FUNCTION run_text(q text) RETURNS text LANGUAGE plpgsql STABLE
      AS $f$ DECLARE r text; BEGIN EXECUTE q INTO r; RETURN r; END $f$;
    CREATE OR REPLACE FUNCTION rows_as_xml(q text) RETURNS xml LANGUAGE sql STABLE
      AS $f$ SELECT query_to_xml(q, true, false, '') $f$;
    CREATE OR REPLACE FUNCTION table_as_xml(t regclass) RETURNS xml LANGUAGE sql STABLE
      RETURN table_to_xml(t, true, false, '');
    CREATE OR REPLACE FUNCTION escaped_max() RETURNS text LANGUAGE sql STABLE
      AS $f$SELECT max(title) FROM U&"\0070osts"$f$;
    CREATE OR REPLACE FUNCTION checks_posts(int) RETURNS boolean LANGUAGE plpgsql STABLE
      AS $f$ BEGIN RETURN (SELECT max(title) FROM posts) LIKE 'b%'; END $f$;
    CREATE OR REPLACE FUNCTION plain_sum(int, int) RETURNS int LANGUAGE plpgsql IMMUTABLE
      AS $f$ BEGIN RETURN $1 + $2; END $f$;
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_aggregate WHERE aggfnoid::regproc::text = 'max_title_agg') THEN
        CREATE AGGREGATE max_title_agg(int) (sfunc = max_title, stype = text);
        CREATE OPERATOR ##> (function = steal_via_op, leftarg = int, rightarg = int);
        CREATE OPERATOR <+> (function = plain_sum, leftarg = int, rightarg = int);
        CREATE OPERATOR #~# (function = reviewed_sum, leftarg = int, rightarg = int);
        CREATE TYPE post_box AS (title text);
        CREATE FUNCTION post_box_of(int) RETURNS post_box LANGUAGE sql STABLE
          AS 'SELECT ROW(max(title))::post_box FROM posts';
        CREATE CAST (int AS post_box) WITH FUNCTION post_box_of(int);
        CREATE DOMAIN checked_int AS int CHECK (checks_posts(VALUE));
        CREATE DOMAIN positive_int AS int CHECK (VALUE > 0);
        -- An extension's own functions, as pgTAP's set_eq hands its text to _relcomp, which
        -- runs it (plpgsql stands in for the extension).
        CREATE FUNCTION ext_run_text(q text) RETURNS text LANGUAGE plpgsql STABLE
          AS $f$ DECLARE r text; BEGIN EXECUTE q INTO r; RETURN r; END $f$;
        CREATE FUNCTION ext_compare(q text) RETURNS text LANGUAGE sql STABLE
          AS 'SELECT ext_run_text(q)';
        ALTER EXTENSION plpgsql ADD FUNCTION ext_run_text(text);
        ALTER EXTENSION plpgsql ADD FUNCTION ext_compare(text);
      END IF;
    END $$;
"#;

/// How a fragment of [`ROUTINES`] is refused.
#[derive(Debug, Clone, Copy)]
pub enum Routine {
    /// `FunctionReadsTenantRows` for this function and table.
    Reads(&'static str, &'static str),
    /// `ReachesTenantRows` for a view of this table.
    View(&'static str, &'static str),
    /// `OperatorRunsReader` running this function.
    Operator(&'static str),
    /// `TypeRunsReader` of this type.
    Type(&'static str),
    /// `FunctionRunsHiddenSql` for this function.
    Hidden(&'static str),
}

/// Raw filter fragments on `categories` that run a routine of [`ROUTINES_SETUP`], with how each
/// is refused.
pub const ROUTINES: &[(&str, Routine)] = &[
    (
        "categories.category_posts > 0",
        Routine::Reads("category_posts", "posts"),
    ),
    (
        "(categories).category_posts > 0",
        Routine::Reads("category_posts", "posts"),
    ),
    (
        r#"categories."category_posts" > 0"#,
        Routine::Reads("category_posts", "posts"),
    ),
    (
        "wrapped_count() > 0",
        Routine::Reads("wrapped_count", "posts"),
    ),
    (
        "EXISTS (SELECT 1 FROM counted_posts WHERE n > 0)",
        Routine::View("counted_posts", "posts"),
    ),
    (
        "(SELECT max_title_agg(x) FROM generate_series(1, 1) x) LIKE 'b%'",
        Routine::Reads("max_title_agg", "posts"),
    ),
    ("(1 ##> 2) LIKE 'b%'", Routine::Operator("steal_via_op")),
    (
        "(1 OPERATOR(public.##>) 2) LIKE 'b%'",
        Routine::Operator("steal_via_op"),
    ),
    (
        "run_text('SELECT max(title) FROM posts') LIKE 'b%'",
        Routine::Hidden("run_text"),
    ),
    // SQL functions that hand their caller's text to one that runs it: the query is put
    // together where no name shows.
    (
        "EXISTS (SELECT 1 FROM unnest(xpath('//title/text()', rows_as_xml('SELECT title FROM ' || 'po' || 'sts'))) x WHERE x::text LIKE 'b%')",
        Routine::Hidden("rows_as_xml"),
    ),
    (
        "EXISTS (SELECT 1 FROM unnest(xpath('//title/text()', table_as_xml(('po' || 'sts')::regclass))) x WHERE x::text LIKE 'b%')",
        Routine::Hidden("table_as_xml"),
    ),
    ("escaped_max() LIKE 'b%'", Routine::Hidden("escaped_max")),
    // An extension's SQL function that hands its text to one of the extension's that runs it.
    (
        "ext_compare('SELECT max(title) FROM posts') LIKE 'b%'",
        Routine::Hidden("ext_compare"),
    ),
    ("(1::post_box).title LIKE 'b%'", Routine::Type("post_box")),
    (
        "CAST(1 AS public.post_box) IS NOT NULL",
        Routine::Type("post_box"),
    ),
    ("(1::checked_int) > 0", Routine::Type("checked_int")),
];

/// Whether `e` is how [`ROUTINES`] says its fragment is refused.
pub fn refused_as_routine(e: &SqlTextError, routine: Routine) -> bool {
    match routine {
        Routine::Reads(function, table) => refused_as_reading_function(e, function, table),
        Routine::View(name, table) => refused_as_reaching(e, (name, table, "view")),
        Routine::Operator(function) => {
            matches!(e, SqlTextError::OperatorRunsReader { function: f, .. } if f == function)
        }
        Routine::Type(name) => {
            matches!(e, SqlTextError::TypeRunsReader { type_name, .. } if type_name == name)
        }
        Routine::Hidden(function) => {
            matches!(e, SqlTextError::FunctionRunsHiddenSql(f) if f == function)
        }
    }
}

/// A raw filter on `categories` that [`ROUTINES_SETUP`] leaves accepted and true: an operator
/// and a domain that read nothing, and an operator whose function is reviewed.
pub const NOT_ROUTINES: &str =
    "(1 <+> 2) = 3 AND (1::positive_int) > 0 AND (1 #~# 2) = 3 AND plain_sum(1, 2) = 3";

/// A value that reads the newest comment starting with `b` (another tenant's, unless scoped).
pub const STEAL: &str =
    "coalesce((SELECT max(body) FROM comments WHERE body LIKE 'b%'), 'nothing')";

/// Raw write filters that try to close their parentheses, or end the statement (the last
/// one as the server reads it with `standard_conforming_strings` off, where the backslash of a
/// national `N'..'` string escapes its quote).
pub const BREAKOUTS: &[&str] = &[
    "true) OR (true",
    "true -- ",
    "true /* ) OR (true */",
    "true; DELETE FROM posts",
    "N'\\' = '= $$x$$) OR (true --'\n",
];

/// Raw filters whose strings end elsewhere for the server than for a lexer that misreads
/// them, so that the server runs as code a sub-select on another tenant's table that such a
/// lexer takes for a string or a comment: an `E'..'` string continued on the next line (the
/// continuation keeps its backslash escapes), and a national `N'..'` string (its backslashes
/// follow `standard_conforming_strings` as a plain string's do). Refused before sending.
pub const STRINGS_READ_TWO_WAYS: &[&str] = &[
    "E'a'\n'\\'||'||' -- \\' IS NOT NULL AND EXISTS (SELECT 1 FROM public.posts p WHERE p.title LIKE $$b%$$) --' --\n",
    "N'\\' = ' IS NOT NULL AND EXISTS (SELECT 1 FROM public.posts p WHERE p.title LIKE $$b%$$) --'\n",
    "E'a' -- a comment in between\n'\\'||'||' -- \\' IS NOT NULL AND EXISTS (SELECT 1 FROM public.posts p WHERE p.title LIKE $$b%$$) --' --\n",
];

/// Raw values of a tenant insert into `posts (id, slug, title)` that leave their row: another
/// row for tenant `b`, an upsert onto `b`'s first post (changing or returning it), a
/// `RETURNING` of their own.
pub fn value_breakouts(b: TenantId) -> [String; 4] {
    let b = b.as_uuid();
    [
        format!("'x'), ('{b}', 51, 'planted', 'planted by a'"),
        format!(
            "'x'), ('{b}', 1, 'zz', 'y') ON CONFLICT (tenant_id, id) DO UPDATE SET title = ('pwned by a'"
        ),
        format!(
            "'x'), ('{b}', 1, 'zz', 'y') ON CONFLICT (tenant_id, id) DO UPDATE SET title = (posts.title"
        ),
        "'x') RETURNING (SELECT max(title) FROM posts), (1".to_owned(),
    ]
}

/// An `UPDATE … SET` value and a raw filter that are each harmless alone, and together make
/// the tenant predicate written between them part of a string (`E'` opens it, `\'` in the
/// filter is an escaped quote inside it), so that the value's own `WHERE` picks `b`'s row.
pub fn string_across_fragments(b: TenantId) -> (String, &'static str) {
    (
        format!(
            "'pwned by a' WHERE tenant_id = '{}' AND id = 1 AND (E'",
            b.as_uuid()
        ),
        r"\'x' <> 'x'",
    )
}

/// SQL that sets the SQL context's setting to tenant `b`, tagged as `tenancy.enter()` tags it
/// but over the nonce a new session started from before it was drawn at random (0, 0): what
/// SQL that runs `tenancy.open_session()` itself could compute.
pub fn context_tagged_over_a_guessed_nonce(b: TenantId) -> String {
    let b = b.as_uuid();
    format!(
        "SELECT set_config('tenancy.context', '{b}||' || \
         encode(sha256(convert_to('0|0|{b}|', 'UTF8')), 'hex'), true)"
    )
}

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
