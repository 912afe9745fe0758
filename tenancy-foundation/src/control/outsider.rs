//! What a principal is told when the tenant transaction it asked for does not open. The
//! tenant's own principals learn why (the tenant is suspended, or gone); a principal of
//! another tenant gets what it would get from an active tenant it does not belong to, so that
//! naming a tenant tells it nothing: not whether the tenant exists, not whether it is suspended.

use diesel::prelude::*;

use crate::schema::principals;
use crate::{Error, PrincipalId, Result, Tenancy, TenantId};

/// `outcome` as `principal` may see it: a refused opening of `tenant` (unknown, deleted or
/// suspended) stays as it is for the tenant's own principals and becomes `outsider()` for
/// any other. Who is whose is read through the admin path, only once the opening was
/// refused; without an admin login configured, the refusal is `outsider()` for everyone.
pub(super) fn as_seen_by<T>(
    tenancy: &Tenancy,
    tenant: TenantId,
    principal: PrincipalId,
    outcome: Result<T>,
    outsider: impl FnOnce() -> Error,
) -> Result<T> {
    let refusal = match outcome {
        Err(e @ (Error::TenantSuspended(_) | Error::TenantNotFound(_))) => e,
        other => return other,
    };
    let own = crate::control_plane(tenancy, "control plane: whose principal", |conn| {
        diesel::select(diesel::dsl::exists(
            principals::table
                .filter(principals::tenant_id.eq(tenant))
                .filter(principals::id.eq(principal)),
        ))
        .get_result::<bool>(conn)
        .map_err(Error::from)
    });
    match own {
        Ok(true) => Err(refusal),
        Ok(false) | Err(Error::AdminNotConfigured) => Err(outsider()),
        Err(e) => Err(e),
    }
}
