REVOKE UPDATE (role, status) ON org_members FROM tenancy_app;
GRANT INSERT, UPDATE ON org_members TO tenancy_app;
