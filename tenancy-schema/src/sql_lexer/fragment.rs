//! Whether a raw fragment stays inside its parentheses, and whether a tenant predicate
//! appended to a `WHERE` clause holds for the whole filter.

use super::SqlTextError;
use super::lexer::{Token, code_tokens, excerpt, group_end, is_keyword, tokenize, top_level};

/// Checks a raw fragment that tenancy wraps in parentheses: it must not close more
/// parentheses than it opens, must leave none open, and must not contain `;` or comments.
pub(super) fn check_fragment(sql: &str) -> Result<(), SqlTextError> {
    let tokens = tokenize(sql)?;
    let mut depth: i64 = 0;
    for token in &tokens {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => {
                depth -= 1;
                if depth < 0 {
                    return Err(SqlTextError::Unbalanced(excerpt(sql)));
                }
            }
            Token::Punct(';') => return Err(SqlTextError::Semicolon),
            Token::Comment => return Err(SqlTextError::Comment),
            _ => {}
        }
    }
    if depth == 0 {
        Ok(())
    } else {
        Err(SqlTextError::Unbalanced(excerpt(sql)))
    }
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

/// The clauses that may follow a `WHERE` clause in a `SELECT` Diesel writes.
const AFTER_WHERE: &[&str] = &["group", "having", "order", "limit", "offset", "for"];

/// Whether the tenant predicates `"<table>"."<column>" = $n` that tenancy wrote into the
/// `WHERE` clause of the `SELECT` in `sql`, one per `(table, column)` of `predicates` and in
/// that order, filter every row the statement reads: the statement has one `WHERE` outside
/// parentheses, and it reads `WHERE <predicates>` or `WHERE (<one group>) AND <predicates>`
/// (the predicates joined by `AND`), followed by the end of the statement or the next clause.
/// Anything else (a filter with a top-level `OR` that Diesel did not parenthesise, a comment,
/// a `;`) answers `false`, and the caller shadows the tables with CTEs instead.
pub(crate) fn filter_holds(sql: &str, predicates: &[(&str, &str)]) -> bool {
    let Ok(tokens) = code_tokens(sql) else {
        return false;
    };
    if predicates.is_empty() {
        return false;
    }
    let quoted = |t: Option<&Token>, want: &str| matches!(t, Some(Token::Ident { name, quoted: true }) if name == want);
    let wheres = top_level(&tokens, "where");
    let [where_at] = wheres[..] else {
        return false;
    };
    let mut i = where_at + 1;
    if tokens.get(i) == Some(&Token::Punct('(')) {
        let Some(end) = group_end(&tokens, i) else {
            return false;
        };
        if !is_keyword(tokens.get(end), "and") {
            return false;
        }
        i = end + 1;
    }
    for (k, (table, column)) in predicates.iter().enumerate() {
        if k > 0 {
            if !is_keyword(tokens.get(i), "and") {
                return false;
            }
            i += 1;
        }
        let predicate = quoted(tokens.get(i), table)
            && tokens.get(i + 1) == Some(&Token::Punct('.'))
            && quoted(tokens.get(i + 2), column)
            && matches!(tokens.get(i + 3), Some(Token::Operator(op)) if op == "=")
            && tokens.get(i + 4) == Some(&Token::Param);
        if !predicate {
            return false;
        }
        i += 5;
    }
    tokens.get(i).is_none() || AFTER_WHERE.iter().any(|w| is_keyword(tokens.get(i), w))
}
