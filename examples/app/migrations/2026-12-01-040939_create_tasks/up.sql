-- Tenant-scoped table `tasks`, written by `tenancy new-table`.
--
-- `tenant_id` leads the primary key and every unique key, index and foreign key
-- between tenant tables; row level security is enabled and forced, with the permissive
-- `tenant_access` policy (tenancy_app and the migrating role) and the RESTRICTIVE
-- `tenant_isolation` policy (everyone), both on `tenant_id = (SELECT tenancy.current_tenant())`
-- (the sub-select reads the tenant once per statement, not once per row).
-- `tenancy check` passes on it as written: keep `tenant_id` in any key you add.

CREATE TABLE tasks (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  project_id uuid NOT NULL,
  title text NOT NULL,
  done boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id)
);
CREATE INDEX tasks_project_id_idx ON tasks (tenant_id, project_id);
CREATE TRIGGER tasks_touch BEFORE UPDATE ON tasks
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();

ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON tasks FOR ALL TO tenancy_app, CURRENT_USER USING (tenant_id = (SELECT tenancy.current_tenant())) WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));
CREATE POLICY tenant_isolation ON tasks AS RESTRICTIVE FOR ALL TO PUBLIC USING (tenant_id = (SELECT tenancy.current_tenant())) WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));
GRANT SELECT, INSERT, UPDATE, DELETE ON tasks TO tenancy_app, tenancy_admin;
