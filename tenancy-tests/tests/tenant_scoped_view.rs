//! A view of a tenant table that keeps the tenant column, declared `#[tenant_scoped]`: it is
//! scoped under its own name like any tenant table (typed queries and raw fragments naming it
//! see the transaction's tenant only), where the same view undeclared is refused. Run as the
//! application's login with row level security on and off.

mod common;

use common::Rls;
use common::schema::categories;
use diesel::connection::SimpleConnection;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;

/// In the database, `SELECT tenant_id, id, title FROM posts` (made by the test).
mod views {
    #[tenancy_schema::tenant_scoped]
    diesel::table! {
        post_titles (tenant_id, id) {
            tenant_id -> Uuid,
            id -> Int4,
            title -> Text,
        }
    }
}

use views::post_titles;

#[test]
fn a_view_declared_tenant_scoped_is_filtered_under_its_own_name() {
    for rls in Rls::all() {
        let (a, _) = rls.two_tenants();
        rls.owner()
            .batch_execute(
                "CREATE OR REPLACE VIEW post_titles AS SELECT tenant_id, id, title FROM posts;
                 GRANT SELECT ON post_titles TO tenancy_app;",
            )
            .unwrap();
        let t = rls.tenancy(1);
        let mut titles: Vec<String> = t
            .transaction(a, |tx| {
                tx.load(post_titles::table.select(post_titles::title))
            })
            .unwrap();
        titles.sort();
        assert_eq!(titles, ["a one", "a two"], "{rls:?}");
        // B's titles start with `b`: a raw fragment naming the view sees none of them.
        let names: Vec<String> = t
            .transaction(a, |tx| {
                tx.load(
                    categories::table
                        .filter(sql::<Bool>(
                            "EXISTS (SELECT 1 FROM post_titles v WHERE v.title LIKE 'b%')",
                        ))
                        .select(categories::name),
                )
            })
            .unwrap();
        assert!(names.is_empty(), "{rls:?}: the view showed B's titles");
    }
}
