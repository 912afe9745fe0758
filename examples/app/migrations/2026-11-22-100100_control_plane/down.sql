DROP TABLE role_permissions;
DROP TABLE users;
DROP TABLE tenants;
DROP TYPE member_role;
DROP TYPE user_status;
DROP TYPE plan_tier;
DROP TYPE tenant_status;
