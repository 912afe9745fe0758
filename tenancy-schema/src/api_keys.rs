//! API keys (placeholder; being written).

/// Why an API key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// No key has this prefix, or the secret does not match.
    #[error("unknown API key")]
    Unknown,
}
