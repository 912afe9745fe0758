//! The entry point: which tables count as tenant tables, and the order the rule groups run in.
//! The registry-level rules (a classified table missing, a table classified twice) live here,
//! since they look at the registry as a whole rather than at one table or role.

use std::collections::{BTreeMap, BTreeSet};

use super::audit::check_audit_log;
use super::cascades::check_cascades;
use super::catalog::{Catalog, load_catalog};
use super::citus::{check_citus, load_citus};
use super::copying_row_code::check_copying_row_code;
use super::credentials::check_credentials;
use super::definers::check_definers_and_views;
use super::elsewhere::{
    check_foreign_servers, check_inherited_tenant_rows, check_tenant_rows_elsewhere,
};
use super::functions::{applied, check_functions};
use super::lints::Section;
use super::protected::{
    check_private_tables, check_tables_of_other_roles, check_tenants_table, marked_private,
};
use super::replication::check_replica_sessions;
use super::report::{Findings, Report};
use super::roles::{check_creatable_schemas, check_reach_and_context, check_role};
use super::side_channels::check_side_channels;
use super::tables::{check_partition_reached_through_parent, check_tenant_table};
use super::triggers::check_trigger_sinks;
use super::unclassified::check_unclassified_readable;
use crate::{Result, TableKind, TableManifest};

/// Options of [`run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    /// The schema holding the application's tables (default `public`).
    pub schema: String,
    /// The application role (default `tenancy_app`).
    pub app_role: String,
    /// The tenant column (default `tenant_id`) for tables the registry does not describe.
    pub tenant_column: String,
    /// The tenants table foreign keys must point to (default `tenants`).
    pub tenants_table: String,
    /// Also report readiness for a distributed engine (Citus).
    pub citus: bool,
    /// Migrations besides tenancy's core ones whose `tenancy.*` functions TEN072 compares with
    /// the database (the foundation schema's: `tenancy_foundation::migrations::FOUNDATION`).
    pub migrations: &'static [crate::migrations::MigrationFiles],
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            schema: "public".to_owned(),
            app_role: "tenancy_app".to_owned(),
            tenant_column: "tenant_id".to_owned(),
            tenants_table: crate::manifest::TENANTS_TABLE.to_owned(),
            citus: false,
            migrations: &[],
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Setting {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// Sets the session's `search_path` to `pg_catalog` first, then `schema` (and `public`, where
/// the application's migrations put what they do not qualify), then `pg_temp`; returns the
/// value it had.
fn pin_search_path(conn: &mut diesel::PgConnection, schema: &str) -> Result<String> {
    use diesel::RunQueryDsl;
    let saved: Setting =
        diesel::sql_query("SELECT current_setting('search_path') AS value").get_result(conn)?;
    diesel::sql_query(
        "SELECT set_config('search_path',
                           CASE WHEN $1 = 'public' THEN 'pg_catalog, public, pg_temp'
                                ELSE format('pg_catalog, %I, public, pg_temp', $1) END,
                           false) AS value",
    )
    .bind::<diesel::sql_types::Text, _>(schema)
    .get_result::<Setting>(conn)?;
    Ok(saved.value)
}

/// Puts back the `search_path` [`pin_search_path`] saved.
fn restore_search_path(conn: &mut diesel::PgConnection, saved: &str) -> Result<()> {
    use diesel::RunQueryDsl;
    diesel::sql_query("SELECT set_config('search_path', $1, false) AS value")
        .bind::<diesel::sql_types::Text, _>(saved)
        .get_result::<Setting>(conn)?;
    Ok(())
}

/// The core's migrations and `options`', oldest first.
fn known_migrations(options: &CheckOptions) -> Vec<&'static crate::migrations::MigrationFiles> {
    let mut migrations: Vec<&crate::migrations::MigrationFiles> = crate::migrations::MIGRATIONS
        .files()
        .into_iter()
        .chain(options.migrations)
        .collect();
    migrations.sort_by_key(|m| m.version());
    migrations.dedup_by_key(|m| m.name);
    migrations
}

/// Checks the database behind `conn` against `registry` and lints it.
///
/// The check reads definitions as PostgreSQL prints them, which depends on the session's
/// `search_path`: it runs with `pg_catalog` first (then the checked schema, `public` and
/// `pg_temp`), whatever the connection's role or database defaults say, so that an operator or
/// function of another schema never prints like PostgreSQL's own. It also runs with `jit`
/// off. The connection's `search_path` and `jit` are put back afterwards.
///
/// # Errors
/// A database error (the connection needs to read the catalogs; any role can).
pub fn run(
    conn: &mut diesel::PgConnection,
    registry: &[&TableManifest],
    options: &CheckOptions,
) -> Result<Report> {
    let saved = pin_search_path(conn, &options.schema)?;
    // The catalogs are small, but the planner prices the subqueries some catalog queries ask of
    // each function at millions, and compiling such a query with JIT takes seconds each time.
    let saved_jit = match set_setting(conn, "jit", "off") {
        Ok(jit) => jit,
        Err(e) => {
            restore_search_path(conn, &saved)?;
            return Err(e);
        }
    };
    // Roles belong to the server, not the database: one dropped between the query that listed
    // the roles the application may act as and a later query asking of it fails that query
    // ("role ... does not exist"). The catalogs are read afresh on each try.
    let mut report = run_pinned(conn, registry, options);
    for _ in 0..2 {
        match &report {
            Err(e) if role_vanished(e) => report = run_pinned(conn, registry, options),
            _ => break,
        }
    }
    let restored_jit = set_setting(conn, "jit", &saved_jit);
    let restored = restore_search_path(conn, &saved);
    let report = report?;
    restored_jit?;
    restored?;
    Ok(report)
}

/// Whether `e` is a query failing because a role it named was dropped meanwhile.
fn role_vanished(e: &crate::Error) -> bool {
    let crate::Error::Query(diesel::result::Error::DatabaseError(_, info)) = e else {
        return false;
    };
    let message = info.message();
    (message.starts_with("role \"") && message.ends_with("\" does not exist"))
        || (message.starts_with("role with OID ") && message.ends_with(" does not exist"))
}

/// Sets the session's setting `name` to `value`; returns the value it had.
fn set_setting(conn: &mut diesel::PgConnection, name: &str, value: &str) -> Result<String> {
    use diesel::RunQueryDsl;
    let saved: Setting = diesel::sql_query("SELECT current_setting($1) AS value")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result(conn)?;
    diesel::sql_query("SELECT set_config($1, $2, false) AS value")
        .bind::<diesel::sql_types::Text, _>(name)
        .bind::<diesel::sql_types::Text, _>(value)
        .get_result::<Setting>(conn)?;
    Ok(saved.value)
}

/// [`run`], on a session whose `search_path` is pinned.
fn run_pinned(
    conn: &mut diesel::PgConnection,
    registry: &[&TableManifest],
    options: &CheckOptions,
) -> Result<Report> {
    let known = known_migrations(options);
    let migrations = applied(conn, &known)?;
    let tenancys = super::functions::Tenancys::new(conn, &known, &migrations)?;
    let mut catalog = load_catalog(conn, options, &tenancys.vetted())?;
    // A table the migrations marked private stays private when its comment was changed since.
    for table in marked_private(&migrations) {
        if let Some(t) = catalog.tables.get_mut(&table) {
            t.private = true;
        }
    }
    let mut f = Findings(Vec::new());
    let classified: BTreeMap<&str, &TableManifest> =
        registry.iter().map(|m| (m.table, *m)).collect();

    let tenant_tables = tenant_tables(&catalog, registry, options);

    for m in registry {
        if !catalog.tables.contains_key(m.table) {
            f.add("TEN001", format!("table {}", m.table), format!("`{}` is classified in the code but does not exist in schema `{}`", m.table, options.schema), "run the migrations (`tenancy migrate` or `diesel migration run`), or remove the model");
        }
    }
    let checked = check_tenant_tables(&mut f, &catalog, &tenant_tables, &classified, options);
    super::unlinked_references::check_unlinked_references(
        &mut f,
        &catalog,
        &tenant_tables,
        options,
    );
    check_global_tables(&mut f, &catalog, registry, options);
    let known_tables = (registry, &tenant_tables, known.as_slice());
    check_unclassified_readable(&mut f, conn, &catalog, known_tables, options)?;
    check_role(&mut f, &catalog, options);
    check_reach_and_context(&mut f, &catalog, options);
    super::database_owner::check_database_owners(&mut f, &catalog, options);
    check_replica_sessions(&mut f, &catalog, options);
    check_creatable_schemas(&mut f, &catalog, options);
    check_classification(&mut f, registry);
    let protected = protected_tables(&catalog, &tenant_tables, options);
    check_definers_and_views(&mut f, &catalog, &protected, options, &tenancys);
    super::shared_writes::check_shared_writes(
        &mut f, &catalog, registry, &protected, options, &tenancys,
    );
    check_tenants_table(&mut f, &catalog, options);
    check_private_tables(&mut f, &catalog, options);
    check_tables_of_other_roles(&mut f, &catalog, options);
    check_trigger_sinks(&mut f, &catalog, &protected, options, &tenancys);
    check_copying_row_code(&mut f, &catalog, &protected, options, &tenancys);
    check_tenant_rows_elsewhere(&mut f, &catalog, &tenant_tables, options);
    super::probing_keys::check_probing_keys(&mut f, &catalog, &tenant_tables, options);
    super::elsewhere::check_keys_elsewhere(&mut f, &catalog, &tenant_tables, options);
    super::key_share_locks::check_key_share_locks(&mut f, conn, &catalog, &tenant_tables, options)?;
    check_inherited_tenant_rows(&mut f, &catalog, &tenant_tables, options);
    check_foreign_servers(&mut f, &catalog, options);
    check_side_channels(&mut f, &catalog, options);
    check_cascades(&mut f, &catalog, options);
    check_credentials(&mut f, &catalog, options);
    check_functions(&mut f, conn, options, &migrations, &known, &protected)?;
    super::search_path::check_search_path(&mut f, conn, &catalog, options)?;
    check_grants_and_settings(&mut f, conn, &catalog, &protected, options)?;
    super::shared_sequences::check_shared_sequences(&mut f, conn, &tenant_tables, options)?;
    check_safeguards(&mut f, conn, &catalog, &protected, &migrations, options)?;
    if options.citus {
        // Tables the code classifies but the database lacks are TEN001's.
        let existing: BTreeMap<String, String> = tenant_tables
            .iter()
            .filter(|(t, _)| {
                catalog.tables.contains_key(*t)
                    && !catalog.partition_reached_through_parent(t, &tenant_tables)
            })
            .map(|(t, c)| (t.clone(), c.clone()))
            .collect();
        if let Some(state) = load_citus(conn, options, &existing)? {
            check_citus(&mut f, &state, &existing);
        }
    }
    check_audit_log(&mut f, &catalog, options);
    let mut findings = f.0;
    if !options.citus {
        findings.retain(|x| x.section != Section::Citus);
    }
    findings.sort_by(|a, b| {
        (a.section, a.severity, a.id, &a.object).cmp(&(b.section, b.severity, b.id, &b.object))
    });
    findings.dedup();
    Ok(Report {
        tables_checked: checked,
        findings,
    })
}

/// The rules of each tenant table ([`check_tenant_table`]); how many tables they checked.
fn check_tenant_tables(
    f: &mut Findings,
    catalog: &Catalog,
    tenant_tables: &BTreeMap<String, String>,
    classified: &BTreeMap<&str, &TableManifest>,
    options: &CheckOptions,
) -> usize {
    let mut checked = 0;
    for (table, col) in tenant_tables {
        let Some(t) = catalog.tables.get(table) else {
            continue;
        };
        // The policies every query through the parent runs under, and the parent's model,
        // are the parent's checks'.
        if catalog.partition_reached_through_parent(table, tenant_tables) {
            check_partition_reached_through_parent(
                f,
                (catalog, tenant_tables),
                options,
                table,
                col,
            );
            continue;
        }
        checked += 1;
        check_tenant_table(
            f,
            (catalog, tenant_tables),
            options,
            table,
            col,
            t,
            classified.get(table.as_str()).copied(),
        );
    }
    checked
}

/// The rules that read grants, settings and objects beyond the tables and roles: default
/// privileges, PUBLIC's grants on tenant tables, setting defaults, publications and
/// subscriptions, large objects, foreign-data wrappers, languages, native functions outside
/// extensions, CREATEDB, `pg_signal_backend`, the contrib
/// extensions that read pages, pg_stat_statements, the server's other databases the
/// application may connect to.
fn check_grants_and_settings(
    f: &mut Findings,
    conn: &mut diesel::PgConnection,
    catalog: &Catalog,
    protected: &BTreeSet<String>,
    options: &CheckOptions,
) -> Result<()> {
    super::default_privileges::check_default_privileges(f, conn, catalog, options)?;
    super::public_grants::check_public_grants(f, conn, protected, options)?;
    super::session_settings::check_session_settings(f, conn, catalog, options)?;
    super::publications::check_publications(f, conn, protected, options)?;
    super::large_object_grants::check_large_object_grants(f, conn, catalog, options)?;
    super::foreign_wrappers::check_foreign_wrappers(f, conn, catalog, options)?;
    super::view_mappings::check_view_mappings(f, conn, catalog, options)?;
    super::languages::check_languages(f, conn, catalog, options)?;
    super::native_code::check_native_code(f, conn, catalog, options)?;
    super::create_database::check_create_database(f, conn, catalog, options)?;
    super::signal_backends::check_signal_backends(f, conn, catalog, options)?;
    super::page_inspection::check_page_inspection(f, conn, catalog, options)?;
    super::statement_statistics::check_statement_statistics(f, conn, catalog, options)?;
    super::other_databases::check_other_databases(f, conn, catalog, options)?;
    Ok(())
}

/// The rules about what the tables and the context rely on besides privileges and policies:
/// the operator classes of their indexes (TEN101), the session numbering of the context
/// (TEN102), its key (TEN105) and what is attached to the key's table (TEN067), the operators
/// and functions its policies use (TEN107), the guard triggers of the migrations (TEN103), the
/// references a reviewed SECURITY DEFINER function follows (TEN104), event triggers (TEN109)
/// and TOAST relations (TEN110).
fn check_safeguards(
    f: &mut Findings,
    conn: &mut diesel::PgConnection,
    catalog: &Catalog,
    protected: &BTreeSet<String>,
    migrations: &[&crate::migrations::MigrationFiles],
    options: &CheckOptions,
) -> Result<()> {
    super::index_operator_classes::check_index_operator_classes(f, conn, protected, options)?;
    super::session_sequence::check_session_sequence(f, conn, options)?;
    super::context_key::check_context_key(f, conn)?;
    super::key_attachments::check_key_attachments(f, conn)?;
    super::key_exposure::check_key_in_catalogs(f, conn)?;
    super::event_triggers::check_event_triggers(f, conn)?;
    super::toast::check_toast(f, conn)?;
    super::shipped_objects::check_shipped_objects(f, conn)?;
    super::policy_lookalikes::check_policy_lookalikes(f, conn, options)?;
    super::guard_triggers::check_guard_triggers(f, conn, migrations, options)?;
    // The tenant tables: what is protected but for the tenants table and the private ones.
    let tenant_names: BTreeSet<&str> = protected
        .iter()
        .map(String::as_str)
        .filter(|t| {
            *t != options.tenants_table && !catalog.tables.get(*t).is_some_and(|r| r.private)
        })
        .collect();
    super::pointed_references::check_pointed_references(f, conn, catalog, &tenant_names, options)?;
    Ok(())
}

/// The tenant tables, by name, with their tenant column: classified tenant-scoped ones, any
/// table with the tenant column, any with a foreign key of one column to the tenants table
/// (whatever the code declares it), any a foreign key ties to a tenant table through its
/// tenant column, and any with a column named like one of theirs.
pub(super) fn tenant_tables(
    catalog: &Catalog,
    registry: &[&TableManifest],
    options: &CheckOptions,
) -> BTreeMap<String, String> {
    let mut tenant_tables: BTreeMap<String, String> = BTreeMap::new();
    for m in registry
        .iter()
        .filter(|m| m.kind == TableKind::TenantScoped)
    {
        let col = m.tenant_column.unwrap_or(&options.tenant_column);
        tenant_tables.insert(m.table.to_owned(), col.to_owned());
    }
    for table in catalog.columns.keys() {
        if catalog.has_tenant_column(table, options) {
            tenant_tables
                .entry(table.clone())
                .or_insert_with(|| options.tenant_column.clone());
        }
    }
    // A table whose rows each belong to a tenant through a column named otherwise (`org_id
    // REFERENCES tenants`) holds tenant rows as much, whatever the code declares it (a
    // `#[global_table]` one is TEN051's too).
    for (table, keys) in &catalog.keys {
        if *table == options.tenants_table || tenant_tables.contains_key(table) {
            continue;
        }
        if let Some(k) = keys.iter().find(|k| {
            k.kind == "f"
                && k.columns.len() == 1
                && k.target.as_deref() == Some(options.tenants_table.as_str())
        }) {
            tenant_tables.insert(table.clone(), k.columns[0].clone());
        }
    }
    // A table tied to a tenant table by a foreign key that carries its tenant column
    // (`(owner, gadget) REFERENCES gadgets (tenant_id, id)`) holds that tenant's rows too, and
    // so on down a chain of such keys.
    loop {
        let mut found: Vec<(String, String)> = Vec::new();
        for (table, keys) in &catalog.keys {
            if *table == options.tenants_table || tenant_tables.contains_key(table) {
                continue;
            }
            let carried = keys.iter().filter(|k| k.kind == "f").find_map(|k| {
                let target_column = tenant_tables.get(k.target.as_deref()?)?;
                let i = k
                    .target_columns
                    .as_ref()?
                    .iter()
                    .position(|c| c == target_column)?;
                k.columns.get(i).cloned()
            });
            if let Some(column) = carried {
                found.push((table.clone(), column));
            }
        }
        if found.is_empty() {
            break;
        }
        tenant_tables.extend(found);
    }
    // A table with a column named like another tenant table's tenant column (`org_id`, where
    // tenants are organisations) holds tenant rows too, even with no key to say so: a copy or
    // an export that kept the column.
    let names: BTreeSet<String> =
        super::elsewhere::tenant_column_names(catalog, &tenant_tables, options)
            .into_iter()
            .map(str::to_owned)
            .collect();
    let copies: Vec<(String, String)> = catalog
        .columns
        .iter()
        .filter(|(table, _)| {
            **table != options.tenants_table && !tenant_tables.contains_key(*table)
        })
        .filter_map(|(table, columns)| {
            let column = columns.iter().find(|c| names.contains(&c.column_name))?;
            Some((table.clone(), column.column_name.clone()))
        })
        .collect();
    tenant_tables.extend(copies);
    tenant_tables
}

/// What code that runs with its owner's rights must not hand out: the tenant tables' rows, and
/// those of the tenants table and of a private table.
fn protected_tables<V>(
    catalog: &Catalog,
    tenant_tables: &BTreeMap<String, V>,
    options: &CheckOptions,
) -> BTreeSet<String> {
    tenant_tables
        .keys()
        .cloned()
        .chain(
            catalog
                .tables
                .iter()
                .filter(|(table, t)| t.private || **table == options.tenants_table)
                .map(|(table, _)| table.clone()),
        )
        .collect()
}

/// Global tables the code classifies that the application role cannot read: tenant
/// transactions join them and the system connection reads them, so every such query would
/// fail with "permission denied".
fn check_global_tables(
    f: &mut Findings,
    catalog: &Catalog,
    registry: &[&TableManifest],
    options: &CheckOptions,
) {
    // The table of tenants is global, yet each row is one tenant's: its status decides
    // whether that tenant's transactions open at all.
    if let Some(t) = catalog.tables.get(&options.tenants_table)
        && t.app_can_write
    {
        f.add(
            "TEN053",
            format!("table {}", options.tenants_table),
            format!(
                "`{}` may write `{}`: SQL in one tenant's transaction can suspend, delete or reactivate another tenant",
                options.app_role, options.tenants_table
            ),
            format!(
                "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {} FROM {}, PUBLIC; the control plane writes it through Tenancy::admin",
                options.tenants_table, options.app_role
            ),
        );
    }
    for m in registry.iter().filter(|m| m.kind == TableKind::Global) {
        let Some(t) = catalog.tables.get(m.table) else {
            continue;
        };
        // Every tenant reads a global table: one tenant's SQL that writes it changes what all
        // of them read (the foundation's `role_permissions` decides every tenant's roles).
        if t.app_can_write && !t.private && m.table != options.tenants_table {
            f.add(
                "TEN057",
                format!("table {}", m.table),
                format!(
                    "`{}` may write the global table `{}`: SQL in one tenant's transaction changes rows every tenant reads",
                    options.app_role, m.table
                ),
                format!(
                    "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {table} FROM {role}, PUBLIC (and any column grants); write it through Tenancy::admin, or classify it #[tenant_scoped] if its rows are a tenant's",
                    table = m.table,
                    role = options.app_role
                ),
            );
        }
        if !t.app_can_select && !t.private {
            f.add(
                "TEN052",
                format!("table {}", m.table),
                format!(
                    "`{}` is classified global but `{}` cannot read it: tenant transactions that join it and the system connection fail with \"permission denied\"",
                    m.table, options.app_role
                ),
                format!(
                    "GRANT SELECT ON {table} TO {role}; or, when no query of the application reads it, COMMENT ON TABLE {table} IS 'tenancy: private: <why>'",
                    table = m.table,
                    role = options.app_role
                ),
            );
        }
    }
}

/// Tables registered more than once in ways that scope them differently.
fn check_classification(f: &mut Findings, registry: &[&TableManifest]) {
    for conflict in crate::manifest::conflicts(registry) {
        f.add(
            "TEN051",
            format!("table {}", conflict.table),
            conflict.to_string(),
            "classify each SQL table once; a second `table!` for the same table must carry the same classification and tenant column",
        );
    }
}
