-- The resource policies depend on caller_principals(), which depends on the team tables.
DROP FUNCTION tenancy.member_directory();
-- One statement: the policies of resources and resource_acl reference each other.
DROP TABLE api_keys, resource_acl, resources;
DROP FUNCTION tenancy.caller_principals();
DROP TABLE workspaces;
DROP TABLE team_members;
DROP TABLE teams;
DROP TABLE org_members;
DROP TABLE principals;
DROP TYPE api_key_status;
DROP TYPE acl_permission;
DROP TYPE resource_visibility;
DROP TYPE resource_kind;
DROP TYPE workspace_kind;
DROP TYPE team_role;
DROP TYPE member_status;
DROP TYPE principal_kind;
