//! The attacks of `adversarial.rs`, through the async API (`tenancy-async`): sub-queries and
//! raw fragments naming another tenant's table, writes that copy another tenant's data or
//! reach outside their filter, row locks, the system connection, a replayed context, and
//! logins that could skip row level security.
//!
//! Every attack runs as the application's login on every fixture: with row level security on
//! (nothing of the other tenant is reachable) and on the twin database with it off on every
//! tenant table, where tenancy's own scoping has to stop it; each with the SQL and the native
//! context, and each with the opening of the transaction sent on its own and pipelined with
//! the first statement. Only raw `sql_query` statements are left to row level security.
#![allow(clippy::items_after_statements)] // reason: local row structs keep each test readable

mod common;

use common::attacks::{
    BREAKOUTS, CLOSING_THE_WRAPPER, HIDDEN_VIEWS, HIDING_THE_LOCKED_FROM, NOT_REACHING,
    NOT_ROUTINES, REACHING, REACHING_SETUP, READING_FUNCTIONS, ROUTINES, ROUTINES_SETUP,
    RUN_FROM_TEXT, SCHEMA_QUALIFIED, STEAL, STRINGS_READ_TWO_WAYS, UNDECLARED, UNDECLARED_VIEW,
    add_undeclared_tenant_table, assert_b_untouched, context_tagged_over_a_guessed_nonce,
    reaching_fragments, reaching_value, refused_as_hidden_view, refused_as_reaching,
    refused_as_reading_function, refused_as_routine, refused_as_run_from_text,
    refused_as_undeclared, replays_of, string_across_fragments, tenant_column_assignments,
    unsafe_sql, value_breakouts,
};
use common::schema::{categories, comments, posts};
use common::{Rls, assert_async_sessions_clean, async_tenancy_with, async_titles as titles};
use diesel::connection::SimpleConnection;
use diesel::dsl::{exists, sql};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use tenancy_async::AsyncTenancy;
use tenancy_schema::{Error, SqlTextError, TenantId};

#[derive(QueryableByName, Debug)]
struct Title {
    #[diesel(sql_type = Text)]
    title: String,
}

/// What tenancy refuses `fragment` with, used as a raw filter in an async tenant transaction.
async fn refused_in_filter(
    t: &AsyncTenancy,
    tenant: TenantId,
    fragment: &str,
    run: &str,
) -> SqlTextError {
    let r = t
        .transaction(tenant, async |tx| {
            tx.load::<_, String>(
                categories::table
                    .filter(sql::<Bool>(fragment))
                    .select(categories::name),
            )
            .await
        })
        .await;
    unsafe_sql(r, run)
}

/// What tenancy refuses `fragment` with, used as a raw filter on the async system connection.
async fn refused_on_system(t: &AsyncTenancy, fragment: &str, run: &str) -> SqlTextError {
    let r = t
        .system(async |sys| {
            sys.load::<_, String>(
                categories::table
                    .filter(sql::<Bool>(fragment))
                    .select(categories::name),
            )
            .await
        })
        .await;
    unsafe_sql(r, run)
}

/// The categories `fragment`, a raw filter in an async tenant transaction, lets through; it
/// must not be refused.
/// Asserts that `name` is refused as `expected` says wherever SQL text names it: in the
/// fragments of [`reaching_fragments`], in a filter and on the system connection, and in an
/// `UPDATE .. SET` value.
async fn refused_wherever_named(
    t: &AsyncTenancy,
    a: TenantId,
    name: &str,
    run: &str,
    expected: impl Fn(&SqlTextError) -> bool,
) {
    for fragment in reaching_fragments(name) {
        let err = refused_in_filter(t, a, &fragment, run).await;
        assert!(expected(&err), "{run} {fragment}: {err}");
        let err = refused_on_system(t, &fragment, run).await;
        assert!(expected(&err), "{run} system connection {fragment}: {err}");
    }
    let value = reaching_value(name);
    let r = t
        .transaction(a, async |tx| {
            tx.update(posts::table)
                .filter(posts::id.eq(1))
                .set(posts::title.eq(sql::<Text>(&value)))
                .execute()
                .await
        })
        .await;
    let err = unsafe_sql(r, run);
    assert!(expected(&err), "{run} update {value}: {err}");
}

async fn accepted_in_filter(t: &AsyncTenancy, tenant: TenantId, fragment: &str) -> Vec<String> {
    t.transaction(tenant, async |tx| {
        tx.load::<_, String>(
            categories::table
                .filter(sql::<Bool>(fragment))
                .select(categories::name),
        )
        .await
    })
    .await
    .unwrap()
}

/// Each fixture, named for the failure messages, with its tenants and an async tenancy.
async fn each_run(size: u32) -> Vec<(Rls, String, TenantId, TenantId, AsyncTenancy)> {
    let mut runs = Vec::new();
    for (rls, pipeline) in Rls::all_async() {
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, size, pipeline).await;
        runs.push((rls, format!("{rls:?}, pipelined: {pipeline}"), a, b, t));
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_queries_on_another_table_are_scoped_in_where_select_and_order() {
    for (rls, run, a, b, t) in each_run(1).await {
        let (names, n, pairs, raw, unquoted) = t
            .transaction(a, async |tx| {
                // WHERE ... IN (sub-query) on a table not in the outer FROM.
                let names: Vec<String> = tx
                    .load(
                        categories::table
                            .filter(
                                categories::id.eq_any(
                                    posts::table
                                        .select(posts::category_id.assume_not_null())
                                        .filter(posts::title.like("b%")),
                                ),
                            )
                            .select(categories::name),
                    )
                    .await?;
                // EXISTS (sub-query).
                let n = tx
                    .count(
                        posts::table
                            .filter(exists(comments::table.filter(comments::body.like("b%")))),
                    )
                    .await?;
                // A scalar sub-select in the select list.
                let pairs: Vec<(String, Option<String>)> = tx
                    .load(
                        posts::table.select((
                            posts::title,
                            comments::table
                                .select(comments::body)
                                .filter(comments::body.like("b%"))
                                .single_value(),
                        )),
                    )
                    .await?;
                // A raw fragment naming another tenant table, quoted and not.
                let raw: Vec<String> = tx
                    .load(
                        posts::table
                            .filter(sql::<Bool>(
                                "id IN (SELECT post_id FROM comments WHERE body LIKE 'b%')",
                            ))
                            .select(posts::title),
                    )
                    .await?;
                let unquoted: Vec<String> = tx
                    .load(
                        categories::table
                            .filter(sql::<Bool>(
                                "EXISTS (SELECT 1 FROM Posts WHERE title LIKE 'b%')",
                            ))
                            .select(categories::name),
                    )
                    .await?;
                Ok::<_, Error>((names, n, pairs, raw, unquoted))
            })
            .await
            .unwrap();
        assert!(names.is_empty(), "{run}: eq_any reached B: {names:?}");
        assert_eq!(n, 0, "{run}: EXISTS reached B");
        assert_eq!(pairs.len(), 2, "{run}: {pairs:?}");
        assert!(
            pairs.iter().all(|(_, c)| c.is_none()),
            "{run}: scalar sub-select reached B: {pairs:?}"
        );
        assert!(raw.is_empty(), "{run}: raw fragment reached B: {raw:?}");
        assert!(unquoted.is_empty(), "{run}: {unquoted:?}");
        assert_b_untouched(rls, b, &run);
        assert_async_sessions_clean(&t, &run).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_qualified_and_text_run_tenant_tables_are_refused_before_sending() {
    for (rls, run, a, b, t) in each_run(1).await {
        for fragment in SCHEMA_QUALIFIED {
            let e = refused_in_filter(&t, a, fragment, &run).await;
            assert!(
                matches!(e, SqlTextError::QualifiedTenantTable { .. }),
                "{run} {fragment}: {e}"
            );
        }
        for fragment in RUN_FROM_TEXT {
            let e = refused_in_filter(&t, a, fragment, &run).await;
            assert!(refused_as_run_from_text(&e), "{run} {fragment}: {e}");
        }
        for fragment in STRINGS_READ_TWO_WAYS {
            refused_in_filter(&t, a, fragment, &run).await;
        }
        // Refused before anything was sent: the connection is clean and A's rows are A's.
        assert_async_sessions_clean(&t, &run).await;
        assert_eq!(titles(&t, a).await, ["a one", "a two"], "{run}");
        assert_b_untouched(rls, b, &run);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_copy_nothing_from_another_tenant() {
    for (rls, run, a, b, t) in each_run(1).await {
        let hit = t
            .transaction(a, async |tx| {
                // UPDATE ... SET col = (sub-select of another tenant table).
                tx.update(posts::table)
                    .filter(posts::id.eq(1))
                    .set(posts::title.eq(sql::<Text>(STEAL)))
                    .execute()
                    .await?;
                // UPDATE whose filter is a sub-query on another table.
                let hit = tx
                    .update(posts::table)
                    .filter(
                        posts::id.eq_any(
                            comments::table
                                .select(comments::post_id)
                                .filter(comments::body.like("b%")),
                        ),
                    )
                    .set(posts::slug.eq("hit"))
                    .execute()
                    .await?;
                // INSERT ... VALUES ((sub-select)).
                tx.insert(
                    posts::table,
                    (
                        posts::id.eq(10),
                        posts::title.eq(sql::<Text>(STEAL)),
                        posts::slug.eq("copied"),
                    ),
                )
                .await?;
                // Upsert whose DO UPDATE SET reads another tenant table.
                tx.upsert(
                    posts::table,
                    (posts::id.eq(2), posts::title.eq("x"), posts::slug.eq("second")),
                    posts::id,
                    posts::title.eq(sql::<Text>(STEAL)),
                )
                .await?;
                // A sub-select of the written table itself, through an alias in raw SQL.
                tx.update(posts::table)
                    .filter(posts::id.eq(10))
                    .set(posts::slug.eq(sql::<Text>(
                        "coalesce((SELECT max(p.slug || p.title) FROM posts p WHERE p.title LIKE 'b%'), 'own')",
                    )))
                    .execute()
                    .await?;
                Ok::<_, Error>(hit)
            })
            .await
            .unwrap();
        assert_eq!(hit, 0, "{run}: the update filter reached B");
        let rows: Vec<(String, String)> = t
            .transaction(a, async |tx| {
                tx.load(
                    posts::table
                        .select((posts::title, posts::slug))
                        .order(posts::id),
                )
                .await
            })
            .await
            .unwrap();
        for (title, slug) in &rows {
            assert!(
                !title.starts_with("b ") && !slug.contains("b "),
                "{run}: another tenant's text was copied: {rows:?}"
            );
        }
        assert_eq!(rows.len(), 3, "{run}: {rows:?}");
        assert_eq!(rows[0].0, "nothing", "{run}");
        assert_eq!(rows[1].0, "nothing", "{run}");
        assert_eq!(rows[2], ("nothing".to_owned(), "own".to_owned()), "{run}");
        assert_b_untouched(rls, b, &run);
    }
}

/// Writes whose type fixes their SQL are checked once per type and process, and their
/// prepared statement is kept by type on each connection: every later statement of the type,
/// for whichever tenant, must be scoped exactly as the first. Each write reads another tenant
/// table in a typed sub-query and runs for tenant A, then B, then A again on one connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_writes_checked_once_stay_scoped_every_time() {
    use diesel::dsl::max;
    for (_, run, a, b, t) in each_run(1).await {
        for (round, (tenant, own, other)) in [
            (a, "a comment", "b%"),
            (b, "b comment", "a%"),
            (a, "a comment", "b%"),
        ]
        .into_iter()
        .enumerate()
        {
            let round = i32::try_from(round).unwrap();
            let (returned, hit) = t
                .transaction(tenant, async |tx| {
                    let newest = comments::table
                        .select(max(comments::body))
                        .single_value()
                        .assume_not_null();
                    tx.insert(
                        posts::table,
                        (
                            posts::id.eq(20 + 2 * round),
                            posts::title.eq(newest),
                            posts::slug.eq(format!("copy-{round}")),
                        ),
                    )
                    .await?;
                    let returned: (TenantId, i32, String, String, Option<i32>) = tx
                        .insert_into(posts::table)
                        .values((
                            posts::id.eq(21 + 2 * round),
                            posts::title.eq(newest),
                            posts::slug.eq(format!("copy-returned-{round}")),
                        ))
                        .get_result()
                        .await?;
                    // A delete whose filter is a sub-query on another tenant table.
                    let hit = tx
                        .delete(posts::table)
                        .filter(
                            posts::id.eq_any(
                                comments::table
                                    .select(comments::post_id)
                                    .filter(comments::body.like(other)),
                            ),
                        )
                        .execute()
                        .await?;
                    Ok::<_, Error>((returned, hit))
                })
                .await
                .unwrap();
            assert_eq!((returned.0, returned.2.as_str()), (tenant, own), "{run}");
            assert_eq!(hit, 0, "{run}: the delete filter reached another tenant");
        }
        for (tenant, own, expected) in [(a, "a comment", 4), (b, "b comment", 2)] {
            let copies: Vec<String> = t
                .transaction(tenant, async |tx| {
                    tx.load(
                        posts::table
                            .filter(posts::slug.like("copy-%"))
                            .select(posts::title),
                    )
                    .await
                })
                .await
                .unwrap();
            assert_eq!(copies.len(), expected, "{run}: {copies:?}");
            assert!(
                copies.iter().all(|title| title == own),
                "{run}: another tenant's text was copied: {copies:?}"
            );
        }
    }
}

/// As in the sync suite: a row lock's derived table cannot be hidden by the fragments around
/// it, and a statement cannot close the parentheses of `SELECT EXISTS (..)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_cannot_hide_a_row_lock_or_leave_exists() {
    for (_, run, a, _, t) in each_run(1).await {
        for &(select, filter) in HIDING_THE_LOCKED_FROM {
            let r = t
                .transaction(a, async |tx| {
                    tx.load::<_, String>(
                        posts::table
                            .select(sql::<Text>(select))
                            .filter(sql::<Bool>(filter))
                            .for_update(),
                    )
                    .await
                })
                .await;
            let e = unsafe_sql(r, &run);
            assert!(
                matches!(e, SqlTextError::ChangedAfterPlanning(_)),
                "{run} {select} … {filter}: {e}"
            );
        }
        for fragment in CLOSING_THE_WRAPPER {
            let r = t
                .transaction(a, async |tx| {
                    tx.exists(posts::table.filter(sql::<Bool>(fragment))).await
                })
                .await;
            let e = unsafe_sql(r, &run);
            assert!(
                matches!(e, SqlTextError::Unbalanced(_)),
                "{run} {fragment}: {e}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_filters_and_changesets_cannot_break_out() {
    for (rls, run, a, b, t) in each_run(1).await {
        for fragment in BREAKOUTS {
            let r = t
                .transaction(a, async |tx| {
                    tx.update(posts::table)
                        .filter(sql::<Bool>(fragment))
                        .set(posts::slug.eq("overwritten"))
                        .execute()
                        .await
                })
                .await;
            unsafe_sql(r, &run);
            let r = t
                .transaction(a, async |tx| {
                    tx.delete(comments::table)
                        .filter(sql::<Bool>(fragment))
                        .execute()
                        .await
                })
                .await;
            unsafe_sql(r, &run);
        }
        for value in tenant_column_assignments(b) {
            let r = t
                .transaction(a, async |tx| {
                    tx.update(posts::table)
                        .filter(posts::id.eq(1))
                        .set(posts::slug.eq(sql::<Text>(&value)))
                        .execute()
                        .await
                })
                .await;
            assert!(
                matches!(r, Err(Error::TenantColumnInChangeset { .. })),
                "{run} {value}: {r:?}"
            );
            let r = t
                .transaction(a, async |tx| {
                    tx.upsert(
                        posts::table,
                        (
                            posts::id.eq(1),
                            posts::title.eq("x"),
                            posts::slug.eq("first"),
                        ),
                        posts::id,
                        posts::slug.eq(sql::<Text>(&value)),
                    )
                    .await
                })
                .await;
            assert!(
                matches!(r, Err(Error::TenantColumnInChangeset { .. })),
                "{run} upsert {value}: {r:?}"
            );
        }
        // With `standard_conforming_strings` off, `'\''` is a whole string to the server but
        // not to a lexer that assumes the default: refused whatever the setting.
        let r = t
            .transaction(a, async |tx| {
                tx.execute(diesel::sql_query(
                    "SET LOCAL standard_conforming_strings = off",
                ))
                .await?;
                tx.update(posts::table)
                    .filter(sql::<Bool>(r"title = '\'' ) OR (true) -- '"))
                    .set(posts::slug.eq("overwritten"))
                    .execute()
                    .await
            })
            .await;
        assert!(
            matches!(
                r,
                Err(Error::UnsafeSql(SqlTextError::AmbiguousBackslash(_)))
            ),
            "{run}: {r:?}"
        );
        // Nothing was written anywhere.
        assert_eq!(titles(&t, a).await, ["a one", "a two"], "{run}");
        let slugs: Vec<String> = t
            .transaction(a, async |tx| {
                tx.load(posts::table.select(posts::slug).order(posts::id))
                    .await
            })
            .await
            .unwrap();
        assert_eq!(slugs, ["first", "second"], "{run}");
        assert_b_untouched(rls, b, &run);
        assert_async_sessions_clean(&t, &run).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_locks_scope_other_tables_and_second_references_to_the_locked_one() {
    // Both tenants have posts 1 and 2; only the other tenant's titles start with "b". An
    // unscoped sub-query would find ids 1 and 2 there and lock this tenant's rows.
    let other = diesel::alias!(posts as other);
    for (rls, run, a, b, t) in each_run(1).await {
        let (typed, raw, aliased, own) = t
            .transaction(a, async |tx| {
                let typed: Vec<i32> = tx
                    .load(
                        posts::table
                            .select(posts::id)
                            .filter(
                                posts::id.eq_any(
                                    comments::table
                                        .select(comments::post_id)
                                        .filter(comments::body.like("b%")),
                                ),
                            )
                            .for_update(),
                    )
                    .await?;
                // The locked table again, in a raw sub-query and through a typed alias.
                let raw: Vec<i32> = tx
                    .load(
                        posts::table
                            .select(posts::id)
                            .filter(sql::<Bool>(
                                "id IN (SELECT id FROM posts WHERE title LIKE 'b%')",
                            ))
                            .for_update(),
                    )
                    .await?;
                let aliased: Vec<i32> = tx
                    .load(
                        posts::table
                            .select(posts::id)
                            .filter(
                                posts::id.eq_any(
                                    other
                                        .select(other.field(posts::id))
                                        .filter(other.field(posts::title).like("b%")),
                                ),
                            )
                            .for_update(),
                    )
                    .await?;
                // The lock still holds the tenant's own rows, and only them.
                let own: Vec<i32> = tx
                    .load(
                        posts::table
                            .select(posts::id)
                            .filter(
                                posts::id.eq_any(
                                    other
                                        .select(other.field(posts::id))
                                        .filter(other.field(posts::title).like("a%")),
                                ),
                            )
                            .order(posts::id)
                            .for_update(),
                    )
                    .await?;
                Ok::<_, Error>((typed, raw, aliased, own))
            })
            .await
            .unwrap();
        assert!(typed.is_empty(), "{run}: {typed:?}");
        assert!(raw.is_empty(), "{run}: {raw:?}");
        assert!(aliased.is_empty(), "{run}: {aliased:?}");
        assert_eq!(own, [1, 2], "{run}");
        assert_b_untouched(rls, b, &run);
    }
}

/// Views, materialized views, partitions, inheritance children and parents of a tenant table,
/// and functions whose body reads one, found when the tenancy is built, are refused in
/// filters, values and on the system connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_partitions_and_functions_that_reach_tenant_rows_are_refused() {
    for (rls, pipeline) in Rls::all_async() {
        let run = format!("{rls:?}, pipelined: {pipeline}");
        let (a, b) = rls.two_tenants();
        rls.owner().batch_execute(REACHING_SETUP).unwrap();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        for &(name, table, kind) in REACHING {
            refused_wherever_named(&t, a, name, &run, |err| {
                refused_as_reaching(err, (name, table, kind))
            })
            .await;
        }
        for &(fragment, function, table) in READING_FUNCTIONS {
            let err = refused_in_filter(&t, a, fragment, &run).await;
            assert!(
                refused_as_reading_function(&err, function, table),
                "{run} {fragment}: {err}"
            );
        }
        for &(name, via) in HIDDEN_VIEWS {
            for fragment in reaching_fragments(name) {
                let err = refused_in_filter(&t, a, &fragment, &run).await;
                assert!(
                    refused_as_hidden_view(&err, (name, via)),
                    "{run} {fragment}: {err}"
                );
                let err = refused_on_system(&t, &fragment, &run).await;
                assert!(
                    refused_as_hidden_view(&err, (name, via)),
                    "{run} system connection {fragment}: {err}"
                );
            }
        }
        // A view of a global table, another child of the table comments inherit from, a
        // function that reads no table and one reviewed are not refused.
        let names = accepted_in_filter(&t, a, NOT_REACHING).await;
        assert!(!names.is_empty(), "{run}");
        // Refused before anything was sent: the connection is clean and A's rows are A's.
        assert_async_sessions_clean(&t, &run).await;
        assert_eq!(titles(&t, a).await, ["a one", "a two"], "{run}");
        assert_b_untouched(rls, b, &run);
    }
}

/// The async twin of the synchronous suite's test of the same name: a tenant table of the
/// database that the program does not declare, and a view of it, are refused in fragments,
/// values and raw SQL on the system connection; a raw statement in a tenant transaction reads
/// only the tenant's row where row level security is on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_tables_the_program_does_not_declare_are_refused() {
    #[derive(QueryableByName, Debug)]
    struct Body {
        #[diesel(sql_type = Text)]
        body: String,
    }
    for (rls, pipeline) in Rls::all_async() {
        let run = format!("{rls:?}, pipelined: {pipeline}");
        let (a, b) = rls.two_tenants();
        add_undeclared_tenant_table(rls, (a, b));
        let t = async_tenancy_with(rls, 1, pipeline).await;
        refused_wherever_named(&t, a, UNDECLARED, &run, refused_as_undeclared).await;
        refused_wherever_named(&t, a, UNDECLARED_VIEW, &run, |err| {
            refused_as_reaching(err, (UNDECLARED_VIEW, UNDECLARED, "view"))
        })
        .await;
        let raw = format!("UPDATE {UNDECLARED} SET body = 'taken' RETURNING body");
        let r = t
            .system(async |sys| sys.load_sql::<_, Body>(diesel::sql_query(&raw)).await)
            .await;
        let err = unsafe_sql(r, &run);
        assert!(refused_as_undeclared(&err), "{run} system {raw}: {err}");
        if rls.enforced() {
            let bodies = t
                .transaction(a, async |tx| {
                    tx.load_sql::<_, Body>(diesel::sql_query(format!(
                        "SELECT body FROM {UNDECLARED} ORDER BY body"
                    )))
                    .await
                })
                .await
                .unwrap();
            let bodies: Vec<String> = bodies.into_iter().map(|r| r.body).collect();
            assert_eq!(bodies, ["a secret"], "{run}");
        }
        assert_async_sessions_clean(&t, &run).await;
        assert_b_untouched(rls, b, &run);
    }
}

/// The async twin of the synchronous suite's test of the same name: routines that read
/// tenant rows where no tenant table's name shows are refused through the async API too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routines_that_read_tenant_rows_without_naming_them_are_refused() {
    for (rls, pipeline) in Rls::all_async() {
        let run = format!("{rls:?}, pipelined: {pipeline}");
        let (a, b) = rls.two_tenants();
        let mut owner = rls.owner();
        owner.batch_execute(REACHING_SETUP).unwrap();
        owner.batch_execute(ROUTINES_SETUP).unwrap();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        for &(fragment, routine) in ROUTINES {
            let err = refused_in_filter(&t, a, fragment, &run).await;
            assert!(refused_as_routine(&err, routine), "{run} {fragment}: {err}");
            let err = refused_on_system(&t, fragment, &run).await;
            assert!(
                refused_as_routine(&err, routine),
                "{run} system connection {fragment}: {err}"
            );
        }
        let names = accepted_in_filter(&t, a, NOT_ROUTINES).await;
        assert!(!names.is_empty(), "{run}");
        assert_async_sessions_clean(&t, &run).await;
        assert_b_untouched(rls, b, &run);
    }
}

/// The async twin of the synchronous suite's test of the same name: values that leave their
/// row or assignment are refused before anything is sent, pipelined or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_cannot_leave_their_row_or_assignment() {
    type PostRow = (TenantId, i32, String, String, Option<i32>);
    for (rls, run, a, b, t) in each_run(1).await {
        for value in value_breakouts(b) {
            let r = t
                .transaction(a, async |tx| {
                    tx.insert_into(posts::table)
                        .values((
                            posts::id.eq(50),
                            posts::slug.eq("s50"),
                            posts::title.eq(sql::<Text>(&value)),
                        ))
                        .get_results::<PostRow>()
                        .await
                })
                .await;
            let e = unsafe_sql(r, &format!("{run} insert {value}"));
            assert!(
                matches!(e, SqlTextError::RestructuredWrite(_)),
                "{run} {value}: {e}"
            );
        }
        let (value, filter) = string_across_fragments(b);
        let r = t
            .transaction(a, async |tx| {
                tx.update(posts::table)
                    .filter(sql::<Bool>(filter))
                    .set(posts::title.eq(sql::<Text>(&value)))
                    .execute()
                    .await
            })
            .await;
        unsafe_sql(r, &format!("{run} update {value} / {filter}"));
        for value in ["'x' WHERE true OR true", "'x' RETURNING (SELECT 1), (1"] {
            let r = t
                .transaction(a, async |tx| {
                    tx.update(posts::table)
                        .filter(posts::id.eq(1))
                        .set(posts::title.eq(sql::<Text>(value)))
                        .execute()
                        .await
                })
                .await;
            let e = unsafe_sql(r, &format!("{run} update {value}"));
            assert!(
                matches!(e, SqlTextError::RestructuredWrite(_)),
                "{run} {value}: {e}"
            );
        }
        t.transaction(a, async |tx| {
            tx.insert(
                posts::table,
                (
                    posts::id.eq(52),
                    posts::slug.eq("s52"),
                    posts::title.eq(sql::<Text>("lower('A (three)')")),
                ),
            )
            .await?;
            tx.update(posts::table)
                .filter(sql::<Bool>("id = 52"))
                .set(posts::title.eq(sql::<Text>("upper('a three')")))
                .execute()
                .await?;
            tx.delete(posts::table)
                .filter(posts::id.eq(52))
                .execute()
                .await
        })
        .await
        .unwrap();
        assert_async_sessions_clean(&t, &run).await;
        assert_eq!(titles(&t, a).await, ["a one", "a two"], "{run}");
        assert_b_untouched(rls, b, &run);
    }
}

/// The statements the driver prepares for tenant transactions take the tenant as `$1`: the
/// system connection running one by name read and rewrote B's rows where row level security
/// is off. Refused before sending; with the extension, by the server in a tenant transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drivers_prepared_statements_cannot_be_run_by_name() {
    for (rls, run, a, b, t) in each_run(1).await {
        t.transaction(b, async |tx| {
            tx.load::<_, String>(posts::table.filter(posts::id.gt(0)).select(posts::title))
                .await
        })
        .await
        .unwrap();
        let bu = b.as_uuid();
        for n in 0..4 {
            for sql in [
                format!("EXECUTE s{n}('{bu}', 0)"),
                format!("EXECUTE __diesel_stmt_{n}('{bu}', 0)"),
                format!("explain analyze execute s{n}('{bu}', 0)"),
            ] {
                let r = t
                    .system(async |sys| sys.load_sql::<_, Title>(diesel::sql_query(&sql)).await)
                    .await;
                assert!(
                    matches!(r, Err(Error::UnsafeSql(SqlTextError::ExecutePrepared))),
                    "{run} {sql}: {r:?}"
                );
            }
        }
        if rls.native() {
            let sql = format!("EXECUTE s0('{bu}', 0)");
            let r = t
                .transaction(a, async |tx| {
                    tx.load_sql::<_, Title>(diesel::sql_query(&sql)).await
                })
                .await;
            let e = format!("{r:?}");
            assert!(
                e.contains("EXECUTE of a prepared statement is not allowed"),
                "{run}: {e}"
            );
        }
        assert_b_untouched(rls, b, &run);
    }
}

/// `MERGE` counted every tenant's rows with row level security on (its conditions run on every
/// row of its target, and the policies of its actions are checks, not filters). Refused before
/// sending, written out in a `DO` block too; with the extension, by the server however it is
/// built.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_counts_no_other_tenants_rows() {
    const COUNT: &str = "MERGE INTO posts USING (SELECT 1) s ON true \
        WHEN MATCHED AND set_config('x.n', (current_setting('x.n')::int + 1)::text, true) IS NULL \
        THEN DELETE";
    for (rls, run, a, b, t) in each_run(1).await {
        for sql in [COUNT.to_owned(), format!("DO $$ BEGIN {COUNT}; END $$")] {
            let r = counted(&t, a, &sql).await;
            assert!(
                matches!(r, Err(Error::UnsafeSql(SqlTextError::Merge(_)))),
                "{run} {sql}: {r:?}"
            );
        }
        if rls.native() && rls.enforced() {
            let hidden = format!(
                "DO $$ BEGIN EXECUTE 'MER' || '{}'; END $$",
                COUNT[3..].replace('\'', "''")
            );
            let e = format!("{:?}", counted(&t, a, &hidden).await);
            assert!(e.contains("MERGE into \\\"posts\\\""), "{run}: {e}");
        }
        assert_b_untouched(rls, b, &run);
    }
}

/// Runs `sql` in a transaction of `tenant`, behind the counter it may raise (`x.n`).
async fn counted(t: &AsyncTenancy, tenant: TenantId, sql: &str) -> Result<usize, Error> {
    t.transaction(tenant, async |tx| {
        tx.execute(diesel::sql_query("SELECT set_config('x.n', '0', true)"))
            .await?;
        tx.execute(diesel::sql_query(sql)).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_connection_refuses_tenant_tables_anywhere_in_a_statement() {
    for (_, run, _, _, t) in each_run(1).await {
        let r = t
            .system(async |sys| {
                sys.execute(
                    diesel::insert_into(categories::table)
                        .values(posts::table.select((posts::id + 1000, posts::title)))
                        .into_columns((categories::id, categories::name)),
                )
                .await
            })
            .await;
        let e = unsafe_sql(r, &run);
        assert!(
            matches!(&e, SqlTextError::TenantTableOnSystemConnection(table) if table == "posts"),
            "{run}: {e}"
        );
        // The second hides the table behind what ends a line comment for the server.
        for fragment in [
            "id IN (SELECT category_id FROM posts)",
            "id IN (SELECT 1 -- x\rUNION SELECT category_id FROM posts)",
            "EXISTS (SELECT 1 FROM public.comments)",
        ] {
            let e = refused_on_system(&t, fragment, &run).await;
            assert!(
                matches!(
                    e,
                    SqlTextError::TenantTableOnSystemConnection(_)
                        | SqlTextError::QualifiedTenantTable { .. }
                ),
                "{run} {fragment}: {e}"
            );
        }
        // Raw SQL too: with row level security off it read and wrote every tenant's rows.
        for sql in [
            "SELECT string_agg(title, ',') AS title FROM posts",
            "UPDATE posts SET slug = slug RETURNING title",
            "SELECT name AS title FROM categories WHERE id IN (SELECT post_id FROM public.comments)",
            // Code in a string, which no lexer reads.
            "DO $$BEGIN RAISE EXCEPTION '%', (SELECT string_agg(title, ',') FROM posts); END$$",
            "DO LANGUAGE plpgsql 'BEGIN UPDATE posts SET title = title || ''!''; END'",
        ] {
            let r = t
                .system(async |sys| sys.load_sql::<_, Title>(diesel::sql_query(sql)).await)
                .await;
            assert!(
                matches!(
                    &r,
                    Err(Error::UnsafeSql(
                        SqlTextError::TenantTableOnSystemConnection(_)
                            | SqlTextError::QualifiedTenantTable { .. }
                            | SqlTextError::DynamicSql(_)
                    ))
                ),
                "{run} {sql}: {:?}",
                r.map(|rows| rows.len())
            );
        }
    }
}

/// The async twin of the synchronous suite's test of the same name: a session SQL opens
/// itself gives it no nonce to tag a context for another tenant with, pipelined or not, and
/// the pool's next transaction is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_opened_by_sql_gives_no_nonce_to_forge_a_context_with() {
    for (rls, pipeline) in Rls::all_async()
        .into_iter()
        .filter(|(rls, _)| rls.enforced())
    {
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        let forge = context_tagged_over_a_guessed_nonce(b);
        for own_transaction in [false, true] {
            let run = format!("{rls:?}, pipelined: {pipeline}, own transaction: {own_transaction}");
            let r = t
                .transaction(a, async |tx| {
                    // Raw SQL may not leave the library's transaction: refused, and the
                    // attack goes on inside it.
                    if own_transaction {
                        let ended = tx.execute(diesel::sql_query("COMMIT")).await;
                        assert!(common::ended_refused(&ended), "{run}: {ended:?}");
                    }
                    tx.execute(diesel::sql_query("SELECT tenancy.open_session()"))
                        .await?;
                    if own_transaction {
                        let begun = tx.execute(diesel::sql_query("BEGIN")).await;
                        assert!(common::ended_refused(&begun), "{run}: {begun:?}");
                    }
                    tx.execute(diesel::sql_query(&forge)).await?;
                    let rows = tx
                        .load_sql::<_, Title>(diesel::sql_query(
                            "SELECT title FROM posts ORDER BY id",
                        ))
                        .await?;
                    let changed = tx
                        .execute(diesel::sql_query(
                            "UPDATE posts SET title = title || ' (forged)' WHERE title LIKE 'b%'",
                        ))
                        .await?;
                    Ok::<_, Error>((
                        rows.into_iter().map(|r| r.title).collect::<Vec<_>>(),
                        changed,
                    ))
                })
                .await;
            assert!(
                match &r {
                    Ok((seen, changed)) =>
                        *changed == 0 && !seen.iter().any(|title| title.starts_with("b ")),
                    Err(_) => true,
                },
                "{run}: {r:?}"
            );
            assert_b_untouched(rls, b, &run);
        }
        assert_async_sessions_clean(&t, &format!("{rls:?}, pipelined: {pipeline}")).await;
        assert_eq!(
            titles(&t, a).await,
            ["a one", "a two"],
            "{rls:?}, pipelined: {pipeline}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observed_context_cannot_be_replayed() {
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        value: String,
    }
    for pipeline in [false, true] {
        let (a, b) = Rls::On.two_tenants();
        let t = async_tenancy_with(Rls::On, 1, pipeline).await;
        // What SQL inside B's transaction can observe of its context.
        let seen: Vec<Setting> = t
            .transaction(b, async |tx| {
                tx.load_sql(diesel::sql_query(
                    "SELECT current_setting('tenancy.context') AS value",
                ))
                .await
            })
            .await
            .unwrap();
        let seen = &seen[0].value;
        // Replayed in A's transaction, on the same pooled connection.
        let r = t
            .transaction(a, async |tx| {
                tx.execute(diesel::sql_query(format!(
                    "SELECT set_config('tenancy.context', '{seen}', true)"
                )))
                .await?;
                tx.load_sql::<_, Title>(diesel::sql_query("SELECT title FROM posts"))
                    .await
            })
            .await;
        assert!(
            r.as_ref()
                .is_err_and(|e| e.to_string().contains("tenant context was changed")),
            "pipelined: {pipeline}: {r:?}"
        );
        assert_async_sessions_clean(&t, &format!("pipelined: {pipeline}")).await;
    }
}

/// The async builder refuses the logins the synchronous one refuses: a superuser, the
/// application's login as the admin login, the BYPASSRLS role as the application role, and a
/// login that can become it through a chain of memberships.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_that_could_skip_row_level_security_are_refused() {
    use diesel::connection::SimpleConnection;

    struct Roles;
    impl Drop for Roles {
        fn drop(&mut self) {
            let _ = common::owner().batch_execute(
                "DROP ROLE IF EXISTS async_adv_chain_login; DROP ROLE IF EXISTS async_adv_chain_group",
            );
        }
    }
    let f = common::fixture();
    let _roles = Roles;
    common::owner()
        .batch_execute(
            "CREATE ROLE async_adv_chain_group NOLOGIN;
             GRANT tenancy_admin TO async_adv_chain_group;
             CREATE ROLE async_adv_chain_login LOGIN INHERIT PASSWORD 'p';
             GRANT tenancy_app, async_adv_chain_group TO async_adv_chain_login;",
        )
        .unwrap();
    let admin_url =
        f.db.create_admin_login("tenancy_test_admin", "test-admin-password")
            .unwrap();
    let build = async |url: &str, admin: &str, app_role: &str| {
        AsyncTenancy::builder(url)
            .admin_url(admin)
            .max_size(1)
            .config(tenancy_schema::TenancyConfig::default().app_role(app_role.parse().unwrap()))
            .build()
            .await
    };
    let chain_url = f.db.url_for("async_adv_chain_login", "p");
    for (what, r) in [
        (
            "a superuser",
            build(f.db.url(), &admin_url, "tenancy_app").await,
        ),
        (
            "a chain to the BYPASSRLS role",
            build(&chain_url, &admin_url, "tenancy_app").await,
        ),
        (
            "the BYPASSRLS role as the application role",
            build(&f.login_url, &admin_url, "tenancy_admin").await,
        ),
        (
            "the application's login as the admin login",
            build(&f.login_url, &f.login_url, "tenancy_app").await,
        ),
    ] {
        assert!(
            matches!(r, Err(Error::UnsafeRole { .. })),
            "{what}: {:?}",
            r.map(|_| ())
        );
    }
    // Without an admin login the admin path is refused, never served by the tenant pool.
    #[derive(QueryableByName)]
    struct Key {
        #[diesel(sql_type = Text)]
        key: String,
    }
    let key: Key = diesel::sql_query("SELECT encode(key, 'hex') AS key FROM tenancy.context_key")
        .get_result(&mut common::owner())
        .unwrap();
    let t = AsyncTenancy::builder(&f.login_url)
        .context_key(tenancy_schema::ContextKey::from_hex(&key.key).unwrap())
        .max_size(1)
        .config(tenancy_foundation::config())
        .build()
        .await
        .unwrap();
    let (a, _) = common::two_tenants();
    assert_eq!(titles(&t, a).await, ["a one", "a two"]);
    let r: Result<(), Error> = t.admin("test: no admin login", async |_| Ok(())).await;
    assert!(matches!(r, Err(Error::AdminNotConfigured)), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_sql_with_binds_runs_and_is_left_to_row_level_security() {
    for (rls, run, a, _, t) in each_run(1).await {
        let rows: Vec<Title> = t
            .transaction(a, async |tx| {
                tx.load_sql(
                    diesel::sql_query("SELECT title FROM posts WHERE slug = $1")
                        .bind::<Text, _>("first"),
                )
                .await
            })
            .await
            .unwrap();
        let got: Vec<&str> = rows.iter().map(|r| r.title.as_str()).collect();
        if rls.enforced() {
            assert_eq!(got, ["a one"], "{run}");
        } else {
            // Raw SQL is row level security's alone: without it other tenants' rows match.
            assert!(
                got.contains(&"a one") && got.iter().any(|t| t.starts_with("b ")),
                "{run}: {got:?}"
            );
        }
    }
}

/// An opening one pooled session shows in `pg_stat_activity`, replayed by raw SQL in another
/// session's transaction for another tenant: refused in every form, as with the synchronous
/// API, whether the openings go out on their own or pipelined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opening_seen_in_another_session_cannot_be_replayed() {
    #[derive(QueryableByName)]
    struct Activity {
        #[diesel(sql_type = Text)]
        query: String,
    }
    for (rls, pipeline) in Rls::all_async() {
        if !rls.enforced() {
            continue;
        }
        let run = format!("{rls:?}, pipelined: {pipeline}");
        let (a, b) = rls.two_tenants();
        let name = format!("tenancy_async_replay_{}", rls.native());
        let t =
            std::sync::Arc::new(common::async_tenancy_named(rls, 2, pipeline, Some(&name)).await);
        // Both connections opened once, so that B's opening below is a later one (on the
        // native context, the BEGIN carrying the entry): two transactions held at once.
        let both = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let (warm, warm_both) = (t.clone(), both.clone());
        let first = tokio::spawn(async move {
            warm.transaction(a, async |tx| {
                tx.load::<_, String>(posts::table.select(posts::title))
                    .await?;
                warm_both.wait().await;
                Ok::<_, Error>(())
            })
            .await
        });
        t.transaction(a, async |tx| {
            tx.load::<_, String>(posts::table.select(posts::title))
                .await?;
            both.wait().await;
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
        first.await.unwrap().unwrap();
        let (opened, observed) = tokio::sync::oneshot::channel::<()>();
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let holder = t.clone();
        let held = tokio::spawn(async move {
            holder
                .transaction(b, async |tx| {
                    // A pipelined opening goes out with the first statement only.
                    if pipeline {
                        tx.load_sql::<_, Title>(diesel::sql_query("SELECT title FROM posts"))
                            .await?;
                    }
                    opened.send(()).unwrap();
                    finished.await.unwrap();
                    Ok::<_, Error>(())
                })
                .await
        });
        observed.await.unwrap();
        let owner_name = name.clone();
        let seen: Vec<Activity> = tokio::task::spawn_blocking(move || {
            diesel::sql_query(
                "SELECT query FROM pg_stat_activity \
                 WHERE application_name = $1 AND state = 'idle in transaction'",
            )
            .bind::<Text, _>(owner_name)
            .load(&mut rls.owner())
            .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(seen.len(), 1, "{run}");
        // What B's session showed last: its opening, or (pipelined) the statement sent behind
        // it, which carries nothing to replay (the pipelined entry is a bound parameter, which
        // pg_stat_activity does not show).
        let query = &seen[0].query;
        let attempts = replays_of(query);
        assert!(pipeline || !attempts.is_empty(), "{run}: {query}");
        for attempt in &attempts {
            let r = t
                .transaction(a, async |tx| {
                    tx.execute(diesel::sql_query(attempt)).await?;
                    tx.load_sql::<_, Title>(diesel::sql_query("SELECT title FROM posts"))
                        .await
                })
                .await;
            assert!(r.is_err(), "{run} {attempt}: replayed: {r:?}");
        }
        done.send(()).unwrap();
        held.await.unwrap().unwrap();
        assert_eq!(titles(&t, a).await, ["a one", "a two"], "{run}");
        assert_async_sessions_clean(&t, &run).await;
    }
}

/// Typed Diesel statements with a raw `sql::<Untyped>(..)` select list or `RETURNING` clause
/// are not raw SQL: the async methods for raw SQL refuse them before they are sent, as the
/// synchronous ones do (`adversarial.rs`, `typed_statements_are_not_raw_sql`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_statements_are_not_raw_sql() {
    let untyped = || sql::<diesel::sql_types::Untyped>("title");
    for (rls, run, a, b, t) in each_run(1).await {
        let read = t
            .transaction(a, async |tx| {
                tx.load_sql::<_, Title>(posts::table.select(untyped()))
                    .await
            })
            .await;
        let system = t
            .system(async |sys| {
                sys.load_sql::<_, Title>(posts::table.select(untyped()))
                    .await
            })
            .await;
        let update = t
            .transaction(a, async |tx| {
                tx.execute(
                    diesel::update(posts::table)
                        .set(posts::title.eq("changed by a"))
                        .returning(untyped()),
                )
                .await
            })
            .await;
        let delete = t
            .transaction(a, async |tx| {
                tx.execute(diesel::delete(posts::table).returning(untyped()))
                    .await
            })
            .await;
        for (what, e) in [
            ("read", unsafe_sql(read, &run)),
            ("system", unsafe_sql(system, &run)),
            ("update", unsafe_sql(update, &run)),
            ("delete", unsafe_sql(delete, &run)),
        ] {
            assert!(matches!(e, SqlTextError::NotRawSql(_)), "{run} {what}: {e}");
        }
        assert_b_untouched(rls, b, &run);
        assert_async_sessions_clean(&t, &run).await;
    }
}

/// The async twin of `adversarial.rs`'s test of the same name: an `ARRAY[..]` constructor over
/// a row's values fails on some rows ahead of every predicate, so it is refused before it is
/// sent, pipelined or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn array_constructors_over_a_rows_values_are_refused() {
    use diesel::dsl::{array, case_when};
    use diesel::sql_types::{Array, Integer};
    let fails_when_null = || {
        array::<Array<Integer>, _>((
            array::<Integer, _>((1,)),
            case_when(posts::category_id.is_null(), array::<Integer, _>((1, 2)))
                .otherwise(array::<Integer, _>((3,))),
        ))
        .is_not_null()
    };
    for (_rls, run, a, _b, t) in each_run(2).await {
        let r = t
            .transaction(a, async |tx| {
                tx.load::<_, i32>(posts::table.filter(fails_when_null()).select(posts::id))
                    .await
            })
            .await;
        assert!(
            matches!(unsafe_sql(r, &run), SqlTextError::RowValuesInArray(_)),
            "{run}"
        );
        let r = t
            .transaction(a, async |tx| {
                tx.delete(posts::table)
                    .filter(fails_when_null())
                    .execute()
                    .await
            })
            .await;
        assert!(
            matches!(unsafe_sql(r, &run), SqlTextError::RowValuesInArray(_)),
            "{run}"
        );
        assert_async_sessions_clean(&t, &run).await;
    }
}

/// A `LIKE` pattern that ends with its escape character, which PostgreSQL fails only on rows
/// matching it up to that character (another tenant's, on an index recheck or in the
/// planner's estimate), is refused before it is sent, pipelined or not; one PostgreSQL accepts
/// goes out and finds the tenant's own rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn like_patterns_that_end_with_their_escape_are_refused() {
    for (_rls, run, a, _b, t) in each_run(2).await {
        let r = t
            .transaction(a, async |tx| {
                tx.load::<_, String>(
                    posts::table
                        .filter(posts::title.like("%two\\"))
                        .select(posts::title),
                )
                .await
            })
            .await;
        assert!(
            matches!(unsafe_sql(r, &run), SqlTextError::LikePatternEndsWithEscape),
            "{run}"
        );
        let r = t
            .transaction(a, async |tx| {
                tx.update(posts::table)
                    .filter(posts::title.ilike("%two!").escape('!'))
                    .set(posts::slug.eq("x"))
                    .execute()
                    .await
            })
            .await;
        assert!(
            matches!(unsafe_sql(r, &run), SqlTextError::LikePatternEndsWithEscape),
            "{run}"
        );
        let own = t
            .transaction(a, async |tx| {
                tx.load::<_, String>(
                    posts::table
                        .filter(posts::title.like("%one\\\\").or(posts::title.like("%one")))
                        .select(posts::title),
                )
                .await
            })
            .await
            .unwrap_or_else(|e| panic!("{run}: {e}"));
        assert_eq!(own, ["a one"], "{run}");
        assert_async_sessions_clean(&t, &run).await;
    }
}
