//! Who asks for a change. Kept apart because it decides whether a permission check runs at
//! all, and whose id the audit row carries.

use crate::PrincipalId;

/// Who asks for a control-plane change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The platform itself (sign-up flows, operators): no permission check, no actor in the
    /// audit row.
    System,
    /// A principal of the tenant concerned: needs the operation's permission there.
    Principal(PrincipalId),
}

impl Actor {
    pub(super) fn principal(self) -> Option<PrincipalId> {
        match self {
            Self::System => None,
            Self::Principal(p) => Some(p),
        }
    }
}
