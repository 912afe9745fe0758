//! Whether a raw fragment stays inside its parentheses, and whether a tenant predicate
//! appended to a `WHERE` clause holds for the whole filter.

use super::SqlTextError;
use super::lexer::{Token, code_tokens, excerpt, group_end, is_keyword, tokenize, top_level};

/// Checks a raw fragment that tenancy wraps in parentheses: it must not close more
/// parentheses than it opens, must leave none open, and must not contain `;` or comments.
pub(super) fn check_fragment(sql: &str) -> Result<(), SqlTextError> {
    let tokens = tokenize(sql)?;
    let unbalanced = unbalanced_at(&tokens);
    // Whichever the lexer meets first is the refusal: a `;` or a comment in front of the
    // parenthesis that breaks the balance is reported as such.
    for token in &tokens[..unbalanced.unwrap_or(tokens.len())] {
        match token {
            Token::Punct(';') => return Err(SqlTextError::Semicolon),
            Token::Comment => return Err(SqlTextError::Comment),
            _ => {}
        }
    }
    match unbalanced {
        Some(_) => Err(SqlTextError::Unbalanced(excerpt(sql))),
        None => Ok(()),
    }
}

/// Checks that `sql`, a whole statement, closes every parenthesis it opens and no other.
/// Tenancy sends some statements inside parentheses of its own (`SELECT EXISTS (..)`): one
/// that closed a parenthesis more would leave them, and what followed would be read outside
/// the statement, out of reach of the tables it shadows.
pub(crate) fn check_balanced(sql: &str) -> Result<(), SqlTextError> {
    match unbalanced_at(&tokenize(sql)?) {
        Some(_) => Err(SqlTextError::Unbalanced(excerpt(sql))),
        None => Ok(()),
    }
}

/// Where `tokens` stop closing only the parentheses they opened: the index of the first `)`
/// that closes one more, or their end when some are left open; `None` when they balance.
fn unbalanced_at(tokens: &[Token]) -> Option<usize> {
    let mut depth: i64 = 0;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => {
                depth -= 1;
                if depth < 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    (depth != 0).then_some(tokens.len())
}

/// Whether `piece`, which tenancy wrote into `sql` at byte `at`, is read there as the code it
/// is: the text in front of it ends outside every literal, quoted name and comment, the two
/// together split into the tokens of each, and what follows starts with white space, so that
/// nothing joins the piece's last token. A piece that a fragment in front of it swallowed (an
/// open comment, string or dollar quote) is text to the server, not the filter it reads as.
pub(crate) fn is_code_at(sql: &str, at: usize, piece: &str) -> bool {
    let (Some(before), Some(after)) = (sql.get(..at), sql.get(at..)) else {
        return false;
    };
    let Some(rest) = after.strip_prefix(piece) else {
        return false;
    };
    if !rest.is_empty() && !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
        return false;
    }
    let (Ok(mut expected), Ok(own), Ok(both)) = (
        tokenize(before),
        tokenize(piece),
        tokenize(&sql[..at + piece.len()]),
    ) else {
        return false;
    };
    expected.extend(own);
    expected == both
}

/// Checks that `predicate` (rendered `<tenant filter> AND (<f1>) AND (<f2>) ...`) keeps every
/// user filter inside its own parentheses: after `prefix` (the tenant filter, as rendered),
/// only `AND (...)` groups may follow at the top level.
pub(crate) fn check_conjunction(predicate: &str, prefix: &str) -> Result<(), SqlTextError> {
    check_fragment(predicate)?;
    let rest = predicate
        .trim_start()
        .strip_prefix(prefix.trim())
        .ok_or_else(|| SqlTextError::EscapedPredicate(excerpt(predicate)))?;
    let tokens = tokenize(rest)?;
    let escaped = || SqlTextError::EscapedPredicate(excerpt(predicate));
    let mut i = 0;
    while i < tokens.len() {
        if !is_keyword(tokens.get(i), "and") || tokens.get(i + 1) != Some(&Token::Punct('(')) {
            return Err(escaped());
        }
        i = group_end(&tokens, i + 1).ok_or_else(escaped)?;
    }
    Ok(())
}

/// The tenant as tenancy's SQL names it: the statement's first parameter. A predicate on the
/// tenant column that names another (`= $2`, a value a fragment bound) is not tenancy's.
pub(super) const TENANT: Token = Token::Param(1);

/// What tenancy's tenant predicate writes after the tenant column: `<column> = $1`.
pub(crate) const TENANT_EQUALS: &str = " = $1";

/// The guard behind the equality, in the two pieces around the tenant column it names again:
/// `<column> = $1 AND CASE WHEN <column> = ANY (ARRAY[$1]) THEN 1 END IS NOT NULL`. The
/// statements (`crate::scope::plan::push_tenant_predicate`) and the checks of the writes that
/// carry it (`check_filtered_write`, `write_without_guard`) both write it from these.
pub(crate) const TENANT_GUARD: [&str; 2] = [
    " AND CASE WHEN ",
    " = ANY (ARRAY[$1]) THEN 1 END IS NOT NULL",
];

/// The tenant predicate tenancy writes for `"<table>"."<column>"`, as text.
pub(super) fn tenant_predicate_text(table: &str, column: &str, guarded: bool) -> String {
    let name = qualified_column(table, column);
    if guarded {
        format!("{name}{TENANT_EQUALS}{}", tenant_guard_text(table, column))
    } else {
        format!("{name}{TENANT_EQUALS}")
    }
}

/// The guard tenancy writes behind the equality for `"<table>"."<column>"`, as text.
pub(super) fn tenant_guard_text(table: &str, column: &str) -> String {
    let name = qualified_column(table, column);
    let [open, close] = TENANT_GUARD;
    format!("{open}{name}{close}")
}

/// `"<table>"."<column>"`, quoted as Diesel quotes them.
fn qualified_column(table: &str, column: &str) -> String {
    format!(
        "\"{}\".\"{}\"",
        table.replace('"', "\"\""),
        column.replace('"', "\"\"")
    )
}

/// Whether the `SELECT` in `sql` (its tenant predicate not written yet), whose `FROM` clause as
/// Diesel writes it is `from`, reads `table` alone, and every condition of the caller's that
/// PostgreSQL could test on a row before tenancy's predicate only compares
/// ([`only_compares`]): `from` is that table and nothing else (no join, so no `ON`), the
/// statement has no `HAVING` at the top level (a `HAVING` without aggregates is moved into the
/// scan), and its `WHERE` clause, if it has one, holds comparisons of columns, bind parameters
/// and literals only. Such a statement's predicate needs no guard ([`TENANT_GUARD`]): a
/// comparison tested on another tenant's row yields a boolean that the predicate then
/// discards, and shows nothing of the row.
///
/// `value_column` says which of the table's columns compare as plain values: a column of a
/// composite type compares as a record, which can fail on a row ([`holds_a_row`]).
pub(crate) fn conditions_only_compare(
    sql: &str,
    from: &str,
    table: &str,
    value_column: &dyn Fn(&str) -> bool,
) -> bool {
    let (Ok(tokens), Ok(from)) = (code_tokens(sql), code_tokens(from)) else {
        return false;
    };
    if !reads_bare(&from, table) || !top_level(&tokens, "having").is_empty() {
        return false;
    }
    match top_level(&tokens, "where")[..] {
        [] => true,
        [at] => only_compares_values(
            &tokens[at + 1..clause_end(&tokens, at + 1)],
            table,
            value_column,
        ),
        _ => false,
    }
}

/// Whether `tokens` (a condition) [`only_compares`], and every column it names is a column of
/// `table` that `value_column` accepts: a quoted name followed by a dot must be the table,
/// any other is a column.
pub(super) fn only_compares_values(
    tokens: &[Token],
    table: &str,
    value_column: &dyn Fn(&str) -> bool,
) -> bool {
    only_compares(tokens)
        && tokens.iter().enumerate().all(|(i, token)| match token {
            Token::Ident { name, quoted: true } => {
                if tokens.get(i + 1) == Some(&Token::Punct('.')) {
                    name == table
                } else {
                    value_column(name)
                }
            }
            _ => true,
        })
}

/// The index where the clause that starts at `tokens[start]` (a `WHERE` clause's condition)
/// ends: the next keyword of [`AFTER_WHERE`] outside parentheses, or the end.
fn clause_end(tokens: &[Token], start: usize) -> usize {
    AFTER_WHERE
        .iter()
        .flat_map(|word| top_level(tokens, word))
        .filter(|&at| at >= start)
        .min()
        .unwrap_or(tokens.len())
}

/// Whether `tokens` (a condition) only compare: quoted column names, bind parameters and
/// literals, joined by the comparison operators, `AND`, `OR`, `NOT`, `IS [NOT] NULL`,
/// `IN (..)`, `= ANY (..)`, `!= ALL (..)` and `BETWEEN`, in parentheses: what Diesel writes for
/// `eq`, `lt`, `eq_any`, `is_null`, `between` and their combinations. No function or cast
/// (a name or a quoted name in front of `(`, `::`), no arithmetic (a division fails on a
/// row's zero), no sub-query (`SELECT` is no such word), no pattern (`LIKE`).
///
/// An operator is the one of its operands' types: the column types the schema's owner chose,
/// whose comparisons raise no error on any stored value and change nothing.
fn only_compares(tokens: &[Token]) -> bool {
    const WORDS: &[&str] = &[
        "and", "or", "not", "is", "null", "true", "false", "in", "any", "all", "between",
    ];
    const COMPARISONS: &[&str] = &["=", "<>", "!=", "<", ">", "<=", ">="];
    tokens.iter().enumerate().all(|(i, token)| match token {
        Token::Ident { quoted: true, .. } => tokens.get(i + 1) != Some(&Token::Punct('(')),
        Token::Ident {
            name,
            quoted: false,
        } => WORDS.contains(&name.as_str()),
        Token::Param(_) | Token::Literal => true,
        Token::Punct('(') => {
            (i > 0 && is_keyword(tokens.get(i - 1), "in")) || !holds_a_row(tokens, i)
        }
        Token::Punct(c) => matches!(c, ')' | ',' | '.'),
        Token::Operator(op) => COMPARISONS.contains(&op.as_str()),
        Token::Comment => false,
    })
}

/// Whether the group opened at `tokens[open]` holds a comma outside inner parentheses: a row
/// (`("a", "b")`), which compares as a record. A record comparison checks column by column and
/// fails at the first pair of columns whose types differ, once the ones before are equal
/// (`("tenant_id", "id", "title") = ANY (<array of another table's rows>)`): on another
/// tenant's row that matches, an error. Only an `IN` list holds commas and no row.
fn holds_a_row(tokens: &[Token], open: usize) -> bool {
    let Some(end) = group_end(tokens, open) else {
        return true;
    };
    let mut depth = 0usize;
    tokens[open + 1..end].iter().any(|t| match t {
        Token::Punct('(') => {
            depth += 1;
            false
        }
        Token::Punct(')') => {
            depth = depth.saturating_sub(1);
            false
        }
        Token::Punct(',') => depth == 0,
        _ => false,
    })
}

/// Whether the `FROM` clause `from` (its tokens) is `FROM "<table>"` and nothing else.
fn reads_bare(from: &[Token], table: &str) -> bool {
    matches!(
        from,
        [keyword, Token::Ident { name, quoted: true }]
            if is_keyword(Some(keyword), "from") && name == table
    )
}

/// The clauses that may follow a `WHERE` clause in a `SELECT` Diesel writes.
const AFTER_WHERE: &[&str] = &["group", "having", "order", "limit", "offset", "for"];

/// Whether the tenant predicate `"<table>"."<column>" = $1` that tenancy wrote, without its
/// guard, into the `WHERE` clause of the `SELECT` in `sql` filters every row the statement
/// reads, and nothing of the caller's but a comparison can be evaluated on a row before it:
/// the statement reads `table` alone (`from` is `FROM "<table>"`, no join), has no `HAVING`
/// and one `WHERE` outside parentheses, right behind its `FROM` clause as Diesel writes it,
/// and that reads `WHERE <predicate>` or `WHERE (<one group>) AND <predicate>` with a group
/// that only compares ([`conditions_only_compare`]), followed by the end of the statement or
/// the next clause. Anything else (a filter with a top-level `OR` that Diesel did not
/// parenthesise, a comment, a `;`) answers `false`, and the caller shadows the table with a
/// CTE instead.
pub(crate) fn filter_holds(sql: &str, from: &str, (table, column): (&str, &str)) -> bool {
    let (Ok(tokens), Ok(from)) = (code_tokens(sql), code_tokens(from)) else {
        return false;
    };
    if !reads_bare(&from, table) || !top_level(&tokens, "having").is_empty() {
        return false;
    }
    let wheres = top_level(&tokens, "where");
    let [where_at] = wheres[..] else {
        return false;
    };
    // The tables the predicates name are the statement's own `FROM` clause, written right in
    // front of its `WHERE`, not names a fragment gave to something else while a literal of
    // its own hid Diesel's clause.
    if where_at < from.len() || tokens[where_at - from.len()..where_at] != from[..] {
        return false;
    }
    let mut i = where_at + 1;
    if tokens.get(i) == Some(&Token::Punct('(')) {
        let Some(end) = group_end(&tokens, i) else {
            return false;
        };
        if !is_keyword(tokens.get(end), "and") || !only_compares(&tokens[i..end]) {
            return false;
        }
        i = end + 1;
    }
    let Ok(predicate) = tokenize(&tenant_predicate_text(table, column, false)) else {
        return false;
    };
    if tokens.get(i..i + predicate.len()) != Some(&predicate[..]) {
        return false;
    }
    i += predicate.len();
    tokens.get(i).is_none() || AFTER_WHERE.iter().any(|w| is_keyword(tokens.get(i), w))
}
