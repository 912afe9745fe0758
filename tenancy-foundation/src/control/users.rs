//! Users: a global table holding every tenant's people, so it is only ever read on the admin
//! path, and emails are compared case-insensitively everywhere.

use diesel::prelude::*;

use super::validate::{check_email, check_name, conflict};
use crate::models::{NewUser, User};
use crate::schema::users;
use crate::{Result, Tenancy, UserId};

pub(crate) mod sql {
    diesel::define_sql_function!(
        /// SQL `lower(text)`.
        fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text
    );
}
use sql::lower;

pub(crate) fn find_user(conn: &mut PgConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(lower(users::email).eq(lower(email)))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub(crate) fn find_or_create_user(
    conn: &mut PgConnection,
    email: &str,
    name: &str,
) -> QueryResult<UserId> {
    match find_user(conn, email)? {
        Some(user) => Ok(user.id),
        None => insert_user(conn, email, name),
    }
}

/// A new user's id: random (version 4), unlike the other ids. Every tenant that invites a user
/// reads its id, and a UUIDv7 carries its creation time, which would tell the tenant that the
/// address was registered before the invitation. `users` is small and global, so the index
/// locality of time-ordered ids is not worth that.
fn new_user_id() -> UserId {
    UserId::from_uuid(uuid::Uuid::new_v4())
}

pub(crate) fn insert_user(conn: &mut PgConnection, email: &str, name: &str) -> QueryResult<UserId> {
    let id = new_user_id();
    diesel::insert_into(users::table)
        .values(NewUser {
            id,
            email,
            display_name: name.trim(),
        })
        .execute(conn)?;
    Ok(id)
}

/// Creates a user.
///
/// # Errors
/// [`Error::InvalidInput`](crate::Error::InvalidInput),
/// [`Error::Conflict`](crate::Error::Conflict) when the email is taken (case-insensitively),
/// or a database error.
pub fn create_user(tenancy: &Tenancy, email: &str, display_name: &str) -> Result<User> {
    check_email(email)?;
    check_name("display_name", display_name)?;
    crate::control_plane(tenancy, "control plane: create user", |conn| {
        diesel::insert_into(users::table)
            .values(NewUser {
                id: new_user_id(),
                email,
                display_name: display_name.trim(),
            })
            .returning(User::as_returning())
            .get_result(conn)
            .map_err(|e| conflict(e, || "a user with this email exists".to_owned()))
    })
}

/// The user with this email, compared case-insensitively.
///
/// # Errors
/// A database error.
pub fn find_user_by_email(tenancy: &Tenancy, email: &str) -> Result<Option<User>> {
    crate::control_plane(tenancy, "control plane: find user", |conn| {
        Ok(find_user(conn, email.trim())?)
    })
}
