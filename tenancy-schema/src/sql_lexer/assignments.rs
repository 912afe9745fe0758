//! What the `SET` list of an `UPDATE` assigns.

use super::SqlTextError;
#[cfg(test)]
use super::fragment::check_fragment;
use super::lexer::{Token, describe, is_keyword, tokenize};

/// The assignments of the first top-level `SET` list of a rendered `UPDATE` (or of an
/// upsert's `DO UPDATE SET`): for each, the assigned column (normalised), or `None` when the
/// item is not `column = ...`, and the item as text for messages.
pub(crate) fn set_list_assignments(
    statement: &str,
) -> Result<Vec<(Option<String>, String)>, SqlTextError> {
    let tokens = tokenize(statement)?;
    if tokens.contains(&Token::Comment) {
        return Err(SqlTextError::Comment);
    }
    if tokens.contains(&Token::Punct(';')) {
        return Err(SqlTextError::Semicolon);
    }
    let mut depth = 0i64;
    let mut start = None;
    let mut end = tokens.len();
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            _ if depth == 0 && start.is_none() && is_keyword(Some(t), "set") => start = Some(i + 1),
            _ if depth == 0
                && start.is_some()
                && (is_keyword(Some(t), "where") || is_keyword(Some(t), "returning")) =>
            {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let Some(start) = start else {
        return Ok(Vec::new());
    };
    Ok(split_assignments(&tokens[start..end]))
}

/// Splits a rendered `SET` list (without the keyword) at its top-level commas.
#[cfg(test)]
pub(crate) fn assignments(set_list: &str) -> Result<Vec<(Option<String>, String)>, SqlTextError> {
    check_fragment(set_list)?;
    Ok(split_assignments(&tokenize(set_list)?))
}

fn split_assignments(tokens: &[Token]) -> Vec<(Option<String>, String)> {
    let mut items: Vec<Vec<Token>> = vec![Vec::new()];
    let mut depth = 0i64;
    for token in tokens {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            Token::Punct(',') if depth == 0 => {
                items.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = items.last_mut() {
            last.push(token.clone());
        }
    }
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .map(|item| {
            let column = match (item.first(), item.get(1)) {
                (Some(Token::Ident { name, .. }), Some(Token::Operator(op))) if op == "=" => {
                    Some(name.clone())
                }
                _ => None,
            };
            (column, describe(&item))
        })
        .collect()
}
