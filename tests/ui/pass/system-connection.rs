use diesel::prelude::*;
use tenancy_schema::{Error, Tenancy};

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

fn run(tenancy: &Tenancy) -> Result<(), Error> {
    tenancy.system(|sys| {
        let _: Vec<(i32, String)> = sys.load(categories::table.select((categories::id, categories::name)))?;
        let _: String = sys.get_result(categories::table.select(categories::name).filter(categories::id.eq(1)))?;
        sys.execute(diesel::insert_into(categories::table).values((categories::id.eq(1), categories::name.eq("x"))))?;
        sys.execute(diesel::update(categories::table).set(categories::name.eq("y")))?;
        sys.execute(diesel::delete(categories::table.filter(categories::id.eq(1))))?;
        Ok::<_, Error>(())
    })?;
    tenancy.admin("ui test: cross-tenant report", |conn| {
        let _: i64 = posts::table.count().get_result(&mut **conn).map_err(Error::from)?;
        Ok::<_, Error>(())
    })
}

fn main() {
    let _ = run;
}
