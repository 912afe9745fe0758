// The schema the compile-pass cases and the runtime tests share: a global table, a hand-written
// tenant table and one as `diesel print-schema` writes it. Included by tests/ui/pass/*.rs and
// tests/common/mod.rs.

#[tenancy_schema::global_table]
diesel::table! {
    categories (id) {
        id -> Int4,
        name -> Text,
    }
}

#[tenancy_schema::tenant_scoped(index(category_id), unique(slug))]
diesel::table! {
    posts (id) {
        id -> Int4,
        title -> Text,
        slug -> Text,
        category_id -> Nullable<Int4>,
    }
}

// As `diesel print-schema` writes it: tenant_id and the composite key already exist.
#[tenancy_schema::tenant_scoped(foreign_key(post_id -> posts))]
diesel::table! {
    comments (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Int4,
        post_id -> Int4,
        body -> Text,
    }
}

diesel::joinable!(posts -> categories (category_id));
diesel::allow_tables_to_appear_in_same_query!(categories, posts, comments);
