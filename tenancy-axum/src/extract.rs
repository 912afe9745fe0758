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
        let Some(SlotHandle(slot)) = parts.extensions.get::<SlotHandle>().cloned() else {
            tracing::error!(
                target: "tenancy::http",
                "`Tx` extracted on a route without `TenancyLayer`"
            );
            return Err(HttpError::internal());
        };
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
