//! Tenant and principal identifiers.

use std::fmt;
use std::str::FromStr;

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Uuid as SqlUuid;
use uuid::Uuid;

/// The text given to [`TenantId::from_str`] or [`PrincipalId::from_str`] is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {kind} id {input:?}: expected a UUID such as 0190b5a4-8c3e-7c4e-9a57-3f1d2f6b8a10"
)]
pub struct ParseIdError {
    kind: &'static str,
    input: String,
}

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
            serde::Serialize, serde::Deserialize,
        )]
        #[diesel(sql_type = SqlUuid)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID.
            #[must_use]
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// A fresh, time-ordered (UUIDv7) id: new rows land at the end of
            /// `(tenant_id, id)` indexes instead of at random pages.
            #[must_use]
            pub fn new_v7() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| ParseIdError {
                    kind: $kind,
                    input: s.chars().take(64).collect(),
                })
            }
        }

        impl ToSql<SqlUuid, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <Uuid as ToSql<SqlUuid, Pg>>::to_sql(&self.0, out)
            }
        }

        impl FromSql<SqlUuid, Pg> for $name {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                <Uuid as FromSql<SqlUuid, Pg>>::from_sql(bytes).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Identifies a tenant. Every row of a tenant-scoped table carries one in its
    /// `tenant_id` column, and every tenant transaction is bound to exactly one.
    ///
    /// ```
    /// use tenancy_schema::TenantId;
    /// let id: TenantId = "0190b5a4-8c3e-7c4e-9a57-3f1d2f6b8a10".parse()?;
    /// assert_eq!(id.to_string(), "0190b5a4-8c3e-7c4e-9a57-3f1d2f6b8a10");
    /// assert!("not-a-uuid".parse::<TenantId>().is_err());
    /// # Ok::<(), tenancy_schema::ParseIdError>(())
    /// ```
    TenantId,
    "tenant"
);

uuid_id!(
    /// Identifies the principal (user, team or service) acting in a tenant transaction;
    /// exposed to SQL as the `tenancy.principal_id` setting.
    PrincipalId,
    "principal"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text_and_serde() {
        let id = TenantId::new_v7();
        assert_eq!(id.to_string().parse::<TenantId>(), Ok(id));
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(
            serde_json::from_str::<TenantId>(&json).expect("deserialize"),
            id
        );
    }

    #[test]
    fn rejects_bad_text_with_a_typed_error() {
        for bad in ["", "ten_", "'; DROP TABLE x; --", "0190b5a4-8c3e-7c4e-9a57"] {
            let err = bad.parse::<TenantId>().expect_err(bad);
            assert!(err.to_string().contains("invalid tenant id"), "{err}");
        }
        let long = "x".repeat(10_000);
        let err = long.parse::<PrincipalId>().expect_err("long");
        assert!(err.to_string().len() < 200, "error text must stay bounded");
    }
}
