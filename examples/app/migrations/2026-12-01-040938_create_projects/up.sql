-- Tenant-scoped table `projects`, written by `tenancy new-table`.
--
-- `tenant_id` leads the primary key and every unique key, index and foreign key
-- between tenant tables; row level security is enabled and forced, with the permissive
-- `tenant_access` policy (tenancy_app and the migrating role) and the RESTRICTIVE
-- `tenant_isolation` policy (everyone), both on `tenant_id = (SELECT tenancy.current_tenant())`
-- (the sub-select reads the tenant once per statement, not once per row).
-- `tenancy check` passes on it as written: keep `tenant_id` in any key you add.

CREATE TABLE projects (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  name text NOT NULL,
  plan_id uuid NOT NULL,
  owner_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT projects_tenant_name_key UNIQUE (tenant_id, name),
  FOREIGN KEY (plan_id) REFERENCES plans (id),
  FOREIGN KEY (tenant_id, owner_id) REFERENCES principals (tenant_id, id)
);
CREATE TRIGGER projects_touch BEFORE UPDATE ON projects
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();

ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON projects FOR ALL TO tenancy_app, CURRENT_USER USING (tenant_id = (SELECT tenancy.current_tenant())) WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));
CREATE POLICY tenant_isolation ON projects AS RESTRICTIVE FOR ALL TO PUBLIC USING (tenant_id = (SELECT tenancy.current_tenant())) WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));
GRANT SELECT, INSERT, UPDATE, DELETE ON projects TO tenancy_app, tenancy_admin;
