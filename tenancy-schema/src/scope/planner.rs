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
use super::named::{add_unique, relation_uses, render, tables_named, unsafe_sql};
use super::plan::{OwnFilter, ScopePlan};
use super::traits::TenantQuery;

/// What [`plan`] decided for one statement type, without the tenant.
type PlanShape = (
    Vec<ScopeEntry>,
    Option<OwnFilter>,
    Option<ScopeEntry>,
    Option<Arc<str>>,
);

/// A query with a plan, rendered as it would be sent, for [`plan_uncached`] to check.
struct Planned<'a, Q>(&'a Q, &'a ScopePlan);

impl<Q: TenantQuery> QueryFragment<Pg> for Planned<'_, Q> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_scoped(self.1, out)
    }
}

/// Plans already made, by statement type. A type with a static query id renders the same SQL
/// every time (Diesel's own prepared-statement cache relies on this), so its plan is made once
/// per process instead of rendering and reading the SQL on every call. Types without one (raw
/// fragments, boxed queries) are planned every time. Refusals are not kept.
fn plan_cache() -> &'static RwLock<HashMap<TypeId, PlanShape>> {
    static CACHE: OnceLock<RwLock<HashMap<TypeId, PlanShape>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Plans how to scope `query`: which tables to shadow, and the lock form.
pub(crate) fn plan<Q: TenantQuery>(query: &Q, tenant: Uuid) -> QueryResult<ScopePlan> {
    let id = Q::query_id();
    if let Some(id) = id {
        let cache = plan_cache().read().unwrap_or_else(PoisonError::into_inner);
        if let Some((ctes, filtered, locked, locked_schema)) = cache.get(&id) {
            return Ok(ScopePlan {
                tenant,
                ctes: ctes.clone(),
                filtered: filtered.clone(),
                locked: *locked,
                locked_schema: locked_schema.clone(),
            });
        }
    }
    let plan = plan_uncached(query, tenant)?;
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
                ),
            );
    }
    Ok(plan)
}

fn plan_uncached<Q: TenantQuery>(query: &Q, tenant: Uuid) -> QueryResult<ScopePlan> {
    let mut own = Vec::new();
    Q::source_tables(&mut own);
    let names = crate::sql_lexer::names(&render(query)?).map_err(unsafe_sql)?;
    let self_references = own
        .first()
        .map(|locked| relation_uses(&names, locked.table));
    let own_named_once = !own.is_empty() && own.iter().all(|e| relation_uses(&names, e.table) == 1);
    let mut unique = Vec::with_capacity(own.len());
    for t in own.iter().copied().chain(tables_named(names)?) {
        add_unique(&mut unique, t);
    }
    let locks = query.locks()?;
    if own_named_once
        && Q::HAS_STATIC_QUERY_ID
        && locks != Some(false)
        && let Some(after_where) = query.own_where()?
    {
        // Each table of the `FROM` clause is named there only: their predicates can go into
        // the statement's own `WHERE` clause, if that keeps the filter whole.
        let mut ctes = unique.clone();
        ctes.retain(|t| !own.iter().any(|o| o.table == t.table));
        let candidate = ScopePlan {
            tenant,
            ctes,
            filtered: Some(OwnFilter {
                entries: own.iter().copied().collect(),
                after_where,
            }),
            locked: None,
            locked_schema: None,
        };
        let sql = render(&Planned(query, &candidate))?;
        let predicates: Vec<(&str, &str)> =
            own.iter().map(|e| (e.table, e.tenant_column)).collect();
        if crate::sql_lexer::filter_holds(&sql, &predicates) {
            return Ok(candidate);
        }
    }
    match locks {
        None => Ok(ScopePlan::shadowing(tenant, unique)),
        Some(_) if unique.is_empty() => Ok(ScopePlan::shadowing(tenant, unique)),
        Some(false) => Err(DieselError::QueryBuilderError(Box::new(LockingJoinError))),
        Some(true) => {
            let Some(locked) = own.first().copied() else {
                // A locked global table: nothing of a tenant to shadow in its FROM.
                return Ok(ScopePlan::shadowing(tenant, unique));
            };
            if self_references > Some(1) {
                // Its other uses keep their CTE; the lock needs the table by its full name.
                let Some(schema) = super::schemas::schema_of(locked.table) else {
                    return Err(DieselError::QueryBuilderError(Box::new(
                        LockingSelfReferenceError {
                            table: locked.table,
                        },
                    )));
                };
                return Ok(ScopePlan {
                    tenant,
                    ctes: unique,
                    filtered: None,
                    locked: Some(locked),
                    locked_schema: Some(schema),
                });
            }
            unique.retain(|t| t.table != locked.table);
            Ok(ScopePlan {
                tenant,
                ctes: unique,
                filtered: None,
                locked: Some(locked),
                locked_schema: None,
            })
        }
    }
}
