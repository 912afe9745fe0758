//! Checks a live database against the tables classified in this binary, and lints it.
//!
//! `tenancy check` (the CLI) runs this; call it from your own binary or test to check your
//! own models, which `#[tenant_scoped]` registers in [`crate::registry`]:
//!
//! ```no_run
//! use diesel::{Connection, PgConnection};
//! use tenancy_schema::check::{self, CheckOptions};
//! # fn demo() -> Result<(), tenancy_schema::Error> {
//! let mut conn = PgConnection::establish("postgres://owner@localhost/app")
//!     .map_err(|e| tenancy_schema::Error::InvalidInput { field: "url", reason: e.to_string() })?;
//! let report = check::run(&mut conn, &tenancy_schema::registry(), &CheckOptions::default())?;
//! for finding in &report.findings {
//!     eprintln!("{finding}");
//! }
//! assert!(!report.has_errors());
//! # Ok(()) }
//! ```
//!
//! Every finding has a stable id (documented on [`LINTS`]), a severity, the object it is
//! about, a message and a hint saying how to fix it. The ids never change meaning; new lints
//! get new ids.

/// SQL for the text of the SQL expression `$name` with every character but letters, digits
/// and `_` escaped, so that the name matches itself as part of a regular expression: a table
/// named `notes(v2` is a name, not an unbalanced group.
macro_rules! regex_escaped {
    ($name:literal) => {
        concat!(
            "regexp_replace(",
            $name,
            ", '([^[:alnum:]_])', '\\\\\\1', 'g')"
        )
    };
}

mod audit;
mod builtin_leakproof;
mod cascades;
mod catalog;
mod citus;
mod classify;
mod context_key;
mod copying_row_code;
mod create_database;
mod credentials;
mod database_owner;
mod default_privileges;
mod definers;
mod elsewhere;
mod event_triggers;
mod expr;
mod extension_members;
mod foreign_wrappers;
mod functions;
mod guard_triggers;
mod index_operator_classes;
mod key_attachments;
mod key_exposure;
mod key_share_locks;
mod languages;
mod large_object_grants;
mod lints;
mod named_tables;
mod native_code;
mod other_databases;
mod page_inspection;
mod pointed_references;
mod policy_lookalikes;
mod probing_keys;
mod protected;
mod public_grants;
mod publications;
mod reach;
mod replication;
mod report;
mod roles;
mod runner;
mod search_path;
mod session_sequence;
mod session_settings;
mod shared_sequences;
mod shared_writes;
mod shipped_objects;
mod side_channels;
mod signal_backends;
mod statement_statistics;
mod tables;
mod toast;
mod triggers;
mod unchecked_runs;
mod unclassified;
mod unlinked_references;
mod view_expansion;
mod view_mappings;

pub use classify::{DerivedTable, derive_classification};
pub use lints::{LINTS, Section, Severity};
pub use report::{Finding, Report};
pub use runner::{CheckOptions, run};
