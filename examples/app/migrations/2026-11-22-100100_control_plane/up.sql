-- tenancy 2/4: the global control-plane tables. They hold no tenant-owned rows; `tenants`
-- still has row level security so that a tenant transaction sees only its own tenant.

CREATE TYPE tenant_status AS ENUM ('active', 'suspended');
CREATE TYPE plan_tier AS ENUM ('free', 'pro', 'enterprise');
CREATE TYPE user_status AS ENUM ('active', 'disabled');
CREATE TYPE member_role AS ENUM ('owner', 'admin', 'manager', 'member', 'customer');

CREATE TABLE tenants (
  id uuid PRIMARY KEY DEFAULT tenancy.uuid_v7(),
  slug text NOT NULL CONSTRAINT tenants_slug_format
    CHECK (slug ~ '^[a-z0-9_][a-z0-9_-]{0,62}$'),
  name text NOT NULL CONSTRAINT tenants_name_length CHECK (length(name) BETWEEN 1 AND 200),
  status tenant_status NOT NULL DEFAULT 'active',
  plan plan_tier NOT NULL DEFAULT 'free',
  data_region text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  CONSTRAINT tenants_slug_key UNIQUE (slug)
);
CREATE TRIGGER tenants_touch BEFORE UPDATE ON tenants
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();

-- Single-tenant data has a home: the nil UUID.
INSERT INTO tenants (id, slug, name)
VALUES ('00000000-0000-0000-0000-000000000000', '_default', 'Default tenant');

-- A global identity; one person may belong to several tenants. It holds personal data of
-- people in other tenants, so `tenancy_app` gets no privilege on it at all: a tenant reads
-- its own members through `tenancy.member_directory()` (next migration).
CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT tenancy.uuid_v7(),
  email text NOT NULL CONSTRAINT users_email_format
    CHECK (email = btrim(email) AND length(email) BETWEEN 3 AND 320 AND position('@' IN email) > 1),
  display_name text NOT NULL CONSTRAINT users_display_name_length
    CHECK (length(display_name) BETWEEN 1 AND 200),
  status user_status NOT NULL DEFAULT 'active',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz
);
-- Case-insensitive uniqueness without the citext extension (which needs CREATE on the
-- database): lookups use `lower(email) = lower($1)` and hit this index.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE TRIGGER users_touch BEFORE UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();

-- The RBAC map: which member role grants which permission.
CREATE TABLE role_permissions (
  role member_role NOT NULL,
  permission text NOT NULL CONSTRAINT role_permissions_permission_format
    CHECK (permission ~ '^[a-z_]+\.[a-z_]+$'),
  PRIMARY KEY (role, permission)
);
INSERT INTO role_permissions (role, permission)
SELECT r::member_role, p
FROM (VALUES
  ('owner',    ARRAY['tenant.manage', 'tenant.delete', 'members.manage', 'teams.manage',
                     'workspaces.manage', 'resources.read', 'resources.write', 'resources.admin',
                     'api_keys.manage', 'audit.read']),
  ('admin',    ARRAY['tenant.manage', 'members.manage', 'teams.manage', 'workspaces.manage',
                     'resources.read', 'resources.write', 'resources.admin', 'api_keys.manage',
                     'audit.read']),
  ('manager',  ARRAY['teams.manage', 'workspaces.manage', 'resources.read', 'resources.write',
                     'api_keys.manage']),
  ('member',   ARRAY['resources.read', 'resources.write']),
  ('customer', ARRAY['resources.read'])
) AS m(r, perms), unnest(perms) AS p;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON tenants FOR SELECT TO tenancy_app
  USING (id = tenancy.current_tenant());
CREATE POLICY tenant_isolation ON tenants AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (id = tenancy.current_tenant())
  WITH CHECK (id = tenancy.current_tenant());

GRANT SELECT ON tenants, role_permissions TO tenancy_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, role_permissions TO tenancy_admin;
