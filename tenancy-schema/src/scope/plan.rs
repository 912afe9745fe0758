//! What a statement shadows, and how that is written into its SQL.

use std::sync::Arc;

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::AstPass;
use uuid::Uuid;

use super::entry::ScopeEntry;
use crate::sql_lexer::{TENANT_EQUALS, TENANT_GUARD};

/// `out.push_identifier(name)` without its copy: Diesel's Postgres builder doubles quotes
/// through `str::replace`, an allocation per identifier, and the shadowing prefix pushes four
/// of them in every statement diesel-async renders. Names of tables and columns rarely hold a
/// `"`; those that do still go through Diesel.
pub(super) fn push_quoted(out: &mut AstPass<'_, '_, Pg>, name: &str) -> QueryResult<()> {
    if name.contains('"') {
        return out.push_identifier(name);
    }
    out.push_sql("\"");
    out.push_sql(name);
    out.push_sql("\"");
    Ok(())
}

fn push_scope_prefix(tables: &[ScopeEntry], out: &mut AstPass<'_, '_, Pg>) -> QueryResult<()> {
    for (i, entry) in tables.iter().enumerate() {
        out.push_sql(if i == 0 { "WITH " } else { ", " });
        push_quoted(out, entry.table)?;
        out.push_sql(" AS NOT MATERIALIZED (");
        push_scoped_body_in(None, entry, out)?;
        out.push_sql(")");
    }
    if !tables.is_empty() {
        out.push_sql(" ");
    }
    Ok(())
}

/// `SELECT * FROM [<schema>.]<table> WHERE <table>.<tenant column> = $1`.
pub(super) fn push_scoped_body_in(
    schema: Option<&str>,
    entry: &ScopeEntry,
    out: &mut AstPass<'_, '_, Pg>,
) -> QueryResult<()> {
    out.push_sql("SELECT * FROM ");
    if let Some(schema) = schema {
        push_quoted(out, schema)?;
        out.push_sql(".");
    }
    push_quoted(out, entry.table)?;
    out.push_sql(" WHERE ");
    push_entry_predicate(entry, out)
}

/// `"<table>"."<column>"` of `entry`'s tenant column.
fn push_entry_column(entry: &ScopeEntry, out: &mut AstPass<'_, '_, Pg>) -> QueryResult<()> {
    push_quoted(out, entry.table)?;
    out.push_sql(".");
    push_quoted(out, entry.tenant_column)
}

/// The tenant predicate of `entry`'s table, its column named `"<table>"."<column>"`.
fn push_entry_predicate(entry: &ScopeEntry, out: &mut AstPass<'_, '_, Pg>) -> QueryResult<()> {
    push_tenant_predicate(out, |out| push_entry_column(entry, out))
}

/// `<column> = $1 AND CASE WHEN <column> = ANY (ARRAY[$1]) THEN 1 END IS NOT NULL`: the
/// tenant predicate tenancy writes for a table, `$1` being the tenant every tenant statement
/// binds first ([`super::first_bind`]).
///
/// The equality alone filters every row, and it is what the planner needs: the index
/// condition, and a tenant fixed for the index order (`ORDER BY created_at LIMIT 20` on
/// `(tenant_id, created_at)`). But PostgreSQL orders the filters of a scan by their estimated
/// cost only, and adds an equality against a parameter after the statement's own filters, so
/// on a sequential scan a caller's function as cheap as `uuid_eq` (`set_config`, `to_date`,
/// `current_setting`) ran on every row of every tenant before it: its value or its error
/// showed another tenant's text, with row level security off. Row level security orders its
/// own filters first, a `WHERE` clause has no such means. The guard after the equality costs
/// half an operator (the planner charges a one-element `= ANY` half a comparison), less than
/// any function of the catalog, so it runs first in every scan filter; written as a null
/// test on a `CASE`, it is no index condition and the planner counts it as passing nearly
/// every row, so neither the plan nor its row estimates change.
pub(super) fn push_tenant_predicate<'b>(
    out: &mut AstPass<'_, 'b, Pg>,
    mut column: impl FnMut(&mut AstPass<'_, 'b, Pg>) -> QueryResult<()>,
) -> QueryResult<()> {
    let [open, close] = TENANT_GUARD;
    column(out)?;
    out.push_sql(TENANT_EQUALS);
    out.push_sql(open);
    column(out)?;
    out.push_sql(close);
    Ok(())
}

/// What a scoped statement shadows: every tenant-scoped table it names, found from the
/// `FROM` clause's type and from its rendered SQL (sub-queries, raw fragments), each once.
#[derive(Debug, Clone)]
pub struct ScopePlan {
    pub(super) tenant: Uuid,
    /// Tables shadowed by a common table expression.
    pub(super) ctes: Vec<ScopeEntry>,
    /// The tables of a `SELECT` that names them nowhere but in its `FROM` clause, filtered in
    /// the statement's own `WHERE` clause instead of through CTEs ([`OwnFilter`]).
    pub(super) filtered: Option<OwnFilter>,
    /// The table a single-table row lock is taken on (written as a derived table instead).
    pub(super) locked: Option<ScopeEntry>,
    /// The locked table's schema, when the statement also names the table elsewhere (a
    /// sub-query): then a CTE shadows those uses and the derived table names it qualified.
    pub(super) locked_schema: Option<Arc<str>>,
}

/// A `SELECT` from one table that carries its tenant predicate in its own `WHERE` clause:
/// `... FROM "posts" WHERE (<filter>) AND "posts"."tenant_id" = $1 ...`. The plan is the same
/// as through a shadowing CTE, but PostgreSQL plans it with less work: a CTE is copied,
/// inlined and pulled up again in every custom plan, which is every plan of a statement with
/// `LIMIT $n`, as Diesel writes every `.limit(..)`. Taken only where the SQL lexer confirms
/// that the predicate binds the whole filter ([`crate::sql_lexer::filter_holds`]) and that the
/// filter, if any, only compares columns with values
/// (`crate::sql_lexer::conditions_only_compare`), with no join and no `HAVING`: the predicate
/// then goes without its guard ([`push_tenant_predicate`]), as nothing of the caller's but a
/// comparison is evaluated on a row before the equality has passed it. A predicate that needs
/// its guard is written in a CTE instead, ahead of the caller's filter: here the caller's
/// filter is written first, and PostgreSQL keeps that order between filters of the same cost.
#[derive(Debug, Clone)]
pub(super) struct OwnFilter {
    /// The table filtered.
    pub(super) entry: ScopeEntry,
    /// Whether the statement has a `WHERE` clause of its own (then `AND` joins the predicates).
    pub(super) after_where: bool,
}

impl ScopePlan {
    /// A plan for `tenant` shadowing `tables` (no row lock).
    pub(crate) fn shadowing(tenant: Uuid, tables: Vec<ScopeEntry>) -> Self {
        Self {
            tenant,
            ctes: tables,
            filtered: None,
            locked: None,
            locked_schema: None,
        }
    }

    /// Writes the filtered table's tenant predicate after the statement's `WHERE` clause
    /// (`after_where`) or as its `WHERE` clause.
    pub(super) fn push_own_filter(
        filter: &OwnFilter,
        out: &mut AstPass<'_, '_, Pg>,
    ) -> QueryResult<()> {
        out.push_sql(if filter.after_where {
            " AND "
        } else {
            " WHERE "
        });
        push_entry_column(&filter.entry, out)?;
        out.push_sql(TENANT_EQUALS);
        Ok(())
    }

    pub(crate) fn push_prefix(&self, out: &mut AstPass<'_, '_, Pg>) -> QueryResult<()> {
        push_scope_prefix(&self.ctes, out)
    }

    /// The prefix's text: the shadowing CTEs, naming the tenant as `$1`.
    pub(crate) fn prefix_text(&self) -> QueryResult<String> {
        if self.ctes.is_empty() {
            return Ok(String::new());
        }
        super::named::render(&Prefix(self))
    }
}

/// A plan's prefix alone, to render it.
struct Prefix<'a>(&'a ScopePlan);

impl diesel::query_builder::QueryFragment<Pg> for Prefix<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.push_prefix(&mut out)
    }
}
