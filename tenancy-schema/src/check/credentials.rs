//! TEN081: the catalogs PostgreSQL keeps to superusers because they hold credentials. A role
//! that reads one may log in as another role, a superuser among them, and row level security
//! no longer applies to it.

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

pub(super) fn check_credentials(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    for catalog_table in &catalog.credentials {
        let column = crate::roles::CREDENTIAL_COLUMNS
            .iter()
            .find(|(table, _)| table == catalog_table)
            .map_or("", |(_, column)| column);
        let what = match catalog_table.as_str() {
            "pg_authid" | "pg_shadow" => {
                "every role's password hash (an MD5 hash logs in as it stands; a SCRAM verifier can be attacked offline), superusers' included"
            }
            "pg_user_mapping" => {
                "the options of every user mapping, where postgres_fdw and dblink keep passwords in clear"
            }
            _ => "the connection strings of subscriptions, passwords included",
        };
        f.add(
            "TEN081",
            format!("table {catalog_table}"),
            format!(
                "`{}` may read {catalog_table}.{column}, which holds {what}: with them its SQL can log in as a role that row level security does not apply to",
                o.app_role
            ),
            format!(
                "REVOKE SELECT ON pg_catalog.{catalog_table} FROM {app}, PUBLIC; REVOKE SELECT ({column}) ON pg_catalog.{catalog_table} FROM {app}, PUBLIC (and from its logins)",
                app = o.app_role
            ),
        );
    }
}
