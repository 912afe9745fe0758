//! A small lexer for the SQL text Diesel renders, so that tenancy can reason about what a
//! statement references before sending it: which tables it names anywhere (sub-queries, raw
//! fragments), whether a raw fragment stays inside its parentheses, and what an `UPDATE`'s
//! `SET` list assigns.
//!
//! It knows PostgreSQL's lexical rules that matter for that: quoted identifiers (`""`
//! escapes), string literals (`''` escapes, `E'..'` backslash escapes, `U&'..'`), dollar
//! quotes (`$tag$..$tag$`), bind parameters (`$1`), line and nested block comments. It is not a
//! parser: callers look at identifiers, parentheses, commas and semicolons only.

mod assignments;
mod error;
mod fragment;
mod lexer;
mod like;
mod merge;
mod names;
#[cfg(feature = "check")]
mod statements;
#[cfg(test)]
mod tests;
mod transaction_control;
mod write_shape;

#[cfg(test)]
pub(crate) use assignments::assignments;
pub(crate) use assignments::set_list_assignments;
pub use error::SqlTextError;
pub(crate) use fragment::{
    TENANT_EQUALS, TENANT_GUARD, check_balanced, check_conjunction, conditions_only_compare,
    filter_holds, is_code_at,
};
#[cfg(feature = "check")]
pub(crate) use lexer::{Token, code_start, tokenize};
pub(crate) use like::{LikeEscape, LikePattern, bound_like_patterns, ends_with_escape};
pub(crate) use names::{
    DYNAMIC_SQL, NameUse, STATISTICS_VIEWS, UseKind, names, tenant_statement_names,
};
#[cfg(feature = "check")]
pub(crate) use statements::{dollar_quoted_bodies, statements};
pub(crate) use transaction_control::check_raw_statement;
pub(crate) use write_shape::{InsertTail, check_filtered_write, check_insert, write_without_guard};
