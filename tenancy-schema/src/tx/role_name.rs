//! The role names tenancy writes into SQL (`SET LOCAL ROLE "…"`, grants it checks), validated
//! once when they are made instead of at every builder step.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use crate::Error;

/// A PostgreSQL role name that needs no quoting: a lowercase letter or `_`, then lowercase
/// letters, digits or `_`, at most 63 bytes (PostgreSQL's identifier limit).
///
/// ```
/// use tenancy_schema::{RoleName, TenancyConfig};
///
/// let config = TenancyConfig::default().app_role("billing_app".parse::<RoleName>()?);
/// assert_eq!(config.app_role_name(), "billing_app");
/// assert!("x; DROP ROLE y".parse::<RoleName>().is_err());
/// # Ok::<(), tenancy_schema::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

impl RoleName {
    /// Validates `name`.
    ///
    /// # Errors
    /// [`Error::InvalidRoleName`] (with at most 80 characters of `name`) unless it is a plain
    /// lowercase SQL identifier.
    pub fn new(name: &str) -> Result<Self, Error> {
        let mut chars = name.chars();
        let valid_start = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        if valid_start
            && name.len() <= 63
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            Ok(Self(name.to_owned()))
        } else {
            Err(Error::InvalidRoleName(name.chars().take(80).collect()))
        }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A name known to be valid (the defaults).
    pub(super) fn known(name: &'static str) -> Self {
        debug_assert!(Self::new(name).is_ok(), "{name}");
        Self(name.to_owned())
    }
}

impl FromStr for RoleName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Deref for RoleName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for RoleName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
