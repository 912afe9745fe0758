-- Every tenant table has row level security ENABLEd and FORCEd, and the set of
-- tenant tables is the reviewed one (a new table with a `tenant_id` column, or a new global
-- table, fails here until it is added to these lists and to 02-policies.sql / 03-privileges.sql).
BEGIN;
SELECT plan(30);

-- The ten tenant-scoped tables, plus `tenants` (global, but RLS shows a tenant only its own row).
CREATE FUNCTION pg_temp.tenant_tables() RETURNS name[] LANGUAGE sql IMMUTABLE
  RETURN ARRAY['principals', 'org_members', 'teams', 'team_members', 'workspaces', 'resources',
               'resource_acl', 'api_keys', 'api_key_usage', 'audit_log']::name[];
CREATE FUNCTION pg_temp.rls_tables() RETURNS name[] LANGUAGE sql IMMUTABLE
  RETURN pg_temp.tenant_tables() || 'tenants'::name;

-- 1: the tenant tables are exactly the tables (of the application schemas) with a tenant_id.
SELECT set_eq(
  $$SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
    WHERE n.nspname IN ('public', 'tenancy') AND c.relkind IN ('r', 'p')$$,
  $$SELECT unnest(pg_temp.tenant_tables())$$,
  'the tables with a tenant_id column are exactly the reviewed tenant tables'
);

-- 2: ... and every other table is one of the reviewed global tables.
SELECT set_eq(
  $$SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('public', 'tenancy') AND c.relkind IN ('r', 'p')
      AND c.relname <> ALL (pg_temp.tenant_tables())
      AND c.relname <> '__diesel_schema_migrations'$$,
  ARRAY['public.tenants', 'public.users', 'public.role_permissions', 'tenancy.settings',
        'tenancy.context_key'],
  'the global tables are exactly tenants, users, role_permissions, tenancy.settings and tenancy.context_key'
);

-- 3-13: ENABLE ROW LEVEL SECURITY, table by table.
SELECT ok(
  coalesce((SELECT c.relrowsecurity FROM pg_class c
            WHERE c.oid = format('public.%I', t)::regclass), false),
  format('%s has row level security enabled', t)
) FROM unnest(pg_temp.rls_tables()) AS t;

-- 14-24: FORCE ROW LEVEL SECURITY (the owner is bound by the policies too), table by table.
SELECT ok(
  coalesce((SELECT c.relforcerowsecurity FROM pg_class c
            WHERE c.oid = format('public.%I', t)::regclass), false),
  format('%s has row level security forced', t)
) FROM unnest(pg_temp.rls_tables()) AS t;

-- 25: the same, driven by the catalog, so that it also covers tables not named above.
SELECT is_empty(
  $$SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('public', 'tenancy') AND c.relkind IN ('r', 'p')
      AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                  AND NOT a.attisdropped)
      AND NOT (c.relrowsecurity AND c.relforcerowsecurity)$$,
  'no table with a tenant_id column lacks ENABLE + FORCE ROW LEVEL SECURITY'
);

-- 26: tenant_id is a NOT NULL uuid everywhere (a NULL tenant would match no policy, but it
-- would also be a row nobody owns).
SELECT is_empty(
  $$SELECT a.attrelid::regclass FROM pg_attribute a
    WHERE a.attrelid = ANY (SELECT format('public.%I', t)::regclass FROM unnest(pg_temp.tenant_tables()) t)
      AND a.attname = 'tenant_id'
      AND NOT (a.attnotnull AND a.atttypid = 'uuid'::regtype)$$,
  'tenant_id is uuid NOT NULL in every tenant table'
);

-- 27: every tenant table's primary key leads with tenant_id.
SELECT is_empty(
  $$SELECT t FROM unnest(pg_temp.tenant_tables()) t
    WHERE NOT EXISTS (
      SELECT FROM pg_constraint k
      JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
      WHERE k.conrelid = format('public.%I', t)::regclass AND k.contype = 'p'
        AND a.attname = 'tenant_id')$$,
  'every tenant table has a primary key led by tenant_id'
);

-- 28: every tenant table references tenants (deleting a tenant leaves no orphan rows).
SELECT is_empty(
  $$SELECT t FROM unnest(pg_temp.tenant_tables()) t
    WHERE NOT EXISTS (
      SELECT FROM pg_constraint k
      WHERE k.conrelid = format('public.%I', t)::regclass AND k.contype = 'f'
        AND k.confrelid = 'public.tenants'::regclass)$$,
  'every tenant table has a foreign key to tenants'
);

-- 29: shadow mode is off.
SELECT is(tenancy.rls_mode(), 'enforce', 'tenancy.rls_mode() is enforce');

-- 30: nothing sets a default tenant for new sessions (ALTER DATABASE/ROLE ... SET
-- tenancy.tenant_id, or postgresql.conf): an unset context must really be unset.
SELECT is(
  nullif(current_setting('tenancy.tenant_id', true), ''), NULL,
  'a new session starts without a tenant'
);

SELECT * FROM finish();
ROLLBACK;
