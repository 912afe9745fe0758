-- tenancy foundation: its tables distributable on Citus (ADR 0003, README "Scale-out on
-- Citus"). On one PostgreSQL server only the audit chain's trigger changes, to a form that
-- computes the same hashes; on Citus the tables are then distributed.

-- The audit chain, row by row, from a row as jsonb: the same hash `audit_row_hash` computed
-- from the table's row type (so existing chains verify unchanged), for a trigger that runs
-- on a shard, whose row type is the shard's and not `audit_log`.
CREATE FUNCTION tenancy.audit_hash(prev bytea, r jsonb) RETURNS bytea
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  RETURN sha256(prev || convert_to(jsonb_build_array(
    r -> 'tenant_id', r -> 'id', r -> 'seq',
    to_char((r ->> 'occurred_at')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    r -> 'actor_principal_id', r -> 'action', r -> 'workspace_id', r -> 'resource_id',
    r -> 'details'
  )::text, 'UTF8'));

CREATE OR REPLACE FUNCTION tenancy.audit_row_hash(prev bytea, r audit_log) RETURNS bytea
  LANGUAGE sql STABLE
  RETURN tenancy.audit_hash(prev, to_jsonb(r));

-- The chain's last row is read from the table the trigger fires on: `audit_log` on one node,
-- the tenant's shard on Citus (where reading the distributed table from a shard's trigger
-- would be a distributed query inside a shard's).
CREATE OR REPLACE FUNCTION tenancy.audit_log_chain() RETURNS trigger
  LANGUAGE plpgsql
AS $$
DECLARE
  last record;
BEGIN
  PERFORM pg_advisory_xact_lock(20261122, hashtext(NEW.tenant_id::text));
  EXECUTE format('SELECT a.seq, a.row_hash FROM %I.%I a WHERE a.tenant_id = $1
                  ORDER BY a.seq DESC LIMIT 1', TG_TABLE_SCHEMA, TG_TABLE_NAME)
    INTO last USING NEW.tenant_id;
  NEW.seq := coalesce(last.seq, 0) + 1;
  NEW.prev_hash := coalesce(last.row_hash, decode(repeat('00', 32), 'hex'));
  NEW.row_hash := tenancy.audit_hash(NEW.prev_hash, to_jsonb(NEW));
  RETURN NEW;
END
$$;

-- On Citus: the global tables become reference tables and the tenant tables are distributed
-- by tenant_id, co-located. Citus refuses policies holding a sub-query, which the resource
-- visibility and ACL rules are: on Citus these rules are applied in the query, by the
-- foundation's API (`tenancy_foundation::access`, which every resource read and write of
-- `tenancy_foundation` goes through), and the tables keep the tenant policies. The dropped
-- policies are named in a NOTICE, so that nothing goes silently.
CREATE FUNCTION tenancy.distribute_foundation() RETURNS void
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
REVOKE ALL ON FUNCTION tenancy.distribute_foundation() FROM PUBLIC;
COMMENT ON FUNCTION tenancy.distribute_foundation() IS
  'tenancy: on Citus, distributes the foundation schema''s tables; does nothing elsewhere';

SELECT tenancy.distribute_foundation();
