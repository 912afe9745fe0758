#[tenancy_schema::global_table]
diesel::table! {
    plans (id) {
        id -> Int4,
        a_column_name_that_runs_on_and_on_past_what_postgresql_keeps_of_it -> Text,
    }
}

fn main() {}
