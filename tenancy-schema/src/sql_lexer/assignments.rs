//! What the `SET` list of an `UPDATE` assigns.

use super::SqlTextError;
#[cfg(test)]
use super::fragment::check_fragment;
#[cfg(test)]
use super::lexer::tokenize;
use super::lexer::{Token, code_tokens, describe, top_level};

/// The assignments of the first top-level `SET` list of a rendered `UPDATE` (or of an
/// upsert's `DO UPDATE SET`): for each, the assigned column (normalised), or `None` when the
/// item is not `column = ...`, and the item as text for messages.
pub(crate) fn set_list_assignments(
    statement: &str,
) -> Result<Vec<(Option<String>, String)>, SqlTextError> {
    let tokens = code_tokens(statement)?;
    let Some(&set) = top_level(&tokens, "set").first() else {
        return Ok(Vec::new());
    };
    let end = top_level(&tokens, "where")
        .into_iter()
        .chain(top_level(&tokens, "returning"))
        .filter(|&at| at > set)
        .min()
        .unwrap_or(tokens.len());
    Ok(split_assignments(&tokens[set + 1..end]))
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
