//! Write statements whose checks already passed, by statement type. A type with a static query
//! id renders the same SQL every time (Diesel's own prepared-statement cache relies on this),
//! so what the SQL lexer found in one statement of that type (the tenant tables it names, its
//! clauses staying inside their parentheses) holds for every later one of the same shape. The
//! findings are kept per process with the text they were made on, and later statements are
//! neither rendered nor read again: that text is what they send.
//! Refusals are not kept: a refused statement is checked again, and refused again, each time.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

use diesel::pg::Pg;
use diesel::query_builder::QueryFragment;

use super::entry::ScopeEntry;
use super::first_bind::Sent;
use super::named::tables_read_by_write;

/// What fixes a write statement's SQL text, as far as its checks are concerned: the type that
/// Diesel's query id names, whether an insert ends in `RETURNING` (decided at run time for
/// one statement type), and how many rows it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct WriteShape {
    id: TypeId,
    returning: bool,
    /// The rows of an insert, which its text (kept with the findings) writes out.
    rows: usize,
}

impl WriteShape {
    /// The shape of statements of type `Q`, when Diesel gives `Q` a static query id.
    pub(crate) fn of<Q: diesel::query_builder::QueryId>(returning: bool) -> Option<Self> {
        Q::query_id().map(|id| Self::new(id, returning, 1))
    }

    /// The shape of statements whose SQL `id` (a static query id) fixes, with `rows` rows.
    pub(crate) fn new(id: TypeId, returning: bool, rows: usize) -> Self {
        Self {
            id,
            returning,
            rows,
        }
    }

    /// The tenant tables an earlier statement of this shape was found to name, and its text.
    pub(crate) fn checked_tables(self) -> Option<(Vec<ScopeEntry>, Sent)> {
        cache()
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&self)
            .cloned()
    }

    /// Keeps `tables`, found in a statement of this shape that passed every check, with the
    /// text it was found in.
    pub(crate) fn passed(self, tables: &[ScopeEntry], sent: &Sent) {
        cache()
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self, (tables.to_vec(), sent.clone()));
    }
}

/// The tenant tables `statement`, a write into `target` rendered behind the tenant's bind,
/// reads ([`tables_read_by_write`]), with the text they were read from, which is the text to
/// send: `known` (what an earlier statement of its shape was found to read,
/// [`WriteShape::checked_tables`]) without rendering anything, or else read from its SQL text
/// once `check` has accepted that text, and then kept for `shape`. A filtered write names the
/// tenant column its predicate filters (`guarded`): where it reads no other tenant table, the
/// predicate's guard is taken out of the text if it protects nothing
/// ([`unguarded_write`]).
pub(crate) fn tables_checked<S: QueryFragment<Pg> + ?Sized>(
    statement: &S,
    target: &str,
    guarded: Option<&str>,
    shape: Option<WriteShape>,
    known: Option<(Vec<ScopeEntry>, Sent)>,
    check: &dyn Fn(&str) -> Result<(), crate::Error>,
) -> Result<(Vec<ScopeEntry>, Sent), crate::Error> {
    if let Some(known) = known {
        return Ok(known);
    }
    let mut sent = Sent::render(statement)?;
    check(&sent.sql)?;
    let tables = tables_read_by_write(&sent.sql, target)?;
    if let Some(column) = guarded {
        sent = unguarded_write(sent, &tables, target, column);
    }
    if let Some(shape) = shape {
        shape.passed(&tables, &sent);
    }
    Ok((tables, sent))
}

type Checked = HashMap<WriteShape, (Vec<ScopeEntry>, Sent)>;

fn cache() -> &'static RwLock<Checked> {
    static CACHE: OnceLock<RwLock<Checked>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// `sent`, a checked `UPDATE` or `DELETE` of `target` filtered on its tenant `column`,
/// without the guard behind its tenant predicate where the guard protects nothing
/// ([`crate::sql_lexer::write_without_guard`]); as it is when it reads another tenant table
/// (`tables`, shadowed by CTEs), whose sub-queries' conditions the guard also stands in front
/// of.
pub(crate) fn unguarded_write(
    sent: Sent,
    tables: &[ScopeEntry],
    target: &str,
    column: &str,
) -> Sent {
    if !tables.is_empty() {
        return sent;
    }
    let value_column = |c: &str| crate::manifest::compares_as_value(target, c);
    match crate::sql_lexer::write_without_guard(&sent.sql, target, column, &value_column) {
        Some(sql) => sent.with_sql(sql.into()),
        None => sent,
    }
}
