//! The table to scaffold, and its validation.

use std::collections::BTreeSet;

use super::{
    column::{Column, ColumnType, Reference},
    error::SpecError,
    names::{
        FOUNDATION_TABLES, GENERATED_COLUMNS, MAX_TABLE_NAME_LEN, TENANTS_TABLE,
        validate_column_name, validate_enum_name, validate_identifier, validate_table_name,
    },
};
use tenancy_schema::TableKind;

/// Everything `tenancy new-table` needs to know about the new table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableSpec {
    /// SQL name of the table.
    pub name: String,
    /// Declared columns, in order; `tenant_id`, `id`, `created_at` and `updated_at` are added.
    pub columns: Vec<Column>,
    /// Indexes, each rendered as `(tenant_id, <columns>)`.
    pub indexes: Vec<Vec<String>>,
    /// Unique keys, each rendered as `UNIQUE (tenant_id, <columns>)`.
    pub uniques: Vec<Vec<String>>,
    /// Foreign keys, each rendered as `(tenant_id, column) REFERENCES table (tenant_id, id)`.
    pub references: Vec<Reference>,
    /// How the policies read the tenant: once per statement (the default), or as a plain call
    /// for a table a distributed engine (Citus) will shard.
    pub context_read: tenancy_schema::policy::ContextRead,
    /// A global table (no tenant column, no row level security, readable by the application
    /// role) instead of a tenant-scoped one.
    pub global: bool,
    /// The application's own global tables (from its migrations directory, see
    /// [`super::global_tables_in`]): a reference to one is a single-column foreign key to its
    /// `id`.
    pub global_tables: BTreeSet<String>,
    /// The application runs on tenancy's core alone, with no `tenants` table: `tenant_id` gets
    /// no foreign key (see [`super::core_alone_in`]).
    pub no_tenants_table: bool,
}

/// How a validated reference is rendered.
pub(crate) enum Target {
    /// `(tenant_id, col) REFERENCES table (tenant_id, id)`.
    Tenant,
    /// `(col) REFERENCES table (key)` for a global table of the foundation schema.
    Global(&'static str),
}

impl TableSpec {
    /// A spec for table `name` with no declared columns, keys or references.
    #[must_use]
    pub fn new(name: impl Into<String>) -> TableSpec {
        TableSpec {
            name: name.into(),
            ..TableSpec::default()
        }
    }

    /// Checks every name, type, key and reference.
    ///
    /// # Errors
    /// The first problem found, as a [`SpecError`].
    pub fn validate(&self) -> Result<(), SpecError> {
        self.targets().map(drop)
    }

    pub(crate) fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Validates and resolves each reference's target.
    pub(crate) fn targets(&self) -> Result<Vec<Target>, SpecError> {
        validate_table_name("table", &self.name)?;
        if self.name.len() > MAX_TABLE_NAME_LEN {
            return Err(SpecError::IdentifierTooLong {
                what: "table",
                name: self.name.clone(),
                len: self.name.len(),
                max: MAX_TABLE_NAME_LEN,
                why: " (its update trigger `<table>_touch` must fit in 63)",
            });
        }
        if FOUNDATION_TABLES.contains(&self.name.as_str()) {
            return Err(SpecError::TableExists {
                name: self.name.clone(),
            });
        }
        let mut seen = BTreeSet::new();
        for column in &self.columns {
            validate_column_name(&column.name)?;
            if let ColumnType::Enum(name) = &column.ty {
                validate_enum_name(name)?;
            }
            if GENERATED_COLUMNS.contains(&column.name.as_str()) {
                return Err(SpecError::GeneratedColumn {
                    column: column.name.clone(),
                });
            }
            if !seen.insert(column.name.as_str()) {
                return Err(SpecError::DuplicateColumn {
                    column: column.name.clone(),
                });
            }
        }
        self.validate_keys("index", &self.indexes)?;
        self.validate_keys("unique key", &self.uniques)?;

        let mut referencing = BTreeSet::new();
        let mut targets = Vec::with_capacity(self.references.len());
        for reference in &self.references {
            validate_identifier("column", &reference.column)?;
            validate_table_name("referenced table", &reference.table)?;
            let Some(column) = self.column(&reference.column) else {
                return Err(SpecError::UnknownColumn {
                    kind: "reference",
                    column: reference.column.clone(),
                });
            };
            if column.ty != ColumnType::Uuid {
                return Err(SpecError::ReferenceNotUuid {
                    column: column.name.clone(),
                    table: reference.table.clone(),
                    ty: column.ty.to_string(),
                });
            }
            if !referencing.insert(reference.column.as_str()) {
                return Err(SpecError::DuplicateReference {
                    column: reference.column.clone(),
                });
            }
            if reference.table == TENANTS_TABLE {
                return Err(SpecError::ReferenceToTenants {
                    column: reference.column.clone(),
                });
            }
            if self.global_tables.contains(&reference.table) {
                targets.push(Target::Global("id"));
                continue;
            }
            let target = match tenancy_schema::lookup(&reference.table) {
                Some(manifest) if manifest.kind == TableKind::Global => {
                    let key = match manifest.primary_key {
                        [key] => manifest
                            .columns
                            .iter()
                            .position(|c| c == key)
                            .and_then(|i| manifest.column_types.get(i))
                            .filter(|ty| **ty == "Uuid")
                            .map(|_| *key),
                        _ => None,
                    };
                    Target::Global(key.ok_or_else(|| SpecError::UnsupportedGlobalReference {
                        column: reference.column.clone(),
                        table: reference.table.clone(),
                    })?)
                }
                _ if self.global => {
                    return Err(SpecError::GlobalReferencesTenantTable {
                        column: reference.column.clone(),
                        table: reference.table.clone(),
                    });
                }
                _ => Target::Tenant,
            };
            targets.push(target);
        }
        Ok(targets)
    }

    pub(crate) fn validate_keys(
        &self,
        kind: &'static str,
        keys: &[Vec<String>],
    ) -> Result<(), SpecError> {
        let mut seen: BTreeSet<&[String]> = BTreeSet::new();
        for key in keys {
            let columns = key.join(", ");
            if key.is_empty() {
                return Err(SpecError::MalformedColumnList { spec: columns });
            }
            let mut in_key = BTreeSet::new();
            for column in key {
                validate_identifier("column", column)?;
                if column == "tenant_id" {
                    return Err(SpecError::TenantColumnInKey { kind, columns });
                }
                let known = self.column(column).is_some()
                    || GENERATED_COLUMNS[1..].contains(&column.as_str());
                if !known {
                    return Err(SpecError::UnknownColumn {
                        kind,
                        column: column.clone(),
                    });
                }
                if !in_key.insert(column.as_str()) {
                    return Err(SpecError::RepeatedColumnInKey {
                        kind,
                        columns,
                        column: column.clone(),
                    });
                }
            }
            if key.len() == 1 && key[0] == "id" {
                return Err(SpecError::RedundantKey {
                    kind,
                    columns,
                    reason: "is the primary key already",
                });
            }
            if !seen.insert(key.as_slice()) {
                return Err(SpecError::RedundantKey {
                    kind,
                    columns,
                    reason: "is requested twice",
                });
            }
        }
        Ok(())
    }
}
