//! The tenant as the first bind parameter of every statement tenancy writes, and the SQL text
//! that was checked as the only text that is sent.
//!
//! Diesel walks a statement once for its SQL text and again for its bind values, and tenancy
//! renders it once more to check it. A `QueryFragment` of the application's own may write
//! something else on each walk, so two rules hold for every tenant statement:
//! - its SQL text is rendered once, checked, kept, and pushed as it is on Diesel's walk for the
//!   text: what PostgreSQL parses is what tenancy read;
//! - the tenant is bound first (`$1`) and every tenant predicate tenancy writes names `$1`:
//!   a fragment that pushes more or fewer values on the walk for the binds than it wrote
//!   placeholders for can only move its own values, never the tenant's.
//!
//! Which walk is which is not something Diesel tells a fragment. The tenant's value does: only
//! the walk that collects bind values asks it to serialize itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Uuid as SqlUuid;
use uuid::Uuid;

use crate::sql_lexer::LikePattern;

/// How tenancy's own SQL names the tenant: always the statement's first parameter.
pub(crate) const TENANT_PARAM: &str = "$1";

/// The tenant's id as a statement's first bind value.
pub struct TenantBind {
    tenant: Uuid,
    /// Set when the value is serialized, which only the walk collecting bind values does.
    serialized: AtomicBool,
}

/// Shown as the id it binds (`debug_query` lists it with the statement's values).
impl std::fmt::Debug for TenantBind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.tenant, f)
    }
}

impl Clone for TenantBind {
    fn clone(&self) -> Self {
        Self::new(self.tenant)
    }
}

impl TenantBind {
    pub(crate) fn new(tenant: Uuid) -> Self {
        Self {
            tenant,
            serialized: AtomicBool::new(false),
        }
    }

    /// Binds the tenant as the statement's first value, without writing a placeholder (the
    /// statement's text names it as [`TENANT_PARAM`]). Returns whether this walk collects bind
    /// values; on the others (the text, whether it may be cached, debug output) the caller
    /// pushes its checked text instead of walking the statement.
    pub(crate) fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<bool> {
        self.serialized.store(false, Ordering::Relaxed);
        out.push_bind_param_value_only::<SqlUuid, _>(self)?;
        Ok(self.serialized.swap(false, Ordering::Relaxed))
    }
}

impl ToSql<SqlUuid, Pg> for TenantBind {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        self.serialized.store(true, Ordering::Relaxed);
        <Uuid as ToSql<SqlUuid, Pg>>::to_sql(&self.tenant, out)
    }
}

/// A statement's SQL text as rendered and checked, whether Diesel may keep it prepared, and
/// the `LIKE` patterns it binds, whose values are read as it is sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub(crate) sql: Arc<str>,
    pub(crate) safe_to_cache: bool,
    pub(crate) like: Arc<[LikePattern]>,
}

impl Sent {
    /// Renders `statement` (whose text binds the tenant first, see [`Reserved`]) for sending,
    /// and finds the `LIKE` patterns it binds.
    pub(crate) fn render<S: QueryFragment<Pg> + ?Sized>(statement: &S) -> QueryResult<Self> {
        let sql: Arc<str> = super::named::render(statement)?.into();
        Ok(Self {
            like: crate::sql_lexer::bound_like_patterns(&sql).into(),
            safe_to_cache: statement.is_safe_to_cache_prepared(&Pg)?,
            sql,
        })
    }

    /// `text` sent in front of `self`'s.
    pub(crate) fn after(&self, text: &str) -> Self {
        if text.is_empty() {
            return self.clone();
        }
        self.with_sql(format!("{text}{}", self.sql).into())
    }

    /// `self` with its text replaced by `sql`, which is `self`'s with tenancy's own text added
    /// or taken out (a CTE prefix, a tenant predicate, its guard, a derived table): the same
    /// values in the same places, so the same patterns, which are not looked for again.
    pub(crate) fn with_sql(&self, sql: Arc<str>) -> Self {
        Self {
            sql,
            safe_to_cache: self.safe_to_cache,
            like: Arc::clone(&self.like),
        }
    }

    /// What a tenant statement pushes on every walk but the one that collects its binds.
    pub(crate) fn push(&self, out: &mut AstPass<'_, '_, Pg>) {
        out.push_sql(&self.sql);
        if !self.safe_to_cache {
            out.unsafe_to_cache_prepared();
        }
    }
}

/// A statement as tenancy writes it, without the tenant's bind in front.
pub(crate) trait Statement {
    /// Writes the statement; its tenant predicates name [`TENANT_PARAM`].
    fn walk_statement<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()>;
}

/// A Diesel statement as Diesel writes it, as the [`Statement`] behind the tenant's bind.
pub(crate) struct AsWritten<'a, S: ?Sized>(pub(crate) &'a S);

impl<S: QueryFragment<Pg> + ?Sized> Statement for AsWritten<'_, S> {
    fn walk_statement<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(out)
    }
}

/// A statement rendered as tenancy sends it: the tenant's bind first, so that the statement's
/// own placeholders start at `$2`, then the statement.
pub(crate) struct Reserved<'a, S: ?Sized>(pub(crate) &'a TenantBind, pub(crate) &'a S);

impl<S: Statement + ?Sized> QueryFragment<Pg> for Reserved<'_, S> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.push(&mut out)?;
        self.1.walk_statement(out)
    }
}

/// What every tenant statement's `walk_ast` is: the tenant's bind, then on the walk that
/// collects binds the statement's own, and on every other walk the checked text.
pub(crate) fn walk_sent<'b, S: Statement + ?Sized>(
    bind: &'b TenantBind,
    sent: &'b Sent,
    statement: &'b S,
    mut out: AstPass<'_, 'b, Pg>,
) -> QueryResult<()> {
    if bind.push(&mut out)? {
        super::like::check_bound_patterns(statement, &sent.like)?;
        return statement.walk_statement(out);
    }
    sent.push(&mut out);
    Ok(())
}
