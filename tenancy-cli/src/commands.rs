//! `migrate`, `check`, `new-table` and `audit verify`.

use std::path::Path;

use diesel::PgConnection;
use diesel_migrations::MigrationHarness;
use tenancy_cli::app_schema::AppSchemaError;
use tenancy_cli::new_table::{self, Column, Reference, TableSpec};
use tenancy_cli::{audit, report};
use tenancy_schema::check::{self, CheckOptions};
use tenancy_schema::migrations::MigrationSet;

use crate::db::Database;
use crate::{
    CheckArgs, Failure, Format, InitArgs, MigrateArgs, NewTableArgs, VerifyArgs, errln, outln,
};

/// What to do when a migration fails.
const MIGRATION_TODO: &str = "the failing migration was rolled back; fix the cause and run `tenancy migrate` again (the first run needs a role allowed to create roles, such as a superuser)";

/// Whether the database has one of the foundation schema's migrations applied.
fn has_foundation(conn: &mut PgConnection) -> Result<bool, Failure> {
    let applied = conn.applied_migrations().map_err(|e| {
        Failure::failed(
            format!("could not read the applied migrations: {e}"),
            MIGRATION_TODO,
        )
    })?;
    Ok(applied
        .iter()
        .any(|v| tenancy_cli::init::is_foundation_version(&v.to_string())))
}

/// The core's migrations, and the foundation's too when `foundation` is asked for or the
/// database already has one of them (so that an upgrade applies the foundation's new ones).
fn chosen_set(conn: &mut PgConnection, foundation: bool) -> Result<MigrationSet, Failure> {
    Ok(tenancy_cli::init::set_for(
        foundation || has_foundation(conn)?,
    ))
}

/// Applies the pending migrations of `set`, printing what it does unless `quiet`; returns the
/// names of the applied migrations.
fn apply_migrations(
    conn: &mut PgConnection,
    set: MigrationSet,
    quiet: bool,
) -> Result<Vec<String>, Failure> {
    let pending: Vec<(String, String)> = conn
        .pending_migrations(set)
        .map_err(|e| {
            Failure::failed(
                format!("could not read the applied migrations: {e}"),
                MIGRATION_TODO,
            )
        })?
        .iter()
        .map(|m| (m.name().version().to_string(), m.name().to_string()))
        .collect();
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    if !quiet {
        outln!("applying {} pending migrations...", pending.len());
    }
    let applied = set
        .run(conn)
        .map_err(|e| Failure::failed(e.to_string(), MIGRATION_TODO))?;
    let names: Vec<String> = applied
        .iter()
        .map(|version| {
            pending
                .iter()
                .find(|(v, _)| v == version)
                .map_or_else(|| version.clone(), |(_, name)| name.clone())
        })
        .collect();
    if !quiet {
        for name in &names {
            outln!("  applied {name}");
        }
    }
    Ok(names)
}

/// `tenancy migrate`.
pub(crate) fn migrate(url: Option<&str>, args: &MigrateArgs) -> Result<u8, Failure> {
    let db = Database::open(url)?;
    let mut conn = db.connect()?;
    let set = chosen_set(&mut conn, args.foundation)?;
    let applied = apply_migrations(&mut conn, set, false)?;
    if applied.is_empty() {
        let total = conn.applied_migrations().map_or(0, |v| v.len());
        outln!("up to date: all {total} tenancy migrations are applied, nothing to do");
    } else {
        outln!(
            "applied {} migration{}; the database is up to date",
            applied.len(),
            if applied.len() == 1 { "" } else { "s" }
        );
    }
    if db.is_throwaway() {
        errln!(
            "note: the throwaway cluster is removed now; set DATABASE_URL to migrate a real database"
        );
    }
    Ok(0)
}

/// `tenancy check`.
pub(crate) fn check(url: Option<&str>, args: &CheckArgs) -> Result<u8, Failure> {
    // The application's tables are read before the database is opened: a file that cannot be
    // read stops the check (which would pass without them) before it starts a cluster.
    let schema_rs = match &args.schema_rs {
        Some(path) => Some(path.clone()),
        None => tenancy_cli::app_schema::schema_rs_of(Path::new(".")).map_err(|e| {
            let todo = if matches!(e, AppSchemaError::MissingSchemaRs { .. }) {
                "run `diesel migration run` (it writes that file), correct [print_schema] file, or point --schema-rs at your schema.rs"
            } else {
                "fix diesel.toml (check reads the application's tables from the file its [print_schema] file names), or point --schema-rs at your schema.rs"
            };
            Failure::usage(e.to_string(), todo)
        })?,
    };
    let app = match &schema_rs {
        Some(path) => Some((
            path,
            tenancy_cli::app_schema::classified_tables(path).map_err(|e| {
                Failure::usage(
                    e.to_string(),
                    "point --schema-rs at your schema.rs, or fix the file so that it compiles",
                )
            })?,
        )),
        None => None,
    };
    let db = Database::open(url)?;
    let mut conn = db.connect()?;
    if db.is_throwaway() {
        let applied =
            apply_migrations(&mut conn, tenancy_foundation::migrations::MIGRATIONS, true)?;
        errln!(
            "applied {} migrations to the throwaway database; checking it",
            applied.len()
        );
    }
    let options = CheckOptions {
        schema: args.schema.clone(),
        app_role: args.app_role.to_string(),
        citus: args.citus,
        migrations: tenancy_foundation::migrations::FOUNDATION,
        ..CheckOptions::default()
    };
    // The tables this binary registers are the foundation schema's: checked where it is
    // installed, not reported missing where an application runs on the core alone.
    let mut registry = if has_foundation(&mut conn)? {
        tenancy_schema::registry()
    } else {
        Vec::new()
    };
    if let Some((path, app)) = app {
        // The application's declaration of a table tenancy already declares (print-schema
        // copies the foundation's tables) replaces tenancy's: it is the one the app compiles.
        registry.retain(|m| !app.iter().any(|a| a.table == m.table));
        errln!(
            "checking {} table(s) classified in {}",
            app.len(),
            path.display()
        );
        registry.extend(app);
    }
    let report = check::run(&mut conn, &registry, &options).map_err(|e| {
        Failure::usage(
            format!("could not check the database: {e}"),
            "check that the url names the application's database and that the tenancy migrations were applied (`tenancy migrate`)",
        )
    })?;
    match args.format {
        Format::Human => outln!("{}", report::render_human(&report).trim_end()),
        Format::Json => outln!("{}", report::render_json(&report)),
    }
    Ok(u8::from(report.has_errors()))
}

/// `tenancy print-schema`.
pub(crate) fn print_schema(url: Option<&str>) -> Result<u8, Failure> {
    let Some(url) = url else {
        return Err(Failure::usage(
            "print-schema needs the application's database",
            "pass --database-url or set DATABASE_URL",
        ));
    };
    let target = tenancy_cli::app_schema::configured_schema_rs(Path::new(".")).map_err(|e| {
        Failure::usage(
            e.to_string(),
            "fix diesel.toml (print-schema writes the file its [print_schema] file names)",
        )
    })?;
    let db = Database::open(Some(url))?;
    let Some(diesel) = tenancy_testing::find_diesel_cli() else {
        return Err(Failure::failed(
            "the diesel CLI was not found",
            "cargo install diesel_cli --no-default-features --features postgres",
        ));
    };
    let out = std::process::Command::new(&diesel)
        .args(["print-schema", "--database-url", url])
        .output()
        .map_err(|e| {
            Failure::failed(
                format!("running {}: {e}", diesel.display()),
                "check the diesel CLI",
            )
        })?;
    if !out.status.success() {
        return Err(Failure::failed(
            format!(
                "diesel print-schema failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "run `diesel print-schema` to see why",
        ));
    }
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut conn = db.connect()?;
    let derived = check::derive_classification(&mut conn, &CheckOptions::default())
        .map_err(|e| Failure::failed(format!("reading the catalog: {e}"), "check the url"))?;
    let classified = tenancy_cli::print_schema::classify(&printed, &derived);
    if let Some(path) = target {
        std::fs::write(&path, &classified).map_err(|e| {
            Failure::failed(format!("writing {}: {e}", path.display()), "check the path")
        })?;
        errln!(
            "wrote {} ({} tables classified)",
            path.display(),
            derived.len()
        );
    } else {
        outln!("{}", classified.trim_end());
    }
    Ok(0)
}

/// `tenancy init`.
pub(crate) fn init(args: &InitArgs) -> Result<u8, Failure> {
    let dir = match &args.migrations_dir {
        Some(dir) => dir.clone(),
        None => tenancy_cli::init::migrations_dir(Path::new(".")).map_err(|e| {
            Failure::usage(
                e.to_string(),
                "fix diesel.toml ([migrations_directory] dir = \"path\"), or pass --migrations-dir",
            )
        })?,
    };
    let cannot_write = |e: tenancy_cli::init::InitError| {
        Failure::failed(e.to_string(), "check the directory's permissions")
    };
    let set = tenancy_cli::init::chosen_set(&dir, args.foundation).map_err(cannot_write)?;
    let outcome = tenancy_cli::init::write_missing(&dir, &set).map_err(cannot_write)?;
    for name in &outcome.written {
        outln!("created {}", dir.join(name).display());
    }
    for differing in &outcome.changed {
        errln!(
            "warning: {} has the version of tenancy's migration {} but a different up.sql: left as it is",
            differing.existing.display(),
            differing.name
        );
    }
    outln!(
        "{} migration(s) written, {} already there, into {}",
        outcome.written.len(),
        outcome.present.len() + outcome.changed.len(),
        dir.display()
    );
    if !outcome.written.is_empty() {
        outln!("next: diesel migration run, then tenancy print-schema");
    }
    Ok(0)
}

/// `tenancy new-table`.
pub(crate) fn new_table(args: &NewTableArgs) -> Result<u8, Failure> {
    let invalid = |e: new_table::SpecError| Failure::usage_message(e.to_string());
    let mut spec = TableSpec::new(args.name.clone());
    spec.global = args.global;
    spec.global_tables = new_table::global_tables_in(&args.migrations_dir);
    spec.no_tenants_table = new_table::core_alone_in(&args.migrations_dir);
    if args.citus {
        spec.context_read = tenancy_schema::policy::ContextRead::Call;
    }
    for column in &args.columns {
        spec.columns
            .push(column.parse::<Column>().map_err(invalid)?);
    }
    for key in &args.indexes {
        spec.indexes
            .push(new_table::parse_column_list(key).map_err(invalid)?);
    }
    for key in &args.uniques {
        spec.uniques
            .push(new_table::parse_column_list(key).map_err(invalid)?);
    }
    for reference in &args.references {
        spec.references
            .push(reference.parse::<Reference>().map_err(invalid)?);
    }
    let migration = new_table::render(&spec).map_err(invalid)?;
    let table = new_table::diesel_table(&spec).map_err(invalid)?;
    if args.print {
        outln!("-- up.sql\n{}", migration.up);
        outln!("-- down.sql\n{}", migration.down.trim_end());
        return Ok(0);
    }
    let dir = migration
        .write(&args.migrations_dir, chrono::Utc::now())
        .map_err(|e| Failure::usage_message(e.to_string()))?;
    outln!("created {}", dir.join("up.sql").display());
    outln!("created {}", dir.join("down.sql").display());
    outln!();
    outln!("next:");
    outln!("  1. review up.sql, then apply it: diesel migration run");
    outln!("  2. classify it: tenancy print-schema (it writes this into your schema.rs):");
    outln!();
    for line in table.lines() {
        if line.is_empty() {
            outln!();
        } else {
            outln!("       {line}");
        }
    }
    outln!();
    outln!("  3. check the database: tenancy check");
    Ok(0)
}

/// `tenancy audit verify`.
pub(crate) fn audit_verify(url: Option<&str>, args: &VerifyArgs) -> Result<u8, Failure> {
    let only = args
        .tenant
        .as_deref()
        .map(|text| {
            audit::parse_tenant(text).map_err(|e| {
                Failure::usage(e.to_string(), "pass --tenant ten_<32 hex digits> or a UUID")
            })
        })
        .transpose()?;
    let db = Database::open(url)?;
    let mut conn = db.connect()?;
    if db.is_throwaway() {
        let applied =
            apply_migrations(&mut conn, tenancy_foundation::migrations::MIGRATIONS, true)?;
        errln!(
            "applied {} migrations to the throwaway database; verifying it",
            applied.len()
        );
    }
    let query_failed = |e: diesel::result::Error| {
        Failure::usage(
            format!("could not verify the audit chains: {e}"),
            "check that the url names the application's database and that the tenancy migrations were applied (`tenancy migrate`)",
        )
    };
    let sees_all = audit::sees_all_tenants(&mut conn).map_err(query_failed)?;
    let tenants = match only {
        Some(tenant) => {
            let known = if sees_all {
                audit::tenants(&mut conn)
                    .map_err(query_failed)?
                    .into_iter()
                    .find(|(id, _)| *id == tenant)
            } else {
                None
            };
            if sees_all && known.is_none() {
                return Err(Failure::failed(
                    format!("tenant {tenant} does not exist"),
                    "pass the id of an existing tenant (`tenancy audit verify` lists them all)",
                ));
            }
            vec![known.unwrap_or((tenant, String::new()))]
        }
        None if sees_all => audit::tenants(&mut conn).map_err(query_failed)?,
        None => {
            return Err(Failure::usage(
                "the connecting role can not list the tenants (row level security hides them)",
                "connect as a superuser or a BYPASSRLS role, or pass --tenant ID",
            ));
        }
    };
    errln!("verifying the audit chains of {} tenant(s)", tenants.len());
    let mut broken = 0usize;
    for (tenant, slug) in &tenants {
        let status = audit::verify_chain(&mut conn, *tenant).map_err(query_failed)?;
        let label = if slug.is_empty() {
            tenant.to_string()
        } else {
            format!("{tenant} ({slug})")
        };
        match status.broken_at {
            None => outln!(
                "{label}: ok ({} entr{})",
                status.entries,
                if status.entries == 1 { "y" } else { "ies" }
            ),
            Some(entry) => {
                broken += 1;
                outln!(
                    "{label}: broken at {entry} (uuid {})",
                    entry.as_uuid().hyphenated()
                );
            }
        }
    }
    if broken == 0 {
        outln!(
            "{} audit chain{} verified, none broken",
            tenants.len(),
            if tenants.len() == 1 { "" } else { "s" }
        );
        Ok(0)
    } else {
        Err(Failure::failed(
            format!("{broken} of {} audit chains are broken", tenants.len()),
            "each broken chain names its first entry that does not verify: that entry or one before it was changed; investigate, the log cannot be repaired in place",
        ))
    }
}
