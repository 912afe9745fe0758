//! A view of a tenant table declared `#[global_table]`: typed queries would read every
//! tenant's rows through it with no tenant filter. Once the view exists, building a `Tenancy`
//! in such a binary fails, naming the view and the table it shows.

mod common;

use diesel::connection::SimpleConnection;

/// Declared as if it held no tenant data; in the database it is a view of `posts`.
mod views {
    #[tenancy_schema::global_table]
    diesel::table! {
        post_titles (id) {
            id -> Int4,
            title -> Text,
        }
    }
}

#[test]
fn a_view_of_tenant_rows_declared_global_is_refused_when_the_tenancy_is_built() {
    let f = common::fixture();
    // Before the view exists, nothing in the database contradicts the declaration.
    f.db.tenancy(&f.login_url, 1)
        .expect("no view of tenant rows yet");
    common::owner()
        .batch_execute(
            "CREATE VIEW post_titles AS SELECT id, title FROM posts;
             GRANT SELECT ON post_titles TO tenancy_app;",
        )
        .unwrap();
    let err = f.db.tenancy(&f.login_url, 1).unwrap_err();
    match &err {
        tenancy_schema::Error::ClassificationConflict(c) => {
            assert_eq!(c.table, "post_titles");
            let text = err.to_string();
            assert!(
                text.contains("global") && text.contains("view of the tenant-scoped table `posts`"),
                "{text}"
            );
        }
        other => panic!("expected ClassificationConflict, got {other:?}"),
    }
    let _ = views::post_titles::table;
}
