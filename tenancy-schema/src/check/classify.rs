//! The classification a database implies: a table whose rows belong to tenants (the tenant
//! column, a column named otherwise with a foreign key to the tenants table, a foreign key
//! that carries a tenant table's tenant column: what `tenancy check` checks as tenant tables)
//! is tenant-scoped, with the indexes, unique keys and composite foreign keys led by that
//! column; any other is global. What `tenancy print-schema` writes onto `diesel
//! print-schema`'s output, so that an application's `schema.rs` is classified without a
//! hand-written patch.

use diesel::{PgConnection, QueryResult};

use super::CheckOptions;
use super::catalog::load_catalog;

/// How the database says one table is classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedTable {
    /// The table's name.
    pub table: String,
    /// Whether its rows belong to tenants (else it is global).
    pub tenant_scoped: bool,
    /// Its tenant column, when it is not the configured one (`org_id REFERENCES tenants`).
    pub tenant_column: Option<String>,
    /// Indexes led by the tenant column: their other columns, by index name.
    pub indexes: Vec<Vec<String>>,
    /// Unique keys led by the tenant column, besides the primary key: their other columns.
    pub uniques: Vec<Vec<String>>,
    /// Composite foreign keys `(tenant, column) -> table (tenant, …)`: `(column, table)`.
    pub foreign_keys: Vec<(String, String)>,
}

impl DerivedTable {
    /// The attribute that classifies the table, as `#[tenancy_schema::…]`.
    #[must_use]
    pub fn attribute(&self) -> String {
        if !self.tenant_scoped {
            return "#[tenancy_schema::global_table]".to_owned();
        }
        let mut options: Vec<String> = Vec::new();
        options.extend(
            self.tenant_column
                .iter()
                .map(|column| format!("tenant_column = {column}")),
        );
        options.extend(
            self.uniques
                .iter()
                .map(|k| format!("unique({})", k.join(", "))),
        );
        options.extend(
            self.indexes
                .iter()
                .map(|k| format!("index({})", k.join(", "))),
        );
        options.extend(
            self.foreign_keys
                .iter()
                .map(|(column, table)| format!("foreign_key({column} -> {table})")),
        );
        if options.is_empty() {
            "#[tenancy_schema::tenant_scoped]".to_owned()
        } else {
            format!("#[tenancy_schema::tenant_scoped({})]", options.join(", "))
        }
    }
}

/// The classification the tables of `options.schema` imply, by table name.
///
/// # Errors
/// Database errors reading the catalog.
pub fn derive_classification(
    conn: &mut PgConnection,
    options: &CheckOptions,
) -> QueryResult<Vec<DerivedTable>> {
    // Only the tables, columns and keys are read here: which functions are tenancy's own
    // changes none of them.
    let vetted = super::catalog::VettedDefiners {
        names: Vec::new(),
        whole_schema: true,
    };
    let catalog = load_catalog(conn, options, &vetted)?;
    let tenant_tables = super::runner::tenant_tables(&catalog, &[], options);
    let mut out = Vec::new();
    for table in catalog.tables.keys() {
        if table.starts_with("__diesel_schema_migrations") {
            continue;
        }
        let tenant = tenant_tables.get(table).map(String::as_str);
        let tenant_scoped = tenant.is_some();
        let mut derived = DerivedTable {
            table: table.clone(),
            tenant_scoped,
            tenant_column: tenant
                .filter(|c| *c != options.tenant_column)
                .map(str::to_owned),
            indexes: Vec::new(),
            uniques: Vec::new(),
            foreign_keys: Vec::new(),
        };
        if let Some(tenant) = tenant {
            let mut keys: Vec<_> = catalog
                .keys
                .get(table)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .collect();
            keys.sort_by(|a, b| a.name.cmp(&b.name));
            for key in keys {
                let led = key.columns.first().map(String::as_str) == Some(tenant);
                let rest: Vec<String> = key.columns.iter().skip(1).cloned().collect();
                let plain = !rest.is_empty() && rest.iter().all(|c| c != "(expression)");
                match key.kind.as_str() {
                    "i" if led && plain => derived.indexes.push(rest),
                    "u" if led && plain => derived.uniques.push(rest),
                    "f" if led && rest.len() == 1 => {
                        let target_led = key
                            .target_columns
                            .as_ref()
                            .and_then(|t| t.first())
                            .is_some_and(|c| c == tenant);
                        if let (true, Some(target)) = (target_led, &key.target) {
                            derived.foreign_keys.push((rest[0].clone(), target.clone()));
                        }
                    }
                    _ => {}
                }
            }
        }
        out.push(derived);
    }
    Ok(out)
}
