//! `tenancy`: migrate, check a live database, scaffold tenant tables, verify audit chains,
//! and the quickstart. Run `tenancy --help`.

mod commands;
mod db;
mod names;
mod quickstart;
mod redact;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Writes a line to stdout, ignoring a closed pipe (`tenancy check | head`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
/// Writes a line to stderr (progress and notes), ignoring errors.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
pub(crate) use {errln, outln};

const AFTER_HELP: &str = "\
Without --database-url or DATABASE_URL, `migrate`, `check`, `audit verify` and `quickstart` \
start a throwaway PostgreSQL cluster (from the initdb/pg_ctl binaries on PATH or under \
/usr/lib/postgresql/*/bin), removed again at exit.

Exit status: 0 success; 1 the command ran and found a problem (errors in `check`, a broken \
audit chain, a failed quickstart expectation, a failed migration); 2 usage error, or the \
database could not be reached.";

/// Multi-tenant isolation for Diesel + PostgreSQL: migrate, check a live database, scaffold
/// tenant tables, verify audit chains.
#[derive(Debug, Parser)]
#[command(name = "tenancy", version, after_help = AFTER_HELP, propagate_version = true)]
struct Cli {
    /// PostgreSQL url, logging in as a superuser or the tables' owner
    /// (postgres://user:password@host:port/database).
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply tenancy's migrations that the database does not have yet.
    ///
    /// The core's (roles, the tenancy schema, the tenant context); with --foundation, or once
    /// the database has one of them, the foundation schema's as well. Run it as the role that
    /// should own the tables (the first run creates the roles tenancy_app and tenancy_admin,
    /// which needs a superuser), never as tenancy_app.
    Migrate(MigrateArgs),
    /// Write tenancy's migrations into your application's migrations directory.
    ///
    /// The directory is the one diesel.toml names (migrations_directory.dir), else
    /// `migrations`. Each migration is written as the diesel CLI names them
    /// (YYYY-MM-DD-HHMMSS_name/{up,down}.sql), so that `diesel migration run`, `revert --all`,
    /// `diesel database setup` and `reset` run them with your own. Running it again after an
    /// upgrade writes only the new ones; a migration already there is never overwritten.
    Init(InitArgs),
    /// Write your schema.rs classified: `diesel print-schema` (honouring diesel.toml), with
    /// tenant_scoped(..) or global_table on each table as the database implies.
    ///
    /// A table with the tenant column is tenant-scoped, with its indexes, unique keys and
    /// composite foreign keys led by that column; any other is global. Run it after `diesel
    /// migration run` instead of keeping a patch file. Writes diesel.toml's print_schema.file,
    /// or prints when there is none. Needs the diesel CLI and the database's url.
    PrintSchema,
    /// Check a live database against the classified tables (tenancy's own, and your
    /// application's from its schema.rs), and lint it.
    ///
    /// Each finding has a stable id, a severity, the object, a message and a fix hint. Exits
    /// 1 when any finding is an error. With the throwaway cluster (no database url), the
    /// migrations are applied first so that there is something to check.
    Check(CheckArgs),
    /// Write a migration pair (up.sql, down.sql) for a new tenant-scoped table.
    ///
    /// The table gets tenant_id (a foreign key to tenants), id uuid DEFAULT tenancy.uuid_v7(),
    /// the given columns, created_at/updated_at with the touch trigger, PRIMARY KEY
    /// (tenant_id, id), unique keys and indexes led by tenant_id, composite foreign keys,
    /// ENABLE + FORCE row level security, the tenant_access and tenant_isolation policies
    /// and grants to tenancy_app and tenancy_admin, so that `tenancy check` passes on it.
    /// With --global, a table shared by every tenant: no tenant_id, no row level security,
    /// SELECT for tenancy_app.
    #[command(
        after_help = "Example:\n  tenancy new-table deployments --column workspace_id:uuid --column name:text \\\n    --column status:enum:deployment_status --column config:jsonb:null \\\n    --index name --unique workspace_id,name --references workspace_id:workspaces\n  tenancy new-table plans --global --column name:text --unique name"
    )]
    NewTable(NewTableArgs),
    /// Audit log commands.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Show the isolation end to end on a throwaway database.
    ///
    /// Migrates, creates a login role and a pool, seeds two tenants with resources, shows
    /// that each tenant sees only its own rows, that raw SQL without a tenant sees nothing
    /// and that a cross-tenant write is rejected, verifies the audit chains and runs
    /// `check`. Uses the throwaway cluster without a database url, and a fresh database
    /// (dropped at exit) on the given server otherwise.
    Quickstart,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify the audit hash chains of every tenant, or of one.
    ///
    /// Runs tenancy.verify_audit_chain(tenant) as the connecting role and prints "ok (N
    /// entries)" or "broken at aud_..." (the first entry that does not verify) per tenant;
    /// exits 1 if any chain is broken. Listing every tenant needs a superuser or a BYPASSRLS
    /// role.
    Verify(VerifyArgs),
}

/// Output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Findings grouped by section, then a summary line.
    Human,
    /// The report as JSON: {"tables_checked": N, "findings": [{id, severity, section,
    /// object, message, hint}]}.
    Json,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Also report readiness for a distributed engine (Citus) distributing on tenant_id.
    #[arg(long)]
    citus: bool,
    /// The schema holding the application's tables.
    #[arg(long, value_name = "SCHEMA", default_value = "public", value_parser = names::schema)]
    schema: String,
    /// The application role.
    #[arg(long, value_name = "ROLE", default_value = "tenancy_app", value_parser = names::role)]
    app_role: tenancy_schema::RoleName,
    /// Your application's schema.rs, whose tenant_scoped and global_table tables are checked
    /// against their declarations (default: diesel.toml's print_schema.file, when run in your
    /// application's directory).
    #[arg(long, value_name = "FILE")]
    schema_rs: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
struct InitArgs {
    /// The migrations directory (default: diesel.toml's, else `migrations`).
    #[arg(long, value_name = "DIR")]
    migrations_dir: Option<std::path::PathBuf>,
    /// Also the foundation schema's migrations (tenants, users, principals, teams,
    /// workspaces, resources, API keys, audit log); implied when the directory has one.
    #[arg(long)]
    foundation: bool,
}

#[derive(Debug, Args)]
struct MigrateArgs {
    /// Also the foundation schema's migrations; implied when the database has one.
    #[arg(long)]
    foundation: bool,
}

#[derive(Debug, Args)]
struct NewTableArgs {
    /// Name of the new table (lowercase letters, digits and `_`).
    name: String,
    /// A column, NOT NULL unless `:null` is added. TYPE is one of text, integer, bigint,
    /// boolean, uuid, jsonb, timestamptz, numeric, date, bytea, or enum:NAME for an existing
    /// enum type NAME.
    #[arg(long = "column", value_name = "NAME:TYPE[:null]")]
    columns: Vec<String>,
    /// An index on (tenant_id, COL, ...).
    #[arg(long = "index", value_name = "COL[,COL...]")]
    indexes: Vec<String>,
    /// A unique key on (tenant_id, COL, ...).
    #[arg(long = "unique", value_name = "COL[,COL...]")]
    uniques: Vec<String>,
    /// A foreign key (tenant_id, COL) -> TABLE (tenant_id, id); COL must be a uuid column. To a
    /// global table (the foundation's, or one in the migrations directory without tenant_id):
    /// (COL) -> TABLE (id).
    #[arg(long = "references", value_name = "COL:TABLE")]
    references: Vec<String>,
    /// Directory holding the Diesel migrations.
    #[arg(long, value_name = "DIR", default_value = "migrations")]
    migrations_dir: std::path::PathBuf,
    /// Print up.sql and down.sql instead of writing them.
    #[arg(long)]
    print: bool,
    /// A global table instead: no tenant_id and no row level security; the application role
    /// may read it, the admin role writes it; it may reference global tables only.
    #[arg(long)]
    global: bool,
    /// Policies a distributed engine (Citus) accepts: `tenant_id = tenancy.current_tenant()`
    /// as a plain call instead of the sub-select that reads it once per statement.
    #[arg(long)]
    citus: bool,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Only this tenant: `ten_<32 hex digits>` or a UUID.
    #[arg(long, value_name = "ID")]
    tenant: Option<String>,
}

/// Why a command stopped: printed as `error: <message>` on stderr, exit status `code`.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// The command ran and found a problem: exit status 1.
    pub(crate) fn failed(cause: impl AsRef<str>, todo: &str) -> Failure {
        Failure {
            code: 1,
            message: format!("{}; {todo}", db::one_line(cause.as_ref())),
        }
    }

    /// Bad arguments, or the database could not be reached: exit status 2.
    pub(crate) fn usage(cause: impl AsRef<str>, todo: &str) -> Failure {
        Failure {
            code: 2,
            message: format!("{}; {todo}", db::one_line(cause.as_ref())),
        }
    }

    /// This failure without what its message echoes of the passwords in `connection`.
    pub(crate) fn scrubbed(self, connection: &str) -> Failure {
        Failure {
            code: self.code,
            message: redact::scrub(&self.message, connection),
        }
    }

    /// A message that already says what to do: exit status 2.
    pub(crate) fn usage_message(message: impl AsRef<str>) -> Failure {
        Failure {
            code: 2,
            message: db::one_line(message.as_ref()),
        }
    }
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        errln!(
            "error: internal error ({}{place}); this is a bug in tenancy, please report it",
            db::one_line(&message)
        );
    }));
    let cli = Cli::parse();
    let url = cli
        .database_url
        .as_deref()
        .map(str::trim)
        .filter(|url| !url.is_empty());
    let result = match cli.command {
        Command::Migrate(args) => commands::migrate(url, &args),
        Command::Init(args) => commands::init(&args),
        Command::PrintSchema => commands::print_schema(url),
        Command::Check(args) => commands::check(url, &args),
        Command::NewTable(args) => commands::new_table(&args),
        Command::Audit(AuditCommand::Verify(args)) => commands::audit_verify(url, &args),
        Command::Quickstart => quickstart::run(url),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            errln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
