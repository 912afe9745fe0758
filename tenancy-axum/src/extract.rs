//! The extractor that hands a handler its request's tenant transaction.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tenancy_async::OwnedTenantTx;

use crate::HttpError;
use crate::layer::{Slot, SlotHandle, State};

/// The request's tenant transaction, for the tenant (and principal) the layer's resolver
/// found. The first extraction in a request begins it (one round trip: `BEGIN` with the
/// tenant context); a later one, after the first was dropped, gets the same transaction back.
/// [`crate::TenancyLayer`] commits or rolls it back once the response is known; a handler does
/// not end it itself.
///
/// It dereferences to [`OwnedTenantTx`]: `tx.tx()` lends the query methods
/// ([`tenancy_async::AsyncTenantTx`]), `tx.tenant()` names the tenant.
///
/// Extracting it takes a pooled connection, and the request holds that connection from then
/// until the layer ends the transaction. Axum runs a handler's extractors in order and the
/// body's last, so a handler taking `Tx` and `Json<_>` holds the connection while the client
/// sends its body, however slowly: a few clients trickling bodies can hold the whole pool, and
/// every other tenant's request waits for a connection until it gets a 503. A handler that
/// reads a body (or does anything slow before its first query) takes [`LazyTx`] instead, and
/// begins the transaction once the body is in and checked.
///
/// Rejections: the transaction's opening errors as [`HttpError`] (a suspended tenant is 403,
/// no free connection 503); a route without the layer, or a second `Tx` while the first is
/// still held, is a 500 (a programming error, logged).
pub struct Tx {
    /// `Some` until dropped: `Drop` hands the transaction back to the request's slot.
    tx: Option<OwnedTenantTx>,
    slot: Arc<Slot>,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("tx", &self.tx)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tx {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, HttpError> {
        take(slot_of(parts)?).await
    }
}

/// The request's transaction, not begun yet: extracting it takes no connection, and
/// [`LazyTx::begin`] hands over the [`Tx`] when the handler is ready for it.
///
/// A handler that reads a body, or does other slow work before its first query, takes this
/// instead of [`Tx`], so that no pooled connection is held while a client sends its body:
///
/// ```
/// use axum::Json;
/// use tenancy_axum::{HttpError, LazyTx};
///
/// async fn create(lazy: LazyTx, Json(name): Json<String>) -> Result<(), HttpError> {
///     // The body is in and checked; only now is a connection taken.
///     if name.trim().is_empty() {
///         return Err(HttpError::bad_request("a name is needed"));
///     }
///     let mut tx = lazy.begin().await?;
///     # let _ = tx.tx();
///     Ok(())
/// }
/// ```
///
/// The layer ends the transaction as it ends one extracted as [`Tx`]; a handler that never
/// calls `begin` uses no connection.
#[derive(Clone)]
pub struct LazyTx {
    slot: Arc<Slot>,
}

impl std::fmt::Debug for LazyTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyTx")
            .field("tenant", &self.slot.tenant)
            .finish_non_exhaustive()
    }
}

impl LazyTx {
    /// The request's transaction, begun now if nothing began it yet; as extracting [`Tx`].
    ///
    /// # Errors
    /// As the extraction of [`Tx`]: the opening's errors (a suspended tenant 403, no free
    /// connection 503), or a 500 while another [`Tx`] of the request is still held.
    pub async fn begin(&self) -> Result<Tx, HttpError> {
        take(Arc::clone(&self.slot)).await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for LazyTx {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, HttpError> {
        Ok(LazyTx {
            slot: slot_of(parts)?,
        })
    }
}

fn slot_of(parts: &Parts) -> Result<Arc<Slot>, HttpError> {
    if let Some(SlotHandle(slot)) = parts.extensions.get::<SlotHandle>() {
        return Ok(Arc::clone(slot));
    }
    tracing::error!(
        target: "tenancy::http",
        "the request's transaction extracted on a route without `TenancyLayer`"
    );
    Err(HttpError::internal())
}

/// Lends `slot`'s transaction, begun first if it was not.
async fn take(slot: Arc<Slot>) -> Result<Tx, HttpError> {
    let waiting = {
        let mut state = slot.state();
        match std::mem::replace(&mut *state, State::Lent) {
            State::Idle(tx) => Some(*tx),
            State::NotBegun => None,
            held @ (State::Lent | State::Finished) => {
                *state = held;
                tracing::error!(
                    target: "tenancy::http",
                    "`Tx` extracted while the request's transaction is held elsewhere"
                );
                return Err(HttpError::internal());
            }
        }
    };
    let tx = if let Some(tx) = waiting {
        tx
    } else {
        // Until the transaction is begun, the slot holds nothing: a failed opening, or
        // this future dropped while it waits (a timeout of the route's, inside the layer),
        // puts it back to `NotBegun`, so that the layer answers with the response it gets
        // instead of a 500 for a transaction still held.
        let opening = Opening(Some(&slot));
        let tx = slot.tenancy.begin(slot.tenant, slot.principal).await?;
        opening.begun();
        tx
    };
    Ok(Tx { tx: Some(tx), slot })
}

/// A transaction being begun for a slot; dropped before [`Opening::begun`], it puts the slot
/// back to [`State::NotBegun`].
struct Opening<'s>(Option<&'s Slot>);

impl Opening<'_> {
    fn begun(mut self) {
        self.0 = None;
    }
}

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        let Some(slot) = self.0 else { return };
        let mut state = slot.state();
        if matches!(*state, State::Lent) {
            *state = State::NotBegun;
        }
    }
}

impl Deref for Tx {
    type Target = OwnedTenantTx;

    fn deref(&self) -> &OwnedTenantTx {
        self.tx
            .as_ref()
            .expect("a Tx holds its transaction until dropped")
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut OwnedTenantTx {
        self.tx
            .as_mut()
            .expect("a Tx holds its transaction until dropped")
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        let Some(tx) = self.tx.take() else { return };
        let mut state = self.slot.state();
        if matches!(*state, State::Lent) {
            *state = State::Idle(Box::new(tx));
        }
        // Otherwise the response already went out: `tx` is dropped here, open, so its
        // connection is closed and PostgreSQL rolls it back.
    }
}
