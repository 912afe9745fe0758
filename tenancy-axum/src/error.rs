//! HTTP answers for refusals and failures: a status code and a small JSON body with a stable
//! machine code, and nothing of the server's internals.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind};
use tenancy_schema::Error;

/// An error answered as `{"error": "<machine code>", "message": "<human text>"}` with its
/// status code. Handlers return it (`Result<_, HttpError>`), `?` converts tenancy's
/// [`Error`] into it, and resolvers reject requests with it.
///
/// | tenancy's outcome | status | `error` |
/// |---|---|---|
/// | [`Error::NotFound`], Diesel's `NotFound` (also another tenant's id) | 404 | `not_found` |
/// | [`Error::Forbidden`] (a missing permission) | 403 | `forbidden` |
/// | [`Error::TenantSuspended`] | 403 | `tenant_suspended` |
/// | [`Error::TenantNotFound`] (credentials of a deleted tenant) | 401 | `unauthorized` |
/// | [`Error::Conflict`], a unique or foreign key violation | 409 | `conflict` |
/// | [`Error::InvalidInput`] | 400 | `invalid_input` |
/// | text the database cannot store (SQLSTATE 22021: a NUL, bytes invalid in its encoding; 22P05: a character its encoding lacks) | 400 | `invalid_input` |
/// | no pooled connection became free in time ([`Error::Pool`] of a synchronous `Tenancy`, such as an API-key resolver's, or the async pool's timeout) | 503 | `unavailable` |
/// | anything else | 500 | `internal` (logged, not shown) |
///
/// An id of another tenant is never 403: to the caller it does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
}

#[derive(serde::Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
}

impl HttpError {
    /// An error with this status, machine code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// 401: no credentials, or credentials that are not accepted.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403: the caller is known but may not do this.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404 for `entity`: unknown, or not visible to the caller.
    #[must_use]
    pub fn not_found(entity: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{entity} not found"),
        )
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    /// 500 with a fixed message: the cause belongs in the server's log, not in the answer.
    #[must_use]
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }

    /// Adds a `Retry-After` header (seconds) to the answer.
    #[must_use]
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// The status code.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine code (`error` in the body).
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human text (`message` in the body).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for HttpError {}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = Json(Body {
            error: self.code,
            message: &self.message,
        });
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<Error> for HttpError {
    fn from(error: Error) -> Self {
        match &error {
            Error::NotFound { entity } => Self::not_found(entity),
            Error::Query(diesel::result::Error::NotFound) => Self::not_found("row"),
            Error::Forbidden { .. } => Self::forbidden("forbidden", error.to_string()),
            Error::TenantSuspended(_) => {
                Self::forbidden("tenant_suspended", "the tenant is suspended")
            }
            Error::TenantNotFound(_) => {
                Self::unauthorized("unauthorized", "the credentials' tenant does not exist")
            }
            Error::Conflict { .. } => {
                Self::new(StatusCode::CONFLICT, "conflict", error.to_string())
            }
            Error::InvalidInput { .. } => Self::bad_request(error.to_string()),
            Error::Query(diesel::result::Error::DatabaseError(kind, info)) => match kind {
                DatabaseErrorKind::UniqueViolation => Self::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "a row with these values already exists",
                ),
                // The same answer for a reference to a row of another tenant and to a row
                // that does not exist: the composite foreign keys cannot tell them apart,
                // and the caller must not learn which it was.
                DatabaseErrorKind::ForeignKeyViolation => Self::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "a referenced row does not exist, or the row is still referenced",
                ),
                _ if is_unstorable_text(info.as_ref()) => Self::bad_request(
                    "the request holds text the database cannot store (a NUL character, or \
                     bytes or characters its encoding does not have)",
                ),
                _ => internal(&error),
            },
            // r2d2 gives up only at its connection timeout; its message may carry the last
            // failure to connect, which belongs in the log.
            Error::Pool(_) => {
                tracing::warn!(target: "tenancy::http", error = %error, "no pooled connection");
                unavailable()
            }
            Error::Component(inner) => {
                if let Some(tenancy_async::PoolError::TimedOut) =
                    inner.downcast_ref::<tenancy_async::PoolError>()
                {
                    return unavailable();
                }
                #[cfg(feature = "foundation")]
                if let Some(key_error) = tenancy_foundation::api_keys::ApiKeyError::of(&error) {
                    return crate::foundation::api_key_rejection(key_error);
                }
                internal(&error)
            }
            _ => internal(&error),
        }
    }
}

fn unavailable() -> HttpError {
    HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "no database connection became free in time; retry",
    )
}

/// Whether PostgreSQL refused a value as text it cannot store: SQLSTATE 22021
/// (`character_not_in_repertoire`: a NUL, or bytes invalid in the server's encoding) or 22P05
/// (`untranslatable_character`: a character that encoding lacks, or `\u0000` in `jsonb`).
/// That is the client's input, not a fault of the server.
///
/// Diesel does not pass the SQLSTATE on (its error kinds name a few constraint violations and
/// no more), so PostgreSQL's messages for these codes are what is matched. A server set to
/// answer in another language (`lc_messages`) goes unrecognised, and the answer stays a 500.
fn is_unstorable_text(info: &(dyn DatabaseErrorInformation + Send + Sync)) -> bool {
    let message = info.message();
    // 22021, from `report_invalid_encoding`.
    message.starts_with("invalid byte sequence for encoding ")
        // 22P05, from `report_untranslatable_char`.
        || (message.starts_with("character with byte sequence ")
            && message.contains(" has no equivalent in encoding "))
        // 22P05, from the JSON parser (`\u0000`, or an escape the encoding cannot hold).
        || message == "unsupported Unicode escape sequence"
}

/// Logs what went wrong (the log is the place for internals) and answers a bare 500.
fn internal(error: &Error) -> HttpError {
    tracing::error!(target: "tenancy::http", error = %error, "request failed");
    HttpError::internal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenancy_outcomes_map_to_their_status_codes() {
        let cases = [
            (Error::NotFound { entity: "project" }, 404, "not_found"),
            (
                Error::Query(diesel::result::Error::NotFound),
                404,
                "not_found",
            ),
            (
                Error::Forbidden {
                    permission: "projects.write",
                },
                403,
                "forbidden",
            ),
            (
                Error::TenantSuspended(tenancy_schema::TenantId::new_v7()),
                403,
                "tenant_suspended",
            ),
            (
                Error::TenantNotFound(tenancy_schema::TenantId::new_v7()),
                401,
                "unauthorized",
            ),
            (
                Error::Conflict {
                    what: "a project named x".into(),
                },
                409,
                "conflict",
            ),
            (
                Error::InvalidInput {
                    field: "name",
                    reason: "empty".into(),
                },
                400,
                "invalid_input",
            ),
            (
                Error::Component(Box::new(tenancy_async::PoolError::TimedOut)),
                503,
                "unavailable",
            ),
            (Error::Pool(pool_timeout()), 503, "unavailable"),
            (
                database_error("invalid byte sequence for encoding \"UTF8\": 0x00"),
                400,
                "invalid_input",
            ),
            (
                database_error(
                    "character with byte sequence 0xe2 0x82 0xac in encoding \"UTF8\" has no equivalent in encoding \"LATIN1\"",
                ),
                400,
                "invalid_input",
            ),
            (
                database_error("unsupported Unicode escape sequence"),
                400,
                "invalid_input",
            ),
            (database_error("division by zero"), 500, "internal"),
            (Error::MissingAdminReason, 500, "internal"),
        ];
        for (error, status, code) in cases {
            let shown = error.to_string();
            let http = HttpError::from(error);
            assert_eq!(
                (http.status().as_u16(), http.code()),
                (status, code),
                "{shown}"
            );
        }
    }

    /// A database error of a kind diesel does not name, with PostgreSQL's `message`.
    fn database_error(message: &str) -> Error {
        Error::Query(diesel::result::Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(message.to_owned()),
        ))
    }

    /// What a synchronous `Tenancy` reports when its pool has no connection to give: r2d2's
    /// error has no public constructor, so a pool that can never connect times out for real.
    fn pool_timeout() -> diesel::r2d2::PoolError {
        use diesel::r2d2::{ConnectionManager, Pool};
        // Port 1 on the loopback: refused at once, so the pool waits out its timeout.
        let manager = ConnectionManager::<diesel::PgConnection>::new(
            "postgres://nobody@127.0.0.1:1/none?connect_timeout=1",
        );
        let pool = Pool::builder()
            .max_size(1)
            .min_idle(Some(0))
            .connection_timeout(std::time::Duration::from_millis(50))
            .build_unchecked(manager);
        match pool.get() {
            Ok(_) => panic!("nothing listens on port 1"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_500_shows_nothing_of_the_cause() {
        let error = Error::Query(diesel::result::Error::QueryBuilderError(
            "secret detail of the statement".into(),
        ));
        let http = HttpError::from(error);
        assert_eq!(http.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!http.message().contains("secret"), "{http}");
    }
}
