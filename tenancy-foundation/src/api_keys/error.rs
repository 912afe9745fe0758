//! The one error type of API keys, kept apart so that the core's error can carry it without
//! depending on how keys are issued or checked; plus the input error the other files share.

use crate::Error;

/// What can go wrong with an API key: why one was not accepted, or could not be issued or
/// revoked. The messages never contain the key text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// The text is not `tk_` + 16 lowercase hexadecimal digits + `_` + 64 lowercase
    /// hexadecimal digits.
    #[error("malformed api key: expected `tk_<16 hex digits>_<64 hex digits>`")]
    Malformed,
    /// No key has this prefix, the secret does not match, or the key's tenant was deleted.
    #[error("unknown api key")]
    Unknown,
    /// The key was revoked.
    #[error("api key revoked")]
    Revoked,
    /// The key's `expires_at` has passed.
    #[error("api key expired")]
    Expired,
    /// The key used up its `rate_limit_per_hour` in the current window.
    #[error("api key rate limit exceeded; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the current window ends (at least 1).
        retry_after_secs: u64,
    },
    /// The key's tenant is suspended.
    #[error("the api key's tenant is suspended")]
    TenantSuspended,
    /// [`revoke`](super::revoke) was given an id that is not a key of the transaction's
    /// tenant (a key of another tenant gives exactly this answer).
    #[error("no such api key in this tenant")]
    NotFound,
    /// The operating system's random number generator failed; no key was issued.
    #[error("the operating system's random number generator failed")]
    RandomUnavailable,
}

impl ApiKeyError {
    /// The API-key error `error` carries, if it is one (the core's
    /// [`Error::Component`](tenancy_schema::Error::Component) holds it).
    #[must_use]
    pub fn of(error: &Error) -> Option<&ApiKeyError> {
        match error {
            Error::Component(inner) => inner.downcast_ref::<ApiKeyError>(),
            _ => None,
        }
    }
}

/// API-key errors travel in the core's error as a component error, so that every function
/// here returns the one `tenancy_schema::Result`.
impl From<ApiKeyError> for Error {
    fn from(e: ApiKeyError) -> Self {
        Error::Component(Box::new(e))
    }
}

pub(super) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        field,
        reason: reason.into(),
    }
}
