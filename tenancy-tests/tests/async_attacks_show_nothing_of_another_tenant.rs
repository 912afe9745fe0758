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
