//! Write statements whose checks already passed, by statement type. A type with a static query
//! id renders the same SQL every time (Diesel's own prepared-statement cache relies on this),
//! so what the SQL lexer found in one statement of that type (the tenant tables it names, its
//! clauses staying inside their parentheses) holds for every later one of the same shape. The
//! findings are kept per process, and later statements are neither rendered nor read again.
//! Refusals are not kept: a refused statement is checked again, and refused again, each time.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

use diesel::pg::Pg;
use diesel::query_builder::QueryFragment;

use super::entry::ScopeEntry;
use super::named::{render, tables_read_by_write};

/// What fixes a write statement's SQL text, as far as its checks are concerned: the type that
/// Diesel's query id names, and whether an insert ends in `RETURNING` (decided at run time for
/// one statement type). How many rows an insert has does not change which tables it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct WriteShape {
    id: TypeId,
    returning: bool,
}

impl WriteShape {
    /// The shape of statements of type `Q`, when Diesel gives `Q` a static query id.
    pub(crate) fn of<Q: diesel::query_builder::QueryId>(returning: bool) -> Option<Self> {
        Q::query_id().map(|id| Self::new(id, returning))
    }

    /// The shape of statements whose SQL `id` (a static query id) fixes.
    pub(crate) fn new(id: TypeId, returning: bool) -> Self {
        Self { id, returning }
    }

    /// The tenant tables an earlier statement of this shape was found to name.
    pub(crate) fn checked_tables(self) -> Option<Vec<ScopeEntry>> {
        cache()
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&self)
            .cloned()
    }

    /// Keeps `tables`, found in a statement of this shape that passed every check.
    pub(crate) fn passed(self, tables: &[ScopeEntry]) {
        cache()
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self, tables.to_vec());
    }
}

/// The tenant tables `statement`, a write into `target`, reads ([`tables_read_by_write`]):
/// `known` (what an earlier statement of its shape was found to read,
/// [`WriteShape::checked_tables`]) without rendering anything, or else read from its SQL text
/// once `check` has accepted that text, and then kept for `shape`.
pub(crate) fn tables_checked<S: QueryFragment<Pg> + ?Sized>(
    statement: &S,
    target: &str,
    shape: Option<WriteShape>,
    known: Option<Vec<ScopeEntry>>,
    check: impl FnOnce(&str) -> Result<(), crate::Error>,
) -> Result<Vec<ScopeEntry>, crate::Error> {
    if let Some(tables) = known {
        return Ok(tables);
    }
    let sql = render(statement)?;
    check(&sql)?;
    let tables = tables_read_by_write(&sql, target)?;
    if let Some(shape) = shape {
        shape.passed(&tables);
    }
    Ok(tables)
}

fn cache() -> &'static RwLock<HashMap<WriteShape, Vec<ScopeEntry>>> {
    static CACHE: OnceLock<RwLock<HashMap<WriteShape, Vec<ScopeEntry>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}
