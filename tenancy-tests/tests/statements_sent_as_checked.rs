//! A `QueryFragment` of the application's own that writes different SQL, or pushes different
//! bind values, from one walk to the next. Tenancy renders a statement to check it and Diesel
//! walks it again to send it; what reaches the server must be the text tenancy checked, and
//! the tenant must stay the value bound to tenancy's own predicates.
//!
//! Every case runs as the application's login with row level security on and off: with it
//! off, tenancy alone has to hold. `after` is how many walks of the fragment come out
//! harmless before it writes the attack; each case tries several, so that the harmless text
//! is the one checked while a later walk carries the attack.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::Rls;
use common::schema::{categories, comments, posts};
use diesel::QueryResult;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Text};
use tenancy_schema::{Error, TenantId};

/// An expression that writes `harmless` on its first `after` walks and `attack` on the others.
#[derive(Debug)]
struct Changing<ST> {
    harmless: String,
    attack: String,
    after: usize,
    walks: AtomicUsize,
    sql_type: std::marker::PhantomData<ST>,
}

impl<ST> Changing<ST> {
    fn new(harmless: &str, attack: &str, after: usize) -> Self {
        Self {
            harmless: harmless.to_owned(),
            attack: attack.to_owned(),
            after,
            walks: AtomicUsize::new(0),
            sql_type: std::marker::PhantomData,
        }
    }
}

impl<ST: diesel::sql_types::SqlType + diesel::expression::TypedExpressionType> Expression
    for Changing<ST>
{
    type SqlType = ST;
}
impl<ST, QS: ?Sized> AppearsOnTable<QS> for Changing<ST> where Self: Expression {}
impl<ST, QS: ?Sized> SelectableExpression<QS> for Changing<ST> where Self: Expression {}
impl<ST, G> ValidGrouping<G> for Changing<ST> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}
// Not a static query id: it does not claim to write the same SQL every time.
impl<ST> QueryId for Changing<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}
impl<ST> QueryFragment<Pg> for Changing<ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        if self.walks.fetch_add(1, Ordering::SeqCst) < self.after {
            out.push_sql(&self.harmless);
        } else {
            out.push_sql(&self.attack);
        }
        Ok(())
    }
}

/// A text value that binds one value on its first `after` walks and, on the others, another
/// tenant's id behind it: on the walk that collects binds, that id would take the place of
/// whatever is bound after the value (in an `UPDATE .. SET`, the tenant of its `WHERE` clause
/// if that were bound there).
#[derive(Debug)]
struct ShiftingValue {
    value: String,
    other_tenant: uuid::Uuid,
    after: usize,
    walks: AtomicUsize,
}

impl Expression for ShiftingValue {
    type SqlType = Text;
}
impl<QS: ?Sized> AppearsOnTable<QS> for ShiftingValue {}
impl<QS: ?Sized> SelectableExpression<QS> for ShiftingValue {}
impl<G> ValidGrouping<G> for ShiftingValue {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}
impl QueryId for ShiftingValue {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}
impl QueryFragment<Pg> for ShiftingValue {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param::<Text, _>(&self.value)?;
        if self.walks.fetch_add(1, Ordering::SeqCst) >= self.after {
            out.push_bind_param_value_only::<diesel::sql_types::Uuid, _>(&self.other_tenant)?;
        }
        Ok(())
    }
}

/// Tenant `b`'s posts and comments as the owner sees them.
fn b_rows(rls: Rls, b: TenantId) -> (Vec<String>, i64) {
    #[derive(QueryableByName)]
    struct Title {
        #[diesel(sql_type = Text)]
        title: String,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut owner = rls.owner();
    let titles: Vec<Title> = diesel::sql_query(format!(
        "SELECT title FROM posts WHERE tenant_id = '{}' ORDER BY id",
        b.as_uuid()
    ))
    .load(&mut owner)
    .expect("read b's posts");
    let comments: Vec<Count> = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM comments WHERE tenant_id = '{}'",
        b.as_uuid()
    ))
    .load(&mut owner)
    .expect("count b's comments");
    (titles.into_iter().map(|t| t.title).collect(), comments[0].n)
}

fn assert_b_untouched(rls: Rls, b: TenantId, context: &str) {
    assert_eq!(
        b_rows(rls, b),
        (vec!["b one".to_owned(), "b two".to_owned()], 1),
        "{rls:?}: {context} changed tenant b's rows"
    );
}

/// How the attempts of one case ended, over `after` = 0, 1, 2, ..: refused where the attack
/// was the text tenancy checked, run where the harmless text was. Both must happen, so that
/// the case reaches the walks after the check (how many walks a check takes is tenancy's
/// own business); that nothing of another tenant came back is asserted by each case.
#[derive(Default)]
struct Outcomes {
    refused: usize,
    ran: usize,
}

impl Outcomes {
    fn record<T: std::fmt::Debug>(&mut self, context: &str, r: &Result<T, Error>) {
        match r {
            Ok(_) => self.ran += 1,
            Err(Error::UnsafeSql(_)) => self.refused += 1,
            Err(e) => panic!("{context}: neither run nor refused by tenancy: {e:?}"),
        }
    }

    fn assert_both(&self, context: &str) {
        assert!(
            self.refused > 0 && self.ran > 0,
            "{context}: refused {} and ran {} times; both must happen",
            self.refused,
            self.ran
        );
    }
}

/// How many harmless walks each case tries: more than any check of tenancy's takes.
const AFTER: std::ops::Range<usize> = 0..8;

#[test]
fn a_read_sends_the_text_its_plan_was_made_on() {
    let mut seen_outcomes = Outcomes::default();
    let mut titles_outcomes = Outcomes::default();
    for rls in Rls::all() {
        let (a, _) = rls.two_tenants();
        let t = rls.tenancy(1);
        for after in AFTER {
            let titles = t.transaction(a, |tx| {
                tx.load::<_, String>(posts::table.select(posts::title).filter(
                    Changing::<Bool>::new(
                        "true",
                        r#"false UNION ALL SELECT "title" FROM "public"."posts""#,
                        after,
                    ),
                ))
            });
            titles_outcomes.record(&format!("{rls:?} after={after}"), &titles);
            if let Ok(titles) = titles {
                assert_eq!(titles.len(), 2, "{rls:?} after={after}: {titles:?}");
                assert!(
                    titles.iter().all(|t| t.starts_with("a ")),
                    "{rls:?} after={after}: {titles:?}"
                );
            }
            let seen = t.transaction(a, |tx| {
                let attack = || {
                    Changing::<Bool>::new(
                        "false",
                        "EXISTS (SELECT 1 FROM public.comments WHERE body LIKE 'b%')",
                        after,
                    )
                };
                let exists = tx.exists(categories::table.filter(attack()))?;
                let count = tx.count(categories::table.filter(attack()))?;
                Ok::<_, Error>((exists, count))
            });
            seen_outcomes.record(&format!("{rls:?} after={after}"), &seen);
            if let Ok(seen) = seen {
                assert_eq!(seen, (false, 0), "{rls:?} after={after}");
            }
        }
    }
    seen_outcomes.assert_both("a_read_sends_the_text_its_plan_was_made_on: seen");
    titles_outcomes.assert_both("a_read_sends_the_text_its_plan_was_made_on: titles");
}

#[test]
fn the_system_connection_sends_the_text_it_checked() {
    let mut names_outcomes = Outcomes::default();
    for rls in Rls::all() {
        rls.two_tenants();
        let t = rls.tenancy(1);
        for after in AFTER {
            let names = t.system(|sys| {
                sys.load::<_, String>(categories::table.select(categories::name).filter(
                    Changing::<Bool>::new("true", "false UNION ALL SELECT title FROM posts", after),
                ))
            });
            names_outcomes.record(&format!("{rls:?} after={after}"), &names);
            if let Ok(mut names) = names {
                names.sort();
                assert_eq!(names, ["howto", "news"], "{rls:?} after={after}");
            }
        }
    }
    names_outcomes.assert_both("the_system_connection_sends_the_text_it_checked: names");
}

#[test]
fn an_update_or_delete_sends_the_text_it_checked() {
    let mut deleted_outcomes = Outcomes::default();
    let mut updated_outcomes = Outcomes::default();
    for rls in Rls::all() {
        let (a, b) = rls.two_tenants();
        let t = rls.tenancy(1);
        let posts_of_b = format!(
            r#"false) OR ("posts"."tenant_id" = '{}' AND "posts"."id" = 1"#,
            b.as_uuid()
        );
        let comments_of_b = format!(r#"false) OR ("comments"."tenant_id" = '{}'"#, b.as_uuid());
        for after in AFTER {
            // The predicate is checked on its own first, then within the statement.
            let updated = t.transaction(a, |tx| {
                tx.update(posts::table)
                    .filter(Changing::<Bool>::new("false", &posts_of_b, after))
                    .set(posts::title.eq("taken by a"))
                    .execute()
            });
            updated_outcomes.record(&format!("{rls:?} after={after}"), &updated);
            let deleted = t.transaction(a, |tx| {
                tx.delete(comments::table)
                    .filter(Changing::<Bool>::new("false", &comments_of_b, after))
                    .execute()
            });
            deleted_outcomes.record(&format!("{rls:?} after={after}"), &deleted);
            assert_b_untouched(rls, b, &format!("an update or delete, after={after}"));
        }
    }
    deleted_outcomes.assert_both("an_update_or_delete_sends_the_text_it_checked: deleted");
    updated_outcomes.assert_both("an_update_or_delete_sends_the_text_it_checked: updated");
}

#[test]
fn an_insert_or_upsert_sends_the_text_it_checked() {
    let mut inserted_outcomes = Outcomes::default();
    let mut upserted_outcomes = Outcomes::default();
    for rls in Rls::all() {
        let (a, b) = rls.two_tenants();
        let t = rls.tenancy(1);
        let planted = format!("'x'), ('{}', 77, 'planted by a', 'planted'", b.as_uuid());
        for after in AFTER {
            let id = 70 + i32::try_from(after).expect("small");
            let inserted = t.transaction(a, |tx| {
                tx.insert(
                    posts::table,
                    (
                        posts::id.eq(id),
                        posts::slug.eq(format!("s{after}")),
                        posts::title.eq(Changing::<Text>::new("'x'", &planted, after)),
                    ),
                )
            });
            inserted_outcomes.record(&format!("{rls:?} after={after}"), &inserted);
            let upserted = t.transaction(a, |tx| {
                tx.insert_into(posts::table)
                    .values(vec![
                        (
                            posts::id.eq(1),
                            posts::title.eq("x"),
                            posts::slug.eq("first"),
                        ),
                        (
                            posts::id.eq(2),
                            posts::title.eq("y"),
                            posts::slug.eq("second"),
                        ),
                    ])
                    .on_conflict(posts::id)
                    .do_update()
                    .set(posts::title.eq(Changing::<Text>::new(
                        "'x'",
                        "(SELECT max(title) FROM public.posts WHERE title LIKE 'b%')",
                        after,
                    )))
                    .execute()
            });
            upserted_outcomes.record(&format!("{rls:?} after={after}"), &upserted);
            let own: Vec<String> = t
                .transaction(a, |tx| tx.load(posts::table.select(posts::title)))
                .expect("read a's posts");
            assert!(
                own.iter().all(|title| !title.starts_with("b ")),
                "{rls:?} after={after}: an upsert copied b's title into a: {own:?}"
            );
            assert_b_untouched(rls, b, &format!("an insert or upsert, after={after}"));
        }
    }
    inserted_outcomes.assert_both("an_insert_or_upsert_sends_the_text_it_checked: inserted");
    upserted_outcomes.assert_both("an_insert_or_upsert_sends_the_text_it_checked: upserted");
}

/// The tenant is bound first and tenancy's predicates name `$1`: a value that binds another
/// tenant's id behind itself on the walk for the binds only adds a value no placeholder names.
#[test]
fn a_bound_value_cannot_take_the_tenants_place() {
    for rls in Rls::all() {
        let (a, b) = rls.two_tenants();
        let t = rls.tenancy(1);
        for after in AFTER {
            let updated = t.transaction(a, |tx| {
                tx.update(posts::table)
                    .set(posts::title.eq(ShiftingValue {
                        value: "taken by a".to_owned(),
                        other_tenant: *b.as_uuid(),
                        after,
                        walks: AtomicUsize::new(0),
                    }))
                    .execute()
            });
            assert!(
                matches!(updated, Ok(2)),
                "{rls:?} after={after}: a's two posts: {updated:?}"
            );
            assert_b_untouched(rls, b, &format!("a shifting bind, after={after}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_statements_send_the_text_they_checked() {
    let mut names_outcomes = Outcomes::default();
    let mut titles_outcomes = Outcomes::default();
    let mut updated_outcomes = Outcomes::default();
    for (rls, pipeline) in Rls::all_async() {
        let (a, b) = rls.two_tenants();
        let t = common::async_tenancy_with(rls, 1, pipeline).await;
        let posts_of_b = format!(
            r#"false) OR ("posts"."tenant_id" = '{}' AND "posts"."id" = 1"#,
            b.as_uuid()
        );
        for after in AFTER {
            let titles = t
                .transaction(a, async |tx| {
                    tx.load::<_, String>(posts::table.select(posts::title).filter(
                        Changing::<Bool>::new(
                            "true",
                            r#"false UNION ALL SELECT "title" FROM "public"."posts""#,
                            after,
                        ),
                    ))
                    .await
                })
                .await;
            titles_outcomes.record(&format!("{rls:?} after={after}"), &titles);
            if let Ok(titles) = titles {
                assert!(
                    titles.iter().all(|t| t.starts_with("a ")),
                    "{rls:?}/{pipeline} after={after}: {titles:?}"
                );
            }
            let posts_of_b = posts_of_b.clone();
            let updated = t
                .transaction(a, async move |tx| {
                    tx.update(posts::table)
                        .filter(Changing::<Bool>::new("false", &posts_of_b, after))
                        .set(posts::title.eq("taken by a"))
                        .execute()
                        .await
                })
                .await;
            updated_outcomes.record(&format!("{rls:?} after={after}"), &updated);
            let names = t
                .system(async |sys| {
                    sys.load::<_, String>(categories::table.select(categories::name).filter(
                        Changing::<Bool>::new(
                            "true",
                            "false UNION ALL SELECT title FROM posts",
                            after,
                        ),
                    ))
                    .await
                })
                .await;
            names_outcomes.record(&format!("{rls:?} after={after}"), &names);
            if let Ok(names) = names {
                assert!(
                    names.iter().all(|n| n == "news" || n == "howto"),
                    "{rls:?}/{pipeline} after={after}: {names:?}"
                );
            }
            assert_b_untouched(rls, b, &format!("async statements, after={after}"));
        }
    }
    names_outcomes.assert_both("async_statements_send_the_text_they_checked: names");
    titles_outcomes.assert_both("async_statements_send_the_text_they_checked: titles");
    updated_outcomes.assert_both("async_statements_send_the_text_they_checked: updated");
}
