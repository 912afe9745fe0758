//! The async API (`tenancy-async`) against real PostgreSQL, as the application's login: two
//! tenants each see and write only their own rows, with row level security on and with it off
//! (where tenancy's scoping alone must hold); raw SQL cannot switch the tenant or the role; and
//! a transaction's future dropped at any await point leaves no connection in the pool inside a
//! transaction or with a tenant context.
#![allow(clippy::items_after_statements)] // reason: local row structs keep each test readable

mod common;

use std::time::Duration;

use common::schema::{categories, posts};
use common::{
    Rls, assert_async_sessions_clean, async_tenancy, async_tenancy_with, async_titles as titles,
};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text};
use tenancy_async::AsyncTenancy;
use tenancy_schema::{Error, TenantId};

#[tenancy_schema::tenant_scoped]
#[derive(Debug, Queryable, Selectable, PartialEq)]
#[diesel(table_name = posts, check_for_backend(diesel::pg::Pg))]
struct Post {
    id: i32,
    title: String,
    slug: String,
    category_id: Option<i32>,
}

#[tenancy_schema::tenant_scoped]
#[derive(Insertable)]
#[diesel(table_name = posts)]
struct NewPost<'a> {
    id: i32,
    title: &'a str,
    slug: &'a str,
}

#[derive(QueryableByName, Debug)]
struct Title {
    #[diesel(sql_type = Text)]
    title: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_reads_only_its_own_rows() {
    for (rls, pipeline) in Rls::all_async() {
        eprintln!("{rls:?}, pipelined: {pipeline}");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 2, pipeline).await;
        for (tenant, label) in [(a, "a"), (b, "b")] {
            let (all, one, first, filtered, exists, count_raw) = t
                .transaction(tenant, async |tx| {
                    let all: Vec<Post> = tx
                        .load(posts::table.order(posts::id).select(Post::as_select()))
                        .await?;
                    let one: String = tx
                        .get_result(posts::table.filter(posts::id.eq(2)).select(posts::title))
                        .await?;
                    let first: Post = tx
                        .first(posts::table.order(posts::id).select(Post::as_select()))
                        .await?;
                    // A filter that would match every tenant's rows, twice over.
                    let filtered: Vec<String> = tx
                        .get_results(
                            posts::table
                                .filter(posts::id.eq(1))
                                .or_filter(posts::id.gt(0))
                                .or_filter(diesel::dsl::sql::<Bool>("true OR true"))
                                .select(posts::title),
                        )
                        .await?;
                    let exists = tx.exists(posts::table.filter(posts::id.eq(1))).await?;
                    let raw: Vec<Title> = tx
                        .load_sql(diesel::sql_query("SELECT title FROM posts"))
                        .await?;
                    Ok::<_, Error>((all, one, first, filtered, exists, raw.len()))
                })
                .await
                .unwrap();
            assert_eq!(all.len(), 2, "{rls:?}");
            assert!(
                all.iter().all(|p| p.tenant_id == tenant),
                "{rls:?}: {all:?}"
            );
            assert_eq!(one, format!("{label} two"), "{rls:?}");
            assert_eq!(first.title, format!("{label} one"), "{rls:?}");
            assert_eq!(first.tenant_id, tenant);
            assert_eq!(filtered.len(), 2, "{rls:?}: {filtered:?}");
            assert!(
                filtered.iter().all(|s| s.starts_with(label)),
                "{rls:?}: {filtered:?}"
            );
            assert!(exists);
            if rls.enforced() {
                // Raw SQL is left to row level security.
                assert_eq!(count_raw, 2);
            }
        }
        system_sees_global_tables_only(&t, rls).await;
        assert_async_sessions_clean(&t, &format!("{rls:?}")).await;
    }
}

/// The system connection: global tables only, raw SQL included.
async fn system_sees_global_tables_only(t: &AsyncTenancy, rls: Rls) {
    let (names, raw) = t
        .system(async |sys| {
            let names: Vec<String> = sys
                .load(
                    categories::table
                        .order(categories::id)
                        .select(categories::name),
                )
                .await?;
            let raw = sys
                .load_sql::<_, Title>(diesel::sql_query("SELECT title FROM posts"))
                .await;
            Ok::<_, Error>((names, raw))
        })
        .await
        .unwrap();
    assert_eq!(names, ["news", "howto"]);
    assert!(
        matches!(
            &raw,
            Err(Error::UnsafeSql(tenancy_schema::SqlTextError::TenantTableOnSystemConnection(table))) if table == "posts"
        ),
        "{rls:?}: {raw:?}"
    );
    // A tenant table named in a raw fragment on the system connection is refused.
    let refused = t
        .system(async |sys| {
            sys.load::<_, String>(
                categories::table
                    .filter(diesel::dsl::sql::<Bool>(
                        "id IN (SELECT category_id FROM posts)",
                    ))
                    .select(categories::name),
            )
            .await
        })
        .await;
    assert!(matches!(refused, Err(Error::UnsafeSql(_))), "{refused:?}");
    // Counting and testing for rows on global tables; a tenant table in a raw fragment is
    // refused there too.
    let (count, exists) = t
        .system(async |sys| {
            let count = sys.count(categories::table).await?;
            let exists = sys
                .exists(categories::table.filter(categories::name.eq("howto")))
                .await?;
            Ok::<_, Error>((count, exists))
        })
        .await
        .unwrap();
    assert_eq!((count, exists), (2, true), "{rls:?}");
    let refused = t
        .system(async |sys| {
            sys.exists(
                categories::table.filter(diesel::dsl::sql::<Bool>("EXISTS (SELECT FROM posts)")),
            )
            .await
        })
        .await;
    assert!(matches!(refused, Err(Error::UnsafeSql(_))), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_stay_in_the_tenant() {
    for (rls, pipeline) in Rls::all_async() {
        eprintln!("{rls:?}, pipelined: {pipeline}");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 2, pipeline).await;
        let inserted: Post = t
            .transaction(a, async |tx| {
                let n = tx
                    .insert_into(posts::table)
                    .values(vec![
                        NewPost {
                            id: 10,
                            title: "a ten",
                            slug: "ten",
                        },
                        NewPost {
                            id: 11,
                            title: "a eleven",
                            slug: "eleven",
                        },
                    ])
                    .execute()
                    .await?;
                assert_eq!(n, 2);
                tx.insert_into(posts::table)
                    .values((
                        posts::id.eq(12),
                        posts::title.eq("a twelve"),
                        posts::slug.eq("twelve"),
                    ))
                    .get_result::<Post>()
                    .await
            })
            .await
            .unwrap();
        assert_eq!(inserted.tenant_id, a, "{rls:?}");
        // Updates and deletes whose filters match both tenants' rows touch A's only.
        let (updated, returned, deleted) = t
            .transaction(a, async |tx| {
                let updated = tx
                    .update(posts::table)
                    .filter(posts::id.eq(1))
                    .set(posts::title.eq("a one, changed"))
                    .execute()
                    .await?;
                let returned: Vec<Post> = tx
                    .update(posts::table)
                    .filter(posts::id.eq(2))
                    .set(posts::slug.eq("second-a"))
                    .get_results()
                    .await?;
                let deleted = tx
                    .delete(posts::table)
                    .filter(posts::id.ge(10))
                    .execute()
                    .await?;
                Ok::<_, Error>((updated, returned, deleted))
            })
            .await
            .unwrap();
        assert_eq!(updated, 1, "{rls:?}");
        assert_eq!(returned.len(), 1, "{rls:?}");
        assert_eq!(returned[0].tenant_id, a);
        assert_eq!(deleted, 3, "{rls:?}");
        // A raw fragment reaching outside its parentheses is refused before it is sent.
        let escaped = t
            .transaction(a, async |tx| {
                tx.delete(posts::table)
                    .filter(diesel::dsl::sql::<Bool>("true) OR (true"))
                    .execute()
                    .await
            })
            .await;
        assert!(
            matches!(escaped, Err(Error::UnsafeSql(_))),
            "{rls:?}: {escaped:?}"
        );
        // A changeset assigning the tenant column is refused.
        let moved = t
            .transaction(a, async |tx| {
                tx.update(posts::table)
                    .filter(posts::id.eq(1))
                    .set(posts::tenant_id.eq(*b.as_uuid()))
                    .execute()
                    .await
            })
            .await;
        assert!(
            matches!(moved, Err(Error::TenantColumnInChangeset { .. })),
            "{rls:?}: {moved:?}"
        );
        assert_eq!(titles(&t, a).await, ["a one, changed", "a two"], "{rls:?}");
        assert_eq!(titles(&t, b).await, ["b one", "b two"], "{rls:?}");
        // Owner's view: B's rows untouched.
        let mut owner = rls.owner();
        let b_slugs: Vec<String> = posts::table
            .filter(posts::tenant_id.eq(*b.as_uuid()))
            .order(posts::id)
            .select(posts::slug)
            .load(&mut owner)
            .unwrap();
        assert_eq!(b_slugs, ["first", "second"], "{rls:?}");
        assert_async_sessions_clean(&t, &format!("{rls:?}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shorthands_stay_in_the_tenant() {
    for (rls, pipeline) in Rls::all_async() {
        eprintln!("{rls:?}, pipelined: {pipeline}");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 2, pipeline).await;
        let (one, returned, batch, upserted, mine) = t
            .transaction(a, async |tx| {
                let one = tx
                    .insert(
                        posts::table,
                        NewPost {
                            id: 20,
                            title: "a twenty",
                            slug: "twenty",
                        },
                    )
                    .await?;
                let returned: Post = tx
                    .insert_returning(
                        posts::table,
                        (
                            posts::id.eq(21),
                            posts::title.eq("a twenty-one"),
                            posts::slug.eq("twenty-one"),
                        ),
                    )
                    .await?;
                let batch = tx
                    .insert_batch(
                        posts::table,
                        vec![
                            NewPost {
                                id: 22,
                                title: "a twenty-two",
                                slug: "twenty-two",
                            },
                            NewPost {
                                id: 23,
                                title: "a twenty-three",
                                slug: "twenty-three",
                            },
                        ],
                    )
                    .await?;
                // Both tenants have a post 1: the conflict target includes the tenant column,
                // so only A's is updated.
                let upserted = tx
                    .upsert(
                        posts::table,
                        NewPost {
                            id: 1,
                            title: "a one",
                            slug: "first",
                        },
                        posts::id,
                        posts::title.eq("a one, upserted"),
                    )
                    .await?;
                let only_mine = tx.tenant_filter(posts::table);
                let mine: Vec<i32> = tx
                    .load(
                        posts::table
                            .filter(only_mine)
                            .order(posts::id)
                            .select(posts::id),
                    )
                    .await?;
                Ok::<_, Error>((one, returned, batch, upserted, mine))
            })
            .await
            .unwrap();
        assert_eq!((one, batch, upserted), (1, 2, 1), "{rls:?}");
        assert_eq!(returned.tenant_id, a, "{rls:?}");
        assert_eq!(mine, [1, 2, 20, 21, 22, 23], "{rls:?}");
        assert_eq!(titles(&t, b).await, ["b one", "b two"], "{rls:?}");
        let seen = titles(&t, a).await;
        assert_eq!(seen[0], "a one, upserted", "{rls:?}");
        assert_eq!(seen.len(), 6, "{rls:?}");
        // Nothing for B in the owner's view either.
        let mut owner = rls.owner();
        let b_titles: Vec<String> = posts::table
            .filter(posts::tenant_id.eq(*b.as_uuid()))
            .order(posts::id)
            .select(posts::title)
            .load(&mut owner)
            .unwrap();
        assert_eq!(b_titles, ["b one", "b two"], "{rls:?}");
        assert_async_sessions_clean(&t, &format!("{rls:?}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upserts_counts_and_finds_stay_in_the_tenant() {
    for (rls, pipeline) in Rls::all_async() {
        eprintln!("{rls:?}, pipelined: {pipeline}");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 2, pipeline).await;
        let (upserted, ignored, count, found, other) = t
            .transaction(a, async |tx| {
                // Both tenants have a post 1: the conflict target is (tenant_id, id), so only
                // A's row is updated.
                let upserted: Vec<Post> = tx
                    .insert_into(posts::table)
                    .values(NewPost {
                        id: 1,
                        title: "a one, upserted",
                        slug: "first",
                    })
                    .on_conflict(posts::id)
                    .do_update()
                    .set(posts::title.eq(diesel::upsert::excluded(posts::title)))
                    .get_results()
                    .await?;
                // A conflict on (tenant_id, slug), left alone.
                let ignored = tx
                    .insert_into(posts::table)
                    .values(NewPost {
                        id: 30,
                        title: "a thirty",
                        slug: "second",
                    })
                    .on_conflict(posts::slug)
                    .do_nothing()
                    .execute()
                    .await?;
                let count = tx.count(posts::table).await?;
                let found: Post = tx.find(posts::table, 2).await?;
                // An id only B has is not found, as a missing one is.
                let other = tx.find::<_, _, Post>(posts::table, 40).await;
                Ok::<_, Error>((upserted, ignored, count, found, other))
            })
            .await
            .unwrap();
        // B gets a post 40 only after A looked for one, so A's miss is a plain miss too.
        t.transaction(b, async |tx| {
            tx.insert_into(posts::table)
                .values(NewPost {
                    id: 40,
                    title: "b forty",
                    slug: "forty",
                })
                .execute()
                .await
        })
        .await
        .unwrap();
        let other_after = t
            .transaction(a, async |tx| tx.find::<_, _, Post>(posts::table, 40).await)
            .await;
        assert_eq!(upserted.len(), 1, "{rls:?}");
        assert_eq!(upserted[0].tenant_id, a, "{rls:?}");
        assert_eq!(upserted[0].title, "a one, upserted", "{rls:?}");
        assert_eq!(ignored, 0, "{rls:?}");
        assert_eq!(count, 2, "{rls:?}");
        assert_eq!((found.tenant_id, found.id), (a, 2), "{rls:?}");
        assert!(
            matches!(other, Err(Error::Query(diesel::result::Error::NotFound))),
            "{rls:?}: {other:?}"
        );
        assert!(
            matches!(
                other_after,
                Err(Error::Query(diesel::result::Error::NotFound))
            ),
            "{rls:?}: {other_after:?}"
        );
        assert_eq!(titles(&t, a).await, ["a one, upserted", "a two"], "{rls:?}");
        assert_eq!(
            titles(&t, b).await,
            ["b one", "b two", "b forty"],
            "{rls:?}"
        );
        assert_async_sessions_clean(&t, &format!("{rls:?}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_sql_cannot_switch_the_tenant_or_the_role() {
    for (rls, pipeline) in Rls::all_async() {
        eprintln!("{rls:?}, pipelined: {pipeline}");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        let other = b.as_uuid().to_string();
        let forgeries = [
            format!("SELECT set_config('tenancy.tenant_id', '{other}', true)"),
            format!("SELECT set_config('tenancy.tenant_id', '{other}', false)"),
            format!("SET tenancy.tenant_id = '{other}'"),
            "RESET tenancy.context".to_owned(),
            "SELECT set_config('tenancy.context', '4', true)".to_owned(),
        ];
        for forgery in &forgeries {
            let result = t
                .transaction(a, async |tx| {
                    tx.execute(diesel::sql_query(forgery)).await?;
                    let typed: Vec<String> = tx.load(posts::table.select(posts::title)).await?;
                    let raw: Vec<Title> = tx
                        .load_sql(diesel::sql_query("SELECT title FROM posts"))
                        .await?;
                    Ok::<_, Error>((typed, raw))
                })
                .await;
            match result {
                Ok((typed, raw)) => {
                    assert!(
                        typed.iter().all(|s| s.starts_with("a ")),
                        "{rls:?} {forgery}: {typed:?}"
                    );
                    if rls.enforced() {
                        assert!(
                            raw.iter().all(|r| r.title.starts_with("a ")),
                            "{rls:?} {forgery}: raw SQL read B: {raw:?}"
                        );
                    }
                }
                // Overwriting the context marker makes every policy fail instead; on a
                // connection with the native context a session-level change cannot commit.
                Err(e) => assert!(
                    e.to_string().contains("tenant context was changed")
                        || (rls.native() && e.to_string().contains("may not change")),
                    "{rls:?} {forgery}: {e}"
                ),
            }
        }
        for attempt in ["SET LOCAL ROLE tenancy_admin", "SET ROLE tenancy_admin"] {
            let r = t
                .transaction(a, async |tx| tx.execute(diesel::sql_query(attempt)).await)
                .await;
            assert!(
                r.as_ref()
                    .is_err_and(|e| e.to_string().contains("permission denied")),
                "{rls:?} {attempt}: {r:?}"
            );
        }
        assert_async_sessions_clean(&t, &format!("{rls:?}")).await;
        assert_eq!(titles(&t, a).await, ["a one", "a two"], "{rls:?}");
    }
}

/// Raw fragments whose text the server reads differently from a plain reading: a comment
/// between a schema and a tenant table, a line comment ended by a carriage return, and, after
/// the transaction switched to SJIS, a backslash the server takes into the character before it
/// (which turns the rest of an escaped string into code). Each is refused before it is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_the_server_reads_differently_are_refused() {
    let exists = "EXISTS (SELECT 1 FROM public.posts p WHERE p.title LIKE chr(98) || chr(37))";
    let fragments = [
        "EXISTS (SELECT 1 FROM public/**/.posts p WHERE p.title LIKE chr(98) || chr(37))"
            .to_owned(),
        format!("title = '' -- x\rOR {exists}\n"),
        format!("title = E'ぃ\\' OR {exists} --'\n"),
    ];
    for (rls, pipeline) in Rls::all_async() {
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        for fragment in &fragments {
            let r = t
                .transaction(a, async |tx| {
                    tx.execute(diesel::sql_query("SET LOCAL client_encoding = 'SJIS'"))
                        .await?;
                    tx.load::<_, String>(
                        posts::table
                            .filter(diesel::dsl::sql::<Bool>(fragment))
                            .select(posts::title),
                    )
                    .await
                })
                .await;
            assert!(
                matches!(r, Err(Error::UnsafeSql(_))),
                "{rls:?}, pipelined: {pipeline}, {fragment}: {r:?}"
            );
        }
        assert_async_sessions_clean(&t, &format!("{rls:?}")).await;
        assert_eq!(titles(&t, a).await, ["a one", "a two"], "{rls:?}");
        assert_eq!(titles(&t, b).await, ["b one", "b two"], "{rls:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_transactions_carry_their_options_and_admin_crosses_tenants() {
    for pipeline in [false, true] {
        options_and_admin(pipeline).await;
    }
}

async fn options_and_admin(pipeline: bool) {
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = Text)]
        isolation: String,
        #[diesel(sql_type = Text)]
        read_only: String,
        #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
        tenant: Option<uuid::Uuid>,
    }
    let (a, b) = Rls::On.two_tenants();
    let t = async_tenancy_with(Rls::On, 1, pipeline).await;
    let mode: Vec<Mode> = t
        .build_transaction(a)
        .read_only()
        .serializable()
        .run(async |tx| {
            tx.load_sql(diesel::sql_query(
                "SELECT current_setting('transaction_isolation') AS isolation, \
                 current_setting('transaction_read_only') AS read_only, \
                 tenancy.current_tenant() AS tenant",
            ))
            .await
        })
        .await
        .unwrap();
    assert_eq!(mode[0].isolation, "serializable");
    assert_eq!(mode[0].read_only, "on");
    assert_eq!(mode[0].tenant, Some(*a.as_uuid()));
    let write = t
        .build_transaction(a)
        .read_only()
        .run(async |tx| {
            tx.delete(posts::table)
                .filter(posts::id.eq(1))
                .execute()
                .await
        })
        .await;
    assert!(write.is_err(), "{write:?}");
    // An unknown tenant is a typed error, and the connection stays usable.
    let unknown = TenantId::new_v7();
    let r = t
        .transaction(unknown, async |tx| {
            tx.load::<_, String>(posts::table.select(posts::title))
                .await
        })
        .await;
    assert!(
        matches!(r, Err(Error::TenantNotFound(t)) if t == unknown),
        "{r:?}"
    );
    // The escape hatch: a reason is required; with one it sees every tenant.
    let r: Result<i64, Error> = t.admin("  ", async |_conn| Ok(0)).await;
    assert!(matches!(r, Err(Error::MissingAdminReason)), "{r:?}");
    let both: i64 = t
        .admin("test: async admin reads both tenants", async |conn| {
            let query = posts::table
                .filter(posts::tenant_id.eq_any([*a.as_uuid(), *b.as_uuid()]))
                .count();
            diesel_async::RunQueryDsl::get_result(query, conn)
                .await
                .map_err(Error::from)
        })
        .await
        .unwrap();
    assert_eq!(both, 4);
    assert_async_sessions_clean(&t, "after options and admin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_task_keeps_its_tenant() {
    let (a, b) = Rls::On.two_tenants();
    let t = async_tenancy(Rls::On, 2).await;
    let mut handles = Vec::new();
    for (tenant, label) in [(a, "a"), (b, "b"), (a, "a"), (b, "b")] {
        let t = t.clone();
        handles.push(tokio::spawn(async move {
            let seen = t
                .transaction(tenant, async |tx| {
                    tokio::task::yield_now().await;
                    let titles: Vec<String> = tx
                        .load(posts::table.order(posts::id).select(posts::title))
                        .await?;
                    let raw: Vec<Title> = tx
                        .load_sql(diesel::sql_query(
                            "SELECT tenancy.current_tenant()::text AS title",
                        ))
                        .await?;
                    Ok::<_, Error>((titles, raw[0].title.clone()))
                })
                .await
                .unwrap();
            (tenant, label, seen)
        }));
    }
    for handle in handles {
        let (tenant, label, (titles, current)) = handle.await.unwrap();
        assert_eq!(titles, [format!("{label} one"), format!("{label} two")]);
        assert_eq!(current, tenant.as_uuid().to_string());
    }
}

/// A queued `TenantJob` (serialised, as a queue carries it) picked up by whichever tokio task
/// runs it still runs for its own tenant: the tenant is in the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_jobs_on_spawned_tasks_run_for_their_own_tenant() {
    use tenancy_foundation::jobs::TenantJob;
    let (a, b) = Rls::On.two_tenants();
    let t = async_tenancy(Rls::On, 2).await;
    let wire: Vec<String> = [(a, "a"), (b, "b"), (b, "b"), (a, "a")]
        .iter()
        .map(|(tenant, label)| {
            serde_json::to_string(&TenantJob::new(*tenant, (*label).to_owned())).unwrap()
        })
        .collect();
    let handles: Vec<_> = wire
        .into_iter()
        .map(|message| {
            let t = t.clone();
            tokio::spawn(async move {
                let job: TenantJob<String> = serde_json::from_str(&message).unwrap();
                let (titles, current) = job
                    .run_async(&t, async |tx, _label| {
                        tokio::task::yield_now().await;
                        let titles: Vec<String> = tx
                            .load(posts::table.order(posts::id).select(posts::title))
                            .await?;
                        let raw: Vec<Title> = tx
                            .load_sql(diesel::sql_query(
                                "SELECT tenancy.current_tenant()::text AS title",
                            ))
                            .await?;
                        Ok::<_, Error>((titles, raw[0].title.clone()))
                    })
                    .await
                    .unwrap();
                (job, titles, current)
            })
        })
        .collect();
    for handle in handles {
        let (job, titles, current) = handle.await.unwrap();
        let label = job.payload();
        assert_eq!(titles, [format!("{label} one"), format!("{label} two")]);
        assert_eq!(current, job.tenant().as_uuid().to_string());
    }
}

/// The steps of the transaction the cancellation tests interrupt; each is one await point
/// (one round trip). Step 3 leaves session-level state (a setting that outlives the
/// transaction unless the session is reset).
/// Step `k` of a transaction that a test cancels somewhere. Step 3 changes a tenancy setting
/// for the session; on a connection with the native context the extension's guard refuses to
/// commit that, so there (`native`) a transaction that is meant to commit changes it for the
/// transaction only.
async fn step(
    tx: &mut tenancy_async::AsyncTenantTx<'_>,
    k: usize,
    id: i32,
    native: bool,
) -> Result<(), Error> {
    match k {
        0 => {
            let _: Vec<String> = tx.load(posts::table.select(posts::title)).await?;
        }
        1 => {
            tx.insert_into(posts::table)
                .values((
                    posts::id.eq(id),
                    posts::title.eq("cancelled"),
                    posts::slug.eq(format!("cancelled-{id}")),
                ))
                .execute()
                .await?;
        }
        2 => {
            tx.update(posts::table)
                .filter(posts::id.eq(1))
                .set(posts::title.eq("cancelled update"))
                .execute()
                .await?;
        }
        3 => {
            tx.execute(
                diesel::sql_query("SELECT set_config('tenancy.tenant_id', 'leaked', $1)")
                    .bind::<Bool, _>(native),
            )
            .await?;
        }
        _ => {
            let _: Post = tx
                .first(posts::table.order(posts::id).select(Post::as_select()))
                .await?;
        }
    }
    Ok(())
}

const STEPS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_cancelled_at_any_await_point_leaves_nothing_behind() {
    for (rls, pipeline) in enforced_async() {
        cancel_at_each_await_point(rls, pipeline).await;
    }
}

/// The fixtures with row level security on (the SQL context, and the native one where the
/// extension is installed), each with the opening sent on its own and pipelined. With the
/// native context a connection's later transactions open with the entry in `BEGIN`'s comment.
fn enforced_async() -> Vec<(Rls, bool)> {
    Rls::all_async()
        .into_iter()
        .filter(|(rls, _)| rls.enforced())
        .collect()
}

async fn cancel_at_each_await_point(rls: Rls, pipeline: bool) {
    let (a, b) = rls.two_tenants();
    let t = async_tenancy_with(rls, 2, pipeline).await;
    // Cancelled after k completed steps (k = 0: right after BEGIN and the context), while
    // waiting on something else: the future is dropped by the timeout.
    for k in 0..=STEPS {
        let id = 100 + i32::try_from(k).unwrap();
        let run = t.transaction(a, async |tx| {
            for s in 0..k {
                step(tx, s, id, rls.native()).await?;
            }
            std::future::pending::<()>().await;
            Ok::<_, Error>(())
        });
        let timed_out = tokio::time::timeout(Duration::from_millis(200), run).await;
        assert!(
            timed_out.is_err(),
            "step {k}: the transaction must still be running"
        );
        assert_async_sessions_clean(&t, &format!("cancelled after step {k}")).await;
        // What the cancelled transaction did was rolled back, and the next one works.
        assert_eq!(titles(&t, a).await, ["a one", "a two"], "after step {k}");
        assert_eq!(titles(&t, b).await, ["b one", "b two"], "after step {k}");
    }
    // Cancelled while a query is in flight on the server.
    for k in 0..STEPS {
        let id = 200 + i32::try_from(k).unwrap();
        let run = t.transaction(a, async |tx| {
            for s in 0..k {
                step(tx, s, id, rls.native()).await?;
            }
            tx.execute(diesel::sql_query("SELECT pg_sleep(30)")).await?;
            Ok::<_, Error>(())
        });
        let timed_out = tokio::time::timeout(Duration::from_millis(200), run).await;
        assert!(timed_out.is_err(), "in-flight after step {k}");
        assert_async_sessions_clean(&t, &format!("cancelled in flight after step {k}")).await;
        assert_eq!(
            titles(&t, a).await,
            ["a one", "a two"],
            "in flight after {k}"
        );
    }
    // Dropped before its first poll, and dropped after one poll of the checkout.
    drop(t.transaction(a, async |_tx| Ok::<_, Error>(())));
    let mut once = Box::pin(t.transaction(a, async |tx| step(tx, 1, 300, rls.native()).await));
    assert!(
        !futures_poll_once(once.as_mut()).await,
        "not done after one poll"
    );
    drop(once);
    assert_async_sessions_clean(&t, "dropped after one poll").await;
    assert_eq!(titles(&t, a).await, ["a one", "a two"]);
    common::record_counts(
        "async-cancellation",
        &run_label("cancelled after each step and in flight", rls, pipeline),
        &[
            ("cancellations", u64::try_from(2 * STEPS + 2).unwrap()),
            ("leaked_sessions", 0),
        ],
    );
}

/// What a cancellation run is recorded as: the run, then the context and the opening.
fn run_label(run: &str, rls: Rls, pipeline: bool) -> String {
    let context = if rls.native() { ", native context" } else { "" };
    let opening = if pipeline { ", opening pipelined" } else { "" };
    format!("{run}{context}{opening}")
}

/// Polls `fut` once, returning whether it completed.
async fn futures_poll_once<F: Future + ?Sized>(mut fut: std::pin::Pin<&mut F>) -> bool {
    std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx).is_ready())).await
}

/// A small deterministic generator (xorshift64*), so that a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_dropped_at_random_points_leave_nothing_behind() {
    for (rls, pipeline) in enforced_async() {
        random_drops(rls, pipeline).await;
    }
}

async fn random_drops(rls: Rls, pipeline: bool) {
    const SEED: u64 = 0x5EED_7E4A_4C1E_0001;
    const TASKS: u64 = 160;
    let (a, b) = rls.two_tenants();
    let t = async_tenancy_with(rls, 4, pipeline).await;
    let native = rls.native();
    // Every connection open before the run starts.
    assert_async_sessions_clean(&t, "before the random run").await;
    let mut rng = Rng(SEED);
    let mut handles = Vec::new();
    // Transactions whose body ran to its end, so that their COMMIT was (or was about to be)
    // sent: one dropped while its COMMIT is on the wire may still commit on the server.
    let reached_commit = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    for i in 0..TASKS {
        let t = t.clone();
        let reached_commit = reached_commit.clone();
        let (tenant, label) = if rng.below(2) == 0 {
            (a, "a")
        } else {
            (b, "b")
        };
        let steps = usize::try_from(rng.below(STEPS as u64 + 1)).unwrap();
        // A third run to completion; the others are dropped somewhere in their first 30 ms
        // (waiting for a connection, opening, in a step, committing).
        let deadline = if rng.below(3) == 0 {
            Duration::from_secs(30)
        } else {
            Duration::from_micros(rng.below(30_000))
        };
        let id = 1000 + i32::try_from(i).unwrap();
        handles.push(tokio::spawn(async move {
            let run = t.transaction(tenant, async |tx| {
                for s in 0..steps {
                    step(tx, s, id, native).await?;
                }
                // Each committed transaction leaves a row of its own tenant.
                tx.insert_into(posts::table)
                    .values((
                        posts::id.eq(id + 100_000),
                        posts::title.eq(format!("{label} committed")),
                        posts::slug.eq(format!("committed-{id}")),
                    ))
                    .execute()
                    .await?;
                // Roll the cancelled-transaction marks back before committing.
                tx.update(posts::table)
                    .filter(posts::id.eq(1))
                    .set(posts::title.eq(format!("{label} one")))
                    .execute()
                    .await?;
                tx.delete(posts::table)
                    .filter(posts::id.eq(id))
                    .execute()
                    .await?;
                tx.execute(
                    diesel::sql_query("SELECT set_config('tenancy.tenant_id', '', $1)")
                        .bind::<Bool, _>(native),
                )
                .await?;
                reached_commit.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok::<_, Error>(())
            });
            match tokio::time::timeout(deadline, run).await {
                // A transaction that ran to its end committed.
                Ok(done) => {
                    done.expect("a transaction that is not dropped commits");
                    true
                }
                Err(_) => false,
            }
        }));
    }
    let mut finished = 0_u64;
    for handle in handles {
        if handle.await.unwrap() {
            finished += 1;
        }
    }
    // The deadlines are spread so that both outcomes occur.
    assert!(
        0 < finished && finished < TASKS,
        "{finished} of {TASKS} finished"
    );
    assert_async_sessions_clean(&t, "after the random run").await;
    // Nothing of another tenant, nothing a cancelled transaction wrote.
    for (tenant, label) in [(a, "a"), (b, "b")] {
        let seen = titles(&t, tenant).await;
        assert!(
            seen.iter().all(|s| s.starts_with(label)),
            "{label}: {seen:?}"
        );
        assert!(!seen.iter().any(|s| s == "cancelled"), "{label}: {seen:?}");
    }
    // Every finished transaction committed; a dropped one committed only if its COMMIT had
    // been sent, never one dropped earlier.
    let committed =
        u64::try_from(titles(&t, a).await.len() + titles(&t, b).await.len() - 4).unwrap();
    let reached_commit = reached_commit.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        finished <= committed && committed <= reached_commit,
        "{finished} finished, {committed} committed, {reached_commit} reached their COMMIT"
    );
    common::record_counts(
        "async-cancellation",
        &run_label("random drops under load", rls, pipeline),
        &[
            ("transactions", TASKS),
            ("cancelled", TASKS - finished),
            ("leaked_sessions", 0),
        ],
    );
}

/// As the synchronous suite's test of the same name: a session-level advisory lock SQL takes
/// is let go when the transaction ends, committed or rolled back, pipelined or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advisory_locks_taken_by_sql_do_not_reach_the_next_transaction() {
    #[derive(QueryableByName)]
    struct Answer {
        #[diesel(sql_type = Bool)]
        yes: bool,
    }
    let lock_is_free = |rls: Rls| -> bool {
        let free: Answer = diesel::RunQueryDsl::get_result(
            diesel::sql_query(
                "SELECT pg_try_advisory_lock(4343) AND pg_advisory_unlock(4343) AS yes",
            ),
            &mut rls.owner(),
        )
        .unwrap();
        free.yes
    };
    for (rls, pipeline) in Rls::all_async() {
        let run = format!("{rls:?}, pipelined: {pipeline}");
        let (a, b) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        let take = "SELECT pg_advisory_lock(4343)";
        let committed = t
            .transaction(a, async |tx| tx.execute(diesel::sql_query(take)).await)
            .await;
        assert!(committed.is_ok(), "{run}: {committed:?}");
        assert!(lock_is_free(rls), "{run}: held after a commit");
        let rolled_back: Result<usize, Error> = t
            .transaction(a, async |tx| {
                tx.execute(diesel::sql_query(take)).await?;
                Err(Error::MissingAdminReason)
            })
            .await;
        assert!(
            matches!(rolled_back, Err(Error::MissingAdminReason)),
            "{run}: {rolled_back:?}"
        );
        assert!(lock_is_free(rls), "{run}: held after a rollback");
        let held: Vec<Answer> = t
            .transaction(b, async |tx| {
                tx.load_sql(diesel::sql_query(
                    "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' \
                     AND pid = pg_backend_pid()) AS yes",
                ))
                .await
            })
            .await
            .unwrap();
        assert!(
            !held[0].yes,
            "{run}: B's transaction holds an advisory lock"
        );
        assert_async_sessions_clean(&t, &run).await;
    }
}

/// As the synchronous suite's test of the same name: SQL `PREPARE`, cursors `WITH HOLD` and
/// `LISTEN` outlive the transaction; none reaches the next checkout, pipelined or not. That a
/// transaction whose end refuses them keeps nothing is
/// `async_what_a_transaction_leaves_behind.rs`'s to show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_state_made_by_sql_does_not_reach_the_next_transaction() {
    #[derive(QueryableByName)]
    struct Left {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    for (rls, pipeline) in Rls::all_async() {
        eprintln!("{rls:?}, pipelined: {pipeline}");
        let (a, _) = rls.two_tenants();
        let t = async_tenancy_with(rls, 1, pipeline).await;
        for attempt in [
            "PREPARE tenancy_planted AS SELECT title FROM posts",
            "DECLARE tenancy_held CURSOR WITH HOLD FOR SELECT title FROM posts",
            "LISTEN tenancy_channel",
        ] {
            let r = t
                .transaction(a, async |tx| tx.execute(diesel::sql_query(attempt)).await)
                .await;
            // The SQL context undoes a `LISTEN` at the end (it shows only once committed).
            let undone = attempt.starts_with("LISTEN") && !rls.native();
            assert_eq!(r.is_ok(), undone, "{rls:?} {attempt}: {r:?}");
            let left: Vec<Left> = t
                .transaction(a, async |tx| {
                    tx.load_sql(diesel::sql_query(
                        "SELECT (SELECT count(*) FROM pg_prepared_statements WHERE from_sql) \
                         + (SELECT count(*) FROM pg_cursors WHERE is_holdable) \
                         + (SELECT count(*) FROM pg_listening_channels()) AS n",
                    ))
                    .await
                })
                .await
                .unwrap();
            assert_eq!(left[0].n, 0, "{rls:?} {attempt}");
        }
        assert_async_sessions_clean(&t, &format!("{rls:?}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_settings_of_zero_are_typed_errors_not_panics() {
    // bb8 panics on a pool of no connections; the builder refuses it before any pool exists.
    let url = "postgres://nobody@127.0.0.1:1/none";
    for (builder, field) in [
        (AsyncTenancy::builder(url).max_size(0), "max_size"),
        (
            AsyncTenancy::builder(url).admin_max_size(0),
            "admin_max_size",
        ),
        (
            AsyncTenancy::builder(url).connection_timeout(Duration::ZERO),
            "connection_timeout",
        ),
    ] {
        match builder.build().await {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {:?}", other.err()),
        }
    }
}
