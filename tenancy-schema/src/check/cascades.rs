//! TEN044: a write by one tenant that changes other tenants' rows through a referential
//! action, or learns of them from one. PostgreSQL runs `ON DELETE CASCADE`, `SET NULL` and
//! `SET DEFAULT` as the owner of the referencing table, past its policies: in psql, a tenant
//! deleting a row of a global table it may write deleted the rows of every tenant that pointed
//! at it, with row level security on. With `RESTRICT` or `NO ACTION` the delete fails instead,
//! exactly when some tenant's row points at it: whether another tenant uses a plan, a
//! category, a row of any global table it may delete.

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
        let refused = c.action.ends_with("RESTRICT") || c.action.ends_with("NO ACTION");
        let outcome = if refused {
            "is refused exactly when some tenant's row of {table} points at it, and so learns whether other tenants use it (the key's check reads past row level security)"
        } else {
            "changes every tenant's rows of {table} that point at it, since referential actions run past row level security"
        }
        .replace("{table}", &c.table_name);
        f.add(
            "TEN044",
            format!("foreign key {} on {}", c.name, c.table_name),
            format!(
                "({columns}) -> {target} is {action}, and {roles} may {privilege} rows of {target}: a tenant that {verb} a row of {target} {outcome}",
                target = c.target,
                action = c.action,
                roles = c.roles.join(", "),
                privilege = c.privilege,
            ),
            format!(
                "REVOKE {revoke} ON {target} FROM {app} (and its logins): a row of a global table that tenants point at is the admin path's to change{also}",
                target = c.target,
                app = o.app_role,
                also = if refused {
                    ""
                } else {
                    " (RESTRICT or NO ACTION instead would tell a tenant whether others point at the row)"
                },
            ),
        );
    }
}
