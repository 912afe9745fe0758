//! TEN043: sessions in which foreign keys are not checked. PostgreSQL checks a foreign key
//! with triggers that fire in the `origin` and `local` replication roles only; a session that
//! runs with `session_replication_role = replica` (meant for applying replicated changes)
//! writes rows whose composite `(tenant_id, ..)` keys point anywhere, and row level security
//! does not look at what a row references.

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

pub(super) fn check_replica_sessions(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    for what in &catalog.replica_sessions {
        f.add(
            "TEN043",
            "setting session_replication_role",
            format!(
                "{what}: sessions of `{}` may run with session_replication_role = replica, where no foreign key is checked, so a row can point into another tenant",
                o.app_role
            ),
            "RESET the setting where it is set (ALTER DATABASE/ROLE .. RESET session_replication_role, or the server configuration), or REVOKE SET ON PARAMETER session_replication_role",
        );
    }
}
