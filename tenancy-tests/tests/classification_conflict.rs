//! One SQL table classified both ways in one binary: `posts` is tenant-scoped in the shared
//! test schema and declared again here as a global table, its tenant column renamed so that
//! the macro cannot see it. Building a `Tenancy` in such a binary fails, naming the table.

mod common;

/// The same SQL table as `common::schema::posts`, declared as if it held no tenant data.
mod shadow {
    #[tenancy_schema::global_table]
    diesel::table! {
        #[sql_name = "posts"]
        shadow_posts (id) {
            id -> Int4,
            title -> Text,
        }
    }
}

#[test]
fn a_table_classified_both_ways_is_refused_when_the_tenancy_is_built() {
    let f = common::fixture();
    let err = f.db.tenancy(&f.login_url, 1).unwrap_err();
    match &err {
        tenancy_schema::Error::ClassificationConflict(c) => {
            assert_eq!(c.table, "posts");
            let text = err.to_string();
            assert!(
                text.contains("tenant-scoped") && text.contains("global"),
                "{text}"
            );
        }
        other => panic!("expected ClassificationConflict, got {other:?}"),
    }
    let _ = shadow::shadow_posts::table;
}
