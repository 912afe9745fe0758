//! The foundation schema's typed ids, defined like the core's `TenantId`.

tenancy_schema::typed_id!(
    /// Identifies a global user identity (`usr_…`); one person may belong to several tenants.
    UserId,
    "usr_",
    "user"
);

tenancy_schema::typed_id!(
    /// Identifies a team inside a tenant (`team_…`).
    TeamId,
    "team_",
    "team"
);

tenancy_schema::typed_id!(
    /// Identifies a workspace inside a tenant (`wsp_…`).
    WorkspaceId,
    "wsp_",
    "workspace"
);

tenancy_schema::typed_id!(
    /// Identifies a resource inside a tenant (`res_…`).
    ResourceId,
    "res_",
    "resource"
);

tenancy_schema::typed_id!(
    /// Identifies an API key record (`key_…`); not the secret itself.
    ApiKeyId,
    "key_",
    "api key"
);

tenancy_schema::typed_id!(
    /// Identifies an organisation membership row (`mem_…`).
    MembershipId,
    "mem_",
    "membership"
);

tenancy_schema::typed_id!(
    /// Identifies an audit log entry (`aud_…`).
    AuditEntryId,
    "aud_",
    "audit entry"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foundation_ids_round_trip_and_are_uuid_v7() {
        let team = TeamId::new_v7();
        assert_eq!(team.to_string().parse::<TeamId>(), Ok(team));
        assert_eq!(ResourceId::new_v7().as_uuid().get_version_num(), 7);
        let user = UserId::new_v7().to_string();
        assert!(matches!(
            user.parse::<TeamId>(),
            Err(tenancy_schema::ParseIdError::WrongPrefix {
                kind: "team",
                expected: "team_",
                ..
            })
        ));
    }
}
