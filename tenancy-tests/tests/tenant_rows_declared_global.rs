//! Tables declared `#[global_table]` whose rows the database ties to tenants: one with a
//! tenant column named otherwise (`account_id REFERENCES tenants`, or only tenancy's tenant
//! policies on it), and one whose key points at a tenant table's rows. Typed queries and the
//! system connection read a global table with no tenant filter (every tenant's rows where row
//! level security is off), and a write through the system connection asked the key whether
//! another tenant had a given row. Once the key (or the policy) exists, building a `Tenancy` in
//! such a binary fails, naming the table and what ties it.

mod common;

use diesel::connection::SimpleConnection;

/// Declared as if they held no tenant data.
mod declared {
    #[tenancy_schema::global_table]
    diesel::table! {
        account_notes (id) {
            id -> Int4,
            account_id -> Uuid,
            body -> Text,
        }
    }

    #[tenancy_schema::global_table]
    diesel::table! {
        featured_posts (post_tenant, post_id) {
            post_tenant -> Uuid,
            post_id -> Int4,
        }
    }
}

fn refused_naming(f: &common::Fixture, table: &str, what: &str) {
    let err = f.db.tenancy(&f.login_url, 1).unwrap_err();
    match &err {
        tenancy_schema::Error::ClassificationConflict(c) => {
            assert_eq!(c.table, table, "{err}");
            let text = err.to_string();
            assert!(text.contains("global") && text.contains(what), "{text}");
        }
        other => panic!("expected ClassificationConflict, got {other:?}"),
    }
}

#[test]
fn tables_whose_keys_tie_their_rows_to_tenants_cannot_be_declared_global() {
    let f = common::fixture();
    let mut owner = common::owner();
    owner
        .batch_execute(
            "CREATE TABLE account_notes (id int PRIMARY KEY, account_id uuid NOT NULL, body text NOT NULL);
             CREATE TABLE featured_posts (post_tenant uuid NOT NULL, post_id int NOT NULL,
                                          PRIMARY KEY (post_tenant, post_id));
             GRANT SELECT, INSERT ON account_notes, featured_posts TO tenancy_app;",
        )
        .unwrap();
    // Without the keys, nothing in the database contradicts the declarations.
    f.db.tenancy(&f.login_url, 1)
        .expect("no key ties the rows to tenants yet");
    owner
        .batch_execute(
            "ALTER TABLE featured_posts ADD FOREIGN KEY (post_tenant, post_id) REFERENCES posts (tenant_id, id);",
        )
        .unwrap();
    refused_naming(
        f,
        "featured_posts",
        "foreign key into the tenant-scoped table `posts`",
    );
    owner
        .batch_execute(
            "ALTER TABLE featured_posts DROP CONSTRAINT featured_posts_post_tenant_post_id_fkey;
             ALTER TABLE account_notes ADD FOREIGN KEY (account_id) REFERENCES tenants (id);",
        )
        .unwrap();
    refused_naming(
        f,
        "account_notes",
        "foreign key of one column into the table of tenants",
    );
    owner
        .batch_execute("ALTER TABLE account_notes DROP CONSTRAINT account_notes_account_id_fkey;")
        .unwrap();
    f.db.tenancy(&f.login_url, 1).expect("the keys are gone");
    // No key at all, but tenancy's tenant policies on its tenant column, named otherwise: the
    // mark by which `tenancy.set_rls_mode` finds tenant tables.
    owner
        .batch_execute(&tenancy_schema::policy::tenant_policies(
            "account_notes",
            "account_id",
            "tenancy_app",
        ))
        .unwrap();
    refused_naming(f, "account_notes", "tenant policy `tenant_isolation`");
    owner
        .batch_execute(
            "DROP POLICY tenant_isolation ON account_notes; DROP POLICY tenant_access ON account_notes;
             ALTER TABLE account_notes DISABLE ROW LEVEL SECURITY;",
        )
        .unwrap();
    f.db.tenancy(&f.login_url, 1)
        .expect("the policies are gone");
    let _ = (
        declared::account_notes::table,
        declared::featured_posts::table,
    );
}
