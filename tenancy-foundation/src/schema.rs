// @generated automatically by Diesel CLI.

pub mod sql_types {
    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "acl_permission"))]
    pub struct AclPermission;

    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "api_key_status"))]
    pub struct ApiKeyStatus;

    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "member_role"))]
    pub struct MemberRole;

    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "member_status"))]
    pub struct MemberStatus;

    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "plan_tier"))]
    pub struct PlanTier;

    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "principal_kind"))]
    pub struct PrincipalKind;

    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "resource_kind"))]
    pub struct ResourceKind;

    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "resource_visibility"))]
    pub struct ResourceVisibility;

    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "team_role"))]
    pub struct TeamRole;

    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "tenant_status"))]
    pub struct TenantStatus;

    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "user_status"))]
    pub struct UserStatus;

    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "workspace_kind"))]
    pub struct WorkspaceKind;
}

#[tenancy_schema::tenant_scoped(foreign_key(api_key_id -> api_keys))]
diesel::table! {
    api_key_usage (tenant_id, api_key_id, window_start) {
        tenant_id -> Uuid,
        api_key_id -> Uuid,
        window_start -> Timestamptz,
        requests -> Int4,
    }
}

#[tenancy_schema::tenant_scoped(unique(prefix), foreign_key(principal_id -> principals))]
diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::ApiKeyStatus;

    api_keys (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        principal_id -> Uuid,
        name -> Text,
        prefix -> Text,
        secret_hash -> Bytea,
        scopes -> Array<Nullable<Text>>,
        expires_at -> Nullable<Timestamptz>,
        rate_limit_per_hour -> Nullable<Int4>,
        last_used_at -> Nullable<Timestamptz>,
        status -> ApiKeyStatus,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

#[tenancy_schema::tenant_scoped(unique(seq), index(occurred_at), index(resource_id))]
diesel::table! {
    audit_log (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        seq -> Int8,
        occurred_at -> Timestamptz,
        actor_principal_id -> Nullable<Uuid>,
        action -> Text,
        workspace_id -> Nullable<Uuid>,
        resource_id -> Nullable<Uuid>,
        details -> Jsonb,
        prev_hash -> Bytea,
        row_hash -> Bytea,
    }
}

#[tenancy_schema::tenant_scoped(unique(user_id), foreign_key(principal_id -> principals))]
diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::MemberRole;
    use super::sql_types::MemberStatus;

    org_members (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        user_id -> Uuid,
        principal_id -> Uuid,
        role -> MemberRole,
        status -> MemberStatus,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

#[tenancy_schema::tenant_scoped(unique(user_id))]
diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::PrincipalKind;

    principals (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        kind -> PrincipalKind,
        user_id -> Nullable<Uuid>,
        display_name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

#[tenancy_schema::tenant_scoped(index(principal_id), foreign_key(principal_id -> principals), foreign_key(resource_id -> resources))]
diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::AclPermission;

    resource_acl (tenant_id, resource_id, principal_id) {
        tenant_id -> Uuid,
        resource_id -> Uuid,
        principal_id -> Uuid,
        permission -> AclPermission,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

#[tenancy_schema::tenant_scoped(index(kind), index(visibility), index(workspace_id, updated_at), foreign_key(owner_principal_id -> principals), foreign_key(workspace_id -> workspaces))]
diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::ResourceKind;
    use super::sql_types::ResourceVisibility;

    resources (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        workspace_id -> Uuid,
        kind -> ResourceKind,
        name -> Text,
        visibility -> ResourceVisibility,
        owner_principal_id -> Uuid,
        data -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

#[tenancy_schema::global_table]
diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::MemberRole;

    role_permissions (role, permission) {
        role -> MemberRole,
        permission -> Text,
    }
}

#[tenancy_schema::tenant_scoped(index(principal_id), foreign_key(principal_id -> principals), foreign_key(team_id -> teams))]
diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::TeamRole;

    team_members (tenant_id, team_id, principal_id) {
        tenant_id -> Uuid,
        team_id -> Uuid,
        principal_id -> Uuid,
        role -> TeamRole,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

#[tenancy_schema::tenant_scoped(unique(name), unique(principal_id), foreign_key(principal_id -> principals))]
diesel::table! {
    teams (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        name -> Text,
        principal_id -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

#[tenancy_schema::global_table]
diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::TenantStatus;
    use super::sql_types::PlanTier;

    tenants (id) {
        id -> Uuid,
        slug -> Text,
        name -> Text,
        status -> TenantStatus,
        plan -> PlanTier,
        data_region -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        personal_user_id -> Nullable<Uuid>,
    }
}

#[tenancy_schema::global_table]
diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::UserStatus;

    users (id) {
        id -> Uuid,
        email -> Text,
        display_name -> Text,
        status -> UserStatus,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

#[tenancy_schema::tenant_scoped(index(owner_principal_id), foreign_key(owner_principal_id -> principals))]
diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::WorkspaceKind;

    workspaces (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        name -> Text,
        kind -> WorkspaceKind,
        owner_principal_id -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(api_key_usage -> tenants (tenant_id));
diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(audit_log -> tenants (tenant_id));
diesel::joinable!(org_members -> tenants (tenant_id));
diesel::joinable!(org_members -> users (user_id));
diesel::joinable!(principals -> tenants (tenant_id));
diesel::joinable!(principals -> users (user_id));
diesel::joinable!(resource_acl -> tenants (tenant_id));
diesel::joinable!(resources -> tenants (tenant_id));
diesel::joinable!(team_members -> tenants (tenant_id));
diesel::joinable!(teams -> tenants (tenant_id));
diesel::joinable!(tenants -> users (personal_user_id));
diesel::joinable!(workspaces -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_key_usage,
    api_keys,
    audit_log,
    org_members,
    principals,
    resource_acl,
    resources,
    role_permissions,
    team_members,
    teams,
    tenants,
    users,
    workspaces,
);
