//! The tenant context a transaction opens with, and the key that makes it unforgeable.
//!
//! The database accepts a context only through `tenancy.enter(tenant, principal, counter,
//! mac)`, where `mac` is HMAC-SHA256 under the context key over the connection's session
//! number (from `tenancy.open_session()`), a counter that only grows, the tenant and the
//! principal. The application role cannot read the key, so SQL running inside a transaction
//! (raw statements, an injected fragment) cannot open a context for another tenant, and a
//! value it observes is void in any other session and, once the counter moved on, in this one.
//! `docs/adr/0002-sealed-tenant-context.md` has the design.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

use crate::{Error, PrincipalId, TenantId};

/// The 32-byte secret shared by the application and the database (`tenancy.context_key`,
/// readable by the tables' owner and the admin role only).
///
/// [`crate::TenancyBuilder`] reads it through the admin login when one is configured;
/// otherwise give it explicitly, for example from a secret store. It is kept in a
/// [`secrecy::SecretBox`]: its `Debug` output hides it and its memory is zeroed when dropped.
pub struct ContextKey(SecretBox<[u8; 32]>);

impl ContextKey {
    /// A key from its 32 bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// A key from 64 hexadecimal digits, as `SELECT encode(key, 'hex') FROM
    /// tenancy.context_key` prints it.
    ///
    /// ```
    /// let key = tenancy_schema::ContextKey::from_hex(&"ab".repeat(32)).unwrap();
    /// assert_eq!(format!("{key:?}"), "ContextKey(..)");
    /// assert!(tenancy_schema::ContextKey::from_hex("abc").is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] unless `hex` is exactly 64 hexadecimal digits.
    pub fn from_hex(hex: &str) -> Result<Self, Error> {
        let mut key = SecretBox::new(Box::new([0u8; 32]));
        hex::decode_to_slice(
            hex.trim(),
            secrecy::ExposeSecretMut::expose_secret_mut(&mut key),
        )
        .map_err(|e| Error::InvalidInput {
            field: "context key",
            reason: format!("expected 64 hexadecimal digits ({e})"),
        })?;
        Ok(Self(key))
    }

    fn mac(&self, message: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl Clone for ContextKey {
    fn clone(&self) -> Self {
        Self::from_bytes(*self.0.expose_secret())
    }
}

impl std::fmt::Debug for ContextKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContextKey(..)")
    }
}

/// The next counter value: strictly increasing across the whole process, so also within each
/// connection. It starts from the wall clock in microseconds so that a restarted process
/// continues above the values its predecessor used on connections that may outlive it.
fn next_counter() -> u64 {
    static COUNTER: OnceLock<AtomicU64> = OnceLock::new();
    let counter = COUNTER.get_or_init(|| {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(1));
        AtomicU64::new(micros)
    });
    counter.fetch_add(1, Ordering::Relaxed) + 1
}

/// Appends `SELECT tenancy.enter(...)` for a context on the connection with session number
/// `session` to `sql`. The values are typed UUIDs, integers and hex: no user text.
pub(crate) fn push_enter(
    sql: &mut String,
    key: &ContextKey,
    session: i64,
    tenant: Option<TenantId>,
    principal: Option<PrincipalId>,
    check_status: bool,
) {
    let counter = next_counter();
    let tenant = tenant.map(|t| t.as_uuid().to_string()).unwrap_or_default();
    let principal = principal
        .map(|p| p.as_uuid().to_string())
        .unwrap_or_default();
    let mac = key.mac(&format!("enter|{session}|{counter}|{tenant}|{principal}"));
    let literal = |v: &str| {
        if v.is_empty() {
            "NULL".to_owned()
        } else {
            format!("'{v}'")
        }
    };
    let _ = write!(
        sql,
        "SELECT tenancy.enter({}, {}, {counter}, '{mac}', {check_status})",
        literal(&tenant),
        literal(&principal)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_grow() {
        let a = next_counter();
        let b = next_counter();
        assert!(b > a);
    }

    #[test]
    fn enter_statement_carries_a_mac_over_session_counter_and_context() {
        let key = ContextKey::from_bytes([7; 32]);
        let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(1));
        let mut sql = String::new();
        push_enter(&mut sql, &key, 42, Some(tenant), None, false);
        let counter: u64 = sql
            .split(", ")
            .nth(2)
            .and_then(|c| c.parse().ok())
            .expect("counter in the statement");
        let expected = key.mac(&format!("enter|42|{counter}|{}|", tenant.as_uuid()));
        assert!(sql.contains(&expected), "{sql}");
        assert!(sql.contains(", NULL, "), "{sql}");
    }

    #[test]
    fn hex_keys_are_checked() {
        assert!(ContextKey::from_hex(&"0".repeat(64)).is_ok());
        assert!(ContextKey::from_hex(&"0".repeat(63)).is_err());
        assert!(ContextKey::from_hex(&"g".repeat(64)).is_err());
    }
}
