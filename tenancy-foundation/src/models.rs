//! Rust types for the foundation schema (`migrations/`): one enum per PostgreSQL enum and
//! read/write models for every table.
//!
//! Read models of tenant-scoped tables are marked `#[tenant_scoped]`, which adds
//! `pub tenant_id: TenantId` as their first field. Write models (`New*`) never carry
//! `tenant_id`: tenant transactions fill it in.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::{
    api_key_usage, api_keys, audit_log, org_members, principals, resource_acl, resources,
    role_permissions, team_members, teams, tenants, users, workspaces,
};
use crate::{
    ApiKeyId, AuditEntryId, MembershipId, PrincipalId, ResourceId, TeamId, TenantId, UserId,
    WorkspaceId,
};

macro_rules! db_enum {
    ($(#[$meta:meta])* $name:ident => $path:literal { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            diesel_derive_enum::DbEnum, serde::Serialize, serde::Deserialize,
        )]
        #[ExistingTypePath = $path]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }
    };
}

db_enum!(
    /// `tenant_status`: a suspended tenant keeps its data but is not served.
    TenantStatus => "crate::schema::sql_types::TenantStatus" {
        /// Served normally.
        Active,
        /// Blocked from tenant transactions by the control plane.
        Suspended,
    }
);

db_enum!(
    /// `plan_tier`.
    PlanTier => "crate::schema::sql_types::PlanTier" {
        /// Free plan.
        Free,
        /// Paid plan.
        Pro,
        /// Contracted plan.
        Enterprise,
    }
);

db_enum!(
    /// `user_status`.
    UserStatus => "crate::schema::sql_types::UserStatus" {
        /// May sign in.
        Active,
        /// May not sign in.
        Disabled,
    }
);

db_enum!(
    /// `member_role`: a user's role in a tenant; `role_permissions` maps it to permissions.
    MemberRole => "crate::schema::sql_types::MemberRole" {
        /// Everything, including deleting the tenant.
        Owner,
        /// Everything but deleting the tenant.
        Admin,
        /// Teams, workspaces, resources and API keys.
        Manager,
        /// Reads and writes resources.
        Member,
        /// Reads resources.
        Customer,
    }
);

db_enum!(
    /// `member_status`.
    MemberStatus => "crate::schema::sql_types::MemberStatus" {
        /// A current member.
        Active,
        /// Invited, not yet joined.
        Invited,
        /// Removed (soft delete).
        Removed,
    }
);

db_enum!(
    /// `principal_kind`: who or what can act and be granted access.
    PrincipalKind => "crate::schema::sql_types::PrincipalKind" {
        /// A user's identity inside one tenant.
        User,
        /// A team; its members act with its grants too.
        Team,
        /// A machine identity (API keys, jobs).
        Service,
    }
);

db_enum!(
    /// `team_role`.
    TeamRole => "crate::schema::sql_types::TeamRole" {
        /// Manages the team.
        Maintainer,
        /// Belongs to the team.
        Member,
    }
);

db_enum!(
    /// `workspace_kind`.
    WorkspaceKind => "crate::schema::sql_types::WorkspaceKind" {
        /// One user's own workspace.
        Personal,
        /// A team's workspace: its owner is the team's principal.
        Team,
        /// Shared by the whole tenant.
        Org,
    }
);

db_enum!(
    /// `resource_kind`.
    ResourceKind => "crate::schema::sql_types::ResourceKind" {
        /// A prompt.
        Prompt,
        /// A collection of resources.
        Collection,
        /// A model configuration.
        Model,
        /// An integration.
        Integration,
        /// A tag.
        Tag,
    }
);

db_enum!(
    /// `resource_visibility`; see [`crate::access`] for the rules.
    ResourceVisibility => "crate::schema::sql_types::ResourceVisibility" {
        /// The owner and principals with an ACL grant.
        Private,
        /// Also everyone who can access the workspace.
        Workspace,
        /// Everyone in the tenant.
        Tenant,
    }
);

db_enum!(
    /// `acl_permission`.
    AclPermission => "crate::schema::sql_types::AclPermission" {
        /// Read the resource.
        Read,
        /// Read and update it.
        Write,
        /// Read, update and delete it.
        Admin,
    }
);

db_enum!(
    /// `api_key_status`.
    ApiKeyStatus => "crate::schema::sql_types::ApiKeyStatus" {
        /// Accepted (until it expires).
        Active,
        /// Never accepted again.
        Revoked,
    }
);

/// A row of `tenants` (global).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = tenants, check_for_backend(diesel::pg::Pg))]
pub struct Tenant {
    /// Primary key.
    pub id: TenantId,
    /// Unique, URL-safe name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Active or suspended.
    pub status: TenantStatus,
    /// Plan.
    pub plan: PlanTier,
    /// Where the tenant's data must live, when it matters.
    pub data_region: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update (trigger-maintained).
    pub updated_at: DateTime<Utc>,
    /// Soft-delete time.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The user whose personal tenant this is (set by `seed::seed_personal_tenant` when it
    /// creates the tenant); `None` for every other tenant.
    pub personal_user_id: Option<UserId>,
}

/// A new row of `tenants`.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tenants)]
pub struct NewTenant<'a> {
    /// Primary key.
    pub id: TenantId,
    /// Unique slug: lowercase letters, digits, `_` and `-`, at most 63 characters.
    pub slug: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Plan.
    pub plan: PlanTier,
    /// Data region.
    pub data_region: Option<&'a str>,
    /// The user whose personal tenant this is: only seeding sets it (a user has one).
    pub personal_user_id: Option<UserId>,
}

/// A row of `users` (global; not readable by `tenancy_app`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    /// Primary key.
    pub id: UserId,
    /// Email, unique regardless of case.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Active or disabled.
    pub status: UserStatus,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
    /// Soft-delete time.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A new row of `users`.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// Primary key.
    pub id: UserId,
    /// Email.
    pub email: &'a str,
    /// Display name.
    pub display_name: &'a str,
}

/// A row of `role_permissions` (global).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = role_permissions, check_for_backend(diesel::pg::Pg))]
pub struct RolePermission {
    /// Member role.
    pub role: MemberRole,
    /// Permission it grants, such as `resources.write`.
    pub permission: String,
}

/// A row of `principals`.
#[crate::tenant_scoped]
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = principals, check_for_backend(diesel::pg::Pg))]
pub struct Principal {
    /// Primary key within the tenant.
    pub id: PrincipalId,
    /// User, team or service.
    pub kind: PrincipalKind,
    /// The user, for kind `user`.
    pub user_id: Option<UserId>,
    /// Display name.
    pub display_name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

/// A new row of `principals`.
#[crate::tenant_scoped]
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = principals)]
pub struct NewPrincipal<'a> {
    /// Primary key within the tenant.
    pub id: PrincipalId,
    /// User, team or service.
    pub kind: PrincipalKind,
    /// The user, exactly when `kind` is `user`.
    pub user_id: Option<UserId>,
    /// Display name.
    pub display_name: &'a str,
}

/// A row of `org_members`: a user's membership in a tenant.
#[crate::tenant_scoped]
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = org_members, check_for_backend(diesel::pg::Pg))]
pub struct OrgMember {
    /// Primary key within the tenant.
    pub id: MembershipId,
    /// The member.
    pub user_id: UserId,
    /// The member's principal in this tenant.
    pub principal_id: PrincipalId,
    /// Role.
    pub role: MemberRole,
    /// Status.
    pub status: MemberStatus,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

/// A new row of `org_members`.
#[crate::tenant_scoped]
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = org_members)]
pub struct NewOrgMember {
    /// Primary key within the tenant.
    pub id: MembershipId,
    /// The member.
    pub user_id: UserId,
    /// The member's principal in this tenant.
    pub principal_id: PrincipalId,
    /// Role.
    pub role: MemberRole,
    /// Status.
    pub status: MemberStatus,
}

/// A row of `teams`.
#[crate::tenant_scoped]
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = teams, check_for_backend(diesel::pg::Pg))]
pub struct Team {
    /// Primary key within the tenant.
    pub id: TeamId,
    /// Name, unique in the tenant.
    pub name: String,
    /// The team's own principal (kind `team`).
    pub principal_id: PrincipalId,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

/// A new row of `teams`.
#[crate::tenant_scoped]
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = teams)]
pub struct NewTeam<'a> {
    /// Primary key within the tenant.
    pub id: TeamId,
    /// Name.
    pub name: &'a str,
    /// The team's principal.
    pub principal_id: PrincipalId,
}

/// A row of `team_members`.
#[crate::tenant_scoped]
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = team_members, check_for_backend(diesel::pg::Pg))]
pub struct TeamMember {
    /// The team.
    pub team_id: TeamId,
    /// The member principal.
    pub principal_id: PrincipalId,
    /// Role in the team.
    pub role: TeamRole,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

/// A new row of `team_members`.
#[crate::tenant_scoped]
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = team_members)]
pub struct NewTeamMember {
    /// The team.
    pub team_id: TeamId,
    /// The member principal.
    pub principal_id: PrincipalId,
    /// Role in the team.
    pub role: TeamRole,
}

/// A row of `workspaces`.
#[crate::tenant_scoped]
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = workspaces, check_for_backend(diesel::pg::Pg))]
pub struct Workspace {
    /// Primary key within the tenant.
    pub id: WorkspaceId,
    /// Name.
    pub name: String,
    /// Personal, team or org.
    pub kind: WorkspaceKind,
    /// Owner (a user's or a team's principal).
    pub owner_principal_id: PrincipalId,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

/// A new row of `workspaces`.
#[crate::tenant_scoped]
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = workspaces)]
pub struct NewWorkspace<'a> {
    /// Primary key within the tenant.
    pub id: WorkspaceId,
    /// Name.
    pub name: &'a str,
    /// Personal, team or org.
    pub kind: WorkspaceKind,
    /// Owner.
    pub owner_principal_id: PrincipalId,
}

/// A row of `resources`: the typed envelope around application data.
#[crate::tenant_scoped]
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = resources, check_for_backend(diesel::pg::Pg))]
pub struct Resource {
    /// Primary key within the tenant.
    pub id: ResourceId,
    /// The workspace it lives in.
    pub workspace_id: WorkspaceId,
    /// Kind.
    pub kind: ResourceKind,
    /// Name.
    pub name: String,
    /// Who may see it (with the ACL).
    pub visibility: ResourceVisibility,
    /// Owner.
    pub owner_principal_id: PrincipalId,
    /// Payload.
    pub data: serde_json::Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
    /// Soft-delete time.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A new row of `resources`.
#[crate::tenant_scoped]
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = resources)]
pub struct NewResource<'a> {
    /// Primary key within the tenant.
    pub id: ResourceId,
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// Kind.
    pub kind: ResourceKind,
    /// Name.
    pub name: &'a str,
    /// Visibility.
    pub visibility: ResourceVisibility,
    /// Owner; row level security requires it to be the acting principal or one of its teams.
    pub owner_principal_id: PrincipalId,
    /// Payload.
    pub data: &'a serde_json::Value,
}

/// A row of `resource_acl`: one grant on one resource.
#[crate::tenant_scoped]
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = resource_acl, check_for_backend(diesel::pg::Pg))]
pub struct AclEntry {
    /// The resource.
    pub resource_id: ResourceId,
    /// The grantee.
    pub principal_id: PrincipalId,
    /// What is granted.
    pub permission: AclPermission,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

/// A new row of `resource_acl`.
#[crate::tenant_scoped]
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = resource_acl)]
pub struct NewAclEntry {
    /// The resource.
    pub resource_id: ResourceId,
    /// The grantee.
    pub principal_id: PrincipalId,
    /// What is granted.
    pub permission: AclPermission,
}

/// A row of `api_keys`. Holds the SHA-256 of the secret, never the secret.
#[crate::tenant_scoped]
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct ApiKey {
    /// Primary key within the tenant.
    pub id: ApiKeyId,
    /// The principal the key acts as.
    pub principal_id: PrincipalId,
    /// Name.
    pub name: String,
    /// Public lookup prefix.
    pub prefix: String,
    /// SHA-256 of the secret (32 bytes).
    #[serde(skip)]
    pub secret_hash: Vec<u8>,
    /// Scopes (the database rejects NULL elements; the SQL type allows them).
    pub scopes: Vec<Option<String>>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Rate limit.
    pub rate_limit_per_hour: Option<i32>,
    /// Last use (throttled).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Active or revoked.
    pub status: ApiKeyStatus,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

/// A new row of `api_keys`.
#[crate::tenant_scoped]
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey<'a> {
    /// Primary key within the tenant.
    pub id: ApiKeyId,
    /// The principal the key acts as.
    pub principal_id: PrincipalId,
    /// Name.
    pub name: &'a str,
    /// Public lookup prefix.
    pub prefix: &'a str,
    /// SHA-256 of the secret.
    pub secret_hash: &'a [u8],
    /// Scopes.
    pub scopes: &'a [Option<String>],
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Rate limit.
    pub rate_limit_per_hour: Option<i32>,
}

/// A row of `audit_log`. `seq`, `prev_hash` and `row_hash` are set by the database.
#[crate::tenant_scoped]
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
pub struct AuditEntry {
    /// Primary key within the tenant.
    pub id: AuditEntryId,
    /// Position in the tenant's chain, from 1.
    pub seq: i64,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Who did it (none for system actions).
    pub actor_principal_id: Option<PrincipalId>,
    /// What happened, such as `resource.update`.
    pub action: String,
    /// The workspace concerned.
    pub workspace_id: Option<WorkspaceId>,
    /// The resource concerned.
    pub resource_id: Option<ResourceId>,
    /// Details.
    pub details: serde_json::Value,
    /// The previous entry's `row_hash` (32 zero bytes for the first).
    pub prev_hash: Vec<u8>,
    /// `sha256(prev_hash || canonical row)`.
    pub row_hash: Vec<u8>,
}

/// A new row of `audit_log`.
#[crate::tenant_scoped]
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditEntry<'a> {
    /// Primary key within the tenant.
    pub id: AuditEntryId,
    /// Who did it.
    pub actor_principal_id: Option<PrincipalId>,
    /// What happened: lowercase words separated by dots.
    pub action: &'a str,
    /// The workspace concerned.
    pub workspace_id: Option<WorkspaceId>,
    /// The resource concerned.
    pub resource_id: Option<ResourceId>,
    /// Details.
    pub details: &'a serde_json::Value,
}

/// One member of the current tenant, as `tenancy.member_directory()` returns it.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName, serde::Serialize)]
pub struct MemberProfile {
    /// The user.
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub user_id: UserId,
    /// The user's principal in this tenant.
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub principal_id: PrincipalId,
    /// Email.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub email: String,
    /// Display name.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub display_name: String,
    /// Role.
    #[diesel(sql_type = crate::schema::sql_types::MemberRole)]
    pub role: MemberRole,
    /// Status.
    #[diesel(sql_type = crate::schema::sql_types::MemberStatus)]
    pub status: MemberStatus,
}

/// A row of `api_key_usage`: requests counted in one fixed window (the PostgreSQL-backed rate
/// limiter's state).
#[crate::tenant_scoped]
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = api_key_usage, check_for_backend(diesel::pg::Pg))]
pub struct ApiKeyUsage {
    /// The key.
    pub api_key_id: ApiKeyId,
    /// Start of the window.
    pub window_start: DateTime<Utc>,
    /// Requests counted in it.
    pub requests: i32,
}
