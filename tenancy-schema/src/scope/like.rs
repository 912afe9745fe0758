//! `LIKE` patterns bound as values, read as their statement is sent: one that ends with its
//! escape character is refused (`SqlTextError::LikePatternEndsWithEscape` says why).

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::bind_collector::RawBytesBindCollector;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::result::Error as DieselError;

use super::first_bind::Statement;
use super::limit::NoLookup;
use crate::sql_lexer::{LikeEscape, LikePattern, SqlTextError, ends_with_escape};

/// The types a pattern can have in PostgreSQL (`text`, `varchar`, `bpchar`, `name`, `bytea`),
/// and none (a type of the application's, which the lookup here does not resolve), whose
/// values Diesel sends as their bytes.
const PATTERN_TYPES: [u32; 6] = [25, 1043, 1042, 19, 17, 0];

/// Fails with [`SqlTextError::LikePatternEndsWithEscape`] when a pattern of `patterns`, parameters of `statement`
/// (which binds from `$2` on, behind the tenant), ends with its escape character. Statements
/// without a bound pattern pay nothing: only these serialize their values a second time.
pub(crate) fn check_bound_patterns<S: Statement + ?Sized>(
    statement: &S,
    patterns: &[LikePattern],
) -> QueryResult<()> {
    if patterns.is_empty() {
        return Ok(());
    }
    let mut collector = RawBytesBindCollector::<Pg>::new();
    Own(statement).collect_binds(&mut collector, &mut NoLookup, &Pg)?;
    let value = |param: u64| -> Option<&[u8]> {
        let index = usize::try_from(param.checked_sub(2)?).ok()?;
        let oid = collector.metadata.get(index)?.oid().unwrap_or(0);
        if !PATTERN_TYPES.contains(&oid) {
            return None;
        }
        collector.binds.get(index)?.as_deref()
    };
    for pattern in patterns {
        let Some(text) = value(pattern.param) else {
            continue;
        };
        let escape: &[u8] = match pattern.escape {
            LikeEscape::Backslash => b"\\",
            LikeEscape::Param(n) => match value(n) {
                // PostgreSQL takes one character; anything else fails whatever the rows.
                Some(escape) => first_char(escape),
                None => continue,
            },
            LikeEscape::Unknown => continue,
        };
        if ends_with_escape(text, escape) {
            return Err(DieselError::QueryBuilderError(Box::new(
                SqlTextError::LikePatternEndsWithEscape,
            )));
        }
    }
    Ok(())
}

/// The first UTF-8 character of `bytes` (all of them when they are no UTF-8).
fn first_char(bytes: &[u8]) -> &[u8] {
    match std::str::from_utf8(bytes) {
        Ok(text) => text
            .chars()
            .next()
            .map_or(&bytes[..0], |c| &bytes[..c.len_utf8()]),
        Err(_) => bytes,
    }
}

/// A statement's own part, without the tenant's bind in front: its values are `$2` on.
struct Own<'a, S: ?Sized>(&'a S);

impl<S: Statement + ?Sized> QueryFragment<Pg> for Own<'_, S> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_statement(out)
    }
}
