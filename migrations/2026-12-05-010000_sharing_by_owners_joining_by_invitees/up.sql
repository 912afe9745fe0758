-- Two rules of the foundation held in SQL as well as by its API.
--
-- Who reads a resource is its owner's choice: its visibility, its workspace (a 'workspace'
-- resource is read by whoever reads the workspace) and its owner. The resource_update policy
-- lets an ACL grant of 'write' change any column, so SQL in a tenant's transaction could widen
-- a resource it was only allowed to edit, or take it over. For the application role, a
-- resource's owner and workspace stay as created (the foundation's API never changes them),
-- and its visibility changes only for the owner (or a member of the owning team) or the
-- holder of an 'admin' grant, as `tenancy_foundation::envelope::update` requires. The tables'
-- owner and the admin path are not held back. On Citus the foundation applies these rules in
-- its queries, as it does the ACL policies (2026-12-01-060100_foundation_on_citus).
CREATE FUNCTION tenancy.resource_sharing_guard() RETURNS trigger
  LANGUAGE plpgsql
AS $$
BEGIN
  -- Superusers and BYPASSRLS roles are members of every role but skip the policies too.
  IF NOT pg_has_role(current_user, 'tenancy_app', 'USAGE')
     OR (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r
          WHERE r.rolname = current_user) THEN
    RETURN NEW;
  END IF;
  IF NEW.owner_principal_id IS DISTINCT FROM OLD.owner_principal_id
     OR NEW.workspace_id IS DISTINCT FROM OLD.workspace_id THEN
    RAISE EXCEPTION 'tenancy: a resource''s owner and workspace are set when it is created'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.visibility IS DISTINCT FROM OLD.visibility
     AND NOT (OLD.owner_principal_id = ANY (tenancy.caller_principals())
              OR EXISTS (
                SELECT 1 FROM public.resource_acl a
                WHERE a.tenant_id = OLD.tenant_id AND a.resource_id = OLD.id
                  AND a.permission = 'admin'
                  AND a.principal_id = ANY (tenancy.caller_principals()))) THEN
    RAISE EXCEPTION 'tenancy: changing who reads a resource needs its ownership or an admin grant'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION tenancy.resource_sharing_guard() FROM PUBLIC;

-- An invitation is accepted by the invited user: the membership's own principal. The member
-- directory shows a member's registered name once the membership is active, and SQL in the
-- inviting tenant's transaction (which may update a membership's status, to remove a member)
-- must not turn it active to read that name before the user joined.
CREATE FUNCTION tenancy.invitation_acceptance_guard() RETURNS trigger
  LANGUAGE plpgsql
AS $$
BEGIN
  IF NOT pg_has_role(current_user, 'tenancy_app', 'USAGE')
     OR (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r
          WHERE r.rolname = current_user) THEN
    RETURN NEW;
  END IF;
  IF OLD.status = 'invited' AND NEW.status = 'active'
     AND tenancy.current_principal() IS DISTINCT FROM OLD.principal_id THEN
    RAISE EXCEPTION 'tenancy: an invitation is accepted by the invited user alone'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION tenancy.invitation_acceptance_guard() FROM PUBLIC;

DO $$
BEGIN
  IF NOT tenancy.on_citus() THEN
    CREATE TRIGGER resources_sharing_guard
      BEFORE UPDATE OF owner_principal_id, workspace_id, visibility ON public.resources
      FOR EACH ROW EXECUTE FUNCTION tenancy.resource_sharing_guard();
    CREATE TRIGGER org_members_acceptance_guard
      BEFORE UPDATE OF status ON public.org_members
      FOR EACH ROW EXECUTE FUNCTION tenancy.invitation_acceptance_guard();
  END IF;
END
$$;

-- A deployment that moves to Citus later drops the guards when it distributes the tables.
CREATE OR REPLACE FUNCTION tenancy.distribute_foundation() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  p record;
  unsafe_triggers text;
BEGIN
  IF NOT tenancy.on_citus() THEN
    RETURN;
  END IF;
  FOR p IN
    SELECT polname, polrelid::regclass AS rel FROM pg_policy
     WHERE polrelid IN ('public.resources'::regclass, 'public.resource_acl'::regclass)
       AND polname IN ('resource_read', 'resource_insert', 'resource_update', 'resource_delete',
                       'acl_write', 'acl_update', 'acl_delete')
  LOOP
    EXECUTE format('DROP POLICY %I ON %s', p.polname, p.rel);
    RAISE NOTICE 'tenancy: on Citus, policy % on % is applied in the query (tenancy_foundation::access) instead',
      p.polname, p.rel;
  END LOOP;
  -- The guards of who reads a resource (which reads resource_acl and team_members: in a
  -- shard's trigger that is a distributed query, which Citus refuses) and of who accepts an
  -- invitation (which reads the principal, a context the shards are not handed) are applied by
  -- the foundation's API instead.
  FOR p IN
    SELECT tgname AS polname, tgrelid::regclass AS rel FROM pg_trigger
     WHERE (tgrelid, tgname) IN (('public.resources'::regclass, 'resources_sharing_guard'),
                                 ('public.org_members'::regclass, 'org_members_acceptance_guard'))
  LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', p.polname, p.rel);
    RAISE NOTICE 'tenancy: on Citus, trigger % on % is applied by tenancy_foundation''s API instead',
      p.polname, p.rel;
  END LOOP;
  -- Citus cannot plan a SQL function with a parameter that reads a distributed or reference
  -- table (the status hook `tenancy.enter` calls, the API key lookup); the same queries in
  -- PL/pgSQL it can. One node keeps the SQL forms, which the planner inlines.
  CREATE OR REPLACE FUNCTION tenancy.tenant_refusal(tenant uuid) RETURNS TABLE (refusal text)
    LANGUAGE plpgsql STABLE
  AS $f$
  BEGIN
    RETURN QUERY
      SELECT CASE
               WHEN x.id IS NULL THEN 'unknown'
               WHEN x.deleted_at IS NOT NULL THEN 'deleted'
               WHEN x.status <> 'active' THEN 'suspended'
             END
        FROM (SELECT tenant AS id) q
        LEFT JOIN public.tenants x ON x.id = q.id;
  END
  $f$;
  CREATE OR REPLACE FUNCTION tenancy.api_key_lookup(key_prefix text)
    RETURNS TABLE (
      tenant_id uuid, id uuid, principal_id uuid, secret_hash bytea, scopes text[],
      expires_at timestamptz, rate_limit_per_hour integer, last_used_at timestamptz,
      status public.api_key_status, tenant_status public.tenant_status, tenant_deleted boolean
    )
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
  AS $f$
  #variable_conflict use_column
  BEGIN
    RETURN QUERY
      SELECT k.tenant_id, k.id, k.principal_id, k.secret_hash, k.scopes, k.expires_at,
             k.rate_limit_per_hour, k.last_used_at, k.status, t.status, t.deleted_at IS NOT NULL
        FROM public.api_keys k
        JOIN public.tenants t ON t.id = k.tenant_id
       WHERE k.prefix = key_prefix
       ORDER BY k.tenant_id, k.id;
  END
  $f$;
  -- A deployment moving to Citus has audit entries already: Citus copies them into the
  -- shards, and the chain's trigger (ENABLE ALWAYS) must not number and hash them again.
  unsafe_triggers := current_setting('citus.enable_unsafe_triggers');
  ALTER TABLE public.audit_log DISABLE TRIGGER audit_log_chain;
  PERFORM tenancy.distribute_tables(
    ARRAY['public.tenants', 'public.users', 'public.role_permissions']::regclass[],
    ARRAY['public.principals', 'public.org_members', 'public.teams', 'public.team_members',
          'public.workspaces', 'public.resources', 'public.resource_acl', 'public.api_keys',
          'public.api_key_usage', 'public.audit_log']::regclass[]);
  PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
  ALTER TABLE public.audit_log ENABLE ALWAYS TRIGGER audit_log_chain;
  PERFORM set_config('citus.enable_unsafe_triggers', unsafe_triggers, true);
END
$$;
