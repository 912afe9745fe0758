//! Tenant and principal identifiers.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// Why a typed id could not be parsed from text.
///
/// Ids are written as a prefix naming the entity, an underscore, and the UUID as 32
/// lowercase hexadecimal digits without hyphens (`ten_0190b5a48c3e7c4e9a573f1d2f6b8a10`).
/// Parsing also accepts uppercase digits (ids copied through tools that upper-case them),
/// and displays them in lowercase again; the prefix is case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    /// The text does not start with the entity's prefix (for example a `usr_` id given
    /// where a `ten_` id is expected).
    #[error("invalid {kind} id {input:?}: expected the prefix `{expected}`")]
    WrongPrefix {
        /// The entity the id was parsed for (`tenant`, `user`, ...).
        kind: &'static str,
        /// The prefix this entity uses, with its underscore.
        expected: &'static str,
        /// The start of the rejected text (at most 64 characters).
        input: String,
    },
    /// The prefix is right but what follows is not 32 hexadecimal digits.
    #[error("invalid {kind} id {input:?}: expected `{expected}` followed by 32 hexadecimal digits")]
    Malformed {
        /// The entity the id was parsed for.
        kind: &'static str,
        /// The prefix this entity uses, with its underscore.
        expected: &'static str,
        /// The start of the rejected text (at most 64 characters).
        input: String,
    },
}

/// Parses `<prefix><32 hex digits>`; used by the ids [`typed_id!`] defines.
#[doc(hidden)]
pub fn parse_prefixed(
    s: &str,
    prefix: &'static str,
    kind: &'static str,
) -> Result<Uuid, ParseIdError> {
    let input = || s.chars().take(64).collect::<String>();
    let Some(hex) = s.strip_prefix(prefix) else {
        return Err(ParseIdError::WrongPrefix {
            kind,
            expected: prefix,
            input: input(),
        });
    };
    // `Uuid::try_parse` also accepts hyphenated, braced and URN forms; the text format is
    // one shape only (32 hex digits, either case), so check the shape first.
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ParseIdError::Malformed {
            kind,
            expected: prefix,
            input: input(),
        });
    }
    Uuid::try_parse(hex).map_err(|_| ParseIdError::Malformed {
        kind,
        expected: prefix,
        input: input(),
    })
}

/// A typed id over a UUID, stored as plain `uuid` and written as `<prefix><32 hex digits>`.
pub trait TypedId: Copy + Eq + fmt::Display + FromStr<Err = ParseIdError> {
    /// The text prefix, underscore included (`"ten_"`).
    const PREFIX: &'static str;
    /// The entity name used in error messages (`"tenant"`).
    const KIND: &'static str;
    /// Wraps an existing UUID.
    fn from_uuid(id: Uuid) -> Self;
    /// The underlying UUID.
    fn uuid(&self) -> Uuid;
}

/// Defines a typed id over a UUID, like [`TenantId`]: stored as plain `uuid`, written as
/// `<prefix><32 hex digits>`, parsed back with [`ParseIdError`] for the wrong prefix or shape,
/// serialised as its text form, and created as UUIDv7 with `new_v7()`. The defining crate
/// needs `diesel` as a dependency (the id derives Diesel's `AsExpression` and `FromSqlRow`).
///
/// ```
/// tenancy_schema::typed_id!(
///     /// Identifies an invoice (`inv_…`).
///     InvoiceId, "inv_", "invoice"
/// );
/// let id = InvoiceId::new_v7();
/// assert!(id.to_string().starts_with("inv_"));
/// assert_eq!(id.to_string().parse::<InvoiceId>(), Ok(id));
/// ```
#[macro_export]
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = $crate::__private_v0_1::diesel::sql_types::Uuid)]
        pub struct $name($crate::__private_v0_1::uuid::Uuid);

        impl $name {
            /// The text prefix of this id, underscore included.
            pub const PREFIX: &'static str = $prefix;

            /// Wraps an existing UUID.
            #[must_use]
            pub const fn from_uuid(id: $crate::__private_v0_1::uuid::Uuid) -> Self {
                Self(id)
            }

            /// A fresh, time-ordered (UUIDv7) id: new rows land at the end of
            /// `(tenant_id, id)` indexes instead of at random pages.
            #[must_use]
            pub fn new_v7() -> Self {
                Self($crate::__private_v0_1::uuid::Uuid::now_v7())
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> &$crate::__private_v0_1::uuid::Uuid {
                &self.0
            }
        }

        impl $crate::TypedId for $name {
            const PREFIX: &'static str = $prefix;
            const KIND: &'static str = $kind;
            fn from_uuid(id: $crate::__private_v0_1::uuid::Uuid) -> Self {
                Self(id)
            }
            fn uuid(&self) -> $crate::__private_v0_1::uuid::Uuid {
                self.0
            }
        }

        impl ::core::convert::From<$crate::__private_v0_1::uuid::Uuid> for $name {
            fn from(id: $crate::__private_v0_1::uuid::Uuid) -> Self {
                Self(id)
            }
        }

        impl ::core::convert::From<$name> for $crate::__private_v0_1::uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str($prefix)?;
                ::core::fmt::Display::fmt(&self.0.simple(), f)
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = $crate::ParseIdError;

            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                $crate::__private_v0_1::parse_prefixed(s, $prefix, $kind).map(Self)
            }
        }

        impl $crate::__private_v0_1::serde::Serialize for $name {
            fn serialize<S: $crate::__private_v0_1::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::core::result::Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> $crate::__private_v0_1::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__private_v0_1::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as $crate::__private_v0_1::serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(<D::Error as $crate::__private_v0_1::serde::de::Error>::custom)
            }
        }

        impl $crate::__private_v0_1::diesel::serialize::ToSql<
            $crate::__private_v0_1::diesel::sql_types::Uuid,
            $crate::__private_v0_1::diesel::pg::Pg,
        > for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut $crate::__private_v0_1::diesel::serialize::Output<'b, '_, $crate::__private_v0_1::diesel::pg::Pg>,
            ) -> $crate::__private_v0_1::diesel::serialize::Result {
                <$crate::__private_v0_1::uuid::Uuid as $crate::__private_v0_1::diesel::serialize::ToSql<
                    $crate::__private_v0_1::diesel::sql_types::Uuid,
                    $crate::__private_v0_1::diesel::pg::Pg,
                >>::to_sql(&self.0, out)
            }
        }

        impl $crate::__private_v0_1::diesel::deserialize::FromSql<
            $crate::__private_v0_1::diesel::sql_types::Uuid,
            $crate::__private_v0_1::diesel::pg::Pg,
        > for $name {
            fn from_sql(
                bytes: $crate::__private_v0_1::diesel::pg::PgValue<'_>,
            ) -> $crate::__private_v0_1::diesel::deserialize::Result<Self> {
                <$crate::__private_v0_1::uuid::Uuid as $crate::__private_v0_1::diesel::deserialize::FromSql<
                    $crate::__private_v0_1::diesel::sql_types::Uuid,
                    $crate::__private_v0_1::diesel::pg::Pg,
                >>::from_sql(bytes)
                .map(Self)
            }
        }
    };
}

typed_id!(
    /// Identifies a tenant (`ten_…`). Every row of a tenant-scoped table carries one in its
    /// `tenant_id` column, and every tenant transaction is bound to exactly one.
    ///
    /// ```
    /// use tenancy_schema::{ParseIdError, TenantId};
    /// let id: TenantId = "ten_0190b5a48c3e7c4e9a573f1d2f6b8a10".parse()?;
    /// assert_eq!(id.to_string(), "ten_0190b5a48c3e7c4e9a573f1d2f6b8a10");
    /// assert_eq!(id.as_uuid().to_string(), "0190b5a4-8c3e-7c4e-9a57-3f1d2f6b8a10");
    /// assert!(matches!(
    ///     "usr_0190b5a48c3e7c4e9a573f1d2f6b8a10".parse::<TenantId>(),
    ///     Err(ParseIdError::WrongPrefix { .. })
    /// ));
    /// # Ok::<(), ParseIdError>(())
    /// ```
    TenantId,
    "ten_",
    "tenant"
);

typed_id!(
    /// Identifies the principal (user, team or service) acting in a tenant transaction
    /// (`prn_…`); exposed to SQL as the `tenancy.principal_id` setting.
    PrincipalId,
    "prn_",
    "principal"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text_and_serde() {
        let id = TenantId::new_v7();
        let text = id.to_string();
        assert!(text.starts_with("ten_") && text.len() == 36, "{text}");
        assert_eq!(text.parse::<TenantId>(), Ok(id));
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(
            serde_json::from_str::<TenantId>(&json).expect("deserialize"),
            id
        );
        let principal = PrincipalId::new_v7();
        assert_eq!(principal.to_string().parse::<PrincipalId>(), Ok(principal));
    }

    #[test]
    fn ids_are_uuid_v7() {
        assert_eq!(PrincipalId::new_v7().as_uuid().get_version_num(), 7);
    }

    #[test]
    fn wrong_prefix_is_its_own_error() {
        let user = PrincipalId::new_v7().to_string();
        assert!(matches!(
            user.parse::<TenantId>(),
            Err(ParseIdError::WrongPrefix {
                kind: "tenant",
                expected: "ten_",
                ..
            })
        ));
        // A bare UUID has no prefix either: the text format is one spelling only.
        let bare = Uuid::now_v7().to_string();
        assert!(matches!(
            bare.parse::<TenantId>(),
            Err(ParseIdError::WrongPrefix { .. })
        ));
    }

    #[test]
    fn rejects_bad_text_with_a_typed_error() {
        for bad in [
            "ten_",
            "ten_0190b5a4-8c3e-7c4e-9a57-3f1d2f6b8a10",
            "ten_0190b5a48c3e7c4e9a573f1d2f6b8a1",
            "ten_0190b5a48c3e7c4e9a573f1d2f6b8a10a",
            "ten_0190b5a48c3e7c4e9a573f1d2f6b8a1g",
            "ten_'; DROP TABLE x; --",
            "ten_０１９０",
        ] {
            let err = bad.parse::<TenantId>().expect_err(bad);
            assert!(
                matches!(err, ParseIdError::Malformed { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("invalid tenant id"), "{err}");
        }
        let long = format!("prn_{}", "x".repeat(10_000));
        let err = long.parse::<PrincipalId>().expect_err("long");
        assert!(err.to_string().len() < 200, "error text must stay bounded");
        assert!(serde_json::from_str::<TenantId>("\"nope\"").is_err());
    }
}
