//! The context key and the MAC it makes.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

use crate::Error;

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

    #[cfg(test)]
    pub(super) fn mac(&self, message: &str) -> String {
        let mut buf = [0u8; 64];
        self.mac_into(&[message.as_bytes()], &mut buf).to_owned()
    }

    /// The lowercase hex HMAC-SHA256 of the concatenated `parts`, written into `out`.
    pub(super) fn mac_into<'o>(&self, parts: &[&[u8]], out: &'o mut [u8; 64]) -> &'o str {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .expect("HMAC takes any key length");
        for part in parts {
            mac.update(part);
        }
        hex::encode_to_slice(mac.finalize().into_bytes(), out).expect("32 bytes are 64 hex digits");
        std::str::from_utf8(out).expect("hex digits are ASCII")
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
