//! Runtime isolation: every operation of a tenant transaction, against real PostgreSQL,
//! logged in as a role that is not superuser, has no BYPASSRLS and owns nothing.
#![allow(clippy::many_single_char_names, clippy::items_after_statements)] // reason: tenants `a`/`b` and local row structs keep each test readable

mod common;

use common::schema::{categories, comments, posts};
use common::{Rls, fixture, owner, tenancy, two_tenants};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text};
use tenancy_schema::{Error, Tenancy, TenancyConfig, TenantId};

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
struct Who {
    #[diesel(sql_type = Text)]
    current_user: String,
    #[diesel(sql_type = Text)]
    session_user: String,
    #[diesel(sql_type = Bool)]
    rolsuper: bool,
    #[diesel(sql_type = Bool)]
    rolbypassrls: bool,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    owned_tables: i64,
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    tenant: Option<uuid::Uuid>,
}

const WHO_SQL: &str = "SELECT current_user::text AS current_user, session_user::text AS session_user, \
     r.rolsuper, r.rolbypassrls, \
     (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid AND c.relkind = 'r') AS owned_tables, \
     tenancy.current_tenant() AS tenant \
     FROM pg_roles r WHERE r.rolname = current_user";

fn titles(rows: Vec<Post>) -> Vec<String> {
    rows.into_iter().map(|p| p.title).collect()
}

#[test]
fn runs_as_an_unprivileged_role_that_owns_nothing() {
    let (a, _) = two_tenants();
    let who: Vec<Who> = tenancy(1)
        .transaction(a, |tx| tx.load_sql(diesel::sql_query(WHO_SQL)))
        .unwrap();
    let who = &who[0];
    // The login itself, with the application role's privileges inherited: no `SET ROLE`.
    assert_eq!(who.current_user, common::LOGIN_ROLE);
    assert_eq!(who.session_user, common::LOGIN_ROLE);
    assert!(!who.rolsuper && !who.rolbypassrls, "{who:?}");
    assert_eq!(who.owned_tables, 0);
    assert_eq!(who.tenant, Some(*a.as_uuid()), "{who:?}");
    // The login role itself is not privileged either.
    let mut owner = owner();
    let (sup, bypass): (bool, bool) = diesel::sql_query(format!(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = '{}'",
        common::LOGIN_ROLE
    ))
    .get_result::<LoginFlags>(&mut owner)
    .map(|f| (f.rolsuper, f.rolbypassrls))
    .unwrap();
    assert!(!sup && !bypass);
}

#[derive(QueryableByName)]
struct LoginFlags {
    #[diesel(sql_type = Bool)]
    rolsuper: bool,
    #[diesel(sql_type = Bool)]
    rolbypassrls: bool,
}

#[test]
fn select_sees_only_own_rows_even_with_or_filter_and_raw_or() {
    // Tenancy's scoping alone must give the same answers: run with row level security on
    // and on the twin database with it off.
    for rls in Rls::all() {
        select_sees_only_own_rows_even_with_or_filter_and_raw_or_with(rls);
    }
}

fn select_sees_only_own_rows_even_with_or_filter_and_raw_or_with(rls: Rls) {
    let (a, b) = rls.two_tenants();
    let t = rls.tenancy(2);
    let rows: Vec<Post> = t
        .transaction(a, |tx| {
            tx.load(posts::table.select(Post::as_select()).order(posts::id))
        })
        .unwrap();
    assert_eq!(titles(rows), ["a one", "a two"]);

    let rows: Vec<Post> = t
        .transaction(b, |tx| {
            tx.load(
                posts::table
                    .filter(posts::id.eq(1))
                    .or_filter(posts::id.eq(2))
                    .or_filter(posts::tenant_id.eq(a))
                    .select(Post::as_select())
                    .order(posts::id),
            )
        })
        .unwrap();
    assert_eq!(titles(rows), ["b one", "b two"]);

    // A raw fragment with a top-level OR cannot escape: the filter sits on the relation.
    let rows: Vec<Post> = t
        .transaction(b, |tx| {
            tx.load(
                posts::table
                    .filter(diesel::dsl::sql::<Bool>("TRUE OR TRUE"))
                    .select(Post::as_select()),
            )
        })
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|p| p.tenant_id == b));
}

#[test]
fn a_statement_type_planned_once_is_scoped_to_each_tenant_that_runs_it() {
    for rls in Rls::all() {
        a_statement_type_planned_once_is_scoped_to_each_tenant_that_runs_it_with(rls);
    }
}

fn a_statement_type_planned_once_is_scoped_to_each_tenant_that_runs_it_with(rls: Rls) {
    // The same statement type, with a sub-query on a second tenant table, run alternately for
    // both tenants: the plan (which tables to shadow) is made once per type and reused, the
    // tenant it filters on comes from each transaction.
    let (a, b) = rls.two_tenants();
    let t = rls.tenancy(2);
    let query = || {
        posts::table
            .filter(
                posts::id.ne_all(
                    comments::table
                        .select(comments::post_id)
                        .filter(comments::id.lt(0)),
                ),
            )
            .select(Post::as_select())
            .order(posts::id)
    };
    for _ in 0..3 {
        for (tenant, expected) in [(a, ["a one", "a two"]), (b, ["b one", "b two"])] {
            let rows: Vec<Post> = t.transaction(tenant, |tx| tx.load(query())).unwrap();
            assert!(rows.iter().all(|p| p.tenant_id == tenant));
            assert_eq!(titles(rows), expected);
        }
    }
}

#[test]
fn a_built_transaction_carries_its_principal_isolation_and_access_mode() {
    for rls in Rls::all() {
        a_built_transaction_carries_its_principal_isolation_and_access_mode_with(rls);
    }
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

fn a_built_transaction_carries_its_principal_isolation_and_access_mode_with(rls: Rls) {
    let (a, b) = rls.two_tenants();
    let t = rls.tenancy(2);
    let principal = tenancy_schema::PrincipalId::new_v7();
    let (isolation, read_only, acting, rows) = t
        .build_transaction(a)
        .principal(principal)
        .serializable()
        .read_only()
        .run(|tx| {
            let isolation: Vec<Setting> = tx.load_sql(diesel::sql_query(
                "SELECT current_setting('transaction_isolation') AS value",
            ))?;
            let read_only: Vec<Setting> = tx.load_sql(diesel::sql_query(
                "SELECT current_setting('transaction_read_only') AS value",
            ))?;
            let rows: Vec<Post> =
                tx.load(posts::table.select(Post::as_select()).order(posts::id))?;
            Ok::<_, Error>((
                isolation[0].value.clone(),
                read_only[0].value.clone(),
                tx.principal(),
                rows,
            ))
        })
        .unwrap();
    assert_eq!(isolation, "serializable");
    assert_eq!(read_only, "on");
    assert_eq!(acting, Some(principal));
    assert_eq!(titles(rows), ["a one", "a two"]);

    // Read only means read only: the write fails and nothing of it remains.
    let write = t.build_transaction(b).read_only().run(|tx| {
        tx.insert(
            posts::table,
            NewPost {
                id: 90,
                title: "x",
                slug: "x",
            },
        )
    });
    assert!(
        matches!(&write, Err(Error::Query(diesel::result::Error::DatabaseError(_, info))) if info.message().contains("read-only")),
        "{write:?}"
    );
    let count = t.transaction(b, |tx| tx.count(posts::table)).unwrap();
    assert_eq!(count, 2);

    // Without options it is the plain tenant transaction.
    let rows: Vec<Post> = t
        .build_transaction(b)
        .run(|tx| tx.load(posts::table.select(Post::as_select()).order(posts::id)))
        .unwrap();
    assert_eq!(titles(rows), ["b one", "b two"]);
}

#[test]
fn optional_reads_and_the_system_connections_reads() {
    use tenancy_schema::OptionalExt as _;
    let (a, _) = two_tenants();
    let t = tenancy(2);
    // An own row is `Some`, a missing one `None`.
    let (own, missing) = t
        .transaction(a, |tx| {
            let own: Option<String> = tx
                .first(posts::table.filter(posts::id.eq(1)).select(posts::title))
                .optional()?;
            let missing: Option<String> = tx
                .first(posts::table.filter(posts::id.eq(99)).select(posts::title))
                .optional()?;
            Ok::<_, Error>((own, missing))
        })
        .unwrap();
    assert_eq!(own.as_deref(), Some("a one"));
    assert_eq!(missing, None);

    let (first, count, exists, none) = t
        .system(|sys| {
            let first: String = sys.first(
                categories::table
                    .order(categories::id)
                    .select(categories::name),
            )?;
            let count = sys.count(categories::table)?;
            let exists = sys.exists(categories::table.filter(categories::id.eq(2)))?;
            let none: Option<String> = sys
                .first(
                    categories::table
                        .filter(categories::id.eq(99))
                        .select(categories::name),
                )
                .optional()?;
            Ok::<_, Error>((first, count, exists, none))
        })
        .unwrap();
    assert_eq!(first, "news");
    assert_eq!(count, 2);
    assert!(exists);
    assert_eq!(none, None);
}

#[test]
fn inner_left_and_three_way_joins_are_scoped() {
    // Tenancy's scoping alone must give the same answers: run with row level security on
    // and on the twin database with it off.
    for rls in Rls::all() {
        inner_left_and_three_way_joins_are_scoped_with(rls);
    }
}

fn inner_left_and_three_way_joins_are_scoped_with(rls: Rls) {
    let (a, b) = rls.two_tenants();
    let t = rls.tenancy(1);
    // Inner join: both tenants have post 1 with a comment.
    let rows: Vec<(String, String)> = t
        .transaction(a, |tx| {
            tx.load(
                posts::table
                    .inner_join(comments::table.on(comments::post_id.eq(posts::id)))
                    .select((posts::title, comments::body)),
            )
        })
        .unwrap();
    assert_eq!(rows, [("a one".to_owned(), "a comment".to_owned())]);

    // Left join: without the ON-side filter, post 1 of A would also match B's comment.
    let rows: Vec<(String, Option<String>)> = t
        .transaction(a, |tx| {
            tx.load(
                posts::table
                    .left_join(comments::table.on(comments::post_id.eq(posts::id)))
                    .select((posts::title, comments::body.nullable()))
                    .order(posts::id),
            )
        })
        .unwrap();
    assert_eq!(
        rows,
        [
            ("a one".to_owned(), Some("a comment".to_owned())),
            ("a two".to_owned(), None)
        ]
    );

    // Three-way join with a global table.
    let rows: Vec<(String, String, String)> = t
        .transaction(b, |tx| {
            tx.load(
                comments::table
                    .inner_join(
                        posts::table
                            .inner_join(categories::table)
                            .on(comments::post_id.eq(posts::id)),
                    )
                    .select((comments::body, posts::title, categories::name)),
            )
        })
        .unwrap();
    assert_eq!(
        rows,
        [(
            "b comment".to_owned(),
            "b one".to_owned(),
            "news".to_owned()
        )]
    );
}

#[test]
fn aliases_boxed_queries_counts_and_exists_are_scoped() {
    // Tenancy's scoping alone must give the same answers: run with row level security on
    // and on the twin database with it off.
    for rls in Rls::all() {
        aliases_boxed_queries_counts_and_exists_are_scoped_with(rls);
    }
}

fn aliases_boxed_queries_counts_and_exists_are_scoped_with(rls: Rls) {
    let (a, _) = rls.two_tenants();
    let t = rls.tenancy(1);
    let (p1, p2) = diesel::alias!(posts as p1, posts as p2);
    let pairs: Vec<(i32, i32)> = t
        .transaction(a, |tx| {
            tx.load(
                p1.inner_join(p2.on(p2.field(posts::id).eq(p1.field(posts::id) + 1)))
                    .select((p1.field(posts::id), p2.field(posts::id))),
            )
        })
        .unwrap();
    assert_eq!(pairs, [(1, 2)]);

    let boxed: Vec<String> = t
        .transaction(a, |tx| {
            let mut q = posts::table.select(posts::title).into_boxed();
            q = q.or_filter(posts::id.gt(0));
            tx.load(q.order(posts::id))
        })
        .unwrap();
    assert_eq!(boxed, ["a one", "a two"]);

    let (count, exists_other, found): (i64, bool, Post) = t
        .transaction(a, |tx| {
            Ok::<_, Error>((
                tx.count(posts::table)?,
                tx.exists(posts::table.filter(posts::title.eq("b one")))?,
                tx.find(posts::table, 2)?,
            ))
        })
        .unwrap();
    assert_eq!(count, 2);
    assert!(!exists_other, "another tenant's row must not exist here");
    assert_eq!((found.title.as_str(), found.tenant_id), ("a two", a));
}

#[test]
fn writes_stay_in_the_tenant() {
    // Tenancy's scoping alone must give the same answers: run with row level security on
    // and on the twin database with it off.
    for rls in Rls::all() {
        writes_stay_in_the_tenant_with(rls);
    }
}

fn writes_stay_in_the_tenant_with(rls: Rls) {
    let (a, b) = rls.two_tenants();
    let t = rls.tenancy(1);
    t.transaction(a, |tx| {
        tx.insert(
            posts::table,
            NewPost {
                id: 3,
                title: "a three",
                slug: "third",
            },
        )?;
        let batch = [
            NewPost {
                id: 4,
                title: "a four",
                slug: "fourth",
            },
            NewPost {
                id: 5,
                title: "a five",
                slug: "fifth",
            },
        ];
        assert_eq!(tx.insert_batch(posts::table, &batch)?, 2);
        let back: Post = tx.insert_returning(
            posts::table,
            (
                posts::id.eq(6),
                posts::title.eq("a six"),
                posts::slug.eq("sixth"),
            ),
        )?;
        assert_eq!(back.tenant_id, a);
        // Upsert on a slug both tenants have: only A's row changes.
        tx.upsert(
            posts::table,
            NewPost {
                id: 99,
                title: "ignored",
                slug: "first",
            },
            posts::slug,
            posts::title.eq(diesel::upsert::excluded(posts::title).concat(" (upserted)")),
        )?;
        let changed = tx
            .update(posts::table)
            .filter(posts::id.eq(2))
            .set(posts::title.eq("a two!"))
            .execute()?;
        assert_eq!(changed, 1);
        let removed = tx.delete(posts::table).filter(posts::id.eq(5)).execute()?;
        assert_eq!(removed, 1);
        Ok::<_, Error>(())
    })
    .unwrap();

    let a_titles: Vec<String> = t
        .transaction(a, |tx| {
            tx.load(posts::table.select(posts::title).order(posts::id))
        })
        .unwrap();
    assert_eq!(
        a_titles,
        ["ignored (upserted)", "a two!", "a three", "a four", "a six"]
    );
    let b_titles: Vec<String> = t
        .transaction(b, |tx| {
            tx.load(posts::table.select(posts::title).order(posts::id))
        })
        .unwrap();
    assert_eq!(b_titles, ["b one", "b two"], "tenant B is untouched");

    // Updates and deletes in B cannot reach A's rows either.
    let touched = t
        .transaction(b, |tx| {
            let u = tx
                .update(posts::table)
                .filter(posts::id.eq(3))
                .set(posts::title.eq("x"))
                .execute()?;
            let d = tx.delete(posts::table).filter(posts::id.ge(3)).execute()?;
            Ok::<_, Error>(u + d)
        })
        .unwrap();
    assert_eq!(touched, 0);
}

#[test]
fn inserts_and_upserts_in_diesels_shape_stay_in_the_tenant() {
    for rls in Rls::all() {
        inserts_and_upserts_in_diesels_shape_stay_in_the_tenant_with(rls);
    }
}

fn inserts_and_upserts_in_diesels_shape_stay_in_the_tenant_with(rls: Rls) {
    let (a, b) = rls.two_tenants();
    let t = rls.tenancy(1);
    // A key of two columns besides the tenant's, for the two-column conflict target (always
    // satisfied, since `(tenant_id, id)` is the primary key: harmless to the other tests).
    diesel::connection::SimpleConnection::batch_execute(
        &mut rls.owner(),
        "CREATE UNIQUE INDEX IF NOT EXISTS posts_id_slug ON posts (tenant_id, id, slug)",
    )
    .unwrap();
    t.transaction(a, |tx| {
        let one = NewPost {
            id: 3,
            title: "a three",
            slug: "third",
        };
        assert_eq!(tx.insert_into(posts::table).values(&one).execute()?, 1);
        let many = vec![
            NewPost {
                id: 4,
                title: "a four",
                slug: "fourth",
            },
            NewPost {
                id: 5,
                title: "a five",
                slug: "fifth",
            },
        ];
        assert_eq!(tx.insert_into(posts::table).values(many).execute()?, 2);
        let none: Vec<NewPost<'_>> = Vec::new();
        assert_eq!(tx.insert_into(posts::table).values(none).execute()?, 0);
        let back: Post = tx
            .insert_into(posts::table)
            .values((
                posts::id.eq(6),
                posts::title.eq("a six"),
                posts::slug.eq("sixth"),
            ))
            .get_result()?;
        assert_eq!(back.tenant_id, a);
        // One conflict column: the slug both tenants have; only this tenant's row changes.
        let upserted = tx
            .insert_into(posts::table)
            .values(NewPost {
                id: 99,
                title: "a one, again",
                slug: "first",
            })
            .on_conflict(posts::slug)
            .do_update()
            .set(posts::title.eq(diesel::upsert::excluded(posts::title)))
            .execute()?;
        assert_eq!(upserted, 1);
        // Two conflict columns and DO NOTHING: the existing row stays, a new one goes in.
        let rows: Vec<Post> = tx
            .insert_into(posts::table)
            .values(vec![
                NewPost {
                    id: 2,
                    title: "ignored",
                    slug: "second",
                },
                NewPost {
                    id: 7,
                    title: "a seven",
                    slug: "seventh",
                },
            ])
            .on_conflict((posts::id, posts::slug))
            .do_nothing()
            .get_results()?;
        assert_eq!(titles(rows), ["a seven"]);
        Ok::<_, Error>(())
    })
    .unwrap();
    let a_titles: Vec<String> = t
        .transaction(a, |tx| {
            tx.load(posts::table.select(posts::title).order(posts::id))
        })
        .unwrap();
    assert_eq!(
        a_titles,
        [
            "a one, again",
            "a two",
            "a three",
            "a four",
            "a five",
            "a six",
            "a seven"
        ],
        "{rls:?}"
    );
    upsert_changes_cannot_move_a_row(&t, rls, a, b);
}

/// The changes of an upsert may not move the row to another tenant, and tenant B is untouched.
fn upsert_changes_cannot_move_a_row(t: &Tenancy, rls: Rls, a: TenantId, b: TenantId) {
    // The changes of an upsert may not move the row to another tenant.
    let moved = t.transaction(a, |tx| {
        tx.insert_into(posts::table)
            .values(NewPost {
                id: 1,
                title: "x",
                slug: "first",
            })
            .on_conflict(posts::slug)
            .do_update()
            .set(posts::tenant_id.eq(b))
            .execute()
    });
    assert!(
        matches!(moved, Err(Error::TenantColumnInChangeset { .. })),
        "{rls:?}: {moved:?}"
    );
    let b_titles: Vec<String> = t
        .transaction(b, |tx| {
            tx.load(posts::table.select(posts::title).order(posts::id))
        })
        .unwrap();
    assert_eq!(
        b_titles,
        ["b one", "b two"],
        "{rls:?}: tenant B is untouched"
    );
}

#[test]
fn moving_a_row_to_another_tenant_is_rejected() {
    let (a, b) = two_tenants();
    let t = tenancy(1);
    // The typed API refuses before the database is asked.
    let err = t
        .transaction(a, |tx| {
            tx.update(posts::table)
                .filter(posts::id.eq(1))
                .set(posts::tenant_id.eq(b))
                .execute()
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("may not assign the tenant column"),
        "{err}"
    );
    // Raw SQL gets as far as the database, where RLS's WITH CHECK rejects it.
    let err = t
        .transaction(a, |tx| {
            tx.execute(diesel::sql_query(format!(
                "UPDATE posts SET tenant_id = '{}' WHERE id = 1",
                b.as_uuid()
            )))
        })
        .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    // Nothing moved.
    let titles: Vec<String> = t
        .transaction(b, |tx| {
            tx.load(posts::table.select(posts::title).order(posts::id))
        })
        .unwrap();
    assert_eq!(titles, ["b one", "b two"]);
}

#[test]
fn raw_sql_runs_under_rls() {
    let (a, b) = two_tenants();
    let t = tenancy(1);
    #[derive(QueryableByName)]
    struct Title {
        #[diesel(sql_type = Text)]
        title: String,
    }
    let rows: Vec<Title> = t
        .transaction(a, |tx| {
            tx.load_sql(diesel::sql_query("SELECT title FROM posts ORDER BY id"))
        })
        .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.title.as_str()).collect::<Vec<_>>(),
        ["a one", "a two"]
    );
    let inserted = t.transaction(a, |tx| {
        tx.execute(diesel::sql_query(format!(
            "INSERT INTO posts VALUES ('{}', 50, 'x', 'x', NULL)",
            TenantId::new_v7().as_uuid()
        )))
    });
    assert!(
        inserted.is_err(),
        "raw insert into a foreign tenant must fail"
    );
    // Bound parameters instead of string formatting, for statements and for reads.
    let bound: Vec<Title> = t
        .transaction(a, |tx| {
            let changed = tx.execute(
                diesel::sql_query("UPDATE posts SET title = $1 WHERE id = $2")
                    .bind::<Text, _>("a one, bound")
                    .bind::<diesel::sql_types::BigInt, _>(1_i64),
            )?;
            // Both tenants have a post 1: row level security leaves only this one's.
            assert_eq!(changed, 1, "the tenant's own row, and only it");
            tx.load_sql(
                diesel::sql_query("SELECT title FROM posts WHERE id = $1")
                    .bind::<diesel::sql_types::BigInt, _>(1_i64),
            )
        })
        .unwrap();
    assert_eq!(
        bound.iter().map(|r| r.title.as_str()).collect::<Vec<_>>(),
        ["a one, bound"]
    );
    let theirs: Vec<Title> = t
        .transaction(b, |tx| {
            tx.load_sql(diesel::sql_query("SELECT title FROM posts WHERE id = 1"))
        })
        .unwrap();
    assert_eq!(theirs[0].title, "b one");
    // No tenant context: the system connection refuses raw SQL naming a tenant table (row
    // level security would show it no tenant row either).
    let refused =
        t.system(|sys| sys.load_sql::<_, Title>(diesel::sql_query("SELECT title FROM posts")));
    assert!(
        matches!(
            &refused,
            Err(Error::UnsafeSql(tenancy_schema::SqlTextError::TenantTableOnSystemConnection(table))) if table == "posts"
        ),
        "{:?}",
        refused.map(|rows| rows.len())
    );
}

#[test]
fn row_locks_work_on_single_tables_and_are_refused_on_joins() {
    // Tenancy's scoping alone must give the same answers: run with row level security on
    // and on the twin database with it off.
    for rls in Rls::all() {
        row_locks_work_on_single_tables_and_are_refused_on_joins_with(rls);
    }
}

fn row_locks_work_on_single_tables_and_are_refused_on_joins_with(rls: Rls) {
    let (a, _) = rls.two_tenants();
    let t = rls.tenancy(1);
    let locked: Vec<i32> = t
        .transaction(a, |tx| {
            tx.load(
                posts::table
                    .select(posts::id)
                    .filter(posts::id.eq(1))
                    .for_update(),
            )
        })
        .unwrap();
    assert_eq!(locked, [1]);
    let err = t
        .transaction(a, |tx| {
            tx.load::<_, (i32, i32)>(
                posts::table
                    .inner_join(comments::table.on(comments::post_id.eq(posts::id)))
                    .select((posts::id, comments::id))
                    .for_update(),
            )
        })
        .unwrap_err();
    assert!(err.to_string().contains("row lock"), "{err}");
}

#[test]
fn sub_queries_can_be_scoped_explicitly() {
    // Tenancy's scoping alone must give the same answers: run with row level security on
    // and on the twin database with it off.
    for rls in Rls::all() {
        sub_queries_can_be_scoped_explicitly_with(rls);
    }
}

fn sub_queries_can_be_scoped_explicitly_with(rls: Rls) {
    let (a, _) = rls.two_tenants();
    let t = rls.tenancy(1);
    let rows: Vec<String> = t
        .transaction(a, |tx| {
            let post_ids = comments::table
                .select(comments::post_id)
                .filter(tx.tenant_filter(comments::table));
            tx.load(
                categories::table
                    .filter(
                        categories::id.eq_any(
                            posts::table
                                .select(posts::category_id.assume_not_null())
                                .filter(posts::id.eq_any(post_ids))
                                .filter(tx.tenant_filter(posts::table)),
                        ),
                    )
                    .select(categories::name),
            )
        })
        .unwrap();
    assert_eq!(rows, ["news"]);
}

#[test]
fn pooled_connections_never_leak_settings() {
    let (a, b) = two_tenants();
    let t = tenancy(1);
    let check = |expected: TenantId| {
        let who: Vec<Who> = t
            .transaction(expected, |tx| tx.load_sql(diesel::sql_query(WHO_SQL)))
            .unwrap();
        assert_eq!(who[0].tenant, Some(*expected.as_uuid()));
        assert_eq!(who[0].current_user, common::LOGIN_ROLE);
    };
    for round in 0..3 {
        check(if round % 2 == 0 { a } else { b });
        // An error inside the transaction.
        let failed = t.transaction(a, |tx| {
            tx.execute(diesel::sql_query("SELECT * FROM no_such_table"))
        });
        assert!(failed.is_err());
        check(b);
        // A panic inside the transaction.
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _: Result<(), Error> = t.transaction(b, |_tx| panic!("boom"));
        }));
        assert!(panicked.is_err());
        check(a);
    }
    // Outside any transaction, the pooled connection is back to the login role, no tenant.
    for session in t.inspect_sessions().unwrap() {
        assert_eq!(session.current_user, common::LOGIN_ROLE);
        assert!(session.is_clean(), "{session:?}");
    }
    common::record_counts(
        "pool-hygiene",
        "pool of size 1, alternating tenants, errors and panics",
        &[
            ("transactions", 15),
            ("faults_injected", 6),
            ("leaked_settings", 0),
        ],
    );
}

#[test]
fn a_missing_app_role_is_a_typed_error_when_the_tenancy_is_built() {
    let f = common::fixture();
    let err =
        f.db.tenancy_builder(&f.login_url)
            .unwrap()
            .config(TenancyConfig::default().app_role("no_such_role".parse().unwrap()))
            .max_size(1)
            .build()
            .unwrap_err();
    assert!(
        matches!(&err, Error::UnsafeRole { role, .. } if role == "no_such_role"),
        "{err}"
    );
    assert!(matches!(
        "x; DROP ROLE y".parse::<tenancy_schema::RoleName>(),
        Err(Error::InvalidRoleName(_))
    ));
}

#[test]
fn pool_settings_of_zero_are_typed_errors_not_panics() {
    // No database is reached: the settings are refused before a pool exists.
    let url = "postgres://nobody@127.0.0.1:1/none";
    let refused = |b: tenancy_schema::TenancyBuilder| match b.build() {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(refused(Tenancy::builder(url).max_size(0)), "max_size");
    assert_eq!(
        refused(Tenancy::builder(url).admin_max_size(0)),
        "admin_max_size"
    );
    assert_eq!(
        refused(Tenancy::builder(url).connection_timeout(std::time::Duration::ZERO)),
        "connection_timeout"
    );
    assert!(matches!(
        Tenancy::connect(url, 0),
        Err(Error::InvalidInput {
            field: "max_size",
            ..
        })
    ));
}

#[test]
fn admin_escape_hatch_crosses_tenants_and_needs_a_reason() {
    let (a, b) = two_tenants();
    let t = tenancy(1);
    let n: i64 = t
        .admin("test: count both tenants", |conn| {
            posts::table
                .filter(posts::tenant_id.eq_any([a, b]))
                .count()
                .get_result(conn)
                .map_err(Error::from)
        })
        .unwrap();
    assert_eq!(n, 4);
    let err = t.admin("  ", |_| Ok::<_, Error>(())).unwrap_err();
    assert!(matches!(err, Error::MissingAdminReason));
}

#[test]
fn registry_lists_classified_tables() {
    let _ = fixture();
    let names: Vec<_> = tenancy_schema::registry().iter().map(|m| m.table).collect();
    for table in [
        "categories",
        "comments",
        "posts",
        "tenants",
        "resources",
        "audit_log",
    ] {
        assert!(names.contains(&table), "{table} missing from {names:?}");
    }
    assert!(names.is_sorted(), "{names:?}");
    let posts = tenancy_schema::lookup("posts").unwrap();
    assert_eq!(posts.tenant_column, Some("tenant_id"));
    assert_eq!(posts.primary_key, ["tenant_id", "id"]);
    assert_eq!(posts.indexes, [&["tenant_id", "category_id"][..]]);
    assert_eq!(posts.uniques, [&["tenant_id", "slug"][..]]);
    let comments = tenancy_schema::lookup("comments").unwrap();
    assert_eq!(comments.foreign_keys[0].columns, ["tenant_id", "post_id"]);
    assert_eq!(comments.foreign_keys[0].references, "posts");
    let _ = (Integer, Text);
}

/// The compile-time layer on its own: the scoped query runs as the BYPASSRLS admin role,
/// where row level security cannot help, and still returns only the tenant's rows.
#[test]
fn scoping_isolates_even_where_rls_is_off() {
    let (a, b) = Rls::Off.two_tenants();
    let t = Rls::Off.tenancy(1);
    let rows: Vec<(TenantId, String, Option<String>)> = t
        .transaction(a, |tx| {
            tx.load(
                posts::table
                    .left_join(comments::table.on(comments::post_id.eq(posts::id)))
                    .filter(posts::id.eq(1).or(diesel::dsl::sql::<Bool>("TRUE")))
                    .filter(posts::tenant_id.eq_any([a, b]))
                    .select((posts::tenant_id, posts::title, comments::body.nullable()))
                    .order(posts::id),
            )
        })
        .unwrap();
    assert_eq!(
        rows,
        [
            (a, "a one".to_owned(), Some("a comment".to_owned())),
            (a, "a two".to_owned(), None)
        ]
    );
    // Raw SQL in the same database sees both tenants: row level security really is off, and
    // the scoping above did the work.
    let unscoped: Vec<Count> = t
        .transaction(a, |tx| {
            tx.load_sql(diesel::sql_query(format!(
                "SELECT count(*) AS n FROM posts WHERE tenant_id IN ('{}', '{}')",
                a.as_uuid(),
                b.as_uuid()
            )))
        })
        .unwrap();
    assert_eq!(unscoped[0].n, 4);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The SQL (binds appended) a transaction of `tenant` on `t` sends for `query`.
fn scoped_sql<Q: tenancy_schema::scope::TenantQuery>(
    t: &Tenancy,
    tenant: TenantId,
    query: Q,
) -> String {
    t.transaction(tenant, |tx| {
        Ok::<_, Error>(diesel::debug_query::<diesel::pg::Pg, _>(&tx.scope(query)?).to_string())
    })
    .unwrap()
}

/// How a statement that shadows `posts` starts.
const SHADOW_POSTS: &str = r#"WITH "posts" AS NOT MATERIALIZED"#;

/// The tenant predicate tenancy writes for `table`: the equality the planner uses, and the
/// guard that runs ahead of every other filter of the scan.
fn tenant_predicate(table: &str) -> String {
    format!(
        r#""{table}"."tenant_id" = $1 AND CASE WHEN "{table}"."tenant_id" = ANY (ARRAY[$1]) THEN 1 END IS NOT NULL"#
    )
}

#[test]
fn scoped_sql_is_one_statement_with_the_tenant_bound() {
    let (tenant, _) = two_tenants();
    let query = posts::table
        .left_join(comments::table.on(comments::post_id.eq(posts::id)))
        .select(posts::title);
    let sql = scoped_sql(&tenancy(1), tenant, query);
    assert!(
        sql.starts_with(&format!(
            r#"WITH "posts" AS NOT MATERIALIZED (SELECT * FROM "posts" WHERE {}), "comments" AS NOT MATERIALIZED (SELECT * FROM "comments" WHERE {}) SELECT"#,
            tenant_predicate("posts"),
            tenant_predicate("comments")
        )),
        "{sql}"
    );
    assert!(sql.contains(&tenant.as_uuid().to_string()), "{sql}");
    // A row lock whose table is also read in a sub-query: the sub-query reads the CTE, the
    // lock is taken on the schema-qualified table, which the CTE does not shadow.
    let other = diesel::alias!(posts as other);
    let locking = posts::table
        .select(posts::id)
        .filter(posts::id.eq_any(other.select(other.field(posts::id))))
        .for_update();
    let sql = scoped_sql(&tenancy(1), tenant, locking);
    assert!(
        sql.starts_with(&format!(
            r#"WITH "posts" AS NOT MATERIALIZED (SELECT * FROM "posts" WHERE {p}) SELECT "posts"."id" FROM (SELECT * FROM "public"."posts" WHERE {p}) AS "posts" WHERE"#,
            p = tenant_predicate("posts")
        )),
        "{sql}"
    );
    assert!(sql.contains(r#"FROM "posts" AS "other""#), "{sql}");
    assert!(sql.contains("FOR UPDATE"), "{sql}");
}

// An operator Diesel does not parenthesise, as an application may declare one: `a OR b`.
diesel::infix_operator!(LooseOr, " OR ");

/// A `SELECT` on one table that names it nowhere else, whose filter only compares, carries the
/// tenant predicate (without its guard) in its own `WHERE` clause, after the statement's filter
/// in parentheses; a filter that computes, and anything the lexer cannot confirm, keeps the
/// shadowing CTE. Both forms return only the tenant's rows with row level security off.
#[test]
fn a_single_table_select_carries_the_tenant_predicate_in_its_own_where_clause() {
    for rls in Rls::all() {
        a_single_table_select_carries_the_tenant_predicate_in_its_own_where_clause_with(rls);
    }
}

fn a_single_table_select_carries_the_tenant_predicate_in_its_own_where_clause_with(rls: Rls) {
    let (a, b) = rls.two_tenants();
    let t = rls.tenancy(1);

    let newest = || {
        posts::table
            .filter(posts::id.eq(1).or(posts::id.eq(2)))
            .select(Post::as_select())
            .order(posts::id.desc())
            .limit(20)
    };
    // A filter that only compares columns with values: the predicate needs no guard, as
    // nothing such a filter tests on another tenant's row shows anything of it.
    let sql = scoped_sql(&t, a, newest());
    assert!(!sql.contains(SHADOW_POSTS), "{sql}");
    assert!(
        sql.contains(
            r#"FROM "posts" WHERE (("posts"."id" = $2) OR ("posts"."id" = $3)) AND "posts"."tenant_id" = $1 ORDER BY"#
        ),
        "{sql}"
    );
    let rows: Vec<Post> = t.transaction(b, |tx| tx.load(newest())).unwrap();
    assert_eq!(titles(rows), ["b two", "b one"]);

    // A filter that computes (a pattern, a function) keeps the guard, written ahead of it in
    // a CTE: between filters of the same cost PostgreSQL keeps the order they were written in.
    let pattern = || {
        posts::table
            .filter(posts::title.like("%o%"))
            .select(Post::as_select())
            .order(posts::id.desc())
    };
    let sql = scoped_sql(&t, a, pattern());
    assert!(
        sql.starts_with(&format!(
            r#"{SHADOW_POSTS} (SELECT * FROM "posts" WHERE {})"#,
            tenant_predicate("posts")
        )),
        "{sql}"
    );
    assert!(
        sql.contains(r#"FROM "posts" WHERE ("posts"."title" LIKE $2) ORDER BY"#),
        "{sql}"
    );
    let rows: Vec<Post> = t.transaction(b, |tx| tx.load(pattern())).unwrap();
    assert_eq!(titles(rows), ["b two", "b one"]);

    // No filter of its own: the predicate is the WHERE clause, without its guard, as nothing
    // of the caller's is tested on a row. A row lock, the same.
    let sql = scoped_sql(&t, a, posts::table.select(posts::id).for_update());
    assert!(
        sql.starts_with(
            r#"SELECT "posts"."id" FROM "posts" WHERE "posts"."tenant_id" = $1 FOR UPDATE"#
        ),
        "{sql}"
    );
    let locked: Vec<i32> = t
        .transaction(a, |tx| {
            tx.load(posts::table.select(posts::id).order(posts::id).for_update())
        })
        .unwrap();
    assert_eq!(locked.len(), 2);

    // Another tenant table in a sub-query: a filter that is no comparison of values, so the
    // outer table keeps its CTE, with its guard, as the sub-query's table does.
    let with_comments = || {
        posts::table
            .filter(posts::id.eq_any(comments::table.select(comments::post_id)))
            .select(Post::as_select())
    };
    let sql = scoped_sql(&t, a, with_comments());
    assert!(sql.starts_with(SHADOW_POSTS), "{sql}");
    assert!(sql.contains(r#""comments" AS NOT MATERIALIZED"#), "{sql}");
    let rows: Vec<Post> = t.transaction(b, |tx| tx.load(with_comments())).unwrap();
    assert!(rows.iter().all(|p| p.tenant_id == b), "{rows:?}");

    // A filter whose top-level OR Diesel did not parenthesise: `AND` would bind tighter than
    // it, so the table keeps its CTE, and tenant b gets none of a's rows.
    let loose = || {
        posts::table
            .filter(LooseOr::new(posts::tenant_id.eq(a), posts::id.gt(0)))
            .select(Post::as_select())
            .order(posts::id)
    };
    let sql = scoped_sql(&t, b, loose());
    assert!(sql.starts_with(SHADOW_POSTS), "{sql}");
    let rows: Vec<Post> = t.transaction(b, |tx| tx.load(loose())).unwrap();
    assert_eq!(titles(rows), ["b one", "b two"]);

    // A raw fragment makes the SQL text vary with the value: checked each time, kept shadowed.
    let raw = || {
        posts::table
            .filter(diesel::dsl::sql::<Bool>("TRUE OR TRUE"))
            .select(Post::as_select())
    };
    let sql = scoped_sql(&t, b, raw());
    assert!(sql.starts_with(SHADOW_POSTS), "{sql}");
}

/// A join is shadowed by CTEs, inner or left: its predicates need their guards (an `ON`
/// condition may be tested on a row before them), and a CTE writes them ahead of the
/// statement's own conditions, which PostgreSQL keeps between conditions of the same cost.
/// Both return only the tenant's rows with row level security off.
#[test]
fn joins_are_shadowed_by_ctes_that_carry_the_guards() {
    for rls in Rls::all() {
        joins_are_shadowed_by_ctes_that_carry_the_guards_with(rls);
    }
}

fn joins_are_shadowed_by_ctes_that_carry_the_guards_with(rls: Rls) {
    let (a, b) = rls.two_tenants();
    let t = rls.tenancy(1);

    let joined = || {
        posts::table
            .inner_join(comments::table.on(comments::post_id.eq(posts::id)))
            .select(posts::title)
            .order(posts::id)
            .limit(10)
    };
    let sql = scoped_sql(&t, a, joined());
    assert!(
        sql.starts_with(&format!(
            r#"{SHADOW_POSTS} (SELECT * FROM "posts" WHERE {}), "comments" AS NOT MATERIALIZED (SELECT * FROM "comments" WHERE {}) SELECT"#,
            tenant_predicate("posts"),
            tenant_predicate("comments")
        )),
        "{sql}"
    );
    // Each tenant's one comment is on its post 1.
    for (tenant, post) in [(a, "a one"), (b, "b one")] {
        let titles: Vec<String> = t.transaction(tenant, |tx| tx.load(joined())).unwrap();
        assert_eq!(titles, [post]);
    }
    // A left join keeps the CTEs: a predicate on its nullable side in WHERE would make it an
    // inner join.
    let left = || {
        posts::table
            .left_join(comments::table.on(comments::post_id.eq(posts::id)))
            .select(posts::title)
            .limit(10)
    };
    let sql = scoped_sql(&t, a, left());
    assert!(sql.starts_with(SHADOW_POSTS), "{sql}");
}

/// The table a write goes into is its own relation, which no CTE shadows: a write gets the
/// shadowing CTE of its target only when it reads that table again in a sub-query, and those
/// of the other tenant tables it reads either way.
#[test]
fn a_write_shadows_its_target_only_where_a_sub_query_reads_it() {
    use diesel::Insertable;
    use diesel::query_builder::QueryFragment;
    use tenancy_schema::__private_v0_1::executor::{
        and_filter, delete_statement, insert_statement, tenant_predicate, update_statement,
    };
    fn sql(statement: &impl QueryFragment<diesel::pg::Pg>) -> String {
        diesel::debug_query::<diesel::pg::Pg, _>(statement).to_string()
    }
    let (tenant, _) = two_tenants();
    // The predicates as the write builders make them: the tenant filter, then `.filter(..)`.
    let tenant_filter = || tenant_predicate::<posts::table>();
    let shadow =
        |table: &str| format!(r#"WITH "{table}" AS NOT MATERIALIZED (SELECT * FROM "{table}""#);

    let row = (posts::id.eq(90), posts::title.eq("t"), posts::slug.eq("s"))
        .values()
        .values;
    let plain =
        sql(&insert_statement::<posts::table, _, ()>(tenant, vec![row], None, false).unwrap());
    assert!(plain.starts_with(r#"INSERT INTO "posts""#), "{plain}");

    let copied = posts::table
        .filter(posts::id.eq(1))
        .select(posts::title)
        .single_value()
        .assume_not_null();
    let row = (
        posts::id.eq(91),
        posts::title.eq(copied),
        posts::slug.eq("s2"),
    )
        .values()
        .values;
    let reading =
        sql(&insert_statement::<posts::table, _, ()>(tenant, vec![row], None, false).unwrap());
    assert!(reading.starts_with(&shadow("posts")), "{reading}");

    let update = sql(&update_statement(
        tenant,
        posts::table,
        and_filter(tenant_filter(), posts::id.eq(1)),
        posts::title.eq("u"),
    )
    .unwrap());
    assert!(update.starts_with(r#"UPDATE "posts""#), "{update}");
    // A filter that only compares: the tenant predicate goes without its guard.
    assert!(
        update.contains(r#"WHERE "posts"."tenant_id" = $1 AND (("posts"."id" = $3))"#),
        "{update}"
    );
    let pattern = sql(&update_statement(
        tenant,
        posts::table,
        and_filter(tenant_filter(), posts::title.like("%o%")),
        posts::title.eq("u"),
    )
    .unwrap());
    assert!(
        pattern.contains(&format!(
            r#"WHERE {} AND (("posts"."title" LIKE $3))"#,
            crate::tenant_predicate("posts")
        )),
        "{pattern}"
    );

    let from_comments = comments::table
        .filter(comments::id.eq(1))
        .select(comments::body)
        .single_value()
        .assume_not_null();
    let update = sql(&update_statement(
        tenant,
        posts::table,
        and_filter(tenant_filter(), posts::id.eq(1)),
        posts::title.eq(from_comments),
    )
    .unwrap());
    assert!(update.starts_with(&shadow("comments")), "{update}");
    assert!(!update.contains(&shadow("posts")), "{update}");
    // Another tenant table read in the statement: the guard stays.
    assert!(
        update.contains(&crate::tenant_predicate("posts")),
        "{update}"
    );

    let delete = sql(&delete_statement(
        tenant,
        posts::table,
        and_filter(tenant_filter(), posts::id.eq(90)),
    )
    .unwrap());
    assert!(delete.starts_with(r#"DELETE FROM "posts""#), "{delete}");
    assert!(
        delete.contains(r#"WHERE "posts"."tenant_id" = $1 AND (("posts"."id" = $2))"#),
        "{delete}"
    );
    let other = diesel::alias!(posts as other);
    let delete = sql(&delete_statement(
        tenant,
        posts::table,
        and_filter(
            tenant_filter(),
            posts::id.eq_any(other.select(other.field(posts::id))),
        ),
    )
    .unwrap());
    assert!(delete.starts_with(&shadow("posts")), "{delete}");
}

/// SQL `PREPARE`, cursors `WITH HOLD` and `LISTEN` outlive the transaction, a rollback and the
/// session reset; a prepared statement named like one of the driver's would run in the next
/// transaction on the connection, another tenant's perhaps. None reaches the next checkout:
/// with the SQL context the end of the transaction finds them before its commit (a `LISTEN`,
/// which shows only once committed, is undone) and the connection is closed, with the native
/// context the extension refuses them when they run. A transaction whose end refuses them
/// keeps nothing: its error is never the report of a commit that happened.
#[test]
fn session_state_made_by_sql_does_not_reach_the_next_transaction() {
    for rls in Rls::all() {
        session_state_made_by_sql_does_not_reach_the_next_transaction_with(rls);
    }
}

fn session_state_made_by_sql_does_not_reach_the_next_transaction_with(rls: Rls) {
    #[derive(QueryableByName)]
    struct Left {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let (a, _) = rls.two_tenants();
    // One connection: the next transaction gets the one the attempt ran on, or a new one.
    let t = rls.tenancy(1);
    let left = |t: &Tenancy| -> i64 {
        t.transaction(a, |tx| {
            tx.load_sql(diesel::sql_query(
                "SELECT (SELECT count(*) FROM pg_prepared_statements WHERE from_sql) \
                 + (SELECT count(*) FROM pg_cursors WHERE is_holdable) \
                 + (SELECT count(*) FROM pg_listening_channels()) AS n",
            ))
        })
        .map(|rows: Vec<Left>| rows[0].n)
        .expect("inspect the next transaction's session")
    };
    let attempts = [
        "PREPARE tenancy_planted AS SELECT title FROM posts",
        "DECLARE tenancy_held CURSOR WITH HOLD FOR SELECT title FROM posts",
        "LISTEN tenancy_channel",
    ];
    for (n, attempt) in (61_000..).zip(attempts) {
        // Committed: the transaction fails (at the statement, or at its end, before its
        // commit) and keeps nothing, or (a `LISTEN` on the SQL context, which only shows once
        // committed) the end undoes it and the transaction commits.
        let slug = format!("session-state-{n}");
        let committed = t.transaction(a, |tx| {
            tx.insert(
                posts::table,
                NewPost {
                    id: n,
                    title: "kept only if committed",
                    slug: &slug,
                },
            )?;
            tx.execute(diesel::sql_query(attempt))
        });
        let kept: i64 = posts::table
            .filter(posts::tenant_id.eq(a))
            .filter(posts::slug.eq(&slug))
            .count()
            .get_result(&mut rls.owner())
            .unwrap();
        let undone = attempt.starts_with("LISTEN") && !rls.native();
        assert_eq!(
            committed.is_ok(),
            undone,
            "{rls:?} {attempt}: {committed:?}"
        );
        assert_eq!(kept, i64::from(undone), "{rls:?} {attempt}: {committed:?}");
        assert_eq!(left(&t), 0, "{rls:?} {attempt}, committed");
        // Rolled back: the caller's error is what comes back.
        let rolled_back: Result<(), Error> = t.transaction(a, |tx| {
            let _ = tx.execute(diesel::sql_query(attempt));
            Err(Error::MissingAdminReason)
        });
        assert!(
            matches!(rolled_back, Err(Error::MissingAdminReason)),
            "{rls:?} {attempt}: {rolled_back:?}"
        );
        assert_eq!(left(&t), 0, "{rls:?} {attempt}, rolled back");
        // Behind a COMMIT of the SQL's own, which would leave the library's transaction: the
        // COMMIT is refused, and the attempt runs inside the transaction as above.
        let escaped = t.transaction(a, |tx| {
            let ended = tx.execute(diesel::sql_query("COMMIT"));
            assert!(common::ended_refused(&ended), "{rls:?}: {ended:?}");
            tx.execute(diesel::sql_query(attempt))
        });
        assert_eq!(escaped.is_ok(), undone, "{rls:?} {attempt}: {escaped:?}");
        assert_eq!(left(&t), 0, "{rls:?} {attempt}, after a COMMIT of its own");
    }
    for session in t.inspect_sessions().expect("inspect sessions") {
        assert!(session.is_clean(), "{rls:?}: {session:?}");
    }
}

/// A session-level advisory lock outlives the transaction that took it, committed or rolled
/// back, and would be held for whichever tenant gets the connection next. The end of every
/// transaction lets it go: the SQL context's session reset, the native context's guard.
#[test]
fn advisory_locks_taken_by_sql_do_not_reach_the_next_transaction() {
    #[derive(QueryableByName)]
    struct Answer {
        #[diesel(sql_type = Bool)]
        yes: bool,
    }
    let lock_is_free = |rls: Rls| -> bool {
        let free: Answer = diesel::sql_query(
            "SELECT pg_try_advisory_lock(4242) AND pg_advisory_unlock(4242) AS yes",
        )
        .get_result(&mut rls.owner())
        .unwrap();
        free.yes
    };
    for rls in Rls::all() {
        let (a, b) = rls.two_tenants();
        let t = rls.tenancy(1);
        let take = "SELECT pg_advisory_lock(4242)";
        let committed = t.transaction(a, |tx| tx.execute(diesel::sql_query(take)));
        assert!(committed.is_ok(), "{rls:?}: {committed:?}");
        assert!(lock_is_free(rls), "{rls:?}: held after a commit");
        let rolled_back: Result<usize, Error> = t.transaction(a, |tx| {
            tx.execute(diesel::sql_query(take))?;
            Err(Error::MissingAdminReason)
        });
        assert!(
            matches!(rolled_back, Err(Error::MissingAdminReason)),
            "{rls:?}: {rolled_back:?}"
        );
        assert!(lock_is_free(rls), "{rls:?}: held after a rollback");
        // Behind a COMMIT of the SQL's own, which would take it outside the library's
        // transaction: the COMMIT is refused, and the lock is taken inside the transaction.
        let behind = t.transaction(a, |tx| {
            let ended = tx.execute(diesel::sql_query("COMMIT"));
            assert!(common::ended_refused(&ended), "{rls:?}: {ended:?}");
            tx.execute(diesel::sql_query(take))
        });
        assert!(behind.is_ok(), "{rls:?}: {behind:?}");
        assert!(
            lock_is_free(rls),
            "{rls:?}: held after a refused COMMIT of its own"
        );
        // And B's transaction, on the same connection, holds no lock of A's.
        let held: Vec<Answer> = t
            .transaction(b, |tx| {
                tx.load_sql(diesel::sql_query(
                    "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' \
                     AND pid = pg_backend_pid()) AS yes",
                ))
            })
            .unwrap();
        assert!(
            !held[0].yes,
            "{rls:?}: B's transaction holds an advisory lock"
        );
        for session in t.inspect_sessions().expect("inspect sessions") {
            assert!(session.is_clean(), "{rls:?}: {session:?}");
        }
    }
}

// A global table with a column named like a tenant table (`posts`): Diesel writes it
// `"shelves"."posts"`, a column of `shelves`, not the table `posts` of a schema `shelves`.
#[allow(missing_docs)] // reason: generated by `diesel::table!`
mod shelf_table {
    #[tenancy_schema::global_table]
    diesel::table! {
        shelves (id) {
            id -> Int4,
            posts -> Int4,
        }
    }
}
use shelf_table::shelves;

#[test]
fn a_global_column_named_like_a_tenant_table_is_a_column() {
    use diesel::connection::SimpleConnection;
    for rls in Rls::all() {
        rls.owner()
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS shelves (id int PRIMARY KEY, posts int NOT NULL);
                 GRANT SELECT ON shelves TO tenancy_app;
                 INSERT INTO shelves VALUES (1, 7) ON CONFLICT DO NOTHING;",
            )
            .unwrap();
        let (a, _) = rls.two_tenants();
        let t = rls.tenancy(1);
        let counts: Vec<i32> = t
            .transaction(a, |tx| tx.load(shelves::table.select(shelves::posts)))
            .unwrap();
        assert_eq!(counts, [7], "{rls:?}");
        // `public` before the dot stays a schema: the real table, which no CTE shadows.
        let r = t.transaction(a, |tx| {
            tx.load::<_, i32>(
                shelves::table
                    .filter(diesel::dsl::sql::<Bool>(
                        "EXISTS (SELECT 1 FROM public.posts)",
                    ))
                    .select(shelves::posts),
            )
        });
        assert!(
            matches!(
                r,
                Err(Error::UnsafeSql(
                    tenancy_schema::SqlTextError::QualifiedTenantTable { .. }
                ))
            ),
            "{rls:?}: {r:?}"
        );
    }
}
