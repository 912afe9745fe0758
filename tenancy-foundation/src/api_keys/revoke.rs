//! Revoking keys. Separate from issuing because it only flips a status: it never touches key
//! material, and it answers the same for a missing key and another tenant's key, and, to a
//! caller without `api_keys.manage`, the same for a missing key and another principal's.

use diesel::prelude::*;
use serde_json::json;

use super::error::ApiKeyError;
use crate::audit::{self, AuditEvent};
use crate::authz::{self, Permission};
use crate::models::ApiKeyStatus;
use crate::schema::api_keys;
use crate::{ApiKeyId, Result, TenantTx};

/// Revokes key `id` of the transaction's tenant and writes an `api_key.revoke` audit row.
/// Revoking a revoked key succeeds and writes nothing. A principal may always revoke its own
/// keys; another's needs `api_keys.manage`.
///
/// # Errors
/// [`crate::Error::Forbidden`] without `api_keys.manage` for any key but one's own, whether or
/// not the tenant has it; [`ApiKeyError::NotFound`] when the tenant has no such key (also for
/// another tenant's key); database errors.
pub fn revoke(tx: &mut TenantTx<'_>, id: ApiKeyId) -> Result<()> {
    let holder = tx
        .load(
            api_keys::table
                .filter(api_keys::id.eq(id))
                .select(api_keys::principal_id),
        )?
        .into_iter()
        .next();
    // The permission first, so that a caller without it learns nothing of which key ids
    // exist in its tenant.
    if holder.is_none() || tx.principal() != holder {
        authz::require(tx, Permission::ApiKeysManage)?;
    }
    if holder.is_none() {
        return Err(ApiKeyError::NotFound.into());
    }
    let changed = tx
        .update(api_keys::table)
        .filter(api_keys::id.eq(id))
        .filter(api_keys::status.eq(ApiKeyStatus::Active))
        .set(api_keys::status.eq(ApiKeyStatus::Revoked))
        .execute()?;
    if changed == 0 {
        return Ok(());
    }
    audit::record(
        tx,
        &AuditEvent::new("api_key.revoke").details(json!({ "api_key_id": id })),
    )?;
    Ok(())
}
