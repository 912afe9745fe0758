//! The names a statement references, and the functions that would run SQL hidden in text.

use super::SqlTextError;
use super::lexer::{Token, tokenize};

/// Functions that execute SQL passed to them as text, or read whole tables by name: a
/// table they read never appears as an identifier, so scoping cannot see it.
pub(crate) const DYNAMIC_SQL: &[&str] = &[
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
    "ts_stat",
    // The two-argument form runs its second argument as a query for the rewrite rules.
    "ts_rewrite",
    "dblink",
    "dblink_exec",
    "dblink_open",
    "dblink_send_query",
    // These read a row of a table named in their first argument, by the key values given.
    "dblink_build_sql_insert",
    "dblink_build_sql_update",
    "dblink_build_sql_delete",
    // pgrowlocks: which rows of a table named in its argument are locked, and by whom.
    "pgrowlocks",
    // tablefunc: the crosstabs run their text arguments as queries, connectby reads a table
    // named in one.
    "crosstab",
    "crosstab2",
    "crosstab3",
    "crosstab4",
    "connectby",
    // xml2: builds and runs a query on a table named in an argument.
    "xpath_table",
    // Follow a row version of a table named in an argument to its newest one, past row level
    // security: which rows another tenant updated, and where their new versions went.
    "currtid",
    "currtid2",
    // Citus: run a statement given as text on this node (`citus_run_local_command`), or run
    // one and keep or send its rows (`worker_save_query_explain_analyze`, the intermediate
    // result writers), as the session's role on the shards it finds there.
    "citus_run_local_command",
    "worker_save_query_explain_analyze",
    "create_intermediate_result",
    "broadcast_intermediate_result",
    "worker_partition_query_result",
];

/// The views that show the planner's statistics of tables: sample values of their rows,
/// filtered by privilege and by whether row level security is active, never by tenant.
pub(crate) const STATISTICS_VIEWS: &[&str] = &["pg_stats", "pg_stats_ext", "pg_stats_ext_exprs"];

/// Refuses calls of [`DYNAMIC_SQL`] functions and references to [`STATISTICS_VIEWS`] in
/// `tokens`, and statements whose code is a string ([`code_in_a_string`]).
fn check_dynamic(tokens: &[Token]) -> Result<(), SqlTextError> {
    if let Some(statement) = code_in_a_string(tokens) {
        return Err(SqlTextError::DynamicSql(statement.to_owned()));
    }
    for (i, token) in tokens.iter().enumerate() {
        // `EXECUTE name(..)` (alone, after EXPLAIN, in CREATE TABLE .. AS): the statements
        // prepared on a pooled connection are the driver's, prepared for tenant transactions
        // with the tenant as a parameter.
        if matches!(token, Token::Ident { name, quoted: false } if name == "execute")
            && (i == 0 || tokens[i - 1] != Token::Punct('.'))
            && tokens.get(i + 1) != Some(&Token::Punct('('))
        {
            return Err(SqlTextError::ExecutePrepared);
        }
        if let Token::Ident { name, .. } = token
            && STATISTICS_VIEWS.contains(&name.as_str())
            && tokens.get(i + 1) != Some(&Token::Punct('('))
        {
            return Err(SqlTextError::StatisticsView(name.clone()));
        }
        // `(text).ts_stat` is `ts_stat(text)`: PostgreSQL takes a name after a dot for a
        // call of a one-argument function when no column has that name.
        if let Token::Ident { name, .. } = token
            && DYNAMIC_SQL.contains(&name.as_str())
            && (tokens.get(i + 1) == Some(&Token::Punct('('))
                || (i > 0 && tokens[i - 1] == Token::Punct('.')))
        {
            return Err(SqlTextError::DynamicSql(name.clone()));
        }
    }
    Ok(())
}

/// A statement whose code is a string, which no lexer reads as SQL: a `DO` block, and
/// `CREATE FUNCTION` or `CREATE PROCEDURE` (whose body runs as whoever calls it later). Only
/// raw SQL starts a statement; `ON CONFLICT .. DO` follows other words.
fn code_in_a_string(tokens: &[Token]) -> Option<&'static str> {
    let word = |i: usize| match tokens.get(i) {
        Some(Token::Ident {
            name,
            quoted: false,
        }) => Some(name.as_str()),
        _ => None,
    };
    for (i, token) in tokens.iter().enumerate() {
        if (i > 0 && tokens[i - 1] != Token::Punct(';')) || matches!(token, Token::Punct(';')) {
            continue;
        }
        match word(i) {
            Some("do") => return Some("DO"),
            Some("create") => {
                let mut j = i + 1;
                while let Some(w) = word(j) {
                    match w {
                        "function" => return Some("CREATE FUNCTION"),
                        "procedure" => return Some("CREATE PROCEDURE"),
                        "or" | "replace" => j += 1,
                        _ => break,
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// The words that may stand in an `ARRAY[..]` constructor of tenancy's SQL: what joins and
/// tests the parameters and literals it may hold.
const ARRAY_WORDS: &[&str] = &[
    "array", "case", "when", "then", "else", "end", "and", "or", "not", "is", "null", "true",
    "false",
];

/// Refuses an `ARRAY[..]` constructor that names anything of a row (a column, a function, a
/// type): only parameters and literals may fill one. PostgreSQL's planner costs the
/// constructor, `CASE` and `IS NULL` at nothing, so a condition built of them runs ahead of
/// tenancy's tenant predicate on every row a sequential scan reads; it also counts them as
/// leakproof, so row level security lets them run ahead of its policy too. A constructor whose
/// elements are arrays fails when their sizes differ (`ARRAY[ARRAY[1], CASE WHEN <condition on
/// the row> THEN ARRAY[1, 2] ELSE ARRAY[3] END]`), and its error then tells which of another
/// tenant's rows meet the condition. Tenancy's own constructors hold only `$1`.
fn check_array_constructors(tokens: &[Token]) -> Result<(), SqlTextError> {
    // The constructors inside one were read with it: reading each again made text such as
    // `ARRAY[ARRAY[..` take time quadratic in its length.
    let mut read_up_to = 0;
    for (i, token) in tokens.iter().enumerate() {
        let opens = matches!(token, Token::Ident { name, quoted: false } if name == "array")
            && matches!(tokens.get(i + 1), Some(Token::Operator(op)) if op.starts_with('['));
        if !opens || i < read_up_to {
            continue;
        }
        let mut depth: i64 = 0;
        for (k, inner) in tokens.iter().enumerate().skip(i + 1) {
            read_up_to = k + 1;
            match inner {
                Token::Operator(op) => {
                    for c in op.chars() {
                        depth += match c {
                            '[' => 1,
                            ']' => -1,
                            _ => 0,
                        };
                    }
                }
                Token::Ident { name, quoted }
                    if *quoted || !ARRAY_WORDS.contains(&name.as_str()) =>
                {
                    return Err(SqlTextError::RowValuesInArray(name.clone()));
                }
                _ => {}
            }
            if depth <= 0 {
                break;
            }
        }
    }
    Ok(())
}

/// A reference to a table found in SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameUse {
    /// The normalised name.
    pub name: String,
    /// The schema written before it (`public` in `public.posts`), if any.
    pub schema: Option<String>,
    /// Whether a `.` follows (then it qualifies a column: `"posts"."id"`).
    pub qualifies: bool,
    /// Whether a `(` follows (then it names a function being called).
    pub calls: bool,
    /// Whether a `.` comes before it: a column, a relation in a schema, or a one-argument
    /// function called with attribute notation (`(x).f` and `t.f` are `f(x)` and `f(t)`
    /// when no column is named `f`).
    pub after_dot: bool,
    /// An identifier, or an operator (`name` holds its characters), which runs a function
    /// without naming it.
    pub kind: UseKind,
}

/// What kind of token a [`NameUse`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UseKind {
    /// An identifier, quoted or not.
    Identifier,
    /// An operator.
    Operator,
}

/// Every identifier of `sql` with what surrounds it, for callers that match them against the
/// classified tables. Keywords show up too; they match no table name that needs quoting.
pub(crate) fn names(sql: &str) -> Result<Vec<NameUse>, SqlTextError> {
    names_in(sql, false)
}

/// [`names`] of a statement that reads tenant tables (a tenant transaction's): its `ARRAY[..]`
/// constructors must hold parameters and literals only ([`check_array_constructors`]).
pub(crate) fn tenant_statement_names(sql: &str) -> Result<Vec<NameUse>, SqlTextError> {
    names_in(sql, true)
}

fn names_in(sql: &str, tenant_statement: bool) -> Result<Vec<NameUse>, SqlTextError> {
    // To the server a comment is white space: `public/**/.posts` is `public.posts`, and
    // `query_to_xml/**/(..)` a call.
    let mut tokens = tokenize(sql)?;
    tokens.retain(|t| *t != Token::Comment);
    check_dynamic(&tokens)?;
    if tenant_statement {
        check_array_constructors(&tokens)?;
        super::like::check_computed_patterns(&tokens)?;
    }
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if let Token::Operator(op) = token {
            out.push(NameUse {
                name: op.clone(),
                schema: None,
                qualifies: false,
                calls: false,
                after_dot: false,
                kind: UseKind::Operator,
            });
            continue;
        }
        let Token::Ident { name, .. } = token else {
            continue;
        };
        let after_dot = i >= 2 && tokens[i - 1] == Token::Punct('.');
        let schema = if after_dot {
            match &tokens[i - 2] {
                Token::Ident { name, .. } => Some(name.clone()),
                _ => None,
            }
        } else {
            None
        };
        // The second part of `a.b.c` qualifies `c`; the first part of `a.b` too.
        let qualifies = tokens.get(i + 1) == Some(&Token::Punct('.'));
        let calls = tokens.get(i + 1) == Some(&Token::Punct('('));
        out.push(NameUse {
            name: name.clone(),
            schema,
            qualifies,
            calls,
            after_dot,
            kind: UseKind::Identifier,
        });
    }
    Ok(out)
}
