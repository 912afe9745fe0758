//! The up/down SQL of the new table, and writing it as a Diesel migration.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{
    error::SpecError,
    names::{ADMIN_ROLE, APP_ROLE, MAX_IDENTIFIER_LEN, TENANTS_TABLE},
    spec::{TableSpec, Target},
};
use chrono::{DateTime, Utc};

/// A migration pair, as Diesel lays it out: `<timestamp>_<name>/{up,down}.sql`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The part of the directory name after the timestamp: `create_<table>`.
    pub name: String,
    /// `up.sql`.
    pub up: String,
    /// `down.sql`.
    pub down: String,
}

/// Why [`Migration::write`] wrote nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The migrations directory does not exist.
    #[error(
        "migrations directory {} does not exist; run from your project's root or pass --migrations-dir",
        dir.display()
    )]
    MissingDirectory {
        /// The directory.
        dir: PathBuf,
    },
    /// A migration with the same name exists already.
    #[error(
        "a migration named `{name}` exists already ({}); edit it, or pick another table name",
        existing.display()
    )]
    AlreadyExists {
        /// The migration name (`create_<table>`).
        name: String,
        /// The existing migration directory.
        existing: PathBuf,
    },
    /// Reading the directory or writing a file failed.
    #[error("could not write {}: {source}; check the directory's permissions", path.display())]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl Migration {
    /// The directory name for a migration created at `at`: `YYYY-MM-DD-HHMMSS_<name>`, the
    /// format `diesel migration generate` uses.
    #[must_use]
    pub fn directory_name(&self, at: DateTime<Utc>) -> String {
        format!("{}_{}", at.format("%Y-%m-%d-%H%M%S"), self.name)
    }

    /// Writes `up.sql` and `down.sql` into a new directory under `migrations_dir` (which must
    /// exist) and returns the new directory. Refuses to write when a migration of the same
    /// name exists.
    ///
    /// # Errors
    /// A [`WriteError`]; a partly written directory is removed again.
    pub fn write(&self, migrations_dir: &Path, at: DateTime<Utc>) -> Result<PathBuf, WriteError> {
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| WriteError::Io { path, source }
        };
        if !migrations_dir.is_dir() {
            return Err(WriteError::MissingDirectory {
                dir: migrations_dir.to_path_buf(),
            });
        }
        let suffix = format!("_{}", self.name);
        for entry in fs::read_dir(migrations_dir).map_err(io_error(migrations_dir))? {
            let entry = entry.map_err(io_error(migrations_dir))?;
            if entry.file_name().to_string_lossy().ends_with(&suffix) {
                return Err(WriteError::AlreadyExists {
                    name: self.name.clone(),
                    existing: entry.path(),
                });
            }
        }
        let dir = migrations_dir.join(self.directory_name(at));
        fs::create_dir(&dir).map_err(io_error(&dir))?;
        let written = [("up.sql", &self.up), ("down.sql", &self.down)]
            .into_iter()
            .try_for_each(|(file, text)| {
                let path = dir.join(file);
                fs::write(&path, text).map_err(io_error(&path))
            });
        if let Err(err) = written {
            let _ = fs::remove_dir_all(&dir);
            return Err(err);
        }
        Ok(dir)
    }
}

/// The migration pair creating the table `spec` describes (see the module docs for what it
/// contains).
///
/// # Errors
/// The first problem [`TableSpec::validate`] finds.
pub fn render(spec: &TableSpec) -> Result<Migration, SpecError> {
    let targets = spec.targets()?;
    if spec.global {
        return Ok(render_global(spec, &targets));
    }
    let table = spec.name.as_str();
    let mut up = String::new();
    // Writing to a `String` cannot fail; `w!` keeps the generator readable.
    macro_rules! w {
        ($($arg:tt)*) => { let _ = writeln!(up, $($arg)*); };
    }
    w!("-- Tenant-scoped table `{table}`, written by `tenancy new-table`.");
    w!("--");
    w!("-- `tenant_id` leads the primary key and every unique key, index and foreign key");
    w!("-- between tenant tables; row level security is enabled and forced, with the permissive");
    w!("-- `tenant_access` policy ({APP_ROLE} and the migrating role) and the RESTRICTIVE");
    w!(
        "-- `tenant_isolation` policy (everyone), both on `tenant_id = (SELECT tenancy.current_tenant())`"
    );
    w!("-- (the sub-select reads the tenant once per statement, not once per row).");
    w!("-- `tenancy check` passes on it as written: keep `tenant_id` in any key you add.");
    w!();
    let mut lines = vec![
        "tenant_id uuid NOT NULL".to_owned(),
        "id uuid NOT NULL DEFAULT tenancy.uuid_v7()".to_owned(),
    ];
    // Added by `tenancy.distribute`, after the table is distributed (see below).
    let mut foreign_keys = Vec::new();
    if !spec.no_tenants_table {
        foreign_keys.push(format!(
            "FOREIGN KEY (tenant_id) REFERENCES {TENANTS_TABLE} (id) ON DELETE CASCADE"
        ));
    }
    for column in &spec.columns {
        let null = if column.nullable { "" } else { " NOT NULL" };
        lines.push(format!("{} {}{null}", column.name, column.ty.sql()));
    }
    lines.push("created_at timestamptz NOT NULL DEFAULT now()".to_owned());
    lines.push("updated_at timestamptz NOT NULL DEFAULT now()".to_owned());
    lines.push("PRIMARY KEY (tenant_id, id)".to_owned());
    for key in &spec.uniques {
        let name = format!("{table}_tenant_{}_key", key.join("_"));
        let columns = key.join(", ");
        lines.push(if name.len() <= MAX_IDENTIFIER_LEN {
            format!("CONSTRAINT {name} UNIQUE (tenant_id, {columns})")
        } else {
            format!("UNIQUE (tenant_id, {columns})")
        });
    }
    for (reference, target) in spec.references.iter().zip(&targets) {
        let (column, other) = (&reference.column, &reference.table);
        foreign_keys.push(match target {
            Target::Tenant => {
                format!("FOREIGN KEY (tenant_id, {column}) REFERENCES {other} (tenant_id, id)")
            }
            Target::Global(key) => format!("FOREIGN KEY ({column}) REFERENCES {other} ({key})"),
        });
    }
    w!("CREATE TABLE {table} (\n  {}\n);", lines.join(",\n  "));
    for key in &spec.indexes {
        let name = format!("{table}_{}_idx", key.join("_"));
        let columns = key.join(", ");
        if name.len() <= MAX_IDENTIFIER_LEN {
            w!("CREATE INDEX {name} ON {table} (tenant_id, {columns});");
        } else {
            w!("CREATE INDEX ON {table} (tenant_id, {columns});");
        }
    }
    w!("CREATE TRIGGER {table}_touch BEFORE UPDATE ON {table}");
    w!("  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();");
    w!();
    up.push_str(&tenancy_schema::policy::tenant_policies_as(
        spec.context_read,
        table,
        "tenant_id",
        &format!("{APP_ROLE}, CURRENT_USER"),
    ));
    w!("-- Where the native tenant context is switched on, the new policies call its C readers,");
    w!("-- as enable_native_context() made every other policy do; elsewhere this does nothing.");
    w!("SELECT tenancy.enable_native_context() WHERE tenancy.native_context();");
    w!("GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}, {ADMIN_ROLE};");
    w!("-- On Citus: distributed by tenant_id, co-located with the other tenant tables, its");
    w!(
        "-- policies put in the form Citus accepts. Then, on any server, its foreign keys: on Citus"
    );
    w!("-- a table cannot point at a distributed one before it is distributed itself.");
    w!("{}", distribute_call("distribute", table, &foreign_keys));

    let down = format!(
        "-- Reverts `create_{table}`: its indexes, trigger, policies and grants go with it.\n\
         DROP TABLE {table};\n"
    );
    Ok(Migration {
        name: format!("create_{table}"),
        up,
        down,
    })
}

/// `SELECT tenancy.<function>('<table>')`, with the table's foreign keys as the
/// `foreign_keys` argument (dollar-quoted: a definition may hold quotes) when it has any.
fn distribute_call(function: &str, table: &str, foreign_keys: &[String]) -> String {
    if foreign_keys.is_empty() {
        return format!("SELECT tenancy.{function}('{table}');");
    }
    let keys: Vec<String> = foreign_keys.iter().map(|k| format!("  $${k}$$")).collect();
    format!(
        "SELECT tenancy.{function}('{table}', foreign_keys => ARRAY[\n{}\n]);",
        keys.join(",\n")
    )
}

/// A global table: shared by every tenant, so no tenant column and no row level security. The
/// application role reads it (tenant transactions join it, the system connection reads it);
/// only the admin role writes it.
fn render_global(spec: &TableSpec, targets: &[Target]) -> Migration {
    let table = spec.name.as_str();
    let mut up = String::new();
    macro_rules! w {
        ($($arg:tt)*) => { let _ = writeln!(up, $($arg)*); };
    }
    w!("-- Global table `{table}`, written by `tenancy new-table --global`.");
    w!("--");
    w!(
        "-- It holds no tenant data: no tenant_id and no row level security. {APP_ROLE} may read it"
    );
    w!("-- (tenant transactions join it, the system connection reads it); {ADMIN_ROLE} writes it.");
    w!("-- Classify it with #[tenancy_schema::global_table]. It may reference global tables only.");
    w!();
    let mut lines = vec!["id uuid NOT NULL DEFAULT tenancy.uuid_v7() PRIMARY KEY".to_owned()];
    for column in &spec.columns {
        let null = if column.nullable { "" } else { " NOT NULL" };
        lines.push(format!("{} {}{null}", column.name, column.ty.sql()));
    }
    lines.push("created_at timestamptz NOT NULL DEFAULT now()".to_owned());
    lines.push("updated_at timestamptz NOT NULL DEFAULT now()".to_owned());
    for key in &spec.uniques {
        let name = format!("{table}_{}_key", key.join("_"));
        let columns = key.join(", ");
        lines.push(if name.len() <= MAX_IDENTIFIER_LEN {
            format!("CONSTRAINT {name} UNIQUE ({columns})")
        } else {
            format!("UNIQUE ({columns})")
        });
    }
    let mut foreign_keys = Vec::new();
    for (reference, target) in spec.references.iter().zip(targets) {
        if let Target::Global(key) = target {
            foreign_keys.push(format!(
                "FOREIGN KEY ({}) REFERENCES {} ({key})",
                reference.column, reference.table
            ));
        }
    }
    w!("CREATE TABLE {table} (\n  {}\n);", lines.join(",\n  "));
    for key in &spec.indexes {
        let name = format!("{table}_{}_idx", key.join("_"));
        let columns = key.join(", ");
        if name.len() <= MAX_IDENTIFIER_LEN {
            w!("CREATE INDEX {name} ON {table} ({columns});");
        } else {
            w!("CREATE INDEX ON {table} ({columns});");
        }
    }
    w!("CREATE TRIGGER {table}_touch BEFORE UPDATE ON {table}");
    w!("  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();");
    w!();
    // Column by column: a table grant covers the system columns too, and a tenant table's
    // foreign key into this one leaves each writer's transaction id in the referenced row's
    // `xmax` (its check locks the row), which every tenant would read (`tenancy check`
    // TEN111). A column added later needs its own grant.
    let mut readable = vec!["id".to_owned()];
    readable.extend(spec.columns.iter().map(|c| c.name.clone()));
    readable.extend(["created_at".to_owned(), "updated_at".to_owned()]);
    w!("-- {APP_ROLE} reads its columns only (not the system columns, such as xmax, where a");
    w!("-- tenant table's foreign key check leaves the writer's transaction id); grant a column");
    w!("-- added later the same way.");
    w!(
        "GRANT SELECT ({}) ON {table} TO {APP_ROLE};",
        readable.join(", ")
    );
    w!("GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {ADMIN_ROLE};");
    w!("-- On Citus: a reference table, copied to every node. Then, on any server, its foreign");
    w!("-- keys: on Citus a table cannot point at a reference table before it is one itself.");
    w!("{}", distribute_call("replicate", table, &foreign_keys));
    let down = format!(
        "-- Reverts `create_{table}`: its indexes, trigger and grants go with it.\n\
         DROP TABLE {table};\n"
    );
    Migration {
        name: format!("create_{table}"),
        up,
        down,
    }
}
