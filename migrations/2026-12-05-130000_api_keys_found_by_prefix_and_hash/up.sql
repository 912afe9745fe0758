-- An API key is looked up by its prefix and the SHA-256 of its secret together, no longer by
-- its prefix alone. A prefix is no secret: it is shown wherever keys are listed, it travels in
-- logs, and PostgreSQL's statistics counters could list every tenant's (closed since, but not
-- a thing to rest on). Looked up by the prefix alone, the function handed any caller of the
-- application's login another tenant's key record: its tenant, principal, scopes, expiry and
-- the secret's hash. With the hash as well it answers only whoever holds the secret, which is
-- what the caller needs to learn: whose key it is. Verification still compares the hash of
-- every returned row in constant time.
--
-- PL/pgSQL on every node: Citus cannot plan a SQL function with a parameter that reads a
-- distributed table, and distributing the foundation no longer has to replace it.
CREATE FUNCTION tenancy.api_key_lookup(key_prefix text, key_hash bytea)
  RETURNS TABLE (
    tenant_id uuid, id uuid, principal_id uuid, secret_hash bytea, scopes text[],
    expires_at timestamptz, rate_limit_per_hour integer, last_used_at timestamptz,
    status public.api_key_status, tenant_status public.tenant_status, tenant_deleted boolean
  )
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
    SELECT k.tenant_id, k.id, k.principal_id, k.secret_hash, k.scopes, k.expires_at,
           k.rate_limit_per_hour, k.last_used_at, k.status, t.status, t.deleted_at IS NOT NULL
      FROM public.api_keys k
      JOIN public.tenants t ON t.id = k.tenant_id
     WHERE k.prefix = key_prefix AND k.secret_hash = key_hash
     ORDER BY k.tenant_id, k.id;
END
$$;
COMMENT ON FUNCTION tenancy.api_key_lookup(text, bytea) IS
  'tenancy: reviewed: the key record of whoever presents its prefix and the hash of its secret, before the tenant is known; returns hashes, never secrets';
REVOKE ALL ON FUNCTION tenancy.api_key_lookup(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.api_key_lookup(text, bytea) TO tenancy_app, tenancy_admin;

DROP FUNCTION tenancy.api_key_lookup(text);

-- Distributing the foundation later leaves the lookup as it is.
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
  -- table (the status hook `tenancy.enter` calls); the same query in PL/pgSQL it can. One
  -- node keeps the SQL form, which the planner inlines. The API key lookup is PL/pgSQL
  -- everywhere.
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
