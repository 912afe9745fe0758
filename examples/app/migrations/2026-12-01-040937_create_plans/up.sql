-- Global table `plans`, written by `tenancy new-table --global`.
--
-- It holds no tenant data: no tenant_id and no row level security. tenancy_app may read it
-- (tenant transactions join it, the system connection reads it); tenancy_admin writes it.
-- Classify it with #[tenancy_schema::global_table]. It may reference global tables only.

CREATE TABLE plans (
  id uuid NOT NULL DEFAULT tenancy.uuid_v7() PRIMARY KEY,
  name text NOT NULL,
  monthly_cents bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT plans_name_key UNIQUE (name)
);
CREATE TRIGGER plans_touch BEFORE UPDATE ON plans
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();

GRANT SELECT ON plans TO tenancy_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON plans TO tenancy_admin;
