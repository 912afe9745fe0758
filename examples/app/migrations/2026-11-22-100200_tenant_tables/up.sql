-- tenancy 3/4: tenant-scoped tables. Every one has `tenant_id` first, a primary key led by
-- it, composite `(tenant_id, x) -> (tenant_id, id)` foreign keys between tenant tables
-- (foreign-key checks bypass row level security, so only a composite key stops a row from
-- pointing into another tenant), unique keys that include it, and ENABLE + FORCE RLS.
--
-- The permissive `tenant_access` policy names the migrating role (the tables' owner) as well
-- as `tenancy_app`: FORCE binds the owner to the policies too, so the owner, and the
-- SECURITY DEFINER `tenancy.member_directory()`, see the current tenant's rows and no others.

CREATE TYPE principal_kind AS ENUM ('user', 'team', 'service');
CREATE TYPE member_status AS ENUM ('active', 'invited', 'removed');
CREATE TYPE team_role AS ENUM ('maintainer', 'member');
CREATE TYPE workspace_kind AS ENUM ('personal', 'team', 'org');
CREATE TYPE resource_kind AS ENUM ('prompt', 'collection', 'model', 'integration', 'tag');
CREATE TYPE resource_visibility AS ENUM ('private', 'workspace', 'tenant');
CREATE TYPE acl_permission AS ENUM ('read', 'write', 'admin');
CREATE TYPE api_key_status AS ENUM ('active', 'revoked');

CREATE TABLE principals (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  kind principal_kind NOT NULL,
  user_id uuid REFERENCES users (id),
  display_name text NOT NULL CONSTRAINT principals_display_name_length
    CHECK (length(display_name) BETWEEN 1 AND 200),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT principals_user_kind CHECK ((kind = 'user') = (user_id IS NOT NULL)),
  CONSTRAINT principals_tenant_user_key UNIQUE (tenant_id, user_id)
);

CREATE TABLE org_members (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  user_id uuid NOT NULL REFERENCES users (id),
  principal_id uuid NOT NULL,
  role member_role NOT NULL,
  status member_status NOT NULL DEFAULT 'active',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT org_members_tenant_user_key UNIQUE (tenant_id, user_id),
  FOREIGN KEY (tenant_id, principal_id) REFERENCES principals (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE teams (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  name text NOT NULL CONSTRAINT teams_name_length CHECK (length(name) BETWEEN 1 AND 200),
  principal_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT teams_tenant_name_key UNIQUE (tenant_id, name),
  CONSTRAINT teams_tenant_principal_key UNIQUE (tenant_id, principal_id),
  FOREIGN KEY (tenant_id, principal_id) REFERENCES principals (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE team_members (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  team_id uuid NOT NULL,
  principal_id uuid NOT NULL,
  role team_role NOT NULL DEFAULT 'member',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, team_id, principal_id),
  FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, principal_id) REFERENCES principals (tenant_id, id) ON DELETE CASCADE
);
-- caller_principals(): "which teams is this principal in?"
CREATE INDEX team_members_principal_idx ON team_members (tenant_id, principal_id);

CREATE TABLE workspaces (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  name text NOT NULL CONSTRAINT workspaces_name_length CHECK (length(name) BETWEEN 1 AND 200),
  kind workspace_kind NOT NULL,
  owner_principal_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, owner_principal_id) REFERENCES principals (tenant_id, id)
);
CREATE INDEX workspaces_owner_idx ON workspaces (tenant_id, owner_principal_id);

CREATE TABLE resources (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  workspace_id uuid NOT NULL,
  kind resource_kind NOT NULL,
  name text NOT NULL CONSTRAINT resources_name_length CHECK (length(name) BETWEEN 1 AND 500),
  visibility resource_visibility NOT NULL DEFAULT 'private',
  owner_principal_id uuid NOT NULL,
  data jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id),
  FOREIGN KEY (tenant_id, owner_principal_id) REFERENCES principals (tenant_id, id)
);
CREATE INDEX resources_workspace_updated_idx ON resources (tenant_id, workspace_id, updated_at);
CREATE INDEX resources_kind_idx ON resources (tenant_id, kind);
CREATE INDEX resources_visibility_idx ON resources (tenant_id, visibility);

CREATE TABLE resource_acl (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  resource_id uuid NOT NULL,
  principal_id uuid NOT NULL,
  permission acl_permission NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, resource_id, principal_id),
  FOREIGN KEY (tenant_id, resource_id) REFERENCES resources (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, principal_id) REFERENCES principals (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX resource_acl_principal_idx ON resource_acl (tenant_id, principal_id);

CREATE TABLE api_keys (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  principal_id uuid NOT NULL,
  name text NOT NULL CONSTRAINT api_keys_name_length CHECK (length(name) BETWEEN 1 AND 200),
  prefix text NOT NULL CONSTRAINT api_keys_prefix_format CHECK (prefix ~ '^[A-Za-z0-9_-]{8,64}$'),
  secret_hash bytea NOT NULL CONSTRAINT api_keys_secret_hash_length CHECK (length(secret_hash) = 32),
  scopes text[] NOT NULL DEFAULT '{}'
    CONSTRAINT api_keys_scopes_not_null CHECK (array_position(scopes, NULL) IS NULL),
  expires_at timestamptz,
  rate_limit_per_hour integer CONSTRAINT api_keys_rate_limit_positive CHECK (rate_limit_per_hour > 0),
  last_used_at timestamptz,
  status api_key_status NOT NULL DEFAULT 'active',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT api_keys_tenant_prefix_key UNIQUE (tenant_id, prefix),
  FOREIGN KEY (tenant_id, principal_id) REFERENCES principals (tenant_id, id) ON DELETE CASCADE
);
-- Key verification looks the prefix up before any tenant is known.
CREATE INDEX api_keys_prefix_idx ON api_keys (prefix);

CREATE TRIGGER principals_touch BEFORE UPDATE ON principals
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();
ALTER TABLE principals ENABLE ROW LEVEL SECURITY;
ALTER TABLE principals FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON principals FOR ALL TO tenancy_app, CURRENT_USER
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
CREATE POLICY tenant_isolation ON principals AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON principals TO tenancy_app, tenancy_admin;
CREATE TRIGGER org_members_touch BEFORE UPDATE ON org_members
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();
ALTER TABLE org_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON org_members FOR ALL TO tenancy_app, CURRENT_USER
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
CREATE POLICY tenant_isolation ON org_members AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON org_members TO tenancy_app, tenancy_admin;
CREATE TRIGGER teams_touch BEFORE UPDATE ON teams
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();
ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE teams FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON teams FOR ALL TO tenancy_app, CURRENT_USER
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
CREATE POLICY tenant_isolation ON teams AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON teams TO tenancy_app, tenancy_admin;
CREATE TRIGGER team_members_touch BEFORE UPDATE ON team_members
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();
ALTER TABLE team_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE team_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON team_members FOR ALL TO tenancy_app, CURRENT_USER
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
CREATE POLICY tenant_isolation ON team_members AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON team_members TO tenancy_app, tenancy_admin;
CREATE TRIGGER workspaces_touch BEFORE UPDATE ON workspaces
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();
ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON workspaces FOR ALL TO tenancy_app, CURRENT_USER
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
CREATE POLICY tenant_isolation ON workspaces AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON workspaces TO tenancy_app, tenancy_admin;
CREATE TRIGGER resources_touch BEFORE UPDATE ON resources
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();
ALTER TABLE resources ENABLE ROW LEVEL SECURITY;
ALTER TABLE resources FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON resources FOR ALL TO tenancy_app, CURRENT_USER
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
CREATE POLICY tenant_isolation ON resources AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON resources TO tenancy_app, tenancy_admin;
CREATE TRIGGER resource_acl_touch BEFORE UPDATE ON resource_acl
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();
ALTER TABLE resource_acl ENABLE ROW LEVEL SECURITY;
ALTER TABLE resource_acl FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON resource_acl FOR ALL TO tenancy_app, CURRENT_USER
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
CREATE POLICY tenant_isolation ON resource_acl AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON resource_acl TO tenancy_app, tenancy_admin;
CREATE TRIGGER api_keys_touch BEFORE UPDATE ON api_keys
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON api_keys FOR ALL TO tenancy_app, CURRENT_USER
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
CREATE POLICY tenant_isolation ON api_keys AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON api_keys TO tenancy_app, tenancy_admin;

-- The acting principal and the principals of the teams it belongs to. An unset principal
-- (a tenant transaction opened without one) yields an empty array: no personal access.
-- PL/pgSQL rather than SQL on purpose: the body has a sub-query, so a SQL function would not
-- be inlined and its query would be planned again in every statement that calls it (measured:
-- about 0.25 ms per `resources` query); PL/pgSQL keeps the plan for the session (about 0.015 ms).
CREATE FUNCTION tenancy.caller_principals() RETURNS uuid[]
  LANGUAGE plpgsql STABLE
AS $$
DECLARE
  me uuid := tenancy.current_principal();
BEGIN
  IF me IS NULL THEN
    RETURN '{}'::uuid[];
  END IF;
  RETURN array_prepend(me, ARRAY(
    SELECT t.principal_id
    FROM public.team_members m
    JOIN public.teams t ON t.tenant_id = m.tenant_id AND t.id = m.team_id
    WHERE m.tenant_id = tenancy.current_tenant()
      AND m.principal_id = me
  ));
END
$$;
GRANT EXECUTE ON FUNCTION tenancy.caller_principals() TO tenancy_app, tenancy_admin;

-- Visibility and ACL rules inside the tenant, on top of the tenant policies (RESTRICTIVE,
-- so they only ever narrow). For `tenancy_app`:
--   read:   visibility 'tenant'; or the caller (or one of its teams) owns the resource; or
--           visibility 'workspace' and the workspace is an org workspace or owned by the
--           caller (or one of its teams); or an ACL row grants any permission to the caller.
--   insert: the new row's owner is the caller or one of its teams.
--   update: the owner, or an ACL grant of 'write' or 'admin'.
--   delete: the owner, or an ACL grant of 'admin'.
-- The `(SELECT tenancy.caller_principals())` form is evaluated once per statement.
CREATE POLICY resource_read ON resources AS RESTRICTIVE FOR SELECT TO tenancy_app
  USING (
    visibility = 'tenant'
    OR owner_principal_id = ANY ((SELECT tenancy.caller_principals())::uuid[])
    OR (visibility = 'workspace' AND EXISTS (
      SELECT 1 FROM workspaces w
      WHERE w.tenant_id = resources.tenant_id AND w.id = resources.workspace_id
        AND (w.kind = 'org' OR w.owner_principal_id = ANY ((SELECT tenancy.caller_principals())::uuid[]))))
    OR EXISTS (
      SELECT 1 FROM resource_acl a
      WHERE a.tenant_id = resources.tenant_id AND a.resource_id = resources.id
        AND a.principal_id = ANY ((SELECT tenancy.caller_principals())::uuid[]))
  );
CREATE POLICY resource_insert ON resources AS RESTRICTIVE FOR INSERT TO tenancy_app
  WITH CHECK (owner_principal_id = ANY ((SELECT tenancy.caller_principals())::uuid[]));
CREATE POLICY resource_update ON resources AS RESTRICTIVE FOR UPDATE TO tenancy_app
  USING (
    owner_principal_id = ANY ((SELECT tenancy.caller_principals())::uuid[])
    OR EXISTS (
      SELECT 1 FROM resource_acl a
      WHERE a.tenant_id = resources.tenant_id AND a.resource_id = resources.id
        AND a.principal_id = ANY ((SELECT tenancy.caller_principals())::uuid[])
        AND a.permission IN ('write', 'admin'))
  );
CREATE POLICY resource_delete ON resources AS RESTRICTIVE FOR DELETE TO tenancy_app
  USING (
    owner_principal_id = ANY ((SELECT tenancy.caller_principals())::uuid[])
    OR EXISTS (
      SELECT 1 FROM resource_acl a
      WHERE a.tenant_id = resources.tenant_id AND a.resource_id = resources.id
        AND a.principal_id = ANY ((SELECT tenancy.caller_principals())::uuid[])
        AND a.permission = 'admin')
  );
-- Only the resource's owner grants and revokes. (A policy on resource_acl may not read
-- resource_acl itself: PostgreSQL rejects the recursion.)
CREATE POLICY acl_write ON resource_acl AS RESTRICTIVE FOR INSERT TO tenancy_app
  WITH CHECK (EXISTS (
    SELECT 1 FROM resources r
    WHERE r.tenant_id = resource_acl.tenant_id AND r.id = resource_acl.resource_id
      AND r.owner_principal_id = ANY ((SELECT tenancy.caller_principals())::uuid[])));
CREATE POLICY acl_update ON resource_acl AS RESTRICTIVE FOR UPDATE TO tenancy_app
  USING (EXISTS (
    SELECT 1 FROM resources r
    WHERE r.tenant_id = resource_acl.tenant_id AND r.id = resource_acl.resource_id
      AND r.owner_principal_id = ANY ((SELECT tenancy.caller_principals())::uuid[])));
CREATE POLICY acl_delete ON resource_acl AS RESTRICTIVE FOR DELETE TO tenancy_app
  USING (EXISTS (
    SELECT 1 FROM resources r
    WHERE r.tenant_id = resource_acl.tenant_id AND r.id = resource_acl.resource_id
      AND r.owner_principal_id = ANY ((SELECT tenancy.caller_principals())::uuid[])));

-- What a tenant may know about the people in it: name and email of its own members, and
-- nothing about anyone else. SECURITY DEFINER because `tenancy_app` has no privilege on
-- `users` at all. Why this is safe: the only rows returned are users with a membership row
-- in `tenancy.current_tenant()` (NULL outside a tenant transaction, which matches nothing);
-- it takes no argument, so it cannot be pointed at another tenant; and a fixed search_path
-- stops a caller from shadowing the tables it reads.
CREATE FUNCTION tenancy.member_directory()
  RETURNS TABLE (user_id uuid, principal_id uuid, email text, display_name text, role member_role, status member_status)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT u.id, m.principal_id, u.email, u.display_name, m.role, m.status
  FROM public.org_members m
  JOIN public.users u ON u.id = m.user_id
  WHERE m.tenant_id = tenancy.current_tenant()
  ORDER BY u.email;
END;
COMMENT ON FUNCTION tenancy.member_directory() IS
  'tenancy: reviewed: returns only members of tenancy.current_tenant(); takes no argument';
REVOKE ALL ON FUNCTION tenancy.member_directory() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.member_directory() TO tenancy_app, tenancy_admin;
