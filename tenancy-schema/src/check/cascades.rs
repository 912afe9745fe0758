//! TEN044: a write by one tenant that changes other tenants' rows through a referential
//! action. PostgreSQL runs `ON DELETE CASCADE`, `SET NULL` and `SET DEFAULT` as the owner of
//! the referencing table, past its policies: in psql, a tenant deleting a row of a global table
//! it may write deleted the rows of every tenant that pointed at it, with row level security on.

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

pub(super) fn check_cascades(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    for c in &catalog.cascades {
        let columns = c.columns.join(", ");
        let (verb, revoke) = if c.privilege == "DELETE" {
            ("deletes", "DELETE".to_owned())
        } else {
            ("updates the key of", format!("UPDATE ({columns})"))
        };
        f.add(
            "TEN044",
            format!("foreign key {} on {}", c.name, c.table_name),
            format!(
                "({columns}) -> {target} is {action}, and {roles} may {privilege} rows of {target}: a tenant that {verb} a row of {target} changes every tenant's rows of {table} that point at it, since referential actions run past row level security",
                target = c.target,
                action = c.action,
                roles = c.roles.join(", "),
                privilege = c.privilege,
                table = c.table_name,
            ),
            format!(
                "make the action RESTRICT or NO ACTION (ALTER TABLE {table} DROP CONSTRAINT {name}, ADD CONSTRAINT {name} FOREIGN KEY ({columns}) REFERENCES {target}) and remove each tenant's rows in its own transaction, or REVOKE {revoke} ON {target} FROM {app} (and its logins)",
                table = c.table_name,
                name = c.name,
                target = c.target,
                app = o.app_role,
            ),
        );
    }
}
