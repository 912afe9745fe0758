//! Input checks and the mapping of unique violations, shared with `org`, `envelope` and `seed`
//! so that the same rules and messages apply wherever a slug, name or email comes in.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::{Error, Result};

pub(crate) fn check_slug(slug: &str) -> Result<()> {
    let mut bytes = slug.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let rest_ok =
        bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if first_ok && rest_ok && slug.len() <= 63 {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            field: "slug",
            reason: "expected 1 to 63 lowercase letters, digits, `_` or `-`, not starting with `-`"
                .into(),
        })
    }
}

pub(crate) fn check_name(field: &'static str, name: &str) -> Result<()> {
    let n = name.trim().chars().count();
    // PostgreSQL's text cannot hold NUL, and no other control character belongs in a name
    // shown to people.
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidInput {
            field,
            reason: "expected no control characters (tabs, line breaks, NUL)".into(),
        });
    }
    if (1..=200).contains(&n) {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            field,
            reason: "expected 1 to 200 characters".into(),
        })
    }
}

pub(crate) fn check_email(email: &str) -> Result<()> {
    if email.len() >= 3
        && email.len() <= 320
        && email.trim() == email
        && !email.chars().any(char::is_control)
        && email
            .find('@')
            .is_some_and(|at| at > 0 && at + 1 < email.len())
    {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            field: "email",
            reason: "expected an address such as ada@example.com (3 to 320 bytes, no surrounding spaces)".into(),
        })
    }
}

/// A data region is a code such as `eu` or `us-east-1`, spelled as a slug is.
pub(crate) fn check_data_region(region: &str) -> Result<()> {
    check_slug(region).map_err(|_| Error::InvalidInput {
        field: "data_region",
        reason: "expected a region code such as `eu` or `us-east-1`: 1 to 63 lowercase letters, digits, `_` or `-`, not starting with `-`".into(),
    })
}

/// A unique violation becomes [`Error::Conflict`] with `what`; anything else passes through.
pub(crate) fn conflict(err: DieselError, what: impl FnOnce() -> String) -> Error {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            Error::Conflict { what: what() }
        }
        other => Error::Query(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_checks() {
        for ok in ["acme", "a", "_default", "acme-2", "x_y"] {
            assert!(check_slug(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-acme", "Acme", "a b", "ä", &"a".repeat(64), "a;drop"] {
            assert!(
                matches!(
                    check_slug(bad),
                    Err(Error::InvalidInput { field: "slug", .. })
                ),
                "{bad}"
            );
        }
        for ok in ["a@b", "ada@example.com"] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in ["", "@b", "a@", "ab", " a@b", "plain"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_name("name", "  ").is_err());
        assert!(check_name("name", &"n".repeat(201)).is_err());
        assert!(check_name("name", "Ada").is_ok());
        assert!(check_name("name", "Ada Lovelace-Byron").is_ok());
        for bad in ["a\0b", "a\nb", "tab\there"] {
            assert!(check_name("name", bad).is_err(), "{bad:?}");
        }
        assert!(check_email("a\0@example.com").is_err());
        for ok in ["eu", "us-east-1", "ap_south"] {
            assert!(check_data_region(ok).is_ok(), "{ok}");
        }
        for bad in ["", "EU", "eu\0", &"e".repeat(64), "-eu"] {
            assert!(
                matches!(
                    check_data_region(bad),
                    Err(Error::InvalidInput {
                        field: "data_region",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }
}
