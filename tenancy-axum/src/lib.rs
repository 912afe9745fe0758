//! An axum layer and extractor that turn a request into a tenant transaction of
//! [`tenancy_async`]: the application says how a request names its tenant, and each handler
//! that asks for [`Tx`] gets a transaction bound to that tenant, committed when the handler
//! answers 2xx or 3xx and rolled back otherwise.
//!
//! ```no_run
//! use axum::{Json, Router, routing::get};
//! use diesel::prelude::*;
//! use tenancy_axum::{HttpError, Tenant, TenancyLayer, TenantResolver, Tx};
//!
//! #[tenancy_schema::tenant_scoped]
//! diesel::table! {
//!     notes (id) {
//!         id -> Int4,
//!         body -> Text,
//!     }
//! }
//!
//! /// How this application finds a request's tenant (a session, a token, an API key).
//! struct FromSession;
//!
//! impl TenantResolver for FromSession {
//!     type Identity = Tenant;
//!     async fn resolve(&self, parts: &axum::http::request::Parts) -> Result<Tenant, HttpError> {
//!         # let _ = parts;
//!         Err(HttpError::unauthorized("missing_credentials", "log in first"))
//!     }
//! }
//!
//! // Only this tenant's notes: the transaction scopes every tenant table the query names.
//! async fn list(mut tx: Tx) -> Result<Json<Vec<String>>, HttpError> {
//!     Ok(Json(tx.tx().load(notes::table.select(notes::body)).await?))
//! }
//!
//! # async fn demo() -> Result<(), tenancy_schema::Error> {
//! let tenancy = tenancy_async::AsyncTenancy::builder("postgres://app_login@db/app")
//!     .admin_url("postgres://admin_login@db/app")
//!     .build()
//!     .await?;
//! let app: Router = Router::new()
//!     .route("/notes", get(list))
//!     .layer(TenancyLayer::new(tenancy, FromSession));
//! # let _ = app; Ok(()) }
//! # fn main() {}
//! ```
//!
//! # Semantics
//!
//! - The resolver ([`TenantResolver`]) runs first, on the request's head; its rejection is the
//!   answer and no handler runs. Its identity goes into the request's extensions.
//! - The transaction begins on the first extraction of [`Tx`], not before: a handler that does
//!   not extract it uses no connection. With an `AsyncTenancy` built with
//!   [`pipeline(true)`](tenancy_async::AsyncTenancyBuilder::pipeline), extracting it only
//!   checks out the connection; the opening goes out with the handler's first statement, and a
//!   refusal (a suspended tenant) comes back from that statement, with the same response.
//! - From its extraction on, the request holds a pooled connection, also while axum reads the
//!   body for a later extractor (`Json<_>`). A handler with a body takes [`LazyTx`] and calls
//!   [`LazyTx::begin`] once the body is in and checked, so that a client sending its body
//!   slowly holds no connection.
//! - The layer ends it: commit on 2xx/3xx (a failed commit turns the answer into an error),
//!   rollback otherwise. A request whose future is dropped (the client went away, a timeout)
//!   or whose handler panics leaves the transaction open in a dropped value: its connection
//!   is closed instead of pooled, and PostgreSQL rolls it back; no pooled connection keeps a
//!   transaction or a tenant context ([`tenancy_async::OwnedTenantTx`]).
//! - The server drops a request's future when it notices that the client went away, and it
//!   notices only while it reads the request's body or writes the response. A handler that
//!   does neither for a while (the body read already, or none announced) runs on after the
//!   client left, and its 2xx still commits. The commit happens before the response's body
//!   is sent: a 2xx whose streamed body fails after the head went out stays committed.
//! - Each request runs in a `tracing` span `tenancy_request` with `tenant_id`, `principal_id`
//!   (when there is one), `method` and `path`.
//! - Errors answer with a status code and `{"error": "<code>", "message": "<text>"}`
//!   ([`HttpError`], which tenancy's errors convert into): another tenant's id is 404, never
//!   403; a missing permission 403; anything unexpected 500 without details.
//!
//! With the `foundation` feature, `foundation::ApiKeyResolver` resolves requests by the
//! foundation schema's API keys (`Authorization: Bearer tk_…`).

mod error;
mod extract;
#[cfg(feature = "foundation")]
pub mod foundation;
mod layer;
mod resolver;

pub use error::HttpError;
pub use extract::{LazyTx, Tx};
pub use layer::{TenancyLayer, TenancyService};
pub use resolver::{Tenant, TenantIdentity, TenantResolver};
