//! The layer: resolves the request's tenant, gives the request a place for its transaction,
//! and ends that transaction once the response is known.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tenancy_async::{AsyncTenancy, OwnedTenantTx};
use tenancy_schema::{PrincipalId, TenantId};
use tower::{Layer, Service};
use tracing::Instrument;

use crate::{HttpError, TenantIdentity, TenantResolver};

/// Turns each request into (at most) one tenant transaction.
///
/// For every request it asks the resolver for the tenant (and principal); a rejection is
/// answered at once, without calling the handler. Otherwise the handler runs in a `tracing`
/// span `tenancy_request` carrying `tenant_id` (and `principal_id`), with the identity in
/// the request's extensions. The transaction begins only when something extracts
/// [`crate::Tx`] (or calls [`crate::LazyTx::begin`]); a request that never does uses no
/// connection. Once the handler answered:
///
/// - 2xx or 3xx: the transaction commits, before the response's body is sent (a streamed body
///   that fails after the head went out leaves it committed); if the commit fails, the answer
///   becomes the commit's error (never a success for a write that was not kept);
/// - any other status: it rolls back;
/// - the request's future dropped (a timeout, or the client gone, which the server notices
///   only while it reads the body or writes the response: a handler doing neither runs on)
///   or a panic: the transaction is dropped open, so its connection is closed instead of
///   pooled, and PostgreSQL rolls it back;
/// - a [`crate::Tx`] still held somewhere when the answer is ready (moved into a spawned task,
///   say): rolled back that way too, and the answer is a 500.
#[derive(Debug)]
pub struct TenancyLayer<R> {
    tenancy: AsyncTenancy,
    resolver: Arc<R>,
}

impl<R> Clone for TenancyLayer<R> {
    fn clone(&self) -> Self {
        Self {
            tenancy: self.tenancy.clone(),
            resolver: Arc::clone(&self.resolver),
        }
    }
}

impl<R: TenantResolver> TenancyLayer<R> {
    /// A layer opening transactions on `tenancy` for the tenants `resolver` finds.
    pub fn new(tenancy: AsyncTenancy, resolver: R) -> Self {
        Self {
            tenancy,
            resolver: Arc::new(resolver),
        }
    }
}

impl<S, R> Layer<S> for TenancyLayer<R> {
    type Service = TenancyService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        TenancyService {
            inner,
            tenancy: self.tenancy.clone(),
            resolver: Arc::clone(&self.resolver),
        }
    }
}

/// The service [`TenancyLayer`] wraps around the routes.
#[derive(Debug)]
pub struct TenancyService<S, R> {
    inner: S,
    tenancy: AsyncTenancy,
    resolver: Arc<R>,
}

impl<S: Clone, R> Clone for TenancyService<S, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            tenancy: self.tenancy.clone(),
            resolver: Arc::clone(&self.resolver),
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R> Service<Request> for TenancyService<S, R>
where
    S: Service<Request> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send,
    R: TenantResolver,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone that was polled ready is the one that must serve this request.
        let fresh = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, fresh);
        let tenancy = self.tenancy.clone();
        let resolver = Arc::clone(&self.resolver);
        Box::pin(serve(ready, tenancy, resolver, request))
    }
}

async fn serve<S, R>(
    mut inner: S,
    tenancy: AsyncTenancy,
    resolver: Arc<R>,
    request: Request,
) -> Result<Response, S::Error>
where
    S: Service<Request>,
    S::Response: IntoResponse,
    R: TenantResolver,
{
    let (mut parts, body) = request.into_parts();
    let identity = match resolver.resolve(&parts).await {
        Ok(identity) => identity,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let span = tracing::info_span!(
        "tenancy_request",
        tenant_id = %identity.tenant(),
        principal_id = tracing::field::Empty,
        method = %parts.method,
        path = parts.uri.path(),
    );
    if let Some(principal) = identity.principal() {
        span.record("principal_id", tracing::field::display(principal));
    }
    let slot = Arc::new(Slot {
        tenancy,
        tenant: identity.tenant(),
        principal: identity.principal(),
        state: Mutex::new(State::NotBegun),
    });
    parts.extensions.insert(identity);
    parts.extensions.insert(SlotHandle(Arc::clone(&slot)));
    let request = Request::from_parts(parts, body);
    async move {
        let response = inner.call(request).await?.into_response();
        Ok(slot.finish(response).await)
    }
    .instrument(span)
    .await
}

/// Where a request's transaction waits between extractions, and where the layer finds it.
pub(crate) struct Slot {
    pub(crate) tenancy: AsyncTenancy,
    pub(crate) tenant: TenantId,
    pub(crate) principal: Option<PrincipalId>,
    state: Mutex<State>,
}

pub(crate) enum State {
    /// Nothing extracted a transaction yet.
    NotBegun,
    /// Begun, and not held by an extractor right now (boxed: a pooled connection is large,
    /// and every request carries a slot).
    Idle(Box<OwnedTenantTx>),
    /// An extractor holds it (or is opening it).
    Lent,
    /// The answer went out; a transaction handed back now is dropped (its connection closed).
    Finished,
}

/// The request extension that leads [`crate::Tx`] to its request's slot.
#[derive(Clone)]
pub(crate) struct SlotHandle(pub(crate) Arc<Slot>);

impl Slot {
    /// The state, also after a panic elsewhere poisoned the lock: every transition leaves it
    /// whole, and a request must still be able to end its transaction.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn finish(&self, response: Response) -> Response {
        let state = std::mem::replace(&mut *self.state(), State::Finished);
        match state {
            State::NotBegun | State::Finished => response,
            State::Lent => {
                tracing::error!(
                    target: "tenancy::http",
                    "the request's transaction was still held when the response was ready: rolled back"
                );
                HttpError::internal().into_response()
            }
            State::Idle(tx) => {
                let status = response.status();
                if status.is_success() || status.is_redirection() {
                    match tx.commit().await {
                        Ok(()) => response,
                        Err(e) => HttpError::from(e).into_response(),
                    }
                } else {
                    if let Err(e) = tx.rollback().await {
                        // The answer stands: the transaction is gone either way (a failed
                        // rollback closes the connection).
                        tracing::warn!(target: "tenancy::http", error = %e, "rollback failed");
                    }
                    response
                }
            }
        }
    }
}
