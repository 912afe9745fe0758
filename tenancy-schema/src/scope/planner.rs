//! Deciding what a statement shadows. This is the one place that reads rendered SQL to plan a
//! statement (for the sub-queries and raw fragments the types do not show) and caches the
//! outcome per statement type, so it is kept apart from the code that writes the statements.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::result::Error as DieselError;
use uuid::Uuid;

use super::entry::ScopeEntry;
use super::error::{LockingJoinError, LockingSelfReferenceError};
use super::first_bind::{Reserved, Sent, Statement, TenantBind};
use super::named::{add_unique, relation_uses, render, tables_named, unsafe_sql};
use super::plan::{OwnFilter, ScopePlan};
use super::traits::TenantQuery;

/// What [`plan`] decided for one statement type, without the tenant: what it shadows, and
/// the text to send.
type PlanShape = (
    Vec<ScopeEntry>,
    Option<OwnFilter>,
    Option<ScopeEntry>,
    Option<Arc<str>>,
    Sent,
);

/// A query with a plan, as it is sent (behind the tenant's bind).
struct Planned<'a, Q>(&'a Q, &'a ScopePlan);

impl<Q: TenantQuery> Statement for Planned<'_, Q> {
    fn walk_statement<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_scoped(self.1, out)
    }
}

/// Plans already made, by statement type and the limit it writes as a number. A type with a
/// static query id renders the same SQL every time (Diesel's own prepared-statement cache
/// relies on this) but for that limit ([`super::limit`], at most
/// [`super::INLINED_LIMIT_MAX`] values), so its plan and text are made once per process and
/// limit instead of rendering and reading the SQL on every call. Types without one (raw
/// fragments, boxed queries) are planned every time. Refusals are not kept.
fn plan_cache() -> &'static RwLock<HashMap<PlanKey, PlanShape>> {
    static CACHE: OnceLock<RwLock<HashMap<PlanKey, PlanShape>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// A statement type, and the limit it writes as a number.
type PlanKey = (TypeId, Option<i64>);

/// Plans how to scope `query` (which tables to shadow, the lock form) and writes the text to
/// send.
pub(crate) fn plan<Q: TenantQuery>(query: &Q, tenant: Uuid) -> QueryResult<(ScopePlan, Sent)> {
    let id = Q::query_id().map(|id| query.inlined_limit().map(|limit| (id, limit)));
    let id = id.transpose()?;
    if let Some(id) = id {
        let cache = plan_cache().read().unwrap_or_else(PoisonError::into_inner);
        if let Some((ctes, filtered, locked, locked_schema, sent)) = cache.get(&id) {
            return Ok((
                ScopePlan {
                    tenant,
                    ctes: ctes.clone(),
                    filtered: filtered.clone(),
                    locked: *locked,
                    locked_schema: locked_schema.clone(),
                },
                sent.clone(),
            ));
        }
    }
    let (plan, sent) = plan_uncached(query, tenant)?;
    if let Some(id) = id {
        plan_cache()
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                (
                    plan.ctes.clone(),
                    plan.filtered.clone(),
                    plan.locked,
                    plan.locked_schema.clone(),
                    sent.clone(),
                ),
            );
    }
    Ok((plan, sent))
}

/// The text to send for `plan`, where it is not the prefix and the planned text (a filter in
/// the statement's `WHERE` clause, a row lock): written again, and accepted only when it is
/// the planned text with tenancy's own part in its place (`removed` taken out and `inserted`
/// put in), so that nothing a fragment writes differently the second time reaches the server.
fn rewritten<Q: TenantQuery>(
    query: &Q,
    plan: &ScopePlan,
    bind: &TenantBind,
    planned: &Sent,
    (removed, inserted): (&str, &str),
) -> QueryResult<Option<Sent>> {
    // Whether it may be cached is the planned text's answer: only the text is written again.
    let sql = render(&Reserved(bind, &Planned(query, plan)))?;
    let prefix = plan.prefix_text()?;
    // And tenancy's part has to be read as the code it is where it went in: a fragment in
    // front of it that opened a comment or a literal would make it text, and leave a table
    // the fragment names after it unfiltered.
    let same = sql.strip_prefix(prefix.as_str()).is_some_and(|rest| {
        replaced_at(&planned.sql, rest, removed, inserted)
            .is_some_and(|at| crate::sql_lexer::is_code_at(rest, at, inserted))
    });
    Ok(same.then(|| planned.with_sql(sql.into())))
}

/// Where `sent` is `planned` with `removed` replaced by `inserted` at one place, if it is.
fn replaced_at(planned: &str, sent: &str, removed: &str, inserted: &str) -> Option<usize> {
    let common = planned
        .bytes()
        .zip(sent.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    // The replaced part may open with what the inserted one opens with (` FROM `): it starts
    // at most that far before the first difference.
    let earliest = common.saturating_sub(removed.len().max(inserted.len()));
    (earliest..=common).find(|&at| {
        planned.get(at..).is_some_and(|p| p.starts_with(removed))
            && sent.get(at..).is_some_and(|s| s.starts_with(inserted))
            && planned.get(at + removed.len()..) == sent.get(at + inserted.len()..)
    })
}

/// A refusal for a statement whose second rendering is not its first.
fn changed(table: &str) -> DieselError {
    unsafe_sql(crate::sql_lexer::SqlTextError::ChangedAfterPlanning(
        table.to_owned(),
    ))
}

fn plan_uncached<Q: TenantQuery>(query: &Q, tenant: Uuid) -> QueryResult<(ScopePlan, Sent)> {
    let bind = TenantBind::new(tenant);
    // Rendered once, read, and sent as read: behind the prefix, or with tenancy's own part
    // put in its place (`rewritten`).
    // As the statement writes itself without a plan: as Diesel writes it, but for a limit it
    // writes as a number.
    let unplanned = ScopePlan::shadowing(tenant, Vec::new());
    let planned = Sent::render(&Reserved(&bind, &Planned(query, &unplanned)))?;
    crate::sql_lexer::check_balanced(&planned.sql).map_err(unsafe_sql)?;
    let behind_prefix = |plan: ScopePlan| -> QueryResult<(ScopePlan, Sent)> {
        let sent = planned.after(&plan.prefix_text()?);
        Ok((plan, sent))
    };
    let mut own = Vec::new();
    Q::source_tables(&mut own);
    let names = crate::sql_lexer::tenant_statement_names(&planned.sql).map_err(unsafe_sql)?;
    let self_references = own
        .first()
        .map(|locked| relation_uses(&names, locked.table));
    let own_named_once = !own.is_empty() && own.iter().all(|e| relation_uses(&names, e.table) == 1);
    let mut unique = Vec::with_capacity(own.len());
    for t in own.iter().copied().chain(tables_named(names)?) {
        add_unique(&mut unique, t);
    }
    let locks = query.locks()?;
    if let [single] = own[..]
        && own_named_once
        && Q::HAS_STATIC_QUERY_ID
        && locks != Some(false)
        && let Some(after_where) = query.own_where()?
    {
        // The table of the `FROM` clause is named there only: its predicate can go into the
        // statement's own `WHERE` clause, if that keeps the filter whole.
        let table = single.table;
        let from = query.written_from()?;
        // Only without its guard: PostgreSQL orders a scan's filters by cost and, between
        // filters of the same cost, keeps the order they were written in, and in the
        // statement's own `WHERE` clause the caller's filter is written first. A filter costed
        // like the guard (`<row> = ANY (<one-element array>)`) would run ahead of it there; a
        // predicate that needs its guard goes into a CTE (or a locked derived table), whose
        // predicates come ahead of the caller's.
        if crate::sql_lexer::conditions_only_compare(&planned.sql, &from, table, &|c| {
            crate::manifest::compares_as_value(table, c)
        }) {
            let filter = OwnFilter {
                entry: single,
                after_where,
            };
            let own_filter = render(&OwnFilterText(&filter))?;
            let mut ctes = unique.clone();
            ctes.retain(|t| t.table != table);
            let candidate = ScopePlan {
                tenant,
                ctes,
                filtered: Some(filter),
                locked: None,
                locked_schema: None,
            };
            if let Some(sent) = rewritten(query, &candidate, &bind, &planned, ("", &own_filter))?
                && crate::sql_lexer::filter_holds(&sent.sql, &from, (table, single.tenant_column))
            {
                return Ok((candidate, sent));
            }
        }
    }
    match locks {
        None => behind_prefix(ScopePlan::shadowing(tenant, unique)),
        Some(_) if unique.is_empty() => behind_prefix(ScopePlan::shadowing(tenant, unique)),
        Some(false) => Err(DieselError::QueryBuilderError(Box::new(LockingJoinError))),
        Some(true) => {
            let Some(locked) = own.first().copied() else {
                // A locked global table: nothing of a tenant to shadow in its FROM.
                return behind_prefix(ScopePlan::shadowing(tenant, unique));
            };
            let plan = if self_references > Some(1) {
                // Its other uses keep their CTE; the lock needs the table by its full name.
                let Some(schema) = super::schemas::schema_of(locked.table) else {
                    return Err(DieselError::QueryBuilderError(Box::new(
                        LockingSelfReferenceError {
                            table: locked.table,
                        },
                    )));
                };
                ScopePlan {
                    tenant,
                    ctes: unique,
                    filtered: None,
                    locked: Some(locked),
                    locked_schema: Some(schema),
                }
            } else {
                unique.retain(|t| t.table != locked.table);
                ScopePlan {
                    tenant,
                    ctes: unique,
                    filtered: None,
                    locked: Some(locked),
                    locked_schema: None,
                }
            };
            let from = query.written_from()?;
            let derived = render(&LockedFromText(&plan, locked))?;
            match rewritten(query, &plan, &bind, &planned, (&from, &derived))? {
                Some(sent) => Ok((plan, sent)),
                None => Err(changed(locked.table)),
            }
        }
    }
}

/// The tenant predicates a plan adds after a statement's own filter, to render them.
struct OwnFilterText<'a>(&'a OwnFilter);

impl QueryFragment<Pg> for OwnFilterText<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        ScopePlan::push_own_filter(self.0, &mut out)
    }
}

/// The derived table a row lock reads instead of the table, to render it.
struct LockedFromText<'a>(&'a ScopePlan, ScopeEntry);

impl QueryFragment<Pg> for LockedFromText<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        super::select::push_locked_from(self.0, &self.1, &mut out)
    }
}
