//! The tenant context a transaction opens with, and the key that makes it unforgeable.
//!
//! The database accepts a context only through `tenancy.enter(tenant, principal, counter,
//! mac)`, where `mac` is HMAC-SHA256 under the context key over the connection's session
//! number (from `tenancy.open_session()`), a counter that only grows, the tenant and the
//! principal. The application role cannot read the key, so SQL running inside a transaction
//! (raw statements, an injected fragment) cannot open a context for another tenant, and a
//! value it observes is void in any other session and, once the counter moved on, in this one.
//! `docs/adr/0002-sealed-tenant-context.md` has the design.

mod entry;
mod key;
mod statements;
#[cfg(test)]
mod tests;

pub use entry::ContextEntry;
pub(crate) use entry::{push_comment_begin, push_enter};
pub use key::ContextKey;
pub use statements::{EnterBlockStatement, EnterStatement, OpenStatement};
