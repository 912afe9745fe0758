REVOKE INSERT (tenant_id, id, kind, display_name, created_at, updated_at) ON principals FROM tenancy_app;
REVOKE UPDATE (display_name, updated_at) ON principals FROM tenancy_app;
GRANT INSERT, UPDATE ON principals TO tenancy_app;
