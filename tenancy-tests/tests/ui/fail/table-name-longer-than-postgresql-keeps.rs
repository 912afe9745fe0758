#[tenancy_schema::tenant_scoped]
diesel::table! {
    #[sql_name = "tenant_documents_with_an_extremely_long_descriptive_table_name_v1"]
    documents (id) {
        id -> Int4,
        body -> Text,
    }
}

fn main() {}
