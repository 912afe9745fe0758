//! Issuing keys: what a new key may do, the checks on it, and where its random material comes
//! from. This is the only place that creates key text, so the secret never exists elsewhere.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::error::{ApiKeyError, invalid};
use super::format::{KEY_TEXT_PREFIX, PREFIX_HEX_LEN, SECRET_HEX_LEN, SecretKey};
use super::hash::secret_hash;
use crate::audit::{self, AuditEvent};
use crate::authz::{self, Permission};
use crate::models::{MemberStatus, NewApiKey, PrincipalKind};
use crate::schema::{api_keys, org_members, principals};
use crate::{ApiKeyId, Error, PrincipalId, Result, TenantTx};

/// At most this many scopes per key.
pub const MAX_SCOPES: usize = 32;
/// At most this many bytes per scope.
pub const MAX_SCOPE_LEN: usize = 128;

/// What a new key may do. Build it with [`NewKeySpec::new`] and the setters, or fill the
/// fields directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKeySpec {
    /// The principal the key acts as; must exist in the transaction's tenant.
    pub principal: PrincipalId,
    /// A name for people (1 to 200 characters, trimmed).
    pub name: String,
    /// Scopes: at most [`MAX_SCOPES`], each 1 to [`MAX_SCOPE_LEN`] bytes of `a-z`, `0-9`,
    /// `_`, `.` and `:`. Duplicates are dropped.
    pub scopes: Vec<String>,
    /// When the key stops being accepted; `None` for never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Requests allowed per hourly window (more than 0); `None` for no limit.
    pub rate_limit_per_hour: Option<u32>,
}

impl NewKeySpec {
    /// A key for `principal` named `name`, without scopes, expiry or rate limit.
    #[must_use]
    pub fn new(principal: PrincipalId, name: impl Into<String>) -> Self {
        Self {
            principal,
            name: name.into(),
            scopes: Vec::new(),
            expires_at: None,
            rate_limit_per_hour: None,
        }
    }

    /// Sets the scopes.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the expiry.
    #[must_use]
    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Sets the rate limit.
    #[must_use]
    pub fn rate_limit_per_hour(mut self, limit: u32) -> Self {
        self.rate_limit_per_hour = Some(limit);
        self
    }
}

/// A key [`issue`] created. Its `Debug` output does not contain the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedKey {
    /// The key's record id (not a secret).
    pub id: ApiKeyId,
    /// The public prefix (16 hexadecimal digits; not a secret).
    pub prefix: String,
    /// The principal the key acts as.
    pub principal: PrincipalId,
    /// The key text; [`SecretKey::expose_secret`] returns it. It cannot be shown again.
    pub key: SecretKey,
}

fn check_scopes(scopes: Vec<String>) -> Result<Vec<Option<String>>> {
    let mut out: Vec<Option<String>> = Vec::with_capacity(scopes.len().min(MAX_SCOPES));
    for (i, scope) in scopes.into_iter().enumerate() {
        let valid = !scope.is_empty()
            && scope.len() <= MAX_SCOPE_LEN
            && scope.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':')
            });
        if !valid {
            return Err(invalid(
                "scopes",
                format!(
                    "scope {i} ({:?}) must be 1 to {MAX_SCOPE_LEN} bytes of `a-z`, `0-9`, `_`, `.` and `:`",
                    scope.chars().take(64).collect::<String>()
                ),
            ));
        }
        if !out.iter().flatten().any(|s| *s == scope) {
            if out.len() == MAX_SCOPES {
                return Err(invalid(
                    "scopes",
                    format!("at most {MAX_SCOPES} scopes per key"),
                ));
            }
            out.push(Some(scope));
        }
    }
    Ok(out)
}

fn random_hex<const N: usize>() -> std::result::Result<String, ApiKeyError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| {
        tracing::error!(target: "tenancy::api_keys", error = %e, "getrandom failed");
        ApiKeyError::RandomUnavailable
    })?;
    let text = hex::encode(bytes);
    bytes.fill(0);
    std::hint::black_box(&bytes);
    Ok(text)
}

/// Creates a key for `spec.principal` in the transaction's tenant and writes an
/// `api_key.issue` audit row (ids and prefix, never the secret). The returned
/// [`IssuedKey::key`] is the only copy of the key text.
///
/// The transaction's principal needs `api_keys.manage`. A key acts as its principal, with
/// what it owns and what is shared with it: a user's key is issued by the user, and only a
/// service principal gets keys from another principal, which may not hold a permission the
/// issuer lacks (an admin cannot mint a key that acts as an owner). Removing the issuer from
/// the tenant revokes the keys it issued ([`crate::control::remove_member`]): it holds their
/// secrets.
///
/// # Errors
/// [`Error::InvalidInput`] for a blank or too long name, bad scopes, a zero or too large rate
/// limit, a principal that does not exist in this tenant, a user's principal that is not an
/// active member (a pending invitation, a removed member; nothing written), or another
/// user's or a team's principal;
/// [`Error::Forbidden`] without `api_keys.manage` or for a principal that holds more than the
/// issuer;
/// [`ApiKeyError::RandomUnavailable`] when the OS random source fails; database errors.
pub fn issue(tx: &mut TenantTx<'_>, spec: NewKeySpec) -> Result<IssuedKey> {
    let NewKeySpec {
        principal,
        name,
        scopes,
        expires_at,
        rate_limit_per_hour,
    } = spec;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name", "expected 1 to 200 characters"));
    }
    let scopes = check_scopes(scopes)?;
    let rate_limit_per_hour = match rate_limit_per_hour {
        None => None,
        Some(limit) => match i32::try_from(limit) {
            Ok(limit) if limit > 0 => Some(limit),
            _ => {
                return Err(invalid(
                    "rate_limit_per_hour",
                    format!("expected 1 to {}", i32::MAX),
                ));
            }
        },
    };
    may_hold_a_key(tx, principal)?;

    let prefix = random_hex::<{ PREFIX_HEX_LEN / 2 }>()?;
    let secret = random_hex::<{ SECRET_HEX_LEN / 2 }>()?;
    let hash = secret_hash(&secret);
    let key = SecretKey(format!("{KEY_TEXT_PREFIX}{prefix}_{secret}"));
    drop(SecretKey(secret)); // overwrite the loose copy
    let id = ApiKeyId::new_v7();
    tx.insert(
        api_keys::table,
        NewApiKey {
            id,
            principal_id: principal,
            name,
            prefix: &prefix,
            secret_hash: &hash,
            scopes: &scopes,
            expires_at,
            rate_limit_per_hour,
        },
    )?;
    audit::record(
        tx,
        &AuditEvent::new("api_key.issue").details(json!({
            "api_key_id": id,
            "prefix": prefix,
            "principal_id": principal,
            "name": name,
            "scopes": scopes,
            "expires_at": expires_at,
            "rate_limit_per_hour": rate_limit_per_hour,
        })),
    )?;
    Ok(IssuedKey {
        id,
        prefix,
        principal,
        key,
    })
}

/// Whether the transaction's principal may issue a key acting as `principal`: it holds
/// `api_keys.manage`; `principal` is one of this tenant's, an active member if it is a user's;
/// and it is the issuer's own, or a service's that holds no permission the issuer lacks.
fn may_hold_a_key(tx: &mut TenantTx<'_>, principal: PrincipalId) -> Result<()> {
    // Before anything is looked up: without the permission, whether a principal exists here
    // is none of the caller's business.
    authz::require(tx, Permission::ApiKeysManage)?;
    let kind: Option<PrincipalKind> = tx
        .load(
            principals::table
                .filter(principals::id.eq(principal))
                .select(principals::kind),
        )?
        .pop();
    let Some(kind) = kind else {
        return Err(invalid(
            "principal",
            format!("{principal} is not a principal of this tenant"),
        ));
    };
    // A key acts as its principal, and a user's principal acts only as an active member: a
    // key for a pending invitation would accept it for the user (and carry, once accepted,
    // whatever the invitation grants, an owner's rights included); one for a removed member
    // would act for someone who left. The key lookup answers neither (a database rule).
    if kind == PrincipalKind::User
        && !tx.exists(
            org_members::table
                .filter(org_members::principal_id.eq(principal))
                .filter(org_members::status.eq(MemberStatus::Active)),
        )?
    {
        return Err(invalid(
            "principal",
            format!("{principal} is not an active member of this tenant"),
        ));
    }
    if tx.principal() == Some(principal) {
        return Ok(());
    }
    // A key acts as its principal, with whatever is shared with it alone, not only with its
    // role: a user's or a team's key issued by someone else would let the issuer read
    // their own resources, and those shared with them. Only services get keys from others.
    if kind != PrincipalKind::Service {
        return Err(invalid(
            "principal",
            format!(
                "{principal} is a {} principal: only a service principal gets keys from another principal (a key acts as its principal, with what it owns and what is shared with it); a user issues its own",
                match kind {
                    PrincipalKind::Team => "team",
                    _ => "user",
                }
            ),
        ));
    }
    // The control plane gives services no membership, so no role; one the admin path gave
    // them may not exceed the issuer's.
    let issuer = authz::permissions(tx)?;
    let held = authz::permissions_of(tx, principal)?;
    if let Some(beyond) = held.iter().find(|p| !issuer.contains(p)) {
        tracing::debug!(target: "tenancy::api_keys", %principal, permission = %beyond, "key for a principal that holds more than its issuer");
        return Err(Error::Forbidden {
            permission: "every permission of the key's principal",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_validated() {
        let ok = check_scopes(vec!["read".into(), "deploy:write".into(), "a.b_c9".into()]);
        assert_eq!(ok.ok().map(|s| s.len()), Some(3));
        let deduped = check_scopes(vec!["read".into(), "read".into()]);
        assert_eq!(deduped.ok(), Some(vec![Some("read".to_owned())]));
        for bad in [
            "",
            "Read",
            "a b",
            "a/b",
            "é",
            &"a".repeat(MAX_SCOPE_LEN + 1),
        ] {
            assert!(check_scopes(vec![bad.to_owned()]).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i}")).collect();
        assert!(check_scopes(many[..MAX_SCOPES].to_vec()).is_ok());
        assert!(check_scopes(many).is_err());
        let err = check_scopes(vec!["X".repeat(1 << 20)])
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.len() < 300), "bounded error text");
    }

    #[test]
    fn random_keys_differ_and_have_the_right_shape() {
        let a = random_hex::<32>().ok();
        let b = random_hex::<32>().ok();
        assert!(a.as_ref().is_some_and(|a| a.len() == 64));
        assert_ne!(a, b);
    }
}
