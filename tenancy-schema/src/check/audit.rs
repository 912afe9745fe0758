//! The rule about the audit log: the application role can only append to it, and the triggers
//! that refuse changes and chain each entry to the previous one are in place and fire always.

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

pub(super) fn check_audit_log(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    if let Some(audit) = &catalog.audit
        && !audit.unguarded.is_empty()
    {
        f.add(
            "TEN080",
            "table audit_log",
            format!(
                "the audit log's triggers {} are missing, not enabled ALWAYS, or call a function other than the migration's tenancy.audit_log_chain / tenancy.audit_log_append_only or one emptied of its guard: entries can be changed or deleted, or written outside the hash chain, without a trace",
                audit.unguarded.join(", ")
            ),
            "create the guard functions again as the audit log migration does, run its CREATE TRIGGER statements again, then ALTER TABLE audit_log ENABLE ALWAYS TRIGGER <name> for each",
        );
    }
    if let Some(audit) = &catalog.audit
        && !audit.others.is_empty()
    {
        f.add(
            "TEN080",
            "table audit_log",
            format!(
                "audit_log has triggers besides its guards ({}): one that fires before an insert can drop or change the entry, so that what the application records never reaches the log",
                audit.others.join(", ")
            ),
            "DROP TRIGGER <name> ON audit_log for each; keep what should follow an entry in the application, or in a trigger on another table",
        );
    }
    if catalog.audit.as_ref().is_some_and(|a| a.writable) {
        f.add(
            "TEN080",
            "table audit_log",
            format!(
                "`{}` has UPDATE, DELETE or TRUNCATE on audit_log",
                o.app_role
            ),
            format!(
                "REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {}, PUBLIC",
                o.app_role
            ),
        );
    }
}
