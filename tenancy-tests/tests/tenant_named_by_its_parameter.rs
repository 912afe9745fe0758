//! Raw fragments that write a tenant predicate, or the tenant of an insert row, of their own on
//! a value they bind (`$2`, another tenant's id), and take tenancy's out of the way: swallowed
//! by a literal that one fragment opens and a later one closes, or moved out of the `WHERE`
//! clause by a filter type of the application's own. Tenancy's checks find the statement's
//! shape as before, so they have to ask which parameter its predicates and rows name: the
//! tenant is always `$1`.
//!
//! Every case runs as the application's login with row level security on and off: with it
//! off, tenancy alone has to hold.

mod common;

use common::Rls;
use common::attacks::assert_b_untouched;
use common::schema::posts;
use diesel::QueryResult;
use diesel::dsl::sql;
use diesel::expression::{AppearsOnTable, Expression, ValidGrouping};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Bool, Int4, Text, Uuid as SqlUuid};
use tenancy_schema::{Error, SqlTextError};

type Post = (uuid::Uuid, i32, String, String, Option<i32>);

/// Two insert rows whose values read to the server as
/// `($1, 9100, 't', 's'), ($2, 1, 'planted', '), ($1, 0, t2, x$3' || 'y')`: the first row's
/// last value writes a row of its own for `$other`, and opens a string that the second row's
/// last value closes, around tenancy's `), ($1, ` of the second row. (A macro: the rows' type
/// is Diesel's nesting of the fragments.)
macro_rules! swallowing_rows {
    ($other:expr) => {{
        let other: uuid::Uuid = *$other.as_uuid();
        let row = |id: &str, title: &str, before: &str, after: &str| {
            (
                posts::id.eq(sql::<Int4>(id)),
                posts::title.eq(sql::<Text>(title)),
                posts::slug.eq(sql::<Text>(before).bind::<SqlUuid, _>(other).sql(after)),
            )
        };
        vec![
            row("9100", "'t'", "'s'), (", ", 1, 'planted', '"),
            row("0", "t2", "x", "' || 'y'"),
        ]
    }};
}

fn refused_as_restructured(r: Result<impl std::fmt::Debug, Error>, context: &str) {
    match r {
        Err(Error::UnsafeSql(SqlTextError::RestructuredWrite(_))) => {}
        other => panic!("{context}: expected UnsafeSql(RestructuredWrite), got {other:?}"),
    }
}

#[test]
fn an_insert_row_opens_with_the_tenant() {
    for rls in Rls::all() {
        let (a, b) = rls.two_tenants();
        let t = rls.tenancy(1);
        refused_as_restructured(
            t.transaction(a, |tx| {
                tx.insert_into(posts::table)
                    .values(swallowing_rows!(b))
                    .execute()
            }),
            &format!("{rls:?} insert"),
        );
        refused_as_restructured(
            t.transaction(a, |tx| tx.insert_batch(posts::table, swallowing_rows!(b))),
            &format!("{rls:?} insert_batch"),
        );
        // As an upsert the conflicting row would be the other tenant's post 1: returned, and
        // its title overwritten from the planted row.
        refused_as_restructured(
            t.transaction(a, |tx| {
                tx.insert_into(posts::table)
                    .values(swallowing_rows!(b))
                    .on_conflict(posts::id)
                    .do_update()
                    .set(posts::title.eq(diesel::upsert::excluded(posts::title)))
                    .get_results::<Post>()
            }),
            &format!("{rls:?} upsert"),
        );
        assert_b_untouched(rls, b, &format!("{rls:?} inserts"));
    }
}

/// The `SET` value writes `WHERE "posts"."tenant_id" = $2 AND (` and opens a dollar quote that
/// the filter closes, around tenancy's `WHERE "posts"."tenant_id" = $1 AND (`. The filter's
/// identifier after the quote is cut by the server at 63 bytes, as it is when the filter is
/// read alone, so the two read the same token for token but for the tenant's parameter.
#[test]
fn an_update_is_filtered_by_the_tenant() {
    let long = "x$a$".repeat(20);
    let filter = format!("'x' IN (SELECT 'l0' {long}) OR true");
    for rls in Rls::all() {
        let (a, b) = rls.two_tenants();
        let t = rls.tenancy(1);
        let value = |title: &str| {
            sql::<Text>(&format!("{title} WHERE \"posts\".\"tenant_id\" = "))
                .bind::<SqlUuid, _>(*b.as_uuid())
                .sql(" AND ('x' IN (SELECT $a$")
        };
        refused_as_restructured(
            t.transaction(a, |tx| {
                tx.update(posts::table)
                    .filter(sql::<Bool>(&filter))
                    .set(posts::title.eq(value("\"posts\".\"title\"")))
                    .get_results::<Post>()
            }),
            &format!("{rls:?} update returning"),
        );
        refused_as_restructured(
            t.transaction(a, |tx| {
                tx.update(posts::table)
                    .filter(sql::<Bool>(&filter))
                    .set(posts::title.eq(value("'overwritten'")))
                    .execute()
            }),
            &format!("{rls:?} update"),
        );
        assert_b_untouched(rls, b, &format!("{rls:?} update"));
    }
}

/// A filter of the application's own with a static query id, so that its statement may carry
/// the tenant predicate in its own `WHERE` clause: `(true) AND "posts"."tenant_id" = $n ORDER
/// BY 1 = 1`, binding another tenant. Tenancy's predicate would follow it as part of the
/// ordering expression (`ORDER BY 1 = 1 AND "posts"."tenant_id" = $1`).
#[derive(Debug, Clone, Copy)]
struct OrderedAway(uuid::Uuid);

impl Expression for OrderedAway {
    type SqlType = Bool;
}
impl<QS> AppearsOnTable<QS> for OrderedAway {}
impl ValidGrouping<()> for OrderedAway {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}
impl QueryId for OrderedAway {
    type QueryId = OrderedAway;
    const HAS_STATIC_QUERY_ID: bool = true;
}
impl QueryFragment<Pg> for OrderedAway {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("(true) AND \"posts\".\"tenant_id\" = ");
        out.push_bind_param::<SqlUuid, _>(&self.0)?;
        out.push_sql(" ORDER BY 1 = 1");
        Ok(())
    }
}

#[test]
fn a_read_filters_by_the_tenant_where_it_filters() {
    for rls in Rls::all() {
        let (a, b) = rls.two_tenants();
        let t = rls.tenancy(1);
        let titles: Vec<String> = t
            .transaction(a, |tx| {
                tx.load(
                    posts::table
                        .filter(OrderedAway(*b.as_uuid()))
                        .select(posts::title),
                )
            })
            .unwrap();
        // The tables are shadowed instead: the other tenant's id matches none of this
        // tenant's rows.
        assert!(titles.is_empty(), "{rls:?}: {titles:?}");
        let n = t
            .transaction(a, |tx| {
                tx.count(posts::table.filter(OrderedAway(*b.as_uuid())))
            })
            .unwrap();
        assert_eq!(n, 0, "{rls:?}");
        // The same filter on this tenant's own id reads its rows.
        let own: Vec<String> = t
            .transaction(a, |tx| {
                tx.load(
                    posts::table
                        .filter(OrderedAway(*a.as_uuid()))
                        .select(posts::title),
                )
            })
            .unwrap();
        assert!(!own.is_empty(), "{rls:?}");
        assert!(own.iter().all(|t| t.starts_with("a ")), "{rls:?}: {own:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_inserts_and_updates_name_the_tenant() {
    let long = "x$a$".repeat(20);
    let filter = format!("'x' IN (SELECT 'l0' {long}) OR true");
    for (rls, pipeline) in Rls::all_async() {
        let (a, b) = rls.two_tenants();
        let t = common::async_tenancy_with(rls, 1, pipeline).await;
        let run = format!("{rls:?}, pipelined: {pipeline}");
        let r = t
            .transaction(a, async |tx| {
                tx.insert_into(posts::table)
                    .values(swallowing_rows!(b))
                    .on_conflict(posts::id)
                    .do_update()
                    .set(posts::title.eq(diesel::upsert::excluded(posts::title)))
                    .get_results::<Post>()
                    .await
            })
            .await;
        refused_as_restructured(r, &format!("{run} upsert"));
        let r = t
            .transaction(a, async |tx| {
                tx.update(posts::table)
                    .filter(sql::<Bool>(&filter))
                    .set(
                        posts::title.eq(sql::<Text>(
                            "'overwritten' WHERE \"posts\".\"tenant_id\" = ",
                        )
                        .bind::<SqlUuid, _>(*b.as_uuid())
                        .sql(" AND ('x' IN (SELECT $a$")),
                    )
                    .execute()
                    .await
            })
            .await;
        refused_as_restructured(r, &format!("{run} update"));
        assert_b_untouched(rls, b, &run);
    }
}
