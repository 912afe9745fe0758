//! Run-time description of every classified table.
//!
//! `#[tenant_scoped]` and `#[global_table]` each register a [`TableManifest`]; [`registry`]
//! returns all of them. The migration generator and the live-database check read this.

/// Whether a table holds tenant data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    /// Rows belong to one tenant each; every query is filtered by the tenant column.
    TenantScoped,
    /// Control-plane data with no tenant column (for example `tenants`).
    Global,
}

/// A foreign key from a tenant-scoped table to another one; in the database it is
/// composite: `(tenant_id, column) → target (tenant_id, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ForeignKey {
    /// Referencing columns, led by the tenant column.
    pub columns: &'static [&'static str],
    /// Referenced table (SQL name).
    pub references: &'static str,
}

/// What the macros know about one classified table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TableManifest {
    /// SQL name of the table.
    pub table: &'static str,
    /// Tenant-scoped or global.
    pub kind: TableKind,
    /// The tenant column (`None` for global tables).
    pub tenant_column: Option<&'static str>,
    /// Primary key columns; led by the tenant column on tenant-scoped tables.
    pub primary_key: &'static [&'static str],
    /// Declared indexes; each is led by the tenant column on tenant-scoped tables.
    pub indexes: &'static [&'static [&'static str]],
    /// Declared unique keys; each is led by the tenant column on tenant-scoped tables.
    pub uniques: &'static [&'static [&'static str]],
    /// Foreign keys to other tenant-scoped tables.
    pub foreign_keys: &'static [ForeignKey],
    /// All columns of the table, in declaration order.
    pub columns: &'static [&'static str],
    /// The Diesel SQL type of each column of [`TableManifest::columns`], paths reduced to
    /// their last segment: `Uuid`, `Nullable<Text>`, `Array<Nullable<Text>>`, `MemberRole`.
    pub column_types: &'static [&'static str],
}

#[doc(hidden)]
pub struct Registration(pub &'static TableManifest);

inventory::collect!(Registration);

/// One SQL table classified more than once in ways that scope it differently (tenant-scoped
/// and global, or with different tenant columns); found by [`conflicts`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "table `{table}` is classified twice, in conflicting ways: {first} and {second}; every `diesel::table!` naming it must carry the same classification"
)]
pub struct ClassificationConflict {
    /// SQL name of the table.
    pub table: &'static str,
    /// One classification, described.
    pub first: String,
    /// The other.
    pub second: String,
}

fn describe(m: &TableManifest) -> String {
    match (m.kind, m.tenant_column) {
        (TableKind::TenantScoped, Some(col)) => format!("tenant-scoped by `{col}`"),
        (TableKind::TenantScoped, None) => "tenant-scoped".to_owned(),
        (TableKind::Global, _) => "global".to_owned(),
    }
}

/// The tables of `manifests` classified in conflicting ways. The same SQL table declared in
/// two crates with the same classification (to join it with each crate's tables) is fine.
///
/// ```
/// let all: Vec<_> = tenancy_schema::registry();
/// assert!(tenancy_schema::classification_conflicts(&all).is_empty());
/// ```
#[must_use]
pub fn conflicts(manifests: &[&TableManifest]) -> Vec<ClassificationConflict> {
    let mut out: Vec<ClassificationConflict> = Vec::new();
    for (i, a) in manifests.iter().enumerate() {
        for b in &manifests[i + 1..] {
            if a.table == b.table
                && (a.kind, a.tenant_column) != (b.kind, b.tenant_column)
                && !out.iter().any(|c| c.table == a.table)
            {
                out.push(ClassificationConflict {
                    table: a.table,
                    first: describe(a),
                    second: describe(b),
                });
            }
        }
    }
    out
}

/// Every registration in this binary, duplicates included, for [`conflicts`].
#[must_use]
pub(crate) fn all_registrations() -> Vec<&'static TableManifest> {
    inventory::iter::<Registration>
        .into_iter()
        .map(|r| r.0)
        .collect()
}

/// Every table classified in this binary, sorted by name.
///
/// ```
/// // The runtime crate's own tests classify tables; a fresh binary may have none.
/// for table in tenancy_schema::registry() {
///     assert!(!table.table.is_empty());
/// }
/// ```
#[must_use]
pub fn registry() -> Vec<&'static TableManifest> {
    let mut all: Vec<_> = inventory::iter::<Registration>
        .into_iter()
        .map(|r| r.0)
        .collect();
    all.sort_by_key(|m| m.table);
    // The same table declared identically in two crates is listed once; conflicting
    // classifications are all kept, for `check` to report (TEN051).
    all.dedup();
    all
}

/// The tenant-scoped tables of this binary with their tenant columns, for the scoping layer
/// (which looks up every table name a statement mentions). Built once.
///
/// The table of tenants is among them when the binary classifies it (as a global table: it
/// has no tenant column), keyed by `id`: each row is one tenant's, and a tenant transaction
/// sees its own alone, as the table's policies let it, so that a typed query does not depend
/// on them for it; the system connection, which no policy lets read it, refuses it.
pub(crate) fn tenant_tables() -> &'static [crate::scope::ScopeEntry] {
    static TABLES: std::sync::OnceLock<Vec<crate::scope::ScopeEntry>> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let registry = registry();
        let mut tables: Vec<crate::scope::ScopeEntry> = registry
            .iter()
            .filter(|m| m.kind == TableKind::TenantScoped)
            .filter_map(|m| {
                Some(crate::scope::ScopeEntry {
                    table: m.table,
                    tenant_column: m.tenant_column?,
                })
            })
            .collect();
        if registry.iter().any(|m| {
            m.table == TENANTS_TABLE && m.kind == TableKind::Global && m.columns.contains(&"id")
        }) && !tables.iter().any(|e| e.table == TENANTS_TABLE)
        {
            tables.push(crate::scope::ScopeEntry {
                table: TENANTS_TABLE,
                tenant_column: "id",
            });
        }
        tables
    })
}

/// The table every tenant column references: the one the scoping layer shadows by `id`, and
/// `tenancy check`'s default ([`crate::check::CheckOptions::tenants_table`]).
pub(crate) const TENANTS_TABLE: &str = "tenants";

/// The SQL names of every table classified in this binary, tenant-scoped or global. Built
/// once.
pub(crate) fn table_names() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| registry().into_iter().map(|m| m.table).collect())
}

/// Whether `column` of `table` compares as a plain value: its Diesel SQL type is one of
/// PostgreSQL's own scalar types (in `Nullable`, `Array` or `Range` too), whose comparisons
/// fail on no stored value. A type of the application's own may be a composite, which
/// compares as a record, column by column, and fails where two columns' types differ once
/// those before them are equal: a comparison with it tells something of each row it is tested
/// on, so a filter on it keeps the guard behind the tenant predicate. An enum is taken for one
/// of those too (its name does not say which it is).
pub(crate) fn compares_as_value(table: &str, column: &str) -> bool {
    const SCALARS: &[&str] = &[
        "Bool",
        "SmallInt",
        "Int2",
        "Integer",
        "Int4",
        "BigInt",
        "Int8",
        "Float",
        "Float4",
        "Double",
        "Float8",
        "Numeric",
        "Decimal",
        "Text",
        "VarChar",
        "Varchar",
        "Bpchar",
        "Char",
        "Citext",
        "Binary",
        "Bytea",
        "Date",
        "Time",
        "Timestamp",
        "Timestamptz",
        "Interval",
        "Uuid",
        "Json",
        "Jsonb",
        "Inet",
        "Cidr",
        "MacAddr",
        "MacAddr8",
        "Money",
        "Oid",
    ];
    let Some(manifest) = lookup(table) else {
        return false;
    };
    let Some(at) = manifest.columns.iter().position(|c| *c == column) else {
        return false;
    };
    let mut ty = manifest.column_types.get(at).copied().unwrap_or("");
    for wrapper in ["Nullable<", "Array<", "Range<", "Nullable<"] {
        if let Some(inner) = ty.strip_prefix(wrapper).and_then(|t| t.strip_suffix('>')) {
            ty = inner;
        }
    }
    SCALARS.contains(&ty)
}

/// The manifest of one table, by SQL name.
#[must_use]
pub fn lookup(table: &str) -> Option<&'static TableManifest> {
    inventory::iter::<Registration>
        .into_iter()
        .map(|r| r.0)
        .find(|m| m.table == table)
}
