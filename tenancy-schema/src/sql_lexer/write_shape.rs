//! Whether the clauses tenancy writes into a tenant write are still where it wrote them once
//! the user's raw fragments sit between them.
//!
//! Each fragment is checked on its own elsewhere, but a fragment can be harmless alone and
//! still change the statement around it: a value that closes its row and opens another
//! (`'x'), ('<other tenant>', ..`), or a string opened in a `SET` value (`E'`) and closed in a
//! filter, which turns tenancy's tenant predicate between them into text. So the whole
//! statement, as the server will lex it, is read again here, and every clause tenancy wrote
//! has to be found as code at the top level, in its place.

use super::SqlTextError;
use super::fragment::{TENANT, only_compares_values, tenant_guard_text, tenant_predicate_text};
use super::lexer::{Token, code_tokens, excerpt, group_end, is_keyword, tokenize, top_level};

/// Checks a rendered tenant `UPDATE` or `DELETE` (without its CTE prefix) against its
/// `WHERE` predicate rendered alone (`<tenant filter> AND (<f1>) ...`, already checked by
/// [`super::check_conjunction`]): the statement has one `WHERE` at the top level, and what
/// follows it, up to the end or a top-level `RETURNING`, is that predicate token for token,
/// with the tenant's predicate naming the tenant (`$1`). The filters' own parameters are
/// numbered from `$1` in the predicate rendered alone and further on in the statement, so
/// only their places are compared. A `SET` value that adds a `WHERE`, or opens a string a
/// filter closes, fails, and so does one that writes a tenant predicate of its own on a value
/// it binds (`WHERE "posts"."tenant_id" = $2 AND (` .. with tenancy's swallowed).
pub(crate) fn check_filtered_write(statement: &str, predicate: &str) -> Result<(), SqlTextError> {
    let tokens = code_tokens(statement)?;
    let expected = tokenize(predicate)?;
    let escaped = || SqlTextError::RestructuredWrite(excerpt(statement));
    let found = where_clause(&tokens).ok_or_else(escaped)?;
    let same_places = found.len() == expected.len()
        && found.iter().zip(&expected).all(|pair| match pair {
            (Token::Param(_), Token::Param(_)) => true,
            (a, b) => a == b,
        });
    // The predicate opens with the tenant's, up to the first filter's `AND (`: every
    // parameter it names is the tenant.
    let tenant_end = expected
        .windows(2)
        .position(|w| is_keyword(Some(&w[0]), "and") && w[1] == Token::Punct('('))
        .unwrap_or(expected.len());
    let tenant_params: Vec<usize> = (0..tenant_end)
        .filter(|&at| matches!(expected[at], Token::Param(_)))
        .collect();
    if same_places
        && !tenant_params.is_empty()
        && tenant_params.iter().all(|&at| found[at] == TENANT)
    {
        Ok(())
    } else {
        Err(escaped())
    }
}

/// `statement`, a tenant `UPDATE` or `DELETE` of `table` whose text passed
/// [`check_filtered_write`] and that reads no tenant table but its target, without the guard
/// behind its tenant predicate, where that guard protects nothing: every filter behind the
/// predicate only compares columns with values ([`only_compares_values`]), so nothing of the
/// caller's but a comparison is evaluated on a row before the equality has passed it, and the
/// values of the `SET` list and `RETURNING` are computed for the rows that passed the whole
/// `WHERE` clause only. `None` keeps the statement as it is: a filter that computes (a
/// function, a cast, arithmetic, `LIKE`, a sub-query), or a text whose guard is not found
/// exactly once, as code, in its place.
///
/// The guard is cut out of the text where it occurs, so the text must hold it once: a value
/// that spells the guard out in a string would otherwise be the one cut. What is left is read
/// again: one top-level `WHERE`, the predicate without its guard right behind it, then only
/// `AND` and comparisons up to the end or a top-level `RETURNING`.
///
/// `value_column` says which of the table's columns compare as plain values
/// ([`super::conditions_only_compare`]).
pub(crate) fn write_without_guard(
    statement: &str,
    table: &str,
    column: &str,
    value_column: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let guard = tenant_guard_text(table, column);
    let mut found = statement.match_indices(guard.as_str()).map(|(at, _)| at);
    let (Some(at), None) = (found.next(), found.next()) else {
        return None;
    };
    let tokens = code_tokens(statement).ok()?;
    let expected = tokenize(&tenant_predicate_text(table, column, true)).ok()?;
    if !where_clause(&tokens)?.starts_with(&expected) {
        return None;
    }
    let unguarded = format!("{}{}", &statement[..at], &statement[at + guard.len()..]);
    let tokens = code_tokens(&unguarded).ok()?;
    let rest = where_clause(&tokens)?
        .strip_prefix(&tokenize(&tenant_predicate_text(table, column, false)).ok()?[..])?;
    let compares = match rest {
        [] => true,
        [and, filters @ ..] => {
            is_keyword(Some(and), "and") && only_compares_values(filters, table, value_column)
        }
    };
    compares.then_some(unguarded)
}

/// The condition of a write's one top-level `WHERE` clause, up to the end or a top-level
/// `RETURNING` behind it.
fn where_clause(tokens: &[Token]) -> Option<&[Token]> {
    let [where_at] = top_level(tokens, "where")[..] else {
        return None;
    };
    let end = match top_level(tokens, "returning")[..] {
        [] => tokens.len(),
        [at] if at > where_at => at,
        _ => return None,
    };
    Some(&tokens[where_at + 1..end])
}

/// What tenancy wrote after the rows of a tenant `INSERT`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InsertTail {
    /// `ON CONFLICT (..) DO NOTHING` (`Some(false)`) or `DO UPDATE SET ..` (`Some(true)`).
    pub(crate) conflict: Option<bool>,
    /// `RETURNING <the table's columns>`.
    pub(crate) returning: bool,
}

/// Checks a rendered tenant `INSERT` (without its CTE prefix): after the top-level `VALUES`
/// come exactly `rows` parenthesised rows, each opening with the tenant tenancy writes (`$1`,
/// not a value a fragment bound), then exactly the clauses of `tail` and nothing else. A value that closes
/// its row and opens another, or adds an `ON CONFLICT` or `RETURNING` of its own, fails.
pub(crate) fn check_insert(
    statement: &str,
    rows: usize,
    tail: InsertTail,
) -> Result<(), SqlTextError> {
    let tokens = code_tokens(statement)?;
    let escaped = || SqlTextError::RestructuredWrite(excerpt(statement));
    let Some(&values_at) = top_level(&tokens, "values").first() else {
        return Err(escaped());
    };
    let mut i = values_at + 1;
    for row in 0..rows {
        if row > 0 {
            if tokens.get(i) != Some(&Token::Punct(',')) {
                return Err(escaped());
            }
            i += 1;
        }
        let opens_with_tenant = tokens.get(i) == Some(&Token::Punct('('))
            && tokens.get(i + 1) == Some(&TENANT)
            && matches!(tokens.get(i + 2), Some(Token::Punct(',' | ')')));
        if !opens_with_tenant {
            return Err(escaped());
        }
        i = group_end(&tokens, i).ok_or_else(escaped)?;
    }
    if let Some(update) = tail.conflict {
        let conflict = is_keyword(tokens.get(i), "on")
            && is_keyword(tokens.get(i + 1), "conflict")
            && tokens.get(i + 2) == Some(&Token::Punct('('));
        if !conflict {
            return Err(escaped());
        }
        i = group_end(&tokens, i + 2).ok_or_else(escaped)?;
        let action: &[&str] = if update {
            &["do", "update", "set"]
        } else {
            &["do", "nothing"]
        };
        for word in action {
            if !is_keyword(tokens.get(i), word) {
                return Err(escaped());
            }
            i += 1;
        }
    }
    // What is left: the `SET` list of an upsert (checked item by item by the caller), then
    // tenancy's `RETURNING`; no other clause at the top level.
    let rest = &tokens[i..];
    let clauses = ["where", "returning", "on", "values", "from"]
        .iter()
        .flat_map(|word| top_level(rest, word).into_iter().map(move |at| (at, *word)))
        .collect::<Vec<_>>();
    let update_list = tail.conflict == Some(true);
    match (clauses[..].first(), clauses.len(), tail.returning) {
        (None, 0, false) if update_list || rest.is_empty() => Ok(()),
        (Some(&(at, "returning")), 1, true) if update_list || at == 0 => Ok(()),
        _ => Err(escaped()),
    }
}
