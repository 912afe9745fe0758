//! The pool settings a builder accepts, checked before any pool exists: the pool crates
//! (r2d2, bb8) panic on a size or timeout of zero.

use std::time::Duration;

use crate::Error;

/// Refuses a pool of no connections or a checkout that may never wait.
///
/// # Errors
/// [`Error::InvalidInput`] naming the builder setting.
#[doc(hidden)]
pub fn check_pool_settings(
    max_size: u32,
    admin_max_size: u32,
    connection_timeout: Duration,
) -> Result<(), Error> {
    let refuse = |field, reason: &str| {
        Err(Error::InvalidInput {
            field,
            reason: reason.to_owned(),
        })
    };
    if max_size == 0 {
        return refuse("max_size", "a pool needs at least one connection");
    }
    if admin_max_size == 0 {
        return refuse("admin_max_size", "a pool needs at least one connection");
    }
    if connection_timeout.is_zero() {
        return refuse(
            "connection_timeout",
            "a checkout needs a timeout above zero (it is how long a transaction waits for a free connection)",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_timeouts_of_zero_are_refused_by_name() {
        let second = Duration::from_secs(1);
        for (max, admin, timeout, field) in [
            (0, 2, second, "max_size"),
            (10, 0, second, "admin_max_size"),
            (10, 2, Duration::ZERO, "connection_timeout"),
        ] {
            match check_pool_settings(max, admin, timeout) {
                Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(check_pool_settings(1, 1, Duration::from_millis(1)).is_ok());
    }
}
