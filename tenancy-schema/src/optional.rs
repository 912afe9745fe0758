//! `.optional()` for tenancy's results. Reads in a tenant transaction return
//! [`crate::Result`], not Diesel's `QueryResult`, so Diesel's `OptionalExtension` does not
//! apply to them; this is the same method, and it treats both shapes of "no row" alike: a
//! query that found nothing and a lookup that reports [`Error::NotFound`].

use crate::{Error, Result};

/// `.optional()` on a [`crate::Result`]: `Ok(None)` where the row does not exist (or is
/// another tenant's, which a tenant transaction cannot tell apart).
///
/// ```no_run
/// use diesel::prelude::*;
/// use tenancy_schema::OptionalExt as _;
///
/// #[tenancy_schema::tenant_scoped]
/// diesel::table! {
///     posts (id) {
///         id -> Int4,
///         title -> Text,
///     }
/// }
///
/// # fn demo(tenancy: &tenancy_schema::Tenancy, tenant: tenancy_schema::TenantId)
/// #     -> Result<(), tenancy_schema::Error> {
/// let title: Option<String> = tenancy.transaction(tenant, |tx| {
///     tx.first(posts::table.filter(posts::id.eq(7)).select(posts::title)).optional()
/// })?;
/// # let _ = title; Ok(()) }
/// # fn main() {}
/// ```
pub trait OptionalExt<T> {
    /// `Ok(Some(row))`, `Ok(None)` for no row, or the error.
    ///
    /// # Errors
    /// Every error but "not found".
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExt<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(Error::Query(diesel::result::Error::NotFound) | Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OptionalExt;
    use crate::Error;

    #[test]
    fn not_found_in_either_shape_is_none() {
        let found: crate::Result<i32> = Ok(1);
        assert!(matches!(found.optional(), Ok(Some(1))));
        let none: crate::Result<i32> = Err(Error::Query(diesel::result::Error::NotFound));
        assert!(matches!(none.optional(), Ok(None)));
        let none: crate::Result<i32> = Err(Error::NotFound { entity: "post" });
        assert!(matches!(none.optional(), Ok(None)));
        let other: crate::Result<i32> = Err(Error::MissingAdminReason);
        assert!(matches!(other.optional(), Err(Error::MissingAdminReason)));
    }
}
