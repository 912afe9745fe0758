//! The control plane: tenant lifecycle, users and memberships.
//!
//! Creating tenants and users, and everything that reads `users` (a global table with other
//! tenants' people in it), runs on the admin path ([`Tenancy::admin`](crate::Tenancy::admin),
//! `BYPASSRLS`), with every query filtered by tenant explicitly. Work inside one tenant
//! (changing a member's role, removing a member) runs in that tenant's transaction as the
//! acting principal, under row level security and [`authz::require`](crate::authz::require).
//! Every mutation writes an audit row in the same transaction.
//!
//! ```no_run
//! use tenancy_foundation::control::{self, Actor, NewTenantSpec};
//! use tenancy_foundation::models::{MemberRole, PlanTier};
//! # fn demo(tenancy: &tenancy_schema::Tenancy) -> Result<(), tenancy_schema::Error> {
//! let acme = control::create_tenant(tenancy, &NewTenantSpec {
//!     slug: "acme",
//!     name: "Acme Inc.",
//!     plan: PlanTier::Pro,
//!     data_region: None,
//!     owner_email: "ada@acme.test",
//!     owner_name: "Ada",
//! })?;
//! control::invite_member(
//!     tenancy,
//!     acme.tenant,
//!     Actor::Principal(acme.owner_principal),
//!     "bob@acme.test",
//!     "Bob",
//!     MemberRole::Member,
//! )?;
//! control::suspend_tenant(tenancy, acme.tenant)?;
//! # Ok(()) }
//! ```

mod actor;
mod invitations;
mod members;
mod outsider;
mod tenants;
mod users;
mod validate;

pub use actor::Actor;
pub use invitations::{Invitation, accept_invitation, invite_member};
pub use members::{change_member_role, remove_member};
pub(crate) use tenants::insert_tenant_with_owner;
pub use tenants::{
    CreatedTenant, NewTenantSpec, create_tenant, delete_tenant, get_tenant, list_tenants,
    purge_tenant, rename_tenant, resume_tenant, suspend_tenant,
};
pub use users::{create_user, find_user_by_email};
pub(crate) use users::{find_user, insert_user, sql};
pub(crate) use validate::{check_email, check_name, conflict};
