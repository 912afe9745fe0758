-- Behaviour as the application role. Inside this (rolled back) transaction the
-- superuser seeds two tenants, A and B, with a row in every tenant table; then, as
-- `tenancy_app` (SET LOCAL ROLE, as the runtime does), a tenant transaction for A sees none of
-- B's rows and cannot write into B, and a transaction without a tenant (unset, '' or
-- malformed context) sees and writes nothing.
BEGIN;
SELECT plan(78);

-- Fixed ids, so that expected results can be written down.
CREATE FUNCTION pg_temp.id(name text) RETURNS uuid LANGUAGE sql IMMUTABLE
  RETURN CASE name
    WHEN 'tenant_a'    THEN 'a0000000-0000-4000-8000-000000000001'
    WHEN 'tenant_b'    THEN 'b0000000-0000-4000-8000-000000000001'
    WHEN 'user_a'      THEN 'a0000000-0000-4000-8000-000000000002'
    WHEN 'user_b'      THEN 'b0000000-0000-4000-8000-000000000002'
    WHEN 'principal_a' THEN 'a0000000-0000-4000-8000-000000000003'
    WHEN 'principal_b' THEN 'b0000000-0000-4000-8000-000000000003'
    WHEN 'service_a'   THEN 'a0000000-0000-4000-8000-000000000004'
    WHEN 'team_prn_a'  THEN 'a0000000-0000-4000-8000-000000000005'
    WHEN 'team_prn_b'  THEN 'b0000000-0000-4000-8000-000000000005'
    WHEN 'team_a'      THEN 'a0000000-0000-4000-8000-000000000006'
    WHEN 'team_b'      THEN 'b0000000-0000-4000-8000-000000000006'
    WHEN 'workspace_a' THEN 'a0000000-0000-4000-8000-000000000007'
    WHEN 'workspace_b' THEN 'b0000000-0000-4000-8000-000000000007'
    WHEN 'resource_a'  THEN 'a0000000-0000-4000-8000-000000000008'
    WHEN 'resource_b'  THEN 'b0000000-0000-4000-8000-000000000008'
    WHEN 'private_a'   THEN 'a0000000-0000-4000-8000-000000000009'
    WHEN 'key_a'       THEN 'a0000000-0000-4000-8000-00000000000a'
    WHEN 'key_b'       THEN 'b0000000-0000-4000-8000-00000000000a'
  END::uuid;
-- Runs a statement (as the current role) and returns how many rows it processed, or the
-- error it raised: a broken policy shows up as a failed assertion, not as an aborted script.
CREATE FUNCTION pg_temp.row_count(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  EXECUTE statement;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n::text;
EXCEPTION WHEN OTHERS THEN
  RETURN format('error %s: %s', SQLSTATE, SQLERRM);
END
$$;
CREATE FUNCTION pg_temp.tenant_tables() RETURNS name[] LANGUAGE sql IMMUTABLE
  RETURN ARRAY['principals', 'org_members', 'teams', 'team_members', 'workspaces', 'resources',
               'resource_acl', 'api_keys', 'api_key_usage', 'audit_log']::name[];

-- Seed, as the superuser (RLS does not apply to it).
INSERT INTO users (id, email, display_name) VALUES
  (pg_temp.id('user_a'), 'alice@pgtap.test', 'Alice'),
  (pg_temp.id('user_b'), 'bob@pgtap.test', 'Bob');
INSERT INTO tenants (id, slug, name)
SELECT pg_temp.id('tenant_' || x), 'pgtap-' || x, 'pgTAP tenant ' || x FROM unnest(ARRAY['a', 'b']) x;
INSERT INTO principals (tenant_id, id, kind, user_id, display_name)
SELECT pg_temp.id('tenant_' || x), pg_temp.id('principal_' || x), 'user', pg_temp.id('user_' || x), 'member ' || x
FROM unnest(ARRAY['a', 'b']) x;
INSERT INTO principals (tenant_id, id, kind, display_name)
SELECT pg_temp.id('tenant_' || x), pg_temp.id('team_prn_' || x), 'team', 'team ' || x
FROM unnest(ARRAY['a', 'b']) x;
INSERT INTO principals (tenant_id, id, kind, display_name)
VALUES (pg_temp.id('tenant_a'), pg_temp.id('service_a'), 'service', 'service a');
-- A row of the nil-UUID default tenant: a missing context must not fall back to it.
INSERT INTO principals (tenant_id, kind, display_name)
VALUES ('00000000-0000-0000-0000-000000000000', 'service', 'default tenant service');
INSERT INTO org_members (tenant_id, user_id, principal_id, role)
SELECT pg_temp.id('tenant_' || x), pg_temp.id('user_' || x), pg_temp.id('principal_' || x), 'owner'
FROM unnest(ARRAY['a', 'b']) x;
INSERT INTO teams (tenant_id, id, name, principal_id)
SELECT pg_temp.id('tenant_' || x), pg_temp.id('team_' || x), 'team ' || x, pg_temp.id('team_prn_' || x)
FROM unnest(ARRAY['a', 'b']) x;
INSERT INTO team_members (tenant_id, team_id, principal_id)
SELECT pg_temp.id('tenant_' || x), pg_temp.id('team_' || x), pg_temp.id('principal_' || x)
FROM unnest(ARRAY['a', 'b']) x;
INSERT INTO workspaces (tenant_id, id, name, kind, owner_principal_id)
SELECT pg_temp.id('tenant_' || x), pg_temp.id('workspace_' || x), 'org ' || x, 'org', pg_temp.id('principal_' || x)
FROM unnest(ARRAY['a', 'b']) x;
INSERT INTO resources (tenant_id, id, workspace_id, kind, name, visibility, owner_principal_id)
SELECT pg_temp.id('tenant_' || x), pg_temp.id('resource_' || x), pg_temp.id('workspace_' || x),
       'prompt', 'shared ' || x, 'tenant', pg_temp.id('principal_' || x)
FROM unnest(ARRAY['a', 'b']) x;
INSERT INTO resources (tenant_id, id, workspace_id, kind, name, visibility, owner_principal_id)
VALUES (pg_temp.id('tenant_a'), pg_temp.id('private_a'), pg_temp.id('workspace_a'), 'prompt',
        'private a', 'private', pg_temp.id('principal_a'));
INSERT INTO resource_acl (tenant_id, resource_id, principal_id, permission)
SELECT pg_temp.id('tenant_' || x), pg_temp.id('resource_' || x), pg_temp.id('team_prn_' || x), 'read'
FROM unnest(ARRAY['a', 'b']) x;
INSERT INTO api_keys (tenant_id, id, principal_id, name, prefix, secret_hash)
SELECT pg_temp.id('tenant_' || x), pg_temp.id('key_' || x), pg_temp.id('principal_' || x),
       'key ' || x, 'pgtapkey' || x, sha256(convert_to('secret ' || x, 'UTF8'))
FROM unnest(ARRAY['a', 'b']) x;
INSERT INTO api_key_usage (tenant_id, api_key_id, window_start, requests)
SELECT pg_temp.id('tenant_' || x), pg_temp.id('key_' || x), date_trunc('hour', now()), 1
FROM unnest(ARRAY['a', 'b']) x;
INSERT INTO audit_log (tenant_id, action, prev_hash, row_hash)
SELECT pg_temp.id('tenant_' || x), 'pgtap.seed', '\x'::bytea, '\x'::bytea
FROM unnest(ARRAY['a', 'b']) x;

-- From here on: the application role, exactly like a tenant transaction of the runtime.
SET LOCAL ROLE tenancy_app;

-- 1: precondition: really running as tenancy_app (not superuser, no BYPASSRLS).
SELECT results_eq(
  $$SELECT current_user::text COLLATE "default", r.rolsuper, r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user$$,
  $$VALUES ('tenancy_app', false, false)$$,
  'the behaviour tests run as tenancy_app, which is neither superuser nor BYPASSRLS');

-- 2-12: no tenant context at all (the setting was never set in this session): nothing visible.
SELECT is(tenancy.current_tenant(), NULL, 'unset context: tenancy.current_tenant() is NULL');
SELECT is_empty(format('SELECT * FROM public.%I', t), format('unset context: %s shows no row', t))
FROM unnest(pg_temp.tenant_tables()) AS t;
-- 13-14
SELECT is_empty($$SELECT * FROM public.tenants$$, 'unset context: tenants shows no row');
SELECT throws_ok(
  format($$INSERT INTO public.principals (tenant_id, kind, display_name) VALUES (%L, 'service', 'x')$$,
         pg_temp.id('tenant_a')),
  '42501', 'new row violates row-level security policy for table "principals"',
  'unset context: inserting a row for a tenant is refused');
-- 15
SELECT is(pg_temp.row_count($$DELETE FROM public.principals$$), '0',
          'unset context: DELETE without WHERE deletes nothing');

-- 16-19: empty context ('' is what a pooled connection reports after its first transaction).
DO $$ BEGIN PERFORM set_config('tenancy.tenant_id', '', true); END $$;
SELECT is(tenancy.current_tenant(), NULL, 'empty context: tenancy.current_tenant() is NULL');
SELECT is_empty(
  (SELECT string_agg(format('SELECT tenant_id FROM public.%I', t), ' UNION ALL ')
   FROM unnest(pg_temp.tenant_tables()) AS t),
  'empty context: no tenant table shows a row');
SELECT throws_ok(
  format($$INSERT INTO public.principals (tenant_id, kind, display_name) VALUES (%L, 'service', 'x')$$,
         pg_temp.id('tenant_a')),
  '42501', 'new row violates row-level security policy for table "principals"',
  'empty context: inserting a row for a tenant is refused');
SELECT is(pg_temp.row_count($$UPDATE public.resources SET name = 'hijacked'$$), '0',
          'empty context: UPDATE without WHERE updates nothing');

-- 20: a malformed context is an error, never "all tenants".
DO $$ BEGIN PERFORM set_config('tenancy.tenant_id', 'not-a-uuid', true); END $$;
SELECT throws_ok($$SELECT * FROM public.principals$$, '22P02', NULL,
                 'malformed context: querying a tenant table fails');

-- 21-78: tenant A's transaction, acting as A's member principal.
DO $$ BEGIN PERFORM set_config('tenancy.tenant_id', pg_temp.id('tenant_a')::text, true); END $$;
DO $$ BEGIN PERFORM set_config('tenancy.principal_id', pg_temp.id('principal_a')::text, true); END $$;

-- 21: context.
SELECT is(tenancy.current_tenant(), pg_temp.id('tenant_a'), 'tenant A context: current_tenant() is A');
-- 22-31: every tenant table shows A's rows and only A's.
SELECT results_eq(format('SELECT DISTINCT tenant_id FROM public.%I', t), ARRAY[pg_temp.id('tenant_a')],
                  format('tenant A: %s shows A''s rows and no other tenant''s', t))
FROM unnest(pg_temp.tenant_tables()) AS t;
-- 32-41: asking for B's rows by id finds nothing.
SELECT is_empty(format('SELECT * FROM public.%I WHERE tenant_id = %L', t, pg_temp.id('tenant_b')),
                format('tenant A: %s has no visible row of tenant B, even by explicit filter', t))
FROM unnest(pg_temp.tenant_tables()) AS t;
-- 42: tenants shows A's row only.
SELECT results_eq($$SELECT id FROM public.tenants$$, ARRAY[pg_temp.id('tenant_a')],
                  'tenant A: tenants shows only tenant A');
-- 43: and the resources A's principal may read.
SELECT results_eq($$SELECT id FROM public.resources ORDER BY id$$,
                  ARRAY[pg_temp.id('resource_a'), pg_temp.id('private_a')],
                  'tenant A: resources shows A''s shared and A''s own private resource');
-- 44: joins stay inside the tenant as well.
SELECT results_eq(
  $$SELECT count(*)::int FROM public.principals p JOIN public.org_members m ON m.principal_id = p.id$$,
  ARRAY[1], 'tenant A: joining principals and org_members yields A''s one member');

-- 45-54: inserting a row that names tenant B is refused by row level security, in every table
-- (org_members by its privileges: the control plane adds members).
SELECT throws_ok(sql, '42501',
                 CASE WHEN t = 'org_members' THEN 'permission denied for table org_members'
                      ELSE format('new row violates row-level security policy for table "%s"', t) END,
                 format('tenant A: inserting a row for tenant B into %s is refused', t))
FROM (VALUES
  ('principals', format($$INSERT INTO public.principals (tenant_id, kind, display_name)
                          VALUES (%L, 'service', 'intruder')$$, pg_temp.id('tenant_b'))),
  ('org_members', format($$INSERT INTO public.org_members (tenant_id, user_id, principal_id, role)
                           VALUES (%L, %L, %L, 'owner')$$,
                         pg_temp.id('tenant_b'), pg_temp.id('user_a'), pg_temp.id('principal_b'))),
  ('teams', format($$INSERT INTO public.teams (tenant_id, name, principal_id) VALUES (%L, 'intruders', %L)$$,
                   pg_temp.id('tenant_b'), pg_temp.id('team_prn_b'))),
  ('team_members', format($$INSERT INTO public.team_members (tenant_id, team_id, principal_id)
                            VALUES (%L, %L, %L)$$,
                          pg_temp.id('tenant_b'), pg_temp.id('team_b'), pg_temp.id('team_prn_b'))),
  ('workspaces', format($$INSERT INTO public.workspaces (tenant_id, name, kind, owner_principal_id)
                          VALUES (%L, 'intruder', 'org', %L)$$, pg_temp.id('tenant_b'), pg_temp.id('principal_b'))),
  -- The owner is A's own principal, so that only the tenant policies can refuse it.
  ('resources', format($$INSERT INTO public.resources (tenant_id, workspace_id, kind, name, owner_principal_id)
                         VALUES (%L, %L, 'prompt', 'intruder', %L)$$,
                       pg_temp.id('tenant_b'), pg_temp.id('workspace_b'), pg_temp.id('principal_a'))),
  ('resource_acl', format($$INSERT INTO public.resource_acl (tenant_id, resource_id, principal_id, permission)
                            VALUES (%L, %L, %L, 'admin')$$,
                          pg_temp.id('tenant_b'), pg_temp.id('resource_b'), pg_temp.id('principal_b'))),
  ('api_keys', format($$INSERT INTO public.api_keys (tenant_id, principal_id, name, prefix, secret_hash)
                        VALUES (%L, %L, 'intruder', 'pgtapintruder', sha256('\x00'::bytea))$$,
                      pg_temp.id('tenant_b'), pg_temp.id('principal_b'))),
  ('api_key_usage', format($$INSERT INTO public.api_key_usage (tenant_id, api_key_id, window_start)
                             VALUES (%L, %L, now())$$, pg_temp.id('tenant_b'), pg_temp.id('key_b'))),
  ('audit_log', format($$INSERT INTO public.audit_log (tenant_id, action, prev_hash, row_hash)
                         VALUES (%L, 'pgtap.intrude', '\x'::bytea, '\x'::bytea)$$, pg_temp.id('tenant_b')))
) AS v(t, sql);

-- 55-63: moving one of A's rows into tenant B is refused (WITH CHECK on UPDATE; on
-- org_members and principals, whose tenant tenancy_app may not update, by its privileges).
SELECT throws_ok(
  format('UPDATE public.%I SET tenant_id = %L', t, pg_temp.id('tenant_b')),
  '42501',
  CASE WHEN t IN ('org_members', 'principals') THEN format('permission denied for table %s', t)
       ELSE format('new row violates row-level security policy for table "%s"', t) END,
  format('tenant A: moving %s rows to tenant B is refused', t))
FROM unnest(array_remove(pg_temp.tenant_tables(), 'audit_log')) AS t;

-- 64-73: UPDATE and DELETE aimed at B's rows reach none of them.
SELECT is(
  pg_temp.row_count(format('UPDATE public.%I SET %I = %I WHERE tenant_id = %L', t, c, c, pg_temp.id('tenant_b'))),
  '0', format('tenant A: UPDATE of tenant B''s %s rows changes nothing', t))
FROM unnest(array_remove(pg_temp.tenant_tables(), 'audit_log')) AS t,
     LATERAL (SELECT CASE WHEN t = 'org_members' THEN 'role'
                          WHEN t = 'principals' THEN 'display_name'
                          ELSE 'tenant_id' END) AS col(c);
SELECT is(
  pg_temp.row_count(format('DELETE FROM public.principals WHERE id = %L', pg_temp.id('team_prn_b'))),
  '0', 'tenant A: DELETE of tenant B''s team principal deletes nothing');

-- 74: tenant A may of course write its own rows (so the refusals above are about the tenant).
SELECT lives_ok(
  format($$INSERT INTO public.principals (tenant_id, kind, display_name) VALUES (%L, 'service', 'own')$$,
         pg_temp.id('tenant_a')),
  'tenant A: inserting a row for tenant A works');

-- 75: composite foreign keys: a row of A cannot point at B's rows (foreign-key checks do not
-- see RLS, so this is the key's job).
SELECT throws_ok(
  format($$INSERT INTO public.workspaces (tenant_id, name, kind, owner_principal_id)
           VALUES (%L, 'cross', 'org', %L)$$, pg_temp.id('tenant_a'), pg_temp.id('principal_b')),
  '23503', NULL, 'tenant A: a workspace of A owned by B''s principal violates the composite foreign key');

-- 76: the SECURITY DEFINER member directory lists A's members only.
SELECT is(
  pg_temp.row_count($$SELECT user_id FROM tenancy.member_directory() WHERE user_id = 'a0000000-0000-4000-8000-000000000002'$$)
  || ' of ' || pg_temp.row_count($$SELECT user_id FROM tenancy.member_directory()$$),
  '1 of 1', 'tenant A: tenancy.member_directory() lists A''s member and nobody else');

-- 77: row_security = off does not switch the policies off for tenancy_app: it is an error.
DO $$ BEGIN PERFORM set_config('row_security', 'off', true); END $$;
SELECT throws_ok($$SELECT * FROM public.principals$$, '42501',
                 'query would be affected by row-level security policy for table "principals"',
                 'tenant A: with row_security = off, a query on a tenant table is refused');
DO $$ BEGIN PERFORM set_config('row_security', 'on', true); END $$;

-- 78: switching the context to B shows B's rows and not A's (nothing is cached).
DO $$ BEGIN PERFORM set_config('tenancy.tenant_id', pg_temp.id('tenant_b')::text, true); END $$;
SELECT results_eq($$SELECT id FROM public.principals ORDER BY id$$,
                  ARRAY[pg_temp.id('principal_b'), pg_temp.id('team_prn_b')],
                  'tenant B: principals shows B''s rows only');

SELECT * FROM finish();
ROLLBACK;
