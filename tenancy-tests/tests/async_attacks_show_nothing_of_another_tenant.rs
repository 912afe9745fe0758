//! Attacks of `attacks_show_nothing_of_another_tenant.rs` through the async API, with the
//! opening sent on its own and pipelined with the first statement, row level security on and
//! off. Each is refused before sending or returns the own tenant's rows only.

mod common;

use common::schema::{categories, comments, posts};
use common::{Rls, async_tenancy_with};
use diesel::dsl::{exists, sql};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text};
use tenancy_schema::Error;

/// Whether `text` shows anything of tenant B.
fn shows_b(text: &str) -> bool {
    text.contains("b one") || text.contains("b two") || text.contains("b comment")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_selects_locks_and_writes_show_nothing_of_b() {
    let mut leaks = Vec::new();
    for (rls, pipeline) in Rls::all_async() {
        let (tenant_a, tenant_b) = rls.two_tenants();
        let tenancy = async_tenancy_with(rls, 1, pipeline).await;
        for select in [
            "(SELECT string_agg(title, ',') FROM posts)",
            "(SELECT string_agg(x::text, ',') FROM (TABLE posts) x)",
            "(WITH posts AS (SELECT * FROM posts) SELECT string_agg(title, ',') FROM posts)",
            "(SELECT string_agg(body, ',') FROM \"comments\")",
        ] {
            let outcome = tenancy
                .transaction(tenant_a, async |tx| {
                    tx.load::<_, Option<String>>(
                        categories::table.select(sql::<Nullable<Text>>(select)),
                    )
                    .await
                })
                .await
                .map(|v| format!("{v:?}"))
                .map_err(|e: Error| e.to_string());
            eprintln!("{rls:?} pipeline {pipeline} select {select}: {outcome:?}");
            if matches!(&outcome, Ok(s) if shows_b(s)) {
                leaks.push(select.to_owned());
            }
        }
        let outcome = tenancy
            .transaction(tenant_a, async |tx| {
                let locked = tx
                    .load::<_, String>(
                        posts::table
                            .select(sql::<Text>(
                                "coalesce((SELECT string_agg(p.title, ',') FROM posts p), '')",
                            ))
                            .filter(sql::<Bool>("true"))
                            .for_update(),
                    )
                    .await?;
                let n = tx
                    .count(
                        posts::table
                            .filter(exists(comments::table.filter(comments::body.like("b%")))),
                    )
                    .await?;
                tx.update(posts::table)
                    .filter(posts::id.eq(2))
                    .set(posts::title.eq(sql::<Text>(
                        "x.s FROM (SELECT string_agg(title, ',') AS s FROM posts) AS x",
                    )))
                    .execute()
                    .await?;
                let titles: Vec<String> = tx
                    .load(posts::table.select(posts::title).order(posts::id))
                    .await?;
                Ok::<_, Error>(format!("{locked:?} {n} {titles:?}"))
            })
            .await
            .map_err(|e: Error| e.to_string());
        eprintln!("{rls:?} pipeline {pipeline} typed: {outcome:?}");
        if matches!(&outcome, Ok(s) if shows_b(s)) {
            leaks.push(format!("typed, pipeline {pipeline}"));
        }
        common::attacks::assert_b_untouched(rls, tenant_b, "async probes");
    }
    assert!(leaks.is_empty(), "leaks: {leaks:#?}");
}

/// PostgreSQL functions a typed filter calls.
#[allow(missing_docs)] // reason: the items `define_sql_function!` generates
mod functions {
    use diesel::sql_types::{Bool, Text};
    diesel::define_sql_function!(fn set_config(name: Text, value: Text, local: Bool) -> Text);
    diesel::define_sql_function!(fn current_setting(name: Text) -> Text);
}
use functions::{current_setting, set_config};

/// Functions as cheap as the tenant's own comparison in typed filters, on tables read
/// sequentially (analysed, and with index scans off), as in the sync suite: they run on the
/// own tenant's rows only, so neither the setting they fill nor an error of theirs shows B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cheap_functions_in_filters_run_on_own_rows_only() {
    use diesel::connection::SimpleConnection;
    for (rls, pipeline) in Rls::all_async() {
        let (tenant_a, _tenant_b) = rls.two_tenants();
        rls.owner()
            .batch_execute("ANALYZE posts; ANALYZE comments;")
            .expect("analyse");
        let tenancy = async_tenancy_with(rls, 1, pipeline).await;
        for sequential in [false, true] {
            let outcome = tenancy
                .transaction(tenant_a, async |tx| {
                    if sequential {
                        tx.execute(diesel::sql_query("SET LOCAL enable_indexscan = off"))
                            .await?;
                        tx.execute(diesel::sql_query("SET LOCAL enable_bitmapscan = off"))
                            .await?;
                    }
                    let seen = sql::<Nullable<Text>>("current_setting('attack.seen', true)");
                    let rows: Vec<String> = tx
                        .load(
                            posts::table
                                .filter(set_config("attack.seen", posts::title, true).gt("b"))
                                .select(posts::title),
                        )
                        .await?;
                    let after_select: Option<String> = tx
                        .get_result(categories::table.select(seen.clone()).limit(1))
                        .await?;
                    let updated = tx
                        .update(comments::table)
                        .filter(set_config("attack.seen", comments::body, true).gt("b"))
                        .set(comments::body.eq(comments::body))
                        .execute()
                        .await?;
                    let after_update: Option<String> = tx
                        .get_result(categories::table.select(seen).limit(1))
                        .await?;
                    let deleted = tx
                        .delete(posts::table)
                        .filter(
                            posts::title
                                .gt("b")
                                .and(current_setting(posts::title).is_not_null()),
                        )
                        .execute()
                        .await?;
                    Ok::<_, Error>(format!(
                        "{rows:?} {after_select:?} {updated} {after_update:?} {deleted}"
                    ))
                })
                .await
                .map_err(|e: Error| e.to_string());
            eprintln!("{rls:?} pipeline {pipeline} sequential {sequential}: {outcome:?}");
            let shown = match &outcome {
                Ok(s) | Err(s) => s,
            };
            assert!(
                !shows_b(shown),
                "{rls:?} pipeline {pipeline} sequential {sequential}: {outcome:?}"
            );
        }
    }
}
