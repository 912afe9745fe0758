//! A page (`ORDER BY .. LIMIT n`) is sent with its limit written as a number, so that
//! PostgreSQL keeps one plan for it instead of planning it on every execution, as it does for
//! the `LIMIT $n` Diesel writes. The text then changes with the limit: a statement type run
//! with several limits on one connection must still get the rows each limit asks for, from
//! Diesel's prepared-statement cache and from tenancy's own plan cache alike.
//!
//! Every case runs as the application's login, with row level security on and off.

mod common;

use common::Rls;
use common::schema::posts;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use tenancy_schema::scope::INLINED_LIMIT_MAX;
use tenancy_schema::{Error, TenantId};

/// How many posts each of the two tenants has: more than any page read here but the largest.
const POSTS: i32 = 150;

/// Two tenants with `POSTS` posts each, numbered alike.
fn tenants_with_posts(rls: Rls) -> (TenantId, TenantId) {
    let (a, b) = rls.two_tenants();
    for (tenant, label) in [(a, "a"), (b, "b")] {
        rls.owner()
            .batch_execute(&format!(
                "INSERT INTO posts (tenant_id, id, title, slug)
                 SELECT '{t}', g, '{label} ' || g, 'slug-' || g FROM generate_series(3, {POSTS}) g;
                 ANALYZE posts;",
                t = tenant.as_uuid()
            ))
            .expect("seed posts");
    }
    (a, b)
}

/// A prepared statement of the session, as `pg_prepared_statements` shows it.
#[derive(QueryableByName, Debug)]
struct Prepared {
    #[diesel(sql_type = Text)]
    statement: String,
    #[diesel(sql_type = BigInt)]
    generic_plans: i64,
    #[diesel(sql_type = BigInt)]
    custom_plans: i64,
}

const PREPARED_PAGES: &str = "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements \
     WHERE statement LIKE '%\"posts\"%' AND statement LIKE '%ORDER BY%' ORDER BY prepare_time";

/// The page of `limit` newest posts (by id), as every case reads it.
macro_rules! page {
    ($limit:expr) => {
        posts::table
            .order(posts::id.desc())
            .limit($limit)
            .select((posts::id, posts::title))
    };
}

/// What a page of `limit` must hold: this tenant's newest `limit` posts, in order.
fn assert_page(rows: &[(i32, String)], limit: i64, label: &str, run: &str) {
    let expected: Vec<i32> = (1..=POSTS)
        .rev()
        .take(usize::try_from(limit).unwrap())
        .collect();
    let ids: Vec<i32> = rows.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, expected, "{run}: LIMIT {limit}");
    assert!(
        rows.iter().all(|(_, title)| title.starts_with(label)),
        "{run}: another tenant's rows in {rows:?}"
    );
}

/// The limits each case reads, in an order that runs every text more than once and after
/// another: numbers up to the cap, and past it (bound as a parameter).
const LIMITS: [i64; 9] = [
    20,
    5,
    20,
    0,
    INLINED_LIMIT_MAX,
    5,
    INLINED_LIMIT_MAX + 20,
    20,
    1,
];

#[test]
fn every_limit_gets_its_own_rows_from_one_statement_type() {
    for rls in Rls::all() {
        let (a, b) = tenants_with_posts(rls);
        let run = format!("{rls:?}");
        // One connection: every limit runs on the session that prepared the ones before.
        let t = rls.tenancy(1);
        for (tenant, label) in [(a, "a "), (b, "b ")] {
            t.transaction(tenant, |tx| {
                for limit in LIMITS {
                    let rows: Vec<(i32, String)> = tx.load(page!(limit))?;
                    assert_page(&rows, limit, label, &run);
                }
                Ok::<_, Error>(())
            })
            .unwrap();
        }
        // And a limit already planned for one tenant reads only the next tenant's rows.
        for limit in LIMITS {
            for (tenant, label) in [(b, "b "), (a, "a ")] {
                let rows = t.transaction(tenant, |tx| tx.load(page!(limit))).unwrap();
                assert_page(&rows, limit, label, &run);
            }
        }
    }
}

#[test]
fn a_page_is_planned_once_and_kept() {
    for rls in Rls::all() {
        let (a, _) = tenants_with_posts(rls);
        let run = format!("{rls:?}");
        let t = rls.tenancy(1);
        let prepared: Vec<Prepared> = t
            .transaction(a, |tx| {
                for _ in 0..12 {
                    let rows: Vec<(i32, String)> = tx.load(page!(20))?;
                    assert_page(&rows, 20, "a ", &run);
                    let rows: Vec<(i32, String)> = tx.load(page!(INLINED_LIMIT_MAX + 1))?;
                    assert_page(&rows, INLINED_LIMIT_MAX + 1, "a ", &run);
                }
                tx.load_sql(diesel::sql_query(PREPARED_PAGES))
            })
            .unwrap();
        let [number, bound] = prepared.as_slice() else {
            panic!("{run}: one statement for each page expected: {prepared:#?}");
        };
        assert!(
            number.statement.ends_with(" LIMIT 20"),
            "{run}: {}",
            number.statement
        );
        // PostgreSQL tries five custom plans, then keeps the generic one.
        assert!(
            number.generic_plans >= 7 && number.custom_plans <= 5,
            "{run}: the page was planned again: {number:?}"
        );
        // Past the cap the limit stays a parameter.
        assert!(
            bound.statement.contains(" LIMIT $"),
            "{run}: {}",
            bound.statement
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_every_limit_gets_its_own_rows_and_a_kept_plan() {
    for (rls, pipeline) in Rls::all_async() {
        let (a, b) = tenants_with_posts(rls);
        let run = format!("{rls:?}, pipelined: {pipeline}");
        let t = common::async_tenancy_with(rls, 1, pipeline).await;
        for (tenant, label) in [(a, "a "), (b, "b ")] {
            let prepared: Vec<Prepared> = t
                .transaction(tenant, async |tx| {
                    for limit in LIMITS {
                        let rows: Vec<(i32, String)> = tx.load(page!(limit)).await?;
                        assert_page(&rows, limit, label, &run);
                    }
                    for _ in 0..12 {
                        let rows: Vec<(i32, String)> = tx.load(page!(20)).await?;
                        assert_page(&rows, 20, label, &run);
                    }
                    tx.load_sql(diesel::sql_query(PREPARED_PAGES)).await
                })
                .await
                .unwrap();
            let number = prepared
                .iter()
                .find(|p| p.statement.ends_with(" LIMIT 20"))
                .unwrap_or_else(|| panic!("{run}: no page of 20 prepared: {prepared:#?}"));
            assert!(
                number.generic_plans >= 7 && number.custom_plans <= 5,
                "{run}: the page was planned again: {number:?}"
            );
        }
    }
}
